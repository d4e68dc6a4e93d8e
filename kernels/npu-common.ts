// What the NPU kernel-semantics modules (kernels/npu-*.ts) share: the result shapes the CLI reads, nested
// tensor fields in case files, case validation, and the fidelity comparison of layer 2 against layer 1.
import { z } from 'zod';
import { KernelInputError } from './errors.js';

/** Layer 2 against layer 1 on one setting: the share of identical outputs and the largest difference. */
export interface FidelityResult {
  kernel: string;
  setting: string;
  n: number;
  identical: number;
  identical_share: number;
  max_abs_diff: number;
  first_diff: { index: number; npu: number; ref: number } | null;
}

/** One engine's answer to a kernel case. */
export interface KernelCaseResult {
  y_int: number[];
  shape: number[];
  consts: Record<string, unknown>;
}

export type Nested<E> = E | Nested<E>[];

/** A zod schema for a (possibly nested) array of elements. */
export function nestedArray<E>(el: z.ZodType<E>): z.ZodType<Nested<E>[]> {
  const inner: z.ZodType<Nested<E>> = z.lazy(() => z.union([el, z.array(inner)]));
  return z.array(inner);
}

/** Validates a case; a failure names the zod path of the bad field. */
export function parseCase<T>(schema: z.ZodType<T>, input: unknown, kernel: string): T {
  const res = schema.safeParse(input);
  if (!res.success) throw new KernelInputError(`invalid ${kernel} case:\n${z.prettifyError(res.error)}`);
  return res.data;
}

/** Flattens a (possibly nested) rectangular array; returns the values and the shape its nesting implies. */
export function flattenNested<E>(name: string, v: Nested<E>[]): { values: E[]; shape: number[] } {
  const values: E[] = [];
  let shape: number[] | undefined;
  const walk = (a: Nested<E>[], dims: number[], path: string): void => {
    const d = [...dims, a.length];
    const nestedHere = a.length > 0 && Array.isArray(a[0]);
    for (let i = 0; i < a.length; i++) {
      const item = a[i]!;
      if (Array.isArray(item) !== nestedHere) throw new KernelInputError(`${path}[${i}]: mixes numbers and arrays`);
      if (Array.isArray(item)) walk(item, d, `${path}[${i}]`);
      else values.push(item);
    }
    if (!nestedHere) {
      if (shape === undefined) shape = d;
      else if (shape.length !== d.length || shape.some((s, i) => s !== d[i])) {
        throw new KernelInputError(`${path}: ragged array, shape [${d.join(', ')}] differs from [${shape.join(', ')}]`);
      }
    }
  };
  walk(v, [], name);
  return { values, shape: shape ?? [0] };
}

/** Compares layer 2 (npu) with layer 1 (ref) element by element. */
export function compareFidelity(kernel: string, setting: string, npu: ArrayLike<number>, ref: ArrayLike<number>): FidelityResult {
  if (npu.length !== ref.length) throw new Error(`internal: ${kernel} fidelity compares ${npu.length} with ${ref.length} values`);
  let identical = 0, maxAbs = 0;
  let first: FidelityResult['first_diff'] = null;
  for (let i = 0; i < ref.length; i++) {
    const a = npu[i]!, b = ref[i]!;
    if (a === b) identical++;
    else {
      const d = a > b ? a - b : b - a;
      if (d > maxAbs) maxAbs = d;
      first ??= { index: i, npu: a, ref: b };
    }
  }
  const n = ref.length;
  return { kernel, setting, n, identical, identical_share: n === 0 ? 1 : identical / n, max_abs_diff: maxAbs, first_diff: first };
}
