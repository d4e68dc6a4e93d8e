// `intnpu/testing`: assertions for kernel authors' own test suites, independent of any test runner (they
// throw an Error, which vitest, jest, node:test and mocha all report). expectBitExact compares every element
// and names how many differ and the first difference; expectCycles checks a cycle count within a tolerance.

/** A flat array of integers (typed or plain), nested arrays, or a tensor `{ data, shape }`. */
export type IntValues = ArrayLike<number | bigint> | ReadonlyArray<unknown> | { readonly data: ArrayLike<number | bigint>; readonly shape: readonly number[] };

export interface BitExactFailure {
  readonly count: number;
  readonly total: number;
  readonly index: number;
  readonly expected: number | bigint | undefined;
  readonly actual: number | bigint | undefined;
}

/** Thrown by expectBitExact; the fields say what differed. */
export class BitExactError extends Error implements BitExactFailure {
  override readonly name = 'BitExactError';
  readonly count: number;
  readonly total: number;
  readonly index: number;
  readonly expected: number | bigint | undefined;
  readonly actual: number | bigint | undefined;
  constructor(message: string, f: BitExactFailure) {
    super(message);
    this.count = f.count;
    this.total = f.total;
    this.index = f.index;
    this.expected = f.expected;
    this.actual = f.actual;
  }
}

interface Flat {
  readonly data: ArrayLike<number | bigint>;
  /** undefined for a flat array (only its length is compared) */
  readonly shape: readonly number[] | undefined;
}

function flatten(v: unknown, what: string): Flat {
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && 'data' in v && 'shape' in v) {
    const t = v as { data: unknown; shape: unknown };
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new TypeError(`${what}: shape must be an array of non-negative integers`);
    const inner = flatten(t.data, what);
    const size = t.shape.reduce((a: number, b: number) => a * b, 1);
    if (size !== inner.data.length) throw new TypeError(`${what}: shape [${t.shape.join(', ')}] holds ${size} elements, data has ${inner.data.length}`);
    return { data: inner.data, shape: t.shape as number[] };
  }
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return { data: v as unknown as ArrayLike<number | bigint>, shape: undefined };
  if (!Array.isArray(v)) throw new TypeError(`${what}: expected an array, a typed array or { data, shape }, got ${v === null ? 'null' : typeof v}`);
  if (!v.some((x) => Array.isArray(x) || ArrayBuffer.isView(x))) return { data: v as ArrayLike<number | bigint>, shape: undefined };
  // Nested arrays: the shape is read from the nesting and must be rectangular.
  const shape: number[] = [];
  for (let x: unknown = v; Array.isArray(x) || ArrayBuffer.isView(x); x = (x as ArrayLike<unknown>)[0]) shape.push((x as ArrayLike<unknown>).length);
  const out: (number | bigint)[] = [];
  const walk = (x: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      out.push(x as number | bigint);
      return;
    }
    const a = x as ArrayLike<unknown>;
    if (!(Array.isArray(a) || ArrayBuffer.isView(a)) || a.length !== shape[depth]) throw new TypeError(`${what}: ragged nested array at ${path || 'top level'} (expected ${shape[depth]} elements)`);
    for (let i = 0; i < a.length; i++) walk(a[i], depth + 1, `${path}[${i}]`);
  };
  walk(v, 0, '');
  return { data: out, shape };
}

function indexText(i: number, shape: readonly number[] | undefined): string {
  if (!shape || shape.length < 2) return String(i);
  const idx: number[] = [];
  let r = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(r % shape[d]!);
    r = Math.floor(r / shape[d]!);
  }
  return `${i} [${idx.join(', ')}]`;
}

/** 1n and 1 are the same integer, -0 and 0 too; NaN never equals anything (an integer kernel has none). */
function same(a: number | bigint | undefined, b: number | bigint | undefined): boolean {
  if (typeof a === typeof b) return a === b;
  if (a === undefined || b === undefined) return false;
  const n = typeof a === 'number' ? a : (b as number);
  return Number.isInteger(n) && BigInt(a) === BigInt(b);
}

/**
 * Every element of `actual` equals `expected` (typed arrays, plain or nested arrays, or { data, shape }).
 * Throws a BitExactError naming the number of differing elements, the first differing index and the
 * expected and actual values there; a length or shape mismatch also throws.
 */
export function expectBitExact(actual: IntValues, expected: IntValues, opts: { readonly label?: string } = {}): void {
  const label = opts.label ? `${opts.label}: ` : '';
  const a = flatten(actual, `${label}actual`);
  const e = flatten(expected, `${label}expected`);
  if (a.shape && e.shape && (a.shape.length !== e.shape.length || a.shape.some((d, i) => d !== e.shape![i]))) {
    throw new BitExactError(`${label}shape mismatch: expected [${e.shape.join(', ')}], actual [${a.shape.join(', ')}]`, { count: Math.max(a.data.length, e.data.length), total: e.data.length, index: -1, expected: undefined, actual: undefined });
  }
  const n = Math.min(a.data.length, e.data.length);
  let count = 0;
  let first = -1;
  const shown: string[] = [];
  for (let i = 0; i < n; i++) {
    if (!same(a.data[i], e.data[i])) {
      if (first < 0) first = i;
      if (shown.length < 5) shown.push(`  at ${indexText(i, e.shape)}: expected ${e.data[i]}, actual ${a.data[i]}`);
      count++;
    }
  }
  if (a.data.length !== e.data.length) {
    const at = first >= 0 ? first : n;
    throw new BitExactError(
      `${label}length mismatch: expected ${e.data.length} elements, actual ${a.data.length}` +
        (first >= 0 ? `; ${count} of the first ${n} differ, first at index ${indexText(first, e.shape)}: expected ${e.data[first]}, actual ${a.data[first]}` : `; the first ${n} are equal`),
      { count: count + Math.abs(a.data.length - e.data.length), total: e.data.length, index: at, expected: e.data[at], actual: a.data[at] },
    );
  }
  if (count > 0) {
    throw new BitExactError(
      `${label}${count} of ${n} elements differ; first at index ${indexText(first, e.shape)}: expected ${e.data[first]}, actual ${a.data[first]}\n` +
        shown.join('\n') + (count > shown.length ? `\n  ... and ${count - shown.length} more` : ''),
      { count, total: n, index: first, expected: e.data[first], actual: a.data[first] },
    );
  }
}

export interface CyclesTolerance {
  /** Allowed relative deviation, e.g. 0.05 for ±5 % (default 0: exact). */
  readonly tolerance?: number;
  /** Allowed absolute deviation in cycles, added to the relative one (default 0). */
  readonly absolute?: number;
  readonly label?: string;
}

/** Thrown by expectCycles. */
export class CyclesError extends Error {
  override readonly name = 'CyclesError';
  readonly actual: number | null;
  readonly expected: number;
  constructor(message: string, actual: number | null, expected: number) {
    super(message);
    this.actual = actual;
    this.expected = expected;
  }
}

/** `actual` cycles within `expected` ± tolerance (relative) ± absolute; null (a functional-only run) fails. */
export function expectCycles(actual: number | null | undefined, expected: number, opts: CyclesTolerance = {}): void {
  const label = opts.label ? `${opts.label}: ` : '';
  const rel = opts.tolerance ?? 0;
  const abs = opts.absolute ?? 0;
  if (!(rel >= 0) || !(abs >= 0)) throw new RangeError(`${label}expectCycles: tolerance and absolute must be >= 0 (got ${rel}, ${abs})`);
  if (actual === null || actual === undefined) {
    throw new CyclesError(`${label}no cycle count (a functional-only run has no timing); expected ${expected} cycles`, null, expected);
  }
  const slack = expected * rel + abs;
  const lo = expected - slack, hi = expected + slack;
  if (actual < lo || actual > hi) {
    const off = expected === 0 ? '' : ` (${actual > expected ? '+' : ''}${(((actual - expected) / expected) * 100).toFixed(2)} %)`;
    const range = slack === 0 ? 'exactly' : `within ${lo.toFixed(0)}..${hi.toFixed(0)} (${rel ? `±${(rel * 100).toFixed(2)} %` : ''}${rel && abs ? ' ' : ''}${abs ? `±${abs} cycles` : ''}) of`;
    throw new CyclesError(`${label}${actual} cycles, expected ${range} ${expected}${off}`, actual, expected);
  }
}
