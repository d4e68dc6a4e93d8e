// The reference encoder layer (HF IBertLayer, docs/IBERT.md section 9, steps 0..19) and the embedding stage
// (HF IBertEmbeddings), chaining each layer's true scales (not the HF cross-layer scale bug). compileLayer folds
// every float scale once (host side, fold.ts); runLayer is integer-only and records every step's tensor and scale.

import {
  attentionScoreScale, biasScale, contextScale, foldGelu, foldLayerNorm, foldQuantAct, foldSoftmax,
  type GeluConsts, type LayerNormConsts, type QuantActConsts, type SoftmaxConsts,
} from './fold.js';
import { KernelInputError } from './errors.js';
import { embeddingLookup } from './embedding.js';
import { geluApply } from './gelu.js';
import { layerNormApply } from './layernorm.js';
import { dotBound, gemmABt, linearAcc } from './linear.js';
import {
  layerInputSequences, parseEmbeddings, parseLayer, type EmbeddingsInputJson, type IbertEmbeddingsJson, type IbertLayerJson, type QuantLinearJson,
} from './layer-format.js';
import { requantApply, type IdentityInts } from './requant.js';
import { softmaxApply } from './softmax.js';
import type { IntData } from './tensor.js';

export interface CompiledLinear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Int8Array;
  readonly bias: readonly number[];
  readonly weightScale: readonly number[];
  /** s_b[c] = fl32(s_w[c] * s_x): the accumulator's per-channel scale */
  readonly scaleOut: readonly number[];
}

export interface CompiledLayer {
  readonly hidden: number;
  readonly heads: number;
  readonly dHead: number;
  readonly ffn: number;
  readonly inputScale: number;
  readonly query: CompiledLinear;
  readonly key: CompiledLinear;
  readonly value: CompiledLinear;
  readonly queryAct: QuantActConsts;
  readonly keyAct: QuantActConsts;
  readonly valueAct: QuantActConsts;
  readonly scoreScale: number;
  readonly softmax: SoftmaxConsts;
  readonly contextScale: number;
  readonly contextAct: QuantActConsts;
  readonly attnDense: CompiledLinear;
  readonly ln1InputAct: QuantActConsts;
  readonly ln1: LayerNormConsts;
  readonly ln1OutputAct: QuantActConsts;
  readonly preIntermediateAct: QuantActConsts;
  readonly fc1: CompiledLinear;
  readonly gelu: GeluConsts;
  readonly geluAct: QuantActConsts;
  readonly preOutputAct: QuantActConsts;
  readonly fc2: CompiledLinear;
  readonly ln2InputAct: QuantActConsts;
  readonly ln2: LayerNormConsts;
  readonly outputAct: QuantActConsts;
}

function compileLinear(l: QuantLinearJson, inputScale: number): CompiledLinear {
  return {
    inFeatures: l.in_features,
    outFeatures: l.out_features,
    // an Int8Array (the synthetic-layer cache's) is shared, not copied: weights are never written
    weight: l.weight_int instanceof Int8Array ? l.weight_int : Int8Array.from(l.weight_int),
    bias: l.bias_int,
    weightScale: l.weight_scale,
    scaleOut: biasScale(l.weight_scale, inputScale),
  };
}

/** Folds every float scale of a validated layer into integer constants, in the reference's order (host side). */
export function compileLayer(layer: IbertLayerJson): CompiledLayer {
  const C = layer.config.hidden_size;
  const H = layer.config.num_attention_heads;
  const s = layer.attention.self;
  const ao = layer.attention.output;
  const sIn = layer.input_scale;

  const query = compileLinear(s.query, sIn);
  const key = compileLinear(s.key, sIn);
  const value = compileLinear(s.value, sIn);
  const queryAct = foldQuantAct(s.query_activation, query.scaleOut);
  const keyAct = foldQuantAct(s.key_activation, key.scaleOut);
  const valueAct = foldQuantAct(s.value_activation, value.scaleOut);
  const scoreScale = attentionScoreScale(queryAct.scaleOut, keyAct.scaleOut, C / H);
  const softmax = foldSoftmax(scoreScale, s.softmax_act);
  const ctxScale = contextScale(valueAct.scaleOut);
  const contextAct = foldQuantAct(s.output_activation, ctxScale);

  const attnDense = compileLinear(ao.dense, contextAct.scaleOut);
  const ln1InputAct = foldQuantAct(ao.ln_input_act, attnDense.scaleOut, sIn);
  const ln1 = foldLayerNorm(ao.LayerNorm.gamma, ao.LayerNorm.beta, ao.LayerNorm.shift);
  const ln1OutputAct = foldQuantAct(ao.output_activation, ln1.scaleOut);

  const preIntermediateAct = foldQuantAct(layer.pre_intermediate_act, ln1OutputAct.scaleOut);
  const fc1 = compileLinear(layer.intermediate.dense, preIntermediateAct.scaleOut);
  const gelu = foldGelu(fc1.scaleOut);
  const geluAct = foldQuantAct(layer.intermediate.output_activation, gelu.scaleOut);
  const preOutputAct = foldQuantAct(layer.pre_output_act, geluAct.scaleOut);
  const fc2 = compileLinear(layer.output.dense, preOutputAct.scaleOut);
  const ln2InputAct = foldQuantAct(layer.output.ln_input_act, fc2.scaleOut, preIntermediateAct.scaleOut);
  const ln2 = foldLayerNorm(layer.output.LayerNorm.gamma, layer.output.LayerNorm.beta, layer.output.LayerNorm.shift);
  const outputAct = foldQuantAct(layer.output.output_activation, ln2.scaleOut);

  return {
    hidden: C, heads: H, dHead: C / H, ffn: layer.config.intermediate_size, inputScale: sIn,
    query, key, value, queryAct, keyAct, valueAct, scoreScale, softmax, contextScale: ctxScale, contextAct,
    attnDense, ln1InputAct, ln1, ln1OutputAct, preIntermediateAct, fc1, gelu, geluAct, preOutputAct, fc2,
    ln2InputAct, ln2, outputAct,
  };
}

/** One step of section 9's table: its integer tensor, shape, scale (per-channel = last dimension) and width. */
export interface LayerStep {
  readonly step: number;
  readonly name: string;
  /** the HF module that produces it */
  readonly module: string;
  readonly data: IntData;
  readonly shape: readonly number[];
  readonly scale: number | readonly number[];
}

export const LAYER_STEP_NAMES = [
  'input', 'query_acc', 'key_acc', 'value_acc', 'query8', 'key8', 'value8', 'scores', 'exp16', 'probs', 'context',
  'context8', 'attn_dense', 'ln1_input', 'ln1_output', 'attention_output8', 'intermediate_input8', 'fc1_acc', 'gelu',
  'gelu8', 'fc2_input8', 'fc2_acc', 'ln2_input', 'ln2_output', 'output8',
] as const;
export type LayerStepName = (typeof LAYER_STEP_NAMES)[number];

export interface LayerRun {
  readonly steps: Readonly<Record<LayerStepName, LayerStep>>;
  /** step 19: int8 [seq, hidden] */
  readonly output: Int8Array;
  readonly outputScale: number;
}

function toInt8(v: Int32Array): Int8Array {
  return new Int8Array(v); // ToInt8 per element, as Int8Array.from does (PERF: no iterator)
}

function wrapIdentity(w: Int8Array, m: number | undefined, e: number | undefined): IdentityInts {
  if (m === undefined || e === undefined) throw new Error('internal: QuantAct without identity constants');
  return { w, m, e };
}

/**
 * Runs the layer on an int8 input [T, hidden] (scale = compiled.inputScale). `mask` is HF's attention mask per key
 * position (1 = attend, 0 = masked), broadcast to every query row and head.
 */
export function runLayer(c: CompiledLayer, x: Int8Array, T: number, mask?: ArrayLike<number>): LayerRun {
  const C = c.hidden;
  const H = c.heads;
  const dh = c.dHead;
  const F = c.ffn;
  if (x.length !== T * C) throw new KernelInputError(`input: ${x.length} values, expected seq*hidden = ${T * C}`);
  if (mask !== undefined && mask.length !== T) throw new KernelInputError(`attention_mask: ${mask.length} entries, expected ${T}`);
  const steps: Partial<Record<LayerStepName, LayerStep>> = {};
  const rec = (step: number, name: LayerStepName, module: string, data: IntData, shape: readonly number[], scale: number | readonly number[]): void => {
    steps[name] = { step, name, module, data, shape, scale };
  };
  const lin = (l: CompiledLinear, xin: Int8Array): IntData => linearAcc(xin, l.weight, l.bias, T, l.inFeatures, l.outFeatures);

  rec(0, 'input', 'layer input', new Int32Array(x), [T, C], c.inputScale);
  // 1-2: Q, K, V projections and their QuantAct(8)
  const qAcc = lin(c.query, x);
  const kAcc = lin(c.key, x);
  const vAcc = lin(c.value, x);
  rec(1, 'query_acc', 'attention.self.query', qAcc, [T, C], c.query.scaleOut);
  rec(1, 'key_acc', 'attention.self.key', kAcc, [T, C], c.key.scaleOut);
  rec(1, 'value_acc', 'attention.self.value', vAcc, [T, C], c.value.scaleOut);
  const q8 = requantApply(qAcc, c.queryAct);
  const k8 = requantApply(kAcc, c.keyAct);
  const v8 = requantApply(vAcc, c.valueAct);
  rec(2, 'query8', 'attention.self.query_activation', q8, [T, C], c.queryAct.scaleOut);
  rec(2, 'key8', 'attention.self.key_activation', k8, [T, C], c.keyAct.scaleOut);
  rec(2, 'value8', 'attention.self.value_activation', v8, [T, C], c.valueAct.scaleOut);
  const q8b = toInt8(q8);
  const k8b = toInt8(k8);
  const v8b = toInt8(v8);

  // 3: scores per head, [H, T, T]; 1/sqrt(d_head) lives in the scale only
  dotBound(q8b, k8b, dh);
  const scores = new Int32Array(H * T * T);
  for (let h = 0; h < H; h++) gemmABt(q8b, h * dh, C, k8b, h * dh, C, T, T, dh, scores, h * T * T, T);
  rec(3, 'scores', 'matmul(query, key^T)', scores, [H, T, T], c.scoreScale);

  // 4: IntSoftmax over the key axis (+ mask)
  const sm = softmaxApply(scores, T, c.softmax, mask);
  rec(4, 'exp16', 'attention.self.softmax.act', sm.e16, [H, T, T], c.softmax.sA);
  rec(4, 'probs', 'attention.self.softmax', sm.y, [H, T, T], c.softmax.scaleOut);

  // 5: context = P . V per head (probabilities up to 256 are not requantized before the MAC)
  const ctx = new Int32Array(T * C);
  const vt = new Int8Array(dh * T);
  dotBound(sm.y, v8b, T);
  for (let h = 0; h < H; h++) {
    for (let j = 0; j < T; j++) for (let d = 0; d < dh; d++) vt[d * T + j] = v8b[j * C + h * dh + d]!;
    gemmABt(sm.y, h * T * T, T, vt, 0, T, T, dh, T, ctx, h * dh, C);
  }
  rec(5, 'context', 'matmul(probs, value)', ctx, [T, C], c.contextScale);
  const ctx8 = requantApply(ctx, c.contextAct);
  rec(6, 'context8', 'attention.self.output_activation', ctx8, [T, C], c.contextAct.scaleOut);

  // 7-10: output dense, residual QuantAct(22) with the layer input, LayerNorm, QuantAct(8)
  const attn = lin(c.attnDense, toInt8(ctx8));
  rec(7, 'attn_dense', 'attention.output.dense', attn, [T, C], c.attnDense.scaleOut);
  const r1 = requantApply(attn, c.ln1InputAct, wrapIdentity(x, c.ln1InputAct.mId, c.ln1InputAct.eId));
  rec(8, 'ln1_input', 'attention.output.ln_input_act', r1, [T, C], c.ln1InputAct.scaleOut);
  const ln1 = layerNormApply(r1, c.ln1);
  rec(9, 'ln1_output', 'attention.output.LayerNorm', ln1, [T, C], c.ln1.scaleOut);
  const a8 = requantApply(ln1, c.ln1OutputAct);
  rec(10, 'attention_output8', 'attention.output.output_activation', a8, [T, C], c.ln1OutputAct.scaleOut);

  // 11-14: FFN up-projection with i-GELU on the int32 accumulator
  const h8 = requantApply(a8, c.preIntermediateAct);
  rec(11, 'intermediate_input8', 'pre_intermediate_act', h8, [T, C], c.preIntermediateAct.scaleOut);
  const h8b = toInt8(h8);
  const f1 = lin(c.fc1, h8b);
  rec(12, 'fc1_acc', 'intermediate.dense', f1, [T, F], c.fc1.scaleOut);
  const g = geluApply(f1, c.gelu);
  rec(13, 'gelu', 'intermediate.intermediate_act_fn', g, [T, F], c.gelu.scaleOut);
  const g8 = requantApply(g, c.geluAct);
  rec(14, 'gelu8', 'intermediate.output_activation', g8, [T, F], c.geluAct.scaleOut);

  // 15-19: FFN down-projection, residual with h8 (step 11), LayerNorm, QuantAct(8)
  const g2 = requantApply(g8, c.preOutputAct);
  rec(15, 'fc2_input8', 'pre_output_act', g2, [T, F], c.preOutputAct.scaleOut);
  const f2 = lin(c.fc2, toInt8(g2));
  rec(16, 'fc2_acc', 'output.dense', f2, [T, C], c.fc2.scaleOut);
  const r2 = requantApply(f2, c.ln2InputAct, wrapIdentity(h8b, c.ln2InputAct.mId, c.ln2InputAct.eId));
  rec(17, 'ln2_input', 'output.ln_input_act', r2, [T, C], c.ln2InputAct.scaleOut);
  const ln2 = layerNormApply(r2, c.ln2);
  rec(18, 'ln2_output', 'output.LayerNorm', ln2, [T, C], c.ln2.scaleOut);
  const out = requantApply(ln2, c.outputAct);
  rec(19, 'output8', 'output.output_activation', out, [T, C], c.outputAct.scaleOut);

  return { steps: steps as Record<LayerStepName, LayerStep>, output: toInt8(out), outputScale: c.outputAct.scaleOut };
}

/** Validates a layer JSON (with its `input`), compiles it and runs it. */
export function runLayerJson(json: unknown): LayerRun {
  const layer = parseLayer(json);
  if (layer.input === undefined) throw new KernelInputError('input: required to run the layer');
  const seqs = layerInputSequences(layer.input);
  if (seqs.length !== 1) throw new KernelInputError(`input.shape: a batch of ${seqs.length} sequences; runLayerJson runs one (run each of layerInputSequences(input))`);
  const sq = seqs[0]!;
  return runLayer(compileLayer(layer), sq.x, sq.T, sq.mask);
}

// ---------------------------------------------------------------------------------------------------------------
// Embedding stage (HF IBertEmbeddings).

export interface CompiledEmbeddings {
  readonly hidden: number;
  readonly word: { readonly table: Int8Array; readonly scale: number };
  readonly tokenType: { readonly table: Int8Array; readonly scale: number };
  readonly position: { readonly table: Int8Array; readonly scale: number };
  /** first call of embeddings_act1: word (x) + token type (identity) */
  readonly act1a: QuantActConsts;
  /** second call of the same module: previous sum (x) + position (identity) */
  readonly act1b: QuantActConsts;
  readonly ln: LayerNormConsts;
  readonly outputAct: QuantActConsts;
}

export function compileEmbeddings(e: IbertEmbeddingsJson): CompiledEmbeddings {
  // an Int8Array table is shared, not copied: tables are never written
  const tab = (q: IbertEmbeddingsJson['word_embeddings']) => ({ table: q.weight_int instanceof Int8Array ? q.weight_int : Int8Array.from(q.weight_int), scale: q.weight_scale });
  // HF passes the same embeddings_act1 module twice (one range, one S_out); embeddings_act2 is unused.
  const act1a = foldQuantAct(e.embeddings_act1, e.word_embeddings.weight_scale, e.token_type_embeddings.weight_scale);
  const act1b = foldQuantAct(e.embeddings_act1, act1a.scaleOut, e.position_embeddings.weight_scale);
  const ln = foldLayerNorm(e.LayerNorm.gamma, e.LayerNorm.beta, e.LayerNorm.shift);
  return {
    hidden: e.config.hidden_size,
    word: tab(e.word_embeddings),
    tokenType: tab(e.token_type_embeddings),
    position: tab(e.position_embeddings),
    act1a, act1b, ln,
    outputAct: foldQuantAct(e.output_activation, ln.scaleOut),
  };
}

export const EMBEDDING_STEP_NAMES = ['word', 'token_type', 'position', 'sum1', 'sum2', 'ln_output', 'output8'] as const;
export type EmbeddingStepName = (typeof EMBEDDING_STEP_NAMES)[number];

export interface EmbeddingsRun {
  readonly steps: Readonly<Record<EmbeddingStepName, LayerStep>>;
  /** int8 [seq, hidden]: the first layer's input */
  readonly output: Int8Array;
  readonly outputScale: number;
}

/** token_type_ids default to 0; position_ids default to 0..T-1 (RoBERTa offsets are the caller's business). */
export function runEmbeddings(c: CompiledEmbeddings, input: EmbeddingsInputJson): EmbeddingsRun {
  const T = input.input_ids.length;
  const C = c.hidden;
  const tt = input.token_type_ids ?? new Array<number>(T).fill(0);
  const pos = input.position_ids ?? Array.from({ length: T }, (_, i) => i);
  if (tt.length !== T) throw new KernelInputError(`token_type_ids: ${tt.length} entries, expected ${T}`);
  if (pos.length !== T) throw new KernelInputError(`position_ids: ${pos.length} entries, expected ${T}`);
  const steps: Partial<Record<EmbeddingStepName, LayerStep>> = {};
  const rec = (step: number, name: EmbeddingStepName, module: string, data: IntData, scale: number | readonly number[]): void => {
    steps[name] = { step, name, module, data, shape: [T, C], scale };
  };
  const w = embeddingLookup(c.word.table, C, input.input_ids);
  const t = embeddingLookup(c.tokenType.table, C, tt);
  const p = embeddingLookup(c.position.table, C, pos);
  rec(0, 'word', 'word_embeddings', Int32Array.from(w), c.word.scale);
  rec(0, 'token_type', 'token_type_embeddings', Int32Array.from(t), c.tokenType.scale);
  rec(0, 'position', 'position_embeddings', Int32Array.from(p), c.position.scale);
  const s1 = requantApply(Int32Array.from(w), c.act1a, wrapIdentity(t, c.act1a.mId, c.act1a.eId));
  rec(1, 'sum1', 'embeddings_act1 (word + token_type)', s1, c.act1a.scaleOut);
  const s2 = requantApply(s1, c.act1b, wrapIdentity(p, c.act1b.mId, c.act1b.eId));
  rec(2, 'sum2', 'embeddings_act1 (+ position)', s2, c.act1b.scaleOut);
  const ln = layerNormApply(s2, c.ln);
  rec(3, 'ln_output', 'LayerNorm', ln, c.ln.scaleOut);
  const out = requantApply(ln, c.outputAct);
  rec(4, 'output8', 'output_activation', out, c.outputAct.scaleOut);
  return { steps: steps as Record<EmbeddingStepName, LayerStep>, output: toInt8(out), outputScale: c.outputAct.scaleOut };
}

export function runEmbeddingsJson(json: unknown): EmbeddingsRun {
  const e = parseEmbeddings(json);
  if (e.input === undefined) throw new KernelInputError('input: required to run the embeddings');
  return runEmbeddings(compileEmbeddings(e), e.input);
}
