// Single-kernel reference cases (docs/formats.md "Kernel cases"): validate an untrusted JSON case with zod, fold its
// float scales, run the exact integer kernel, and return the integers (beyond 2^53 as decimal strings) with the
// output scale and the folded constants. Used by the simulator's verification commands.

import { z } from 'zod';
import { KernelInputError } from './errors.js';
import { directScaleOut, foldGelu, foldLayerNorm, foldQuantAct, foldSoftmax, biasScale } from './fold.js';
import { geluApply } from './gelu.js';
import { intToJson } from './intmath.js';
import { layerNormApply } from './layernorm.js';
import { linearAcc } from './linear.js';
import { requantApply, requantDirect } from './requant.js';
import { softmaxApply } from './softmax.js';
import type { IntData } from './tensor.js';
import { assertDepth, flattenNested, nestedArray, parseCase, resolveShape } from './case-parse.js';

export interface RefCaseResult {
  /** flat row-major output; integers beyond 2^53 as decimal strings */
  readonly y_int: (number | string)[];
  readonly shape: number[];
  readonly scale_out: number | number[];
  readonly consts: Record<string, unknown>;
}

export const REF_CASE_KERNELS = ['requant', 'gelu', 'softmax', 'layernorm', 'linear'] as const;
export type RefCaseKernel = (typeof REF_CASE_KERNELS)[number];

// ---- element and nested-array schemas ----

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

export const int8El = z.number().int().min(-128).max(127);
export const int32El = z.number().int().min(-2147483648).max(2147483647);
/** An int64 element of a case: a JSON number while exact (|v| < 2^53), a decimal string beyond. */
export const int64El = z.union([
  z.number().int().refine((v) => Number.isSafeInteger(v), { message: 'integers beyond 2^53 must be decimal strings' }),
  z.string().regex(/^-?\d+$/, { message: 'expected a decimal integer string' }).refine((s) => {
    // zod runs this refinement even after the regex failed: BigInt('a') would throw.
    if (!/^-?\d+$/.test(s)) return true;
    const v = BigInt(s);
    return v >= INT64_MIN && v <= INT64_MAX;
  }, { message: 'outside the int64 range' }),
]);


export const shapeSchema = z.array(z.number().int().min(0));
/** A scale: non-zero (zod's numbers are finite already). */
export const nonZeroScale = z.number().refine((v) => v !== 0, { message: 'scale must be non-zero' });
export const scaleSchema = z.union([nonZeroScale, z.array(nonZeroScale).min(1)]);
const maskEl = z.union([z.literal(0), z.literal(1)]);

const flatten = flattenNested;


function parse<T>(schema: z.ZodType<T>, input: unknown, kernel: string): T {
  assertDepth(input);
  return parseCase(schema, input, kernel);
}

function lastDim(shape: number[]): number {
  return shape.length === 0 ? 1 : shape[shape.length - 1]!;
}

function checkChannels(field: string, len: number, shape: number[]): void {
  if (len !== 1 && len !== lastDim(shape)) {
    throw new KernelInputError(`${field}: ${len} per-channel values but the last dimension of x_int is ${lastDim(shape)}`);
  }
}

function toIntData(values: (number | string)[]): IntData {
  let fits = true;
  for (const v of values) {
    if (typeof v === 'string' || v < -2147483648 || v > 2147483647) {
      fits = false;
      break;
    }
  }
  if (fits) return Int32Array.from(values as number[]);
  return BigInt64Array.from(values, (v) => BigInt(v));
}

function outJson(data: IntData): (number | string)[] {
  const out: (number | string)[] = new Array<number | string>(data.length);
  for (let i = 0; i < data.length; i++) out[i] = intToJson(data[i]!);
  return out;
}

const scalarOrArray = (v: readonly number[], asScalar: boolean): number | number[] => (asScalar ? v[0]! : [...v]);

// ---- requant ----

/** The requant kernel's QuantAct form; the NPU's requant-act kernel (kernels/npu) parses the same cases. */
export const requantActCase = z.object({
  x_int: nestedArray(int64El),
  shape: shapeSchema.optional(),
  scale_in: scaleSchema,
  bits: z.number().int().min(2).max(32),
  x_min: z.number(),
  x_max: z.number(),
  identity_int: nestedArray(int32El).optional(),
  identity_scale: nonZeroScale.optional(),
});

const intOrInts = (el: z.ZodType<number>) => z.union([el, z.array(el).min(1)]);

const requantDirectCase = z.object({
  x_int: nestedArray(int32El),
  shape: shapeSchema.optional(),
  multiplier: intOrInts(z.number().int().min(-2147483648).max(2147483648)),
  shift: intOrInts(z.number().int().min(0).max(127)),
  bits: z.number().int().min(2).max(32),
  scale_in: scaleSchema.optional(),
});

function runRequant(input: unknown): RefCaseResult {
  if (typeof input === 'object' && input !== null && 'multiplier' in input) {
    const c = parse(requantDirectCase, input, 'requant (direct form)');
    const { values, shape: inferred } = flatten('x_int', c.x_int);
    const shape = resolveShape('x_int', inferred, c.shape, values.length);
    const m = typeof c.multiplier === 'number' ? [c.multiplier] : c.multiplier;
    const e = typeof c.shift === 'number' ? [c.shift] : c.shift;
    checkChannels('multiplier', m.length, shape);
    checkChannels('shift', e.length, shape);
    const C = Math.max(m.length, e.length);
    const sIn = c.scale_in === undefined ? [1] : typeof c.scale_in === 'number' ? [c.scale_in] : c.scale_in;
    checkChannels('scale_in', sIn.length, shape);
    const channels = Math.max(C, sIn.length);
    const pick = (a: readonly number[], i: number): number => (a.length === 1 ? a[0]! : a[i]!);
    // expand the per-channel arrays to a common channel count (the last dimension)
    const mC = Array.from({ length: channels }, (_, i) => pick(m, i));
    const eC = Array.from({ length: channels }, (_, i) => pick(e, i));
    const y = requantDirect(values, mC.length === 1 ? mC[0]! : mC, eC.length === 1 ? eC[0]! : eC, c.bits);
    const scaleOut = Array.from({ length: channels }, (_, i) => directScaleOut(pick(sIn, i), mC[i]!, eC[i]!));
    return { y_int: Array.from(y), shape, scale_out: scalarOrArray(scaleOut, channels === 1), consts: { multiplier: c.multiplier, shift: c.shift, bits: c.bits } };
  }
  const c = parse(requantActCase, input, 'requant');
  const { values, shape: inferred } = flatten('x_int', c.x_int);
  const shape = resolveShape('x_int', inferred, c.shape, values.length);
  const sIn = typeof c.scale_in === 'number' ? [c.scale_in] : c.scale_in;
  checkChannels('scale_in', sIn.length, shape);
  const hasId = c.identity_int !== undefined;
  if (hasId !== (c.identity_scale !== undefined)) throw new KernelInputError('identity_scale: identity_int and identity_scale go together');
  const q = foldQuantAct({ bits: c.bits, x_min: c.x_min, x_max: c.x_max }, sIn, c.identity_scale);
  let identity;
  if (c.identity_int !== undefined) {
    const id = flatten('identity_int', c.identity_int);
    if (id.values.length !== values.length) throw new KernelInputError(`identity_int: ${id.values.length} values, x_int has ${values.length}`);
    identity = { w: Int32Array.from(id.values), m: q.mId!, e: q.eId! };
  }
  const y = requantApply(toIntData(values), q, identity);
  const consts: Record<string, unknown> = { m: q.m, e: q.e, S_out: q.scaleOut, bits: q.bits };
  if (hasId) {
    consts['m_id'] = q.mId;
    consts['e_id'] = q.eId;
  }
  return { y_int: Array.from(y), shape, scale_out: q.scaleOut, consts };
}

// ---- gelu ----

const geluCase = z.object({
  x_int: nestedArray(int32El),
  shape: shapeSchema.optional(),
  scale_in: scaleSchema,
});

function runGelu(input: unknown): RefCaseResult {
  const c = parse(geluCase, input, 'gelu');
  const { values, shape: inferred } = flatten('x_int', c.x_int);
  const shape = resolveShape('x_int', inferred, c.shape, values.length);
  const scalar = typeof c.scale_in === 'number';
  const sIn = scalar ? [c.scale_in as number] : (c.scale_in as number[]);
  checkChannels('scale_in', sIn.length, shape);
  const k = foldGelu(sIn);
  let y: BigInt64Array;
  try {
    y = geluApply(Int32Array.from(values), k);
  } catch (err) {
    if (err instanceof RangeError) throw new KernelInputError(`scale_in: ${err.message}`);
    throw err;
  }
  return {
    y_int: outJson(y),
    shape,
    scale_out: scalarOrArray(k.scaleOut, scalar),
    consts: {
      q_b: scalarOrArray(k.qb, scalar),
      q_c: scalar ? intToJson(k.qc[0]!) : k.qc.map((v) => intToJson(v)),
      q_1: scalarOrArray(k.q1, scalar),
      S_erf: scalarOrArray(k.sErf, scalar),
    },
  };
}

// ---- softmax ----

const softmaxCase = z.object({
  x_int: nestedArray(int32El),
  shape: shapeSchema.optional(),
  scale_in: z.number().positive(),
  mask: nestedArray(maskEl).optional(),
  x_min: z.number().optional(),
  x_max: z.number().optional(),
});

function runSoftmax(input: unknown): RefCaseResult {
  const c = parse(softmaxCase, input, 'softmax');
  const { values, shape: inferred } = flatten('x_int', c.x_int);
  const shape = resolveShape('x_int', inferred, c.shape, values.length);
  const rowLen = lastDim(shape);
  if (rowLen === 0) throw new KernelInputError('shape: rows must not be empty');
  if ((c.x_min === undefined) !== (c.x_max === undefined)) throw new KernelInputError('x_max: give both x_min and x_max or neither');
  const range = c.x_min !== undefined && c.x_max !== undefined ? { bits: 16, x_min: c.x_min, x_max: c.x_max } : undefined;
  const k = foldSoftmax(c.scale_in, range);
  let mask: number[] | undefined;
  if (c.mask !== undefined) {
    mask = flatten('mask', c.mask).values;
    if (mask.length !== values.length && mask.length !== rowLen) {
      throw new KernelInputError(`mask: ${mask.length} entries, expected ${values.length} (per element) or ${rowLen} (per row position)`);
    }
  }
  const r = softmaxApply(Int32Array.from(values), rowLen, k, mask);
  return {
    y_int: Array.from(r.y),
    shape,
    scale_out: k.scaleOut,
    consts: {
      q_ln2: k.qLn2, q_b: k.qb, q_c: intToJson(k.qc), S_exp: k.sExp, S_a: k.sA, x_min: k.act.x_min, x_max: k.act.x_max,
      m: k.m, e: k.e, M: k.M, E31: k.E31, e16: Array.from(r.e16),
    },
  };
}

// ---- layernorm ----

const layerNormCase = z.object({
  x_int: nestedArray(int32El),
  shape: shapeSchema.optional(),
  gamma: z.array(z.number().refine((g) => g !== 0, { message: 'gamma must be non-zero' })).min(1),
  beta: z.array(z.number()).min(1),
  shift: z.number().int().min(0).max(31).default(0),
});

function runLayerNorm(input: unknown): RefCaseResult {
  const c = parse(layerNormCase, input, 'layernorm');
  const { values, shape: inferred } = flatten('x_int', c.x_int);
  const shape = resolveShape('x_int', inferred, c.shape, values.length);
  const C = lastDim(shape);
  if (c.gamma.length !== C) throw new KernelInputError(`gamma: ${c.gamma.length} values, the last dimension of x_int is ${C}`);
  if (c.beta.length !== C) throw new KernelInputError(`beta: ${c.beta.length} values, the last dimension of x_int is ${C}`);
  const k = foldLayerNorm(c.gamma, c.beta, c.shift);
  let y: BigInt64Array;
  try {
    y = layerNormApply(Int32Array.from(values), k);
  } catch (err) {
    if (err instanceof RangeError) throw new KernelInputError(`beta: ${err.message}`);
    throw err;
  }
  return {
    y_int: outJson(y),
    shape,
    scale_out: [...k.scaleOut],
    consts: { D: k.D, S_n: k.Sn, q_beta: k.qBeta.map((v) => intToJson(v)), shift: k.shift },
  };
}

// ---- linear ----

const linearCase = z.object({
  x_int: nestedArray(int8El),
  weight_int: nestedArray(int8El),
  bias_int: z.array(z.number().int().min(-2147483648).max(2147483648)),
  shape: shapeSchema.optional(),
  M: z.number().int().min(0).optional(),
  K: z.number().int().min(1).optional(),
  N: z.number().int().min(1).optional(),
  scale_x: z.number().positive().optional(),
  weight_scale: z.array(z.number().positive()).optional(),
});

function runLinear(input: unknown): RefCaseResult {
  const c = parse(linearCase, input, 'linear');
  const x = flatten('x_int', c.x_int);
  const w = flatten('weight_int', c.weight_int);
  const N = c.N ?? c.bias_int.length;
  if (c.bias_int.length !== N) throw new KernelInputError(`bias_int: ${c.bias_int.length} values, N = ${N}`);
  const K = c.K ?? (c.shape !== undefined && c.shape.length === 2 ? c.shape[1]! : x.shape.length === 2 ? x.shape[1]! : w.values.length / N);
  if (!Number.isInteger(K) || K < 1) throw new KernelInputError(`K: cannot infer the reduction size (weight_int has ${w.values.length} values for N = ${N})`);
  if (w.values.length !== N * K) throw new KernelInputError(`weight_int: ${w.values.length} values, expected N*K = ${N * K} ([N, K] row-major)`);
  const M = c.M ?? x.values.length / K;
  if (!Number.isInteger(M) || x.values.length !== M * K) throw new KernelInputError(`x_int: ${x.values.length} values, expected M*K with K = ${K}`);
  if (c.shape !== undefined && (c.shape.length !== 2 || c.shape[0] !== M || c.shape[1] !== K)) {
    throw new KernelInputError(`shape: expected [M, K] = [${M}, ${K}], got [${c.shape.join(', ')}]`);
  }
  const y = linearAcc(Int8Array.from(x.values), Int8Array.from(w.values), c.bias_int, M, K, N);
  let scaleOut: number | number[] = 1;
  if (c.weight_scale !== undefined) {
    if (c.weight_scale.length !== N) throw new KernelInputError(`weight_scale: ${c.weight_scale.length} values, N = ${N}`);
    if (c.scale_x === undefined) throw new KernelInputError('scale_x: required with weight_scale');
    scaleOut = biasScale(c.weight_scale, c.scale_x);
  }
  return { y_int: outJson(y), shape: [M, N], scale_out: scaleOut, consts: { M, K, N } };
}

/** Runs one kernel case; throws KernelInputError (exit code 1) naming the offending field on bad input. */
export function runReferenceCase(kernel: string, input: unknown): RefCaseResult {
  switch (kernel) {
    case 'requant':
      return runRequant(input);
    case 'gelu':
      return runGelu(input);
    case 'softmax':
      return runSoftmax(input);
    case 'layernorm':
      return runLayerNorm(input);
    case 'linear':
      return runLinear(input);
    default:
      throw new KernelInputError(`kernel: unknown kernel ${JSON.stringify(kernel)} (expected one of ${REF_CASE_KERNELS.join(', ')})`);
  }
}
