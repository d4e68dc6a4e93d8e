// Case files for `intnpu kernel`: zod schemas for the simulator-engine kernels (linear, requant with
// multiplier and shift given). Tensors may be flat (with shape fields) or nested arrays.
import { z } from 'zod';
import { flattenNested, isIntTypedArray, parseCase as parseKernelCase, resolveShape, typedShape, type Nested } from '../kernels/ref/case-parse.js';
import { KernelInputError } from '../kernels/ref/errors.js';
import { UsageError } from './common.js';

const intArray = z.array(z.union([z.number().int(), z.array(z.unknown())]));

// The same flattening as the reference engine's (kernels/ref/case-parse.ts): ragged arrays and arrays
// mixing numbers and sub-arrays are rejected by every engine alike. A typed array (a .npy tensor) is taken as is.
function flatten(v: unknown, where: string): ArrayLike<number> {
  if (isIntTypedArray(v)) return v;
  const { values } = flattenNested(where, v as Nested<unknown>[]);
  const bad = values.findIndex((x) => typeof x !== 'number' || !Number.isInteger(x));
  if (bad >= 0) throw new UsageError(`${where}: element ${bad} is not an integer (${JSON.stringify(values[bad])})`);
  return values as number[];
}

function nestedShape(v: unknown): number[] {
  if (isIntTypedArray(v)) return typedShape(v);
  return flattenNested('tensor', v as Nested<unknown>[]).shape;
}

/**
 * Validates a case with the reference engine's parser (kernels/ref/case-parse.ts): typed-array tensors (from .npy
 * files) stand in as [] for zod; their ranges are checked below. Errors become usage errors naming the case file.
 */
function parseCase<T>(schema: z.ZodType<T>, input: unknown, where: string): T {
  try {
    return parseKernelCase(schema, input, 'kernel');
  } catch (e) {
    if (e instanceof KernelInputError) throw new UsageError(`${where}: ${e.message}`);
    throw e;
  }
}

const inRange = (vals: ArrayLike<number>, lo: number, hi: number, field: string, where: string): void => {
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i]!;
    if (v < lo || v > hi) throw new UsageError(`${where}: ${field}[${i}] = ${v} is outside ${lo}..${hi}`);
  }
};

export const LinearCaseSchema = z.object({
  x_int: intArray,
  weight_int: intArray,
  bias_int: intArray,
  M: z.number().int().positive().optional(),
  K: z.number().int().positive().optional(),
  N: z.number().int().positive().optional(),
  shape: z.array(z.number().int().positive()).length(3).optional().describe('[M, K, N]'),
});

export interface LinearCase {
  x: Int8Array;
  w: Int8Array;
  bias: Int32Array;
  M: number;
  K: number;
  N: number;
}

export function linearCase(input: unknown, where: string): LinearCase {
  const c = parseCase(LinearCaseSchema, input, where);
  const xs = nestedShape(c.x_int), ws = nestedShape(c.weight_int);
  const M = c.M ?? c.shape?.[0] ?? (xs.length === 2 ? xs[0] : undefined);
  const K = c.K ?? c.shape?.[1] ?? (xs.length === 2 ? xs[1] : ws.length === 2 ? ws[1] : undefined);
  const N = c.N ?? c.shape?.[2] ?? (ws.length === 2 ? ws[0] : c.bias_int.length);
  if (M === undefined || K === undefined || N === undefined) {
    throw new UsageError(`${where}: give M, K, N (or shape [M,K,N], or x_int as nested [M][K] arrays)`);
  }
  const x = flatten(c.x_int, `${where}: x_int`), w = flatten(c.weight_int, `${where}: weight_int`), b = flatten(c.bias_int, `${where}: bias_int`);
  if (x.length !== M * K) throw new UsageError(`${where}: x_int has ${x.length} elements, M*K = ${M}*${K} = ${M * K}`);
  if (w.length !== N * K) throw new UsageError(`${where}: weight_int has ${w.length} elements, N*K = ${N}*${K} = ${N * K}`);
  if (b.length !== N) throw new UsageError(`${where}: bias_int has ${b.length} elements, N = ${N}`);
  inRange(x, -128, 127, 'x_int', where);
  inRange(w, -128, 127, 'weight_int', where);
  inRange(b, -(2 ** 31), 2 ** 31 - 1, 'bias_int', where);
  const as8 = (v: ArrayLike<number>): Int8Array => (v instanceof Int8Array ? v : Int8Array.from(v));
  return { x: as8(x), w: as8(w), bias: b instanceof Int32Array ? b : Int32Array.from(b), M, K, N };
}

export const RequantCaseSchema = z.object({
  x_int: intArray,
  multiplier: z.number().int().min(-(2 ** 31)).max(2 ** 31).describe('m of y = rne(x * m / 2^shift); |m| <= 2^31'),
  shift: z.number().int().min(0).max(127),
  bits: z.union([z.literal(8), z.literal(16)]),
  shape: z.array(z.number().int().nonnegative()).optional(),
});

export interface RequantCase {
  x: Int32Array;
  multiplier: number;
  shift: number;
  bits: 8 | 16;
  shape: number[];
}

export function requantCase(input: unknown, where: string): RequantCase {
  const c = parseCase(RequantCaseSchema, input, where);
  const x = flatten(c.x_int, `${where}: x_int`);
  inRange(x, -(2 ** 31), 2 ** 31 - 1, 'x_int', where);
  const shape = resolveShape('x_int', nestedShape(c.x_int), c.shape, x.length);
  return { x: x instanceof Int32Array ? x : Int32Array.from(x), multiplier: c.multiplier, shift: c.shift, bits: c.bits, shape };
}
