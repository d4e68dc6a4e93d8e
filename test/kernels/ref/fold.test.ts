// Compile-time folding: the spec's worked values, frexp31 edge cases, the weight/bias quantization quirks, and every
// constant recomputed from the spec's float64 formulas transcribed here.

import { describe, expect, it } from 'vitest';
import {
  actScale, attentionScoreScale, biasScale, contextScale, EXP_B_OVER_A, EXP_C_OVER_A, fl32, foldGelu, foldLayerNorm,
  foldQuantAct, foldSoftmax, frexp, frexp31, GELU_C_OVER_A, pyfloordiv, quantizeSymmetric, quantizeSymmetricInt8, quantizeWithScale, rhazFloat,
  rneFloat, softmaxFixedPointRange,
} from '../../../kernels/ref/fold.js';
import { oFrexp31 } from './oracles.js';
import { gauss, seeded } from './helpers.js';

const FILE = 'test/kernels/ref/fold.test.ts';

describe('frexp and frexp31 (section 3)', () => {
  it('frexp matches C semantics, including subnormals', () => {
    expect(frexp(1)).toEqual({ mu: 0.5, k: 1 });
    expect(frexp(-3)).toEqual({ mu: -0.75, k: 2 });
    expect(frexp(1 - 2 ** -33)).toEqual({ mu: 1 - 2 ** -33, k: 0 });
    expect(frexp(5e-324)).toEqual({ mu: 0.5, k: -1073 });
    expect(frexp(0)).toEqual({ mu: 0, k: 0 });
  });

  it('frexp31 edge cases: m = 2^31, negative m, ties away from zero, zero', () => {
    // |mu| >= 1 - 2^-32 rounds up to 2^31 (section 3)
    expect(frexp31(1 - 2 ** -33)).toEqual({ m: 2 ** 31, e: 31 });
    expect(frexp31(1 - 2 ** -32)).toEqual({ m: 2 ** 31, e: 31 });
    expect(frexp31(-(1 - 2 ** -33))).toEqual({ m: -(2 ** 31), e: 31 });
    expect(frexp31(1 - 2 ** -31)).toEqual({ m: 2 ** 31 - 1, e: 31 });
    // exact ties: mu * 2^31 = n + 1/2 rounds away from zero for both signs (ROUND_HALF_UP)
    const tie = (2 ** 30 + 0.5) / 2 ** 31; // mu = 0.5 + 2^-32
    expect(frexp31(tie)).toEqual({ m: 2 ** 30 + 1, e: 31 });
    expect(frexp31(-tie)).toEqual({ m: -(2 ** 30 + 1), e: 31 });
    const tie2 = (2 ** 30 + 2.5) / 2 ** 31;
    expect(frexp31(tie2 * 8)).toEqual({ m: 2 ** 30 + 3, e: 28 });
    expect(frexp31(0)).toEqual({ m: 0, e: 31 });
    expect(frexp31(0.5)).toEqual({ m: 2 ** 30, e: 31 });
    expect(frexp31(2 ** -40)).toEqual({ m: 2 ** 30, e: 70 });
    expect(rhazFloat(-2.5)).toBe(-3);
    expect(rneFloat(-2.5)).toBe(-2);
    expect(rneFloat(2.5)).toBe(2);
    expect(rneFloat(3.5)).toBe(4);
  });

  it('frexp31 agrees with an exact BigInt decomposition on random ratios', seeded(FILE, 'frexp31 agrees with an exact BigInt decomposition on random ratios', (rng) => {
    for (let i = 0; i < 20000; i++) {
      const r = (rng() < 0.5 ? -1 : 1) * rng() * 2 ** Math.floor(rng() * 200 - 100);
      expect(frexp31(r)).toEqual(oFrexp31(r));
    }
  }));
});

describe('symmetric quantization (section 2)', () => {
  it('clamps 8-bit weights to [-127, 126] and multiplies by the float32 reciprocal', seeded(FILE, 'clamps 8-bit weights to [-127, 126] and multiplies by the float32 reciprocal', (rng) => {
    const rows = 6;
    const cols = 50;
    const w = Array.from({ length: rows * cols }, () => fl32(gauss(rng) * 0.05));
    const r = quantizeSymmetric(w, rows, cols, 8, true);
    const r8 = quantizeSymmetricInt8(w, rows, cols, true);
    expect(r8.q).toBeInstanceOf(Int8Array);
    expect(r8.scale).toEqual(r.scale);
    for (let row = 0; row < rows; row++) {
      let alpha = 0;
      for (let c = 0; c < cols; c++) alpha = Math.max(alpha, Math.abs(w[row * cols + c]!));
      const S = fl32(fl32(Math.max(alpha, fl32(1e-8))) / 127);
      expect(r.scale[row]).toBe(S);
      let sawMax = false;
      for (let c = 0; c < cols; c++) {
        const i = row * cols + c;
        const v = fl32(fl32(1 / S) * w[i]!);
        // rne written out: nearest, halves to even
        const fl = Math.floor(v);
        const d = v - fl;
        const rn = d > 0.5 || (d === 0.5 && fl % 2 !== 0) ? fl + 1 : fl;
        const want = Math.min(126, Math.max(-127, rn));
        expect(r.q[i]).toBe(want);
        expect(r8.q[i]).toBe(want); // the Int8Array form holds the same integers
        if (Math.abs(w[i]!) === alpha && w[i]! > 0) {
          sawMax = true;
          expect(r.q[i]).toBe(126); // would be 127 without the quirk
        }
      }
      if (!sawMax) expect(Math.min(...r.q.slice(row * cols, row * cols + cols))).toBe(-127);
    }
  }));

  it('an all-zero row gets S = 1e-8/127 and its 32-bit bias saturates at +-2^31', () => {
    const r = quantizeSymmetric([0, 0, 0, 1, -0.5, 0.25], 2, 3, 8, true);
    expect(r.scale[0]).toBe(fl32(fl32(1e-8) / 127));
    expect(r.scale[0]).toBeCloseTo(7.874016e-11, 16);
    expect(r.q.slice(0, 3)).toEqual([0, 0, 0]);
    expect(r.q.slice(3)).toEqual([126, -64, 32]);
    const sb = biasScale(r.scale, 0.05);
    expect(sb).toEqual([fl32(r.scale[0]! * 0.05), fl32(r.scale[1]! * 0.05)]);
    const b = quantizeWithScale([0.3, -0.3], 32, [sb[0]!, sb[0]!]);
    expect(b).toEqual([2 ** 31, -(2 ** 31)]); // the float32 clamp bounds (2^31 - 2 -> 2^31)
    const b2 = quantizeWithScale([0.01, -0.01], 32, [sb[1]!, sb[1]!]);
    const want = Math.round(fl32(fl32(1 / sb[1]!) * fl32(0.01)));
    expect(b2).toEqual([want, -want]);
  });

  it('per-tensor (embedding) quantization uses one scale for the whole table', () => {
    const r = quantizeSymmetric([0.5, -1, 0.25, 1], 2, 2, 8, false);
    expect(r.scale).toEqual([fl32(1 / 127)]);
    expect(r.q).toEqual([64, -127, 32, 126]);
  });
});

describe('QuantAct folding (section 3)', () => {
  it('S_out in float64, (m, e) = frexp31(S_in / fl32(S_out)), identity term separately', seeded(FILE, 'S_out in float64, (m, e) = frexp31(S_in / fl32(S_out)), identity term separately', (rng) => {
    for (let i = 0; i < 200; i++) {
      const bits = [8, 16, 22][i % 3]!;
      const xMin = -rng() * 10;
      const xMax = rng() * 10;
      const sIn = Array.from({ length: 5 }, () => (rng() < 0.3 ? -1 : 1) * rng() * 1e-4);
      const sId = rng() * 0.1;
      const q = foldQuantAct({ bits, x_min: xMin, x_max: xMax }, sIn, sId);
      const sOut = Math.max(Math.abs(xMin), Math.abs(xMax), 1e-8) / (2 ** (bits - 1) - 1);
      expect(q.scaleOut).toBe(sOut);
      sIn.forEach((s, c) => expect({ m: q.m[c], e: q.e[c] }).toEqual(oFrexp31(s / Math.fround(sOut))));
      expect({ m: q.mId, e: q.eId }).toEqual(oFrexp31(sId / Math.fround(sOut)));
    }
    expect(actScale({ bits: 8, x_min: 0, x_max: 0 })).toBe(1e-8 / 127);
  }));
});

describe('i-GELU constants (section 6)', () => {
  it('uses the code constants and Python floor division', () => {
    expect(GELU_C_OVER_A).toBe(-3.4626038781163433);
    // CPython: 1.0 // 0.1 == 9.0 (not floor(1/0.1) = 10), 1.0 // -0.1 == -10.0, 1.0 // -0.3 == -4.0, 7.0 // 0.7 == 10.0
    expect(pyfloordiv(1.0, 0.1)).toBe(9);
    expect(pyfloordiv(1.0, -0.1)).toBe(-10);
    expect(pyfloordiv(1.0, -0.3)).toBe(-4);
    expect(pyfloordiv(7.0, 0.7)).toBe(10);
    expect(pyfloordiv(1.0, -0.002365894977865676)).toBe(-423);
  });

  it('folds q_b, q_c, S_erf, q_1, S_out in the spec order, per channel', seeded(FILE, 'folds q_b, q_c, S_erf, q_1, S_out in the spec order, per channel', (rng) => {
    const S = [1e-3, 2.4e-4, 1e-5, 5.7e-5, 8 / 127];
    for (let i = 0; i < 300; i++) S.push(fl32(10 ** (-6 + 4 * rng())));
    const k = foldGelu(S);
    S.forEach((s, c) => {
      const sp = s / 1.4142;
      const sErf = ((sp * sp) * -0.2888) * 16384;
      expect(k.qb[c]).toBe(Math.floor(-1.769 / sp));
      expect(k.qc[c]).toBe(Math.floor(-3.4626038781163433 / (sp * sp)));
      expect(k.sErf[c]).toBe(sErf);
      expect(k.q1[c]).toBe(pyfloordiv(1.0, sErf));
      expect(Math.abs(k.q1[c]! - Math.floor(1 / sErf))).toBeLessThanOrEqual(1);
      expect(k.scaleOut[c]).toBe((s * sErf) / 2);
      expect(k.scaleOut[c]!).toBeLessThan(0);
    });
    // S = 1e-3: the values worked in the spec's magnitudes table
    expect(k.qb[0]).toBe(-2502);
    expect(k.q1[0]).toBe(-423);
  }));
});

describe('i-softmax constants (section 7)', () => {
  it('reproduces q_ln2 = -2218 at S = 3.125e-4 and the folded shift E31 = 70', () => {
    expect(EXP_B_OVER_A).toBe(2.7073248645328745);
    expect(EXP_C_OVER_A).toBe(2.792114744077415);
    const k = foldSoftmax(3.125e-4);
    expect(k.qLn2).toBe(-2218);
    expect(k.qb).toBe(Math.floor(2.7073248645328745 / 3.125e-4));
    expect(k.qc).toBe(Math.floor(2.792114744077415 / (3.125e-4 * 3.125e-4)));
    expect(k.E31).toBe(70);
    // fixed point of the inner QuantAct(16): x_max = fl32(q_c 2^30); spec's figure at S = fl32(3.125e-4), q_c = 28591256
    const kf = foldSoftmax(fl32(3.125e-4));
    expect(kf.qc).toBe(28591256);
    expect(softmaxFixedPointRange(fl32(3.125e-4))).toEqual({ bits: 16, x_min: 0, x_max: 3.0699627367890944e16 });
  });

  it('(m, e) and (M, E31) follow the spec formulas for random scales and ranges', seeded(FILE, '(m, e) and (M, E31) follow the spec formulas for random scales and ranges', (rng) => {
    for (let i = 0; i < 300; i++) {
      const S = 10 ** (-4.5 + 3 * rng());
      const range = rng() < 0.5 ? undefined : { bits: 16, x_min: 0, x_max: rng() * 1e17 };
      const k = foldSoftmax(S, range);
      const qc = Math.floor(2.792114744077415 / (S * S));
      const sExp = (0.35815147 * (S * S)) / 2 ** 30;
      const xMax = range === undefined ? Math.fround(qc * 2 ** 30) : range.x_max;
      const sA = Math.max(0, Math.abs(xMax), 1e-8) / 32767;
      const me = oFrexp31(sExp / Math.fround(sA));
      expect({ m: k.m, e: k.e }).toEqual(me);
      expect({ M: k.M, E31: k.E31 }).toEqual((({ m, e }) => ({ M: m, E31: e }))(oFrexp31(me.m / (2 ** me.e * sExp))));
      expect(k.qLn2).toBe(Math.floor(-0.6931 / S));
      expect(k.sExp).toBe(sExp);
      expect(k.sA).toBe(sA);
    }
  }));

  it('attention scales: (s_q s_k) / sqrt(d_head) and 2^-8 s_v', () => {
    expect(attentionScoreScale(0.03, 0.05, 64)).toBe((0.03 * 0.05) / 8);
    expect(contextScale(0.02)).toBe(0.02 / 256);
  });
});

describe('LayerNorm constants (section 8)', () => {
  it('D = fl32(sqrt(fl32(768))) = 27.712812423706055 and q_beta = floor((beta/gamma)/S_n)', seeded(FILE, 'D = fl32(sqrt(fl32(768))) = 27.712812423706055 and q_beta = floor((beta/gamma)/S_n)', (rng) => {
    const C = 768;
    const gamma = Array.from({ length: C }, (_, c) => (c % 7 === 0 ? -1 : 1) * fl32(0.2 + rng()));
    const beta = Array.from({ length: C }, () => fl32(gauss(rng) * 0.3));
    gamma[5] = 1e-8;
    beta[5] = 1;
    const k = foldLayerNorm(gamma, beta, 3);
    expect(k.D).toBe(27.712812423706055);
    expect(k.D).not.toBe(Math.sqrt(768));
    expect(k.Sn).toBe(27.712812423706055 / 2 ** 30);
    expect(k.shift).toBe(3);
    gamma.forEach((g, c) => {
      expect(k.qBeta[c]).toBe(Math.floor((beta[c]! / g) / k.Sn));
      expect(k.scaleOut[c]).toBe(k.Sn * g);
    });
    expect(k.qBeta[5]!).toBeGreaterThan(2 ** 31); // |beta/gamma| > 55 leaves int32 (section 8)
    expect(foldLayerNorm([1, 1], [0, 0]).D).toBe(fl32(Math.sqrt(2)));
    expect(() => foldLayerNorm([0], [0])).toThrow(/gamma/);
  }));
});
