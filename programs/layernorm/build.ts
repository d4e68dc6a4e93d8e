// Program builder and runner for the fused LayerNorm + QuantAct(8) kernel: int32 rows of C (22-bit residual sums)
// -> int8, exactly as kernels/npu/layernorm.ts (layer 2) defines it. The plan (memory layout, pipeline, loop) is
// programs/layernorm/model.ts's, which also prices it. The emitted assembly opens with the register and buffer plan.
import { carriedPointer, interleave, LN_MAX_GROUP, LN_MAX_GROUP_SOFT, layernormModel, layernormPlan, softMeanOps, softRecipOps, type LayerNormMachine, type LayerNormPlan } from './model.js';
import { checkLayerNormDomain, foldLayerNormCase, LN_GENERAL, parseLayerNormCase, type LayerNormNpuConsts } from '../../kernels/npu/layernorm.js';
import type { MachineConfig } from '../../sim/config.js';
import { loadProgram, simulate } from '../../sim/run.js';
import { assembleBuilt, machineFor, programBuffer, type CaseRun, type RunOptions } from '../index.js';
import { storedProgram } from '../program-store.js';
import { emitted, type BuiltProgram } from '../linear/build.js';
import { ProgramEmitter, type Operand } from '../../isa/emit.js';

export interface LayerNormBuild extends BuiltProgram {
  readonly plan: LayerNormPlan;
}

/** Vectors (of `lanes` channels) that hold at least one general-path channel. */
export function generalVectors(k: LayerNormNpuConsts, lanes: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < k.C; c++) {
    if (k.kind[c] === LN_GENERAL && out[out.length - 1] !== Math.floor(c / lanes)) out.push(Math.floor(c / lanes));
  }
  return out;
}

/** The accumulator image of the per-vector constants, in the plan's order (padding lanes 0). */
export function packLayerNormConsts(plan: LayerNormPlan, k: LayerNormNpuConsts): Int32Array {
  const L = plan.lanes;
  const out = new Int32Array(plan.constWords);
  let at = 0;
  for (let v = 0; v < plan.vectors; v++) {
    const general = plan.general.includes(v);
    const blocks: Int32Array[] = general ? [k.B2, k.M, k.E, k.Tlo, k.Thi, k.Kh, k.Sh] : [k.B2, k.M, k.E];
    for (const b of blocks) {
      for (let i = 0; i < L; i++) {
        const c = v * L + i;
        out[at + i] = c < k.C ? b[c]! : 0;
      }
      at += L;
    }
    if (general) {
      for (let i = 0; i < L; i++) {
        const c = v * L + i;
        out[at + i] = c < k.C && k.kind[c] === LN_GENERAL ? 1 : 0;
      }
      at += L;
    }
  }
  if (at !== plan.constWords) throw new Error(`internal: packed ${at} constant words, plan has ${plan.constWords}`);
  return out;
}

// Register plan (also printed in the program header).
const R = {
  one: 'r1', shift: 'r2', lanes: 'r3', tail: 'r4', xStep: 'r5', cLen: 'r6', xDram: 'r7', yDram: 'r8',
  sumPtr: 'r9', varPtr: 'r10', outX: 'r11', outK: 'r12', outY: 'r13', sum: 'r14', sumHi: 'r15', vsum: 'r16', vsumHi: 'r17',
  num: 'r18', numHi: 'r19', mu: ['r20', 'r21'] as const, S: 'r22', den: 'r23', flag: 'r24', nf: 'r25', neg: 'r26',
  n32: 'r27', m128: 'r28', p127: 'r29', loop: 'r30', chip: 'r31',
} as const;
const V = { mu: 'v20', nf: 'v21', one: 'v22', zero: 'v23' } as const;
// Output-group banks: x, B2, M, E of up to G vectors each (G = the plan's largest group, 5 or 3).
const xv = (k: number): string => `v${k}`;
const b2v = (k: number, G: number): string => `v${G + k}`;
const mv = (k: number, G: number): string => `v${2 * G + k}`;
const ev = (k: number, G: number): string => `v${3 * G + k}`;
const tv = (k: number): string => `v${24 + k}`;

function header(p: LayerNormPlan, shift: number, mach: LayerNormMachine): string[] {
  const L = p.lanes;
  return [
    `; layernorm: y[${p.rows}][${p.C}] (int8) = QuantAct8(IntLayerNorm(x)), x int32 22-bit residual sums, shift ${shift}`,
    `; machine: ${L} lanes, ${mach.divider.present ? 'divider' : 'no divider (software mu, isqrt, 1/S)'}; ${p.vectors} vector${p.vectors === 1 ? '' : 's'} per row` +
      `${p.tail < L ? ` (the last has ${p.tail} channels)` : ''}; ${p.general.length} general-path vector${p.general.length === 1 ? '' : 's'}`,
    ';',
    '; Why along the row: mean and variance are reductions over a row; one row across the lanes turns them into',
    '; vredsum.w / vredsumsq.w into 64-bit pairs and leaves one scalar division, one isqrt and one reciprocal per row',
    '; for the divider, which works while the VPU streams other rows. One row per lane would need 64-bit lane',
    '; accumulators for the variance (up to C 2^44) and a vector divider, which the machine does not have.',
    ';',
    '; Pipeline: step s loads row s+prefetch, writes the output of row s-3 (divider: mu of row s-1, f of row s-2),',
    '; computes the variance of row s-1 and sums row s (divider: isqrt of row s-1). The divider latency is hidden',
    '; behind the vector work of the other rows. Per row, on the VPU:',
    ';   sum    vld, vredsum.w                          s  (pair r14:r15)',
    ';   var    vld, vsub.vx mu, vsra.vx shift, vredsumsq.w   V (pair r16:r17)',
    ';   out    vld x, B2, M, E; vsub (mu - x); vmacr (*-f, +2 q_beta, >>1 floor, sat32); vmulr.vv (*m >> e, rne, sat8); vst.s8',
    ...(p.divider
      ? ['; Scalars per row: mu = div.w(s / C, rne); S = isqrt.w(V); nf = -f = div.w(-2^(31-shift) [S > 0] / max(S, 1), trunc).']
      : [
          '; No divider: mu, S and nf come from software routines (programs/layernorm/model.ts softMeanOps, softRecipOps):',
          ';   mean by a reciprocal multiply with two correction steps, isqrt by reciprocal-square-root Newton steps and',
          ';   an exact residual check, 1/S by Newton steps and an exact remainder check; bit-identical to the divider.',
          ';   They are interleaved into the output stage of the step (row s-2\'s 1/S, row s-1\'s mean) and leave broadcast',
          ';   vectors (v27 mean, v29 nf) that rotate into v20/v21 at the end of the step.',
        ]),
    `; Vectors are processed in groups of up to ${p.divider ? LN_MAX_GROUP : LN_MAX_GROUP_SOFT} per stage, phase by phase, so every dependent instruction is at`,
    '; least as many slots behind its producer as the producer\'s latency: the in-order VPU issues one per cycle.',
    ';',
    `; buffers: x (dram, int32 [${p.rows}][${p.C}]), y (dram, int8), cdram (dram: the per-vector constants, copied once to`,
    `;   consts in acc: B2, M, E blocks of ${L} per direct vector, + Tlo, Thi, Kh, Sh, mask per general vector),`,
    `;   xring (acc: ${p.xSlots} row slots of ${p.rowStride} int32, zero padding beyond C), yring (spad: ${p.ySlots} slots of ${p.rowStride} bytes)`,
    '; scalar registers: r1 = 1, r2 shift, r3 lanes, r4 tail lanes, r5 4C, r6 C, r7 next x row in DRAM, r8 next y row,',
    ';   r9 sum pointer, r10 variance pointer, r11..r13 output x / constant / y pointers, r14:r15 sum pair, r16:r17 V pair,',
    ';   r18:r19 dividend pair, r20/r21 mu (even/odd rows), r22 S, r23 max(S,1), r24 [S > 0], r25 nf, r26 -2^(31-shift),',
    ';   r27 32, r28 -128, r29 127, r30 loop count, r31 DMA on-chip address' + (p.divider ? '' : '; r18..r26 the software routines\' scalars'),
    p.constsResident
      ? '; vector registers: v0, v1, v29-v31 x of an output group; v20 mu and v21 nf of the output'
      : p.divider
      ? '; vector registers: v0-v4 x, v5-v9 B2, v10-v14 M, v15-v19 E of an output group; v20 mu and v21 nf of the output'
      : '; vector registers: v0-v2 x, v3-v5 B2, v6-v8 M, v9-v11 E of an output group; v20 mu and v21 nf of the output',
    p.constsResident
      ? `;   row (broadcast); v22 ones, v23 zeros; v24-v28 sum and variance temporaries.\n; resident constants: B2, M, E of vector v in v(2+3v)..v(4+3v) (v2-v${1 + 3 * p.vectors}), loaded once before the first output row;\n;   the output groups keep x in v0, v1, v29-v31`
      : p.divider
      ? ';   row (broadcast); v22 ones, v23 zeros; v24-v28 sum and variance temporaries; general vectors use v0-v11'
      : ';   row (broadcast); v22 ones, v23 zeros; v24-v26 sum and variance temporaries; general vectors use v0-v11;\n' +
        ';   routines: v12-v18 temporaries, v19 -C, v27 mean (new), v28 mean (previous), v29 nf (new), v30 C, v31 C - 1',
  ];
}

/** One line of a step: an instruction (`v` for the VPU, else scalar/other) with its operands, or a comment (no slot). */
interface Line {
  readonly kind: 'v' | 's' | 'c';
  readonly m: string;
  readonly o: readonly Operand[];
  /** the instruction's trailing comment, or the comment's text */
  readonly r: string | undefined;
  /** an li of an address: the buffer it points into (the listing names it) */
  readonly b?: string;
}
const ins = (m: string, o: readonly Operand[], remark?: string): Line => ({ kind: m.charCodeAt(0) === 118 /* v */ && m !== 'vsetvl' ? 'v' : 's', m, o, r: remark });
const com = (text: string): Line => ({ kind: 'c', m: '', o: [], r: text });
/** `li reg, addr` of an address in a buffer. */
const liAt = (r: string, addr: number, buffer: string): Line => ({ kind: 's', m: 'li', o: [r, addr], r: undefined, b: buffer });

/** The lines into the emitter, in order. */
function emitLines(e: ProgramEmitter, lines: readonly Line[]): void {
  for (const l of lines) {
    if (l.kind === 'c') {
      e.comment(l.r!);
      continue;
    }
    if (l.b !== undefined) e.li(reg(l.o[0] as string), l.o[1] as number, l.b);
    else e.op(l.m, ...l.o);
    if (l.r !== undefined) e.remark(l.r);
  }
}

/**
 * A routine of programs/layernorm/model.ts (softMeanOps, softRecipOps: the model prices the same instructions it
 * gives as text) as lines, parsed once per build: `mnemonic op, op, ...   ; remark`, operands registers, enum
 * names or integers.
 */
function routineLines(ops: readonly { readonly text: string }[]): Line[] {
  return ops.map(({ text }) => {
    const semi = text.indexOf(';');
    const body = (semi < 0 ? text : text.slice(0, semi)).trim();
    const remark = semi < 0 ? undefined : text.slice(semi + 1).trim();
    const [m, ...rest] = body.split(/[\s,]+/);
    return ins(m!, rest.map((t) => (/^-?\d+$/.test(t) ? Number(t) : t)), remark);
  });
}

/** Merges a routine into a stage by the model's interleave rule, over instructions (comments ride along). */
function merge(stage: readonly Line[], routine: readonly Line[]): Line[] {
  // Attach each comment to the instruction after it, interleave the instructions, then unfold.
  const pack = (ls: readonly Line[]): Line[][] => {
    const out: Line[][] = [];
    let pending: Line[] = [];
    for (const l of ls) {
      pending.push(l);
      if (l.kind !== 'c') {
        out.push(pending);
        pending = [];
      }
    }
    if (pending.length > 0) out.push(pending);
    return out;
  };
  return interleave(pack(stage), pack(routine)).flat();
}

/** Vector registers of the software routines' results (see softMeanOps / softRecipOps). */
const SOFT = { muNew: 'v27', muPrev: 'v28', nfNew: 'v29' } as const;

/** Addresses of the program's buffers (bytes for dram and spad, int32 words for acc). */
interface LnBuffers {
  readonly x: number;
  readonly y: number;
  readonly cdram: number;
  readonly consts: number;
  readonly xring: number;
  readonly yring: number;
}

/** The software routines' lines (no divider), parsed once per build. */
interface SoftRoutines {
  readonly recip: readonly Line[];
  readonly mean: readonly Line[];
}

/** One pipeline step's code; `s` decides the slots, registers and which stages exist. */
function emitStep(p: LayerNormPlan, s: number, B: LnBuffers, routines: SoftRoutines): Line[] {
  const out: Line[] = [];
  const L = p.lanes, N = p.rows;
  const valid = (r: number): boolean => r >= 0 && r < N;
  const sumRow = s, varRow = s - 1, fRow = s - 2, outRow = s - 3, loadRow = s + p.prefetch;
  const slot = (r: number): number => B.xring + (r % p.xSlots) * p.rowStride;
  const muReg = (r: number): string => R.mu[r % 2]!;
  /** The stage's pointer already points at row r's slot (carriedPointer): no li. */
  const setPtr = (reg: string, r: number, slots: number, addr: number, buffer: string): Line[] => (carriedPointer(p, r, slots) ? [] : [liAt(reg, addr, buffer)]);
  out.push(com(`---- step ${s}: ${[
    valid(loadRow) ? `load row ${loadRow}` : '', valid(outRow) ? `output row ${outRow}` : '',
    valid(varRow) ? `${p.divider ? '' : 'mean and '}variance row ${varRow}` : '', valid(fRow) && !p.divider ? `isqrt and 1/S row ${fRow}` : '',
    valid(sumRow) ? `sum row ${sumRow}` : '',
  ].filter((t) => t !== '').join(', ')} ----`));
  if (valid(loadRow)) {
    out.push(liAt(R.chip, slot(loadRow), 'xring'), ins('dma.ld', ['acc', R.chip, R.xDram, R.one, R.cLen, 'r0', 'r0']), ins('add', [R.xDram, R.xDram, R.xStep]));
  }
  const divMu: Line[] = valid(varRow) && p.divider ? [ins('div.w', [muReg(varRow), R.sum, R.cLen, 'rne'], `mu of row ${varRow}`)] : [];
  const divF: Line[] = valid(fRow) && p.divider
    ? [
        ins('slt', [R.flag, 'r0', R.S], `f of row ${fRow}: [S > 0]`),
        ins('max', [R.den, R.S, R.one]),
        ins('mul', [R.num, R.neg, R.flag]),
        ins('sub', [R.numHi, 'r0', R.flag]),
        ins('div.w', [R.nf, R.num, R.den, 'trunc'], 'nf = -floor(2^(31-shift) / S), 0 when S = 0'),
      ]
    : [];
  // Software routines (no divider): 1/S of row s-2 (its V pair is in r16:r17), then the mean of row s-1 (r14).
  const soft: Line[] = [];
  if (!p.divider) {
    if (valid(fRow)) soft.push(com(`isqrt and 1/S of row ${fRow} (software)`), ...routines.recip);
    if (valid(varRow)) soft.push(com(`mean of row ${varRow} (software)`), ...routines.mean);
  }
  // ---- output stage (row s-3), with the divider work for rows s-1 and s-2 slotted in ----
  if (valid(outRow)) {
    const st: Line[] = [];
    if (p.constsResident && outRow === 0) {
      st.push(com(`the constants B2, M, E of the ${p.vectors} vectors into v2..v${1 + 3 * p.vectors}, once (they stay for every row)`), liAt(R.outK, B.consts, 'consts'));
      for (let v = 0; v < p.vectors; v++) st.push(...[0, 1, 2].map((b) => ins('vld.acc', [residentConst(v, b), R.outK, L])));
    }
    if (p.divider) st.push(ins('vbcast', [V.mu, muReg(outRow)]), ins('vbcast', [V.nf, R.nf]));
    st.push(...setPtr(R.outX, outRow, p.xSlots, slot(outRow), 'xring'), ...(p.constsResident ? [] : [liAt(R.outK, B.consts, 'consts')]), ...setPtr(R.outY, outRow, p.ySlots, B.yring + (outRow % p.ySlots) * p.rowStride, 'yring'));
    p.groups.forEach(([first, g], gi) => {
      if (p.constsResident && g > 0) {
        // mu of row s-1 right after the first group's loads and subtractions (the row sum is ready by then): the
        // variance stage reads it most of a step later, beyond a pipelined divider's latency
        const lines = outGroupResident(first, g, L, p.second !== undefined);
        st.push(...lines.slice(0, 1 + 2 * g), ...(gi === 0 ? divMu : []), ...lines.slice(1 + 2 * g));
        return;
      }
      st.push(...(g === 0 ? generalLines(first, L) : outGroupLines(first, g, L, p.divider ? LN_MAX_GROUP : LN_MAX_GROUP_SOFT, p.second !== undefined)));
      if (gi === 0) st.push(...divMu);
    });
    st.push(...divF);
    out.push(...merge(st, soft));
    out.push(liAt(R.chip, B.yring + (outRow % p.ySlots) * p.rowStride, 'yring'), ins('dma.st', ['spad', R.chip, R.yDram, R.one, R.cLen, 'r0', 'r0']), ins('add', [R.yDram, R.yDram, R.cLen]));
  } else {
    out.push(...divMu, ...divF, ...soft);
  }
  // ---- variance stage (row s-1) ----
  if (valid(varRow)) {
    out.push(...setPtr(R.varPtr, varRow, p.xSlots, slot(varRow), 'xring'), ins('li', [R.vsum, 0]), ins('li', [R.vsumHi, 0]));
    for (const [first, g] of p.varGroups) {
      out.push(com(`variance, vectors ${first}..${first + g - 1}`));
      for (let k = 0; k < g; k++) out.push(ins('vld.acc', [tv(k), R.varPtr, L]));
      for (let k = 0; k < g; k++) out.push(p.divider ? ins('vsub.vx', [tv(k), tv(k), muReg(varRow)]) : ins('vsub', [tv(k), tv(k), SOFT.muNew]));
      for (let k = 0; k < g; k++) out.push(ins('vsra.vx', [tv(k), tv(k), R.shift]));
      for (let k = 0; k < g; k++) {
        const lastTail = first + k === p.vectors - 1 && p.tail < L;
        if (lastTail) out.push(ins('vsetvl', ['r0', R.tail], `the last vector has ${p.tail} channels`));
        out.push(ins('vredsumsq.w', [R.vsum, tv(k)]));
        if (lastTail) out.push(ins('vsetvl', ['r0', R.lanes]));
      }
    }
  }
  // ---- sum stage (row s), with the isqrt of row s-1 ----
  const isqrt = ins('isqrt.w', [R.S, R.vsum], `S of row ${varRow}`);
  if (valid(sumRow)) {
    out.push(...setPtr(R.sumPtr, sumRow, p.xSlots, slot(sumRow), 'xring'), ins('li', [R.sum, 0]), ins('li', [R.sumHi, 0]));
    p.varGroups.forEach(([first, g], gi) => {
      out.push(com(`sum, vectors ${first}..${first + g - 1} (padding lanes are 0)`));
      for (let k = 0; k < g; k++) out.push(ins('vld.acc', [tv(k), R.sumPtr, L]));
      for (let k = 0; k < g; k++) out.push(ins('vredsum.w', [R.sum, tv(k)]));
      if (gi === 0 && valid(varRow) && p.divider) out.push(isqrt);
    });
  } else if (valid(varRow) && p.divider) {
    out.push(isqrt);
  }
  if (!p.divider && (valid(outRow + 1) || valid(varRow))) {
    out.push(
      com('rotate the software results: the next output row is this step\'s row s-2'),
      ins('vadd', [V.mu, SOFT.muPrev, V.zero]), ins('vadd', [SOFT.muPrev, SOFT.muNew, V.zero]), ins('vadd', [V.nf, SOFT.nfNew, V.zero]),
    );
  }
  return out;
}

/** Resident constants: block b (0 B2, 1 M, 2 E) of vector v in v2..v19; x of an output group in v0, v1, v29..v31. */
const residentConst = (v: number, b: number): string => `v${2 + 3 * v + b}`;
const RESIDENT_X = ['v0', 'v1', 'v29', 'v30', 'v31'] as const;

function outGroupResident(first: number, g: number, L: number, second: boolean): Line[] {
  const x = (k: number): string => RESIDENT_X[k]!;
  const o: Line[] = [com(`output, vectors ${first}..${first + g - 1} (constants in registers)`)];
  const note = (k: number, t: string): string | undefined => (k === 0 ? t : undefined);
  for (let k = 0; k < g; k++) o.push(ins('vld.acc', [x(k), R.outX, L]));
  for (let k = 0; k < g; k++) o.push(ins('vsub', [x(k), V.mu, x(k)], note(k, '-y = mu - x')));
  for (let k = 0; k < g; k++) o.push(ins('vmacr', [x(k), x(k), V.nf, residentConst(first + k, 0), R.one, 'floor', 'sat32'], note(k, 'sat32(floor((y f + 2 q_beta) / 2))')));
  for (let k = 0; k < g; k++) o.push(ins('vmulr.vv', [x(k), x(k), residentConst(first + k, 1), residentConst(first + k, 2), 'rne', 'sat8'], note(k, 'sat8(rne(A m / 2^e))')));
  if (second) for (let k = 0; k < g; k++) o.push(ins('vmulr.vx', [x(k), x(k), R.m128, R.p127, 'rne', 'sat8'], note(k, "second requantization: sat8(rne(y m' / 2^e'))")));
  for (let k = 0; k < g; k++) o.push(ins('vst.s8', [x(k), R.outY, L]));
  return o;
}

function outGroupLines(first: number, g: number, L: number, G: number, second = false): Line[] {
  const o: Line[] = [com(`output, vectors ${first}..${first + g - 1}`)];
  for (let k = 0; k < g; k++) o.push(ins('vld.acc', [xv(k), R.outX, L]));
  for (let k = 0; k < g; k++) o.push(ins('vld.acc', [b2v(k, G), R.outK, L]), ins('vld.acc', [mv(k, G), R.outK, L]), ins('vld.acc', [ev(k, G), R.outK, L]));
  const note = (k: number, t: string): string | undefined => (k === 0 ? t : undefined);
  for (let k = 0; k < g; k++) o.push(ins('vsub', [xv(k), V.mu, xv(k)], note(k, '-y = mu - x')));
  for (let k = 0; k < g; k++) o.push(ins('vmacr', [xv(k), xv(k), V.nf, b2v(k, G), R.one, 'floor', 'sat32'], note(k, 'sat32(floor((y f + 2 q_beta) / 2))')));
  for (let k = 0; k < g; k++) o.push(ins('vmulr.vv', [xv(k), xv(k), mv(k, G), ev(k, G), 'rne', 'sat8'], note(k, 'sat8(rne(A m / 2^e))')));
  if (second) for (let k = 0; k < g; k++) o.push(ins('vmulr.vx', [xv(k), xv(k), R.m128, R.p127, 'rne', 'sat8'], note(k, "second requantization: sat8(rne(y m' / 2^e'))")));
  for (let k = 0; k < g; k++) o.push(ins('vst.s8', [xv(k), R.outY, L]));
  return o;
}

/** A line as assembly text (outputVectorAsm). */
const lineText = (l: Line): string => (l.kind === 'c' ? `; ${l.r}` : `    ${l.m} ${l.o.join(', ')}${l.r === undefined ? '' : `      ; ${l.r}`}`);

/**
 * The output code of one vector as the program emits it (direct: a group of one; general: the merged sequence),
 * reading x at r11, its constant blocks at r12 and writing int8 at r13, with mu in v20 and nf in v21 (for tests:
 * x = h, mu = 0, nf = -2 make A = h + c1 exactly). Assembly text, for tests that assemble it around other code.
 */
export function outputVectorAsm(general: boolean, L: number): string[] {
  return (general ? generalLines(0, L) : outGroupLines(0, 1, L, LN_MAX_GROUP)).map(lineText);
}

/** A vector with general-path lanes: both results, merged by the lane mask (see kernels/npu/layernorm.ts). */
function generalLines(v: number, L: number): Line[] {
  return [
    com(`output, vector ${v}: general path (q_beta m beyond the 32-bit addend in some lanes)`),
    ins('vld.acc', ['v0', R.outX, L]),
    ...['B2', 'M', 'E', 'Tlo', 'Thi', 'Kh', 'Sh', 'mask'].map((n, i) => ins('vld.acc', [`v${i + 1}`, R.outK, L], n)),
    ins('vsub', ['v0', V.mu, 'v0']),
    ins('vmacr', ['v0', 'v0', V.nf, 'v1', R.one, 'floor', 'sat32'], 'A = h + c1 (= h in general lanes)'),
    ins('vmulr.vv', ['v9', 'v0', 'v2', 'v3', 'rne', 'sat8'], 'direct result'),
    ins('vmacr', ['v10', 'v0', 'v2', 'v4', R.n32, 'floor', 'sat32'], 'G = floor((h m + Tlo) / 2^32)'),
    ins('vmacr', ['v11', 'v0', 'v2', 'v4', 'r0', 'floor', 'wrap32'], 'low word: the sticky bits'),
    ins('vadd', ['v10', 'v10', 'v5'], "G' = floor(X / 2^32)"),
    ins('vseq', ['v11', 'v11', V.zero]),
    ins('vsra.vx', ['v4', 'v10', R.one]),
    ins('vsll.vx', ['v4', 'v4', R.one]),
    ins('vadd', ['v4', 'v4', V.one]),
    ins('vsub', ['v4', 'v4', 'v11']),
    ins('vmax', ['v10', 'v10', 'v4'], 'X / 2^32 rounded to odd'),
    ins('vmulr.vv', ['v10', 'v10', V.one, 'v7', 'rne', 'sat32'], 'rne(X / 2^e)'),
    ins('vadd', ['v10', 'v10', 'v6'], '+ Kh'),
    ins('vclamp', ['v10', 'v10', R.m128, R.p127]),
    ins('vsel', ['v0', 'v8', 'v10', 'v9']),
    ins('vst.s8', ['v0', R.outY, L]),
  ];
}

/**
 * The whole program for a plan (shift and the machine's lanes are baked in), as instruction words (isa/emit.ts;
 * the listing, with the header and the comments per stage, is rendered only when read).
 */
export function buildLayerNorm(p: LayerNormPlan, shift: number, mach: LayerNormMachine): LayerNormBuild {
  const N = p.rows, L = p.lanes;
  const e = new ProgramEmitter(`layernorm_${N}x${p.C}.s`);
  for (const h of header(p, shift, mach)) for (const l of h.split('\n')) e.comment(l.replace(/^; ?/, ''));
  const B: LnBuffers = {
    x: e.buffer('x', 'dram', Math.max(1, N * p.C * 4)),
    y: e.buffer('y', 'dram', Math.max(1, N * p.C)),
    cdram: e.buffer('cdram', 'dram', p.constWords * 4),
    consts: e.buffer('consts', 'acc', p.constWords),
    xring: e.buffer('xring', 'acc', p.xSlots * p.rowStride),
    yring: e.buffer('yring', 'spad', p.ySlots * p.rowStride),
  };
  const li = (r: string, v: number, remark?: string, buffer?: string): void => {
    e.li(reg(r), v, buffer);
    if (remark !== undefined) e.remark(remark);
  };
  li(R.one, 1);
  li(R.shift, shift);
  li(R.lanes, L);
  li(R.tail, p.tail);
  li(R.xStep, 4 * p.C);
  li(R.cLen, p.C);
  li('r7', B.x, undefined, 'x');
  li('r8', B.y, undefined, 'y');
  li(R.neg, -(2 ** (31 - shift)) | 0);
  li(R.n32, 32);
  if (p.second) {
    li(R.m128, p.second.m, "second requantization m' (no general vectors: r28/r29 are free)");
    li(R.p127, p.second.e, "second requantization e'");
  } else {
    li(R.m128, -128);
    li(R.p127, 127);
  }
  e.op('vsetvl', 'r0', R.lanes);
  e.remark('all lanes: the vector length is whatever the previous program left');
  e.op('vbcast', V.one, R.one);
  e.op('vbcast', V.zero, 'r0');
  if (p.tail < L && N > 0) {
    // The sums read whole vectors, so each row slot's lanes beyond C must be 0: the loads write C words per row,
    // and the accumulator holds whatever the previous program left there.
    e.comment(`zero the padding lanes (C..${p.rowStride - 1}) of the ${p.xSlots} row slots: loads write only C words`);
    li(R.chip, B.xring + p.rowStride - L, undefined, 'xring');
    for (let sl = 0; sl < p.xSlots; sl++) e.op('vst.acc', V.zero, R.chip, p.rowStride);
  }
  if (!p.divider) {
    e.comment('software routines: C, C - 1 and -C as vectors');
    e.op('vbcast', 'v30', R.cLen);
    e.op('addi', R.num, R.cLen, -1);
    e.op('vbcast', 'v31', R.num);
    e.op('sub', R.num, 'r0', R.cLen);
    e.op('vbcast', 'v19', R.num);
  }
  if (N === 0) {
    e.op('halt');
    return emitted(e.finish(), { plan: p });
  }
  e.comment('row 0 first, then the constants (not needed before the first output), then the other prefetched rows');
  li(R.chip, B.xring, undefined, 'xring');
  e.op('dma.ld', 'acc', R.chip, R.xDram, R.one, R.cLen, 'r0', 'r0');
  e.op('add', R.xDram, R.xDram, R.xStep);
  li(R.chip, B.consts, undefined, 'consts');
  li(R.loop, B.cdram, undefined, 'cdram');
  li(R.num, p.constWords);
  e.op('dma.ld', 'acc', R.chip, R.loop, R.one, R.num, 'r0', 'r0');
  for (let r = 1; r < p.prefetch && r < N; r++) {
    li(R.chip, B.xring + r * p.rowStride, undefined, 'xring');
    e.op('dma.ld', 'acc', R.chip, R.xDram, R.one, R.cLen, 'r0', 'r0');
    e.op('add', R.xDram, R.xDram, R.xStep);
  }
  const routines: SoftRoutines = p.divider
    ? { recip: [], mean: [] }
    : { recip: routineLines(softRecipOps(SOFT.nfNew)), mean: routineLines(softMeanOps(p.C, SOFT.muNew)) };
  const lastStep = N + 2;
  let s = 0;
  for (; s < Math.min(p.loopStart, lastStep + 1); s++) emitLines(e, emitStep(p, s, B, routines));
  if (p.loopTrips > 0) {
    e.comment(`---- loop: ${p.loopTrips} trip${p.loopTrips === 1 ? '' : 's'} of steps ${p.loopStart}..${p.loopStart + p.period - 1} (+${p.period} per trip) ----`);
    li(R.loop, p.loopTrips);
    e.label('body');
    for (let k = 0; k < p.period; k++) emitLines(e, emitStep(p, p.loopStart + k, B, routines));
    e.op('dbnz', R.loop, 'body');
    s = p.loopStart + p.loopTrips * p.period;
  }
  for (; s <= lastStep; s++) emitLines(e, emitStep(p, s, B, routines));
  e.op('halt');
  return emitted(e.finish(), { plan: p });
}

/** A scalar register's number from its name in the plan ('r12' -> 12). */
const reg = (name: string): number => Number(name.slice(1));

/** Runs a fused LayerNorm case on the simulator (layer 3); outputs must equal npuCaseLayerNorm bit for bit. */
/**
 * The LayerNorm program on a case. `second`: a per-tensor requantization of the int8 output folded into the output
 * stage (m, e in the NPU form), as layer step 11 after steps 9-10; TilingError when the plan has general vectors.
 */
export function simCaseLayerNorm(input: unknown, cfg: MachineConfig, opts: RunOptions & { readonly second?: { readonly m: number; readonly e: number } } = {}): CaseRun {
  const c = parseLayerNormCase(input);
  checkLayerNormDomain(c.x);
  const { npu } = foldLayerNormCase(c);
  const gen = generalVectors(npu, cfg.vpu.lanes);
  const plan = layernormPlan(c.rows, c.C, cfg, gen, opts.second);
  // The layer's two LayerNorms (same shape, vectors, shift and output stage) are one program: built and assembled once.
  const program = storedProgram(cfg, `layernorm ${JSON.stringify([c.rows, c.C, gen, c.shift, opts.second ?? null])}`, () => assembleBuilt(buildLayerNorm(plan, c.shift, cfg), cfg));
  const m = machineFor(program, cfg, opts);
  const buf = (name: string) => programBuffer(program, name);
  if (c.x.length > 0) m.writeBuffer(buf('x'), c.x);
  m.writeBuffer(buf('cdram'), packLayerNormConsts(plan, npu));
  const sim = simulate(loadProgram(program.words, program), cfg, { machine: m, mode: opts.mode ?? 'full', trace: opts.trace ?? false });
  const bytes = sim.machine.readBytes(buf('y'), c.x.length);
  const y = new Int32Array(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  const model = layernormModel(c.rows, c.C, cfg, { general: gen, ...(opts.second ? { second: opts.second } : {}) });
  const run = { y, shape: c.shape, cycles: sim.stats.cycles ?? 0, model_cycles: model.cycles, model_exact: model.exact, sim, program };
  // the number array only for a reader who wants one (JSON output); the layer takes `y`
  let numbers: number[] | undefined;
  return Object.defineProperty(run, 'y_int', { get: () => (numbers ??= Array.from(y)), enumerable: true }) as typeof run & { readonly y_int: number[] };
}
