// A whole I-BERT encoder (HF IBertModel without its task head) on the simulator: the embedding stage, then every
// layer through the layer runner (programs/models/layer.ts, one call per layer), each layer fed the previous layer's
// SIMULATED int8 output, each step compared element by element with the reference layer on that same input, and
// the final output also compared with the reference model chained on reference outputs (kernels/ref/layer.ts).
//
// The embedding stage on the NPU: the three table lookups are gathers of int8 rows that the host performs (they
// are not simulated and cost 0 cycles here: T x 3 row reads of `hidden` bytes); the two QuantAct(16) sums with their
// identity terms run on the requant-act program, and IntLayerNorm with its QuantAct(8) on the fused LayerNorm
// program, each compared with the reference embedding stage's step.
//
// Latency: the sum of the embedding kernels' and the layers' cycles (each layer's total as its runner reports it,
// with the schedule it states).
import { AsmError } from '../../isa/diagnostics.js';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { embeddingLookup } from '../../kernels/ref/embedding.js';
import { generateModel } from '../../kernels/ref/generate.js';
import { maxSequence, type ModelConfig } from '../../kernels/ref/hf-config.js';
import {
  compileEmbeddings, runEmbeddings, runLayer, type CompiledEmbeddings, type CompiledLayer, type EmbeddingsRun, type LayerRun,
} from '../../kernels/ref/layer.js';
import type { EmbeddingsInputJson, IbertEmbeddingsJson, IbertLayerJson } from '../../kernels/ref/layer-format.js';
import type { IntData } from '../../kernels/ref/tensor.js';
import type { MachineConfig } from '../../sim/config.js';
import type { CaseRun } from '../index.js';
import { simCaseLayerNorm } from '../layernorm/build.js';
import { TilingError } from '../schedule.js';
import { simCaseRequantAct } from '../requant-act/build.js';
import { compileLayerSim, runLayerSim, type LazyReference, type LayerSimResult, type LayerSimStep } from './layer.js';

/** A checkpoint: the embedding stage and the encoder layers, in order. */
export interface ModelCheckpoint {
  readonly embeddings: IbertEmbeddingsJson;
  readonly layers: readonly IbertLayerJson[];
}

/** One kernel run of the embedding stage. */
export interface EmbeddingSimStep {
  readonly step: number;
  readonly name: string;
  readonly kernel: 'requant-act' | 'layernorm';
  readonly shape: readonly number[];
  readonly cycles: number;
  readonly model_cycles: number;
  readonly model_exact: boolean;
  readonly vpu_utilization: number | null;
  readonly dram_bytes: number;
  readonly instructions: number;
  readonly identical_to_reference: boolean;
  readonly elements: number;
  readonly identical_elements: number;
  readonly first_diff: { readonly index: number; readonly sim: number; readonly ref: number | string } | null;
}

export interface EmbeddingsSimResult {
  readonly steps: readonly EmbeddingSimStep[];
  readonly total_cycles: number;
  readonly total_model_cycles: number;
  readonly total_dram_bytes: number;
  readonly bit_exact: boolean;
  /** int8 [seq, hidden]: the first layer's input */
  readonly output: Int8Array;
  readonly output_scale: number;
  readonly note: string;
}

/** A layer's result without its reference tensors (kept small: a model holds many). */
export type ModelLayerResult = Omit<LayerSimResult, 'reference'>;

export interface ModelSimResult {
  readonly machine: string;
  readonly clock_ghz: number;
  readonly seq: number;
  readonly hidden: number;
  readonly heads: number;
  readonly ffn: number;
  readonly embeddings: EmbeddingsSimResult;
  readonly layers: readonly ModelLayerResult[];
  readonly total_cycles: number;
  readonly total_model_cycles: number;
  readonly latency_us: number;
  readonly total_macs: number;
  readonly total_dram_bytes: number;
  /** total MACs over (total cycles x MXU cells) */
  readonly mxu_utilization: number;
  /** the embedding stage and every layer bit-exact, and the final output equal to the reference model's */
  readonly bit_exact: boolean;
  /** the simulated final output equals the reference model chained on reference tensors */
  readonly matches_reference_model: boolean;
  /** where the first mismatch is: 'embeddings' or a layer index, with the step */
  readonly first_mismatch: { readonly where: 'embeddings' | number; readonly step: number; readonly name: string; readonly index: number; readonly sim: number; readonly ref: number | string } | null;
  /** steps the NPU kernels could not take (layer index, step, reason) */
  readonly unsupported: readonly { readonly layer: number; readonly step: number; readonly name: string; readonly kernel: string; readonly reason: string }[];
  /** int8 [seq, hidden]: the last layer's simulated output */
  readonly output: Int8Array;
  readonly output_scale: number;
  readonly schedule: string;
}

export interface ModelSimOptions {
  /** HF key mask per position (1 attend, 0 masked), applied in every layer */
  readonly mask?: readonly number[];
  /** called after the embedding stage */
  readonly onEmbeddings?: (r: EmbeddingsSimResult) => void;
  /** called after each layer, with its index */
  readonly onLayer?: (index: number, r: ModelLayerResult) => void;
  /** called after each kernel run of a layer, with the tensor it produced (as LayerSimOptions.onStep) */
  readonly onStep?: (layer: number, step: LayerSimStep, output: Int32Array) => void;
  /** called after each kernel run of the embedding stage, with the simulator's output */
  readonly onEmbeddingsStep?: (step: EmbeddingSimStep, output: Int32Array) => void;
  /** each layer's kernels overlapped as one chain (LayerSimOptions.overlap; default true) */
  readonly overlap?: boolean;
  /**
   * How the reference layers run: given a layer and its reference input, returns the function that gives the run
   * (called when it is needed). Default: runLayer at once. The CLI hands them to a worker thread: the reference model
   * chains on reference tensors only, so layer i + 1's reference runs while layer i is simulated.
   */
  readonly referenceRunner?: (compiled: CompiledLayer, x: Int8Array, T: number, mask?: readonly number[]) => LazyReference;
}

function diff(sim: ArrayLike<number>, ref: IntData): { identical: number; first: EmbeddingSimStep['first_diff'] } {
  let identical = 0;
  let first: EmbeddingSimStep['first_diff'] = null;
  for (let i = 0; i < ref.length; i++) {
    const b = ref[i]!;
    const a = sim[i]!;
    if (typeof b === 'bigint' ? BigInt(a) === b : a === b) identical++;
    else first ??= { index: i, sim: a, ref: typeof b === 'bigint' ? b.toString() : b };
  }
  return { identical, first };
}

const SCHEDULE_EMBEDDINGS =
  'lookups (gathers of int8 table rows) by the host, not simulated (0 cycles); the two QuantAct(16) sums on the requant-act program and LayerNorm + QuantAct(8) on the fused LayerNorm program, one after another';

/** The embedding stage on the simulator (see the header), compared step by step with the reference stage. */
export function runEmbeddingsSim(
  e: IbertEmbeddingsJson, input: EmbeddingsInputJson, cfg: MachineConfig, compiled?: CompiledEmbeddings, reference?: EmbeddingsRun,
  onStep?: (step: EmbeddingSimStep, output: Int32Array) => void,
): EmbeddingsSimResult {
  const c = compiled ?? compileEmbeddings(e);
  const ref = reference ?? runEmbeddings(c, input);
  const T = input.input_ids.length;
  const C = c.hidden;
  const tt = input.token_type_ids ?? new Array<number>(T).fill(0);
  const pos = input.position_ids ?? Array.from({ length: T }, (_, i) => i);
  const word = embeddingLookup(c.word.table, C, input.input_ids);
  const type = embeddingLookup(c.tokenType.table, C, tt);
  const position = embeddingLookup(c.position.table, C, pos);
  const steps: EmbeddingSimStep[] = [];
  /** a kernel that cannot take the embedding stage on this machine is bad input for it: name the stage and the limit */
  const fit = (name: string, kernel: string, run: () => CaseRun): CaseRun => {
    try {
      return run();
    } catch (err) {
      if (err instanceof KernelInputError || err instanceof TilingError || err instanceof AsmError) {
        const first = err.message.split('\n')[0]!;
        throw new KernelInputError(`embeddings: step ${name} (${kernel}) does not fit ${cfg.name} at seq ${T}: ${first}`);
      }
      throw err;
    }
  };
  const record = (step: number, name: keyof EmbeddingsRun['steps'], kernel: EmbeddingSimStep['kernel'], r: CaseRun): number[] => {
    const rs = ref.steps[name];
    const d = r.y_int.length === rs.data.length ? diff(r.y_int, rs.data) : { identical: 0, first: { index: 0, sim: NaN, ref: `length ${rs.data.length}` } };
    steps.push({
      step, name, kernel, shape: [T, C], cycles: r.cycles, model_cycles: r.model_cycles, model_exact: r.model_exact,
      vpu_utilization: r.sim.stats.utilization?.['vpu'] ?? null, dram_bytes: r.sim.stats.dram_bytes, instructions: r.sim.stats.instructions,
      identical_to_reference: d.identical === rs.data.length, elements: rs.data.length, identical_elements: d.identical, first_diff: d.first,
    });
    onStep?.(steps[steps.length - 1]!, Int32Array.from(r.y_int));
    return r.y_int;
  };
  const act = e.embeddings_act1;
  const s1 = record(1, 'sum1', 'requant-act', fit('sum1', 'requant-act', () => simCaseRequantAct({
    x_int: Array.from(word), shape: [T, C], scale_in: c.word.scale, bits: act.bits, x_min: act.x_min, x_max: act.x_max,
    identity_int: Array.from(type), identity_scale: c.tokenType.scale,
  }, cfg)));
  const s2 = record(2, 'sum2', 'requant-act', fit('sum2', 'requant-act', () => simCaseRequantAct({
    x_int: s1, shape: [T, C], scale_in: c.act1a.scaleOut, bits: act.bits, x_min: act.x_min, x_max: act.x_max,
    identity_int: Array.from(position), identity_scale: c.position.scale,
  }, cfg)));
  const out = e.output_activation;
  const y = record(4, 'output8', 'layernorm', fit('output8', 'layernorm', () => simCaseLayerNorm({
    x_int: s2, shape: [T, C], gamma: [...e.LayerNorm.gamma], beta: [...e.LayerNorm.beta], shift: e.LayerNorm.shift,
    out_x_min: out.x_min, out_x_max: out.x_max, out_bits: out.bits,
  }, cfg)));
  let total = 0, totalModel = 0, dram = 0;
  for (const s of steps) {
    total += s.cycles;
    totalModel += s.model_cycles;
    dram += s.dram_bytes;
  }
  return {
    steps, total_cycles: total, total_model_cycles: totalModel, total_dram_bytes: dram,
    bit_exact: steps.every((s) => s.identical_to_reference), output: Int8Array.from(y), output_scale: c.outputAct.scaleOut,
    note: SCHEDULE_EMBEDDINGS,
  };
}

function sameInt8(a: Int8Array, b: Int8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Runs the model on the simulator: embeddings, then each layer on the previous layer's simulated output. Every
 * layer's input_scale must equal the previous stage's output scale (the true scale chain, not HF's cross-layer bug).
 */
export function runModelSim(model: ModelCheckpoint, input: EmbeddingsInputJson, cfg: MachineConfig, opts: ModelSimOptions = {}): ModelSimResult {
  const T = input.input_ids.length;
  if (T < 1) throw new KernelInputError('input_ids: empty sequence');
  if (model.layers.length < 1) throw new KernelInputError('layers: a model needs at least one layer');
  if (opts.mask !== undefined && opts.mask.length !== T) throw new KernelInputError(`attention_mask: ${opts.mask.length} entries, expected seq ${T}`);
  const ce = compileEmbeddings(model.embeddings);
  // the scale chain is checked before anything runs (folding only): layer i's input_scale = the previous output scale
  const compiled = model.layers.map((l) => compileLayerSim(l));
  let chain = ce.outputAct.scaleOut;
  compiled.forEach((cl, i) => {
    const layer = cl.layer;
    if (layer.config.hidden_size !== model.embeddings.config.hidden_size) {
      throw new KernelInputError(`layer ${i}: config.hidden_size ${layer.config.hidden_size} differs from the embeddings' ${model.embeddings.config.hidden_size}`);
    }
    if (layer.input_scale !== chain) {
      throw new KernelInputError(`layer ${i}: input_scale ${layer.input_scale} differs from the output scale of ${i === 0 ? 'the embeddings' : `layer ${i - 1}`} (${chain}); a layer's biases are quantized with its input scale, so the chain must agree`);
    }
    chain = cl.compiled.outputAct.scaleOut;
  });
  const refEmb = runEmbeddings(ce, input);
  const mask = opts.mask;
  const runRef = opts.referenceRunner ?? ((c: CompiledLayer, xr: Int8Array, Tr: number, m?: readonly number[]): LazyReference => {
    const run = runLayer(c, xr, Tr, m);
    return { ready: () => true, get: () => run };
  });
  // the first layer's reference starts now (with a worker, under the embeddings' simulation)
  let nextRef = runRef(compiled[0]!.compiled, refEmb.output, T, mask);
  const emb = runEmbeddingsSim(model.embeddings, input, cfg, ce, refEmb, opts.onEmbeddingsStep);
  opts.onEmbeddings?.(emb);

  const layers: ModelLayerResult[] = [];
  const unsupported: ModelSimResult['unsupported'][number][] = [];
  let first: ModelSimResult['first_mismatch'] = null;
  const badEmb = emb.steps.find((s) => !s.identical_to_reference);
  if (badEmb?.first_diff) first = { where: 'embeddings', step: badEmb.step, name: badEmb.name, index: badEmb.first_diff.index, sim: badEmb.first_diff.sim, ref: badEmb.first_diff.ref };

  let x = emb.output;
  // the reference model, chained on reference tensors (equal to the simulated chain while every stage is bit-exact)
  let refX = refEmb.output;
  for (let i = 0; i < model.layers.length; i++) {
    const cl = compiled[i]!;
    const same = sameInt8(x, refX);
    const refRun: LayerRun = nextRef.get();
    // the next layer's reference needs only this one's reference output
    if (i + 1 < model.layers.length) nextRef = runRef(compiled[i + 1]!.compiled, refRun.output, T, mask);
    const r = runLayerSim(cl, x, T, cfg, {
      ...(mask === undefined ? {} : { mask }),
      ...(same ? { reference: refRun } : {}),
      ...(opts.overlap === undefined ? {} : { overlap: opts.overlap }),
      ...(opts.onStep ? { onStep: (s: LayerSimStep, y: Int32Array) => opts.onStep!(i, s, y) } : {}),
    });
    const { reference: _ref, ...kept } = r;
    layers.push(kept);
    opts.onLayer?.(i, kept);
    for (const u of r.unsupported) unsupported.push({ layer: i, ...u });
    if (first === null && r.first_mismatch) first = { where: i, step: r.first_mismatch.step, name: r.first_mismatch.name, index: r.first_mismatch.index, sim: r.first_mismatch.sim, ref: r.first_mismatch.ref };
    x = r.output;
    refX = refRun.output;
  }

  let total = emb.total_cycles, totalModel = emb.total_model_cycles, macs = 0, dram = emb.total_dram_bytes;
  for (const l of layers) {
    total += l.total_cycles;
    totalModel += l.total_model_cycles;
    macs += l.total_macs;
    dram += l.total_dram_bytes;
  }
  const matches = sameInt8(x, refX);
  const l0 = layers[0]!;
  return {
    machine: cfg.name, clock_ghz: cfg.clockGHz, seq: T, hidden: l0.hidden, heads: l0.heads, ffn: l0.ffn,
    embeddings: emb, layers, total_cycles: total, total_model_cycles: totalModel, latency_us: total / (cfg.clockGHz * 1e3),
    total_macs: macs, total_dram_bytes: dram, mxu_utilization: total > 0 ? macs / (total * cfg.mxu.rows * cfg.mxu.cols) : 0,
    bit_exact: emb.bit_exact && layers.every((l) => l.bit_exact) && matches,
    matches_reference_model: matches, first_mismatch: first, unsupported, output: x, output_scale: chain,
    schedule: `embeddings: ${SCHEDULE_EMBEDDINGS}; layers one after another, each: ${l0.schedule}`,
  };
}

export interface SyntheticModelRunOptions {
  readonly seed?: string;
  /** sequence length (default min(128, the longest the position table allows)) */
  readonly seq?: number;
  /** the first N layers (default config.num_hidden_layers) */
  readonly layers?: number;
  /** trailing positions masked out in every layer */
  readonly pad?: number;
  readonly onLayer?: ModelSimOptions['onLayer'];
}

/**
 * `intnpu model --config` as a library call: the seeded synthetic checkpoint of a config.json's shape (the
 * command's default seed 'intnpu-model'), run on the simulator. Sweeps and reports call this.
 */
export function runSyntheticModel(config: ModelConfig, cfg: MachineConfig, opts: SyntheticModelRunOptions = {}): ModelSimResult {
  const limit = maxSequence(config);
  const T = opts.seq ?? Math.min(128, limit);
  if (!Number.isSafeInteger(T) || T < 1) throw new KernelInputError(`seq: ${T} is not a positive integer`);
  if (T > limit) throw new KernelInputError(`seq: ${T} tokens do not fit max_position_embeddings ${config.maxPositions}: at most ${limit}`);
  const n = opts.layers ?? config.layers;
  if (!Number.isSafeInteger(n) || n < 1 || n > config.layers) throw new KernelInputError(`layers: ${n} is not in 1..num_hidden_layers ${config.layers}`);
  const pad = opts.pad ?? 0;
  if (!Number.isSafeInteger(pad) || pad < 0 || pad >= T) throw new KernelInputError(`pad: ${pad} is not in 0..${T - 1}`);
  const g = generateModel({ seed: opts.seed ?? 'intnpu-model', config, seq: T, layers: n, ...(pad ? { maskedTail: pad } : {}) }, { int8Arrays: true });
  return runModelSim(g, g.input, cfg, {
    ...(g.mask === undefined ? {} : { mask: g.mask }),
    ...(opts.onLayer ? { onLayer: opts.onLayer } : {}),
  });
}
