// i-softmax, layer 2 ("NPU kernel semantics", DESIGN.md): what programs/softmax/build.ts computes on the NPU's int32 lanes,
// 64-bit vmulr/vmacr products and the divider, as exact integer code; plus the kernel's case API (layer 1 and layer 2
// on a JSON case) and the fidelity measurement of layer 2 against layer 1 (kernels/ref/softmax.ts).
//
// ---- How layer 2 relates to layer 1 (docs/IBERT.md section 7) ----
//
// Layer 1 already uses the folded 31-bit multiplier: e16 = clamp(rne(z * M / 2^(E31 - 30 + q))). On the NPU every
// step of that formula has an exact int32/64-bit form, so for every input the kernel accepts (the domain below),
// layer 2 equals layer 1 bit for bit, with ONE exception (deviation D1). The individual steps:
//
//  * Masking: a masked score becomes int32 min before the row max, as in layer 1.
//  * t = max(x - max, 30 q_ln2) without overflow: lo = max(max, INT32_MIN + 30 d) - 30 d (d = -q_ln2 > 0) is the
//    clamp bound moved to the x side (it never underflows), x_c = max(x, lo), t = x_c - max in [-30 d, 0]. Exact.
//  * q = floor(t / q_ln2) in 0..30 by a multiply with a compile-time reciprocal, no divider: with a = -t and
//    c' = max(c, 0) (c defined below), a' = a + c' d lies in [0, A], A = (30 + c') d. Take s with 2^s > A d and
//    m_q = ceil(2^s / d) = 2^s/d + eps, 0 <= eps < 1. Then a' m_q / 2^s = a'/d + a' eps / 2^s with
//    0 <= a' eps / 2^s < A / 2^s < 1/d, while frac(a'/d) <= (d-1)/d: the floor cannot cross an integer, so
//    floor(a' m_q / 2^s) = floor(a'/d) = q + c' exactly. (Folding c' in gives the per-lane shift of the 16-bit
//    requantization in the same instruction; the test sweeps every t of several scales against floorDiv.)
//  * r = t - q q_ln2 = (q + c') d - a' (one multiply-add); z = (r + q_b) r + q_c: (r + q_b) and r are int32, their
//    product is 64-bit inside vmacr, z in [0, q_c] fits int32 while q_c < 2^31 (scales S > ~3.6e-5). Exact.
//  * e16 = sat16(rne(z M / 2^sh)), sh = E31 - 30 + q (vmulr.vv: 64-bit product, per-lane shift 0..127).
//    M = 2^31 (possible from frexp31) is used as 2^30 with sh - 1 (same rational). sh < 0 (only for absurdly small
//    inner ranges) is clamped to 0: both forms then saturate to 32767 (z >= 1, M >= 2^30), or give 0 for z = 0.
//    sh never exceeds 127 in the domain (E0 >= 3 needs c < 61). z >= 0 for every scale (the test sweeps it), so
//    layer 1's clamp of E at 0 never acts.
//  * sum = sum of e16 over the row (int32 while rowLen * E0 < 2^31), f = floor(2^32 / sum) on the divider (div.w
//    with the pair (0, 1) as dividend) or by the program's Newton routine; y = floor(e16 f / 2^24) (vmulr.vx, floor).
//
// Domain (KernelInputError naming the field otherwise): the row maximum always has t = 0, so every row sum is at
// least E0 = e16(t = 0), the largest e16 of the scale (E = z 2^(30-q) is largest at q = 0, r = 0). The kernel needs
// E0 >= 3: then f <= floor(2^32 / 3) fits int32 and div.w never saturates (for sum = 1 or 2 it would: f = 2^32 or
// 2^31). E0 = 32767 under the calibration fixed point; E0 < 3 needs an inner range ~10^4 times the fixed point
// (x_max). Also rowLen * E0 < 2^31 (shape), 30 d < 2^31, q_b < 2^31 and the reciprocal m_q < 2^31 (scale_in: true
// for S >= ~6.4e-8 under the fixed-point calibration), q_c exact in float64. Layer 1 accepts scales up to ~1.67, where
// q_c becomes 0 and every probability 0; the kernel's E0 >= 3 rejects that degenerate regime too.
//
// ---- Deviation D1: z pre-shifted for tiny input scales (q_c >= 2^31, S < ~3.6e-5) ----
// z no longer fits an int32 lane. The kernel computes z_k = floor(z / 2^k) = floor(((r + q_b) r + (q_c mod 2^k)) / 2^k)
// + (q_c >> k) exactly (one vmacr with shift k and one add), with k = bitLength(q_c) - 31, and then
// e16 = sat16(rne(z_k M / 2^(sh - k))). z_k 2^k lies in (z - 2^k, z], a relative error below 2^k / z <= 2^-29
// (z >= ~q_c / 2), i.e. at most 32767 * 2^-29 = 6e-5 on e16 before rounding: e16 can differ by one, only when the
// exact value lies that close to a .5 boundary. fidelitySoftmax({ scaleIn }) measures it; at the realistic scales of
// a BERT layer (S ~ 2e-4, q_c ~ 2^26) k = 0 and layer 2 is layer 1.

import { z } from 'zod';
import { KernelInputError } from '../ref/errors.js';
import { foldSoftmax, type SoftmaxConsts } from '../ref/fold.js';
import { generateLayer, makeRng, normalSampler } from '../ref/generate.js';
import {
  bitLength, floorDiv, floorShift, floorShiftBig, INT32_MAX, INT32_MIN, mulShiftRne, pow2, TWO31, TWO32, TWO53,
} from '../ref/intmath.js';
import { compileLayer, runLayer } from '../ref/layer.js';
import { runReferenceCase } from '../ref/cases.js';
import { MASKED_SCORE, softmaxApply } from '../ref/softmax.js';
import { flattenNested, nestedArray, parseCase, type FidelityResult } from './common.js';

// ---------------------------------------------------------------------------------------------------------------
// Compile-time constants of the NPU kernel.

/** Everything the program and layer 2 need, folded once on the host from layer 1's constants. */
export interface SoftmaxNpuConsts {
  /** layer 1's folded constants (q_ln2, q_b, q_c, M, E31, ...) */
  readonly ref: SoftmaxConsts;
  /** d = -q_ln2 > 0 */
  readonly d: number;
  readonly qb: number;
  /** pre-shift of z (deviation D1): 0 unless q_c >= 2^31 */
  readonly k: number;
  /** the vmacr addend (q_c mod 2^k) and the add after the shift (q_c >> k); q_c and 0 when k = 0 */
  readonly qcLo: number;
  readonly qcHi: number;
  /** int32 multiplier of the 16-bit requantization (layer 1's M, or 2^30 when M = 2^31) */
  readonly M: number;
  /** sh = q + c is the rounding shift of e16: c = E31 - 30 - k (- 1 when M = 2^31 was halved) */
  readonly c: number;
  /** c' = max(c, 0), folded into the reciprocal multiply (it returns q + c') */
  readonly cFold: number;
  /** q + c' = floor(a' * mQ / 2^sQ) for a' = c' d - t */
  readonly mQ: number;
  readonly sQ: number;
  /** lo = max(rowMax, loMin) + loAdd is the clamp bound on the x side: loMin = INT32_MIN + 30 d, loAdd = -30 d */
  readonly loMin: number;
  readonly loAdd: number;
  /** e16 at t = 0: the row maximum's value and the smallest possible row sum */
  readonly E0: number;
}

/** A constant that does not fit the NPU datapath; `field` names the case field responsible. */
export class SoftmaxDomainError extends RangeError {
  override readonly name = 'SoftmaxDomainError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

const N_CONST = 30;

/** e16 of the NPU datapath for a' = c' d - t (the folded form; see the header). */
function exp16Npu(aPrime: number, c: SoftmaxNpuConsts): number {
  // q + c' = floor(a' m_q / 2^s_q): a' m_q can exceed 2^53 for tiny scales, so take the exact path there.
  const p = aPrime * c.mQ;
  const qc = p < TWO53 ? floorShift(p, c.sQ) : Number(floorShiftBig(BigInt(aPrime) * BigInt(c.mQ), c.sQ));
  const r = qc * c.d - aPrime; // t - q q_ln2, in (q_ln2, 0]
  const rb = r + c.qb;
  const prod = rb * r; // <= 0; |rb r| <= q_b d
  let zk: number;
  if (prod > -TWO53 / 2) zk = floorShift(prod + c.qcLo, c.k) + c.qcHi;
  else zk = Number(floorShiftBig(BigInt(rb) * BigInt(r) + BigInt(c.qcLo), c.k)) + c.qcHi;
  let sh = qc + (c.c - c.cFold);
  if (sh < 0) sh = 0;
  const v = mulShiftRne(zk, c.M, sh);
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

/** Folds layer 1's softmax constants into the NPU kernel's; throws SoftmaxDomainError outside the domain. */
export function foldSoftmaxNpu(ref: SoftmaxConsts): SoftmaxNpuConsts {
  const d = -ref.qLn2;
  if (!(d >= 1) || !Number.isSafeInteger(d) || N_CONST * d > INT32_MAX) {
    throw new SoftmaxDomainError('scale_in', `scale_in ${ref.scaleIn}: 30 q_ln2 = ${-N_CONST * d} does not fit int32 (needs S >= ~1e-8)`);
  }
  if (ref.qb > INT32_MAX) throw new SoftmaxDomainError('scale_in', `scale_in ${ref.scaleIn}: q_b = ${ref.qb} does not fit int32`);
  if (!Number.isSafeInteger(ref.qc) || ref.qc < 0) throw new SoftmaxDomainError('scale_in', `scale_in ${ref.scaleIn}: q_c = ${ref.qc} is not an exact integer`);
  const k = Math.max(0, bitLength(ref.qc) - 31);
  // k = 0: the whole q_c is the vmacr addend (qcHi = 0, no extra add); k > 0: the addend is q_c mod 2^k
  const qcLo = k === 0 ? ref.qc : ref.qc % pow2(k);
  const qcHi = k === 0 ? 0 : floorShift(ref.qc - qcLo, k);
  let M = ref.M;
  let c = ref.E31 - N_CONST - k;
  if (M === TWO31) {
    M = TWO31 / 2;
    c -= 1;
  }
  if (M < 0 || M > INT32_MAX) throw new SoftmaxDomainError('x_max', `inner multiplier M = ${ref.M} is not a positive int32`);
  const cFold = Math.max(c, 0);
  const A = (N_CONST + cFold) * d;
  const sQ = bitLength(A * d) + (A * d >= TWO53 ? 1 : 0); // 2^sQ > A d (one more bit where A d is not exact)
  const mQbig = ((1n << BigInt(sQ)) + BigInt(d) - 1n) / BigInt(d); // ceil(2^sQ / d), exact (compile time)
  const mQ = mQbig > BigInt(INT32_MAX) ? Infinity : Number(mQbig);
  if (cFold * d > INT32_MAX || A > INT32_MAX || mQ > INT32_MAX || sQ > 127) {
    throw new SoftmaxDomainError(cFold > 97 ? 'x_max' : 'scale_in',
      `scale_in ${ref.scaleIn} / inner range: the reciprocal of q_ln2 (${mQ} / 2^${sQ} over ${A}) does not fit the int32 datapath`);
  }
  const partial = { ref, d, qb: ref.qb, k, qcLo, qcHi, M, c, cFold, mQ, sQ, loMin: INT32_MIN + N_CONST * d, loAdd: -N_CONST * d, E0: 0 };
  const E0 = exp16Npu(cFold * d, partial);
  if (E0 < 3) {
    throw new SoftmaxDomainError('x_max',
      `x_max ${ref.act.x_max}: the inner QuantAct(16) range is so large that the row maximum maps to e16 = ${E0}; ` +
        'the NPU kernel needs >= 3 so that f = floor(2^32 / sum) fits int32 (the calibration fixed point gives 32767)');
  }
  // E0 >= 3 bounds the shift: E0 = rne(z0 M / 2^c) with z0 M < 2^62 needs c < 61, so q + c <= 90 < 127 always.
  if (c + N_CONST > 127) throw new Error(`internal: e16 shift ${c} + 30 beyond 127 although E0 = ${E0}`);
  return { ...partial, E0 };
}

// ---------------------------------------------------------------------------------------------------------------
// Layer 2.

export interface SoftmaxNpuResult {
  /** probabilities in [0, 256], scale 2^-8 */
  readonly y: Int32Array;
  /** the inner 16-bit values */
  readonly e16: Int32Array;
  /** f = floor(2^32 / sum) per row */
  readonly f: Int32Array;
}

/** Largest row length the int32 row sum allows for these constants. */
export function maxRowLength(c: SoftmaxNpuConsts): number {
  return Math.floor(INT32_MAX / c.E0);
}

/**
 * The NPU kernel on rows of `rowLen` (last dimension); `mask` as in layer 1 (per element, or per row position).
 * Each step is the exact value of the instruction that computes it in programs/softmax/build.ts.
 */
export function softmaxNpu(x: Int32Array, rowLen: number, c: SoftmaxNpuConsts, mask?: ArrayLike<number>): SoftmaxNpuResult {
  const n = x.length;
  if (!(rowLen > 0) || n % rowLen !== 0) throw new RangeError(`softmaxNpu: row length ${rowLen} does not divide ${n}`);
  if (rowLen > maxRowLength(c)) throw new SoftmaxDomainError('shape', `rows of ${rowLen}: the e16 sum could exceed int32 (at most ${maxRowLength(c)} for E0 = ${c.E0})`);
  if (mask !== undefined && mask.length !== n && mask.length !== rowLen) {
    throw new RangeError(`softmaxNpu: mask length ${mask.length} is neither ${n} nor the row length ${rowLen}`);
  }
  const maskStride = mask === undefined ? 0 : mask.length === n ? rowLen : 0;
  const y = new Int32Array(n);
  const e16 = new Int32Array(n);
  const rows = n / rowLen;
  const f = new Int32Array(rows);
  const xs = new Int32Array(rowLen);
  const shiftBack = c.cFold * c.d;
  for (let row = 0, base = 0, mrow = 0; row < rows; row++, base += rowLen, mrow += maskStride) {
    let max = INT32_MIN;
    for (let j = 0; j < rowLen; j++) {
      const v = mask !== undefined && mask[mrow + j] === 0 ? MASKED_SCORE : x[base + j]!;
      xs[j] = v;
      if (v > max) max = v;
    }
    const lo = (max > c.loMin ? max : c.loMin) + c.loAdd;
    let sum = 0;
    for (let j = 0; j < rowLen; j++) {
      const xc = xs[j]! > lo ? xs[j]! : lo;
      const e = exp16Npu(max - xc + shiftBack, c); // a' = c' d - t
      e16[base + j] = e;
      sum += e;
    }
    const fr = floorDiv(TWO32, sum); // sum >= E0 >= 3: fits int32
    f[row] = fr;
    for (let j = 0; j < rowLen; j++) y[base + j] = floorShift(e16[base + j]! * fr, 24);
  }
  return { y, e16, f };
}

// ---------------------------------------------------------------------------------------------------------------
// The kernel case API (docs/formats.md "Kernel cases", kernel `softmax`).

const int32El = z.number().int().min(-2147483648).max(2147483647);

/** The `softmax` case schema of kernels/ref/cases.ts (same fields and bounds). */
const SoftmaxCaseSchema = z.object({
  x_int: nestedArray(int32El),
  shape: z.array(z.number().int().min(0)).optional(),
  scale_in: z.number().positive(),
  mask: nestedArray(z.union([z.literal(0), z.literal(1)])).optional(),
  x_min: z.number().optional(),
  x_max: z.number().optional(),
});

/** A validated softmax case: flat scores, shape, row length, the folded constants and the optional mask. */
export interface SoftmaxCase {
  readonly x: Int32Array;
  readonly shape: number[];
  readonly rowLen: number;
  readonly rows: number;
  readonly consts: SoftmaxNpuConsts;
  /** 0/1 per element (length rows * rowLen) or per row position (length rowLen) */
  readonly mask?: Uint8Array;
}

const flatten = flattenNested;

/** Validates a case (KernelInputError naming the field) and folds its constants for the NPU kernel. */
export function parseSoftmaxCase(input: unknown): SoftmaxCase {
  const cse = parseCase(SoftmaxCaseSchema, input, 'softmax');
  const { values, shape: inferred } = flatten('x_int', cse.x_int);
  let shape = inferred;
  if (cse.shape !== undefined) {
    const count = cse.shape.reduce((a, b) => a * b, 1);
    if (count !== values.length) throw new KernelInputError(`shape: [${cse.shape.join(', ')}] holds ${count} elements but x_int has ${values.length}`);
    if (inferred.length > 1 && (inferred.length !== cse.shape.length || inferred.some((s, i) => s !== cse.shape![i]))) {
      throw new KernelInputError(`shape: [${cse.shape.join(', ')}] differs from the nesting of x_int [${inferred.join(', ')}]`);
    }
    shape = cse.shape;
  }
  const rowLen = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (rowLen === 0) throw new KernelInputError('shape: rows must not be empty');
  if ((cse.x_min === undefined) !== (cse.x_max === undefined)) throw new KernelInputError('x_max: give both x_min and x_max or neither');
  const range = cse.x_min !== undefined && cse.x_max !== undefined ? { bits: 16, x_min: cse.x_min, x_max: cse.x_max } : undefined;
  let consts: SoftmaxNpuConsts;
  try {
    consts = foldSoftmaxNpu(foldSoftmax(cse.scale_in, range));
  } catch (err) {
    if (err instanceof SoftmaxDomainError) throw new KernelInputError(`${err.field}: ${err.message}`);
    throw err;
  }
  if (rowLen > maxRowLength(consts)) {
    throw new KernelInputError(`shape: rows of ${rowLen} scores: the e16 row sum could exceed int32 (at most ${maxRowLength(consts)} for E0 = ${consts.E0})`);
  }
  const x = Int32Array.from(values);
  const base = { x, shape, rowLen, rows: values.length / rowLen, consts };
  if (cse.mask === undefined) return base;
  const mask = flatten('mask', cse.mask).values;
  if (mask.length !== values.length && mask.length !== rowLen) {
    throw new KernelInputError(`mask: ${mask.length} entries, expected ${values.length} (per element) or ${rowLen} (per row position)`);
  }
  return { ...base, mask: Uint8Array.from(mask) };
}

export interface SoftmaxCaseResult {
  readonly y_int: number[];
  readonly shape: number[];
  /** 2^-8: y / 256 are the probabilities */
  readonly scale_out: number;
  readonly consts: Record<string, unknown>;
}

/** Layer 1 (kernels/ref/cases.ts, the exact I-BERT reference) on a case. */
export function refCaseSoftmax(input: unknown): SoftmaxCaseResult {
  const r = runReferenceCase('softmax', input);
  return { y_int: r.y_int.map((v) => Number(v)), shape: r.shape, scale_out: 1 / 256, consts: r.consts };
}

/** The NPU kernel's constants as case output (layer 1's plus the folded datapath constants). */
export function npuConstsJson(c: SoftmaxNpuConsts): Record<string, unknown> {
  const k = c.ref;
  return {
    q_ln2: k.qLn2, q_b: k.qb, q_c: k.qc, S_exp: k.sExp, S_a: k.sA, x_min: k.act.x_min, x_max: k.act.x_max, m: k.m, e: k.e,
    M_ref: k.M, E31: k.E31, M: c.M, c: c.c, c_fold: c.cFold, k: c.k, q_c_lo: c.qcLo, q_c_hi: c.qcHi, m_q: c.mQ, s_q: c.sQ, E0: c.E0,
  };
}

/** Layer 2 on a case: the NPU kernel semantics. */
export function npuCaseSoftmax(input: unknown): SoftmaxCaseResult {
  const cse = parseSoftmaxCase(input);
  const r = softmaxNpu(cse.x, cse.rowLen, cse.consts, cse.mask);
  return { y_int: Array.from(r.y), shape: cse.shape, scale_out: 1 / 256, consts: { ...npuConstsJson(cse.consts), e16: Array.from(r.e16), f: Array.from(r.f) } };
}

// ---------------------------------------------------------------------------------------------------------------
// Fidelity of layer 2 against layer 1, and example cases.

/** BERT-base attention shape and a synthetic layer's realistic scores (seeded; host-side, float calibration). */
export const BERT_BASE = { seq: 128, hidden: 768, heads: 12, ffn: 3072 } as const;

interface ScoreSet {
  readonly scores: Int32Array;
  readonly rowLen: number;
  readonly scaleIn: number;
  readonly ref: SoftmaxConsts;
  readonly mask?: number[];
  /** layer 1's probabilities when already computed by runLayer */
  readonly probs?: Int32Array;
}

/** Scores, softmax constants and layer 1's probabilities of a synthetic BERT-base layer (runLayer step 3 and 4). */
export function bertScores(seed: string, maskedTail = 0): ScoreSet {
  const g = generateLayer({ seed, ...BERT_BASE, maskedTail });
  const c = compileLayer(g.layer);
  const run = runLayer(c, Int8Array.from(g.layer.input?.x_int ?? []), BERT_BASE.seq, g.mask);
  const probs = run.steps.probs.data;
  const scores = run.steps.scores.data;
  if (!(scores instanceof Int32Array) || !(probs instanceof Int32Array)) throw new Error('internal: scores/probs are not int32');
  const base = { scores, rowLen: BERT_BASE.seq, scaleIn: c.scoreScale, ref: c.softmax, probs };
  return g.mask === undefined ? base : { ...base, mask: g.mask };
}

/** Synthetic logits ~ N(0, sigma) at a given scale (host side): rows of rowLen, sigma in real units. */
export function syntheticScores(seed: string, rows: number, rowLen: number, scaleIn: number, sigma = 2.5): Int32Array {
  const normal = normalSampler(makeRng(seed));
  const out = new Int32Array(rows * rowLen);
  const lim = INT32_MAX;
  for (let i = 0; i < out.length; i++) {
    const v = Math.round((normal() * sigma) / scaleIn); // compile-time data generation, not a kernel path
    out[i] = v > lim ? lim : v < -lim ? -lim : v;
  }
  return out;
}

function compare(kernel: string, setting: string, npu: ArrayLike<number>, ref: ArrayLike<number>, acc?: FidelityAcc): FidelityAcc {
  const a = acc ?? { kernel, setting, n: 0, identical: 0, max: 0, first: null };
  for (let i = 0; i < ref.length; i++) {
    const dv = npu[i]! - ref[i]!;
    const ad = dv < 0 ? -dv : dv;
    if (ad === 0) a.identical++;
    else if (a.first === null) a.first = { index: a.n + i, npu: npu[i]!, ref: ref[i]! };
    if (ad > a.max) a.max = ad;
  }
  a.n += ref.length;
  return a;
}
interface FidelityAcc {
  kernel: string;
  setting: string;
  n: number;
  identical: number;
  max: number;
  first: { index: number; npu: number; ref: number } | null;
}
function result(a: FidelityAcc): FidelityResult {
  return {
    kernel: a.kernel, setting: a.setting, n: a.n, identical: a.identical, identical_share: a.n === 0 ? 1 : a.identical / a.n,
    max_abs_diff: a.max, first_diff: a.first,
  };
}

/**
 * Layer 2 against layer 1 on every probability. Default: two seeded synthetic BERT-base layers (seq 128, 12 heads:
 * 2 x 196,608 probabilities), one without and one with 16 masked key positions, at their calibrated score scales.
 * With `scaleIn`: synthetic N(0, 2.5) logits at that scale in the BERT-base attention shape (to measure deviation
 * D1, which needs S < ~3.6e-5).
 */
export function fidelitySoftmax(opts: { seed?: string; scaleIn?: number } = {}): FidelityResult {
  const seed = opts.seed ?? 'fidelity-softmax';
  if (opts.scaleIn !== undefined) {
    const rows = BERT_BASE.heads * BERT_BASE.seq, L = BERT_BASE.seq;
    const x = syntheticScores(seed, rows, L, opts.scaleIn);
    const ref = foldSoftmax(opts.scaleIn);
    const npu = softmaxNpu(x, L, foldSoftmaxNpu(ref));
    const want = softmaxApply(x, L, ref);
    const c = foldSoftmaxNpu(ref);
    return result(compare('softmax', `synthetic N(0, 2.5) logits, ${rows} rows of ${L}, S = ${opts.scaleIn} (z pre-shift k = ${c.k}), seed '${seed}'`, npu.y, want.y));
  }
  let acc: FidelityAcc | undefined;
  const parts: string[] = [];
  for (const [tag, tail] of [['a', 0], ['b', 16]] as const) {
    const s = bertScores(`${seed}/${tag}`, tail);
    const c = foldSoftmaxNpu(s.ref);
    const npu = softmaxNpu(s.scores, s.rowLen, c, s.mask);
    parts.push(`S = ${s.scaleIn.toPrecision(3)}${tail ? `, ${tail} masked keys` : ''}`);
    acc = compare('softmax', '', npu.y, s.probs ?? softmaxApply(s.scores, s.rowLen, s.ref, s.mask).y, acc);
  }
  const a = acc!;
  a.setting = `2 synthetic BERT-base layers (seq 128, 12 heads; ${parts.join('; ')}), seed '${seed}'`;
  return result(a);
}

/** A case in the JSON case format: 'small' = 4 rows of 16 synthetic logits; 'base' = a BERT-base layer's scores. */
export function exampleCaseSoftmax(size: 'small' | 'base', seed: string): unknown {
  if (size === 'small') {
    const S = 2e-4;
    const x = syntheticScores(seed, 4, 16, S);
    return { x_int: Array.from(x), shape: [4, 16], scale_in: S, mask: [...Array<number>(14).fill(1), 0, 0] };
  }
  const s = bertScores(seed, 0);
  return { x_int: Array.from(s.scores), shape: [BERT_BASE.heads, BERT_BASE.seq, BERT_BASE.seq], scale_in: s.scaleIn };
}
