// `intnpu layer`: a whole I-BERT encoder layer on the simulator (programs/models/layer.ts), kernel after kernel, every
// step compared with the reference layer; prints the per-step latency table and the layer latency.
import { performance } from 'node:perf_hooks';
import type { CommandModule } from 'yargs';
import { generateLayer } from '../../kernels/ref/generate.js';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { parseLayer, type IbertLayerJson } from '../../kernels/ref/layer-format.js';
import { compileLayerSim, runLayerSim, type LayerSimResult } from '../../programs/models/layer.js';
import { loadMachine } from '../../sim/config.js';
import { EXIT, handler, printJson, readJson, table } from '../common.js';

interface Args {
  machine: string;
  size: string;
  seed: string;
  layer?: string | undefined;
  json?: boolean | undefined;
}

export const LAYER_SIZES = {
  small: { seq: 8, hidden: 64, heads: 2, ffn: 256 },
  base: { seq: 128, hidden: 768, heads: 12, ffn: 3072 },
} as const;

interface LayerInput {
  readonly layer: IbertLayerJson;
  readonly x: Int8Array;
  readonly T: number;
  readonly mask?: readonly number[];
  readonly source: string;
}

function loadLayer(a: Args): LayerInput {
  if (a.layer !== undefined) {
    const layer = parseLayer(readJson(a.layer));
    if (layer.input === undefined) throw new KernelInputError(`${a.layer}: input: required to run the layer (x_int with its shape)`);
    const inp = layer.input;
    const base = { layer, x: Int8Array.from(inp.x_int), T: inp.shape[0], source: a.layer };
    return inp.attention_mask === undefined ? base : { ...base, mask: inp.attention_mask };
  }
  const dims = a.size === 'small' ? LAYER_SIZES.small : LAYER_SIZES.base;
  const g = generateLayer({ seed: a.seed, ...dims });
  if (g.layer.input === undefined) throw new Error('internal: generateLayer returned no input');
  const base = {
    layer: g.layer, x: Int8Array.from(g.layer.input.x_int), T: dims.seq,
    source: `synthetic ${a.size === 'small' ? 'small' : 'BERT-base'} layer, seed '${a.seed}'`,
  };
  return g.mask === undefined ? base : { ...base, mask: g.mask };
}

/** What the report prints and --json emits: the result without the tensors. */
function summary(r: LayerSimResult, source: string, hostMs: number): Record<string, unknown> {
  return {
    layer: source, machine: r.machine, clock_ghz: r.clock_ghz,
    shape: { seq: r.seq, hidden: r.hidden, heads: r.heads, ffn: r.ffn },
    total_cycles: r.total_cycles, total_model_cycles: r.total_model_cycles, latency_us: r.latency_us,
    total_macs: r.total_macs, total_dram_bytes: r.total_dram_bytes, mxu_utilization: r.mxu_utilization,
    bit_exact: r.bit_exact, first_mismatch: r.first_mismatch, unsupported: r.unsupported,
    schedule: r.schedule, host_ms: hostMs,
    // the process so far (start-up, layer generation, the run): what `npm run bench` reports end to end
    process: { ms: performance.now(), peak_rss_mb: process.resourceUsage().maxRSS / 1024 },
    steps: r.steps.map((s) => ({ ...s, share: r.total_cycles > 0 ? s.cycles / r.total_cycles : 0 })),
  };
}

export const layerCommand: CommandModule<object, Args> = {
  command: 'layer',
  describe: 'A whole I-BERT encoder layer on the simulator: per-step cycles, utilization and bit-exactness vs the reference, and the layer latency',
  builder: (y) =>
    y
      .option('machine', { alias: 'm', type: 'string', default: 'edge', describe: 'preset (edge, server) or machine JSON file' })
      .option('size', { type: 'string', choices: ['small', 'base'], default: 'base', describe: 'synthetic layer size (small: seq 8, hidden 64; base: BERT-base)' })
      .option('seed', { type: 'string', default: 'intnpu-layer', describe: 'seed of the synthetic layer' })
      .option('layer', { type: 'string', describe: 'an intnpu/ibert-layer@1 JSON file with its input, instead of a synthetic layer' })
      .option('json', { type: 'boolean' }),
  handler: handler((a: Args) => {
    const cfg = loadMachine(a.machine);
    const inp = loadLayer(a);
    const t0 = performance.now();
    const r = runLayerSim(compileLayerSim(inp.layer), inp.x, inp.T, cfg, inp.mask === undefined ? {} : { mask: inp.mask });
    const hostMs = performance.now() - t0;
    if (a.json) printJson(summary(r, inp.source, hostMs));
    else {
      const out = process.stdout;
      const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);
      out.write(`intnpu layer: ${inp.source}; seq ${r.seq}, hidden ${r.hidden}, ${r.heads} heads, FFN ${r.ffn}\n`);
      out.write(`machine: ${cfg.name}: ${cfg.mxu.rows}x${cfg.mxu.cols} MXU, ${cfg.vpu.lanes} lanes, ${cfg.dram.bytesPerCycle} B/cycle DRAM, ${cfg.clockGHz} GHz\n\n`);
      const t: (string | number)[][] = [['step', 'name', 'kernel', 'shape', 'cycles', 'share', 'model', 'MXU', 'VPU', 'DRAM bytes', 'bit-exact']];
      for (const s of r.steps) {
        const exact = !s.ran ? 'NOT RUN' : s.identical_to_reference ? 'yes' : `NO (${s.identical_elements}/${s.elements})`;
        t.push([
          s.steps.join('-'), s.name, s.kernel, s.shape.join('x'), s.cycles, pct(r.total_cycles > 0 ? s.cycles / r.total_cycles : 0), s.model_cycles,
          pct(s.mxu_utilization), pct(s.vpu_utilization), s.dram_bytes, exact + (s.input_from_reference ? ' *' : ''),
        ]);
      }
      out.write(table(t) + '\n\n');
      const us = r.latency_us.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      out.write(`total latency      ${r.total_cycles.toLocaleString('en-US')} cycles = ${us} us at ${cfg.clockGHz} GHz (model ${r.total_model_cycles.toLocaleString('en-US')} cycles)` +
        (r.unsupported.length ? `; INCOMPLETE: ${r.unsupported.length} kernel(s) did not run and count 0` : '') + '\n');
      out.write('                   sum of the kernels run one after another, no overlap between kernels: an upper bound that\n');
      out.write('                   overlapping kernels (next loads under last stores, tensors kept on chip) would reduce\n');
      out.write(`MXU utilization    ${pct(r.mxu_utilization)} over the layer (${r.total_macs.toLocaleString('en-US')} MACs); DRAM traffic ${r.total_dram_bytes.toLocaleString('en-US')} bytes\n`);
      const nOut = r.steps.reduce((n, s) => n + s.elements, 0);
      out.write(`verified           ${r.bit_exact ? `every step bit-exact against the reference layer (${nOut.toLocaleString('en-US')} elements compared)` : 'NOT bit-exact (see below)'}\n`);
      out.write(`host time          ${(hostMs / 1e3).toFixed(2)} s (cases, program build, assembly and simulation of ${r.steps.length} kernels, comparisons)\n`);
      if (r.steps.some((s) => s.input_from_reference)) out.write('* input derived from a reference tensor substituted for a step the NPU could not run\n');
    }
    for (const u of r.unsupported) process.stderr.write(`not run on the NPU: step ${u.step} (${u.name}, ${u.kernel}): ${u.reason}\n`);
    if (r.first_mismatch) {
      const m = r.first_mismatch;
      process.stderr.write(`mismatch: step ${m.step} (${m.name}, ${m.kernel}) element ${m.index}: simulator ${m.sim}, reference ${m.ref}\n`);
    }
    return r.bit_exact ? EXIT.ok : EXIT.mismatch;
  }),
};
