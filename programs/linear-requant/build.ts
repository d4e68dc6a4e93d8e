// Program builder and runner for the fused `linear-requant` kernel: y = QuantAct(x . W^T + b) with per-channel
// multipliers and shifts (docs/IBERT.md sections 3 and 4 back to back), where the int32 accumulator tile
// never goes to DRAM. The MXU part is the linear kernel's (programs/linear/build.ts, both loop orders); after the last
// K step of an output tile the VPU requantizes its accumulator rows in pieces issued between the next tiles'
// weight loads (vld.acc, vmulr.vv with per-lane multiplier and shift, rne, saturation to 8/16 bits, vst to the
// scratchpad), and each piece goes to DRAM as int8/int16 rows. The schedule (what goes where, in program order)
// is programs/linear-requant/model.ts's, which also prices it.
import type { Program } from '../../isa/asm.js';
import {
  linearRequantModelOf,
  linearRequantSchedule,
  linearRequantTiling,
  needsFinalClamp,
  onesReg,
  outBytes,
  sumByMac,
  geluFormOf,
  geluKsRows,
  geluLoopGroups,
  geluPostOps,
  GELU_SCALARS,
  ksRows,
  packGeluConsts,
  packLinearRequantConsts,
  shiftRow,
  POST_GROUP_ROWS,
  STEP_REGS,
  stepOperands,
  type FusedOp,
  type GeluForm,
  type LinearRequantBits,
  type LinearRequantIdentity,
  type LinearRequantModel,
  type LinearRequantPlan,
} from './model.js';
import { foldRequantActNpu, npuMultiplier, type RequantActNpuConsts } from '../../kernels/npu/requant-act.js';
import type { GeluNpuConsts } from '../../kernels/npu/gelu.js';
import type { MachineConfig } from '../../sim/config.js';
import { loadProgram, simulate, type SimResult } from '../../sim/run.js';
import { assembleBuilt, machineFor, programBuffer, type RunOptions } from '../index.js';
import { memoPerMachine } from '../schedule.js';
import { storedProgram } from '../program-store.js';
import { ProgramEmitter, type Operand } from '../../isa/emit.js';
import { cachedBuild, emitted, opLi, type BuiltProgram } from '../linear/build.js';

export interface LinearRequantConsts {
  /** per output channel: multiplier (frexp31 form: |m| <= 2^31) and shift (>= 0; > 127 is taken as 127) */
  readonly m: ArrayLike<number>;
  readonly e: ArrayLike<number>;
  /** output bits: int8, int16, or 22 (QuantAct(22) of the residual steps 8 and 17; stored as int32) */
  readonly bits: LinearRequantBits;
  /**
   * The residual (identity) term of QuantAct: an int8 tensor [M, N] row-major with one scalar multiplier and
   * shift (frexp31 form), added as layer 2 of requant-act does (kernels/npu/requant-act.ts: sat32 terms, the
   * compile-time clamps that keep the int32 sum exact, the clamp to the output range).
   */
  readonly identity?: { readonly w: Int8Array; readonly m: number; readonly e: number };
}

/** The identity term's constants as the program uses them: the clamps of the plan plus m', e' (NPU form). */
export interface LinearRequantIdentityConsts extends LinearRequantIdentity {
  readonly m: number;
  readonly e: number;
}

/** The scalars of the GELU output stage: the second (per-tensor) requantization m2 (|m2| < 2^31), e2 (0..127). */
export interface GeluStageConsts {
  readonly m2: number;
  readonly e2: number;
  /** the stage's form (geluFormOf of the constants; absent: the split form with the rescale, valid for all) */
  readonly form?: GeluForm;
}

/** One instruction of an op list written as assembly text (`vmacr v2, v1, v31, v2, r0, floor, sat32`), emitted typed. */
function emitAsm(e: ProgramEmitter, asm: string): void {
  let parsed = PARSED.get(asm);
  if (parsed === undefined) {
    const [mn, ...rest] = asm.trim().split(/[\s,]+/);
    parsed = { mn: mn!, operands: rest.map((t) => (/^[vr]\d+$/.test(t) ? Number(t.slice(1)) : /^-?\d+$/.test(t) ? Number(t) : t)) };
    PARSED.set(asm, parsed);
  }
  e.op(parsed.mn, ...parsed.operands);
}
/** Op texts parsed once: a program repeats a few hundred distinct ones (bounded by the op lists, not the shape). */
const PARSED = new Map<string, { readonly mn: string; readonly operands: readonly Operand[] }>();

/** A built linear-requant / linear-gelu program with its plan and the operations its model prices. */
export type LinearRequantBuilt = BuiltProgram & { plan: LinearRequantPlan; ops: FusedOp[] };

export function buildLinearRequant(
  M: number, K: number, N: number, bits: LinearRequantBits, mach: MachineConfig, lag?: number, identity?: LinearRequantIdentityConsts,
  gelu?: GeluStageConsts, xOnChip = false,
): LinearRequantBuilt {
  const p = linearRequantTiling(M, K, N, bits, mach, lag, identity === undefined ? undefined : { clampX: identity.clampX, clampW: identity.clampW }, gelu ? 'gelu' : 'requant', gelu?.form);
  const t = p.t;
  const ops = linearRequantSchedule(p, mach, xOnChip);
  const R = mach.mxu.rows, C = mach.mxu.cols, L = mach.vpu.lanes;
  const kr0 = ksRows(p.post, p.gelu);
  const ob = p.ob;
  const id = identity;
  const G = POST_GROUP_ROWS;
  const finalClamp = needsFinalClamp(p);
  const byMac = sumByMac(p);
  const ones = onesReg(p);
  // vmulr.vv saturates straight to the output range only without an identity and for 8/16 bits
  const sat = id || bits === 22 ? 'sat32' : bits === 8 ? 'sat8' : 'sat16';
  const vst = ob === 1 ? 'vst.s8' : ob === 2 ? 'vst.s16' : 'vst.acc';
  const H = 2 ** (bits - 1);
  const regions = p.regions;
  const e = new ProgramEmitter(gelu ? `linear_gelu_${M}x${K}x${N}.s` : `linear_requant_${M}x${K}x${N}_${bits}${id ? '_id' : ''}${xOnChip ? '_xchip' : ''}.s`);
  const yDesc = `${bits === 22 ? 'int22 (stored as int32)' : `int${bits}`}`;
  if (gelu) {
    e.comment(`linear-gelu: y[${M},${N}] int8 = sat8(rne(QuantAct8(i-GELU(x[${M},${K}] . W[${N},${K}]^T + bias[${N}])) * m2 / 2^e2)): layer steps 12-15 in one program`);
    e.comment('i-GELU and its QuantAct(8) per output channel c (the gelu kernel\'s ops, kernels/npu/gelu.ts), then the per-tensor');
    e.comment(`int8 -> int8 requantization of step 15 (m2 = ${gelu.m2}, e2 = ${gelu.e2}) in the same registers`);
    if (p.gelu?.wide) e.comment('wide form: q_c and 2^14 q_1 fit int32, so u = t + q_1 = floor((s (sa^2 + q_c) + 2^14 q_1) / 2^14) is two vmacr');
    if (p.gelu && !p.gelu.rescale) e.comment('step 15 maps every int8 value to itself for these m2, e2 (all 256 checked at compile time): not emitted');
  } else if (id) {
    e.comment(
      `linear-requant: y[${M},${N}] (${yDesc}) = clamp(rne((x[${M},${K}] . W[${N},${K}]^T + bias[${N}]) * m_c / 2^e_c) + rne(w[${M},${N}] * m' / 2^e'), ${-H}, ${H - 1}), per output channel c`,
    );
    e.comment(`identity w int8, m' = ${id.m}, e' = ${id.e}; terms saturated to int32${id.clampX || id.clampW ? `, ${id.clampX ? 'x' : 'identity'} term clamped to +-${id.clampX || id.clampW} before the int32 add` : ''}`);
  } else {
    e.comment(`linear-requant: y[${M},${N}] (${yDesc}) = ${bits === 22 ? `clamp(rne(...), ${-H}, ${H - 1})` : `sat${bits}(rne(`}(x[${M},${K}] . W[${N},${K}]^T + bias[${N}]) * m_c / 2^e_c)${bits === 22 ? '' : ')'}, per output channel c`);
  }
  if (xOnChip) e.comment('x on chip: the x block is already in xs (left there by the previous program of the chain, of the same layout): no x loads');
  e.comment('the int32 accumulators stay on chip: after a tile\'s last K step the VPU requantizes its rows, in pieces issued between');
  e.comment(`the following weight loads (from the ${p.lag + 1}th after its last one on), and each piece goes to DRAM as ${yDesc} rows`);
  if (ob === 4) e.comment('int32 outputs: each requantized row goes back (vst.acc) into the accumulator row it was read from, and is stored from there');
  if (id) e.comment("identity: a tile's int8 rows load into its region's ws slot with its bias and constants; vld.s8, vmulr.vx r20, r21");
  e.comment(
    t.order === 'rows'
      ? `machine: ${R}x${C} MXU, ${L} lanes; loop order: rows (x block kept); tiles: x rows ${t.mt} (x${t.mTiles}), K ${R} (x${t.kTiles}), N ${C} (x${t.nTiles})`
      : `machine: ${R}x${C} MXU, ${L} lanes; loop order: column groups outer; x rows ${t.mt} (x${t.mTiles}), groups of ${t.groupTiles} tiles (x${t.groups}), K ${R} (x${t.kTiles}, ${t.xResident} kept resident across groups); ${t.accBuffers} accumulator cop${t.accBuffers > 1 ? 'ies' : 'y'}`,
  );
  if (gelu && p.gelu?.wide) e.comment(`constants: k = int16 [${kr0}][N] rows ${geluKsRows(p.gelu).join(', ')}: 32-bit ones as (hi, lo - 2^15); rebuilt per tile in v31..v24 (v20 scratch)`);
  else if (gelu) e.comment('constants: k = int16 [11][N]: q_b, q_c hi, q_1, m as (hi, lo - 2^15), qc_lo, s1, sh as is; rebuilt per tile in v31..v24 (v20 scratch)');
  else e.comment('constants: k = int16 [3][N] rows hi, lo - 2^15, e with m_c = hi * 2^16 + lo; rebuilt per tile in v31 (m) and v30 (e)');
  e.comment('registers: r1..r6 DMA operands; r7 weight preload slot; r11, r12 stream acc and x; r9 acc / constants pointer, r10 ys pointer,');
  e.comment(`           r12 vector length, r16 = 16, r17 = 2^15; v0..v${POST_GROUP_ROWS - 1} accumulator rows (${POST_GROUP_ROWS} interleaved), v31/v30 (v29/v28, ...) m, e per lane chunk`);
  const bx = e.buffer('x', 'dram', M * K);
  const bw = e.buffer('w', 'dram', N * K);
  const bbias = e.buffer('bias', 'dram', N * 4);
  const kr = kr0;
  const bk = e.buffer('k', 'dram', kr * N * 2, `int16 [${kr}][${N}]`);
  const by = e.buffer('y', 'dram', M * N * ob);
  const bwid = id ? e.buffer('wid', 'dram', M * N, `identity int8 [${M}][${N}]`) : 0;
  const xsBytes = t.order === 'rows' ? t.xBuffers * t.mt * K : (t.xBuffers + t.xResident) * t.mt * R;
  const xs = e.buffer('xs', 'spad', xsBytes, t.order === 'rows' ? `x row block(s) [${t.mt}][${K}]` : `${t.xBuffers} streamed + ${t.xResident} resident x K-slice slots [${t.mt}][${R}]`);
  const wring = e.buffer('wring', 'spad', t.ringSlots * R * C, `${t.ringSlots} weight slots of [${C}][${R}]`);
  const ys = ob !== 4 ? e.buffer('ys', 'spad', 2 * t.mt * C * ob, `two int${bits} output tiles [${t.mt}][${C}]`) : 0;
  const ws = id ? e.buffer('ws', 'spad', regions * t.mt * C, `${regions} int8 identity tiles [${t.mt}][${C}], one per accumulator tile`) : 0;
  const ks = e.buffer('ks', 'spad', regions * kr * C * 2, `${regions} int16 constants blocks [${kr}][${C}], one per accumulator tile`);
  const yacc = e.buffer('yacc', 'acc', regions * t.mt * C, `${regions} accumulator tiles of [${t.mt}][${C}]`);
  e.li(16, 16);
  e.li(17, 32768);
  if (id) {
    e.comment("r20, r21: identity multiplier m' and shift e'");
    e.li(20, id.m);
    e.li(21, id.e);
    if (byMac) {
      // the one-sided clamp is not needed: the sum saturates instead (sumByMac), the final clamp gives layer 2's value
    } else if (id.clampX > 0) {
      e.comment('r22, r23: x-term bounds (exact int32 sum)');
      e.li(22, -id.clampX);
      e.li(23, id.clampX);
    }
    if (id.clampW > 0 && !byMac) {
      e.comment('r24, r25: identity-term bounds (exact int32 sum)');
      e.li(24, -id.clampW);
      e.li(25, id.clampW);
    }
  }
  if (gelu) {
    const v: Record<string, number> = { r22: 14, r20: gelu.m2, r21: gelu.e2 };
    for (const [r, why] of GELU_SCALARS) {
      e.comment(`${r}: ${why}`);
      e.li(Number(r.slice(1)), v[r]!);
    }
  }
  if (finalClamp) {
    e.comment('r26, r27: output minimum -2^(bits-1) and maximum 2^(bits-1)-1');
    e.li(26, -H);
    e.li(27, H - 1);
  }
  e.comment('step operands r18 (tile columns), r19 (K-tile length), r28 (R), r29 (K), r30 (C), r31 (tile rows), r15 (x stride):');
  e.comment('loaded only when they change (stepOperands)');
  const held = new Map<number, number>();
  let vl = -1;
  if (byMac) {
    e.comment(`v${ones}: ones, for the identity sum x-term * 1 + identity term in one vmacr (64-bit, sat32: exact before the final clamp)`);
    e.li(12, L);
    e.op('vsetvl', 12, 12);
    e.li(14, 1);
    e.op('vbcast', ones, 14);
    vl = L;
  }
  for (const op of ops) {
    switch (op.kind) {
      case 'comment':
        e.comment(op.text);
        break;
      case 'bias': {
        const tl = op.tile;
        opLi(e, 'dma.ld', ['acc'], [[1, yacc + tl.region * t.mt * C], [2, bbias + tl.n0 * 4], [3, tl.mt], [4, tl.nt], [5, C], [6, 0]]);
        break;
      }
      case 'consts': {
        const tl = op.tile;
        opLi(e, 'dma.ld', ['spad'], [[1, ks + tl.region * kr * 2 * C], [2, bk + tl.n0 * 2], [3, kr], [4, tl.nt * 2], [5, 2 * C], [6, N * 2]]);
        break;
      }
      case 'x':
        opLi(e, 'dma.ld', ['spad'], [[1, xs + op.chip], [2, bx + op.dram], [3, op.rows], [4, op.len], [5, op.chipStride], [6, K]]);
        break;
      case 'step': {
        const tl = op.tile;
        const slot = wring + op.ring * R * C;
        e.comment(`tile ${tl.index}, K ${op.k0}..${op.k0 + op.kt - 1}`);
        const S = STEP_REGS;
        const changed = stepOperands(held, R, C, K, op);
        for (const [r, v] of changed.dma) e.li(r, v);
        e.li(1, slot);
        e.li(2, bw + tl.n0 * K + op.k0);
        e.op('dma.ld', 'spad', 1, 2, S.nt, S.kt, S.R, S.K);
        e.li(7, slot);
        e.op('mxu.wload', 7, S.R, S.kt, S.nt);
        for (const [r, v] of changed.mm) e.li(r, v);
        e.li(11, yacc + tl.region * t.mt * C);
        e.li(12, xs + op.xAddr);
        e.op('mxu.mm', 11, 12, S.mt, S.C, S.xStride, 'acc');
        break;
      }
      case 'idload': {
        const tl = op.tile;
        opLi(e, 'dma.ld', ['spad'], [[1, ws + tl.region * t.mt * C], [2, bwid + tl.m0 * N + tl.n0], [3, tl.mt], [4, tl.nt], [5, C], [6, N]]);
        break;
      }
      case 'post': {
        const { tile: tl, r0, rn } = op;
        const b = tl.index % 2;
        const ysBase = b * t.mt * C * ob;
        const wsBase = tl.region * t.mt * C;
        const accRow = (r: number): number => yacc + tl.region * t.mt * C + r * C;
        if (gelu) {
          e.comment(`i-GELU + requantize tile ${tl.index} rows ${tl.m0 + r0}..${tl.m0 + r0 + rn - 1} (accumulator rows ${r0}..${r0 + rn - 1})`);
          const w = Math.min(p.chunks[0]![1], tl.nt);
          if (w !== vl) {
            e.li(12, w);
            e.op('vsetvl', 12, 12);
            vl = w;
          }
          const g = geluPostOps(C, p.gelu);
          if (op.first) {
            e.comment(`constants of columns ${tl.n0}..${tl.n0 + w - 1}`);
            e.li(9, ks + tl.region * kr * 2 * C);
            for (const o of g.consts) emitAsm(e, o.asm);
          }
          e.li(9, accRow(r0));
          e.li(10, ys + ysBase + r0 * C);
          // whole groups of rows in a loop (the row pointers advance by themselves), the rest in line
          // (geluLoopGroups: two groups per trip for long pieces, one for short ones)
          const U = geluLoopGroups(rn);
          const trips = Math.floor(rn / (U * G));
          if (trips > 0) {
            const label = `gelu_t${tl.index}_r${r0}`;
            e.li(11, trips);
            e.label(label);
            for (let u = 0; u < U; u++) for (const o of g.row) for (let i = 0; i < G; i++) emitAsm(e, shiftRow(o, i).asm);
            e.op('dbnz', 11, label);
          }
          for (let g0 = trips * U * G; g0 < rn; g0 += G) {
            const n = Math.min(G, rn - g0);
            for (const o of g.row) for (let i = 0; i < n; i++) emitAsm(e, shiftRow(o, i).asm);
          }
          opLi(e, 'dma.st', ['spad'], [[1, ys + ysBase + r0 * C], [2, by + (tl.m0 + r0) * N + tl.n0], [3, rn], [4, tl.nt], [5, C], [6, N]]);
          break;
        }
        e.comment(`requantize tile ${tl.index} rows ${tl.m0 + r0}..${tl.m0 + r0 + rn - 1} (accumulator rows ${r0}..${r0 + rn - 1})`);
        p.chunks.forEach(([c0, width], ci) => {
          if (c0 >= tl.nt) return;
          const w = Math.min(width, tl.nt - c0);
          if (w !== vl) {
            e.li(12, w);
            e.op('vsetvl', 12, 12);
            vl = w;
          }
          const vm = 31 - 2 * ci, ve = 30 - 2 * ci;
          if (op.first) {
            e.comment(`constants of columns ${tl.n0 + c0}..${tl.n0 + c0 + w - 1}: hi, lo - 2^15, then m_c = hi * 2^16 + lo and e_c`);
            e.li(9, ks + tl.region * 6 * C + c0 * 2);
            e.op('vld.s16', vm, 9, 2 * C);
            e.op('vld.s16', ve, 9, 2 * C);
            e.op('vsll.vx', vm, vm, 16);
            e.op('vadd', vm, vm, ve);
            e.op('vadd.vx', vm, vm, 17);
            e.op('vld.s16', ve, 9, 0);
          }
          e.li(9, accRow(r0) + c0);
          if (id) e.li(13, ws + wsBase + r0 * C + c0);
          e.li(10, ob === 4 ? accRow(r0) + c0 : ys + ysBase + (r0 * C + c0) * ob);
          for (let g0 = 0; g0 < rn; g0 += G) {
            const g = Math.min(G, rn - g0);
            for (let i = 0; i < g; i++) e.op('vld.acc', i, 9, C);
            if (id) for (let i = 0; i < g; i++) e.op('vld.s8', G + i, 13, C);
            for (let i = 0; i < g; i++) e.op('vmulr.vv', i, i, vm, ve, 'rne', sat);
            if (id) {
              for (let i = 0; i < g; i++) e.op('vmulr.vx', G + i, G + i, 20, 21, 'rne', 'sat32');
              if (byMac) {
                for (let i = 0; i < g; i++) e.op('vmacr', i, i, ones, G + i, 0, 'floor', 'sat32');
              } else {
                if (id.clampX > 0) for (let i = 0; i < g; i++) e.op('vclamp', i, i, 22, 23);
                if (id.clampW > 0) for (let i = 0; i < g; i++) e.op('vclamp', G + i, G + i, 24, 25);
                for (let i = 0; i < g; i++) e.op('vadd', i, i, G + i);
              }
            }
            if (finalClamp) for (let i = 0; i < g; i++) e.op('vclamp', i, i, 26, 27);
            for (let i = 0; i < g; i++) e.op(vst, i, 10, ob === 4 ? C : C * ob);
          }
        });
        if (ob === 4) {
          opLi(e, 'dma.st', ['acc'], [[1, accRow(r0)], [2, by + ((tl.m0 + r0) * N + tl.n0) * 4], [3, rn], [4, tl.nt], [5, C], [6, N * 4]]);
        } else {
          opLi(e, 'dma.st', ['spad'], [[1, ys + ysBase + r0 * C * ob], [2, by + ((tl.m0 + r0) * N + tl.n0) * ob], [3, rn], [4, tl.nt * ob], [5, C * ob], [6, N * ob]]);
        }
        break;
      }
    }
  }
  e.op('halt');
  return emitted(e.finish(), { plan: p, ops });
}

export interface LinearRequantRun {
  readonly y: Int32Array;
  /** the layer-2 constants used (clamps, sumExact: whether the result provably equals layer 1) */
  readonly npu: RequantActNpuConsts;
  readonly sim: SimResult;
  readonly model: LinearRequantModel;
  readonly program: Program;
}

/**
 * Runs the fused kernel: x int8 [M,K], w int8 [N,K], bias int32 [N], per-output-channel (m, e) pairs in the frexp31
 * form (normalised as npuMultiplier does: m = 2^31 becomes 2^30 with e - 1, e > 127 becomes 127), and optionally
 * the identity term (int8 [M,N], one (m', e')), folded with foldRequantActNpu so the result is layer 2 of
 * requant-act bit for bit (= layer 1, requantApply, whenever npu.sumExact). y: the outputs (int8/int16/int22)
 * as int32 values, row-major [M,N].
 */
export function runLinearRequantSim(
  x: Int8Array, w: Int8Array, bias: Int32Array, M: number, K: number, N: number,
  consts: LinearRequantConsts, cfg: MachineConfig, opts: RunOptions & { readonly lag?: number; readonly xOnChip?: boolean } = {},
): LinearRequantRun {
  if (consts.m.length !== N || consts.e.length !== N) {
    throw new RangeError(`linear-requant: ${consts.m.length} multipliers and ${consts.e.length} shifts for ${N} output channels`);
  }
  const bits = consts.bits;
  if (bits !== 8 && bits !== 16 && bits !== 22) throw new RangeError(`linear-requant: bits = ${String(bits)}: 8, 16 or 22`);
  const mm: number[] = [], ee: number[] = [];
  for (let c = 0; c < N; c++) {
    const f = npuMultiplier(consts.m[c]!, consts.e[c]!, `m[${c}]`);
    mm.push(f.m);
    ee.push(f.e);
  }
  const idIn = consts.identity;
  if (idIn !== undefined && idIn.w.length !== M * N) throw new RangeError(`linear-requant: identity has ${idIn.w.length} elements, y has ${M * N}`);
  // Layer 2's constants (kernels/npu/requant-act.ts): the same normalisation and term clamps as requant-act.
  const npu = foldRequantActNpu(
    { bits, scaleOut: 1, m: mm, e: ee, ...(idIn ? { mId: idIn.m, eId: idIn.e } : {}) },
    idIn ? 1 : undefined, 'm',
  );
  const idK = npu.identity ? { m: npu.identity.m, e: npu.identity.e, clampX: npu.clampX, clampW: npu.clampW } : undefined;
  // Q, K and V (and the two residual projections of one shape) are the same program: built once per machine.
  const xOnChip = opts.xOnChip ?? false;
  const key = JSON.stringify([M, K, N, bits, opts.lag ?? null, idK ?? null, xOnChip]);
  // built on demand: the program and its model's figures may come from the memo store without a build
  const built = (): LinearRequantBuilt => cachedBuild(cfg, key, () => buildLinearRequant(M, K, N, bits, cfg, opts.lag, idK, undefined, xOnChip));
  const program = storedProgram(cfg, `linear-requant ${key}`, () => assembleBuilt(built(), cfg));
  const buf = (name: string) => programBuffer(program, name);
  const sim = simulateWith(program, cfg, { x, w, bias, k: packLinearRequantConsts(mm, ee, N), ...(idIn ? { wid: idIn.w } : {}) }, opts);
  const ob = outBytes(bits);
  const bytes = sim.machine.readBytes(buf('y'), M * N * ob);
  // sign-extended by the typed-array conversion (readBytes gives a fresh, aligned copy; little-endian like the machine)
  const y = new Int32Array(ob === 1 ? new Int8Array(bytes.buffer, bytes.byteOffset, M * N) : ob === 2 ? new Int16Array(bytes.buffer, bytes.byteOffset, M * N) : new Int32Array(bytes.buffer, bytes.byteOffset, M * N));
  // the model prices the program's schedule, which the build key determines
  return { y, npu, sim, model: memoPerMachine(cfg, `linearRequantModel ${key}`, () => linearRequantModelOf(built().plan, built().ops, cfg)), program };
}

/** Fills the named DRAM buffers of a linear-requant/linear-gelu program and simulates it. */
function simulateWith(program: Program, cfg: MachineConfig, inputs: Readonly<Record<string, Int8Array | Int16Array | Int32Array>>, opts: RunOptions): SimResult {
  const machine = machineFor(program, cfg, opts);
  for (const [name, data] of Object.entries(inputs)) machine.writeBuffer(programBuffer(program, name), data);
  return simulate(loadProgram(program.words, program), cfg, { machine, mode: opts.mode ?? 'full', trace: opts.trace ?? false });
}

export interface LinearGeluRun {
  /** the step-15 int8 outputs as int32 values, row-major [M,N] */
  readonly y: Int32Array;
  /** the output stage's form the constants allowed (geluFormOf) */
  readonly form: GeluForm;
  readonly sim: SimResult;
  readonly model: LinearRequantModel;
  readonly program: Program;
}

/**
 * Runs the fc1 + i-GELU + QuantAct(8) + int8 requantization program (layer steps 12-15): x int8 [M,K], w int8 [N,K],
 * bias int32 [N], the gelu kernel's NPU constants (kernels/npu/gelu.ts foldGeluNpu, per channel or per tensor, 8-bit
 * output) and the second requantization (m2, e2) in the frexp31 form (normalised as npuMultiplier does).
 */
export function runLinearGeluSim(
  x: Int8Array, w: Int8Array, bias: Int32Array, M: number, K: number, N: number,
  gk: GeluNpuConsts, second: { readonly m: number; readonly e: number }, cfg: MachineConfig, opts: RunOptions & { readonly lag?: number } = {},
): LinearGeluRun {
  if (gk.outBits !== 8) throw new RangeError(`linear-gelu: out_bits = ${gk.outBits}: the fused stage writes 8 bits`);
  for (const [name, v] of Object.entries({ qb: gk.qb, qcLo: gk.qcLo, qcHi: gk.qcHi, q1: gk.q1, s1: gk.s1, m: gk.m, sh: gk.sh })) {
    if (v.length !== 1 && v.length !== N) throw new RangeError(`linear-gelu: ${v.length} values of ${name} for ${N} channels`);
  }
  const f2 = npuMultiplier(second.m, second.e, 'second requantization');
  const form = geluFormOf(gk, f2.m, f2.e);
  const key = JSON.stringify([M, K, N, opts.lag ?? null, f2.m, f2.e, form]);
  let b: LinearRequantBuilt | undefined;
  const built = (): LinearRequantBuilt => (b ??= buildLinearRequant(M, K, N, 8, cfg, opts.lag, undefined, { m2: f2.m, e2: f2.e, form }));
  const program = storedProgram(cfg, `linear-gelu ${key}`, () => assembleBuilt(built(), cfg));
  const buf = (name: string) => programBuffer(program, name);
  const sim = simulateWith(program, cfg, { x, w, bias, k: packGeluConsts(gk, N, form) }, opts);
  const bytes = sim.machine.readBytes(buf('y'), M * N);
  const y = new Int32Array(new Int8Array(bytes.buffer, bytes.byteOffset, M * N));
  return { y, form, sim, model: memoPerMachine(cfg, `linearGeluModel ${key}`, () => linearRequantModelOf(built().plan, built().ops, cfg)), program };
}
