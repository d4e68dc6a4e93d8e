// Benchmark of a whole model on the simulator (programs/models/model.ts): BERT-base's config.json with
// num_hidden_layers 2, seq 128, the seeded synthetic checkpoint `intnpu model` builds, on the edge preset: simulated
// cycles of the embeddings and of each layer, bit-exactness, and the host time (checkpoint generation and the run).
import { performance } from 'node:perf_hooks';
import { generateModel } from '../kernels/ref/generate.js';
import { parseHfConfig } from '../kernels/ref/hf-config.js';
import { runModelSim } from '../programs/models/model.js';
import { loadMachine } from '../sim/config.js';

/** bert-base-uncased's config.json, with num_hidden_layers 2 */
export const BERT_BASE_2 = {
  architectures: ['BertForMaskedLM'], attention_probs_dropout_prob: 0.1, hidden_act: 'gelu', hidden_dropout_prob: 0.1,
  hidden_size: 768, initializer_range: 0.02, intermediate_size: 3072, layer_norm_eps: 1e-12, max_position_embeddings: 512,
  model_type: 'bert', num_attention_heads: 12, num_hidden_layers: 2, pad_token_id: 0, type_vocab_size: 2, vocab_size: 30522,
};
const SEQ = 128;
const SEED = 'intnpu-model';

export async function benchModelSim(): Promise<Record<string, unknown>> {
  const cfg = parseHfConfig(BERT_BASE_2);
  const t0 = performance.now();
  const g = generateModel({ seed: SEED, config: cfg, seq: SEQ });
  const t1 = performance.now();
  const layerMs: number[] = [];
  let last = t1;
  const r = runModelSim(g, g.input, loadMachine('edge'), {
    onEmbeddings: () => { layerMs.push(performance.now() - last); last = performance.now(); },
    onLayer: () => { layerMs.push(performance.now() - last); last = performance.now(); },
  });
  const t2 = performance.now();
  return {
    config: 'bert-base-uncased config.json with num_hidden_layers 2', seq: SEQ, seed: SEED, machine: r.machine,
    total_cycles: r.total_cycles, total_model_cycles: r.total_model_cycles, latency_us: r.latency_us, mxu_utilization: r.mxu_utilization,
    bit_exact: r.bit_exact, matches_reference_model: r.matches_reference_model,
    embeddings_cycles: r.embeddings.total_cycles, layer_cycles: r.layers.map((l) => l.total_cycles),
    generate_ms: t1 - t0, run_ms: t2 - t1, stage_host_ms: layerMs,
    note: 'generate_ms: the seeded checkpoint (float64 calibration passes of the embeddings and each layer); run_ms: embeddings and layers on the simulator with every step compared',
  };
}
