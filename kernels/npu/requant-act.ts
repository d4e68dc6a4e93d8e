// Layer 2 of `requant-act` (QuantAct with per-channel multipliers and the optional residual identity term, the
// general form of docs/IBERT.md section 3) as the NPU computes it, its layer-1 counterpart on the same case,
// the measured agreement of the two on a BERT-base layer, and example cases. Also owns the case parsing and the
// seeded BERT-base layer that kernels/npu/gelu.ts reuses.
//
// NPU datapath (programs/requant-act/build.ts):
//   t1 = sat32(rne(x * m_c / 2^e_c))           vmulr.vv: int32 x int32 -> exact 64-bit product, rounding shift
//   t2 = sat32(rne(w * m' / 2^e'))              vmulr.vx (identity term)
//   [t1 = clamp(t1, +-C1)], [t2 = clamp(t2, +-C2)]   vclamp, only where the compile-time bounds need it
//   y  = clamp(t1 + t2, -2^(b-1), 2^(b-1) - 1)  vadd (int32), vclamp (or the saturation of vmulr for 8/16 bits)
//
// Layer 2 = layer 1 wherever the rounding terms are exact, which int32 x int32 -> 64-bit products guarantee:
// * m = 2^31 (frexp31 of a ratio with mantissa >= 1 - 2^-32) is not an int32: it becomes 2^30 with e - 1, the
//   same rational, so the same result.
// * e > 127 becomes 127: |x m| < 2^62, so rne(x m / 2^e) = 0 for every e >= 63 either way.
// * The int32 sum. Each term is saturated to int32 and the sum must not wrap. With B1, B2 the compile-time bounds
//   of |t1|, |t2| (from |x| <= 2^31 and |w| <= 128 for an int8 identity, 2^31 for int32) and H = 2^(b-1):
//   - B1 + B2 < 2^31: no clamp, the sum is exact;
//   - else, if H + 2 min(B1, B2) < 2^31: the larger term is clamped to +-(H + min(B1, B2)). Beyond that bound the
//     sum is beyond +-H whatever the other term is, so the final clamp gives the same value: still exact. This is
//     the realistic 22-bit residual case (steps 8 and 17: B1 ~ 2^33, B2 ~ 2^21).
//   - else (both terms can exceed 2^30, which needs S_in/S_out and S_id/S_out above ~2^-1 and ~2^23): both are
//     clamped to +-(2^30 - 1). This is the one deviation: it can change an output only when a term exceeds 2^30
//     in magnitude and the other nearly cancels it. `sumExact` reports which regime a case is in.
// * Rejected (KernelInputError, no NPU form): an x value outside int32 (the NPU reads the int32 accumulator), a
//   ratio S_in/S_out >= 2^31 (e < 0: a left shift, which the rounding shift 0..127 cannot express).

import { int32El, int64El, requantActCase, runReferenceCase, scaleSchema, shapeSchema } from '../ref/cases.js';
import { KernelInputError } from '../ref/errors.js';
import { foldQuantAct, type QuantActConsts } from '../ref/fold.js';
import { generateLayer } from '../ref/generate.js';
import { mulShiftRne, pow2 } from '../ref/intmath.js';
import { compileLayer, runLayer, type CompiledLayer, type LayerRun } from '../ref/layer.js';
import type { IbertLayerJson } from '../ref/layer-format.js';
import type { IntData } from '../ref/tensor.js';
import { flattenNested, nestedArray, parseCase, resolveShape, type FidelityResult, type KernelCaseResult, type Nested } from './common.js';

export { flattenNested, nestedArray, parseCase, resolveShape, type FidelityResult, type KernelCaseResult, type Nested };

// ---------------------------------------------------------------------------------------------------------------
// Case parsing shared by the NPU kernels (element schemas from kernels/ref/cases.ts; the NPU adds range checks).

export { int32El, int64El, scaleSchema, shapeSchema };


export function lastDim(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : shape[shape.length - 1]!;
}

/** Per-channel scales: one per tensor, or one per index of the last dimension. */
export function channelScales(field: string, scale: number | number[], shape: readonly number[]): number[] {
  const s = typeof scale === 'number' ? [scale] : scale;
  if (s.length !== 1 && s.length !== lastDim(shape)) {
    throw new KernelInputError(`${field}: ${s.length} per-channel values but the last dimension of x_int is ${lastDim(shape)}`);
  }
  return s;
}

/** int32 view of case integers (numbers or decimal strings); names the first element that does not fit. */
export function toInt32(field: string, values: readonly (number | string)[], why: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const n = typeof v === 'number' ? v : Number(BigInt(v));
    if (!(n >= -2147483648 && n <= 2147483647)) throw new KernelInputError(`${field}[${i}]: ${v} does not fit int32 (${why})`);
    out[i] = n;
  }
  return out;
}

/** int32 view of a layer tensor, or undefined if some value needs 64 bits. */
export function intDataToInt32(d: IntData): Int32Array | undefined {
  if (d instanceof Int32Array) return d;
  const out = new Int32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v < -2147483648n || v > 2147483647n) return undefined;
    out[i] = Number(v);
  }
  return out;
}

/** The NPU form of a frexp31 pair: m = +2^31 becomes 2^30 with one bit less of shift; e > 127 becomes 127. */
export function npuMultiplier(m: number, e: number, field: string): { m: number; e: number } {
  let mm = m, ee = e;
  if (mm === 2147483648) {
    mm = 1073741824;
    ee -= 1;
  }
  if (ee < 0) {
    throw new KernelInputError(`${field}: the requantization ratio is >= 2^31 (shift ${ee}): the NPU's rounding shift (0..127) cannot multiply`);
  }
  return { m: mm, e: Math.min(ee, 127) };
}

// ---------------------------------------------------------------------------------------------------------------
// Compile time: QuantAct constants -> the NPU's constants (multipliers, shifts, clamp bounds).

const INT32_MAX = 2147483647;

export interface RequantActNpuConsts {
  readonly bits: number;
  readonly lo: number;
  readonly hi: number;
  readonly scaleOut: number;
  /** per channel (length 1 = per tensor): |m| < 2^31, e in 0..127 */
  readonly m: readonly number[];
  readonly e: readonly number[];
  readonly identity?: { readonly m: number; readonly e: number; readonly bytes: 1 | 4 };
  /** symmetric bounds of the two terms before the add; 0 = no clamp */
  readonly clampX: number;
  readonly clampW: number;
  /** the clamps provably keep clamp(t1 + t2) equal to layer 1 */
  readonly sumExact: boolean;
}

/** ceil(|v| * |m| / 2^e): a bound on |rne(v m / 2^e)| for |v| <= vmax (exact, BigInt; compile time). */
function termBound(vmax: number, m: number, e: number): number {
  const p = BigInt(vmax) * BigInt(m < 0 ? -m : m);
  const d = 1n << BigInt(e);
  const b = (p + d - 1n) / d;
  return b > BigInt(INT32_MAX) * 4n ? INT32_MAX * 4 : Number(b);
}

export function foldRequantActNpu(q: QuantActConsts, identityBytes?: 1 | 4, scaleField = 'scale_in'): RequantActNpuConsts {
  if (q.bits < 2 || q.bits > 32) throw new KernelInputError(`bits: ${q.bits} is not in 2..32`);
  const C = q.m.length;
  const m: number[] = [];
  const e: number[] = [];
  for (let c = 0; c < C; c++) {
    const f = npuMultiplier(q.m[c]!, q.e[c]!, C === 1 ? scaleField : `${scaleField}[${c}]`);
    m.push(f.m);
    e.push(f.e);
  }
  const H = pow2(q.bits - 1);
  const base = { bits: q.bits, lo: -H, hi: H - 1, scaleOut: q.scaleOut, m, e };
  if (identityBytes === undefined || q.mId === undefined || q.eId === undefined) {
    return { ...base, clampX: 0, clampW: 0, sumExact: true };
  }
  const id = npuMultiplier(q.mId, q.eId, 'identity_scale');
  let B1 = 0;
  for (let c = 0; c < C; c++) B1 = Math.max(B1, termBound(2147483648, m[c]!, e[c]!));
  const B2 = termBound(identityBytes === 1 ? 128 : 2147483648, id.m, id.e);
  const identity = { m: id.m, e: id.e, bytes: identityBytes };
  if (B1 + B2 <= INT32_MAX) return { ...base, identity, clampX: 0, clampW: 0, sumExact: true };
  const small = Math.min(B1, B2);
  if (H + 2 * small <= INT32_MAX) {
    const bound = H + small;
    return B1 >= B2
      ? { ...base, identity, clampX: bound, clampW: 0, sumExact: true }
      : { ...base, identity, clampX: 0, clampW: bound, sumExact: true };
  }
  return { ...base, identity, clampX: 1073741823, clampW: 1073741823, sumExact: false };
}

// ---------------------------------------------------------------------------------------------------------------
// Run time (layer 2): integer-only, element by element as the lanes do it.

function sat32(v: number): number {
  return v < -2147483648 ? -2147483648 : v > 2147483647 ? 2147483647 : v;
}

/** y[i] = the NPU's requantization of x[i] (channel i % C) plus the identity term of w[i]. */
export function requantActNpuApply(x: Int32Array, k: RequantActNpuConsts, w?: Int8Array | Int32Array): Int32Array {
  const n = x.length;
  const C = k.m.length;
  if (n % C !== 0) throw new RangeError(`requantActNpuApply: ${C} channels do not divide ${n} elements`);
  if ((w === undefined) !== (k.identity === undefined)) throw new RangeError('requantActNpuApply: identity data and constants go together');
  if (w !== undefined && w.length !== n) throw new RangeError(`requantActNpuApply: identity has ${w.length} elements, x has ${n}`);
  const out = new Int32Array(n);
  const { lo, hi, clampX: cx, clampW: cw } = k;
  const id = k.identity;
  for (let i = 0, c = 0; i < n; i++) {
    let s = sat32(mulShiftRne(x[i]!, k.m[c]!, k.e[c]!));
    if (w !== undefined && id !== undefined) {
      let t2 = sat32(mulShiftRne(w[i]!, id.m, id.e));
      if (cx > 0) s = s < -cx ? -cx : s > cx ? cx : s;
      if (cw > 0) t2 = t2 < -cw ? -cw : t2 > cw ? cw : t2;
      s = s + t2; // |s| < 2^31 by the choice of the clamps
    }
    out[i] = s < lo ? lo : s > hi ? hi : s;
    if (++c === C) c = 0;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Cases (docs/formats.md "Kernel cases", `requant` in its QuantAct form).

/** A validated case in the NPU's terms: the data, its [rows, cols] view and the folded constants. */
export interface RequantActPrepared {
  readonly x: Int32Array;
  readonly w?: Int8Array | Int32Array;
  readonly shape: number[];
  readonly rows: number;
  readonly cols: number;
  readonly perChannel: boolean;
  readonly ref: QuantActConsts;
  readonly k: RequantActNpuConsts;
}

function rejectDirectForm(input: unknown): void {
  if (typeof input === 'object' && input !== null && 'multiplier' in input) {
    throw new KernelInputError('multiplier: the direct (multiplier/shift) form is the `requant` kernel; requant-act takes the QuantAct form (scale_in, bits, x_min, x_max)');
  }
}

export function prepareRequantAct(input: unknown): RequantActPrepared {
  rejectDirectForm(input);
  const c = parseCase(requantActCase, input, 'requant-act');
  const { values, shape: inferred } = flattenNested('x_int', c.x_int);
  const shape = resolveShape('x_int', inferred, c.shape, values.length);
  const sIn = channelScales('scale_in', c.scale_in, shape);
  if ((c.identity_int === undefined) !== (c.identity_scale === undefined)) {
    throw new KernelInputError('identity_scale: identity_int and identity_scale go together');
  }
  const x = toInt32('x_int', values, 'the NPU requantizes int32 accumulators');
  const ref = foldQuantAct({ bits: c.bits, x_min: c.x_min, x_max: c.x_max }, sIn, c.identity_scale);
  let w: Int8Array | Int32Array | undefined;
  if (c.identity_int !== undefined) {
    const id = flattenNested('identity_int', c.identity_int).values;
    if (id.length !== values.length) throw new KernelInputError(`identity_int: ${id.length} values, x_int has ${values.length}`);
    // The residual is an int8 activation in the model (steps 8 and 17); wider identities go through int32.
    w = id.every((v) => v >= -128 && v <= 127) ? Int8Array.from(id) : Int32Array.from(id);
  }
  const k = foldRequantActNpu(ref, w === undefined ? undefined : w instanceof Int8Array ? 1 : 4);
  const cols = lastDim(shape);
  const rows = cols === 0 ? 0 : values.length / cols;
  const base = { x, shape, rows, cols, perChannel: sIn.length > 1, ref, k };
  return w === undefined ? base : { ...base, w };
}

function constsJson(k: RequantActNpuConsts): Record<string, unknown> {
  const out: Record<string, unknown> = {
    m: [...k.m], e: [...k.e], bits: k.bits, S_out: k.scaleOut, clamp_x: k.clampX, clamp_w: k.clampW, sum_exact: k.sumExact,
  };
  if (k.identity) {
    out['m_id'] = k.identity.m;
    out['e_id'] = k.identity.e;
    out['identity_bytes'] = k.identity.bytes;
  }
  return out;
}

/** Layer 1 (the exact I-BERT reference, kernels/ref/cases.ts) on a QuantAct case. */
export function refCaseRequantAct(input: unknown): KernelCaseResult {
  rejectDirectForm(input);
  const r = runReferenceCase('requant', input);
  return { y_int: r.y_int.map((v) => Number(v)), shape: r.shape, consts: { ...r.consts, scale_out: r.scale_out } };
}

/** Layer 2 (this file's NPU semantics) on a QuantAct case. */
export function npuCaseRequantAct(input: unknown): KernelCaseResult {
  const p = prepareRequantAct(input);
  const y = requantActNpuApply(p.x, p.k, p.w);
  return { y_int: Array.from(y), shape: p.shape, consts: constsJson(p.k) };
}

// ---------------------------------------------------------------------------------------------------------------
// Realistic tensors: a seeded BERT-base layer (generateLayer + runLayer), shared with kernels/npu/gelu.ts.

export interface LayerSample {
  /** the integer checkpoint (calibrated QuantAct ranges as the case format holds them) */
  readonly layer: IbertLayerJson;
  readonly compiled: CompiledLayer;
  readonly run: LayerRun;
  readonly seq: number;
}

let cached: { key: string; sample: LayerSample } | undefined;

/** A seeded synthetic layer at BERT-base size (or the small test size), run through layer 1. Memoized (last). */
export function layerSample(size: 'small' | 'base', seed: string): LayerSample {
  const key = `${size}:${seed}`;
  if (cached?.key === key) return cached.sample;
  const dims = size === 'base' ? { seq: 128, hidden: 768, heads: 12, ffn: 3072 } : { seq: 8, hidden: 64, heads: 2, ffn: 256 };
  const g = generateLayer({ seed, ...dims });
  const compiled = compileLayer(g.layer);
  const run = runLayer(compiled, Int8Array.from(g.layer.input!.x_int), dims.seq);
  const sample = { layer: g.layer, compiled, run, seq: dims.seq };
  cached = { key, sample };
  return sample;
}

export const DEFAULT_FIDELITY_SEED = 'intnpu-fidelity';

export class DiffCounter {
  n = 0;
  identical = 0;
  maxAbs = 0;
  first: { index: number; npu: number; ref: number } | null = null;
  add(npu: ArrayLike<number>, ref: ArrayLike<number | bigint>): void {
    if (npu.length !== ref.length) throw new RangeError(`fidelity: ${npu.length} npu values vs ${ref.length} ref values`);
    for (let i = 0; i < npu.length; i++) {
      const a = npu[i]!, b = Number(ref[i]!);
      if (a === b) this.identical++;
      else {
        const d = Math.abs(a - b);
        if (d > this.maxAbs) this.maxAbs = d;
        if (this.first === null) this.first = { index: this.n + i, npu: a, ref: b };
      }
    }
    this.n += npu.length;
  }
  result(kernel: string, setting: string): FidelityResult {
    return {
      kernel, setting, n: this.n, identical: this.identical,
      identical_share: this.n === 0 ? 1 : this.identical / this.n,
      max_abs_diff: this.maxAbs, first_diff: this.first,
    };
  }
}

/**
 * Layer 2 vs layer 1 on every QuantAct of a seeded BERT-base layer (seq 128) whose input is an int32 tensor:
 * steps 2 (q, k, v; per-channel), 6, 8 (22-bit with the layer input as identity), 10, 11, 15, 17 (22-bit with h8),
 * 19. Steps 10/19 read the LayerNorm output, int64 in general: included when it fits int32. Step 14 is fused
 * into i-GELU (kernels/npu/gelu.ts). Reference values are the layer's own step outputs.
 */
export function fidelityRequantAct(opts: { seed?: string; size?: 'small' | 'base' } = {}): FidelityResult {
  const seed = opts.seed ?? DEFAULT_FIDELITY_SEED;
  const { compiled: c, run } = layerSample(opts.size ?? 'base', seed);
  const st = run.steps;
  const counter = new DiffCounter();
  const used: string[] = [];
  const skipped: string[] = [];
  const one = (label: string, xData: IntData, q: QuantActConsts, ref: IntData, w?: Int8Array): void => {
    const x = intDataToInt32(xData);
    if (x === undefined) {
      skipped.push(label);
      return;
    }
    const k = foldRequantActNpu(q, w === undefined ? undefined : 1);
    counter.add(requantActNpuApply(x, k, w), ref);
    used.push(label + (k.sumExact ? '' : ' (inexact sum)'));
  };
  const toI8 = (d: IntData): Int8Array => Int8Array.from(d as Int32Array);
  one('2q', st.query_acc.data, c.queryAct, st.query8.data);
  one('2k', st.key_acc.data, c.keyAct, st.key8.data);
  one('2v', st.value_acc.data, c.valueAct, st.value8.data);
  one('6', st.context.data, c.contextAct, st.context8.data);
  one('8', st.attn_dense.data, c.ln1InputAct, st.ln1_input.data, toI8(st.input.data));
  one('10', st.ln1_output.data, c.ln1OutputAct, st.attention_output8.data);
  one('11', st.attention_output8.data, c.preIntermediateAct, st.intermediate_input8.data);
  one('15', st.gelu8.data, c.preOutputAct, st.fc2_input8.data);
  one('17', st.fc2_acc.data, c.ln2InputAct, st.ln2_input.data, toI8(st.intermediate_input8.data));
  one('19', st.ln2_output.data, c.outputAct, st.output8.data);
  const setting =
    `${opts.size ?? 'base'} layer (seed '${seed}'), QuantAct steps ${used.join(', ')}` +
    (skipped.length ? `; skipped (int64 input): ${skipped.join(', ')}` : '');
  return counter.result('requant-act', setting);
}

/** A QuantAct case in the JSON case format: step 17 (fc2 accumulator + residual h8 -> 22 bits), per-channel. */
export function exampleCaseRequantAct(size: 'small' | 'base', seed: string): unknown {
  const { layer, compiled: c, run } = layerSample(size, seed);
  const st = run.steps;
  const x = intDataToInt32(st.fc2_acc.data);
  if (x === undefined) throw new RangeError(`seed '${seed}': the fc2 accumulator leaves int32 (saturated bias)`);
  const act = layer.output.ln_input_act;
  return {
    x_int: Array.from(x),
    shape: [...st.fc2_acc.shape],
    scale_in: [...c.fc2.scaleOut],
    bits: act.bits,
    x_min: act.x_min,
    x_max: act.x_max,
    identity_int: Array.from(st.intermediate_input8.data as Int32Array),
    identity_scale: c.preIntermediateAct.scaleOut,
  };
}
