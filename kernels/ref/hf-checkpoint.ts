// A Hugging Face I-BERT state dict (IBertModel or a task model around it, safetensors) read into the layer and
// embeddings formats, with the HF names as they are (modeling_ibert.py / quant_modules.py buffers):
//
//   QuantLinear    <m>.weight_integer [out, in], <m>.bias_integer [out], <m>.fc_scaling_factor [out] or [1]
//                  (<m>.weight, <m>.bias: the float parameters, accepted and unused)
//   QuantAct       <m>.x_min [1], <m>.x_max [1] (<m>.act_scaling_factor: accepted, recomputed from the range)
//   IntLayerNorm   <m>.weight [C] (gamma), <m>.bias [C] (beta), <m>.shift [1]: REQUIRED (a frozen buffer; 0 is not a
//                  safe default), <m>.activation.* (a QuantAct forward never calls: accepted, unused)
//   QuantEmbedding <m>.weight_integer [n, C], <m>.weight_scaling_factor [1] (<m>.weight: accepted, unused)
//
// The bit widths are not stored; they are the modules' (8 for activations, 16 for embeddings_act1 and softmax.act,
// 22 for ln_input_act). Every key must be one of these (or a task head outside the encoder: pooler, classifier,
// lm_head, qa_outputs, which are not run); any other key is an error naming it and the keys allowed in its module.
//
// Scales are chained per layer: layer 0's input_scale is the embeddings' output scale, layer i's the output scale of
// layer i - 1 (the true chain, not HF's cross-layer scale bug; see docs/formats.md).

import { KernelInputError } from './errors.js';
import type { ModelConfig } from './hf-config.js';
import { compileEmbeddings, compileLayer } from './layer.js';
import {
  EMBEDDINGS_FORMAT, LAYER_FORMAT, parseEmbeddings, parseLayer, type IbertEmbeddingsJson, type IbertLayerJson,
} from './layer-format.js';
import type { SafetensorsFile } from './safetensors.js';

type Kind = 'linear' | 'act' | 'layernorm' | 'embedding';

const LEAVES: Readonly<Record<Kind, { readonly required: readonly string[]; readonly optional: readonly string[] }>> = {
  linear: { required: ['weight_integer', 'bias_integer', 'fc_scaling_factor'], optional: ['weight', 'bias'] },
  act: { required: ['x_min', 'x_max'], optional: ['act_scaling_factor'] },
  layernorm: { required: ['weight', 'bias', 'shift'], optional: ['activation.x_min', 'activation.x_max', 'activation.act_scaling_factor'] },
  embedding: { required: ['weight_integer', 'weight_scaling_factor'], optional: ['weight'] },
};

const EMBEDDING_MODULES: readonly (readonly [string, Kind])[] = [
  ['word_embeddings', 'embedding'], ['token_type_embeddings', 'embedding'], ['position_embeddings', 'embedding'],
  ['embeddings_act1', 'act'], ['LayerNorm', 'layernorm'], ['output_activation', 'act'],
];
/** present in HF checkpoints, never used by the forward pass (or by this reader) */
const EMBEDDING_OPTIONAL: readonly string[] = [
  'embeddings_act2.x_min', 'embeddings_act2.x_max', 'embeddings_act2.act_scaling_factor', 'position_ids', 'token_type_ids',
];

const LAYER_MODULES: readonly (readonly [string, Kind])[] = [
  ['attention.self.query', 'linear'], ['attention.self.key', 'linear'], ['attention.self.value', 'linear'],
  ['attention.self.query_activation', 'act'], ['attention.self.key_activation', 'act'], ['attention.self.value_activation', 'act'],
  ['attention.self.softmax.act', 'act'], ['attention.self.output_activation', 'act'],
  ['attention.output.dense', 'linear'], ['attention.output.ln_input_act', 'act'], ['attention.output.LayerNorm', 'layernorm'],
  ['attention.output.output_activation', 'act'],
  ['pre_intermediate_act', 'act'], ['intermediate.dense', 'linear'], ['intermediate.output_activation', 'act'],
  ['pre_output_act', 'act'], ['output.dense', 'linear'], ['output.ln_input_act', 'act'], ['output.LayerNorm', 'layernorm'],
  ['output.output_activation', 'act'],
];

/** Task heads and the pooler: outside the encoder, accepted and not run. */
const HEAD = /^(?:(?:ibert|roberta|bert)\.)?pooler\.|^(?:classifier|lm_head|qa_outputs)\./;

export interface HfModel {
  readonly embeddings: IbertEmbeddingsJson;
  readonly layers: IbertLayerJson[];
  /** the prefix the encoder keys carry ('' for IBertModel, 'ibert.' in a task model) */
  readonly prefix: string;
}

/**
 * Reads the embeddings and the first `layers` encoder layers (default: config.num_hidden_layers) of an HF I-BERT
 * state dict; `where` names the file in messages.
 */
export function hfStateDictToModel(st: SafetensorsFile, cfg: ModelConfig, where: string, layers = cfg.layers): HfModel {
  const fail = (msg: string): never => {
    throw new KernelInputError(`${where}: ${msg}`);
  };
  const anchor = st.names.find((k) => k.endsWith('embeddings.word_embeddings.weight_integer'));
  if (anchor === undefined) return fail('no "embeddings.word_embeddings.weight_integer": not an I-BERT state dict (quantized buffers missing; was the model saved with quant_mode = true?)');
  const prefix = anchor.slice(0, anchor.length - 'embeddings.word_embeddings.weight_integer'.length);

  // every key the reader knows, grouped by module, to name what is allowed where a key is unknown
  const modules = new Map<string, Set<string>>();
  const allow = (mod: string, leaves: readonly string[]): void => {
    const s = modules.get(mod) ?? new Set<string>();
    for (const l of leaves) s.add(l);
    modules.set(mod, s);
  };
  const e = `${prefix}embeddings`;
  for (const [m, k] of EMBEDDING_MODULES) allow(`${e}.${m}`, [...LEAVES[k].required, ...LEAVES[k].optional]);
  allow(e, EMBEDDING_OPTIONAL);
  for (let i = 0; i < cfg.layers; i++) {
    for (const [m, k] of LAYER_MODULES) allow(`${prefix}encoder.layer.${i}.${m}`, [...LEAVES[k].required, ...LEAVES[k].optional]);
  }
  const known = new Set<string>();
  for (const [m, leaves] of modules) for (const l of leaves) known.add(`${m}.${l}`);
  for (const key of st.names) {
    if (known.has(key) || HEAD.test(key)) continue;
    const layerMatch = /^(.*?)encoder\.layer\.(\d+)\./.exec(key);
    if (layerMatch && layerMatch[1] === prefix && Number(layerMatch[2]) >= cfg.layers) {
      fail(`unknown key "${key}": config.json has num_hidden_layers ${cfg.layers} (layers 0..${cfg.layers - 1})`);
    }
    // the deepest known module or module path that contains the key names what is allowed there
    const parts = key.split('.');
    for (let n = parts.length - 1; n >= 1; n--) {
      const at = parts.slice(0, n).join('.');
      const leaves = modules.get(at);
      if (leaves !== undefined) fail(`unknown key "${key}"; allowed under ${at}: ${[...leaves].join(', ')}`);
      const children = new Set<string>();
      for (const k of known) if (k.startsWith(`${at}.`)) children.add(k.slice(at.length + 1).split('.')[0]!);
      if (children.size > 0) fail(`unknown key "${key}"; allowed under ${at}: ${[...children].join(', ')}`);
    }
    fail(`unknown key "${key}": not an I-BERT encoder key (expected ${prefix}embeddings.*, ${prefix}encoder.layer.<i>.*, or a task head: pooler, classifier, lm_head, qa_outputs)`);
  }

  const values = (name: string, shape?: readonly number[]): number[] => {
    const ent = st.entry(name);
    if (ent === undefined) {
      if (name.endsWith('LayerNorm.shift')) fail(`missing "${name}": the LayerNorm shift is the checkpoint's frozen overflow buffer; a default of 0 would run other integers than the calibrated model`);
      fail(`missing "${name}"`);
    }
    if (shape !== undefined) {
      const n = shape.reduce((a, b) => a * b, 1);
      const same = ent!.shape.length === shape.length && ent!.shape.every((d, i) => d === shape[i]);
      if (!same && !(n === 1 && ent!.size === 1)) fail(`"${name}": shape [${ent!.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    return Array.from(st.values(name));
  };
  const scalarOf = (name: string): number => values(name, [1])[0]!;
  const act = (m: string, bits: number) => ({ bits, x_min: scalarOf(`${m}.x_min`), x_max: scalarOf(`${m}.x_max`) });
  const linear = (m: string, inF: number, outF: number) => {
    const ent = st.entry(`${m}.fc_scaling_factor`);
    return {
      in_features: inF, out_features: outF,
      weight_int: values(`${m}.weight_integer`, [outF, inF]),
      weight_scale: values(`${m}.fc_scaling_factor`, ent !== undefined && ent.size === 1 ? [1] : [outF]),
      bias_int: values(`${m}.bias_integer`, [outF]),
    };
  };
  const ln = (m: string, C: number) => ({ gamma: values(`${m}.weight`, [C]), beta: values(`${m}.bias`, [C]), shift: scalarOf(`${m}.shift`) });
  const C = cfg.hidden;
  const table = (m: string, n: number) => ({
    num_embeddings: n, embedding_dim: C, weight_int: values(`${m}.weight_integer`, [n, C]), weight_scale: scalarOf(`${m}.weight_scaling_factor`),
  });

  const embeddings = parseWith(where, 'embeddings', () => parseEmbeddings({
    format: EMBEDDINGS_FORMAT,
    config: { hidden_size: C },
    word_embeddings: table(`${e}.word_embeddings`, cfg.vocab),
    token_type_embeddings: table(`${e}.token_type_embeddings`, cfg.typeVocab),
    position_embeddings: table(`${e}.position_embeddings`, cfg.maxPositions),
    embeddings_act1: act(`${e}.embeddings_act1`, 16),
    LayerNorm: ln(`${e}.LayerNorm`, C),
    output_activation: act(`${e}.output_activation`, 8),
  }));
  let scale = compileEmbeddings(embeddings).outputAct.scaleOut;
  const out: IbertLayerJson[] = [];
  const F = cfg.ffn;
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}encoder.layer.${i}`;
    const layer = parseWith(where, `layer ${i} (${p}.*)`, () => parseLayer({
      format: LAYER_FORMAT,
      config: { hidden_size: C, num_attention_heads: cfg.heads, intermediate_size: F },
      input_scale: scale,
      attention: {
        self: {
          query: linear(`${p}.attention.self.query`, C, C),
          key: linear(`${p}.attention.self.key`, C, C),
          value: linear(`${p}.attention.self.value`, C, C),
          query_activation: act(`${p}.attention.self.query_activation`, 8),
          key_activation: act(`${p}.attention.self.key_activation`, 8),
          value_activation: act(`${p}.attention.self.value_activation`, 8),
          softmax_act: act(`${p}.attention.self.softmax.act`, 16),
          output_activation: act(`${p}.attention.self.output_activation`, 8),
        },
        output: {
          dense: linear(`${p}.attention.output.dense`, C, C),
          ln_input_act: act(`${p}.attention.output.ln_input_act`, 22),
          LayerNorm: ln(`${p}.attention.output.LayerNorm`, C),
          output_activation: act(`${p}.attention.output.output_activation`, 8),
        },
      },
      pre_intermediate_act: act(`${p}.pre_intermediate_act`, 8),
      intermediate: { dense: linear(`${p}.intermediate.dense`, C, F), output_activation: act(`${p}.intermediate.output_activation`, 8) },
      pre_output_act: act(`${p}.pre_output_act`, 8),
      output: {
        dense: linear(`${p}.output.dense`, F, C),
        ln_input_act: act(`${p}.output.ln_input_act`, 22),
        LayerNorm: ln(`${p}.output.LayerNorm`, C),
        output_activation: act(`${p}.output.output_activation`, 8),
      },
    }));
    out.push(layer);
    scale = compileLayer(layer).outputAct.scaleOut;
  }
  return { embeddings, layers: out, prefix };
}

function parseWith<T>(where: string, what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof KernelInputError) throw new KernelInputError(`${where}: ${what}: ${err.message}`);
    throw err;
  }
}
