// The plan and cycle model of the fused LayerNorm + QuantAct(8) program (programs/layernorm/build.ts): how rows, vectors
// and constants are laid out in the machine's memories, how the row pipeline is staged, and what it costs. The
// model prices the plan with the timing rules of docs/TIMING.md; it never runs the simulator.
//
// The program (see its header) runs one row per pipeline step: step s sums row s, computes the variance of row
// s-1 and writes the output of row s-3, while the divider computes mu, S and f of the rows in between. A step
// is straight-line code; the same six-step body (slots and registers rotate with period lcm(2, slots)) loops.

import { memoPerMachine, TilingError, type ModelMachine } from '../schedule.js';

/** The machine fields this kernel reads beyond ModelMachine (structurally a subset of MachineConfig). */
export interface LayerNormMachine extends ModelMachine {
  readonly vpu: ModelMachine['vpu'] & { readonly aluLatencyCycles: number; readonly reduceLatencyCycles: number };
  readonly divider: { readonly present: boolean; readonly divLatencyCycles: number; readonly sqrtLatencyCycles: number; readonly divIntervalCycles?: number | undefined; readonly sqrtIntervalCycles?: number | undefined };
}

/**
 * Largest number of vectors processed together in one stage group: 4 vector registers per vector of an output
 * group; 5 with a divider, 3 without (the software routines need 13 more registers).
 */
export const LN_MAX_GROUP = 5;
export const LN_MAX_GROUP_SOFT = 3;
/** Without a divider the mean is a reciprocal multiply of the int32 row sum: |sum| < 2^31 needs C <= 1024. */
export const LN_SOFT_MAX_C = 1024;

export interface LayerNormPlan {
  readonly rows: number;
  readonly C: number;
  readonly lanes: number;
  /** Vectors per row, ceil(C / lanes); the last one has `tail` active lanes (tail = lanes when C divides). */
  readonly vectors: number;
  readonly tail: number;
  /** Row slot stride in the accumulator ring and the output ring: vectors * lanes (zero padding beyond C). */
  readonly rowStride: number;
  /** Rows loaded ahead of the step that sums them. */
  readonly prefetch: number;
  /** Row slots of x in the accumulator memory (prefetch + 4: rows s-3 .. s + prefetch). */
  readonly xSlots: number;
  /** Output row slots in the scratchpad. */
  readonly ySlots: number;
  /** Steps per loop trip: the slot and register rotations repeat with this period. */
  readonly period: number;
  /** Vector indices of the general-path vectors (q_beta beyond the direct path in some lane). */
  readonly general: readonly number[];
  /** Groups of consecutive direct vectors ([first, count]) and general vectors (count 0), in row order. */
  readonly groups: ReadonlyArray<readonly [number, number]>;
  /** Groups of the sum and variance stages (all vectors alike). */
  readonly varGroups: ReadonlyArray<readonly [number, number]>;
  /** Whether mu, S and f come from the divider or from the software routines. */
  readonly divider: boolean;
  /**
   * A second, per-tensor requantization of the int8 output folded into the output stage (layer step 11 after
   * steps 9-10: y' = sat8(rne(y m / 2^e)), vmulr.vx with m and e in r28/r29, which only the general path uses
   * otherwise, so a plan with general vectors cannot take it). m, e in the NPU form (|m| < 2^31, 0..127).
   */
  readonly second?: { readonly m: number; readonly e: number };
  /**
   * The per-vector constants (B2, M, E) stay in vector registers for the whole run (v2..v19, loaded once before the
   * first output row) instead of being reloaded for every row: with the divider, no general vectors and at most
   * LN_RESIDENT_MAX_VECTORS vectors per row (server: 768 channels on 128 lanes). The output groups then keep x in
   * v0, v1, v29, v30, v31. Saves 3 loads per vector per row, where the front end binds.
   */
  readonly constsResident: boolean;
  /** Accumulator words: constants, then the x ring. */
  readonly constWords: number;
  readonly accWords: number;
  readonly spadBytes: number;
  /** First looped step, loop trips (0: straight-line only). */
  readonly loopStart: number;
  readonly loopTrips: number;
}

/**
 * Machines without a divider: software routines on the VPU (broadcast vectors: every lane the same value) and the
 * scalar unit, bit-identical to div.w / isqrt.w. They are data here (assembly text plus each instruction's class
 * and operands) because the builder emits them and the model prices the same instructions; the simulator checks
 * their results against layer 2's exact mu, S and f.
 *
 * mean   mu = rne(s / C) for |s| < 2^31 (C <= 1024 with 22-bit inputs): q0 = floor(s Mc / 2^kc) with
 *        Mc = floor(2^kc / C), kc = 30 + floor(log2 C), is within one of floor(s / C) (the error is below
 *        |s| 2^-kc <= 2^(1 - floor(log2 C)) <= 4 / C); two correction steps make 0 <= r = s - q C < C exact, and
 *        r decides ties to even.
 * isqrt  V (64-bit pair, < 2^54) = V1 4^t with V1 in [2^28, 2^30) (t from the bit length, a branch-free binary
 *        search on the scalar unit). Y ~ 2^44 / sqrt(V1) by four Newton steps of y' = y (3 - u y^2) / 2 from a
 *        linear start (relative error 0.087), in Q29 with rne rounding (measured |Y - 2^44/sqrt(V1)| <= 1.6 units);
 *        S0 = floor(V1 Y / 2^(44-t)) is then within [-1, +1] of S = isqrt(V) (measured over 1.3 million values
 *        including every V < 10^5 and the neighbours of squares; the bound from |dY| <= 1.6 is [-1, +2]).
 *        The exact residual D = V - S0^2 (an int32) places S among S0 - 2 .. S0 + 2: one step of margin.
 * recip  F = floor(2^31 / S): S is in [2^(14+t), 2^(15+t)], so sigma = S 2^(14-t) is in [2^28, 2^29]; three
 *        Newton steps r' = r (2 - s r) from 48/17 - 32/17 s give R ~ 2^58 / sigma, F0 = R / 2^(13+t) is within
 *        [-1, 0] of F (measured for every S < 2^17 and 6 million others); D2 = 2^31 - F0 S corrects by +-1.
 *        The iteration carries -R (the sign flips in the first step), so -F, up to -2^31, fits int32.
 *        nf = trunc(-F [V > 0] / 2^shift) = -floor(2^(31-shift) / S) (floor(floor(a/b)/c) = floor(a/(bc))).
 */
export interface SoftOp {
  readonly text: string;
  /** 's' scalar (front end only), 'v' vector. */
  readonly unit: 's' | 'v';
  /** Latency class of a vector instruction. */
  readonly lat: 'alu' | 'mul';
  /** Earlier vector instructions of the same routine whose results it reads (indices into the routine). */
  readonly deps: readonly number[];
}

/** Compile-time constants of the software routines (integers; the floats are the design's, folded once). */
export const LN_SOFT = {
  /** rsqrt start y0 = 2.13 - 1.215 u on [1/4, 1): 2.13 * 2^29 and 1.215 * 2^29 */
  rsqrtA: 1143535043,
  rsqrtB: 652298158,
  /** reciprocal start r0 = 48/17 - 32/17 s on [1/2, 1]: 48/17 * 2^29 and 32/17 * 2^29 */
  recipA: 1515870810,
  recipB: 1010580540,
} as const;

/** Mc and kc of the mean for C channels. */
export function meanReciprocal(C: number): { Mc: number; kc: number } {
  let lg = 0;
  while (2 ** (lg + 1) <= C) lg++;
  const kc = 30 + lg;
  return { Mc: Math.floor(2 ** kc / C), kc };
}

/**
 * Registers of the routines: scalar r18..r26 (free without a divider), vector v12..v18 temporaries, v19 -C,
 * v22 ones, v23 zeros, v30 C, v31 C - 1; results into `muOut` (mean) and `nfOut` (nf); inputs r14 (sum, low
 * word) and r16:r17 (V pair), r1 = 1, r2 = shift, r6 = C.
 */
export function softMeanOps(C: number, muOut: string): SoftOp[] {
  const { Mc, kc } = meanReciprocal(C);
  const o: SoftOp[] = [];
  const S = (text: string): number => o.push({ text, unit: 's', lat: 'alu', deps: [] }) - 1;
  const A = (text: string, ...deps: number[]): number => o.push({ text, unit: 'v', lat: 'alu', deps }) - 1;
  const M = (text: string, ...deps: number[]): number => o.push({ text, unit: 'v', lat: 'mul', deps }) - 1;
  S(`li   r18, ${Mc}                       ; mean: Mc = floor(2^${kc} / C)`);
  S(`li   r19, ${kc}`);
  const vs = A('vbcast v12, r14');
  const q0 = M('vmulr.vx v13, v12, r18, r19, floor, sat32   ; q0 = floor(s Mc / 2^kc)', vs);
  const qc = M('vmul.vx v14, v13, r6', q0);
  const r = A('vsub v15, v12, v14                       ; r = s - q0 C', vs, qc);
  const neg = A('vslt v14, v15, v23', r);
  const q1 = A('vsub v13, v13, v14                       ; r < 0: q0 - 1, r + C', q0, neg);
  const r1 = M('vmacr v15, v14, v30, v15, r0, floor, wrap32', neg, r);
  const big = A('vslt v14, v31, v15', r1);
  const q2 = A('vadd v13, v13, v14                       ; r >= C: q0 + 1, r - C', q1, big);
  const r2 = M('vmacr v15, v14, v19, v15, r0, floor, wrap32', big, r1);
  const tw = A('vadd v15, v15, v15                       ; ties to even: up if 2r > C or (2r == C and q odd)', r2);
  const up = A('vslt v16, v30, v15', tw);
  const tie = A('vseq v15, v15, v30', tw);
  const h = A('vsra.vx v14, v13, r1', q2);
  const h2 = A('vsll.vx v14, v14, r1', h);
  const odd = A('vsub v14, v13, v14', q2, h2);
  const to = M('vmul v14, v14, v15', odd, tie);
  const q3 = A('vadd v13, v13, v16', q2, up);
  A(`vadd ${muOut}, v13, v14`, q3, to);
  return o;
}

export function softRecipOps(nfOut: string): SoftOp[] {
  const o: SoftOp[] = [];
  const S = (text: string): number => o.push({ text, unit: 's', lat: 'alu', deps: [] }) - 1;
  const A = (text: string, ...deps: number[]): number => o.push({ text, unit: 'v', lat: 'alu', deps }) - 1;
  const M = (text: string, ...deps: number[]): number => o.push({ text, unit: 'v', lat: 'mul', deps }) - 1;
  // Scalar: bit length of V (r16 low, r17 high) by a branch-free binary search, t, V1 and the shift amounts.
  S('slt  r18, r0, r17                       ; isqrt: w = high word if non-zero, else low; bl = 32 [high] + bitlen(w)');
  S('sub  r19, r17, r16');
  S('mul  r19, r19, r18');
  S('add  r19, r19, r16');
  S('li   r21, 5');
  S('sll  r20, r18, r21');
  for (const k of [16, 8, 4, 2, 1]) {
    S(`li   r21, ${k}`);
    S('srl  r22, r19, r21');
    S('slt  r22, r0, r22');
    S('mul  r22, r22, r21');
    S('srl  r19, r19, r22');
    S('add  r20, r20, r22');
  }
  S('add  r20, r20, r19                       ; bl = bit length of V');
  S('slt  r26, r0, r20                        ; [V > 0]');
  S('addi r21, r20, -29');
  S('sra  r21, r21, r1');
  S('li   r22, -14');
  S('max  r21, r21, r22                       ; t = max(floor((bl - 29) / 2), -14): V1 = V / 4^t in [2^28, 2^30)');
  S('add  r22, r21, r21');
  S('sub  r23, r0, r22');
  S('sll  r24, r16, r23                       ; t <= 0: V1 = low << -2t');
  S('srl  r25, r16, r22');
  S('sll  r23, r17, r23');
  S('or   r25, r25, r23                       ; t > 0: V1 = high << (32 - 2t) | low >> 2t');
  S('slt  r23, r0, r21');
  S('sub  r25, r25, r24');
  S('mul  r25, r25, r23');
  S('add  r24, r24, r25                       ; V1 (r24)');
  S('li   r22, 44');
  S('sub  r22, r22, r21                       ; 44 - t (r22)');
  S('li   r23, 14');
  S('sub  r23, r23, r21                       ; 14 - t (r23)');
  S('addi r25, r21, 13');
  S('max  r25, r25, r0                        ; max(13 + t, 0) (r25)');
  S('li   r18, -13');
  S('slt  r18, r21, r18');
  S('add  r18, r18, r1                        ; 2 if t = -14 (S <= 2: F = 2 R / 2^0), else 1 (r18)');
  // Vector: Y ~ 2^44 / sqrt(V1), four Newton steps (the sign alternates; even count: positive).
  S(`li   r19, ${-LN_SOFT.rsqrtB}`);
  S('li   r20, 30');
  const v1 = A('vbcast v12, r24');
  let p = M('vmulr.vx v13, v12, r19, r20, trunc, sat32   ; -floor(1.215 V1 / 2^30 * 2^29)', v1);
  S(`li   r19, ${LN_SOFT.rsqrtA}`);
  p = A('vadd.vx v13, v13, r19                    ; Y0', p);
  for (let k = 0; k < 4; k++) {
    const y2 = M('vmacr v14, v13, v13, v23, r20, rne, sat32   ; Y^2 / 2^30', p);
    const w = M('vmulr.vx v14, v14, r24, r20, rne, sat32   ; u Y^2', y2);
    S(`li   r19, ${3 * 2 ** 28}`);
    const mz = A('vsub.vx v14, v14, r19                    ; -(3 - u y^2)', w);
    S('li   r19, 29');
    p = M('vmacr v13, v13, v14, v23, r19, rne, sat32   ; Y (3 - u y^2) / 2, negated', p, mz);
  }
  const s0 = M('vmulr.vx v14, v13, r24, r22, floor, sat32   ; S0 = floor(V1 Y / 2^(44 - t))', p);
  const sq = M('vmul v15, v14, v14', s0);
  const vl = A('vbcast v16, r16');
  const d = A('vsub v15, v16, v15                       ; D = V - S0^2 (exact in 32 bits)', vl, sq);
  let ts = A('vadd v16, v14, v14', s0);
  const cm1 = A('vsub v17, v22, v16                       ; S = S0 + 2 - [D < 1 - 2 S0] - [D < 0] - [D < 2 S0 + 1] - [D < 4 S0 + 4]', ts);
  let cnt = A('vslt v17, v15, v17', d, cm1);
  const c1 = A('vadd v18, v16, v22', ts);
  const l1 = A('vslt v18, v15, v18', d, c1);
  cnt = A('vadd v17, v17, v18', cnt, l1);
  ts = A('vadd v16, v16, v16', ts);
  S('li   r19, 4');
  const c2 = A('vadd.vx v16, v16, r19', ts);
  const l2 = A('vslt v16, v15, v16', d, c2);
  cnt = A('vadd v17, v17, v16', cnt, l2);
  const l0 = A('vslt v16, v15, v23', d);
  cnt = A('vadd v17, v17, v16', cnt, l0);
  S('li   r19, 2');
  const s2 = A('vadd.vx v14, v14, r19', s0);
  const sv = A('vsub v14, v14, v17                       ; S = isqrt(V)', s2, cnt);
  // Reciprocal: -R ~ -2^58 / sigma, three Newton steps.
  const sig = A('vsll.vx v15, v14, r23                    ; sigma = S << (14 - t), in [2^28, 2^29]', sv);
  S(`li   r19, ${-LN_SOFT.recipB}`);
  S('li   r20, 29');
  let q = M('vmulr.vx v16, v15, r19, r20, trunc, sat32', sig);
  S(`li   r19, ${LN_SOFT.recipA}`);
  q = A('vadd.vx v16, v16, r19                    ; R0 = (48/17 - 32/17 sigma/2^29) 2^29', q);
  S(`li   r19, ${2 ** 30}`);
  for (let k = 0; k < 3; k++) {
    const pp = M('vmacr v17, v15, v16, v23, r20, rne, sat32   ; sigma R / 2^29', sig, q);
    const z = A(k === 0 ? 'vsub.vx v17, v17, r19                    ; -(2 - s r)' : 'vadd.vx v17, v17, r19                    ; 2 - s r (R negated)', pp);
    q = M('vmacr v16, v16, v17, v23, r20, rne, sat32   ; -R r (2 - s r)', q, z);
  }
  const nf0 = M('vmulr.vx v16, v16, r18, r25, trunc, sat32   ; -F0 = trunc(-R x / 2^(13 + t))', q);
  const fs = M('vmul v17, v16, v14', nf0, sv);
  S(`li   r19, ${-(2 ** 31)}`);
  const d2 = A('vadd.vx v17, v17, r19                    ; D2 = 2^31 - F0 S (exact in 32 bits)', fs);
  const a1 = A('vslt v18, v17, v14', d2, sv);
  let nf = A('vadd v16, v16, v18', nf0, a1);
  const a2 = A('vslt v18, v17, v23', d2);
  nf = A('vadd v16, v16, v18', nf, a2);
  S('li   r19, -1');
  nf = A('vadd.vx v16, v16, r19                    ; -F = -F0 - 1 + [D2 < S] + [D2 < 0]', nf);
  M(`vmulr.vx ${nfOut}, v16, r26, r2, trunc, sat32   ; nf = -floor(F / 2^shift), 0 for V = 0`, nf);
  return o;
}

/** Words of per-vector constants: B2, M, E for a direct vector; plus Tlo, Thi, Kh, Sh, mask for a general one. */
export const LN_DIRECT_CONST_BLOCKS = 3;
export const LN_GENERAL_CONST_BLOCKS = 8;

/** Splits `count` consecutive vectors into balanced groups of at most `max` (at least 3 when count >= 3). */
export function splitGroups(first: number, count: number, max: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (count <= 0) return out;
  const n = Math.ceil(count / max);
  let at = first;
  for (let i = 0; i < n; i++) {
    const size = Math.floor(count / n) + (i < count % n ? 1 : 0);
    out.push([at, size]);
    at += size;
  }
  return out;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The order in which the builder merges a routine's instructions into a stage's: after the stage's i-th
 * instruction come the routine's instructions up to floor((i + 1) n_routine / n_stage), so the routine is spread
 * evenly and its dependent multiplies sit several vector slots apart. Shared by the builder and the model.
 */
export function interleave<T>(stage: readonly T[], routine: readonly T[]): T[] {
  if (stage.length === 0) return [...routine];
  const out: T[] = [];
  let j = 0;
  for (let i = 0; i < stage.length; i++) {
    out.push(stage[i]!);
    const upto = Math.floor(((i + 1) * routine.length) / stage.length);
    while (j < upto) out.push(routine[j++]!);
  }
  while (j < routine.length) out.push(routine[j++]!);
  return out;
}

/** Vectors per row whose B2, M, E fit the registers v2..v19 (3 each). */
export const LN_RESIDENT_MAX_VECTORS = 6;

export function layernormPlan(rows: number, C: number, mach: LayerNormMachine, general: readonly number[] = [], second?: { readonly m: number; readonly e: number }): LayerNormPlan {
  // memoised (and kept between runs by the CLI's memo store): choosing the pipeline walks candidate schedules
  return memoPerMachine(mach, `layernormPlan ${JSON.stringify([rows, C, general, second ?? null])}`, () => planLayerNorm(rows, C, mach, general, second));
}

function planLayerNorm(rows: number, C: number, mach: LayerNormMachine, general: readonly number[], second: { readonly m: number; readonly e: number } | undefined): LayerNormPlan {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(C) || C < 1) throw new RangeError(`layernormPlan: bad shape [${rows}, ${C}]`);
  const L = mach.vpu.lanes;
  const vectors = Math.ceil(C / L);
  const tail = C - (vectors - 1) * L;
  const rowStride = vectors * L;
  const divider = mach.divider.present;
  if (!divider && C > LN_SOFT_MAX_C) {
    throw new TilingError(`layernorm [${rows}, ${C}] without a divider: the software mean needs the row sum in 32 bits, C <= ${LN_SOFT_MAX_C}`);
  }
  const maxGroup = divider ? LN_MAX_GROUP : LN_MAX_GROUP_SOFT;
  const gen = [...new Set(general)].sort((a, b) => a - b);
  for (const g of gen) if (!Number.isInteger(g) || g < 0 || g >= vectors) throw new RangeError(`layernormPlan: general vector ${g} outside 0..${vectors - 1}`);
  const constWords = (vectors - gen.length) * LN_DIRECT_CONST_BLOCKS * L + gen.length * LN_GENERAL_CONST_BLOCKS * L;
  const accCap = Math.floor(mach.acc.sizeBytes / 4);
  let prefetch = 2;
  while (prefetch > 0 && constWords + (prefetch + 4) * rowStride > accCap) prefetch--;
  const xSlots = prefetch + 4;
  const accWords = constWords + xSlots * rowStride;
  const ySlots = 2;
  const spadBytes = ySlots * rowStride;
  if (accWords > accCap || spadBytes > mach.spad.sizeBytes) {
    const what = accWords > accCap
      ? `accumulator buffers 'consts' (${constWords * 4} bytes) and 'xring' (${xSlots} rows of ${rowStride} int32, ${xSlots * rowStride * 4} bytes) need ${accWords * 4} bytes, acc holds ${mach.acc.sizeBytes}`
      : `scratchpad buffer 'yring' needs ${spadBytes} bytes, spad holds ${mach.spad.sizeBytes}`;
    throw new TilingError(`layernorm [${rows}, ${C}] does not fit this machine: ${what}`);
  }
  const period = (2 * xSlots) / gcd(2, xSlots);
  // Full steps (every stage and transfer present): 3 <= s <= rows - prefetch - 1. The loop starts at a multiple
  // of the period so that the static slot and register assignment of the body matches.
  const loopStart = Math.ceil(3 / period) * period;
  const lastFull = rows - prefetch - 1;
  const loopTrips = lastFull >= loopStart ? Math.floor((lastFull - loopStart + 1) / period) : 0;
  const groups: Array<[number, number]> = [];
  let run = 0;
  for (let v = 0; v <= vectors; v++) {
    if (v === vectors || gen.includes(v)) {
      groups.push(...splitGroups(v - run, run, maxGroup));
      run = 0;
      if (v < vectors) groups.push([v, 0]);
    } else run++;
  }
  const constsResident = divider && gen.length === 0 && vectors <= LN_RESIDENT_MAX_VECTORS;
  return {
    rows, C, lanes: L, vectors, tail, rowStride, prefetch, xSlots, ySlots, period, general: gen, groups, constsResident,
    varGroups: splitGroups(0, vectors, maxGroup), divider, constWords, accWords, spadBytes, loopStart, loopTrips,
    ...(second ? { second: secondChecked(gen, second) } : {}),
  };
}

function secondChecked(general: readonly number[], second: { readonly m: number; readonly e: number }): { readonly m: number; readonly e: number } {
  if (general.length > 0) throw new TilingError(`layernorm: ${general.length} general-path vector(s) use r28/r29, so the output stage cannot take a second requantization`);
  if (!Number.isInteger(second.m) || Math.abs(second.m) >= 2 ** 31 || !Number.isInteger(second.e) || second.e < 0 || second.e > 127) {
    throw new RangeError(`layernorm: second requantization m = ${second.m}, e = ${second.e} outside |m| < 2^31, 0 <= e <= 127`);
  }
  return second;
}

/**
 * With the constants in registers (no general vectors) a stage's post-incremented pointer (the output stage's x
 * and y, the variance's, the sum's) ends row r - 1 at row r's slot (rowStride = vectors x lanes, consecutive slots)
 * unless the ring wraps: the stage sets it only for slot 0. Saves ~3 front-end instructions per row on server.
 */
export const carriedPointer = (p: LayerNormPlan, r: number, slots: number): boolean => p.constsResident && r % slots !== 0;

export interface LayerNormModel {
  readonly cycles: number;
  readonly exact: boolean;
  /** Lower bounds: front-end instructions, VPU issue slots, divider occupancy, DRAM channel; and their max. */
  readonly frontEndBoundCycles: number;
  readonly vpuBoundCycles: number;
  readonly dividerBoundCycles: number;
  readonly dramBoundCycles: number;
  readonly instructions: number;
}

/** Instruction counts the builder emits outside the stages (operand li's included). */
export const LN_INSTRS = {
  /** li chip, dma, add pointer */
  dma: 3,
  /** li chip, li dram, li length, dma */
  constsDma: 4,
} as const;

/** One instruction of the model's schedule (mirrors what programs/layernorm/build.ts emits, stage by stage). */
interface Entry {
  /** 'v' vector, 's' scalar, 'd' divider. */
  readonly u: 'v' | 's' | 'd';
  /** Vector: result latency; divider: latency. */
  readonly lat: number;
  /** Divider: initiation interval (occupancy; absent = lat, the iterative divider). */
  readonly ii?: number;
  /** Vector: entries (indices into the same list) whose results it reads. */
  readonly deps: readonly number[];
  /** Dispatch not before this cycle (a late scalar it reads or overwrites). */
  readonly fe?: number;
  /** Issue not before this cycle (data produced outside the list: DMA, another stage). */
  readonly ready?: number;
}

/**
 * The cycle model: an analytical schedule of the program, not a run of it. Each step's instructions are listed
 * as the builder emits them, with their classes and operand dependencies, and priced by the rules of
 * docs/TIMING.md: the front end dispatches one per cycle and runs at most queueDepth vector instructions ahead of
 * the VPU; the VPU issues in order, one per cycle, when its operands' latencies have passed; late scalars
 * (reductions, divider results) hold dispatch until written; the divider is one non-pipelined unit; DMA transfers
 * share one channel (in order of issue) and land dram.latencyCycles after their transfer.
 */
export function layernormModel(rows: number, C: number, mach: LayerNormMachine, opts: { general?: readonly number[]; second?: { readonly m: number; readonly e: number } } = {}): LayerNormModel {
  // memoised (and kept between runs by the CLI's memo store): the walk of the steady loop is tens of milliseconds at BERT-base shapes
  return memoPerMachine(mach, `layernormModel ${JSON.stringify([rows, C, opts.general ?? [], opts.second ?? null])}`, () => modelLayerNorm(rows, C, mach, opts));
}

function modelLayerNorm(rows: number, C: number, mach: LayerNormMachine, opts: { general?: readonly number[]; second?: { readonly m: number; readonly e: number } }): LayerNormModel {
  const p = layernormPlan(rows, C, mach, opts.general ?? [], opts.second);
  const v = mach.vpu, Q = mach.frontend.queueDepth, lat = mach.dram.latencyCycles;
  const L = p.lanes, N = p.rows;
  const divLat = mach.divider.divLatencyCycles, sqrtLat = mach.divider.sqrtLatencyCycles;
  const divII = mach.divider.divIntervalCycles ?? divLat, sqrtII = mach.divider.sqrtIntervalCycles ?? sqrtLat;
  const xfer = (bytes: number): number => Math.ceil(bytes / mach.dram.bytesPerCycle);
  const tailSplit = p.tail < L;
  const ld = v.loadLatencyCycles, alu = v.aluLatencyCycles, mul = v.mulLatencyCycles, red = v.reduceLatencyCycles;

  let fe = 0; // next dispatch cycle
  let vpu = 0; // the VPU's next free issue cycle
  let divFree = 0;
  let chan = 0;
  let instructions = 0;
  let vpuOps = 0;
  let finish = 0;
  const issued: number[] = []; // issue cycles of the vector instructions, for the queue coupling

  /** Schedules a list; returns each entry's issue (vector) or completion (divider) cycle, or dispatch (scalar). */
  const run = (list: readonly Entry[]): number[] => {
    const t: number[] = [];
    for (const e of list) {
      if (e.fe !== undefined) fe = Math.max(fe, e.fe);
      instructions++;
      if (e.u === 's') {
        t.push(fe);
        fe++;
      } else if (e.u === 'd') {
        const d = fe;
        fe++;
        const start = Math.max(d + 1, divFree);
        divFree = start + (e.ii ?? e.lat);
        t.push(start + e.lat);
      } else {
        if (issued.length >= Q) fe = Math.max(fe, issued[issued.length - Q]!);
        const d = fe;
        fe++;
        let s = Math.max(d + 1, vpu, e.ready ?? 0);
        for (const j of e.deps) s = Math.max(s, t[j]! + list[j]!.lat);
        t.push(s);
        issued.push(s);
        if (issued.length > 4 * Q) issued.splice(0, issued.length - Q);
        vpu = s + 1;
        vpuOps++;
      }
    }
    return t;
  };
  const S = (n: number, fe?: number): Entry[] => Array.from({ length: n }, (_, i) => (i === 0 && fe !== undefined ? { u: 's', lat: 0, deps: [], fe } : { u: 's', lat: 0, deps: [] }));
  /** Appends `ops` (with block-relative deps) to `list`, shifting the deps. */
  const append = (list: Entry[], ops: readonly Entry[]): void => {
    const base = list.length;
    for (const o of ops) list.push({ ...o, deps: o.deps.map((d) => d + base) });
  };
  const V = (latency: number, deps: number[] = [], ready?: number): Entry => (ready === undefined ? { u: 'v', lat: latency, deps } : { u: 'v', lat: latency, deps, ready });
  const sumGroup = (g: number, ready: number): Entry[] => [
    ...Array.from({ length: g }, (_, k) => V(ld, [], k === 0 ? ready : undefined)),
    ...Array.from({ length: g }, (_, k) => V(red, [k])),
  ];
  /** A variance group; its first vsub reads mu: a scalar at dispatch (divider) or a vector at issue (software). */
  const varGroup = (g: number, muReady: number, last: boolean): Entry[] => {
    const ops: Entry[] = [];
    const at = (e: Entry): number => ops.push(e) - 1;
    const lds = Array.from({ length: g }, () => at(V(ld)));
    const subs = lds.map((l, k) => at(k > 0 ? V(alu, [l]) : p.divider ? { ...V(alu, [l]), fe: muReady } : V(alu, [l], muReady)));
    const sras = subs.map((x) => at(V(alu, [x])));
    sras.forEach((x, k) => {
      const split = last && k === g - 1 && tailSplit; // vsetvl around the last vector's reduction
      if (split) ops.push(...S(1));
      at(V(red, [x]));
      if (split) ops.push(...S(1));
    });
    return ops;
  };
  const outGroup = (g: number, ready: number): Entry[] => {
    if (p.constsResident) {
      // x loads only; the constants are in registers
      const ops: Entry[] = Array.from({ length: g }, (_, i) => V(ld, [], i === 0 ? ready : undefined));
      for (let k = 0; k < g; k++) ops.push(V(alu, [k]));
      for (let k = 0; k < g; k++) ops.push(V(mul, [g + k]));
      for (let k = 0; k < g; k++) ops.push(V(mul, [2 * g + k]));
      if (p.second) for (let k = 0; k < g; k++) ops.push(V(mul, [3 * g + k]));
      const last = p.second ? 4 * g : 3 * g;
      for (let k = 0; k < g; k++) ops.push(V(1, [last + k]));
      return ops;
    }
    const ops: Entry[] = Array.from({ length: 4 * g }, (_, i) => V(ld, [], i === 0 ? ready : undefined));
    for (let k = 0; k < g; k++) ops.push(V(alu, [k]));
    for (let k = 0; k < g; k++) ops.push(V(mul, [4 * g + k, g + 3 * k]));
    for (let k = 0; k < g; k++) ops.push(V(mul, [5 * g + k, g + 3 * k + 1, g + 3 * k + 2]));
    if (p.second) for (let k = 0; k < g; k++) ops.push(V(mul, [6 * g + k]));
    const last = p.second ? 7 * g : 6 * g;
    for (let k = 0; k < g; k++) ops.push(V(1, [last + k]));
    return ops;
  };
  // The general sequence of programs/layernorm/build.ts (generalLines), operand by operand.
  const generalOps = (ready: number): Entry[] => [
    ...Array.from({ length: 9 }, (_, i) => V(ld, [], i === 0 ? ready : undefined)), // 0 x, 1 B2, 2 M, 3 E, 4 Tlo, 5 Thi, 6 Kh, 7 Sh, 8 mask
    V(alu, [0]), // 9 vsub
    V(mul, [9, 1]), // 10 A
    V(mul, [10, 2, 3]), // 11 direct
    V(mul, [10, 2, 4]), // 12 G
    V(mul, [10, 2, 4]), // 13 low word
    V(alu, [12, 5]), // 14 G'
    V(alu, [13]), // 15 vseq
    V(alu, [14]), // 16 vsra
    V(alu, [16]), // 17 vsll
    V(alu, [17]), // 18 +1
    V(alu, [18, 15]), // 19 -z
    V(alu, [14, 19]), // 20 vmax
    V(mul, [20, 7]), // 21 rne
    V(alu, [21, 6]), // 22 +Kh
    V(alu, [22]), // 23 vclamp
    V(alu, [23, 8, 11]), // 24 vsel
    V(1, [24]), // 25 vst
  ];
  const softEntries = (ops: readonly SoftOp[], firstFe: number): Entry[] =>
    ops.map((o, i) => (o.unit === 's'
      ? (i === 0 ? { u: 's', lat: 0, deps: [], fe: firstFe } : { u: 's', lat: 0, deps: [] })
      : { u: 'v', lat: o.lat === 'mul' ? mul : alu, deps: [...o.deps], ...(i === 0 ? { fe: firstFe } : {}) }));
  /** The builder's interleave, on entries: routine deps are re-based onto the merged list. */
  const mergeEntries = (stage: readonly Entry[], routine: readonly Entry[]): Entry[] => {
    type Tag = { e: Entry; from: 's' | 'r'; i: number };
    const tagged = interleave<Tag>(stage.map((e, i) => ({ e, from: 's', i })), routine.map((e, i) => ({ e, from: 'r', i })));
    const posS: number[] = [], posR: number[] = [];
    tagged.forEach((x, k) => (x.from === 's' ? (posS[x.i] = k) : (posR[x.i] = k)));
    return tagged.map((x) => ({ ...x.e, deps: x.e.deps.map((d) => (x.from === 's' ? posS[d]! : posR[d]!)) }));
  };

  // Per-row event times.
  const rowReady: number[] = [];
  const slotFree: number[] = new Array<number>(p.xSlots).fill(0);
  const sumDone: number[] = [], muReady: number[] = [], vDone: number[] = [], sReady: number[] = [], nfReady: number[] = [];
  const ySlotFree: number[] = new Array<number>(p.ySlots).fill(0);
  let constsReady = 0;
  const dmaLoad = (bytes: number, notBefore: number): number => {
    const start = Math.max(fe, chan, notBefore); // fe: the cycle after the dma's dispatch
    const x = xfer(bytes);
    chan = start + Math.max(1, x);
    return start + x + lat;
  };
  const valid = (r: number): boolean => r >= 0 && r < N;
  const meanOps = softMeanOps(C, 'v27'), recipOps = softRecipOps('v29');
  const lastOf = (t: readonly number[], list: readonly Entry[], idx: number): number => t[idx]! + list[idx]!.lat;

  run([...S(12), V(alu), V(alu), ...(p.divider ? [] : [...S(3), V(alu), V(alu), V(alu)])]);
  if (N > 0) {
    run(S(LN_INSTRS.dma));
    rowReady[0] = dmaLoad(4 * C, 0);
    run(S(LN_INSTRS.constsDma));
    constsReady = dmaLoad(4 * p.constWords, 0);
    for (let r = 1; r < p.prefetch && r < N; r++) {
      run(S(LN_INSTRS.dma));
      rowReady[r] = dmaLoad(4 * C, 0);
    }
  }
  const loopEnd = p.loopStart + p.loopTrips * p.period;
  let softMu = 0; // the mean routine's result (issue + latency) for this step's variance stage
  for (let s = 0; s <= N + 2 && N > 0; s++) {
    if (p.loopTrips > 0 && s === p.loopStart) run(S(1)); // li loop count
    const lr = s + p.prefetch;
    if (valid(lr)) {
      run(S(LN_INSTRS.dma));
      rowReady[lr] = dmaLoad(4 * C, slotFree[lr % p.xSlots]!);
    }
    const outR = s - 3, varR = s - 1, fR = s - 2;
    // The divider's or the software routines' entries for this step.
    const divMu: Entry[] = valid(varR) && p.divider ? [{ u: 'd', lat: divLat, ii: divII, deps: [], fe: sumDone[varR]! }] : [];
    const divF: Entry[] = valid(fR) && p.divider ? [...S(4, sReady[fR]!), { u: 'd', lat: divLat, ii: divII, deps: [] }] : [];
    const soft: Entry[] = [];
    let meanLast = -1, recipLast = -1;
    if (!p.divider) {
      if (valid(fR)) {
        append(soft, softEntries(recipOps, vDone[fR]!));
        recipLast = soft.length - 1;
      }
      if (valid(varR)) {
        append(soft, softEntries(meanOps, sumDone[varR]!));
        meanLast = soft.length - 1;
      }
    }
    const record = (list: readonly Entry[], t: readonly number[], idxMu: number, idxF: number, softBase: (i: number) => number): void => {
      if (idxMu >= 0) muReady[varR] = t[idxMu]!;
      if (idxF >= 0) nfReady[fR] = t[idxF]!;
      if (meanLast >= 0) softMu = lastOf(t, list, softBase(meanLast));
      if (recipLast >= 0) nfReady[fR] = lastOf(t, list, softBase(recipLast));
    };
    if (valid(outR)) {
      const ready = Math.max(rowReady[outR]!, ySlotFree[outR % p.ySlots]!, constsReady);
      const st: Entry[] = [];
      if (p.constsResident && outR === 0) {
        // the resident constants, once: li, then B2, M, E of every vector
        st.push(...S(1), ...Array.from({ length: 3 * p.vectors }, (_, i) => V(ld, [], i === 0 ? constsReady : undefined)));
      }
      if (p.divider) st.push({ ...V(alu), fe: muReady[outR]! }, { ...V(alu), fe: nfReady[outR]! });
      st.push(...S(p.constsResident ? (carriedPointer(p, outR, p.xSlots) ? 0 : 1) + (carriedPointer(p, outR, p.ySlots) ? 0 : 1) : 3));
      let idxMu = -1;
      p.groups.forEach(([, g], gi) => {
        if (p.constsResident && g > 0 && gi === 0 && divMu.length > 0) {
          // the builder puts mu's division after the group's loads and subtractions (index 2g of the group)
          const ops: Entry[] = outGroup(g, ready).map((o) => ({ ...o, deps: o.deps.map((d) => (d >= 2 * g ? d + 1 : d)) }));
          ops.splice(2 * g, 0, ...divMu);
          idxMu = st.length + 2 * g;
          append(st, ops);
          return;
        }
        append(st, g === 0 ? generalOps(ready) : outGroup(g, ready));
        if (gi === 0 && divMu.length > 0) {
          idxMu = st.length;
          st.push(...divMu);
        }
      });
      const idxF = divF.length > 0 ? st.length + divF.length - 1 : -1;
      st.push(...divF);
      const list = p.divider ? st : mergeEntries(st, soft);
      const t = run(list);
      // Where the routine's entries landed in the merged list (the divider case has no routine).
      const pos = (() => {
        const tagged = interleave<readonly ['s' | 'r', number]>(st.map((_, i) => ['s', i] as const), soft.map((_, i) => ['r', i] as const));
        const pr: number[] = [];
        tagged.forEach(([w, i], k) => {
          if (w === 'r') pr[i] = k;
        });
        return (i: number): number => pr[i]!;
      })();
      record(list, t, idxMu, idxF, pos);
      let lastV = 0;
      for (let i = 0; i < list.length; i++) if (list[i]!.u === 'v') lastV = Math.max(lastV, t[i]!);
      slotFree[outR % p.xSlots] = lastV;
      run(S(LN_INSTRS.dma));
      const start = Math.max(fe, chan, lastV + 1);
      const x = xfer(C);
      chan = start + Math.max(1, x);
      ySlotFree[outR % p.ySlots] = chan;
      finish = Math.max(finish, start + x + lat);
    } else {
      const list = [...divMu, ...divF, ...soft];
      const t = run(list);
      record(list, t, divMu.length > 0 ? 0 : -1, divF.length > 0 ? list.length - soft.length - 1 : -1, (i) => divMu.length + divF.length + i);
    }
    if (valid(varR)) {
      const list: Entry[] = [...S(carriedPointer(p, varR, p.xSlots) ? 2 : 3, vDone[varR - 1] ?? 0)];
      p.varGroups.forEach(([, g], gi) => append(list, varGroup(g, gi > 0 ? 0 : p.divider ? muReady[varR]! : softMu, gi === p.varGroups.length - 1)));
      const t = run(list);
      let lastV = 0;
      for (let i = 0; i < list.length; i++) if (list[i]!.u === 'v') lastV = Math.max(lastV, t[i]!);
      vDone[varR] = lastV + red;
    }
    if (valid(s)) {
      const list: Entry[] = [...S(carriedPointer(p, s, p.xSlots) ? 2 : 3, sumDone[s - 1] ?? 0)];
      let idxS = -1;
      p.varGroups.forEach(([, g], gi) => {
        append(list, sumGroup(g, rowReady[s]!));
        if (gi === 0 && valid(varR) && p.divider) {
          idxS = list.length;
          list.push({ u: 'd', lat: sqrtLat, ii: sqrtII, deps: [], fe: vDone[varR]! });
        }
      });
      const t = run(list);
      if (idxS >= 0) sReady[varR] = t[idxS]!;
      let lastV = 0;
      for (let i = 0; i < list.length; i++) if (list[i]!.u === 'v') lastV = Math.max(lastV, t[i]!);
      sumDone[s] = lastV + red;
      slotFree[s % p.xSlots] = Math.max(slotFree[s % p.xSlots]!, lastV);
    } else if (valid(varR) && p.divider) {
      sReady[varR] = run([{ u: 'd', lat: sqrtLat, ii: sqrtII, deps: [], fe: vDone[varR]! }])[0]!;
    }
    if (!p.divider && (valid(outR + 1) || valid(varR))) {
      run([V(alu, [], softMu), V(alu), V(alu, [], nfReady[fR] ?? 0)]);
    }
    if (p.loopTrips > 0 && s >= p.loopStart && s < loopEnd && (s - p.loopStart) % p.period === p.period - 1) {
      run(S(1)); // dbnz
      if (s !== loopEnd - 1) fe += mach.frontend.takenBranchPenaltyCycles;
    }
  }
  run(S(1)); // halt
  const cycles = Math.max(finish, fe, vpu, divFree);
  return {
    cycles,
    exact: false,
    frontEndBoundCycles: instructions,
    vpuBoundCycles: vpuOps,
    dividerBoundCycles: p.divider ? N * (2 * divII + sqrtII) : 0,
    dramBoundCycles: xfer(N * 5 * C + 4 * p.constWords),
    instructions,
  };
}
