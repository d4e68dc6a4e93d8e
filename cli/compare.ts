// Element-by-element comparison of two engines' outputs: share identical, largest difference, and the
// first differing element. Values beyond 2^53 arrive as decimal strings and are compared exactly.

export interface Comparison {
  n: number;
  identical: number;
  identical_share: number;
  max_abs_diff: number | string;
  first_diff: { index: number; a: number | string; b: number | string } | null;
  length_mismatch: boolean;
}

const big = (v: number | string): bigint => BigInt(v);

export function compareOutputs(a: ReadonlyArray<number | string>, b: ReadonlyArray<number | string>): Comparison {
  const n = Math.min(a.length, b.length);
  let identical = 0;
  let maxDiff = 0n;
  let first: Comparison['first_diff'] = null;
  for (let i = 0; i < n; i++) {
    const x = a[i]!, y = b[i]!;
    if (x === y || (typeof x !== typeof y && big(x) === big(y))) {
      identical++;
      continue;
    }
    const d = big(x) - big(y);
    const ad = d < 0n ? -d : d;
    if (ad > maxDiff) maxDiff = ad;
    if (!first) first = { index: i, a: x, b: y };
  }
  return {
    n,
    identical,
    identical_share: n === 0 ? 1 : identical / n,
    max_abs_diff: maxDiff <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(maxDiff) : maxDiff.toString(),
    first_diff: first,
    length_mismatch: a.length !== b.length,
  };
}
