// JSON formats of the reference encoder layer and embedding stage (docs/formats.md): zod schemas mirroring the HF
// IBert module tree (attention.self.query, attention.output.LayerNorm, ...), so a checkpoint maps one to one.

import { z } from 'zod';
import { KernelInputError } from './errors.js';

export const LAYER_FORMAT = 'intnpu/ibert-layer@1';
export const EMBEDDINGS_FORMAT = 'intnpu/ibert-embeddings@1';

const int8 = z.number().int().min(-128).max(127);

/** QuantLinear: per-output-channel int8 weights [out, in] row-major, float32 scales, int32 bias (+2^31 allowed). */
export const QuantLinearSchema = z
  .object({
    in_features: z.number().int().positive(),
    out_features: z.number().int().positive(),
    weight_int: z.array(int8),
    weight_scale: z.array(z.number().positive()),
    // the float32 clamp bound of the 32-bit quantizer lets a saturated bias reach +2^31 (section 2)
    bias_int: z.array(z.number().int().min(-2147483648).max(2147483648)),
  })
  .superRefine((v, ctx) => {
    if (v.weight_int.length !== v.in_features * v.out_features) {
      ctx.addIssue({ code: 'custom', path: ['weight_int'], message: `expected out_features*in_features = ${v.in_features * v.out_features} values, got ${v.weight_int.length}` });
    }
    if (v.weight_scale.length !== v.out_features) {
      ctx.addIssue({ code: 'custom', path: ['weight_scale'], message: `expected one scale per output channel (${v.out_features}), got ${v.weight_scale.length}` });
    }
    if (v.bias_int.length !== v.out_features) {
      ctx.addIssue({ code: 'custom', path: ['bias_int'], message: `expected ${v.out_features} biases, got ${v.bias_int.length}` });
    }
  });

const actOf = (minBits: number, maxBits: number) =>
  z.object({
    bits: z.number().int().min(minBits).max(maxBits),
    x_min: z.number(),
    x_max: z.number(),
  });

/** QuantAct range (the checkpoint's x_min/x_max buffers) and output bit width. */
export const QuantActSchema = actOf(2, 32);
/** QuantAct feeding an int8 MAC: at most 8 bits. */
export const QuantAct8Schema = actOf(2, 8);
/** IntSoftmax's inner QuantAct(16). */
export const QuantAct16Schema = actOf(16, 16);

export const LayerNormSchema = z
  .object({
    gamma: z.array(z.number().refine((g) => g !== 0, { message: 'gamma must be non-zero (beta/gamma is folded)' })),
    beta: z.array(z.number()),
    shift: z.number().int().min(0).max(31).default(0),
  })
  .superRefine((v, ctx) => {
    if (v.beta.length !== v.gamma.length) {
      ctx.addIssue({ code: 'custom', path: ['beta'], message: `expected ${v.gamma.length} values like gamma, got ${v.beta.length}` });
    }
  });

const ResidualBlockSchema = z.object({
  dense: QuantLinearSchema,
  ln_input_act: QuantActSchema,
  LayerNorm: LayerNormSchema,
  output_activation: QuantAct8Schema,
});

/** Layer input: int8 [seq, hidden] with its scale (must equal input_scale) and an optional HF key mask. */
export const LayerInputSchema = z
  .object({
    shape: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    x_int: z.array(int8),
    scale: z.number().positive().optional(),
    attention_mask: z.array(z.union([z.literal(0), z.literal(1)])).optional(),
  })
  .superRefine((v, ctx) => {
    const [T, C] = v.shape;
    if (v.x_int.length !== T * C) ctx.addIssue({ code: 'custom', path: ['x_int'], message: `expected ${T * C} values for shape [${T}, ${C}], got ${v.x_int.length}` });
    if (v.attention_mask !== undefined && v.attention_mask.length !== T) {
      ctx.addIssue({ code: 'custom', path: ['attention_mask'], message: `expected one entry per position (${T}), got ${v.attention_mask.length}` });
    }
  });

export const IbertLayerSchema = z
  .object({
    format: z.literal(LAYER_FORMAT),
    config: z.object({
      hidden_size: z.number().int().positive(),
      num_attention_heads: z.number().int().positive(),
      intermediate_size: z.number().int().positive(),
    }),
    /** scale of the int8 layer input; the Q/K/V biases were quantized with it */
    input_scale: z.number().positive(),
    attention: z.object({
      self: z.object({
        query: QuantLinearSchema,
        key: QuantLinearSchema,
        value: QuantLinearSchema,
        query_activation: QuantAct8Schema,
        key_activation: QuantAct8Schema,
        value_activation: QuantAct8Schema,
        /** softmax.act range; omitted = the calibration fixed point x_min = 0, x_max = fl32(q_c 2^30) */
        softmax_act: QuantAct16Schema.optional(),
        output_activation: QuantAct8Schema,
      }),
      output: ResidualBlockSchema,
    }),
    pre_intermediate_act: QuantAct8Schema,
    intermediate: z.object({ dense: QuantLinearSchema, output_activation: QuantAct8Schema }),
    pre_output_act: QuantAct8Schema,
    output: ResidualBlockSchema,
    input: LayerInputSchema.optional(),
  })
  .superRefine((v, ctx) => {
    const C = v.config.hidden_size;
    const F = v.config.intermediate_size;
    const H = v.config.num_attention_heads;
    if (C % H !== 0) ctx.addIssue({ code: 'custom', path: ['config', 'num_attention_heads'], message: `${H} heads do not divide hidden_size ${C}` });
    const lin = (path: (string | number)[], l: { in_features: number; out_features: number }, inF: number, outF: number): void => {
      if (l.in_features !== inF || l.out_features !== outF) {
        ctx.addIssue({ code: 'custom', path, message: `expected [out, in] = [${outF}, ${inF}], got [${l.out_features}, ${l.in_features}]` });
      }
    };
    lin(['attention', 'self', 'query'], v.attention.self.query, C, C);
    lin(['attention', 'self', 'key'], v.attention.self.key, C, C);
    lin(['attention', 'self', 'value'], v.attention.self.value, C, C);
    lin(['attention', 'output', 'dense'], v.attention.output.dense, C, C);
    lin(['intermediate', 'dense'], v.intermediate.dense, C, F);
    lin(['output', 'dense'], v.output.dense, F, C);
    for (const [path, ln] of [[['attention', 'output', 'LayerNorm'], v.attention.output.LayerNorm], [['output', 'LayerNorm'], v.output.LayerNorm]] as const) {
      if (ln.gamma.length !== C) ctx.addIssue({ code: 'custom', path: [...path, 'gamma'], message: `expected ${C} values, got ${ln.gamma.length}` });
    }
    if (v.input !== undefined) {
      if (v.input.shape[1] !== C) ctx.addIssue({ code: 'custom', path: ['input', 'shape', 1], message: `expected hidden_size ${C}, got ${v.input.shape[1]}` });
      if (v.input.scale !== undefined && v.input.scale !== v.input_scale) {
        ctx.addIssue({ code: 'custom', path: ['input', 'scale'], message: `input scale ${v.input.scale} differs from the layer's input_scale ${v.input_scale}` });
      }
    }
  });

export type QuantLinearJson = z.infer<typeof QuantLinearSchema>;
export type QuantActJson = z.infer<typeof QuantActSchema>;
export type LayerNormJson = z.infer<typeof LayerNormSchema>;
export type LayerInputJson = z.infer<typeof LayerInputSchema>;
export type IbertLayerJson = z.infer<typeof IbertLayerSchema>;
/** What a producer writes (LayerNorm shift may be omitted). */
export type IbertLayerJsonIn = z.input<typeof IbertLayerSchema>;

/** QuantEmbedding: per-tensor int8 table [num_embeddings, embedding_dim] and its float32 scale. */
export const QuantEmbeddingSchema = z
  .object({
    num_embeddings: z.number().int().positive(),
    embedding_dim: z.number().int().positive(),
    weight_int: z.array(int8),
    weight_scale: z.number().positive(),
  })
  .superRefine((v, ctx) => {
    if (v.weight_int.length !== v.num_embeddings * v.embedding_dim) {
      ctx.addIssue({ code: 'custom', path: ['weight_int'], message: `expected ${v.num_embeddings * v.embedding_dim} values, got ${v.weight_int.length}` });
    }
  });

export const EmbeddingsInputSchema = z.object({
  input_ids: z.array(z.number().int().min(0)),
  token_type_ids: z.array(z.number().int().min(0)).optional(),
  position_ids: z.array(z.number().int().min(0)).optional(),
});

/** HF IBertEmbeddings: word + token type, + position through the same QuantAct(16), IntLayerNorm, QuantAct(8). */
export const IbertEmbeddingsSchema = z
  .object({
    format: z.literal(EMBEDDINGS_FORMAT),
    config: z.object({ hidden_size: z.number().int().positive() }),
    word_embeddings: QuantEmbeddingSchema,
    token_type_embeddings: QuantEmbeddingSchema,
    position_embeddings: QuantEmbeddingSchema,
    embeddings_act1: QuantActSchema,
    LayerNorm: LayerNormSchema,
    output_activation: QuantAct8Schema,
    input: EmbeddingsInputSchema.optional(),
  })
  .superRefine((v, ctx) => {
    const C = v.config.hidden_size;
    for (const k of ['word_embeddings', 'token_type_embeddings', 'position_embeddings'] as const) {
      if (v[k].embedding_dim !== C) ctx.addIssue({ code: 'custom', path: [k, 'embedding_dim'], message: `expected hidden_size ${C}, got ${v[k].embedding_dim}` });
    }
    if (v.LayerNorm.gamma.length !== C) ctx.addIssue({ code: 'custom', path: ['LayerNorm', 'gamma'], message: `expected ${C} values, got ${v.LayerNorm.gamma.length}` });
  });

export type QuantEmbeddingJson = z.infer<typeof QuantEmbeddingSchema>;
export type IbertEmbeddingsJson = z.infer<typeof IbertEmbeddingsSchema>;
export type EmbeddingsInputJson = z.infer<typeof EmbeddingsInputSchema>;

function parseWith<T>(schema: z.ZodType<T>, json: unknown, what: string): T {
  const res = schema.safeParse(json);
  if (!res.success) throw new KernelInputError(`invalid ${what}:\n${z.prettifyError(res.error)}`);
  return res.data;
}

/** Validates an untrusted layer JSON value; throws KernelInputError naming the bad field's path. */
export function parseLayer(json: unknown): IbertLayerJson {
  return parseWith(IbertLayerSchema, json, 'I-BERT layer');
}

export function parseEmbeddings(json: unknown): IbertEmbeddingsJson {
  return parseWith(IbertEmbeddingsSchema, json, 'I-BERT embeddings');
}

/** JSON Schema of the layer format, for editors. */
export function layerJsonSchema(): unknown {
  return z.toJSONSchema(IbertLayerSchema, { unrepresentable: 'any' });
}
