// Seeded synthetic I-BERT layers and embedding stages (host side, like fold.ts: float math allowed). Float32
// parameters with BERT-like distributions are quantized as the reference does (section 2), and every QuantAct range
// is calibrated by a float64 forward pass on the same input (min/max, HF's first-batch initialization); LayerNorm
// shifts are set as HF's training-time overflow handling would leave them (section 8). This is compile-time work.

import seedrandom from 'seedrandom';
import {
  actScale, attentionScoreScale, biasScale, fl32, quantizeSymmetric, quantizeSymmetricInt8, quantizeWithScale, rneFloat, softmaxFixedPointRange,
  type ActRange,
} from './fold.js';
import {
  floatEmbeddings, floatLayer, type FloatEmbeddingParams, type FloatLayerNorm, type FloatLayerParams, type FloatLinear, type FloatLayerTaps,
} from './float-ref.js';
import type { ModelConfig } from './hf-config.js';
import { compileEmbeddings, compileLayer, runEmbeddings, runLayer } from './layer.js';
import {
  EMBEDDINGS_FORMAT, LAYER_FORMAT, type EmbeddingsInputJson, type IbertEmbeddingsJson, type IbertLayerJson, type QuantLinearJson,
} from './layer-format.js';

export interface SyntheticLayerOptions {
  /** string seed for seedrandom (alea) */
  readonly seed: string;
  readonly seq: number;
  readonly hidden: number;
  readonly heads: number;
  readonly ffn: number;
  /** trailing positions masked out (padding); default 0 */
  readonly maskedTail?: number;
  /** share of LayerNorm channels with negative gamma; default 0.01 */
  readonly negativeGammaFraction?: number;
  /** LayerNorm shift: 'calibrate' (default) emulates HF's overflow handling, or a fixed value */
  readonly lnShift?: 'calibrate' | number;
  /** float LayerNorm eps of the float reference; default 1e-12 (the integer path has none) */
  readonly eps?: number;
  /**
   * The layer input (int8 [seq, hidden] and its scale), e.g. the previous layer's output in a model; the ranges are
   * calibrated on it. Default: a LayerNorm-like synthetic input.
   */
  readonly input?: { readonly x_int: ArrayLike<number>; readonly scale: number };
  /** HF key mask per position (overrides maskedTail) */
  readonly mask?: readonly number[];
}

export interface SyntheticLayer {
  /** the integer checkpoint with its int8 input, as JSON would hold it */
  readonly layer: IbertLayerJson;
  /** the float32 parameters it was quantized from */
  readonly float: FloatLayerParams;
  /** dequantized input x_int * input_scale, [seq, hidden] */
  readonly xFloat: Float64Array;
  /** float64 forward pass on xFloat (also the calibration pass) */
  readonly floatRun: FloatLayerTaps;
  readonly mask?: number[];
}

export type Rng = () => number;

export function makeRng(seed: string): Rng {
  return seedrandom.alea(seed);
}

/** Standard normal sampler (Box-Muller, both outputs used). */
export function normalSampler(rng: Rng): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Float32 weights N(0, std) with a heavier tail (0.2% of entries x4), like trained BERT matrices. */
function floatLinear(normal: () => number, rng: Rng, inF: number, outF: number, std: number, biasMean: number, biasStd: number): FloatLinear {
  const weight = new Float32Array(inF * outF); // float32 parameters, held exactly
  for (let i = 0; i < weight.length; i++) weight[i] = fl32(normal() * std * (rng() < 0.002 ? 4 : 1));
  const bias = new Float64Array(outF);
  for (let i = 0; i < outF; i++) bias[i] = fl32(biasMean + normal() * biasStd);
  return { inFeatures: inF, outFeatures: outF, weight, bias };
}

function floatLn(normal: () => number, rng: Rng, C: number, negFrac: number): FloatLayerNorm {
  const gamma = new Float64Array(C);
  const beta = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let g = Math.max(0.05, 0.9 + 0.15 * normal());
    if (rng() < negFrac) g = -g;
    gamma[c] = fl32(g);
    beta[c] = fl32(0.1 * normal());
  }
  return { gamma, beta };
}

function range(bits: number, v: ArrayLike<number>): ActRange {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return { bits, x_min: lo, x_max: hi };
}

function quantLinear(l: FloatLinear, inputScale: number, int8: boolean): QuantLinearJson {
  const w = int8 ? quantizeSymmetricInt8(l.weight, l.outFeatures, l.inFeatures, true) : quantizeSymmetric(l.weight, l.outFeatures, l.inFeatures, 8, true);
  const sb = biasScale(w.scale, inputScale);
  return {
    in_features: l.inFeatures,
    out_features: l.outFeatures,
    weight_int: w.q,
    weight_scale: w.scale,
    bias_int: quantizeWithScale(l.bias, 32, sb),
  };
}

/**
 * HF training-mode overflow handling of IntLayerNorm, applied to the calibration data: if V = sum(y^2) >= 2^32 on
 * some row, shift = max(shift, ceil(log2(sqrt(V / 2^32)))). `v` holds the float LayerNorm inputs, `s` their scale.
 */
function calibrateLnShift(v: Float64Array, s: number, C: number): number {
  let shift = 0;
  for (let base = 0; base < v.length; base += C) {
    let sum = 0;
    for (let c = 0; c < C; c++) sum += rneFloat(v[base + c]! / s);
    const mu = rneFloat(sum / C);
    let V = 0;
    for (let c = 0; c < C; c++) {
      const y = Math.floor((rneFloat(v[base + c]! / s) - mu) / 2 ** shift);
      V += y * y;
    }
    if (V >= 2 ** 32) shift = Math.max(shift, Math.ceil(Math.log2(Math.sqrt(V / 2 ** 32))));
  }
  return shift;
}

/** How generateLayer hands out its tensors (not part of the layer: the same values either way). */
export interface GenerateForm {
  /**
   * The int8 weights and input as Int8Array (which the layer format takes) instead of number arrays, as JSON would
   * hold them. PERF: no number arrays of millions of elements (a BERT-base layer's 7 M weights), for callers that
   * keep the layer in memory (the synthetic-layer cache) rather than writing it as JSON.
   */
  readonly int8Arrays?: boolean;
}

/** A seeded synthetic layer: float32 parameters, their quantization, and ranges calibrated on its own input. */
export function generateLayer(opts: SyntheticLayerOptions, form: GenerateForm = {}): SyntheticLayer {
  const { seq: T, hidden: C, heads: H, ffn: F } = opts;
  const int8 = form.int8Arrays === true;
  if (C % H !== 0) throw new RangeError(`heads ${H} do not divide hidden ${C}`);
  const rng = makeRng(opts.seed);
  const normal = normalSampler(rng);
  const negFrac = opts.negativeGammaFraction ?? 0.01;
  const eps = opts.eps ?? 1e-12;
  const float: FloatLayerParams = {
    hidden: C, heads: H, ffn: F, eps,
    query: floatLinear(normal, rng, C, C, 0.045, 0, 0.05),
    key: floatLinear(normal, rng, C, C, 0.045, 0, 0.05),
    value: floatLinear(normal, rng, C, C, 0.03, 0, 0.02),
    attnDense: floatLinear(normal, rng, C, C, 0.03, 0, 0.02),
    ln1: floatLn(normal, rng, C, negFrac),
    fc1: floatLinear(normal, rng, C, F, 0.035, -0.15, 0.1),
    fc2: floatLinear(normal, rng, F, C, 0.02, 0, 0.02),
    ln2: floatLn(normal, rng, C, negFrac),
  };
  // Input: a previous LayerNorm's output, N(0,1) * gamma + beta per channel, with two outlier channels (x4) as in
  // trained BERT hidden states; quantized by the previous layer's QuantAct(8) (range = its max).
  let sIn: number;
  let xInt: number[];
  if (opts.input !== undefined) {
    if (opts.input.x_int.length !== T * C) throw new RangeError(`input: ${opts.input.x_int.length} values, expected seq*hidden = ${T * C}`);
    sIn = opts.input.scale;
    xInt = Array.from(opts.input.x_int);
  } else {
    const outliers = new Set([Math.min(1, C - 1), Math.floor((7 * C) / 8)]);
    const chanScale = Array.from({ length: C }, (_, c) => (outliers.has(c) ? 4 : 0.6 + 0.3 * rng()));
    const chanShift = Array.from({ length: C }, () => 0.1 * normal());
    const x = new Float64Array(T * C);
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) x[t * C + c] = normal() * chanScale[c]! + chanShift[c]!;
    sIn = actScale(range(8, x));
    xInt = Array.from(x, (v) => Math.min(127, Math.max(-128, rneFloat(v / sIn))));
  }
  const xFloat = Float64Array.from(xInt, (v) => v * sIn);
  const masked = Math.min(opts.maskedTail ?? 0, T - 1);
  const mask = opts.mask !== undefined ? [...opts.mask] : masked > 0 ? Array.from({ length: T }, (_, t) => (t < T - masked ? 1 : 0)) : undefined;
  if (mask !== undefined && mask.length !== T) throw new RangeError(`mask: ${mask.length} entries, expected seq ${T}`);

  const run = floatLayer(float, xFloat, T, mask);
  const dh = C / H;
  const qAct = range(8, run.query);
  const kAct = range(8, run.key);
  const vAct = range(8, run.value);
  const ctxAct = range(8, run.context);
  const ln1In = range(22, run.ln1Input);
  const ln1Out = range(8, run.ln1Output);
  const geluOut = range(8, run.gelu);
  const ln2In = range(22, run.ln2Input);
  const outAct = range(8, run.output);
  const scoreScale = attentionScoreScale(actScale(qAct), actScale(kAct), dh);
  const sCtx = actScale(ctxAct);
  const sH = actScale(ln1Out);
  const sG = actScale(geluOut);
  const lnShift1 = opts.lnShift === undefined || opts.lnShift === 'calibrate' ? calibrateLnShift(run.ln1Input, actScale(ln1In), C) : opts.lnShift;
  const lnShift2 = opts.lnShift === undefined || opts.lnShift === 'calibrate' ? calibrateLnShift(run.ln2Input, actScale(ln2In), C) : opts.lnShift;

  const layer: IbertLayerJson = {
    format: LAYER_FORMAT,
    config: { hidden_size: C, num_attention_heads: H, intermediate_size: F },
    input_scale: sIn,
    attention: {
      self: {
        query: quantLinear(float.query, sIn, int8),
        key: quantLinear(float.key, sIn, int8),
        value: quantLinear(float.value, sIn, int8),
        query_activation: qAct,
        key_activation: kAct,
        value_activation: vAct,
        softmax_act: softmaxFixedPointRange(scoreScale),
        output_activation: ctxAct,
      },
      output: {
        dense: quantLinear(float.attnDense, sCtx, int8),
        ln_input_act: ln1In,
        LayerNorm: { gamma: Array.from(float.ln1.gamma), beta: Array.from(float.ln1.beta), shift: lnShift1 },
        output_activation: ln1Out,
      },
    },
    // pre_intermediate_act and pre_output_act see the int8 outputs of the QuantAct before them: same range
    pre_intermediate_act: ln1Out,
    intermediate: { dense: quantLinear(float.fc1, sH, int8), output_activation: geluOut },
    pre_output_act: geluOut,
    output: {
      dense: quantLinear(float.fc2, sG, int8),
      ln_input_act: ln2In,
      LayerNorm: { gamma: Array.from(float.ln2.gamma), beta: Array.from(float.ln2.beta), shift: lnShift2 },
      output_activation: outAct,
    },
    input: mask === undefined
      ? { shape: [T, C], x_int: int8 ? Int8Array.from(xInt) : xInt, scale: sIn }
      : { shape: [T, C], x_int: int8 ? Int8Array.from(xInt) : xInt, scale: sIn, attention_mask: mask as (0 | 1)[] },
  };
  return mask === undefined ? { layer, float, xFloat, floatRun: run } : { layer, float, xFloat, floatRun: run, mask };
}

// ---------------------------------------------------------------------------------------------------------------

export interface SyntheticEmbeddingsOptions {
  readonly seed: string;
  readonly seq: number;
  readonly hidden: number;
  readonly vocab: number;
  readonly maxPositions: number;
  readonly typeVocab?: number;
  /** first position id (RoBERTa/I-BERT: pad_token_id + 1); default 0. Positions are offset + t, which must fit the table */
  readonly positionOffset?: number;
}

export interface SyntheticEmbeddings {
  readonly embeddings: IbertEmbeddingsJson;
  readonly float: FloatEmbeddingParams;
  readonly floatOutput: Float64Array;
}

/** Word/position/type tables ~N(0, 0.05) (float32), per-tensor 8-bit, ranges calibrated on the generated ids. */
export function generateEmbeddings(opts: SyntheticEmbeddingsOptions, form: GenerateForm = {}): SyntheticEmbeddings {
  const { seq: T, hidden: C, vocab: V, maxPositions: P } = opts;
  const TV = opts.typeVocab ?? 2;
  const rng = makeRng(opts.seed);
  const normal = normalSampler(rng);
  // filled in order by a plain loop: the same draws as Float64Array.from with a mapping function, without its generic
  // iteration (PERF: the word table is vocab x hidden, 23 M values for BERT-base)
  const table = (n: number, std: number): Float64Array => {
    const t = new Float64Array(n * C);
    for (let i = 0; i < t.length; i++) t[i] = fl32(normal() * std);
    return t;
  };
  const word = table(V, 0.05);
  const position = table(P, 0.02);
  const tokenType = table(TV, 0.01);
  const ln = floatLn(normal, rng, C, 0);
  const float: FloatEmbeddingParams = { hidden: C, eps: 1e-12, word, tokenType, position, ln };
  const ids = Array.from({ length: T }, () => Math.floor(rng() * V));
  const tt = Array.from({ length: T }, (_, t) => (t < T / 2 ? 0 : TV - 1));
  const off = opts.positionOffset ?? 0;
  if (off + T > P) throw new RangeError(`seq ${T}: positions ${off}..${off + T - 1} do not fit max_position_embeddings ${P}`);
  const pos = Array.from({ length: T }, (_, t) => off + t);
  const run = floatEmbeddings(float, ids, tt, pos);
  // the same integers either way; as Int8Array for callers that hold the checkpoint in memory (generateLayer's form)
  const q = (w: Float64Array, n: number) => {
    const r = form.int8Arrays === true ? quantizeSymmetricInt8(w, n, C, false) : quantizeSymmetric(w, n, C, 8, false);
    return { num_embeddings: n, embedding_dim: C, weight_int: r.q, weight_scale: r.scale[0]! };
  };
  // one QuantAct(16) module sees both calls: its range covers word+type and word+type+position
  const both = new Float64Array(run.sum1.length * 2);
  both.set(run.sum1);
  both.set(run.sum, run.sum1.length);
  const act1 = range(16, both);
  const embeddings: IbertEmbeddingsJson = {
    format: EMBEDDINGS_FORMAT,
    config: { hidden_size: C },
    word_embeddings: q(word, V),
    token_type_embeddings: q(tokenType, TV),
    position_embeddings: q(position, P),
    embeddings_act1: act1,
    LayerNorm: { gamma: Array.from(ln.gamma), beta: Array.from(ln.beta), shift: calibrateLnShift(run.sum, actScale(act1), C) },
    output_activation: range(8, run.output),
    input: { input_ids: ids, token_type_ids: tt, position_ids: pos },
  };
  return { embeddings, float, floatOutput: run.output };
}

// ---------------------------------------------------------------------------------------------------------------

export interface SyntheticModelOptions {
  readonly seed: string;
  readonly config: ModelConfig;
  readonly seq: number;
  /** how many encoder layers to generate (default config.layers) */
  readonly layers?: number;
  /** trailing positions masked out (padding) in every layer; default 0 */
  readonly maskedTail?: number;
}

/** A whole synthetic checkpoint: embeddings and layers, with the token ids it was calibrated on. */
export interface SyntheticModel {
  readonly embeddings: IbertEmbeddingsJson;
  readonly layers: IbertLayerJson[];
  /** input_ids, token_type_ids, position_ids (also embeddings.input) */
  readonly input: EmbeddingsInputJson;
  readonly mask?: number[];
}

/**
 * A seeded checkpoint of the config's shape: the embeddings (seed `<seed>/embeddings`), then layer i (seed
 * `<seed>/layer<i>`) calibrated on the integer reference output of layer i - 1, so every layer's input_scale is the
 * previous output scale, as a model calibrated end to end would have it. Host-side work (float64 calibration passes).
 * `form`: the int8 tables and weights as Int8Array (generateLayer's form), for a checkpoint held in memory.
 */
export function generateModel(opts: SyntheticModelOptions, form: GenerateForm = {}): SyntheticModel {
  const c = opts.config;
  const T = opts.seq;
  const n = opts.layers ?? c.layers;
  const e = generateEmbeddings({
    seed: `${opts.seed}/embeddings`, seq: T, hidden: c.hidden, vocab: c.vocab, maxPositions: c.maxPositions,
    typeVocab: c.typeVocab, positionOffset: c.positionOffset,
  }, form).embeddings;
  if (e.input === undefined) throw new Error('internal: generateEmbeddings returned no input');
  const masked = Math.min(opts.maskedTail ?? 0, T - 1);
  const mask = masked > 0 ? Array.from({ length: T }, (_, t) => (t < T - masked ? 1 : 0)) : undefined;
  let x = runEmbeddings(compileEmbeddings(e), e.input);
  let xInt: Int8Array = x.output;
  let scale = x.outputScale;
  const layers: IbertLayerJson[] = [];
  for (let i = 0; i < n; i++) {
    const g = generateLayer({
      seed: `${opts.seed}/layer${i}`, seq: T, hidden: c.hidden, heads: c.heads, ffn: c.ffn,
      input: { x_int: xInt, scale }, ...(mask === undefined ? {} : { mask }),
    }, form);
    const { input: _input, ...layer } = g.layer;
    layers.push(layer);
    const r = runLayer(compileLayer(layer), xInt, T, mask);
    xInt = r.output;
    scale = r.outputScale;
  }
  const { input, ...embeddings } = e;
  return mask === undefined ? { embeddings, layers, input } : { embeddings, layers, input, mask };
}
