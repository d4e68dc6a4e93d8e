// Case files of the kernels (layer 1 and layer 2 alike): nested tensor fields, their flattening with the
// shape the nesting implies, an explicit `shape` reconciled with it, and zod validation that names the field.
import { z } from 'zod';
import { KernelInputError } from './errors.js';

export type Nested<E> = E | Nested<E>[];

/** A zod schema for a (possibly nested) array of elements. */
export function nestedArray<E>(el: z.ZodType<E>): z.ZodType<Nested<E>[]> {
  const inner: z.ZodType<Nested<E>> = z.lazy(() => z.union([el, z.array(inner)]));
  return z.array(inner);
}

/** Deepest array/object nesting a case or layer may have; deeper input is refused before zod walks it. */
export const MAX_NESTING = 64;

/** Throws KernelInputError if `v` nests arrays or objects deeper than `max` (checked without recursion). */
export function assertDepth(v: unknown, max: number = MAX_NESTING): void {
  const stack: Array<[unknown, number]> = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    if (d >= max) throw new KernelInputError(`input nests arrays or objects deeper than ${max} levels`);
    for (const y of Array.isArray(x) ? x : Object.values(x)) if (typeof y === 'object' && y !== null) stack.push([y, d + 1]);
  }
}

/** Validates a case; a failure names the zod path of the bad field. */
export function parseCase<T>(schema: z.ZodType<T>, input: unknown, kernel: string): T {
  assertDepth(input);
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

/** An explicit `shape` field must hold as many elements as the data and agree with its nesting. */
export function resolveShape(name: string, inferred: number[], given: number[] | undefined, count: number): number[] {
  if (given === undefined) return inferred;
  const n = given.reduce((a, b) => a * b, 1);
  if (n !== count) throw new KernelInputError(`shape: [${given.join(', ')}] holds ${n} elements but ${name} has ${count}`);
  if (inferred.length > 1 && (inferred.length !== given.length || inferred.some((s, i) => s !== given[i]))) {
    throw new KernelInputError(`shape: [${given.join(', ')}] differs from the nesting of ${name} [${inferred.join(', ')}]`);
  }
  return given;
}
