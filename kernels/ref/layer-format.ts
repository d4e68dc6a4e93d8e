// JSON formats of the reference encoder layer and embedding stage (docs/formats.md): zod schemas mirroring the HF
// IBert module tree (attention.self.query, attention.output.LayerNorm, ...), so a checkpoint maps one to one.

import { z } from 'zod';
import { KernelInputError } from './errors.js';
import { assertDepth } from './case-parse.js';

export const LAYER_FORMAT = 'intnpu/ibert-layer@1';
export const EMBEDDINGS_FORMAT = 'intnpu/ibert-embeddings@1';

const int8 = z.number().int().min(-128).max(127);
/** At most this many bad elements of one tensor are reported (a wrong file can hold millions). */
const MAX_ELEMENT_ISSUES = 10;

/**
 * A big int8 tensor: a JSON array of integers in [-128, 127], or (from code that holds one, such as the synthetic-layer
 * cache) an Int8Array, in range by construction and taken as it is. PERF: the elements of an array are checked by
 * one flat loop (zod's per-element schema costs seconds on a BERT-base layer), each bad one an issue at its index.
 */
const int8Tensor = z
  .custom<number[] | Int8Array>((v) => v instanceof Int8Array || Array.isArray(v), {
    error: (iss) => (iss.input === undefined ? 'required' : 'expected an array of integers in [-128, 127]'),
  })
  .superRefine((v, ctx) => {
    if (v instanceof Int8Array) return;
    let bad = 0;
    for (let i = 0; i < v.length && bad < MAX_ELEMENT_ISSUES; i++) {
      const x: unknown = v[i];
      if (typeof x === 'number' && Number.isInteger(x) && x >= -128 && x <= 127) continue;
      ctx.addIssue({ code: 'custom', path: [i], message: `expected an integer in [-128, 127], got ${JSON.stringify(x) ?? String(x)}` });
      bad++;
    }
  });

/**
 * A strict object: an unknown or misspelled key is an error naming it and the keys allowed at that place (a key
 * silently dropped would run with a default and still report "bit-exact" against its own reference).
 */
export function strictObject<S extends z.ZodRawShape>(shape: S): z.ZodObject<S, z.core.$strict> {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys'
      ? `unknown key${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => `"${k}"`).join(', ')}; allowed here: ${allowed}`
      : undefined),
  });
}

/** A scalar that may also be written as a one-element tensor `[s]` (how HF stores scales, ranges and shifts). */
export function scalar(el: z.ZodNumber) {
  return z.union([el, z.tuple([el])], { error: (iss) => (iss.input === undefined ? 'required' : undefined) }).transform((v: number | [number]): number => (Array.isArray(v) ? v[0] : v));
}

/** QuantLinear: per-output-channel int8 weights [out, in] row-major, float32 scales, int32 bias (+2^31 allowed). */
export const QuantLinearSchema = strictObject({
    in_features: z.number().int().positive(),
    out_features: z.number().int().positive(),
    weight_int: int8Tensor,
    // one per output channel; a one-element [s] is broadcast to every channel
    weight_scale: z.array(z.number().positive()),
    // the float32 clamp bound of the 32-bit quantizer lets a saturated bias reach +2^31 (section 2)
    bias_int: z.array(z.number().int().min(-2147483648).max(2147483648)),
  })
  .superRefine((v, ctx) => {
    if (v.weight_int.length !== v.in_features * v.out_features) {
      ctx.addIssue({ code: 'custom', path: ['weight_int'], message: `expected out_features*in_features = ${v.in_features * v.out_features} values, got ${v.weight_int.length}` });
    }
    if (v.weight_scale.length !== v.out_features && v.weight_scale.length !== 1) {
      ctx.addIssue({ code: 'custom', path: ['weight_scale'], message: `expected one scale per output channel (${v.out_features}) or one for all, got ${v.weight_scale.length}` });
    }
    if (v.bias_int.length !== v.out_features) {
      ctx.addIssue({ code: 'custom', path: ['bias_int'], message: `expected ${v.out_features} biases, got ${v.bias_int.length}` });
    }
  })
  .transform((v) => (v.weight_scale.length === v.out_features ? v : { ...v, weight_scale: new Array<number>(v.out_features).fill(v.weight_scale[0]!) }));

const actOf = (minBits: number, maxBits: number) =>
  strictObject({
    bits: z.number().int().min(minBits).max(maxBits),
    x_min: scalar(z.number()),
    x_max: scalar(z.number()),
  });

/** QuantAct range (the checkpoint's x_min/x_max buffers) and output bit width. */
export const QuantActSchema = actOf(2, 32);
/** QuantAct feeding an int8 MAC: at most 8 bits. */
export const QuantAct8Schema = actOf(2, 8);
/** IntSoftmax's inner QuantAct(16). */
export const QuantAct16Schema = actOf(16, 16);

export const LayerNormSchema = strictObject({
    gamma: z.array(z.number().refine((g) => g !== 0, { message: 'gamma must be non-zero (beta/gamma is folded)' })),
    beta: z.array(z.number()),
    // the checkpoint's frozen buffer; required: a default of 0 would silently overflow a calibrated layer's V
    shift: scalar(z.number().int().min(0).max(31)),
  })
  .superRefine((v, ctx) => {
    if (v.beta.length !== v.gamma.length) {
      ctx.addIssue({ code: 'custom', path: ['beta'], message: `expected ${v.gamma.length} values like gamma, got ${v.beta.length}` });
    }
  });

const ResidualBlockSchema = strictObject({
  dense: QuantLinearSchema,
  ln_input_act: QuantActSchema,
  LayerNorm: LayerNormSchema,
  output_activation: QuantAct8Schema,
});

/**
 * Layer input: int8 [seq, hidden], or a batch [B, seq, hidden] run as B sequences, with its scale (must equal
 * input_scale) and an optional HF key mask: one entry per position ([seq], shared by the batch) or per batch
 * position ([B, seq], flat).
 */
export const LayerInputSchema = strictObject({
    shape: z.union([
      z.tuple([z.number().int().positive(), z.number().int().positive()]),
      z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
    ]),
    x_int: int8Tensor,
    scale: scalar(z.number().positive()).optional(),
    attention_mask: z.array(z.union([z.literal(0), z.literal(1)])).optional(),
  })
  .superRefine((v, ctx) => {
    const n = v.shape.reduce((a, b) => a * b, 1);
    const B = v.shape.length === 3 ? v.shape[0] : 1;
    const T = v.shape[v.shape.length - 2]!;
    if (v.x_int.length !== n) ctx.addIssue({ code: 'custom', path: ['x_int'], message: `expected ${n} values for shape [${v.shape.join(', ')}], got ${v.x_int.length}` });
    if (v.attention_mask !== undefined && v.attention_mask.length !== T && v.attention_mask.length !== B * T) {
      ctx.addIssue({ code: 'custom', path: ['attention_mask'], message: `expected one entry per position (${T})${B > 1 ? ` or per batch position (${B * T})` : ''}, got ${v.attention_mask.length}` });
    }
  });

/** One sequence of a layer input: int8 [T, C] and its key mask. */
export interface LayerSequence {
  readonly x: Int8Array;
  readonly T: number;
  readonly mask?: readonly number[];
}

/** The B sequences of a layer input ([T, C] is one sequence). */
export function layerInputSequences(inp: LayerInputJson): LayerSequence[] {
  const B = inp.shape.length === 3 ? inp.shape[0] : 1;
  const T = inp.shape[inp.shape.length - 2]!;
  const C = inp.shape[inp.shape.length - 1]!;
  const m = inp.attention_mask;
  return Array.from({ length: B }, (_, b) => {
    const x = Int8Array.from(inp.x_int.slice(b * T * C, (b + 1) * T * C));
    if (m === undefined) return { x, T };
    return { x, T, mask: m.length === T ? m : m.slice(b * T, (b + 1) * T) };
  });
}

export const IbertLayerSchema = strictObject({
    format: z.literal(LAYER_FORMAT),
    config: strictObject({
      hidden_size: z.number().int().positive(),
      num_attention_heads: z.number().int().positive(),
      intermediate_size: z.number().int().positive(),
    }),
    /** scale of the int8 layer input; the Q/K/V biases were quantized with it */
    input_scale: scalar(z.number().positive()),
    attention: strictObject({
      self: strictObject({
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
    intermediate: strictObject({ dense: QuantLinearSchema, output_activation: QuantAct8Schema }),
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
      const last = v.input.shape.length - 1;
      if (v.input.shape[last] !== C) ctx.addIssue({ code: 'custom', path: ['input', 'shape', last], message: `expected hidden_size ${C}, got ${v.input.shape[last]}` });
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

/**
 * QuantEmbedding: per-tensor int8 table [num_embeddings, embedding_dim] and its float32 scale (the table an int8
 * tensor like a linear's weights: 23 M values for BERT-base's vocabulary, checked by one flat loop).
 */
export const QuantEmbeddingSchema = strictObject({
    num_embeddings: z.number().int().positive(),
    embedding_dim: z.number().int().positive(),
    weight_int: int8Tensor,
    weight_scale: scalar(z.number().positive()),
  })
  .superRefine((v, ctx) => {
    if (v.weight_int.length !== v.num_embeddings * v.embedding_dim) {
      ctx.addIssue({ code: 'custom', path: ['weight_int'], message: `expected ${v.num_embeddings * v.embedding_dim} values, got ${v.weight_int.length}` });
    }
  });

export const EmbeddingsInputSchema = strictObject({
  input_ids: z.array(z.number().int().min(0)),
  token_type_ids: z.array(z.number().int().min(0)).optional(),
  position_ids: z.array(z.number().int().min(0)).optional(),
});

/** HF IBertEmbeddings: word + token type, + position through the same QuantAct(16), IntLayerNorm, QuantAct(8). */
export const IbertEmbeddingsSchema = strictObject({
    format: z.literal(EMBEDDINGS_FORMAT),
    config: strictObject({ hidden_size: z.number().int().positive() }),
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
  assertDepth(json);
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
  return z.toJSONSchema(IbertLayerSchema, {
    io: 'input', unrepresentable: 'any',
    override: (ctx) => {
      if (ctx.zodSchema === int8Tensor) Object.assign(ctx.jsonSchema, { type: 'array', items: { type: 'integer', minimum: -128, maximum: 127 } });
    },
  });
}
