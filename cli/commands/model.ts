// `intnpu model`: a whole I-BERT encoder from a Hugging Face config.json on the simulator (programs/models/model.ts):
// the embedding stage and every layer, each layer fed the previous layer's simulated output and compared with the
// reference; prints per-layer cycles, the total, MAC utilization and bit-exactness.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { CommandModule } from 'yargs';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { generateModel, makeRng } from '../../kernels/ref/generate.js';
import { maxSequence, parseHfConfig, type ModelConfig } from '../../kernels/ref/hf-config.js';
import { strictObject, type EmbeddingsInputJson } from '../../kernels/ref/layer-format.js';
import { runModelSim, type ModelCheckpoint, type ModelSimResult } from '../../programs/models/model.js';
import { loadMachine } from '../../sim/config.js';
import { loadCheckpoint } from '../checkpoint.js';
import { EXIT, handler, printJson, readJson, table, UsageError } from '../common.js';
import { Progress } from '../progress.js';
import { TensorSink } from '../tensor-out.js';
import { firstLine, intFlag, LAYER_KERNEL_RUNS } from './layer.js';
import { writeFileSync } from 'node:fs';
import { toCsv } from '../csv.js';
import { modelHtml } from '../html/model.js';
import { ReferenceThread } from '../reference-thread.js';

interface Args {
  config: string;
  layers?: number | undefined;
  seq?: number | undefined;
  pad?: number | undefined;
  machine: string;
  seed: string;
  checkpoint?: string | undefined;
  input?: string | undefined;
  json?: boolean | undefined;
  csv?: boolean | undefined;
  html?: string | undefined;
  out?: string | undefined;
  dump?: string | undefined;
  overlap?: boolean | undefined;
}

const ModelInputSchema = strictObject({
  input_ids: z.array(z.number().int().min(0)).min(1),
  token_type_ids: z.array(z.number().int().min(0)).optional(),
  position_ids: z.array(z.number().int().min(0)).optional(),
  attention_mask: z.array(z.union([z.literal(0), z.literal(1)])).optional(),
});

interface ModelRunInput {
  readonly model: ModelCheckpoint;
  readonly ids: EmbeddingsInputJson;
  readonly mask?: readonly number[];
  readonly source: string;
}

function defaultIds(cfg: ModelConfig, T: number, seed: string): EmbeddingsInputJson {
  const rng = makeRng(`${seed}/input_ids`);
  return {
    input_ids: Array.from({ length: T }, () => Math.floor(rng() * cfg.vocab)),
    token_type_ids: new Array<number>(T).fill(0),
    position_ids: Array.from({ length: T }, (_, t) => cfg.positionOffset + t),
  };
}

function padMask(T: number, pad: number | undefined): number[] | undefined {
  if (!pad) return undefined;
  if (pad >= T) throw new UsageError(`--pad: ${pad} padded positions leave no token of seq ${T} (at most ${T - 1})`);
  return Array.from({ length: T }, (_, t) => (t < T - pad ? 1 : 0));
}

/** Resolves the checkpoint, the token ids and the mask the command runs. */
export function loadModelRun(a: Args, cfg: ModelConfig, nLayers: number): ModelRunInput {
  const limit = maxSequence(cfg);
  const seqFlag = intFlag('seq', a.seq, 1);
  const pad = intFlag('pad', a.pad, 0);
  if (seqFlag !== undefined && seqFlag > limit) {
    throw new UsageError(`--seq: ${seqFlag} tokens do not fit max_position_embeddings ${cfg.maxPositions}${cfg.positionOffset ? ` (${cfg.modelType} positions start at pad_token_id + 1 = ${cfg.positionOffset})` : ''}: at most ${limit}`);
  }
  let fileInput: z.infer<typeof ModelInputSchema> | undefined;
  if (a.input !== undefined) {
    const r = ModelInputSchema.safeParse(readJson(a.input));
    if (!r.success) throw new KernelInputError(`invalid ${a.input}:\n${z.prettifyError(r.error)}`);
    fileInput = r.data;
    if (seqFlag !== undefined && seqFlag !== fileInput.input_ids.length) throw new UsageError(`--seq ${seqFlag} differs from the ${fileInput.input_ids.length} input_ids of ${a.input}`);
    if (fileInput.input_ids.length > limit) throw new UsageError(`${a.input}: input_ids: ${fileInput.input_ids.length} tokens do not fit max_position_embeddings ${cfg.maxPositions}: at most ${limit}`);
  }
  // a checkpoint folder's embeddings.json may carry token ids: their length is the default sequence
  const ck = a.checkpoint !== undefined ? loadCheckpoint(a.checkpoint, cfg, nLayers) : undefined;
  const T = fileInput?.input_ids.length ?? seqFlag ?? ck?.input?.input_ids.length ?? Math.min(128, limit);
  if (T > limit) throw new UsageError(`the checkpoint's input_ids: ${T} tokens do not fit max_position_embeddings ${cfg.maxPositions}: at most ${limit}`);
  const fileMask = fileInput?.attention_mask;
  if (fileMask !== undefined && pad !== undefined) throw new UsageError('--pad: the input file brings its own attention_mask');
  const mask = fileMask ?? padMask(T, pad);
  if (fileInput !== undefined) {
    const check = (field: string, v: readonly number[] | undefined, bound: number, cfgField: string): void => {
      if (v === undefined) return;
      if (v.length !== T) throw new UsageError(`${a.input}: ${field}: ${v.length} entries, expected one per token (${T})`);
      const i = v.findIndex((x) => x >= bound);
      if (i >= 0) throw new UsageError(`${a.input}: ${field}[${i}] = ${v[i]} is not below ${cfgField} ${bound}`);
    };
    check('input_ids', fileInput.input_ids, cfg.vocab, 'vocab_size');
    check('token_type_ids', fileInput.token_type_ids, cfg.typeVocab, 'type_vocab_size');
    check('position_ids', fileInput.position_ids, cfg.maxPositions, 'max_position_embeddings');
    check('attention_mask', fileInput.attention_mask, 2, 'the mask values');
  }
  const ids = (fallback: EmbeddingsInputJson): EmbeddingsInputJson => {
    if (fileInput === undefined) return fallback;
    const { attention_mask: _m, ...rest } = fileInput;
    return {
      ...rest,
      position_ids: fileInput.position_ids ?? Array.from({ length: T }, (_, t) => cfg.positionOffset + t),
    };
  };
  const withMask = <R extends object>(r: R): R & { mask?: readonly number[] } => (mask === undefined ? r : { ...r, mask });
  if (ck !== undefined) {
    const fallback = ck.input !== undefined && ck.input.input_ids.length === T ? ck.input : defaultIds(cfg, T, a.seed);
    return withMask({ model: ck, ids: ids(fallback), source: ck.source });
  }
  // the layers' int8 weights as Int8Array: the checkpoint is only held in memory (no number arrays of 7 M weights per layer)
  const g = generateModel({ seed: a.seed, config: cfg, seq: T, layers: nLayers, ...(pad ? { maskedTail: pad } : {}) }, { int8Arrays: true });
  return withMask({
    model: g, ids: ids(g.input),
    source: `synthetic checkpoint of ${a.config}'s shape, seed '${a.seed}' (ranges calibrated on its own token ids)`,
  });
}

const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);

/** The --json document: the result without tensors. */
export function modelSummary(r: ModelSimResult, cfg: ModelConfig, source: string, hostMs: number): Record<string, unknown> {
  return {
    checkpoint: source, machine: r.machine, clock_ghz: r.clock_ghz,
    config: { hidden_size: cfg.hidden, num_attention_heads: cfg.heads, intermediate_size: cfg.ffn, num_hidden_layers: cfg.layers, vocab_size: cfg.vocab, max_position_embeddings: cfg.maxPositions, type_vocab_size: cfg.typeVocab, model_type: cfg.modelType },
    seq: r.seq, layers_run: r.layers.length,
    total_cycles: r.total_cycles, total_model_cycles: r.total_model_cycles, latency_us: r.latency_us,
    total_macs: r.total_macs, total_dram_bytes: r.total_dram_bytes, mxu_utilization: r.mxu_utilization,
    bit_exact: r.bit_exact, matches_reference_model: r.matches_reference_model, first_mismatch: r.first_mismatch,
    unsupported: r.unsupported, schedule: r.schedule, host_ms: hostMs,
    embeddings: { ...r.embeddings, output: undefined },
    layers: r.layers.map((l, i) => ({
      index: i, total_cycles: l.total_cycles, total_model_cycles: l.total_model_cycles, latency_us: l.latency_us,
      total_macs: l.total_macs, total_dram_bytes: l.total_dram_bytes, mxu_utilization: l.mxu_utilization, bit_exact: l.bit_exact,
      first_mismatch: l.first_mismatch, unsupported: l.unsupported, steps: l.steps,
    })),
  };
}

export const modelCommand: CommandModule<object, Args> = {
  command: 'model',
  describe: 'A whole I-BERT encoder from a Hugging Face config.json: embeddings and every layer on the simulator, per-layer cycles, the total, bit-exactness',
  builder: (y) =>
    y
      .option('config', { type: 'string', demandOption: true, describe: 'Hugging Face config.json (BERT, RoBERTa or I-BERT fields)' })
      .option('layers', { type: 'number', describe: 'run the first N layers (default: num_hidden_layers)' })
      .option('seq', { type: 'number', describe: 'sequence length (default: 128, or the longest the position table allows)' })
      .option('pad', { type: 'number', describe: 'mask the last N positions (a padding mask, in every layer)' })
      .option('machine', { alias: 'm', type: 'string', default: 'edge', describe: 'preset (edge, server) or machine JSON file' })
      .option('seed', { type: 'string', default: 'intnpu-model', describe: 'seed of the synthetic checkpoint and token ids' })
      .option('checkpoint', { type: 'string', describe: 'HF I-BERT state dict (.safetensors, or a folder with model.safetensors) or a folder of embeddings.json + layer<i>.json' })
      .option('input', { type: 'string', describe: 'JSON with input_ids (and optional token_type_ids, position_ids, attention_mask)' })
      .option('out', { type: 'string', describe: 'write the simulated final int8 output [T, hidden] as .npy' })
      .option('dump', { type: 'string', describe: 'write every simulated step as DIR/embeddings/<step>.npy and DIR/layer<i>/<step>.npy (int32)' })
      .option('overlap', { type: 'boolean', default: true, describe: 'each layer\'s kernels as one chained instruction stream (as `intnpu layer`); --no-overlap: each kernel alone, summed' })
      .option('json', { type: 'boolean' })
      .option('csv', { type: 'boolean', describe: 'print every layer\'s steps as CSV: layer, then the columns of the JSON layers[].steps[]' })
      .option('html', { type: 'string', describe: 'also write a self-contained HTML report (roofline, latency by bound, stalls, unit timeline)' }),
  handler: handler((a: Args) => {
    const mcfg = loadMachine(a.machine);
    const cfg = parseHfConfig(readJson(a.config), a.config);
    const n = intFlag('layers', a.layers, 1) ?? cfg.layers;
    if (n > cfg.layers) throw new UsageError(`--layers: ${n} exceeds num_hidden_layers ${cfg.layers} of ${a.config}`);
    const progress = new Progress('model', LAYER_KERNEL_RUNS * n + 3, a.json || a.csv);
    progress.begin(a.checkpoint === undefined ? 'synthetic checkpoint generation (calibration passes)' : 'checkpoint loading');
    const inp = loadModelRun(a, cfg, n);
    const dump = a.dump;
    const sinks: TensorSink[] = [];
    const sinkFor = (sub: string): TensorSink => {
      const s = new TensorSink(dump === undefined ? undefined : join(dump, sub));
      sinks.push(s);
      return s;
    };
    const embSink = sinkFor('embeddings');
    const layerSinks = new Map<number, TensorSink>();
    const t0 = performance.now();
    // the reference layers run on a second thread, each under the previous layer's simulation (cli/reference-thread.ts)
    const refThread = new ReferenceThread();
    const r = runModelSim(inp.model, inp.ids, mcfg, {
      ...(inp.mask === undefined ? {} : { mask: inp.mask }),
      overlap: a.overlap !== false,
      referenceRunner: (c, x, T, m) => refThread.submit(c, x, T, m),
      ...(dump === undefined ? {} : { onEmbeddingsStep: (st, y) => embSink.add(st.name, 0, 1, st.shape, y) }),
      onStep: (i, st, y) => {
        progress.tick(`layer ${i} step ${st.steps.join('-')} ${st.name} done`);
        if (dump === undefined || !st.ran) return;
        let s = layerSinks.get(i);
        if (s === undefined) layerSinks.set(i, (s = sinkFor(`layer${i}`)));
        s.add(st.name, 0, 1, st.shape, y);
      },
      onEmbeddings: () => {
        for (let k = 0; k < 3; k++) progress.tick('embeddings done');
      },
    });
    progress.end();
    refThread.close();
    const hostMs = performance.now() - t0;
    for (const s of sinks) s.flush();
    if (a.html) writeFileSync(a.html, modelHtml(r, mcfg, inp.source));
    if (a.out !== undefined) new TensorSink(undefined).writeFile(a.out, r.output, [r.seq, r.hidden]);
    if (a.json) printJson(modelSummary(r, cfg, inp.source, hostMs));
    else if (a.csv) {
      const layers = modelSummary(r, cfg, inp.source, hostMs)['layers'] as { index: number; steps: readonly object[] }[];
      process.stdout.write(toCsv(layers.flatMap((l) => l.steps.map((st) => ({ layer: l.index, ...st })))));
    } else {
      const out = process.stdout;
      out.write(`intnpu model: ${inp.source}\n`);
      out.write(`shape: ${r.layers.length} of ${cfg.layers} layers, seq ${r.seq}${inp.mask ? ` (${inp.mask.filter((v) => v === 0).length} padded)` : ''}, hidden ${r.hidden}, ${r.heads} heads, FFN ${r.ffn}, vocab ${cfg.vocab}\n`);
      out.write(`machine: ${mcfg.name}: ${mcfg.mxu.rows}x${mcfg.mxu.cols} MXU, ${mcfg.vpu.lanes} lanes, ${mcfg.dram.bytesPerCycle} B/cycle DRAM, ${mcfg.clockGHz} GHz\n\n`);
      const t: (string | number)[][] = [['stage', 'kernels', 'cycles', 'share', 'model', 'MXU', 'DRAM bytes', 'bit-exact']];
      const share = (c: number): string => pct(r.total_cycles > 0 ? c / r.total_cycles : 0);
      const e = r.embeddings;
      t.push(['embeddings', e.steps.length, e.total_cycles, share(e.total_cycles), e.total_model_cycles, '-', e.total_dram_bytes, e.bit_exact ? 'yes' : 'NO']);
      r.layers.forEach((l, i) => {
        const exact = l.bit_exact ? 'yes' : l.first_mismatch ? `NO (step ${l.first_mismatch.step})` : `NOT RUN (${l.unsupported.length} steps)`;
        t.push([`layer ${i}`, l.steps.length, l.total_cycles, share(l.total_cycles), l.total_model_cycles, pct(l.mxu_utilization), l.total_dram_bytes, exact]);
      });
      out.write(table(t) + '\n\n');
      const us = r.latency_us.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      out.write(`total latency      ${r.total_cycles.toLocaleString('en-US')} cycles = ${us} us at ${mcfg.clockGHz} GHz (model ${r.total_model_cycles.toLocaleString('en-US')} cycles)` +
        (r.unsupported.length ? `; INCOMPLETE: ${r.unsupported.length} kernel run(s) did not fit the machine and count 0` : '') + '\n');
      out.write('                   embeddings then each layer, one after another; each layer as `intnpu layer` schedules it;\n');
      out.write('                   the embedding lookups (row gathers) are done by the host and not counted\n');
      out.write(`MXU utilization    ${pct(r.mxu_utilization)} over the model (${r.total_macs.toLocaleString('en-US')} MACs); DRAM traffic ${r.total_dram_bytes.toLocaleString('en-US')} bytes\n`);
      const verdict = r.bit_exact
        ? 'every step of the embeddings and of every layer bit-exact, each layer on the previous layer\'s simulated output; final output equal to the reference model\'s'
        : r.first_mismatch === null && r.unsupported.length > 0
          ? `INCOMPLETE: ${r.unsupported.length} kernel run(s) did not fit the machine (see below); every step that ran is bit-exact`
          : 'NOT bit-exact (see below)';
      out.write(`verified           ${verdict}\n`);
      out.write(`host time          ${(hostMs / 1e3).toFixed(2)} s (simulation and comparison; checkpoint generation or loading not included)\n`);
    }
    for (const u of r.unsupported) process.stderr.write(`not run on the NPU (does not fit ${r.machine} at seq ${r.seq}): layer ${u.layer} step ${u.step} (${u.name}, ${u.kernel}): ${firstLine(u.reason)}\n`);
    const m = r.first_mismatch;
    if (m) process.stderr.write(`mismatch: ${m.where === 'embeddings' ? 'embeddings' : `layer ${m.where}`} step ${m.step} (${m.name}) element ${m.index}: simulator ${m.sim}, reference ${m.ref}\n`);
    else if (!r.matches_reference_model && r.unsupported.length === 0) process.stderr.write('mismatch: the final output differs from the reference model\'s\n');
    if (m !== null || (!r.matches_reference_model && r.unsupported.length === 0)) return EXIT.mismatch;
    return r.unsupported.length > 0 ? EXIT.badInput : EXIT.ok;
  }),
};
