// Loading a model checkpoint for `intnpu model --checkpoint PATH` (file-system side; the formats are read by
// kernels/ref): a Hugging Face I-BERT state dict in safetensors form (a .safetensors file, or a folder holding
// model.safetensors), or a folder in the layer format (embeddings.json, layer0.json, layer1.json, ...).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../kernels/ref/hf-config.js';
import { hfStateDictToModel } from '../kernels/ref/hf-checkpoint.js';
import { parseEmbeddings, parseLayer, type EmbeddingsInputJson, type IbertLayerJson } from '../kernels/ref/layer-format.js';
import { parseSafetensors } from '../kernels/ref/safetensors.js';
import type { ModelCheckpoint } from '../programs/models/model.js';
import { readJson, UsageError } from './common.js';
import { readInputFile } from './files.js';

export interface LoadedCheckpoint extends ModelCheckpoint {
  readonly source: string;
  /** the token ids an embeddings.json carries in its `input`, if any */
  readonly input?: EmbeddingsInputJson;
}

/** Checkpoints are larger than other inputs (BERT-base is ~0.5 GB, BERT-large in float32 ~1.4 GB; a Buffer holds
 * up to 2 GiB here); still a regular file only. */
export const MAX_CHECKPOINT_BYTES = 2 * 1024 * 1024 * 1024 - 1;

function readBytes(path: string): Uint8Array {
  return readInputFile(path, path, MAX_CHECKPOINT_BYTES);
}

function mismatch(where: string, field: string, got: number, want: number, cfgField: string): never {
  throw new UsageError(`${where}: ${field} is ${got} but config.json ${cfgField} is ${want}`);
}

export function loadCheckpoint(path: string, cfg: ModelConfig, layers: number): LoadedCheckpoint {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new UsageError(`--checkpoint: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const st = path.endsWith('.safetensors') ? path : isDir && existsSync(join(path, 'model.safetensors')) ? join(path, 'model.safetensors') : undefined;
  if (st !== undefined) {
    const m = hfStateDictToModel(parseSafetensors(readBytes(st), st), cfg, st, layers);
    return { embeddings: m.embeddings, layers: m.layers, source: `${st} (Hugging Face I-BERT state dict${m.prefix ? `, prefix '${m.prefix}'` : ''})` };
  }
  if (!isDir) throw new UsageError(`--checkpoint: ${path}: expected a .safetensors file or a folder (model.safetensors, or embeddings.json with layer0.json, layer1.json, ...)`);
  const ef = join(path, 'embeddings.json');
  if (!existsSync(ef)) throw new UsageError(`--checkpoint: ${path} holds neither model.safetensors nor embeddings.json`);
  const embeddings = parseEmbeddings(readJson(ef));
  const eh = embeddings.config.hidden_size;
  if (eh !== cfg.hidden) mismatch(ef, 'config.hidden_size', eh, cfg.hidden, 'hidden_size');
  if (embeddings.word_embeddings.num_embeddings !== cfg.vocab) mismatch(ef, 'word_embeddings.num_embeddings', embeddings.word_embeddings.num_embeddings, cfg.vocab, 'vocab_size');
  if (embeddings.position_embeddings.num_embeddings !== cfg.maxPositions) mismatch(ef, 'position_embeddings.num_embeddings', embeddings.position_embeddings.num_embeddings, cfg.maxPositions, 'max_position_embeddings');
  if (embeddings.token_type_embeddings.num_embeddings !== cfg.typeVocab) mismatch(ef, 'token_type_embeddings.num_embeddings', embeddings.token_type_embeddings.num_embeddings, cfg.typeVocab, 'type_vocab_size');
  const out: IbertLayerJson[] = [];
  for (let i = 0; i < layers; i++) {
    const lf = join(path, `layer${i}.json`);
    if (!existsSync(lf)) throw new UsageError(`--checkpoint: ${lf} is missing (${layers} layers requested)`);
    const l = parseLayer(readJson(lf));
    if (l.config.hidden_size !== cfg.hidden) mismatch(lf, 'config.hidden_size', l.config.hidden_size, cfg.hidden, 'hidden_size');
    if (l.config.num_attention_heads !== cfg.heads) mismatch(lf, 'config.num_attention_heads', l.config.num_attention_heads, cfg.heads, 'num_attention_heads');
    if (l.config.intermediate_size !== cfg.ffn) mismatch(lf, 'config.intermediate_size', l.config.intermediate_size, cfg.ffn, 'intermediate_size');
    out.push(l);
  }
  const { input, ...emb } = embeddings;
  const base = { embeddings: emb, layers: out, source: `${path} (layer format: embeddings.json, layer0..${layers - 1}.json)` };
  return input === undefined ? base : { ...base, input };
}
