// Compile-time constant folding (docs/IBERT.md sections 2-8 and 10): float scales -> integer constants, in
// float64 with Math.fround exactly where the reference casts to float32. Float math is allowed here (host side,
// run once per layer); nothing in this module runs per element at inference.

import { KernelInputError } from './errors.js';
import { pow2 } from './intmath.js';

export const fl32 = Math.fround;

// ---------------------------------------------------------------------------------------------------------------
// Float rounding helpers (the integer runtime has its own exact ones in intmath.ts).

/** torch.round: nearest, ties to even, of a double. */
export function rneFloat(v: number): number {
  if (!Number.isFinite(v)) throw new KernelInputError(`a folded constant is ${v}: the scales or calibrated ranges are too extreme (or zero) to fold into integers`);
  const f = Math.floor(v);
  const d = v - f; // exact: |v| < 2^52 has a representable fraction; larger v are integers (d = 0)
  if (d > 0.5 || (d === 0.5 && f % 2 !== 0)) return f + 1;
  return f + 0;
}

/** decimal.ROUND_HALF_UP: nearest, ties away from zero. */
export function rhazFloat(v: number): number {
  const a = Math.abs(v);
  const r = Math.floor(a + 0.5); // exact for the |v| < 2^31 frexp31 mantissas (ulp >= 2^-22)
  return v < 0 ? 0 - r : r;
}

/**
 * Python float floor division a // b exactly as CPython's float_floor_div (the spec's pyfloordiv):
 * mod = fmod(a, b); div = (a - mod) / b; adjust toward -inf when the signs differ; then snap to the nearer
 * integer if the float quotient landed just below one.
 */
export function pyfloordiv(a: number, b: number): number {
  const mod = a % b; // JS % is C fmod
  let div = (a - mod) / b;
  if (mod !== 0 && (b < 0) !== (mod < 0)) div -= 1;
  let f = Math.floor(div);
  if (div - f > 0.5) f += 1;
  return f;
}

// ---------------------------------------------------------------------------------------------------------------
// frexp and the 31-bit requantization multiplier (section 3).

// One double and its two 32-bit words (PERF: typed-array element access instead of DataView calls; a layer folds
// some 13,000 multipliers). HI is the index of the sign/exponent word in this host's byte order.
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** C frexp: x = mu * 2^k with |mu| in [0.5, 1); (0, 0) for 0. Reads the exponent bits (no frexp in JS). */
export function frexp(x: number): { mu: number; k: number } {
  if (x === 0 || !Number.isFinite(x)) return { mu: x, k: 0 };
  let adj = 0;
  F64[0] = x;
  let hi = U32[HI]!;
  if (((hi >>> 20) & 0x7ff) === 0) {
    // subnormal: scale into the normal range first (exact)
    F64[0] = x * pow2(64);
    hi = U32[HI]!;
    adj = -64;
  }
  const expBits = (hi >>> 20) & 0x7ff;
  U32[HI] = (hi & 0x800fffff) | (1022 << 20);
  return { mu: F64[0]!, k: expBits - 1022 + adj };
}

export interface Frexp31 {
  /** signed multiplier, |m| in [2^30, 2^31] (2^31 itself when |mu| >= 1 - 2^-32), 0 for r = 0 */
  readonly m: number;
  /** shift: r ~ m / 2^e */
  readonly e: number;
}

/** HF batch_frexp(max_bit=31): m = rhaz(mu * 2^31), e = 31 - k. */
export function frexp31(r: number): Frexp31 {
  if (!Number.isFinite(r)) throw new KernelInputError(`a requantization ratio is ${r}: the scales or calibrated ranges are too extreme (or zero) to fold into a 31-bit multiplier`);
  const { mu, k } = frexp(r);
  if (mu === 0) return { m: 0, e: 31 };
  return { m: rhazFloat(mu * pow2(31)), e: 31 - k };
}

// ---------------------------------------------------------------------------------------------------------------
// Symmetric quantization of weights, embeddings and biases (section 2), float32 as deployed.

export interface SymQuant {
  /** integers, same layout as the input */
  readonly q: number[];
  /** float32 scale per row (per-channel) or a single entry (per-tensor) */
  readonly scale: number[];
}

function symQuantRow(w: ArrayLike<number>, off: number, len: number, n: number, S: number, lo: number, hi: number, out: number[] | Int8Array): void {
  const inv = fl32(1 / S); // the reference multiplies by the float32 reciprocal, it does not divide
  for (let i = off; i < off + len; i++) {
    const v = rneFloat(fl32(inv * fl32(w[i]!)));
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
}

/**
 * Q(w, b, S) of section 2: S = fl32(fl32(max(alpha, 1e-8)) / n), n = 2^(b-1) - 1, alpha = max |w| per row
 * (perChannel, rows of a [rows, cols] weight) or over the tensor; q = clamp(rne(fl32(fl32(1/S) * w)), -n, n-1)
 * with the bounds cast to float32 (the [-127, 126] quirk).
 */
export function quantizeSymmetric(w: ArrayLike<number>, rows: number, cols: number, bits: number, perChannel: boolean): SymQuant {
  const q = new Array<number>(w.length);
  return { q, scale: quantizeSymmetricInto(w, rows, cols, bits, perChannel, q) };
}

/**
 * quantizeSymmetric at 8 bits into an Int8Array (the same values: the integers lie in [-127, 126]), without a number
 * array of millions of elements (PERF: a BERT-base layer's 7 M weights).
 */
export function quantizeSymmetricInt8(w: ArrayLike<number>, rows: number, cols: number, perChannel: boolean): { q: Int8Array; scale: number[] } {
  const q = new Int8Array(w.length);
  return { q, scale: quantizeSymmetricInto(w, rows, cols, 8, perChannel, q) };
}

/** Writes Q(w, b, S) into q and returns the scales. */
function quantizeSymmetricInto(w: ArrayLike<number>, rows: number, cols: number, bits: number, perChannel: boolean, q: number[] | Int8Array): number[] {
  if (w.length !== rows * cols) throw new RangeError(`quantizeSymmetric: ${w.length} values for [${rows}, ${cols}]`);
  const n = pow2(bits - 1) - 1;
  const lo = fl32(-n);
  const hi = fl32(n - 1);
  const scale: number[] = [];
  const scaleOf = (off: number, len: number): number => {
    let alpha = 0;
    for (let i = off; i < off + len; i++) alpha = Math.max(alpha, Math.abs(fl32(w[i]!)));
    return fl32(fl32(Math.max(alpha, fl32(1e-8))) / n);
  };
  if (perChannel) {
    for (let r = 0; r < rows; r++) {
      const S = scaleOf(r * cols, cols);
      scale.push(S);
      symQuantRow(w, r * cols, cols, n, S, lo, hi, q);
    }
  } else {
    const S = scaleOf(0, w.length);
    scale.push(S);
    symQuantRow(w, 0, w.length, n, S, lo, hi, q);
  }
  return scale;
}

/** Q(v, b, S) with given (per-element-channel) scales: the 32-bit bias path. Bounds -2^31 and +2^31 (quirk). */
export function quantizeWithScale(v: ArrayLike<number>, bits: number, scale: readonly number[]): number[] {
  if (scale.length !== v.length) throw new RangeError('quantizeWithScale: one scale per value');
  const n = pow2(bits - 1) - 1;
  const lo = fl32(-n);
  const hi = fl32(n - 1);
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) symQuantRow(v, i, 1, n, scale[i]!, lo, hi, out);
  return out;
}

/** QuantLinear's bias scale s_b[c] = fl32(s_w[c] * s_x) (section 4). */
export function biasScale(weightScale: readonly number[], inputScale: number): number[] {
  return weightScale.map((s) => fl32(s * inputScale));
}

// ---------------------------------------------------------------------------------------------------------------
// QuantAct (section 3).

export interface ActRange {
  readonly bits: number;
  readonly x_min: number;
  readonly x_max: number;
}

/** S_out = max(|x_min|, |x_max|, 1e-8) / (2^(b-1) - 1), float64. */
export function actScale(r: ActRange): number {
  return Math.max(Math.abs(r.x_min), Math.abs(r.x_max), 1e-8) / (pow2(r.bits - 1) - 1);
}

export interface QuantActConsts {
  readonly bits: number;
  /** float64 output scale handed to the next op */
  readonly scaleOut: number;
  readonly m: number[];
  readonly e: number[];
  /** identity (residual) term, when the QuantAct has one */
  readonly mId?: number;
  readonly eId?: number;
}

/** (m_c, e_c) = frexp31(S_in[c] / fl32(S_out)); (m', e') likewise for the identity scale. */
export function foldQuantAct(r: ActRange, scaleIn: number | readonly number[], scaleId?: number): QuantActConsts {
  const scaleOut = actScale(r);
  const den = fl32(scaleOut);
  const sIn = typeof scaleIn === 'number' ? [scaleIn] : scaleIn;
  const m: number[] = [];
  const e: number[] = [];
  for (const s of sIn) {
    const f = frexp31(s / den);
    m.push(f.m);
    e.push(f.e);
  }
  if (scaleId === undefined) return { bits: r.bits, scaleOut, m, e };
  const id = frexp31(scaleId / den);
  return { bits: r.bits, scaleOut, m, e, mId: id.m, eId: id.e };
}

// ---------------------------------------------------------------------------------------------------------------
// i-GELU (section 6).

export const GELU_K = 1.4142;
export const GELU_A = -0.2888;
export const GELU_B = -1.769;
/** HF: coeff[2] /= coeff[0], i.e. 1 / -0.2888 = -3.4626038781163433 */
export const GELU_C_OVER_A = 1 / GELU_A;
export const GELU_SHIFT = 14;

export interface GeluConsts {
  readonly qb: number[];
  readonly qc: number[];
  readonly q1: number[];
  readonly sErf: number[];
  /** negative: the integer output has the opposite sign of the real value */
  readonly scaleOut: number[];
}

/** Per channel, in exactly the reference's float64 order (floor boundaries depend on it). */
export function foldGelu(scaleIn: number | readonly number[]): GeluConsts {
  const ss = typeof scaleIn === 'number' ? [scaleIn] : scaleIn;
  const out: { qb: number[]; qc: number[]; q1: number[]; sErf: number[]; scaleOut: number[] } = { qb: [], qc: [], q1: [], sErf: [], scaleOut: [] };
  for (const S of ss) {
    const Sp = S / GELU_K;
    const qb = Math.floor(GELU_B / Sp);
    const qc = Math.floor(GELU_C_OVER_A / (Sp * Sp));
    const sErf = ((Sp * Sp) * GELU_A) * pow2(GELU_SHIFT);
    const q1 = pyfloordiv(1.0, sErf);
    out.qb.push(qb);
    out.qc.push(qc);
    out.q1.push(q1);
    out.sErf.push(sErf);
    out.scaleOut.push((S * sErf) / 2);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// i-exp / i-softmax (section 7).

export const EXP_X0 = -0.6931;
export const EXP_COEF = [0.35815147, 0.96963238, 1.0] as const;
/** b/a and c/a as HF divides them: 2.7073248645328745 and 2.792114744077415 */
export const EXP_B_OVER_A = EXP_COEF[1] / EXP_COEF[0];
export const EXP_C_OVER_A = EXP_COEF[2] / EXP_COEF[0];
export const EXP_N = 30;
export const SOFTMAX_MAX_BIT = 32;
export const SOFTMAX_OUTPUT_BIT = 8;

export interface SoftmaxConsts {
  readonly scaleIn: number;
  readonly qLn2: number;
  readonly qb: number;
  readonly qc: number;
  /** scale of E = z << (30 - q) */
  readonly sExp: number;
  /** range of the inner QuantAct(16) and its scale */
  readonly act: ActRange;
  readonly sA: number;
  /** the QuantAct(16)'s own constants: e16 = rne(rne(E / S_exp) * m / 2^e) */
  readonly m: number;
  readonly e: number;
  /** folded: e16 = rne(z * M / 2^(E31 - 30 + q)), (M, E31) = frexp31(m / (2^e * S_exp)) */
  readonly M: number;
  readonly E31: number;
  readonly scaleOut: number;
}

/** The calibration fixed point of the inner QuantAct(16): x_min = 0, x_max = fl32(q_c * 2^30) (section 7). */
export function softmaxFixedPointRange(scaleIn: number): ActRange {
  const qc = Math.floor(EXP_C_OVER_A / (scaleIn * scaleIn));
  return { bits: 16, x_min: 0, x_max: fl32(qc * pow2(EXP_N)) };
}

export function foldSoftmax(scaleIn: number, range?: ActRange): SoftmaxConsts {
  const S = scaleIn;
  const qLn2 = Math.floor(EXP_X0 / S);
  const qb = Math.floor(EXP_B_OVER_A / S);
  const qc = Math.floor(EXP_C_OVER_A / (S * S));
  const sExp = (EXP_COEF[0] * (S * S)) / pow2(EXP_N);
  const act = range ?? softmaxFixedPointRange(S);
  if (act.bits !== 16) throw new RangeError(`softmax inner QuantAct must be 16-bit, got ${act.bits}`);
  const sA = actScale(act);
  const { m, e } = frexp31(sExp / fl32(sA));
  const R = m / (pow2(e) * sExp);
  const folded = frexp31(R);
  return { scaleIn: S, qLn2, qb, qc, sExp, act, sA, m, e, M: folded.m, E31: folded.e, scaleOut: 1 / pow2(SOFTMAX_OUTPUT_BIT) };
}

// ---------------------------------------------------------------------------------------------------------------
// IntLayerNorm (section 8).

export interface LayerNormConsts {
  /** fl32(sqrt(fl32(C))) */
  readonly D: number;
  /** D / 2^30 */
  readonly Sn: number;
  readonly qBeta: number[];
  /** S_n * gamma[c]: negative where gamma < 0 */
  readonly scaleOut: number[];
  readonly shift: number;
}

export function foldLayerNorm(gamma: readonly number[], beta: readonly number[], shift = 0): LayerNormConsts {
  const C = gamma.length;
  if (beta.length !== C) throw new RangeError(`LayerNorm: ${C} gammas but ${beta.length} betas`);
  const D = fl32(Math.sqrt(fl32(C)));
  const Sn = D / pow2(30);
  const qBeta: number[] = [];
  const scaleOut: number[] = [];
  for (let c = 0; c < C; c++) {
    const g = gamma[c]!;
    if (g === 0 || !Number.isFinite(g)) throw new KernelInputError(`LayerNorm gamma[${c}] = ${g}: beta/gamma is not finite`);
    qBeta.push(Math.floor((beta[c]! / g) / Sn));
    scaleOut.push(Sn * g);
  }
  return { D, Sn, qBeta, scaleOut, shift };
}

// ---------------------------------------------------------------------------------------------------------------
// Scale propagation through the attention block (HF IBertSelfAttention, section 9 steps 3 and 5).

/** Q.K^T scale: query_scale * key_scale / sqrt(d_head), evaluated left to right as in HF. */
export function attentionScoreScale(sq: number, sk: number, dHead: number): number {
  return (sq * sk) / Math.sqrt(dHead);
}

/** P.V scale: attention_probs_scaling_factor (2^-8) * value_scale. */
export function contextScale(sv: number): number {
  return (1 / pow2(SOFTMAX_OUTPUT_BIT)) * sv;
}

/** Output scale implied by a direct (m, shift) requantization: y * scale_out ~ x * scale_in, scale_out = S 2^e / m. */
export function directScaleOut(scaleIn: number, m: number, e: number): number {
  return m === 0 ? 0 : (scaleIn * pow2(e)) / m;
}
