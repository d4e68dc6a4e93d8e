// Float references for the accuracy figures (docs/IBERT.md sections 13-14): GELU (erf), its approximations
// (x*sigmoid(1.702x), h-GELU, float i-GELU), exp and float i-exp, softmax, LayerNorm, and a float64 BERT encoder
// layer / embedding stage. Float math is allowed here: nothing in this module is on an integer runtime path.

import { linearFloatWasm, withFloatWasm, WASM_MIN_MACS } from './wasm-gemm.js';

/** erf to ~1e-15: Maclaurin series for |x| < 2, Lentz continued fraction of erfc beyond. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax < 2) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); terms stay below 10 for |x| < 2
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    const v = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -v : v;
  }
  if (ax > 6) return x < 0 ? -1 : 1;
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), modified Lentz
  const tiny = 1e-300;
  let f = ax;
  let C = ax;
  let D = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    D = ax + a * D;
    D = D === 0 ? tiny : 1 / D;
    C = ax + a / C;
    if (C === 0) C = tiny;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

/** Exact GELU: x/2 (1 + erf(x / sqrt 2)). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** x * sigmoid(1.702 x) (Table 1, not integer-only). */
export function geluSigmoid(x: number): number {
  return x / (1 + Math.exp(-1.702 * x));
}

/** h-GELU = x * ReLU6(1.702 x + 3) / 6 (Table 1). */
export function hGelu(x: number): number {
  const r = Math.min(Math.max(1.702 * x + 3, 0), 6);
  return (x * r) / 6;
}

/** The paper's i-GELU as a float formula: x/2 (1 + L(x/k)), L(u) = sgn(u)(a (min(|u|, -b) + b)^2 + 1). */
export function iGeluFloat(x: number, k: number = Math.SQRT2): number {
  const a = -0.2888;
  const b = -1.769;
  const u = x / k;
  const m = Math.min(Math.abs(u), -b) + b;
  const L = Math.sign(u) * (a * m * m + 1);
  return 0.5 * x * (1 + L);
}

/** Paper Sec. 3.5 i-exp with its published coefficients: exp(p) ~ 0.3585 (p + 1.353)^2 + 0.344, x = -z ln2 + p. */
export function iexpFloatPaper(x: number): number {
  const z = Math.floor(-x / Math.LN2);
  const p = x + z * Math.LN2;
  return (0.3585 * (p + 1.353) ** 2 + 0.344) * 2 ** -z;
}

/** The code's float i-exp: x0 = -0.6931, q = floor(x/x0), r = x - x0 q, (0.35815147 r^2 + 0.96963238 r + 1) 2^-q. */
export function iexpFloatCode(x: number): number {
  const x0 = -0.6931;
  const q = Math.floor(Math.max(x, 30 * x0) / x0);
  const r = Math.max(x, 30 * x0) - x0 * q;
  return (0.35815147 * r * r + 0.96963238 * r + 1.0) * 2 ** -q;
}

/** Softmax of one row; entries with mask 0 are excluded (probability 0). */
export function softmaxRow(x: ArrayLike<number>, mask?: ArrayLike<number>): Float64Array {
  const n = x.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if ((mask === undefined || mask[i] !== 0) && x[i]! > max) max = x[i]!;
  const out = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = mask === undefined || mask[i] !== 0 ? Math.exp(x[i]! - max) : 0;
    out[i] = v;
    sum += v;
  }
  for (let i = 0; i < n; i++) out[i] = sum > 0 ? out[i]! / sum : 1 / n;
  return out;
}

/** LayerNorm over rows of C: (x - mean) / sqrt(var + eps) * gamma + beta (population variance). */
export function layerNormRows(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number): Float64Array {
  const C = gamma.length;
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += C) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[base + c]!;
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) {
      const d = x[base + c]! - mean;
      v += d * d;
    }
    const inv = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) out[base + c] = (x[base + c]! - mean) * inv * gamma[c]! + beta[c]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Float64 encoder layer with the same parameters as the integer one (before quantization).

export interface FloatLinear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** [out, in] row-major; float32 values, which a Float32Array holds exactly (half the memory of a BERT-base layer's) */
  readonly weight: Float64Array | Float32Array;
  readonly bias: Float64Array;
}

export interface FloatLayerNorm {
  readonly gamma: Float64Array;
  readonly beta: Float64Array;
}

export interface FloatLayerParams {
  readonly hidden: number;
  readonly heads: number;
  readonly ffn: number;
  readonly eps: number;
  readonly query: FloatLinear;
  readonly key: FloatLinear;
  readonly value: FloatLinear;
  readonly attnDense: FloatLinear;
  readonly ln1: FloatLayerNorm;
  readonly fc1: FloatLinear;
  readonly fc2: FloatLinear;
  readonly ln2: FloatLayerNorm;
}

/** y = x W^T + b for x [T, in]. */
export function linearFloat(x: Float64Array, T: number, l: FloatLinear): Float64Array {
  const K = l.inFeatures;
  const N = l.outFeatures;
  const w = l.weight;
  const fast = T * N * K >= WASM_MIN_MACS ? linearFloatWasm(x, T, K, N, w, l.bias) : undefined;
  if (fast !== undefined) return fast;
  return linearFloatTs(x, T, l);
}

/** linearFloat in TypeScript, the definition of the summation order the WebAssembly path reproduces. */
export function linearFloatTs(x: Float64Array, T: number, l: FloatLinear): Float64Array {
  const K = l.inFeatures;
  const N = l.outFeatures;
  const w = l.weight;
  const out = new Float64Array(T * N);
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        s0 += x[xo + k]! * w[wo + k]!;
        s1 += x[xo + k + 1]! * w[wo + k + 1]!;
        s2 += x[xo + k + 2]! * w[wo + k + 2]!;
        s3 += x[xo + k + 3]! * w[wo + k + 3]!;
      }
      for (; k < K; k++) s0 += x[xo + k]! * w[wo + k]!;
      out[t * N + n] = s0 + s1 + s2 + s3 + l.bias[n]!;
    }
  }
  return out;
}

/** Float values at every QuantAct input of the integer layer (for calibration) and the output. */
export interface FloatLayerTaps {
  readonly query: Float64Array;
  readonly key: Float64Array;
  readonly value: Float64Array;
  readonly scores: Float64Array;
  readonly context: Float64Array;
  readonly ln1Input: Float64Array;
  readonly ln1Output: Float64Array;
  readonly fc1: Float64Array;
  readonly gelu: Float64Array;
  readonly ln2Input: Float64Array;
  readonly output: Float64Array;
}

/** Standard BERT post-LN layer in float64: exact-erf GELU, exp softmax (masked keys excluded), LayerNorm with eps. */
export function floatLayer(p: FloatLayerParams, x: Float64Array, T: number, mask?: ArrayLike<number>): FloatLayerTaps {
  return withFloatWasm(() => floatLayerOn(p, x, T, mask)); // one WebAssembly instance for the six products
}

function floatLayerOn(p: FloatLayerParams, x: Float64Array, T: number, mask?: ArrayLike<number>): FloatLayerTaps {
  const C = p.hidden;
  const H = p.heads;
  const dh = C / H;
  const q = linearFloat(x, T, p.query);
  const k = linearFloat(x, T, p.key);
  const v = linearFloat(x, T, p.value);
  const scores = new Float64Array(H * T * T);
  const ctx = new Float64Array(T * C);
  const inv = 1 / Math.sqrt(dh);
  const row = new Float64Array(T);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        let s = 0;
        for (let d = 0; d < dh; d++) s += q[i * C + h * dh + d]! * k[j * C + h * dh + d]!;
        row[j] = s * inv;
        scores[(h * T + i) * T + j] = s * inv;
      }
      const pr = softmaxRow(row, mask);
      for (let d = 0; d < dh; d++) {
        let s = 0;
        for (let j = 0; j < T; j++) s += pr[j]! * v[j * C + h * dh + d]!;
        ctx[i * C + h * dh + d] = s;
      }
    }
  }
  const attn = linearFloat(ctx, T, p.attnDense);
  const ln1In = new Float64Array(T * C);
  for (let i = 0; i < T * C; i++) ln1In[i] = attn[i]! + x[i]!;
  const ln1Out = layerNormRows(ln1In, p.ln1.gamma, p.ln1.beta, p.eps);
  const f1 = linearFloat(ln1Out, T, p.fc1);
  const g = f1.map(gelu);
  const f2 = linearFloat(g, T, p.fc2);
  const ln2In = new Float64Array(T * C);
  for (let i = 0; i < T * C; i++) ln2In[i] = f2[i]! + ln1Out[i]!;
  const out = layerNormRows(ln2In, p.ln2.gamma, p.ln2.beta, p.eps);
  return { query: q, key: k, value: v, scores, context: ctx, ln1Input: ln1In, ln1Output: ln1Out, fc1: f1, gelu: g, ln2Input: ln2In, output: out };
}

export interface FloatEmbeddingParams {
  readonly hidden: number;
  readonly eps: number;
  readonly word: Float64Array;
  readonly tokenType: Float64Array;
  readonly position: Float64Array;
  readonly ln: FloatLayerNorm;
}

/** Float embeddings: LayerNorm(word[id] + token_type[tt] + position[pos]); also returns the sum (calibration). */
export function floatEmbeddings(p: FloatEmbeddingParams, ids: readonly number[], tt: readonly number[], pos: readonly number[]): { sum1: Float64Array; sum: Float64Array; output: Float64Array } {
  const C = p.hidden;
  const T = ids.length;
  const sum1 = new Float64Array(T * C);
  const sum = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) {
      const a = p.word[ids[t]! * C + c]! + p.tokenType[tt[t]! * C + c]!;
      sum1[t * C + c] = a;
      sum[t * C + c] = a + p.position[pos[t]! * C + c]!;
    }
  }
  return { sum1, sum, output: layerNormRows(sum, p.ln.gamma, p.ln.beta, p.eps) };
}

/** Cosine similarity and error norms of an approximation against a reference. */
export function compareVectors(approx: ArrayLike<number>, ref: ArrayLike<number>): { cosine: number; maxAbsError: number; rmsError: number; refRms: number } {
  let dot = 0, na = 0, nr = 0, maxErr = 0, se = 0;
  for (let i = 0; i < ref.length; i++) {
    const a = approx[i]!;
    const r = ref[i]!;
    dot += a * r;
    na += a * a;
    nr += r * r;
    const e = Math.abs(a - r);
    if (e > maxErr) maxErr = e;
    se += e * e;
  }
  return { cosine: dot / Math.sqrt(na * nr), maxAbsError: maxErr, rmsError: Math.sqrt(se / ref.length), refRms: Math.sqrt(nr / ref.length) };
}
