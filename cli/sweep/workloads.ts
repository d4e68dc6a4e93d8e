// What a sweep point runs: a workload spec (plain data, so it crosses to worker threads) and its evaluation on
// one machine into the figures of a row: cycles, latency, utilizations, DRAM bytes, energy, the binding
// resource and whether the outputs were bit-exact against the reference.
import seedrandom from 'seedrandom';
import { assemble } from '../../isa/asm.js';
import { generateLayer } from '../../kernels/ref/generate.js';
import { linearRef } from '../../kernels/ref/linear.js';
import { runLayer, type LayerRun } from '../../kernels/ref/layer.js';
import { runLinearSim } from '../../programs/index.js';
import { compileLayerSim, runLayerSim, type CompiledLayerSim, type LayerSimStep } from '../../programs/models/layer.js';
import type { MachineConfig } from '../../sim/config.js';
import { Machine } from '../../sim/machine.js';
import { busyCycles } from '../../sim/report.js';
import { loadProgram, simulate, type SimStats } from '../../sim/run.js';
import { setBuffers } from '../buffers.js';
import { readJson, readText, UsageError } from '../common.js';
import { generateModel } from '../../kernels/ref/generate.js';
import { maxSequence, parseHfConfig } from '../../kernels/ref/hf-config.js';
import { runModelSim, type ModelSimResult } from '../../programs/models/model.js';
import { compareOutputs } from '../compare.js';
import { KERNELS } from '../registry.js';
import { parseParams } from '../commands/run.js';

export const LAYER_DIMS = {
  small: { seq: 8, hidden: 64, heads: 2, ffn: 256 },
  base: { seq: 128, hidden: 768, heads: 12, ffn: 3072 },
} as const;

export type WorkloadSpec =
  | { readonly kind: 'layer'; readonly size: 'small' | 'base'; readonly seq: number; readonly seed: string }
  | { readonly kind: 'linear'; readonly M: number; readonly K: number; readonly N: number; readonly seed: string }
  | { readonly kind: 'kernel'; readonly name: string; readonly size: 'small' | 'base'; readonly seed: string }
  | { readonly kind: 'program'; readonly file: string; readonly set: readonly string[]; readonly param: readonly string[] }
  | { readonly kind: 'model'; readonly config: string; readonly seq: number | undefined; readonly layers: number | undefined; readonly seed: string };

export interface WorkloadOptions {
  readonly seq?: number | undefined;
  readonly size?: string | undefined;
  readonly seed?: string | undefined;
  readonly set?: readonly string[] | undefined;
  readonly param?: readonly string[] | undefined;
  readonly layers?: number | undefined;
}

const WORKLOAD_HELP = 'layer:small, layer:base (with --seq), linear:MxKxN, kernel:NAME, model:config.json (with --seq, --layers), program:file.s (with --set)';

/** Parses `--workload`; checks what can be checked before any point runs (kernel name, file readable, shape). */
export function parseWorkload(spec: string, o: WorkloadOptions): WorkloadSpec {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? '' : spec.slice(colon + 1);
  const seed = o.seed ?? 'intnpu-sweep';
  switch (kind) {
    case 'layer': {
      if (arg !== 'small' && arg !== 'base') throw new UsageError(`--workload ${spec}: layer size must be small or base`);
      const seq = o.seq ?? LAYER_DIMS[arg].seq;
      if (!Number.isInteger(seq) || seq < 1 || seq > 4096) throw new UsageError(`--seq ${o.seq}: must be an integer in 1..4096`);
      return { kind: 'layer', size: arg, seq, seed };
    }
    case 'linear': {
      const m = /^(\d+)x(\d+)x(\d+)$/.exec(arg);
      if (!m) throw new UsageError(`--workload ${spec}: expected linear:MxKxN with positive integers (e.g. linear:128x768x768)`);
      const [M, K, N] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (M < 1 || K < 1 || N < 1 || M * K > 2 ** 26 || N * K > 2 ** 26) throw new UsageError(`--workload ${spec}: each dimension must be >= 1 and each operand at most 2^26 elements`);
      return { kind: 'linear', M, K, N, seed };
    }
    case 'kernel': {
      const k = KERNELS.get(arg);
      const usable = [...KERNELS.values()].filter((e) => e.sim && e.example).map((e) => e.name);
      if (!k || !k.sim || !k.example) throw new UsageError(`--workload ${spec}: unknown kernel '${arg}' (kernels with an example: ${usable.join(', ')})`);
      const size = o.size ?? 'base';
      if (size !== 'small' && size !== 'base') throw new UsageError(`--size ${size}: must be small or base`);
      return { kind: 'kernel', name: arg, size, seed };
    }
    case 'program': {
      if (arg === '') throw new UsageError(`--workload ${spec}: expected program:file.s`);
      readText(arg);
      parseParams(o.param);
      return { kind: 'program', file: arg, set: [...(o.set ?? [])], param: [...(o.param ?? [])] };
    }
    case 'model': {
      if (arg === '') throw new UsageError(`--workload ${spec}: expected model:config.json (a Hugging Face config)`);
      const config = parseHfConfig(readJson(arg), arg);
      const limit = maxSequence(config);
      if (o.seq !== undefined && (!Number.isInteger(o.seq) || o.seq < 1 || o.seq > limit)) throw new UsageError(`--seq ${o.seq}: must be an integer in 1..${limit} for ${arg}`);
      if (o.layers !== undefined && (!Number.isInteger(o.layers) || o.layers < 1 || o.layers > config.layers)) throw new UsageError(`--layers ${o.layers}: must be an integer in 1..${config.layers} (num_hidden_layers of ${arg})`);
      return { kind: 'model', config: arg, seq: o.seq, layers: o.layers, seed: o.seed ?? 'intnpu-model' };
    }
    default:
      throw new UsageError(`--workload ${spec}: unknown workload kind '${kind}' (${WORKLOAD_HELP})`);
  }
}

export function describeWorkload(w: WorkloadSpec): string {
  switch (w.kind) {
    case 'layer': return `I-BERT ${w.size === 'base' ? 'BERT-base' : 'small'} layer, seq ${w.seq}`;
    case 'linear': return `linear ${w.M}x${w.K}x${w.N}`;
    case 'kernel': return `kernel ${w.name} (${w.size} example)`;
    case 'program': return `program ${w.file}`;
    case 'model': return `model ${w.config}${w.layers !== undefined ? `, ${w.layers} layer(s)` : ''}${w.seq !== undefined ? `, seq ${w.seq}` : ''}`;
  }
}

/** The figures of one point (null where the workload has no such quantity). */
export interface PointFigures {
  readonly cycles: number;
  readonly latency_us: number;
  readonly mxu_utilization: number | null;
  readonly vpu_utilization: number | null;
  readonly dram_bytes: number;
  readonly energy_uj: number;
  /** the resource busy for the largest share of the cycles: a unit (mxu, vpu, scalar, divider) or dram (the channel) */
  readonly bound: string;
  readonly bound_share: number;
  /** outputs equal to the reference element for element; null when there is no reference (program:) */
  readonly bit_exact: boolean | null;
}

/** Binding resource from busy cycles: the DMA units are represented by the DRAM channel they occupy. */
export function boundOf(busy: Readonly<Record<string, number>>, cycles: number): { bound: string; share: number } {
  let bound = 'none', best = -1;
  for (const [u, v] of Object.entries(busy)) {
    if (u === 'dmaLoad' || u === 'dmaStore') continue;
    if (v > best) [bound, best] = [u, v];
  }
  return { bound, share: cycles > 0 && best > 0 ? best / cycles : 0 };
}

function statsFigures(s: SimStats, cfg: MachineConfig, exact: boolean | null): PointFigures {
  const cycles = s.cycles ?? 0;
  const b = boundOf(busyCycles(s), cycles);
  return {
    cycles, latency_us: cycles / (cfg.clockGHz * 1e3), mxu_utilization: s.macs > 0 ? s.mxu_utilization : null,
    vpu_utilization: s.utilization?.['vpu'] ?? null, dram_bytes: s.dram_bytes, energy_uj: s.energy_pj.total / 1e6,
    bound: b.bound, bound_share: b.share, bit_exact: exact,
  };
}

export function layerFigures(steps: readonly LayerSimStep[], cfg: MachineConfig, bitExact: boolean): PointFigures {
  const cycles = steps.reduce((n, s) => n + s.cycles, 0);
  const busy: Record<string, number> = {};
  for (const s of steps) for (const [u, v] of Object.entries(s.busy_cycles)) busy[u] = (busy[u] ?? 0) + v;
  const macs = steps.reduce((n, s) => n + s.macs, 0);
  const b = boundOf(busy, cycles);
  return {
    cycles, latency_us: cycles / (cfg.clockGHz * 1e3),
    mxu_utilization: cycles > 0 ? macs / (cycles * cfg.mxu.rows * cfg.mxu.cols) : null,
    vpu_utilization: cycles > 0 ? (busy['vpu'] ?? 0) / cycles : null,
    dram_bytes: steps.reduce((n, s) => n + s.dram_bytes, 0),
    energy_uj: steps.reduce((n, s) => n + s.energy_pj, 0) / 1e6,
    bound: b.bound, bound_share: b.share, bit_exact: bitExact,
  };
}

/**
 * A model's figures: cycles of the embedding stage and every layer; bound, VPU busy and energy from the layers'
 * kernels (the embedding stage's two small kernels report no busy cycles or energy, so they are not in those).
 */
export function modelFigures(r: ModelSimResult, cfg: MachineConfig): PointFigures {
  const steps = r.layers.flatMap((l) => l.steps);
  const f = layerFigures(steps, cfg, r.bit_exact);
  const cycles = r.total_cycles;
  return {
    ...f, cycles, latency_us: r.latency_us, mxu_utilization: r.mxu_utilization,
    vpu_utilization: f.vpu_utilization === null || cycles === 0 ? null : (f.vpu_utilization * f.cycles) / cycles,
    dram_bytes: r.total_dram_bytes, bound_share: cycles > 0 ? (f.bound_share * f.cycles) / cycles : 0,
  };
}

function seededInts(seed: string, n: number, lo: number, hi: number): number[] {
  const rng = seedrandom.alea(seed);
  return Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo + 1)));
}

interface PreparedLayer {
  readonly model: CompiledLayerSim;
  readonly x: Int8Array;
  readonly T: number;
  readonly mask: readonly number[] | undefined;
  readonly reference: LayerRun;
}

/** Inputs that do not depend on the machine, built once per workload (per worker thread). */
export class WorkloadRunner {
  private layer: PreparedLayer | undefined;
  private linear: { x: Int8Array; w: Int8Array; bias: Int32Array; y: Int32Array } | undefined;
  private kernelInput: unknown;
  private kernelNpu: (number | string)[] | null | undefined;
  private model: ReturnType<typeof generateModel> | undefined;

  readonly spec: WorkloadSpec;

  constructor(spec: WorkloadSpec) {
    this.spec = spec;
  }

  prepareLayer(): PreparedLayer {
    const w = this.spec;
    if (w.kind !== 'layer') throw new Error('internal: not a layer workload');
    if (!this.layer) {
      const dims = { ...LAYER_DIMS[w.size], seq: w.seq };
      const g = generateLayer({ seed: w.seed, ...dims });
      if (g.layer.input === undefined) throw new Error('internal: generateLayer returned no input');
      const model = compileLayerSim(g.layer);
      const x = Int8Array.from(g.layer.input.x_int);
      this.layer = { model, x, T: w.seq, mask: g.mask, reference: runLayer(model.compiled, x, w.seq, g.mask) };
    }
    return this.layer;
  }

  run(cfg: MachineConfig, onStep?: (s: LayerSimStep) => void): PointFigures & { steps?: readonly LayerSimStep[] } {
    const w = this.spec;
    switch (w.kind) {
      case 'layer': {
        const p = this.prepareLayer();
        const r = runLayerSim(p.model, p.x, p.T, cfg, { reference: p.reference, ...(p.mask ? { mask: p.mask } : {}), ...(onStep ? { onStep } : {}) });
        return { ...layerFigures(r.steps, cfg, r.bit_exact), steps: r.steps };
      }
      case 'linear': {
        const { M, K, N } = w;
        if (!this.linear) {
          const x = Int8Array.from(seededInts(`${w.seed}:x`, M * K, -128, 127));
          const wt = Int8Array.from(seededInts(`${w.seed}:w`, N * K, -127, 127));
          const bias = Int32Array.from(seededInts(`${w.seed}:b`, N, -65536, 65536));
          this.linear = { x, w: wt, bias, y: linearRef(x, wt, bias, M, K, N) };
        }
        const l = this.linear;
        const run = runLinearSim(l.x, l.w, l.bias, M, K, N, cfg);
        let same = run.y.length === l.y.length;
        for (let i = 0; same && i < l.y.length; i++) same = run.y[i] === l.y[i];
        return statsFigures(run.sim.stats, cfg, same);
      }
      case 'kernel': {
        const k = KERNELS.get(w.name)!;
        this.kernelInput ??= k.example!(w.size, w.seed);
        if (this.kernelNpu === undefined) this.kernelNpu = k.npu ? k.npu(this.kernelInput).y_int : null;
        const run = k.sim!(this.kernelInput, cfg, {});
        const c = this.kernelNpu ? compareOutputs(run.y_int, this.kernelNpu) : null;
        return statsFigures(run.sim.stats, cfg, c ? c.identical === c.n && !c.length_mismatch : null);
      }
      case 'model': {
        if (!this.model) {
          const config = parseHfConfig(readJson(w.config), w.config);
          const T = w.seq ?? Math.min(128, maxSequence(config));
          this.model = generateModel({ seed: w.seed, config, seq: T, layers: w.layers ?? config.layers }, { int8Arrays: true });
        }
        const g = this.model;
        const r = runModelSim(g, g.input, cfg, g.mask === undefined ? {} : { mask: g.mask });
        return modelFigures(r, cfg);
      }
      case 'program': {
        const prog = assemble(readText(w.file), {
          file: w.file, params: parseParams(w.param),
          capacity: { dram: cfg.dram.sizeBytes, spad: cfg.spad.sizeBytes, acc: cfg.acc.sizeBytes / 4 },
        });
        const m = new Machine(cfg);
        setBuffers(w.set, prog, w.file, m);
        const res = simulate(loadProgram(prog.words, prog), cfg, { machine: m, mode: 'full' });
        return statsFigures(res.stats, cfg, null);
      }
    }
  }
}
