// Integer kernels (requant with identity, i-GELU, i-softmax, IntLayerNorm, embedding) and the kernel-case runner,
// element by element against the BigInt transcriptions in oracles.ts, on edge values and seeded random inputs.

import { describe, expect, it } from 'vitest';
import { KernelInputError } from '../../../kernels/ref/errors.js';
import { fl32, foldGelu, foldLayerNorm, foldQuantAct, foldSoftmax } from '../../../kernels/ref/fold.js';
import { embeddingLookup } from '../../../kernels/ref/embedding.js';
import { geluApply } from '../../../kernels/ref/gelu.js';
import { layerNormApply } from '../../../kernels/ref/layernorm.js';
import { requantApply } from '../../../kernels/ref/requant.js';
import { softmaxApply } from '../../../kernels/ref/softmax.js';
import { runReferenceCase, type RefCaseResult } from '../../../kernels/ref/cases.js';
import { gauss, P2, randBig, randInt, seeded, type Rng } from './helpers.js';
import { oGelu, oLayerNormRow, oLinear, oRequant, oSoftmaxRow } from './oracles.js';

const FILE = 'test/kernels/ref/kernels.test.ts';
const I32 = [0, 1, -1, 2, -2, 2 ** 31 - 1, -(2 ** 31), 2 ** 30, -(2 ** 30), 12345, -54321];

function int32s(rng: Rng, n: number, bits = 31): number[] {
  const out = [...I32];
  while (out.length < n) out.push(randInt(rng, -(2 ** bits), 2 ** bits - 1));
  return out.slice(0, n);
}

function expectAll(got: ArrayLike<number | bigint>, want: readonly bigint[], what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (BigInt(got[i]!) !== want[i]) expect(`${what}[${i}] = ${got[i]}`).toBe(`${what}[${i}] = ${want[i]}`);
  }
}

describe('requantApply (QuantAct run time)', () => {
  it('per-channel (negative) multipliers, identity term rounded separately, 8/16/22-bit clamps', seeded(FILE, 'per-channel (negative) multipliers, identity term rounded separately, 8/16/22-bit clamps', (rng) => {
    for (const bits of [8, 16, 22]) {
      const C = 7;
      const sIn = Array.from({ length: C }, (_, c) => (c % 3 === 0 ? -1 : 1) * fl32(1e-5 * (1 + rng())));
      const q = foldQuantAct({ bits, x_min: -3, x_max: 2.5 }, sIn, 0.02);
      const x = Int32Array.from(int32s(rng, C * 40, 24));
      const w = Int8Array.from({ length: x.length }, () => randInt(rng, -128, 127));
      const y = requantApply(x, q, { w, m: q.mId!, e: q.eId! });
      const want = Array.from(x, (v, i) => oRequant(BigInt(v), q.m[i % C]!, q.e[i % C]!, bits, { w: BigInt(w[i]!), m: q.mId!, e: q.eId! }));
      expectAll(y, want, `bits ${bits}`);
    }
  }));

  it('64-bit inputs (GELU outputs) beyond 2^53 are exact', seeded(FILE, '64-bit inputs (GELU outputs) beyond 2^53 are exact', (rng) => {
    const x = new BigInt64Array(300);
    for (let i = 0; i < x.length; i++) x[i] = (randBig(rng, randInt(rng, 1, 62)) * (rng() < 0.5 ? -1n : 1n));
    x[0] = (1n << 63n) - 1n;
    x[1] = -(1n << 63n);
    const m = [-(2 ** 31), 2 ** 31, -1518500250];
    const e = [60, 93, 127];
    const y = requantApply(x, { bits: 16, m, e });
    expectAll(y, Array.from(x, (v, i) => oRequant(v, m[i % 3]!, e[i % 3]!, 16)), 'wide');
  }));

  it('int32 inputs: every shift 0..60, small and 31-bit multipliers (exact double products and wider), 32-bit clamp', seeded(FILE, 'int32 inputs: every shift 0..60', (rng) => {
    // per channel: shifts 0..60 with multipliers from 1 to 2^31 (products below and above 2^53), signs mixed
    const e = Array.from({ length: 61 }, (_, k) => k);
    const m = e.map((k) => (k % 2 ? -1 : 1) * (k % 3 === 0 ? randInt(rng, 1, 2 ** 12) : k % 3 === 1 ? randInt(rng, 2 ** 20, 2 ** 31) : 2 ** 31));
    const C = e.length;
    const x = Int32Array.from(int32s(rng, C * 30));
    for (let i = 0; i < 3 * C; i++) x[i] = i % 2 ? (1 << (e[i % C]! > 0 ? Math.min(e[i % C]! - 1, 30) : 0)) : -(3 << Math.min(Math.max(e[i % C]! - 1, 0), 29)); // ties
    const w = Int8Array.from({ length: x.length }, () => randInt(rng, -128, 127));
    for (const bits of [8, 32]) {
      const y = requantApply(x, { bits, m, e });
      expectAll(y, Array.from(x, (v, i) => oRequant(BigInt(v), m[i % C]!, e[i % C]!, bits)), `bits ${bits}`);
      const yi = requantApply(x, { bits, m, e }, { w, m: 1518500250, e: 37 });
      expectAll(yi, Array.from(x, (v, i) => oRequant(BigInt(v), m[i % C]!, e[i % C]!, bits, { w: BigInt(w[i]!), m: 1518500250, e: 37 })), `bits ${bits} + identity`);
    }
  }));

  it('64-bit inputs below 2^53 (the exact-double path): every sign and word pattern, shifts from 0 to 127', seeded(FILE, '64-bit inputs below 2^53', (rng) => {
    const x = new BigInt64Array(600);
    for (let i = 0; i < x.length; i++) x[i] = randBig(rng, randInt(rng, 1, 52)) * (rng() < 0.5 ? -1n : 1n);
    x[0] = (1n << 53n) - 1n;
    x[1] = -((1n << 53n) - 1n) + (1n << 32n);
    x[2] = -(1n << 32n) - 1n; // low word with its top bit set
    x[3] = (1n << 31n) + 5n;
    const m = [-(2 ** 31), 2 ** 31, -1518500250, 1518500250, 3, -7];
    const e = [60, 93, 127, 20, 0, 1];
    for (const bits of [8, 32]) {
      const y = requantApply(x, { bits, m, e });
      expectAll(y, Array.from(x, (v, i) => oRequant(v, m[i % 6]!, e[i % 6]!, bits)), `bits ${bits}`);
    }
  }));

  it('near-ties beyond 2^53: x m = (2k+1) 2^(e-1) + d, d in -2..2, where the double product rounds onto the tie', seeded(FILE, 'near-ties beyond 2^53', (rng) => {
    // x = (2^(e-1) + d) m^-1 mod 2^e (m odd) puts x m / 2^e at d / 2^e from a half-integer; x m >= 2^53 mostly, so
    // fl(x m) 2^-e lands on the half-integer itself and only the exact product's side decides the rounding.
    const inv = (m: bigint, mod: bigint): bigint => {
      let [a, b, x0, x1] = [m % mod, mod, 1n, 0n];
      while (b !== 0n) { const q = a / b; [a, b, x0, x1] = [b, a - q * b, x1, x0 - q * x1]; }
      return ((x0 % mod) + mod) % mod;
    };
    for (const [e, wide] of [[31, false], [40, true], [47, true]] as const) {
      const n = 400;
      const m: number[] = [], xs: bigint[] = [];
      for (let i = 0; i < n; i++) {
        const mi = 2 * randInt(rng, 2 ** 29, 2 ** 30 - 1) + 1;
        const mod = 1n << BigInt(e);
        const d = BigInt(randInt(rng, -2, 2));
        let x = ((((1n << BigInt(e - 1)) + d) % mod + mod) % mod) * inv(BigInt(mi), mod) % mod;
        if (!wide && x >= 1n << 31n) x -= mod; // int32: the congruent value in [-2^31, 2^31)
        if (rng() < 0.5) x = -x;
        m.push(rng() < 0.5 ? -mi : mi);
        xs.push(x);
      }
      const es = m.map(() => e);
      const x = wide ? BigInt64Array.from(xs) : Int32Array.from(xs, Number);
      const y = requantApply(x, { bits: 32, m, e: es });
      expectAll(y, xs.map((v, i) => oRequant(v, m[i]!, e, 32)), `e ${e}`);
      const w = Int8Array.from(xs, () => randInt(rng, -128, 127));
      const yi = requantApply(x, { bits: 32, m, e: es }, { w, m: 1518500250, e: 31 });
      expectAll(yi, xs.map((v, i) => oRequant(v, m[i]!, e, 32, { w: BigInt(w[i]!), m: 1518500250, e: 31 })), `e ${e} + identity`);
    }
  }));

  it('ties go to even: x m / 2^e = n + 1/2', () => {
    const x = Int32Array.from([1, 3, 5, -1, -3, -5, 7]);
    const y = requantApply(x, { bits: 8, m: [2 ** 30], e: [31] });
    expect(Array.from(y)).toEqual([0, 2, 2, 0, -2, -2, 4]);
  });
});

describe('i-GELU', () => {
  it('matches the spec formula on int32 extremes for realistic, tiny and coarse scales (per channel)', seeded(FILE, 'matches the spec formula on int32 extremes for realistic, tiny and coarse scales (per channel)', (rng) => {
    const S = [1e-3, 2.4e-4, 1e-4, 5.7e-5, 1e-5, 2e-6, 1e-6, 8 / 127, fl32(3.3e-4)];
    const k = foldGelu(S);
    const C = S.length;
    const x = Int32Array.from(int32s(rng, C * 300));
    for (let i = 0; i < 200; i++) x[randInt(rng, 0, x.length - 1)] = randInt(rng, -3000, 3000); // around q_b
    const y = geluApply(x, k);
    expectAll(y, Array.from(x, (v, i) => oGelu(BigInt(v), k.qb[i % C]!, k.qc[i % C]!, k.q1[i % C]!)), 'gelu');
    // the sign trap: S_out < 0, so a large positive input gives a negative integer output
    const pos = geluApply(Int32Array.from([2000]), foldGelu(1e-3));
    expect(pos[0]! < 0n).toBe(true);
  }));

  it('values of x = 0 and around -q_b (the erf clip) are exact', () => {
    const k = foldGelu(1e-3);
    const qb = k.qb[0]!;
    const xs = [0, -qb - 1, -qb, -qb + 1, qb - 1, qb, qb + 1];
    const y = geluApply(Int32Array.from(xs), k);
    expectAll(y, xs.map((v) => oGelu(BigInt(v), qb, k.qc[0]!, k.q1[0]!)), 'clip');
    expect(y[0]).toBe(0n);
  });

  it('int32 inputs on the integer path: products beyond 2^53 stay exact, beyond int64 they throw', seeded(FILE, 'int32 inputs on the integer path', (rng) => {
    // q_b^2 + |q_c| < 2^31 (the `>> 14` path) with |q_1| up to 2^31: x (t + q_1) reaches 2^62
    const k = { qb: [-1000, -30000, -40000], qc: [-5000, 2 ** 29, -(2 ** 27)], q1: [2 ** 31 - 7, -(2 ** 30), 123456] };
    const x = Int32Array.from(int32s(rng, 3 * 200));
    const y = geluApply(x, k);
    expectAll(y, Array.from(x, (v, i) => oGelu(BigInt(v), k.qb[i % 3]!, k.qc[i % 3]!, k.q1[i % 3]!)), 'wide');
    expect(() => geluApply(Int32Array.from([5, -(2 ** 31)]), { qb: [-1000], qc: [-5000], q1: [2 ** 40] })).toThrow(/exceeds int64/);
  }));
});

describe('i-softmax', () => {
  const rowsOf = (x: ArrayLike<number>, L: number): bigint[][] => {
    const rows: bigint[][] = [];
    for (let b = 0; b < x.length; b += L) rows.push(Array.from({ length: L }, (_, j) => BigInt(x[b + j]!)));
    return rows;
  };

  it('matches the spec for rows of 1, 3, 17 and 128, scores from tiny to int32 extremes', seeded(FILE, 'matches the spec for rows of 1, 3, 17 and 128, scores from tiny to int32 extremes', (rng) => {
    for (const S of [3.125e-4, 1.25e-3, 0.05, 1e-4]) {
      const k = foldSoftmax(S);
      for (const L of [1, 3, 17, 128]) {
        const R = 6;
        const x = Int32Array.from({ length: L * R }, (_, i) => {
          const r = Math.floor(i / L);
          if (r === 0) return randInt(rng, -(2 ** 31), 2 ** 31 - 1);
          if (r === 1) return randInt(rng, -5, 5);
          if (r === 2) return 7; // a flat row
          return Math.round((gauss(rng) * (r * 1.5)) / S);
        });
        const res = softmaxApply(x, L, k);
        const want = rowsOf(x, L).map((row) => oSoftmaxRow(row, k));
        expectAll(res.y, want.flatMap((w) => w.y), `S=${S} L=${L} y`);
        expectAll(res.e16, want.flatMap((w) => w.e16), `S=${S} L=${L} e16`);
        for (const v of res.y) expect(v >= 0 && v <= 256).toBe(true);
        // fixed-point calibration: the row maximum maps to 32767
        for (let r = 0; r < R; r++) expect(Math.max(...res.e16.subarray(r * L, (r + 1) * L))).toBe(32767);
      }
    }
    expect(foldSoftmax(3.125e-4).qLn2).toBe(-2218);
  }));

  it('constants outside the one-multiply path (negative shifts, a negative M, wide q_c) take the general loop, still exact', seeded(FILE, 'constants outside the one-multiply path', (rng) => {
    const base = foldSoftmax(1.25e-3);
    const L = 17;
    const x = Int32Array.from({ length: L * 5 }, () => Math.round((gauss(rng) * 4) / 1.25e-3));
    for (const k of [{ ...base, E31: 35 }, { ...base, M: -base.M }, { ...base, qc: 2 ** 53 + 2 ** 40 }, { ...base, E31: 1100 }]) {
      const res = softmaxApply(x, L, k);
      const want = rowsOf(x, L).map((row) => oSoftmaxRow(row, k));
      expectAll(res.e16, want.flatMap((w) => w.e16), `E31 ${k.E31} M ${k.M} e16`);
      expectAll(res.y, want.flatMap((w) => w.y), `E31 ${k.E31} M ${k.M} y`);
    }
  }));

  it('masks per key (broadcast) and per element; fully masked rows are uniform', seeded(FILE, 'masks per key (broadcast) and per element; fully masked rows are uniform', (rng) => {
    const S = 3.125e-4;
    const k = foldSoftmax(S);
    const L = 10;
    const R = 4;
    const x = Int32Array.from({ length: L * R }, () => Math.round(gauss(rng) / S));
    const keyMask = [1, 1, 1, 0, 1, 1, 1, 1, 0, 0];
    const res = softmaxApply(x, L, k, keyMask);
    const want = rowsOf(x, L).map((row) => oSoftmaxRow(row, k, keyMask));
    expectAll(res.y, want.flatMap((w) => w.y), 'key mask');
    for (let r = 0; r < R; r++) for (const j of [3, 8, 9]) expect(res.y[r * L + j]).toBe(0);
    const elMask = Array.from({ length: L * R }, (_, i) => (i < L ? 0 : rng() < 0.3 ? 0 : 1));
    const res2 = softmaxApply(x, L, k, elMask);
    const want2 = rowsOf(x, L).map((row, r) => oSoftmaxRow(row, k, elMask.slice(r * L, (r + 1) * L)));
    expectAll(res2.y, want2.flatMap((w) => w.y), 'element mask');
    expect(new Set(res2.y.subarray(0, L)).size).toBe(1); // fully masked row 0: uniform
  }));

  it('the folded 31-bit M agrees with the exact rational R = m / (2^e S_exp) to +-1 (section 7)', seeded(FILE, 'the folded 31-bit M agrees with the exact rational R = m / (2^e S_exp) to +-1 (section 7)', (rng) => {
    let n = 0;
    let differ = 0;
    for (const S of [3.125e-4, 1.25e-3, 1e-4, fl32(2.3e-4)]) {
      const k = foldSoftmax(S);
      // S_exp as an exact dyadic rational Ns / 2^ks
      let ns = k.sExp;
      let ks = 0;
      while (!Number.isInteger(ns)) {
        ns *= 2;
        ks += 1;
      }
      const L = 128;
      const x = Int32Array.from({ length: L * 40 }, () => Math.round((gauss(rng) * 3) / S));
      const res = softmaxApply(x, L, k);
      for (let r = 0; r < 40; r++) {
        let max = -Infinity;
        for (let j = 0; j < L; j++) max = Math.max(max, x[r * L + j]!);
        for (let j = 0; j < L; j++) {
          let t = BigInt(x[r * L + j]! - max);
          const lo = 30n * BigInt(k.qLn2);
          if (t < lo) t = lo;
          const q = t / BigInt(k.qLn2); // both <= 0: truncation is the floor here
          const rr = t - BigInt(k.qLn2) * q;
          const z = (rr + BigInt(k.qb)) * rr + BigInt(k.qc);
          const E = z * P2(30 - Number(q));
          // rne(E m / (2^e S_exp)) = rne(E m 2^ks / (2^e Ns))
          const num = E * BigInt(k.m) * P2(ks);
          const den = P2(k.e) * BigInt(ns);
          const qq = num / den;
          const r2 = 2n * (num - qq * den);
          const exact = r2 > den || (r2 === den && qq % 2n === 1n) ? qq + 1n : qq;
          const e16 = BigInt(res.e16[r * L + j]!);
          const ex = exact > 32767n ? 32767n : exact;
          n++;
          if (e16 !== ex) {
            differ++;
            expect(e16 - ex === 1n || ex - e16 === 1n).toBe(true);
          }
        }
      }
    }
    expect(differ / n).toBeLessThan(1e-3);
  }));

  it('reaches 256 only for a single power-of-two e16 (a calibration with x_max = 2 q_c 2^30)', () => {
    const S = 3.125e-4;
    const qc = Math.floor(2.792114744077415 / (S * S));
    const k = foldSoftmax(S, { bits: 16, x_min: 0, x_max: 2 * qc * 2 ** 30 });
    const res = softmaxApply(Int32Array.from([5000, -(2 ** 31), 0]), 3, k, [1, 1, 0]);
    expect(res.e16[0]).toBe(16384);
    expect(Array.from(res.y)).toEqual([256, 0, 0]);
    expect(oSoftmaxRow([5000n, -(2n ** 31n), 0n], k, [1, 1, 0]).y).toEqual([256n, 0n, 0n]);
    // a far too large inner range rounds every e16 to 0: defined as an all-zero row
    const k0 = foldSoftmax(S, { bits: 16, x_min: 0, x_max: 1e30 });
    expect(Array.from(softmaxApply(Int32Array.from([1, 2]), 2, k0).y)).toEqual([0, 0]);
  });
});

describe('IntLayerNorm', () => {
  function check(x: Int32Array, gamma: number[], beta: number[], shift: number, what: string): BigInt64Array {
    const k = foldLayerNorm(gamma, beta, shift);
    const C = gamma.length;
    const y = layerNormApply(x, k);
    const want: bigint[] = [];
    for (let b = 0; b < x.length; b += C) want.push(...oLayerNormRow(Array.from(x.subarray(b, b + C), (v) => BigInt(v)), k.qBeta, shift));
    expectAll(y, want, what);
    return y;
  }

  it('matches the spec on hidden sizes 1, 5, 30, 33, 768 with 22-bit, 16-bit and int32-extreme rows', seeded(FILE, 'matches the spec on hidden sizes 1, 5, 30, 33, 768 with 22-bit, 16-bit and int32-extreme rows', (rng) => {
    for (const C of [1, 5, 30, 33, 768]) {
      const gamma = Array.from({ length: C }, (_, c) => (c % 4 === 1 ? -1 : 1) * fl32(0.5 + rng()));
      const beta = Array.from({ length: C }, () => fl32(gauss(rng) * 0.3));
      const R = 6;
      const x = Int32Array.from({ length: C * R }, (_, i) => {
        const r = Math.floor(i / C);
        if (r === 0) return randInt(rng, -(2 ** 21), 2 ** 21 - 1);
        if (r === 1) return randInt(rng, -(2 ** 15), 2 ** 15 - 1);
        if (r === 2) return rng() < 0.5 ? 2 ** 31 - 1 : -(2 ** 31); // V near C 2^62: the BigInt path
        if (r === 3) return randInt(rng, -3, 3); // tiny: the integer mean dominates
        return Math.round(gauss(rng) * 2 ** 17);
      });
      for (const shift of [0, 3, 7]) check(x, gamma, beta, shift, `C=${C} shift=${shift}`);
    }
  }));

  it('reproduces the worked isqrt magnitude, mean ties to even, and constant rows give q_beta', () => {
    const gamma = [1, -2, 0.5, 1];
    const beta = [0.25, 0.5, -1, 0];
    // mean 0.5 -> 0 and 1.5 -> 2 (ties to even)
    check(Int32Array.from([1, 0, 0, 1, 3, 0, 0, 3]), gamma, beta, 0, 'ties');
    const k = foldLayerNorm(gamma, beta, 0);
    const y = check(Int32Array.from([5, 5, 5, 5, -7, -7, -7, -7]), gamma, beta, 0, 'constant');
    expect(Array.from(y, Number)).toEqual([...k.qBeta, ...k.qBeta]);
    // with a shift, |y| < 2^shift rounds every ys to 0 or -1; all-zero ys also gives sigma = 0 -> q_beta
    const y2 = check(Int32Array.from([0, 0, 0, 1]), gamma, beta, 4, 'shifted to zero');
    expect(Array.from(y2, Number)).toEqual(foldLayerNorm(gamma, beta, 4).qBeta);
  });

  it('channels with |beta/gamma| > 55 exceed int32 and stay exact (q_beta above 2^53 too)', seeded(FILE, 'channels with |beta/gamma| > 55 exceed int32 and stay exact (q_beta above 2^53 too)', (rng) => {
    const C = 30;
    const gamma = Array.from({ length: C }, (_, c) => (c === 0 ? 1e-3 : c === 1 ? -1e-9 : 1));
    const beta = Array.from({ length: C }, (_, c) => (c < 2 ? 1 : 0.1));
    const x = Int32Array.from({ length: C * 3 }, () => randInt(rng, -(2 ** 21), 2 ** 21 - 1));
    const y = check(x, gamma, beta, 0, 'big q_beta');
    expect(y[0]! > 2n ** 31n).toBe(true);
    expect(y[1]! < -(2n ** 53n)).toBe(true);
  }));

  it('sigma > 2^31 makes f = 0 and the row collapses to q_beta, as in HF', () => {
    const C = 4;
    const x = Int32Array.from([2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 1, -(2 ** 31)]);
    const k = foldLayerNorm([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], 0);
    expect(Array.from(layerNormApply(x, k), Number)).toEqual(k.qBeta);
    expect(C).toBe(4);
  });
});

describe('embedding lookup', () => {
  it('copies table rows and rejects ids out of range', () => {
    const table = Int8Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(embeddingLookup(table, 2, [2, 0, 2]))).toEqual([5, 6, 1, 2, 5, 6]);
    expect(() => embeddingLookup(table, 2, [3])).toThrow(KernelInputError);
  });
});

describe('runReferenceCase', () => {
  const big = (r: RefCaseResult): bigint[] => r.y_int.map((v) => BigInt(v));

  it('requant, both forms, flat and nested, per-channel', seeded(FILE, 'requant, both forms, flat and nested, per-channel', (rng) => {
    const x = [[5, -7, 2 ** 31 - 1], [-(2 ** 31), 3, 9]];
    const direct = runReferenceCase('requant', { x_int: x, multiplier: [2 ** 30, -(2 ** 31), 12345], shift: [31, 33, 7], bits: 8 });
    expect(direct.shape).toEqual([2, 3]);
    expect(big(direct)).toEqual(x.flat().map((v, i) => oRequant(BigInt(v), [2 ** 30, -(2 ** 31), 12345][i % 3]!, [31, 33, 7][i % 3]!, 8)));
    expect(direct.scale_out).toEqual([2 ** 31 / 2 ** 30, 2 ** 33 / -(2 ** 31), 2 ** 7 / 12345]);
    const xs = int32s(rng, 12, 20);
    const act = runReferenceCase('requant', { x_int: xs, shape: [3, 4], scale_in: [1e-4, -2e-4, 3e-4, 4e-4], bits: 8, x_min: -1, x_max: 2, identity_int: xs.map((v) => v % 100), identity_scale: 0.01 });
    const q = foldQuantAct({ bits: 8, x_min: -1, x_max: 2 }, [1e-4, -2e-4, 3e-4, 4e-4], 0.01);
    expect(big(act)).toEqual(xs.map((v, i) => oRequant(BigInt(v), q.m[i % 4]!, q.e[i % 4]!, 8, { w: BigInt(v % 100), m: q.mId!, e: q.eId! })));
    expect(act.scale_out).toBe(2 / 127);
    // 64-bit inputs as decimal strings
    const wide = runReferenceCase('requant', { x_int: ['-9223372036854775808', '123456789012345678', 5], scale_in: 1e-12, bits: 16, x_min: -1, x_max: 1 });
    expect(wide.y_int).toEqual([-32768, 32767, 0]);
  }));

  it('gelu returns int64 outputs beyond 2^53 as strings; softmax, layernorm and linear agree with the oracles', seeded(FILE, 'gelu returns int64 outputs beyond 2^53 as strings; softmax, layernorm and linear agree with the oracles', (rng) => {
    const g = runReferenceCase('gelu', { x_int: [2 ** 31 - 1, -5, 0], scale_in: 1e-6 });
    const kg = foldGelu(1e-6);
    expect(big(g)).toEqual([2 ** 31 - 1, -5, 0].map((v) => oGelu(BigInt(v), kg.qb[0]!, kg.qc[0]!, kg.q1[0]!)));
    expect(typeof g.y_int[0]).toBe('string');
    expect(g.scale_out).toBe(kg.scaleOut[0]);
    const xs = Array.from({ length: 24 }, () => randInt(rng, -4000, 4000));
    const sm = runReferenceCase('softmax', { x_int: xs, shape: [2, 12], scale_in: 3.125e-4, mask: Array.from({ length: 12 }, (_, j) => (j < 10 ? 1 : 0)) });
    const ks = foldSoftmax(3.125e-4);
    expect(big(sm)).toEqual([0, 12].flatMap((b) => oSoftmaxRow(xs.slice(b, b + 12).map(BigInt), ks, Array.from({ length: 12 }, (_, j) => (j < 10 ? 1 : 0))).y));
    expect(sm.scale_out).toBe(1 / 256);
    expect(sm.consts['q_ln2']).toBe(-2218);
    const gamma = [1, -0.5, 2], beta = [0.1, 0.2, -0.3];
    const ln = runReferenceCase('layernorm', { x_int: [[100, -200, 50], [7, 7, 7]], gamma, beta, shift: 1 });
    const kl = foldLayerNorm(gamma, beta, 1);
    expect(big(ln)).toEqual([...oLayerNormRow([100n, -200n, 50n], kl.qBeta, 1), ...kl.qBeta.map(BigInt)]);
    expect(ln.scale_out).toEqual(kl.scaleOut);
    const x = Array.from({ length: 3 * 5 }, () => randInt(rng, -128, 127));
    const w = Array.from({ length: 4 * 5 }, () => randInt(rng, -128, 127));
    const b = [2 ** 31, -(2 ** 31), 5, 0];
    const lin = runReferenceCase('linear', { x_int: [x.slice(0, 5), x.slice(5, 10), x.slice(10)], weight_int: w, bias_int: b });
    expect(lin.shape).toEqual([3, 4]);
    expect(big(lin)).toEqual(oLinear(x, w, b, 3, 5, 4));
    const lin2 = runReferenceCase('linear', { x_int: x, weight_int: w, bias_int: b, M: 3, K: 5, N: 4, scale_x: 0.1, weight_scale: [0.01, 0.02, 0.03, 0.04] });
    expect(lin2.scale_out).toEqual([0.01, 0.02, 0.03, 0.04].map((s) => fl32(s * 0.1)));
  }));

  it('bad input throws KernelInputError (exit code 1) naming the zod path', () => {
    const bad = (kernel: string, input: unknown, pattern: RegExp): void => {
      let err: unknown;
      try {
        runReferenceCase(kernel, input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KernelInputError);
      const k = err as KernelInputError;
      expect(k.exitCode).toBe(1);
      expect(k.name).toBe('KernelInputError');
      expect(k.message).toMatch(pattern);
    };
    bad('requant', { x_int: [1, 2], multiplier: 2 ** 31 + 1, shift: 3, bits: 8 }, /multiplier/);
    bad('requant', { x_int: [1, 2.5], multiplier: 1, shift: 3, bits: 8 }, /x_int\[1\]/);
    bad('gelu', { x_int: [[1, 2], [3, 'x']], scale_in: 1e-3 }, /x_int\[1\]/);
    bad('gelu', { x_int: [[1, 2], [3]], scale_in: 1e-3 }, /ragged/);
    bad('softmax', { x_int: [1, 2], scale_in: -1 }, /scale_in/);
    bad('layernorm', { x_int: [1, 2], gamma: [1], beta: [0] }, /gamma/);
    bad('linear', { x_int: [1, 2], weight_int: [300], bias_int: [0] }, /weight_int\[0\]/);
    bad('requant', { x_int: [1], scale_in: 1, bits: 8, x_min: 0 }, /x_max/);
    bad('nope', {}, /kernel/);
    bad('gelu', null, /expected object/i);
  });
});
