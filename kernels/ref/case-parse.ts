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
    if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x)) continue;
    if (d >= max) throw new KernelInputError(`input nests arrays or objects deeper than ${max} levels`);
    for (const y of Array.isArray(x) ? x : Object.values(x)) if (typeof y === 'object' && y !== null) stack.push([y, d + 1]);
  }
}

/** Integer typed arrays, accepted wherever a case has a tensor field (a program's caller holds them already). */
export type IntTypedArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

export function isIntTypedArray(v: unknown): v is IntTypedArray {
  return v instanceof Int8Array || v instanceof Uint8Array || v instanceof Int16Array || v instanceof Uint16Array ||
    v instanceof Int32Array || v instanceof Uint32Array;
}

/**
 * Validates a case; a failure names the zod path of the bad field. Tensor fields may be integer typed arrays
 * (flat, or the `data` of a { shape, data } field): zod checks the structure with each typed array standing in as
 * an empty array, and one flat loop checks its elements against the field's element schema (its integer bounds,
 * or the element schema itself for anything else), with the same kind of message naming the path and index.
 */
export function parseCase<T>(schema: z.ZodType<T>, input: unknown, kernel: string): T {
  assertDepth(input);
  const typed: { path: (string | number)[]; value: IntTypedArray }[] = [];
  const stripped = stripTyped(schema, input, [], typed, kernel);
  const res = schema.safeParse(stripped);
  if (!res.success) throw new KernelInputError(`invalid ${kernel} case:\n${z.prettifyError(res.error)}`);
  for (const { path, value } of typed) {
    let at: unknown = res.data;
    for (const key of path.slice(0, -1)) at = (at as Record<string | number, unknown>)[key];
    (at as Record<string | number, unknown>)[path[path.length - 1]!] = value;
  }
  return res.data;
}

type AnySchema = z.ZodType;

function unwrapSchema(s: AnySchema): AnySchema {
  for (;;) {
    if (s instanceof z.ZodOptional) s = s.unwrap() as AnySchema;
    else if (s instanceof z.ZodDefault) s = s.removeDefault() as AnySchema;
    else if (s instanceof z.ZodLazy) s = (s._zod.def.getter as () => AnySchema)();
    else return s;
  }
}

/** The element schema of an array field (through the nesting of nestedArray), or undefined. */
function elementOf(s: AnySchema): AnySchema | undefined {
  s = unwrapSchema(s);
  if (s instanceof z.ZodUnion) {
    for (const o of s.options as readonly AnySchema[]) {
      const el = elementOf(o);
      if (el !== undefined) return el;
    }
    return undefined;
  }
  if (!(s instanceof z.ZodArray)) return undefined;
  let el = unwrapSchema(s.element as AnySchema);
  // nestedArray: union(el, array(inner)): the non-array option is the element
  if (el instanceof z.ZodUnion) {
    const opts = (el.options as readonly AnySchema[]).map(unwrapSchema);
    if (opts.some((o) => o instanceof z.ZodArray)) el = opts.find((o) => !(o instanceof z.ZodArray)) ?? el;
  }
  return el;
}

/** Integer bounds of an element schema, when it is (or, for int64El-like unions, has) a plain integer number. */
function boundsOf(el: AnySchema): { lo: number; hi: number } | undefined {
  const num = el instanceof z.ZodNumber ? el : el instanceof z.ZodUnion ? (el.options as readonly AnySchema[]).find((o) => o instanceof z.ZodNumber) : undefined;
  if (!(num instanceof z.ZodNumber)) return undefined;
  return { lo: num.minValue ?? -Infinity, hi: num.maxValue ?? Infinity };
}

function checkTyped(v: IntTypedArray, el: AnySchema | undefined, path: (string | number)[], kernel: string): void {
  const where = (i: number): string => `${path.join('.')}[${i}]`;
  if (el === undefined) throw new KernelInputError(`invalid ${kernel} case: ${path.join('.')}: a typed array where no tensor is expected`);
  const b = boundsOf(el);
  if (b !== undefined && (el instanceof z.ZodNumber || el instanceof z.ZodUnion)) {
    const { lo, hi } = b;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x < lo || x > hi) throw new KernelInputError(`invalid ${kernel} case:\n✖ ${x} is outside ${lo}..${hi}\n  → at ${where(i)}`);
    }
    if (el instanceof z.ZodNumber || b.lo === -Infinity) return;
  }
  for (let i = 0; i < v.length; i++) {
    const r = el.safeParse(v[i]);
    if (!r.success) throw new KernelInputError(`invalid ${kernel} case:\n✖ ${r.error.issues[0]?.message ?? 'invalid element'}\n  → at ${where(i)}`);
  }
}

/** A copy of the input with typed arrays replaced by [] (recorded with their path, checked), up to three levels deep. */
function stripTyped(schema: AnySchema, v: unknown, path: (string | number)[], out: { path: (string | number)[]; value: IntTypedArray }[], kernel: string): unknown {
  if (isIntTypedArray(v)) {
    checkTyped(v, elementOf(schema), path, kernel);
    out.push({ path, value: v });
    return [];
  }
  if (path.length >= 3 || typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  const s = unwrapSchema(schema);
  const shapes: Record<string, AnySchema>[] = [];
  if (s instanceof z.ZodObject) shapes.push(s.shape as Record<string, AnySchema>);
  else if (s instanceof z.ZodUnion) for (const o of s.options as readonly AnySchema[]) { const u = unwrapSchema(o); if (u instanceof z.ZodObject) shapes.push(u.shape as Record<string, AnySchema>); }
  if (shapes.length === 0) return v;
  let copy: Record<string, unknown> | undefined;
  for (const [key, val] of Object.entries(v)) {
    if (typeof val !== 'object' || val === null) continue;
    const field = shapes.map((sh) => sh[key]).find((f) => f !== undefined);
    if (field === undefined) continue;
    const nv = stripTyped(field, val, [...path, key], out, kernel);
    if (nv !== val) (copy ??= { ...(v as Record<string, unknown>) })[key] = nv;
  }
  return copy ?? v;
}

/** Flattens a (possibly nested) rectangular array; returns the values and the shape its nesting implies. */
export function flattenNested<E>(name: string, v: Nested<E>[]): { values: E[]; shape: number[] } {
  // a typed array (parseCase put it back after checking it): flat, its length is the shape
  if (isIntTypedArray(v)) return { values: Array.from(v) as E[], shape: [(v as IntTypedArray).length] };
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
