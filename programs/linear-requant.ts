// Program builder and runner for the fused `linear-requant` kernel: y = QuantAct(x . W^T + b) with per-channel
// multipliers and shifts (ibert-reference.md sections 3 and 4 back to back), where the int32 accumulator tile
// never goes to DRAM. The MXU part is the linear kernel's (programs/linear.ts, both loop orders); after the last
// K step of an output tile the VPU requantizes its accumulator rows in pieces issued between the next tiles'
// weight loads (vld.acc, vmulr.vv with per-lane multiplier and shift, rne, saturation to 8/16 bits, vst to the
// scratchpad), and each piece goes to DRAM as int8/int16 rows. The schedule (what goes where, in program order)
// is kernels/model-linear-requant.ts's, which also prices it.
import type { Program } from '../isa/asm.js';
import {
  linearRequantModelOf,
  linearRequantSchedule,
  linearRequantTiling,
  packLinearRequantConsts,
  POST_GROUP_ROWS,
  type FusedOp,
  type LinearRequantModel,
  type LinearRequantPlan,
} from '../kernels/model-linear-requant.js';
import { npuMultiplier } from '../kernels/npu-requant-act.js';
import type { MachineConfig } from '../sim/config.js';
import { Machine } from '../sim/machine.js';
import { loadProgram, simulate, type SimResult } from '../sim/run.js';
import { assembleBuilt, type RunOptions } from './index.js';
import { Emitter, type BuiltProgram } from './linear.js';

export interface LinearRequantConsts {
  /** per output channel: multiplier (frexp31 form: |m| <= 2^31) and shift (>= 0; > 127 is taken as 127) */
  readonly m: ArrayLike<number>;
  readonly e: ArrayLike<number>;
  readonly bits: 8 | 16;
}

export function buildLinearRequant(M: number, K: number, N: number, bits: 8 | 16, mach: MachineConfig, lag?: number): BuiltProgram & { plan: LinearRequantPlan; ops: FusedOp[] } {
  const p = linearRequantTiling(M, K, N, bits, mach, lag);
  const t = p.t;
  const ops = linearRequantSchedule(p, mach);
  const R = mach.mxu.rows, C = mach.mxu.cols, L = mach.vpu.lanes;
  const ob = p.ob;
  const sat = bits === 8 ? 'sat8' : 'sat16';
  const vst = bits === 8 ? 'vst.s8' : 'vst.s16';
  const regions = p.regions;
  const e = new Emitter();
  e.comment(`linear-requant: y[${M},${N}] (int${bits}) = sat${bits}(rne((x[${M},${K}] . W[${N},${K}]^T + bias[${N}]) * m_c / 2^e_c)), per output channel c`);
  e.comment('the int32 accumulators stay on chip: after a tile\'s last K step the VPU requantizes its rows, in pieces issued between');
  e.comment(`the following weight loads (from the ${p.lag + 1}th after its last one on), and each piece goes to DRAM as int${bits} rows`);
  e.comment(
    t.order === 'rows'
      ? `machine: ${R}x${C} MXU, ${L} lanes; loop order: rows (x block kept); tiles: x rows ${t.mt} (x${t.mTiles}), K ${R} (x${t.kTiles}), N ${C} (x${t.nTiles})`
      : `machine: ${R}x${C} MXU, ${L} lanes; loop order: column groups outer; x rows ${t.mt} (x${t.mTiles}), groups of ${t.groupTiles} tiles (x${t.groups}), K ${R} (x${t.kTiles}); ${t.accBuffers} accumulator cop${t.accBuffers > 1 ? 'ies' : 'y'}`,
  );
  e.comment('constants: k = int16 [3][N] rows hi, lo - 2^15, e with m_c = hi * 2^16 + lo; rebuilt per tile in v31 (m) and v30 (e)');
  e.comment('registers: r1..r6 DMA operands; r7..r10 weight preload; r11..r15 stream; r9 acc / constants pointer, r10 ys pointer,');
  e.comment(`           r12 vector length, r16 = 16, r17 = 2^15; v0..v${POST_GROUP_ROWS - 1} accumulator rows (${POST_GROUP_ROWS} interleaved), v31/v30 (v29/v28, ...) m, e per lane chunk`);
  e.raw(`.buffer x,     dram, ${M * K}`);
  e.raw(`.buffer w,     dram, ${N * K}`);
  e.raw(`.buffer bias,  dram, ${N * 4}`);
  e.raw(`.buffer k,     dram, ${3 * N * 2}     ; int16 [3][${N}]`);
  e.raw(`.buffer y,     dram, ${M * N * ob}`);
  const xsBytes = t.order === 'rows' ? t.xBuffers * t.mt * K : t.xBuffers * t.mt * R;
  e.raw(`.buffer xs,    spad, ${xsBytes}     ; ${t.order === 'rows' ? `x row block(s) [${t.mt}][${K}]` : `${t.xBuffers} x K-slice slots [${t.mt}][${R}]`}`);
  e.raw(`.buffer wring, spad, ${t.ringSlots * R * C}     ; ${t.ringSlots} weight slots of [${C}][${R}]`);
  e.raw(`.buffer ys,    spad, ${2 * t.mt * C * ob}     ; two int${bits} output tiles [${t.mt}][${C}]`);
  e.raw(`.buffer ks,    spad, ${regions * 3 * C * 2}     ; ${regions} int16 constants blocks [3][${C}], one per accumulator tile`);
  e.raw(`.buffer yacc,  acc,  ${regions * t.mt * C}     ; ${regions} accumulator tiles of [${t.mt}][${C}]`);
  e.raw('    li   r16, 16');
  e.raw('    li   r17, 32768');
  let vl = -1;
  for (const op of ops) {
    switch (op.kind) {
      case 'comment':
        e.comment(op.text);
        break;
      case 'bias': {
        const tl = op.tile;
        e.op('dma.ld', ['acc'], [['r1', `yacc + ${tl.region * t.mt * C}`], ['r2', `bias + ${tl.n0 * 4}`], ['r3', tl.mt], ['r4', tl.nt], ['r5', C], ['r6', 0]]);
        break;
      }
      case 'consts': {
        const tl = op.tile;
        e.op('dma.ld', ['spad'], [['r1', `ks + ${tl.region * 6 * C}`], ['r2', `k + ${tl.n0 * 2}`], ['r3', 3], ['r4', tl.nt * 2], ['r5', 2 * C], ['r6', N * 2]]);
        break;
      }
      case 'x':
        e.op('dma.ld', ['spad'], [['r1', `xs + ${op.chip}`], ['r2', `x + ${op.dram}`], ['r3', op.rows], ['r4', op.len], ['r5', op.chipStride], ['r6', K]]);
        break;
      case 'step': {
        const tl = op.tile;
        const ws = `wring + ${op.ring * R * C}`;
        e.comment(`tile ${tl.index}, K ${op.k0}..${op.k0 + op.kt - 1}`);
        e.op('dma.ld', ['spad'], [['r1', ws], ['r2', `w + ${tl.n0 * K + op.k0}`], ['r3', tl.nt], ['r4', op.kt], ['r5', R], ['r6', K]]);
        e.op('mxu.wload', [], [['r7', ws], ['r8', R], ['r9', op.kt], ['r10', tl.nt]]);
        e.op('mxu.mm', [], [['r11', `yacc + ${tl.region * t.mt * C}`], ['r12', `xs + ${op.xAddr}`], ['r13', tl.mt], ['r14', C], ['r15', op.xStride]], ['acc']);
        break;
      }
      case 'post': {
        const { tile: tl, r0, rn } = op;
        const b = tl.index % 2;
        const ysBase = b * t.mt * C * ob;
        e.comment(`requantize tile ${tl.index} rows ${tl.m0 + r0}..${tl.m0 + r0 + rn - 1} (accumulator rows ${r0}..${r0 + rn - 1})`);
        p.chunks.forEach(([c0, width], ci) => {
          if (c0 >= tl.nt) return;
          const w = Math.min(width, tl.nt - c0);
          if (w !== vl) {
            e.raw(`    li   r12, ${w}`);
            e.raw('    vsetvl r12, r12');
            vl = w;
          }
          const vm = `v${31 - 2 * ci}`, ve = `v${30 - 2 * ci}`;
          if (op.first) {
            e.raw(`    li   r9, ks + ${tl.region * 6 * C + c0 * 2}       ; constants of columns ${tl.n0 + c0}..${tl.n0 + c0 + w - 1}`);
            e.raw(`    vld.s16 ${vm}, r9, ${2 * C}      ; hi`);
            e.raw(`    vld.s16 ${ve}, r9, ${2 * C}      ; lo - 2^15`);
            e.raw(`    vsll.vx ${vm}, ${vm}, r16`);
            e.raw(`    vadd ${vm}, ${vm}, ${ve}`);
            e.raw(`    vadd.vx ${vm}, ${vm}, r17      ; m_c = hi * 2^16 + lo`);
            e.raw(`    vld.s16 ${ve}, r9, 0      ; e_c`);
          }
          e.raw(`    li   r9, yacc + ${tl.region * t.mt * C + r0 * C + c0}`);
          e.raw(`    li   r10, ys + ${ysBase + (r0 * C + c0) * ob}`);
          for (let g0 = 0; g0 < rn; g0 += POST_GROUP_ROWS) {
            const g = Math.min(POST_GROUP_ROWS, rn - g0);
            for (let i = 0; i < g; i++) e.raw(`    vld.acc v${i}, r9, ${C}`);
            for (let i = 0; i < g; i++) e.raw(`    vmulr.vv v${i}, v${i}, ${vm}, ${ve}, rne, ${sat}`);
            for (let i = 0; i < g; i++) e.raw(`    ${vst} v${i}, r10, ${C * ob}`);
          }
        });
        e.op('dma.st', ['spad'], [['r1', `ys + ${ysBase + r0 * C * ob}`], ['r2', `y + ${((tl.m0 + r0) * N + tl.n0) * ob}`], ['r3', rn], ['r4', tl.nt * ob], ['r5', C * ob], ['r6', N * ob]]);
        break;
      }
    }
  }
  e.raw('    halt');
  return { source: e.lines.join('\n') + '\n', file: `linear_requant_${M}x${K}x${N}_${bits}.s`, plan: p, ops };
}

export interface LinearRequantRun {
  readonly y: Int32Array;
  readonly sim: SimResult;
  readonly model: LinearRequantModel;
  readonly program: Program;
}

/**
 * Runs the fused kernel: x int8 [M,K], w int8 [N,K], bias int32 [N], per-output-channel (m, e) pairs in the frexp31
 * form (normalised as npuMultiplier does: m = 2^31 becomes 2^30 with e - 1, e > 127 becomes 127). y: the int8/int16
 * outputs as int32 values, row-major [M,N].
 */
export function runLinearRequantSim(
  x: Int8Array, w: Int8Array, bias: Int32Array, M: number, K: number, N: number,
  consts: LinearRequantConsts, cfg: MachineConfig, opts: RunOptions & { readonly lag?: number } = {},
): LinearRequantRun {
  if (consts.m.length !== N || consts.e.length !== N) {
    throw new RangeError(`linear-requant: ${consts.m.length} multipliers and ${consts.e.length} shifts for ${N} output channels`);
  }
  const mm: number[] = [], ee: number[] = [];
  for (let c = 0; c < N; c++) {
    const f = npuMultiplier(consts.m[c]!, consts.e[c]!, `m[${c}]`);
    mm.push(f.m);
    ee.push(f.e);
  }
  const built = buildLinearRequant(M, K, N, consts.bits, cfg, opts.lag);
  const program = assembleBuilt(built, cfg);
  const machine = new Machine(cfg);
  const buf = (name: string) => {
    const b = program.buffers.get(name);
    if (!b) throw new Error(`program ${program.file} has no buffer '${name}'`);
    return b;
  };
  machine.writeBuffer(buf('x'), x);
  machine.writeBuffer(buf('w'), w);
  machine.writeBuffer(buf('bias'), bias);
  machine.writeBuffer(buf('k'), packLinearRequantConsts(mm, ee, N));
  const sim = simulate(loadProgram(program.words, program), cfg, { machine, mode: opts.mode ?? 'full', trace: opts.trace ?? false });
  const ob = built.plan.ob;
  const bytes = sim.machine.readBytes(buf('y'), M * N * ob);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const y = new Int32Array(M * N);
  for (let i = 0; i < M * N; i++) y[i] = ob === 1 ? view.getInt8(i) : view.getInt16(2 * i, true);
  return { y, sim, model: linearRequantModelOf(built.plan, built.ops, cfg), program };
}
