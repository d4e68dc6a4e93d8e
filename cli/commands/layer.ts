// `intnpu layer`: a whole I-BERT encoder layer on the simulator (programs/models/layer.ts), kernel after kernel, every
// step compared with the reference layer; prints the per-step latency table and the layer latency.
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CommandModule } from 'yargs';
import { makeRng, type SyntheticLayerOptions } from '../../kernels/ref/generate.js';
import { syntheticLayer } from '../layer-cache.js';
import { maxSequence, parseHfConfig } from '../../kernels/ref/hf-config.js';
import { parseNpy } from '../../kernels/ref/npy.js';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { layerInputSequences, parseLayer, type IbertLayerJson, type LayerSequence } from '../../kernels/ref/layer-format.js';
import { compileLayerSim, layerDramBytes, runLayerSim, type LayerSimResult } from '../../programs/models/layer.js';
import { ReferenceThread } from '../reference-thread.js';
import { loadMachine, type MachineConfig } from '../../sim/config.js';
import { EXIT, handler, printJson, readJson, table, UsageError } from '../common.js';
import { readInputFile, writeOutputFile } from '../files.js';
import { TensorSink } from '../tensor-out.js';
import { toCsv } from '../csv.js';
import { Progress } from '../progress.js';

interface Args {
  machine: string;
  size: string;
  seed: string;
  seq?: number | undefined;
  pad?: number | undefined;
  layer?: string | undefined;
  checkpoint?: string | undefined;
  config?: string | undefined;
  index?: number | undefined;
  input?: string | undefined;
  json?: boolean | undefined;
  out?: string | undefined;
  dump?: string | undefined;
  csv?: boolean | undefined;
  html?: string | undefined;
  fuse?: boolean | undefined;
  overlap?: boolean | undefined;
}

/**
 * Kernel runs of the fused layer schedule where every fusion applies (qk-softmax, P.V+requant, LayerNorm+rescale,
 * linear-gelu: 10). For the progress estimate only; a machine where a fusion does not pay runs more, and the count
 * shown is never clamped to it.
 */
export const LAYER_KERNEL_RUNS = 10;

export const LAYER_SIZES = {
  small: { seq: 8, hidden: 64, heads: 2, ffn: 256 },
  base: { seq: 128, hidden: 768, heads: 12, ffn: 3072 },
} as const;

interface LayerInput {
  readonly layer: IbertLayerJson;
  /** one sequence, or the B sequences of a batch input [B, T, C] */
  readonly seqs: readonly LayerSequence[];
  readonly source: string;
  /** a synthetic layer read from the cache: its options (the reference thread reads it too, rather than a copy) */
  readonly cached?: SyntheticLayerOptions;
}

/** A --seq or --pad value: a non-negative (positive for --seq) integer, else exit 1 naming the flag. */
export function intFlag(name: string, v: number | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < min) throw new UsageError(`--${name}: ${v} is not ${min > 0 ? 'a positive' : 'a non-negative'} integer`);
  return v;
}

/**
 * Host limit of a synthetic layer's length: the generator and the reference hold [heads, T, T] tensors in float64 and
 * int64, and the fused qk-softmax program (no loop over its chunks yet) grows with T^2: about 1 M instructions and
 * 0.85 GB of host memory at 512 tokens. Beyond 1024 the run needs several GB; refused rather than left to run out.
 */
export const SYNTHETIC_MAX_SEQ = 1024;

async function loadLayer(a: Args, cfg: MachineConfig): Promise<LayerInput> {
  const seq = intFlag('seq', a.seq, 1);
  const pad = intFlag('pad', a.pad, 0);
  if (a.checkpoint !== undefined) return loadCheckpointLayer(a, seq, pad);
  if (a.input !== undefined || a.index !== undefined || a.config !== undefined) throw new UsageError('--input/--index/--config go with --checkpoint');
  if (a.layer !== undefined) {
    if (seq !== undefined || pad !== undefined) throw new UsageError('--seq/--pad: a --layer file brings its own input (input.shape and input.attention_mask)');
    const layer = parseLayer(readJson(a.layer));
    if (layer.input === undefined) throw new KernelInputError(`${a.layer}: input: required to run the layer (x_int with its shape)`);
    return { layer, seqs: layerInputSequences(layer.input), source: a.layer };
  }
  const size = a.size === 'small' ? LAYER_SIZES.small : LAYER_SIZES.base;
  const dims = { ...size, seq: seq ?? size.seq };
  if (dims.seq > SYNTHETIC_MAX_SEQ) {
    throw new UsageError(`--seq: ${dims.seq} tokens exceed the host limit of a synthetic layer, ${SYNTHETIC_MAX_SEQ} (the reference and the fused attention program grow with seq^2)`);
  }
  // overlapped, every weight and hand-on tensor stays in DRAM (each kernel alone, --no-overlap, needs only its own)
  const need = layerDramBytes(dims.seq, dims.hidden, dims.heads, dims.ffn);
  if (a.overlap !== false && need > cfg.dram.sizeBytes) {
    let most = dims.seq;
    while (most > 1 && layerDramBytes(most, dims.hidden, dims.heads, dims.ffn) > cfg.dram.sizeBytes) most--;
    throw new UsageError(
      `--seq: a ${a.size === 'small' ? 'small' : 'BERT-base'} layer at seq ${dims.seq} keeps at least ${need} bytes in DRAM (weights, and the tensors the kernels hand on, ` +
        `${dims.heads}x${dims.seq}x${dims.seq} attention probabilities among them), but ${cfg.name}'s dram.sizeBytes is ${cfg.dram.sizeBytes}: at most seq ${most}`,
    );
  }
  if (pad !== undefined && pad >= dims.seq) throw new UsageError(`--pad: ${pad} padded positions leave no token of seq ${dims.seq} (at most ${dims.seq - 1})`);
  const opts: SyntheticLayerOptions = { seed: a.seed, ...dims, ...(pad ? { maskedTail: pad } : {}) };
  const g = syntheticLayer(opts);
  if (g.layer.input === undefined) throw new Error('internal: generateLayer returned no input');
  const x = Int8Array.from(g.layer.input.x_int);
  return {
    layer: g.layer, seqs: [g.mask === undefined ? { x, T: dims.seq } : { x, T: dims.seq, mask: g.mask }], ...(g.from === 'cache' ? { cached: opts } : {}),
    source: `synthetic ${a.size === 'small' ? 'small' : 'BERT-base'} layer${seq !== undefined ? ` at seq ${seq}` : ''}${pad ? `, last ${pad} positions padded (masked)` : ''}, seed '${a.seed}'`,
  };
}

/**
 * One layer of a checkpoint (`--checkpoint`, read as `intnpu model` reads it, the config beside it by default), on
 * `--input x.npy` (int8 [T, C] or [B, T, C], at the layer's input scale) or on seeded int8 values of --seq tokens.
 */
async function loadCheckpointLayer(a: Args, seq: number | undefined, pad: number | undefined): Promise<LayerInput> {
  // loaded on use: the checkpoint readers (safetensors, HF state dicts) are not on the synthetic layer's path
  const { loadCheckpoint } = await import('../checkpoint.js');
  if (a.layer !== undefined) throw new UsageError('--layer and --checkpoint: give one');
  const ck = a.checkpoint!;
  const confPath = a.config ?? join(isDirectory(ck) ? ck : dirname(ck), 'config.json');
  const cfg = parseHfConfig(readJson(confPath), confPath);
  const index = intFlag('index', a.index, 0) ?? 0;
  if (index >= cfg.layers) throw new UsageError(`--index: ${index} is not a layer of ${confPath} (num_hidden_layers ${cfg.layers})`);
  const m = loadCheckpoint(ck, cfg, index + 1);
  const layer = m.layers[index]!;
  const C = cfg.hidden;
  let x: number[];
  let shape: number[];
  if (a.input !== undefined) {
    if (seq !== undefined) throw new UsageError('--seq: the --input tensor brings its own shape');
    const arr = parseNpy(readBytes(a.input), a.input);
    if ((arr.shape.length !== 2 && arr.shape.length !== 3) || arr.shape[arr.shape.length - 1] !== C) {
      throw new UsageError(`${a.input}: shape (${arr.shape.join(', ')}): expected [T, ${C}] or [B, T, ${C}] (hidden_size ${C})`);
    }
    const bad = arr.data.findIndex((v) => v < -128 || v > 127);
    if (bad >= 0) throw new UsageError(`${a.input}: value ${bad} = ${arr.data[bad]} is not int8`);
    x = arr.data;
    shape = arr.shape;
  } else {
    const T = seq ?? Math.min(128, maxSequence(cfg));
    const rng = makeRng(`${a.seed}/input`);
    x = Array.from({ length: T * C }, () => Math.floor(rng() * 256) - 128);
    shape = [T, C];
  }
  const T = shape[shape.length - 2]!;
  if (pad !== undefined && pad >= T) throw new UsageError(`--pad: ${pad} padded positions leave no token of seq ${T} (at most ${T - 1})`);
  const mask = pad ? Array.from({ length: T }, (_, t) => (t < T - pad ? 1 : 0)) : undefined;
  const input = { shape: shape as [number, number] | [number, number, number], x_int: x, ...(mask ? { attention_mask: mask as (0 | 1)[] } : {}) };
  return {
    layer, seqs: layerInputSequences(input),
    source: `layer ${index} of ${m.source} on ${a.input ?? `seeded uniform int8 input (${T} tokens, seed '${a.seed}')`}${pad ? `, last ${pad} positions padded` : ''}`,
  };
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readBytes(path: string): Uint8Array {
  return readInputFile(path);
}

/**
 * Exit code of a layer run: 0 bit-exact; 2 a step's output differs from the reference; 1 when nothing differs but a
 * step could not run on this machine (the input does not fit it: the reason names the limit).
 */
export function layerExit(mismatch: boolean, unsupported: number): number {
  if (mismatch) return EXIT.mismatch;
  return unsupported > 0 ? EXIT.badInput : EXIT.ok;
}

const BOUND_NAMES = { mac: 'MAC', dram: 'DRAM', vpu_issue: 'VPU', divider: 'div' } as const;

/** What the report prints and --json emits: the result without the tensors. */
function summary(r: LayerSimResult, source: string, hostMs: number, cfg: MachineConfig): Record<string, unknown> {
  return {
    layer: source, machine: r.machine, machine_config: cfg, clock_ghz: r.clock_ghz,
    shape: { seq: r.seq, hidden: r.hidden, heads: r.heads, ffn: r.ffn },
    total_cycles: r.total_cycles, total_model_cycles: r.total_model_cycles, latency_us: r.latency_us,
    total_macs: r.total_macs, total_dram_bytes: r.total_dram_bytes, mxu_utilization: r.mxu_utilization, bounds: r.bounds,
    bit_exact: r.bit_exact, first_mismatch: r.first_mismatch, unsupported: r.unsupported,
    schedule: r.schedule, host_ms: hostMs,
    // the process so far (start-up, layer generation, the run): what `npm run bench` reports end to end
    process: { ms: performance.now(), peak_rss_mb: process.resourceUsage().maxRSS / 1024 },
    steps: r.steps.map((s) => ({ ...s, share: r.total_cycles > 0 ? s.cycles / r.total_cycles : 0 })),
  };
}

export const layerCommand: CommandModule<object, Args> = {
  command: ['layer', '$0'],
  describe: 'A whole I-BERT encoder layer on the simulator: per-step cycles, utilization and bit-exactness vs the reference, and the layer latency',
  builder: (y) =>
    y
      .option('machine', { alias: 'm', type: 'string', default: 'edge', describe: 'preset (edge, server) or machine JSON file' })
      .option('size', { type: 'string', choices: ['small', 'base'], default: 'base', describe: 'synthetic layer size (small: seq 8, hidden 64; base: BERT-base)' })
      .option('seed', { type: 'string', default: 'intnpu-layer', describe: 'seed of the synthetic layer' })
      .option('seq', { type: 'number', describe: 'sequence length of the synthetic layer (default: 8 small, 128 base); any length the memories allow' })
      .option('pad', { type: 'number', describe: 'mask the last N positions of the synthetic input (a padding mask)' })
      .option('layer', { type: 'string', describe: 'an intnpu/ibert-layer@1 JSON file with its input ([T, C] or a batch [B, T, C]), instead of a synthetic layer' })
      .option('checkpoint', { type: 'string', describe: 'a model checkpoint as `intnpu model` reads it (HF I-BERT .safetensors or a layer-format folder): run one of its layers' })
      .option('config', { type: 'string', describe: 'with --checkpoint: its config.json (default: config.json beside the checkpoint)' })
      .option('index', { type: 'number', describe: 'with --checkpoint: which layer (default 0)' })
      .option('input', { type: 'string', describe: 'with --checkpoint: the layer input as .npy, int8 [T, hidden] or [B, T, hidden] at the layer\'s input scale (default: seeded int8 values, --seq tokens)' })
      .option('out', { type: 'string', describe: 'write the simulated final int8 output as .npy ([T, C], or [B, T, C] for a batch)' })
      .option('dump', { type: 'string', describe: 'write every step the simulator produced as DIR/<step>.npy (int32; a batch adds a leading B)' })
      .option('overlap', { type: 'boolean', default: true, describe: 'run the kernels as one chained instruction stream, each reading its producer\'s DRAM bytes, the next kernel dispatched under the previous one\'s tail (--no-overlap: each kernel alone, summed)' })
      .option('fuse', { type: 'boolean', default: true, describe: 'fused programs where the data allows (fc1+GELU+rescale, P.V+QuantAct, LayerNorm+rescale); --no-fuse runs every kernel apart (and --dump then has every intermediate step)' })
      .option('json', { type: 'boolean' })
      .option('csv', { type: 'boolean', describe: 'print the step table as CSV (the columns of the JSON steps)' })
      .option('html', { type: 'string', describe: 'also write a self-contained HTML report (roofline, latency by bound, stalls, unit timeline)' }),
  handler: handler(async (a: Args) => {
    // the reference layer runs on a second thread while this one simulates (cli/reference-thread.ts); started
    // first, so that it loads its modules while the layer is read
    const refThread = new ReferenceThread();
    const cfg = loadMachine(a.machine);
    const inp = await loadLayer(a, cfg);
    const sink = new TensorSink(a.dump);
    const t0 = performance.now();
    const compiled = compileLayerSim(inp.layer);
    const B = inp.seqs.length;
    if (B > 1 && (a.html !== undefined || a.csv)) throw new UsageError(`--${a.csv ? 'csv' : 'html'}: reports one sequence; the input holds ${B} (give one sequence, or use --json)`);
    const progress = new Progress('layer', LAYER_KERNEL_RUNS * B, a.json || a.csv);
    const refs = inp.seqs.map((sq) => refThread.submit(compiled.compiled, sq.x, sq.T, sq.mask, inp.cached));
    const runs = inp.seqs.map((sq, b) => runLayerSim(compiled, sq.x, sq.T, cfg, {
      ...(sq.mask === undefined ? {} : { mask: sq.mask }),
      reference: refs[b]!,
      fuse: a.fuse !== false,
      overlap: a.overlap !== false,
      onStep: (st, y) => {
        progress.tick(`${B > 1 ? `sequence ${b} ` : ''}step ${st.steps.join('-')} ${st.name} done`);
        if (st.ran) sink.add(st.name, b, B, st.shape, y);
      },
    }));
    progress.end();
    refThread.close();
    const hostMs = performance.now() - t0;
    const T = inp.seqs[0]!.T;
    const lastNotRun = runs.findIndex((r) => !r.steps[r.steps.length - 1]!.ran);
    if (a.out !== undefined && lastNotRun >= 0) {
      process.stderr.write(`--out: not written: the last step did not run on the NPU${B > 1 ? ` for sequence ${lastNotRun}` : ''} (see below), so there is no simulated output\n`);
    } else if (a.out !== undefined) {
      const y = new Int8Array(B * T * runs[0]!.hidden);
      runs.forEach((r, b) => y.set(r.output, b * r.output.length));
      sink.writeFile(a.out, y, B > 1 ? [B, T, runs[0]!.hidden] : [T, runs[0]!.hidden]);
    }
    sink.flush();
    if (B > 1) return reportBatch(runs, inp.source, hostMs, a.json === true, cfg);
    const r = runs[0]!;
    if (a.html) {
      // loaded on use: the report's modules are not needed for a run without one
      const { layerHtml } = await import('../html/layer.js');
      writeOutputFile(a.html, layerHtml(r, cfg, inp.source), 'HTML report');
    }
    if (a.json) printJson(summary(r, inp.source, hostMs, cfg));
    else if (a.csv) process.stdout.write(toCsv(summary(r, inp.source, hostMs, cfg)['steps'] as Record<string, unknown>[]));
    else {
      const out = process.stdout;
      const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);
      out.write(`intnpu layer: ${inp.source}; seq ${r.seq}, hidden ${r.hidden}, ${r.heads} heads, FFN ${r.ffn}\n`);
      out.write(`machine: ${cfg.name}: ${cfg.mxu.rows}x${cfg.mxu.cols} MXU, ${cfg.vpu.lanes} lanes, ${cfg.dram.bytesPerCycle} B/cycle DRAM, ${cfg.clockGHz} GHz\n\n`);
      const t: (string | number)[][] = [['step', 'name', 'kernel', 'shape', 'cycles', 'share', 'span', 'model', 'MXU', 'VPU', 'DRAM bytes', 'bound', 'x bound', 'bit-exact']];
      for (const s of r.steps) {
        const exact = !s.ran ? 'NOT RUN' : s.identical_to_reference ? 'yes' : `NO (${s.identical_elements}/${s.elements})`;
        t.push([
          s.steps.length > 1 ? `${s.steps[0]}-${s.steps[s.steps.length - 1]}` : String(s.step), s.name, s.kernel, s.shape.join('x'), s.cycles, pct(r.total_cycles > 0 ? s.cycles / r.total_cycles : 0), s.span_cycles, s.model_cycles,
          pct(s.mxu_utilization), pct(s.vpu_utilization), s.dram_bytes, `${BOUND_NAMES[s.bounds.binding]} ${s.bounds[s.bounds.binding].toLocaleString('en-US')}`,
          s.bounds.ratio === null ? '-' : s.bounds.ratio.toFixed(2), exact + (s.input_from_reference ? ' *' : ''),
        ]);
      }
      out.write(table(t) + '\n\n');
      const us = r.latency_us.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      out.write(`total latency      ${r.total_cycles.toLocaleString('en-US')} cycles = ${us} us at ${cfg.clockGHz} GHz (model ${r.total_model_cycles.toLocaleString('en-US')} cycles)` +
        (r.unsupported.length ? `; INCOMPLETE: ${r.unsupported.length} kernel(s) did not run and count 0` : '') + '\n');
      if (r.overlapped) {
        out.write('                   overlapped: the kernels ran as one chained instruction stream, each reading its producer\'s DRAM\n');
        out.write('                   bytes, each dispatched under the previous one\'s tail; cycles = what a kernel adds, span = its own\n');
        out.write('                   extent (model: the kernels apart)\n');
      } else {
        out.write('                   sum of the kernels run one after another, no overlap between kernels (--no-overlap): an upper\n');
        out.write('                   bound on the overlapped schedule\n');
      }
      const b = r.bounds, n = (v: number): string => v.toLocaleString('en-US');
      out.write(`bounds             MAC ${n(b.mac)}, DRAM ${n(b.dram)}, VPU issue ${n(b.vpu_issue)}, divider ${n(b.divider)} cycles: ` +
        `${BOUND_NAMES[b.binding]} binds; the layer takes ${b.ratio === null ? '-' : b.ratio.toFixed(2)}x it\n`);
      out.write(`MXU utilization    ${pct(r.mxu_utilization)} over the layer (${r.total_macs.toLocaleString('en-US')} MACs); DRAM traffic ${r.total_dram_bytes.toLocaleString('en-US')} bytes\n`);
      const nOut = r.steps.reduce((n, s) => n + s.elements, 0);
      const verdict = r.bit_exact
        ? `every step bit-exact against the reference layer (${nOut.toLocaleString('en-US')} elements compared)`
        : r.first_mismatch === null && r.unsupported.length > 0
          ? `INCOMPLETE: ${r.unsupported.length} kernel(s) did not fit the machine (see below); every step that ran is bit-exact`
          : 'NOT bit-exact (see below)';
      out.write(`verified           ${verdict}\n`);
      out.write(`host time          ${(hostMs / 1e3).toFixed(2)} s (cases, program build, assembly and simulation of ${r.steps.length} kernels, comparisons)\n`);
      if (r.steps.some((s) => s.input_from_reference)) out.write('* input derived from a reference tensor substituted for a step the NPU could not run\n');
    }
    reportProblems(r);
    return layerExit(r.first_mismatch !== null, r.unsupported.length);
  }),
};

/** The first line of a kernel's reason (an assembler error goes on with the program's source around it). */
export function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

function reportProblems(r: LayerSimResult, prefix = ''): void {
  for (const u of r.unsupported) process.stderr.write(`${prefix}not run on the NPU (does not fit ${r.machine} at seq ${r.seq}): step ${u.step} (${u.name}, ${u.kernel}): ${firstLine(u.reason)}\n`);
  if (r.first_mismatch) {
    const m = r.first_mismatch;
    process.stderr.write(`${prefix}mismatch: step ${m.step} (${m.name}, ${m.kernel}) element ${m.index}: simulator ${m.sim}, reference ${m.ref}\n`);
  }
}

/** A batch [B, T, C]: the B sequences run one after another; one summary line each and the total. */
function reportBatch(runs: readonly LayerSimResult[], source: string, hostMs: number, json: boolean, cfg: MachineConfig): number {
  const total = runs.reduce((n, r) => n + r.total_cycles, 0);
  const exact = runs.every((r) => r.bit_exact);
  if (json) {
    printJson({ layer: source, batch: runs.length, total_cycles: total, bit_exact: exact, host_ms: hostMs, sequences: runs.map((r) => summary(r, source, hostMs, cfg)) });
  } else {
    const r0 = runs[0]!;
    const out = process.stdout;
    out.write(`intnpu layer: ${source}; batch of ${runs.length} sequences, seq ${r0.seq}, hidden ${r0.hidden}, ${r0.heads} heads, FFN ${r0.ffn}\n\n`);
    const t: (string | number)[][] = [['sequence', 'cycles', 'model', 'MXU', 'bit-exact']];
    runs.forEach((r, b) => t.push([String(b), r.total_cycles, r.total_model_cycles, `${(r.mxu_utilization * 100).toFixed(1)} %`, r.bit_exact ? 'yes' : 'NO']));
    out.write(table(t) + '\n\n');
    out.write(`total latency      ${total.toLocaleString('en-US')} cycles for the batch (sequences one after another)\n`);
    out.write(`verified           ${exact ? 'every step of every sequence bit-exact against the reference layer' : 'NOT bit-exact (see below)'}\n`);
    out.write(`host time          ${(hostMs / 1e3).toFixed(2)} s\n`);
  }
  runs.forEach((r, b) => reportProblems(r, `sequence ${b}: `));
  return layerExit(runs.some((r) => r.first_mismatch !== null), runs.reduce((n, r) => n + r.unsupported.length, 0));
}
