// Layer 2 of the fused `gelu` kernel: i-GELU (docs/IBERT.md section 6) on the int32 fc1 accumulator followed
// by the 8-bit QuantAct of section 9 step 14, as the NPU computes it on int32 lanes with 64-bit products inside
// vmacr/vmulr; its layer-1 counterpart on the same case; and the measured agreement of the two on a BERT-base layer.
//
// Layer 1, per channel c (S = s_x s_w[c]):  t = sgn(x) ((min(|x|, -q_b) + q_b)^2 + q_c) >> 14,  g = x (t + q_1),
//   y = clamp(rne(g m_c / 2^e_c), -2^(b-1), 2^(b-1) - 1) with (m_c, e_c) = frexp31(S_out_gelu[c] / fl32(S_out)).
// g reaches ~2^48 and g m_c ~2^79; q_c needs 64 bits for S < 5.7e-5. The NPU form:
//
//   s  = sgn(x);  c = min(max(x, q_b), -q_b);  sa = s q_b + c          (= s a with a = min(|x|, -q_b) + q_b <= 0)
//   a  = s sa                                                           (= a; 0 for x = 0, where g = 0 anyway)
//   t' = floor((sa a + s qc_lo) / 2^14)                                 vmacr, 64-bit inside
//   u  = t' + (s qc_hi + q_1)                                           = t + q_1, exactly
//   z  = sat32(rne(x u / 2^s1))                                         vmulr.vv, 64-bit inside
//   y  = sat8(rne(z m / 2^(e - s1)))                                    vmulr.vv  [then clamp for out_bits < 8]
//
// Exact steps (equal to layer 1 bit for bit):
// * q_c = qc_hi 2^14 + qc_lo with qc_lo in [0, 2^14). Since qc_hi 2^14 is a multiple of 2^14,
//   floor(s (a^2 + q_c) / 2^14) = floor(s (a^2 + qc_lo) / 2^14) + s qc_hi for s in {-1, 0, 1}: the sign is applied
//   before the floor, so negatives floor exactly as the reference's floor division. (a^2 <= q_b^2 < 2^45 here.)
// * m = +2^31 (frexp31's corner) is written 2^30 with one bit less of shift: the same rational.
// Deviation (the only one): the requantization of g is done in two roundings, because g m needs up to 79 bits.
// * s1 = min(127, max(0, e - 53)) per channel (compile time). Where e <= 53 (s1 = 0), z = g exactly and y is exact.
//   Otherwise z = rne(g / 2^s1) moves g m / 2^e by at most 2^(s1-1) |m| / 2^e <= 2^-23 output steps, so y can differ
//   from layer 1 only when g m / 2^e lies within 2^-23 of a rounding tie (x.5), and then by exactly one step.
// * Saturation stays exact: if |g / 2^s1| >= 2^31 - 1/2, z saturates and |z m / 2^(e-s1)| >= (2^31-1) 2^30 / 2^53
//   > 255, so y saturates to the same end as layer 1 (|m| >= 2^30 always).
// Domain (compile-time checks per channel, KernelInputError naming scale_in[c] otherwise): S > 0 and the
// intermediates t', s qc_hi + q_1 and u fit int32, i.e. S >~ 7.5e-7 (the model has S ~ 1e-5 .. 1e-3); the
// requantization ratio below 2^31. Measured agreement: fidelityGelu (and test/programs/gelu.test.ts).

import { z } from 'zod';
import { runReferenceCase } from '../ref/cases.js';
import { KernelInputError } from '../ref/errors.js';
import { foldGelu, foldQuantAct, type ActRange } from '../ref/fold.js';
import { floorShift, mulShiftRne, pow2 } from '../ref/intmath.js';
import {
  channelScales, DEFAULT_FIDELITY_SEED, DiffCounter, flattenNested, int32El, intDataToInt32, lastDim, layerSample, nestedArray,
  npuMultiplier, parseCase, resolveShape, scaleSchema, shapeSchema, type FidelityResult, type KernelCaseResult,
} from './requant-act.js';
import { requantApply } from '../ref/requant.js';

export type { FidelityResult } from './requant-act.js';

/** Per-channel integer constants of the NPU kernel (each array: one value per channel, length 1 = per tensor). */
export interface GeluNpuConsts {
  readonly qb: readonly number[];
  readonly qcLo: readonly number[];
  readonly qcHi: readonly number[];
  readonly q1: readonly number[];
  /** first rounding shift (g -> z) */
  readonly s1: readonly number[];
  /** requantization multiplier (|m| < 2^31, negative: the GELU output scale is negative) and second shift */
  readonly m: readonly number[];
  readonly sh: readonly number[];
  readonly outBits: number;
  /** scale of the int8 output */
  readonly scaleOut: number;
  /** layer-1 constants beside them */
  readonly ref: { readonly qc: readonly number[]; readonly m: readonly number[]; readonly e: readonly number[] };
}

/** The rows of the constants table in the order of programs/gelu/model.ts's `consts`. */
export function geluConstRows(k: GeluNpuConsts): readonly (readonly number[])[] {
  return [k.qb, k.qcLo, k.qcHi, k.q1, k.s1, k.m, k.sh];
}

const TWO31M1 = 2147483647n;

/** Compile time: fold the GELU and requantization scales, split q_c, choose s1, and check the int32 domain. */
export function foldGeluNpu(scaleIn: readonly number[], out: ActRange): GeluNpuConsts {
  if (!Number.isInteger(out.bits) || out.bits < 2 || out.bits > 8) throw new KernelInputError(`out_bits: ${out.bits} is not in 2..8 (the output is int8)`);
  const g = foldGelu(scaleIn);
  const q = foldQuantAct(out, g.scaleOut);
  const C = scaleIn.length;
  const k = { qb: [] as number[], qcLo: [] as number[], qcHi: [] as number[], q1: [] as number[], s1: [] as number[], m: [] as number[], sh: [] as number[] };
  for (let c = 0; c < C; c++) {
    const field = C === 1 ? 'scale_in' : `scale_in[${c}]`;
    const qb = g.qb[c]!, qc = g.qc[c]!, q1 = g.q1[c]!;
    if (!(qb < 0)) throw new KernelInputError(`${field}: ${scaleIn[c]} gives q_b = ${qb}; the NPU i-GELU needs a positive input scale`);
    if (!Number.isSafeInteger(qc) || !Number.isSafeInteger(q1) || -qb > 2147483647) {
      throw new KernelInputError(`${field}: ${scaleIn[c]} is too small for the NPU i-GELU (q_b = ${qb}, q_c = ${qc})`);
    }
    const qcHi = floorShift(qc, 14);
    const qcLo = qc - qcHi * 16384;
    // Bounds of t' = floor(s (a^2 + qc_lo) / 2^14), of s qc_hi + q_1, and of their sum u (exact, BigInt).
    const tB = (BigInt(qb) * BigInt(qb) + BigInt(qcLo) + 16383n) >> 14n;
    const kB = BigInt(Math.max(Math.abs(qcHi + q1), Math.abs(-qcHi + q1)));
    if (tB + kB > TWO31M1) {
      throw new KernelInputError(
        `${field}: ${scaleIn[c]} is too small for the NPU i-GELU: the polynomial after >> 14 (up to ${tB}) plus q_1 +- qc_hi (${kB}) leaves int32`,
      );
    }
    const r = npuMultiplier(q.m[c]!, q.e[c]!, field);
    const s1 = Math.min(127, Math.max(0, r.e - 53));
    k.qb.push(qb);
    k.qcLo.push(qcLo);
    k.qcHi.push(qcHi);
    k.q1.push(q1);
    k.s1.push(s1);
    k.m.push(r.m);
    k.sh.push(Math.min(127, r.e - s1));
  }
  return { ...k, outBits: out.bits, scaleOut: q.scaleOut, ref: { qc: g.qc, m: q.m, e: q.e } };
}

function sat32(v: number): number {
  return v < -2147483648 ? -2147483648 : v > 2147483647 ? 2147483647 : v;
}

/**
 * Run time (layer 2), element by element as the lanes compute it. Every intermediate is an exact double: the
 * compile-time checks keep |sa a + s qc_lo| < 2^46 and t', k, u in int32; the two rounding multiplies use the
 * exact split products of intmath (int32 x int32).
 */
export function geluNpuApply(x: Int32Array, k: GeluNpuConsts): Int32Array {
  const n = x.length;
  const C = k.qb.length;
  if (n % C !== 0) throw new RangeError(`geluNpuApply: ${C} channels do not divide ${n} elements`);
  const lo = -pow2(k.outBits - 1), hi = pow2(k.outBits - 1) - 1;
  const out = new Int32Array(n);
  for (let i = 0, c = 0; i < n; i++) {
    const xv = x[i]!;
    const qb = k.qb[c]!;
    const s = xv > 0 ? 1 : xv < 0 ? -1 : 0;
    const cl = xv < qb ? qb : xv > -qb ? -qb : xv;
    const sa = s * qb + cl;
    const a = s * sa;
    const tp = floorShift(sa * a + s * k.qcLo[c]!, 14);
    const u = tp + (s * k.qcHi[c]! + k.q1[c]!);
    const zz = sat32(mulShiftRne(xv, u, k.s1[c]!));
    const y = mulShiftRne(zz, k.m[c]!, k.sh[c]!);
    out[i] = y < lo ? lo : y > hi ? hi : y;
    if (++c === C) c = 0;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Cases: the `gelu` case of docs/formats.md plus the range of the QuantAct it is fused with.

const geluCaseSchema = z.object({
  x_int: nestedArray(int32El),
  shape: shapeSchema.optional(),
  scale_in: scaleSchema,
  out_x_min: z.number(),
  out_x_max: z.number(),
  out_bits: z.number().int().min(2).max(8).default(8),
});

export interface GeluPrepared {
  readonly x: Int32Array;
  readonly shape: number[];
  readonly rows: number;
  readonly cols: number;
  readonly perChannel: boolean;
  readonly k: GeluNpuConsts;
}

export function prepareGelu(input: unknown): GeluPrepared {
  const c = parseCase(geluCaseSchema, input, 'gelu');
  const { values, shape: inferred } = flattenNested('x_int', c.x_int);
  const shape = resolveShape('x_int', inferred, c.shape, values.length);
  const sIn = channelScales('scale_in', c.scale_in, shape);
  const k = foldGeluNpu(sIn, { bits: c.out_bits, x_min: c.out_x_min, x_max: c.out_x_max });
  const cols = lastDim(shape);
  return { x: Int32Array.from(values), shape, rows: cols === 0 ? 0 : values.length / cols, cols, perChannel: sIn.length > 1, k };
}

/** Layer 1: the exact i-GELU of kernels/ref/cases.ts, then the exact QuantAct of section 3 (requantApply). */
export function refCaseGelu(input: unknown): KernelCaseResult {
  const c = parseCase(geluCaseSchema, input, 'gelu');
  const r = runReferenceCase('gelu', input);
  const g = BigInt64Array.from(r.y_int, (v) => BigInt(v));
  const q = foldQuantAct({ bits: c.out_bits, x_min: c.out_x_min, x_max: c.out_x_max }, r.scale_out);
  const y = requantApply(g, q);
  return { y_int: Array.from(y), shape: r.shape, consts: { ...r.consts, m: q.m, e: q.e, S_out: q.scaleOut, bits: q.bits } };
}

/** Layer 2 (this file's NPU semantics) on a case. */
export function npuCaseGelu(input: unknown): KernelCaseResult {
  const p = prepareGelu(input);
  const y = geluNpuApply(p.x, p.k);
  const k = p.k;
  return {
    y_int: Array.from(y),
    shape: p.shape,
    consts: { q_b: k.qb, qc_lo: k.qcLo, qc_hi: k.qcHi, q_1: k.q1, s1: k.s1, m: k.m, sh: k.sh, bits: k.outBits, S_out: k.scaleOut },
  };
}

/**
 * Layer 2 vs layer 1 on a seeded BERT-base layer (seq 128, FFN 3072): the fc1 accumulator (step 12) through i-GELU
 * and intermediate.output_activation (steps 13-14), 393,216 int8 outputs, with the layer's own per-channel scales
 * (S ~ 6e-5 .. 4e-4) and calibrated range.
 */
export function fidelityGelu(opts: { seed?: string; size?: 'small' | 'base' } = {}): FidelityResult {
  const seed = opts.seed ?? DEFAULT_FIDELITY_SEED;
  const size = opts.size ?? 'base';
  const { layer, compiled, run } = layerSample(size, seed);
  const x = intDataToInt32(run.steps.fc1_acc.data);
  if (x === undefined) throw new RangeError(`seed '${seed}': the fc1 accumulator leaves int32 (saturated bias)`);
  const k = foldGeluNpu(compiled.fc1.scaleOut, layer.intermediate.output_activation);
  const counter = new DiffCounter();
  counter.add(geluNpuApply(x, k), run.steps.gelu8.data);
  const twoStep = k.s1.filter((v) => v > 0).length;
  return counter.result('gelu', `${size} layer (seed '${seed}'), fc1 [${run.steps.fc1_acc.shape.join(', ')}] -> i-GELU -> QuantAct(${k.outBits}); ${twoStep} of ${k.s1.length} channels round in two steps`);
}

/** A case in the JSON format: the fc1 accumulator of a seeded layer with its scales and the GELU QuantAct range. */
export function exampleCaseGelu(size: 'small' | 'base', seed: string): unknown {
  const { layer, compiled, run } = layerSample(size, seed);
  const x = intDataToInt32(run.steps.fc1_acc.data);
  if (x === undefined) throw new RangeError(`seed '${seed}': the fc1 accumulator leaves int32 (saturated bias)`);
  const act = layer.intermediate.output_activation;
  return {
    x_int: Array.from(x),
    shape: [...run.steps.fc1_acc.shape],
    scale_in: [...compiled.fc1.scaleOut],
    out_x_min: act.x_min,
    out_x_max: act.x_max,
    out_bits: act.bits,
  };
}
