// A Hugging Face config.json of a BERT-family encoder (BERT, RoBERTa, I-BERT), read strictly: the seven shape fields
// are required, the keys HF writes for every such model are accepted (and mostly ignored: dropouts, init ranges,
// label maps), and any other key is an error naming it, so a misspelled shape field cannot fall back to a default.
// Fields that would change the integer model are checked: `hidden_act` must be GELU, `position_embedding_type`
// absolute, `force_dequant` none (I-BERT's float fallbacks have no integer kernel).

import { z } from 'zod';
import { KernelInputError } from './errors.js';
import { strictObject } from './layer-format.js';

const pos = z.number({ error: (iss) => (iss.input === undefined ? 'required (a shape field of the encoder)' : undefined) }).int().positive();
const ignored = z.unknown().optional();

const HfConfigSchema = strictObject({
  hidden_size: pos,
  num_attention_heads: pos,
  intermediate_size: pos,
  num_hidden_layers: pos,
  vocab_size: pos,
  max_position_embeddings: pos,
  type_vocab_size: pos,
  model_type: z.string().optional(),
  pad_token_id: z.number().int().min(0).nullable().optional(),
  hidden_act: z.enum(['gelu', 'gelu_new', 'gelu_python']).optional(),
  position_embedding_type: z.literal('absolute').optional(),
  force_dequant: z.literal('none').optional(),
  quant_mode: z.boolean().optional(),
  layer_norm_eps: z.number().positive().optional(),
  // written by HF for every model; no effect on an integer encoder's arithmetic
  architectures: ignored, hidden_dropout_prob: ignored, attention_probs_dropout_prob: ignored, initializer_range: ignored,
  bos_token_id: ignored, eos_token_id: ignored, torch_dtype: ignored, dtype: ignored, transformers_version: ignored,
  use_cache: ignored, classifier_dropout: ignored, gradient_checkpointing: ignored, id2label: ignored, label2id: ignored,
  num_labels: ignored, finetuning_task: ignored, problem_type: ignored, output_past: ignored, is_decoder: ignored,
  add_cross_attention: ignored, tokenizer_class: ignored, _name_or_path: ignored, return_dict: ignored,
  output_hidden_states: ignored, output_attentions: ignored, chunk_size_feed_forward: ignored, directionality: ignored,
  pooler_fc_size: ignored, pooler_num_attention_heads: ignored, pooler_num_fc_layers: ignored, pooler_size_per_head: ignored,
  pooler_type: ignored, _attn_implementation_autoset: ignored,
}).superRefine((v, ctx) => {
  if (v.hidden_size % v.num_attention_heads !== 0) {
    ctx.addIssue({ code: 'custom', path: ['num_attention_heads'], message: `${v.num_attention_heads} heads do not divide hidden_size ${v.hidden_size}` });
  }
  if (v.model_type !== undefined && !['bert', 'roberta', 'ibert'].includes(v.model_type)) {
    ctx.addIssue({ code: 'custom', path: ['model_type'], message: `"${v.model_type}": expected bert, roberta or ibert (an encoder with I-BERT's layer structure)` });
  }
});

/** The encoder shape a config.json describes, in the names the runners use. */
export interface ModelConfig {
  readonly hidden: number;
  readonly heads: number;
  readonly ffn: number;
  readonly layers: number;
  readonly vocab: number;
  readonly maxPositions: number;
  readonly typeVocab: number;
  readonly modelType: string;
  /**
   * First position id: RoBERTa and I-BERT number positions from pad_token_id + 1 (HF
   * create_position_ids_from_input_ids), BERT from 0. A sequence holds at most maxPositions - positionOffset tokens.
   */
  readonly positionOffset: number;
}

/** Validates a parsed config.json; a failure names the field (and, for a missing one, that it is required). */
export function parseHfConfig(json: unknown, where = 'config.json'): ModelConfig {
  const res = HfConfigSchema.safeParse(json);
  if (!res.success) throw new KernelInputError(`invalid ${where}:\n${z.prettifyError(res.error)}`);
  const c = res.data;
  const modelType = c.model_type ?? 'bert';
  const offset = modelType === 'bert' ? 0 : (c.pad_token_id ?? 1) + 1;
  if (offset >= c.max_position_embeddings) {
    throw new KernelInputError(`invalid ${where}: max_position_embeddings ${c.max_position_embeddings} leaves no position after the ${modelType} offset pad_token_id + 1 = ${offset}`);
  }
  return {
    hidden: c.hidden_size, heads: c.num_attention_heads, ffn: c.intermediate_size, layers: c.num_hidden_layers,
    vocab: c.vocab_size, maxPositions: c.max_position_embeddings, typeVocab: c.type_vocab_size, modelType, positionOffset: offset,
  };
}

/** The longest sequence the position table allows. */
export function maxSequence(c: ModelConfig): number {
  return c.maxPositions - c.positionOffset;
}
