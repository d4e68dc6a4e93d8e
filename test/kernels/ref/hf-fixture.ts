// Test fixture: a small Hugging Face I-BERT state dict written by hand from a synthetic model, with HF's names and
// dtypes (float32 buffers, as torch saves them), independent of the reader under test (kernels/ref/hf-checkpoint.ts).
import type { IbertEmbeddingsJson, IbertLayerJson, QuantActJson, QuantLinearJson, LayerNormJson } from '../../../kernels/ref/layer-format.js';
import type { SafetensorsTensorIn } from '../../../kernels/ref/safetensors.js';

type Dict = Record<string, SafetensorsTensorIn>;

const f32 = (shape: number[], data: ArrayLike<number>): SafetensorsTensorIn => ({ dtype: 'F32', shape, data });

function act(d: Dict, m: string, a: QuantActJson): void {
  d[`${m}.x_min`] = f32([1], [a.x_min]);
  d[`${m}.x_max`] = f32([1], [a.x_max]);
  d[`${m}.act_scaling_factor`] = f32([1], [Math.max(Math.abs(a.x_min), Math.abs(a.x_max)) / (2 ** (a.bits - 1) - 1)]);
}

function linear(d: Dict, m: string, l: QuantLinearJson): void {
  d[`${m}.weight`] = f32([l.out_features, l.in_features], l.weight_int.map((w, i) => w * l.weight_scale[Math.floor(i / l.in_features)]!));
  d[`${m}.bias`] = f32([l.out_features], new Array<number>(l.out_features).fill(0.5));
  d[`${m}.weight_integer`] = f32([l.out_features, l.in_features], l.weight_int);
  d[`${m}.fc_scaling_factor`] = f32([l.out_features], l.weight_scale);
  d[`${m}.bias_integer`] = f32([l.out_features], l.bias_int);
}

function ln(d: Dict, m: string, l: LayerNormJson, act8?: QuantActJson): void {
  d[`${m}.weight`] = f32([l.gamma.length], l.gamma);
  d[`${m}.bias`] = f32([l.beta.length], l.beta);
  d[`${m}.shift`] = f32([1], [l.shift]);
  if (act8) act(d, `${m}.activation`, act8); // IntLayerNorm's own QuantAct, which forward never calls
}

/** The state dict of IBertModel (prefix '') or of a task model around it (prefix 'ibert.'). */
export function hfStateDict(e: IbertEmbeddingsJson, layers: readonly IbertLayerJson[], prefix = ''): Dict {
  const d: Dict = {};
  const p = `${prefix}embeddings`;
  for (const k of ['word_embeddings', 'token_type_embeddings', 'position_embeddings'] as const) {
    const t = e[k];
    d[`${p}.${k}.weight`] = f32([t.num_embeddings, t.embedding_dim], t.weight_int.map((w) => w * t.weight_scale));
    d[`${p}.${k}.weight_integer`] = f32([t.num_embeddings, t.embedding_dim], t.weight_int);
    d[`${p}.${k}.weight_scaling_factor`] = f32([1], [t.weight_scale]);
  }
  d[`${p}.position_ids`] = { dtype: 'I64', shape: [1, e.position_embeddings.num_embeddings], data: Array.from({ length: e.position_embeddings.num_embeddings }, (_, i) => i) };
  act(d, `${p}.embeddings_act1`, e.embeddings_act1);
  act(d, `${p}.embeddings_act2`, e.embeddings_act1);
  ln(d, `${p}.LayerNorm`, e.LayerNorm, e.output_activation);
  act(d, `${p}.output_activation`, e.output_activation);
  layers.forEach((l, i) => {
    const q = `${prefix}encoder.layer.${i}`;
    const s = l.attention.self;
    linear(d, `${q}.attention.self.query`, s.query);
    linear(d, `${q}.attention.self.key`, s.key);
    linear(d, `${q}.attention.self.value`, s.value);
    act(d, `${q}.attention.self.query_activation`, s.query_activation);
    act(d, `${q}.attention.self.key_activation`, s.key_activation);
    act(d, `${q}.attention.self.value_activation`, s.value_activation);
    act(d, `${q}.attention.self.output_activation`, s.output_activation);
    act(d, `${q}.attention.self.softmax.act`, s.softmax_act!);
    const o = l.attention.output;
    linear(d, `${q}.attention.output.dense`, o.dense);
    act(d, `${q}.attention.output.ln_input_act`, o.ln_input_act);
    ln(d, `${q}.attention.output.LayerNorm`, o.LayerNorm);
    act(d, `${q}.attention.output.output_activation`, o.output_activation);
    act(d, `${q}.pre_intermediate_act`, l.pre_intermediate_act);
    linear(d, `${q}.intermediate.dense`, l.intermediate.dense);
    act(d, `${q}.intermediate.output_activation`, l.intermediate.output_activation);
    act(d, `${q}.pre_output_act`, l.pre_output_act);
    linear(d, `${q}.output.dense`, l.output.dense);
    act(d, `${q}.output.ln_input_act`, l.output.ln_input_act);
    ln(d, `${q}.output.LayerNorm`, l.output.LayerNorm);
    act(d, `${q}.output.output_activation`, l.output.output_activation);
  });
  return d;
}
