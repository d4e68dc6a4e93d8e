// Shared test plumbing for the kernel references: seeded RNGs named after the test, reproduction hints on
// failure, and small independent BigInt oracles of the spec's rounding rules (written here, not imported).

import seedrandom from 'seedrandom';

export type Rng = () => number;

/**
 * Runs `body` with an RNG seeded from the test's own name; on failure the error names the seed and a one-line
 * reproduction command.
 */
export function seeded(file: string, name: string, body: (rng: Rng) => void): () => void {
  return () => {
    const rng = seedrandom(name);
    try {
      body(rng);
    } catch (err) {
      // -t takes a regular expression: escape the title, then quote it for a POSIX shell
      const pattern = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/'/g, `'\\''`);
      const hint = `\n  seed: ${JSON.stringify(name)}\n  reproduce: npx vitest run ${file} -t '${pattern}'`;
      if (err instanceof Error) {
        err.message += hint;
        throw err;
      }
      throw new Error(String(err) + hint);
    }
  };
}

export function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** Uniform BigInt in [0, 2^bits). */
export function randBig(rng: Rng, bits: number): bigint {
  let v = 0n;
  for (let b = 0; b < bits; b += 16) v = (v << 16n) | BigInt(Math.floor(rng() * 65536));
  return v & ((1n << BigInt(bits)) - 1n);
}

export function gauss(rng: Rng): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

// ---- independent oracles: division-based, unlike the shift/limb code under test ----

/** floor(a / b), b != 0, by truncated division plus a sign fix-up. */
export function oFloorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  const r = a - q * b;
  return r !== 0n && (r < 0n) !== (b < 0n) ? q - 1n : q;
}

/** round(a / b) ties to even, b > 0, comparing 2|r| with b on the magnitude. */
export function oRneDiv(a: bigint, b: bigint): bigint {
  const neg = a < 0n;
  const mag = neg ? -a : a;
  let q = mag / b;
  const r2 = 2n * (mag - q * b);
  if (r2 > b || (r2 === b && q % 2n === 1n)) q += 1n;
  return neg ? -q : q;
}

export function oClamp(v: bigint, lo: bigint, hi: bigint): bigint {
  return v < lo ? lo : v > hi ? hi : v;
}

/** floor(sqrt(v)) by bisection. */
export function oIsqrt(v: bigint): bigint {
  let lo = 0n;
  let hi = 1n;
  while (hi * hi <= v) hi *= 2n;
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (mid * mid <= v) lo = mid;
    else hi = mid;
  }
  return lo;
}

export const P2 = (k: number): bigint => 1n << BigInt(k);
