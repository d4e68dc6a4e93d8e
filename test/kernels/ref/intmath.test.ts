// Exact integer helpers, requantDirect and linearRef against independent BigInt oracles on edge values.

import { describe, expect, it } from 'vitest';
import {
  bitLength, clamp, floorDiv, floorDivBig, floorShift, floorShiftBig, intToJson, isqrt, isqrtBig, isqrtIterates, mulShiftRne,
  mulShiftRneBig, rhazShift, rneDiv, rneDivBig, rneShift, rneShiftBig, sat16, sat32, sat8, satBits,
} from '../../../kernels/ref/intmath.js';
import { linearAcc, linearRef } from '../../../kernels/ref/linear.js';
import { requantDirect } from '../../../kernels/ref/requant.js';
import { oClamp, oFloorDiv, oIsqrt, oRneDiv, P2, randBig, randInt, seeded, type Rng } from './helpers.js';

const FILE = 'test/kernels/ref/intmath.test.ts';
const MAXSAFE = Number.MAX_SAFE_INTEGER;

const EDGE = [0, 1, -1, 2, -2, 3, -3, 127, -128, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32, -(2 ** 32), 2 ** 52, -(2 ** 52),
  MAXSAFE, -MAXSAFE, 2 ** 53 - 2, 1089462004];

function randSigned(rng: Rng, maxBits: number): number {
  const bits = randInt(rng, 0, maxBits);
  const mag = Number(randBig(rng, bits));
  return rng() < 0.5 ? -mag : mag;
}

/** rne(n / 2^k) written as a division with a half-even fix-up (not the shift code under test). */
function oRneShift(n: bigint, k: number): bigint {
  return k >= 0 ? oRneDiv(n, P2(k)) : n * P2(-k);
}

describe('floor division and shifts', () => {
  it('floorDiv matches the oracle on edges and random values', seeded(FILE, 'floorDiv matches the oracle on edges and random values', (rng) => {
    const bs = [1, -1, 2, -2, 3, -3, 7, 768, -768, 3072, 2 ** 31, -(2 ** 31), 2 ** 31 - 1, MAXSAFE, -MAXSAFE];
    const as = [...EDGE, ...EDGE.map((v) => -v)];
    for (let i = 0; i < 2000; i++) as.push(randSigned(rng, 53));
    for (let i = 0; i < 50; i++) bs.push(randSigned(rng, 40) || 5);
    for (const a of as) {
      for (const b of bs) {
        const got = floorDiv(a, b);
        const want = oFloorDiv(BigInt(a), BigInt(b));
        if (BigInt(got) !== want) expect(`${a} // ${b} = ${got}`).toBe(`${a} // ${b} = ${want}`);
      }
    }
  }));

  it('floorShift and rneShift match the oracle, including exact ties and negative values', seeded(FILE, 'floorShift and rneShift match the oracle, including exact ties and negative values', (rng) => {
    const as = [...EDGE, ...EDGE.map((v) => -v)];
    for (let i = 0; i < 3000; i++) as.push(randSigned(rng, 53));
    // exact ties: (2j+1) * 2^(k-1) and their negatives, both parities of the quotient
    for (let k = 1; k <= 52; k++) for (const j of [0, 1, 2, 3, 1000001]) {
      const t = (2 * j + 1) * 2 ** (k - 1);
      if (Number.isSafeInteger(t)) as.push(t, -t);
    }
    for (const a of as) {
      for (let k = 0; k <= 70; k++) {
        const fs = floorShift(a, k);
        const want = BigInt(a) >> BigInt(k);
        if (BigInt(fs) !== want) expect(`floor(${a}/2^${k}) = ${fs}`).toBe(`floor(${a}/2^${k}) = ${want}`);
        const rs = rneShift(a, k);
        const wr = oRneShift(BigInt(a), k);
        if (BigInt(rs) !== wr) expect(`rne(${a}/2^${k}) = ${rs}`).toBe(`rne(${a}/2^${k}) = ${wr}`);
      }
    }
    expect(rneShift(1, 1)).toBe(0); // 0.5 -> 0
    expect(rneShift(3, 1)).toBe(2); // 1.5 -> 2
    expect(rneShift(-1, 1)).toBe(0); // -0.5 -> 0
    expect(Object.is(rneShift(-1, 1), -0)).toBe(false);
    expect(rneShift(-3, 1)).toBe(-2);
    expect(rneShift(-5, 1)).toBe(-2);
    expect(floorShift(-1, 200)).toBe(-1);
  }));

  it('rneDiv rounds ties to even like the LayerNorm mean (section 8)', seeded(FILE, 'rneDiv rounds ties to even like the LayerNorm mean (section 8)', (rng) => {
    const cs = [1, 2, 3, 768, 767, 32, 30, 3072];
    for (const C of cs) {
      for (let i = 0; i < 400; i++) {
        const s = i < 200 ? randSigned(rng, 45) : (2 * randInt(rng, -1e6, 1e6) + 1) * (C / 2) * (C % 2 === 0 ? 1 : 0) + randInt(rng, -2, 2);
        const got = rneDiv(s, C);
        const want = oRneDiv(BigInt(s), BigInt(C));
        if (BigInt(got) !== want) expect(`rne(${s}/${C}) = ${got}`).toBe(`rne(${s}/${C}) = ${want}`);
      }
    }
    expect(rneDiv(384, 768)).toBe(0);
    expect(rneDiv(3 * 384, 768)).toBe(2);
    expect(rneDiv(-384, 768)).toBe(0);
    expect(rneDiv(-3 * 384, 768)).toBe(-2);
  }));

  it('rhazShift rounds ties away from zero', () => {
    expect(rhazShift(1, 1)).toBe(1);
    expect(rhazShift(-1, 1)).toBe(-1);
    expect(rhazShift(3, 1)).toBe(2);
    expect(rhazShift(-3, 1)).toBe(-2);
    expect(rhazShift(5, 2)).toBe(1);
    expect(rhazShift(-6, 2)).toBe(-2);
  });

  it('saturation helpers', () => {
    expect([sat8(-129), sat8(-128), sat8(127), sat8(128)]).toEqual([-128, -128, 127, 127]);
    expect([sat16(-40000), sat16(40000)]).toEqual([-32768, 32767]);
    expect([sat32(-(2 ** 40)), sat32(2 ** 31)]).toEqual([-(2 ** 31), 2 ** 31 - 1]);
    expect([satBits(2 ** 21, 22), satBits(-(2 ** 21) - 1, 22), satBits(5, 22)]).toEqual([2 ** 21 - 1, -(2 ** 21), 5]);
    expect(clamp(5, 0, 3)).toBe(3);
  });
});

describe('wide products: mulShiftRne', () => {
  it('is exact against BigInt on int32, 2^32 and 2^53 operands, every shift 0..130 and ties', seeded(FILE, 'is exact against BigInt on int32, 2^32 and 2^53 operands, every shift 0..130 and ties', (rng) => {
    const xs = [...EDGE, ...EDGE.map((v) => -v)];
    for (let i = 0; i < 300; i++) xs.push(randSigned(rng, 32), randSigned(rng, 53));
    const ms = [0, 1, -1, 2 ** 30, -(2 ** 30), 2 ** 31 - 1, -(2 ** 31 - 1), 2 ** 31, -(2 ** 31), 2 ** 32, 1518500250, -1518500250];
    for (let i = 0; i < 20; i++) ms.push(randSigned(rng, 31));
    const ks = [0, 1, 2, 15, 16, 17, 30, 31, 32, 33, 40, 47, 48, 49, 53, 54, 60, 62, 63, 64, 65, 70, 100, 127, 130];
    for (const x of xs) {
      for (const m of ms) {
        for (const k of ks) {
          const got = mulShiftRne(x, m, k);
          const want = oRneShift(BigInt(x) * BigInt(m), k);
          const abs = want < 0n ? -want : want;
          if (abs < P2(53)) {
            if (BigInt(got) !== want) expect(`rne(${x}*${m}/2^${k}) = ${got}`).toBe(`rne(${x}*${m}/2^${k}) = ${want}`);
          } else {
            expect(Math.sign(got)).toBe(want < 0n ? -1 : 1);
            expect(Math.abs(got / Number(want) - 1)).toBeLessThan(2 ** -50);
          }
        }
      }
    }
    // exact ties: x * m = odd * 2^(k-1) -> even neighbour
    for (let k = 1; k <= 62; k++) {
      for (let i = 0; i < 40; i++) {
        const odd = 2n * randBig(rng, Math.max(1, Math.min(30, 62 - k))) + 1n;
        const p = odd * P2(k - 1);
        // split p into x (int32-ish) * m (2^j)
        const j = Math.min(k - 1, 31);
        const x = Number(p / P2(j));
        if (!Number.isSafeInteger(x)) continue;
        for (const s of [1, -1]) {
          const got = mulShiftRne(s * x, 2 ** j, k);
          const want = oRneShift(BigInt(s * x) * P2(j), k);
          if (BigInt(got) !== want) expect(`tie rne(${s * x}*2^${j}/2^${k}) = ${got}`).toBe(`= ${want}`);
        }
      }
    }
    expect(mulShiftRne(3, 5, -2)).toBe(60);
  }));

  it('BigInt helpers on int64 extremes and random 64..90-bit values', seeded(FILE, 'BigInt helpers on int64 extremes and random 64..90-bit values', (rng) => {
    const vs: bigint[] = [0n, 1n, -1n, P2(63) - 1n, -P2(63), P2(62), -P2(62) - 1n, P2(31), -P2(31)];
    for (let i = 0; i < 300; i++) vs.push(randBig(rng, randInt(rng, 1, 90)) * (rng() < 0.5 ? -1n : 1n));
    const ds: bigint[] = [1n, -1n, 2n, 3n, -3n, 768n, P2(31), -P2(31) + 1n, P2(63) - 1n];
    for (const a of vs) {
      for (const d of ds) {
        expect(floorDivBig(a, d)).toBe(oFloorDiv(a, d));
        if (d > 0n) expect(rneDivBig(a, d)).toBe(oRneDiv(a, d));
      }
      for (const k of [0, 1, 14, 31, 63, 64, 70, 100]) {
        expect(floorShiftBig(a, k)).toBe(oFloorDiv(a, P2(k)));
        expect(rneShiftBig(a, k)).toBe(oRneShift(a, k));
        expect(mulShiftRneBig(a, -1518500250n, k)).toBe(oRneShift(a * -1518500250n, k));
      }
    }
  }));

  it('rneShiftBig handles shift distances beyond 64 and negative shifts', () => {
    expect(rneShiftBig(P2(69) * 3n, 70)).toBe(2n);
    expect(rneShiftBig(-(P2(69) * 3n), 70)).toBe(-2n);
    expect(rneShiftBig(P2(69), 70)).toBe(0n);
    expect(rneShiftBig(P2(69) + 1n, 70)).toBe(1n);
    expect(rneShiftBig(5n, -3)).toBe(40n);
  });
});

describe('integer square root (paper Alg. 4, Newton)', () => {
  it('reproduces the worked example V = 1089462004', () => {
    expect(isqrt(1089462004)).toBe(33006);
    expect(isqrtBig(1089462004n)).toBe(33006n);
    // the spec's iterates: 5 decreasing steps plus the final check (6 divisions), not the paper's "at most four"
    expect(isqrtIterates(1089462004)).toEqual([65536, 41079, 33800, 33016, 33007, 33006, 33006]);
  });

  it('needs at most 6 divisions below 2^32 (spec section 8)', seeded(FILE, 'needs at most 6 divisions below 2^32 (spec section 8)', (rng) => {
    let worst = 0;
    for (let i = 0; i < 20000; i++) {
      const v = Math.floor(rng() * 2 ** randInt(rng, 1, 32));
      const it = isqrtIterates(v);
      worst = Math.max(worst, it.length - 1);
      if (v > 0) expect(it[it.length - 2]).toBe(isqrt(v));
    }
    expect(worst).toBeLessThanOrEqual(6);
    expect(worst).toBeGreaterThanOrEqual(5);
  }));

  it('equals floor(sqrt) on perfect squares +-1, powers of two and random values up to 2^62', seeded(FILE, 'equals floor(sqrt) on perfect squares +-1, powers of two and random values up to 2^62', (rng) => {
    const vs: bigint[] = [0n, 1n, 2n, 3n, 4n, 5n, 8n, 9n, 15n, 16n, 17n];
    for (let b = 0; b <= 62; b++) vs.push(P2(b) - 1n, P2(b), P2(b) + 1n);
    for (let r = 0; r <= 31; r++) {
      const base = P2(r);
      for (const s of [base - 1n, base, base + 1n, base + 12345n]) {
        if (s < 0n) continue;
        vs.push(s * s - 1n, s * s, s * s + 1n);
      }
    }
    for (let i = 0; i < 3000; i++) {
      const s = randBig(rng, randInt(rng, 1, 31));
      vs.push(s * s, s * s + 2n * s, s * s + 2n * s + 1n); // (s+1)^2 - 1 and (s+1)^2
      vs.push(randBig(rng, randInt(rng, 1, 62)));
    }
    for (const v of vs) {
      if (v < 0n || v > P2(62)) continue;
      const want = oIsqrt(v);
      const gotBig = isqrtBig(v);
      if (gotBig !== want) expect(`isqrtBig(${v}) = ${gotBig}`).toBe(`isqrtBig(${v}) = ${want}`);
      if (v <= BigInt(MAXSAFE)) {
        const got = isqrt(Number(v));
        if (BigInt(got) !== want) expect(`isqrt(${v}) = ${got}`).toBe(`isqrt(${v}) = ${want}`);
      }
    }
  }));

  it('bitLength', () => {
    expect([bitLength(0), bitLength(1), bitLength(2 ** 32 - 1), bitLength(2 ** 32), bitLength(MAXSAFE)]).toEqual([0, 1, 32, 33, 53]);
  });

  it('intToJson keeps safe integers as numbers and turns larger ones into decimal strings', () => {
    expect(intToJson(5)).toBe(5);
    expect(intToJson(2n ** 60n)).toBe('1152921504606846976');
    expect(intToJson(2 ** 60)).toBe('1152921504606846976');
    expect(intToJson(-7n)).toBe(-7);
  });
});

describe('requantDirect (the simulator issue\'s direct form)', () => {
  function oracle(x: readonly number[], m: readonly number[], e: readonly number[], bits: number): bigint[] {
    const lo = -P2(bits - 1);
    const hi = P2(bits - 1) - 1n;
    return x.map((v, i) => {
      return oClamp(oRneDiv(BigInt(v) * BigInt(m[i % m.length]!), P2(e[i % e.length]!)), lo, hi);
    });
  }

  it('matches the BigInt oracle on int32 extremes, 2^31 multipliers, every shift and all widths', seeded(FILE, 'matches the BigInt oracle on int32 extremes, 2^31 multipliers, every shift and all widths', (rng) => {
    const xs = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 12345, -12345, 2 ** 20, -(2 ** 20)];
    for (let i = 0; i < 200; i++) xs.push(randInt(rng, -(2 ** 31), 2 ** 31 - 1), randInt(rng, -(2 ** 20), 2 ** 20));
    const ms = [0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 30, 2 ** 31 - 1, randInt(rng, 2 ** 30, 2 ** 31), -randInt(rng, 2 ** 30, 2 ** 31)];
    for (const bits of [2, 8, 16, 22, 32]) {
      for (const m of ms) {
        for (let e = 0; e <= 127; e += e < 70 ? 1 : 19) {
          const got = requantDirect(xs, m, e, bits);
          const want = oracle(xs, [m], [e], bits);
          for (let i = 0; i < xs.length; i++) {
            if (BigInt(got[i]!) !== want[i]) expect(`x=${xs[i]} m=${m} e=${e} b=${bits}: ${got[i]}`).toBe(`${want[i]}`);
          }
        }
      }
    }
  }));

  it('handles exact ties (.5 to even) and per-channel arrays over the last dimension', seeded(FILE, 'handles exact ties (.5 to even) and per-channel arrays over the last dimension', (rng) => {
    // x * 2^30 / 2^31 = x/2: odd x are ties
    const xs = Array.from({ length: 64 }, (_, i) => i - 32);
    const got = requantDirect(xs, 2 ** 30, 31, 8);
    xs.forEach((x, i) => expect(BigInt(got[i]!)).toBe(oRneDiv(BigInt(x), 2n)));
    expect(Array.from(requantDirect([1, 3, -1, -3, 5], 1, 1, 8))).toEqual([0, 2, 0, -2, 2]);
    const C = 5;
    const m = Array.from({ length: C }, () => randInt(rng, -(2 ** 31), 2 ** 31));
    const e = Array.from({ length: C }, () => randInt(rng, 25, 45));
    const x = Array.from({ length: C * 7 }, () => randInt(rng, -(2 ** 31), 2 ** 31 - 1));
    const y = requantDirect(x, m, e, 8);
    const w = oracle(x, m, e, 8);
    x.forEach((_, i) => expect(BigInt(y[i]!)).toBe(w[i]));
    // scalar multiplier with per-channel shifts
    const y2 = requantDirect(x, 2 ** 30, e, 16);
    const w2 = oracle(x, [2 ** 30], e, 16);
    x.forEach((_, i) => expect(BigInt(y2[i]!)).toBe(w2[i]));
  }));

  it('rejects out-of-range arguments', () => {
    expect(() => requantDirect([1], 2 ** 31 + 1, 3, 8)).toThrow(/multiplier/);
    expect(() => requantDirect([1], 1, 128, 8)).toThrow(/shift/);
    expect(() => requantDirect([2 ** 31], 1, 3, 8)).toThrow(/x_int\[0\]/);
    expect(() => requantDirect([1, 2, 3], [1, 2], 3, 8)).toThrow(/multiple/);
    expect(() => requantDirect([1], 1, 3, 33)).toThrow(/bits/);
  });
});

describe('linearRef', () => {
  function oracle(x: Int8Array, w: Int8Array, b: ArrayLike<number>, M: number, K: number, N: number): bigint[] {
    const out: bigint[] = [];
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let s = BigInt(b[n]!);
      for (let k = 0; k < K; k++) s += BigInt(x[m * K + k]!) * BigInt(w[n * K + k]!);
      out.push(s);
    }
    return out;
  }
  const wrap32 = (v: bigint): bigint => BigInt.asIntN(32, v);

  it('matches the oracle for odd shapes, extremes and bias wrap-around', seeded(FILE, 'matches the oracle for odd shapes, extremes and bias wrap-around', (rng) => {
    const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [4, 4, 4], [9, 33, 6], [17, 64, 13], [8, 3072, 5], [5, 1, 9]];
    for (const [M, K, N] of shapes) {
      for (const mode of ['random', 'min', 'max', 'mixed'] as const) {
        const gen = (i: number): number => mode === 'random' ? randInt(rng, -128, 127) : mode === 'min' ? -128 : mode === 'max' ? 127 : (i % 2 ? -128 : 127);
        const x = Int8Array.from({ length: M * K }, (_, i) => gen(i));
        const w = Int8Array.from({ length: N * K }, (_, i) => mode === 'mixed' ? -128 : gen(i + 1));
        const b = Int32Array.from({ length: N }, (_, n) => n === 0 ? 2 ** 31 - 1 : n === 1 ? -(2 ** 31) : randInt(rng, -(2 ** 31), 2 ** 31 - 1));
        const got = linearRef(x, w, b, M, K, N);
        const want = oracle(x, w, b, M, K, N);
        want.forEach((v, i) => {
          if (BigInt(got[i]!) !== wrap32(v)) expect(`[${M},${K},${N}] ${mode} y[${i}] = ${got[i]}`).toBe(`${wrap32(v)}`);
        });
        // the non-wrapping accumulator keeps the exact value (and accepts the 2^31 saturated bias)
        const bq = Array.from(b, (v, n) => (n === 2 ? 2 ** 31 : v));
        const acc = linearAcc(x, w, bq, M, K, N);
        const wantAcc = oracle(x, w, bq, M, K, N);
        wantAcc.forEach((v, i) => expect(BigInt(acc[i]!)).toBe(v));
      }
    }
  }));

  it('rejects inconsistent shapes', () => {
    expect(() => linearRef(new Int8Array(6), new Int8Array(6), new Int32Array(2), 2, 3, 3)).toThrow(/weight/);
  });
});
