// A whole I-BERT encoder layer (docs/IBERT.md section 9, steps 1..19) on the simulator: every kernel program
// run in order on its own simulated machine, each fed the simulator's outputs of the kernels before it (never the
// reference's), with each step's output compared element by element with the reference layer (kernels/ref/layer.ts)
// and the per-step cycles summed into the layer latency.
//
// Why the cases are built from the layer JSON and not only from the CompiledLayer: the kernel case runners take
// the checkpoint's quantities (calibrated x_min/x_max, LayerNorm gamma/beta/shift, the input scales) and fold them
// themselves, exactly as compileLayer does; the CompiledLayer holds only the folded results, from which the float
// ranges cannot be recovered exactly. Each case's folded constants are checked against the CompiledLayer's, so a
// case built from the wrong module fails loudly instead of silently running other arithmetic.
//
// Latency of the layer (LayerSimOptions.overlap): by default the kernel programs run as one chained instruction
// stream on one machine (sim/chain.ts): each reads the DRAM bytes its producers wrote, and its first instructions
// dispatch right after the previous kernel's last, under that kernel's final stores and computation, with every
// hazard tracked by the timing model; a step's cycles are what it adds to the chain's end. With overlap: false each
// kernel runs alone on an idle machine, from empty queues to its last store, and the layer is the sum (an upper bound).
import { AsmError } from '../../isa/diagnostics.js';
import { TilingError } from '../schedule.js';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { foldGelu, foldLayerNorm, foldQuantAct, foldSoftmax, type ActRange, type QuantActConsts } from '../../kernels/ref/fold.js';
import { compileLayer, runLayer, type CompiledLayer, type LayerRun, type LayerStepName } from '../../kernels/ref/layer.js';
import type { IbertLayerJson } from '../../kernels/ref/layer-format.js';
import type { IntData } from '../../kernels/ref/tensor.js';
import type { MachineConfig } from '../../sim/config.js';
import type { SimResult } from '../../sim/run.js';
import { busyCycles, stallsHit } from '../../sim/report.js';
import { runPvRequantSim, simCasePv, simCaseQk } from '../attention/build.js';
import { attentionTiling, pvModel, qkModel } from '../attention/model.js';
import { requantActModel } from '../requant-act/model.js';
import { npuPvInts } from '../../kernels/npu/attention.js';
import { simCaseGelu } from '../gelu/build.js';
import { runLinearSim, type CaseRun, type RunOptions } from '../index.js';
import { ChainCapacityError, SimChain } from '../../sim/chain.js';
import { generalVectors, simCaseLayerNorm } from '../layernorm/build.js';
import { foldLayerNormCase, parseLayerNormCase } from '../../kernels/npu/layernorm.js';
import { simCaseRequantAct } from '../requant-act/build.js';
import { simCaseSoftmax, softmaxVariant } from '../softmax/build.js';
import { softmaxModel } from '../softmax/model.js';
import { runQkSoftmaxSim } from '../qk-softmax/build.js';
import { qkSoftmaxModel } from '../qk-softmax/model.js';
import { foldSoftmaxNpu } from '../../kernels/npu/softmax.js';
import { intDataToInt32, npuMultiplier } from '../../kernels/npu/requant-act.js';
import { runLinearGeluSim, runLinearRequantSim } from '../linear-requant/build.js';
import { linearRequantTiling, xBlockResident } from '../linear-requant/model.js';
import type { Program } from '../../isa/asm.js';
import { foldGeluNpu } from '../../kernels/npu/gelu.js';

/** A checkpoint with its folded constants: what runLayerSim needs (the cases take the checkpoint's ranges). */
export interface CompiledLayerSim {
  readonly layer: IbertLayerJson;
  readonly compiled: CompiledLayer;
}

export function compileLayerSim(layer: IbertLayerJson): CompiledLayerSim {
  return { layer, compiled: compileLayer(layer) };
}

export type LayerKernel = 'linear' | 'linear-requant' | 'linear-gelu' | 'requant-act' | 'qk' | 'softmax' | 'qk-softmax' | 'pv' | 'layernorm' | 'gelu';

/** One kernel run of the layer. */
export interface LayerSimStep {
  /** the section-9 step whose reference tensor the output is compared with (the last step of a fused kernel) */
  readonly step: number;
  /** every section-9 step this kernel run computes: [9, 10] for LayerNorm fused with its QuantAct(8) */
  readonly steps: readonly number[];
  /** the reference step name (kernels/ref/layer.ts LAYER_STEP_NAMES) */
  readonly name: LayerStepName;
  readonly kernel: LayerKernel;
  readonly shape: readonly number[];
  /** false when the NPU kernel cannot take this step (see `note`); its reference tensor was used downstream */
  readonly ran: boolean;
  /**
   * Cycles this kernel adds to the layer: on its own, its run time; overlapped (the default schedule), from the
   * previous kernel's end to its own end (its loads and first tiles ran under the previous kernel's tail)
   */
  readonly cycles: number;
  /** from the kernel's first dispatch to its last result (= cycles when it ran alone); utilizations and bounds use it */
  readonly span_cycles: number;
  readonly model_cycles: number;
  readonly model_exact: boolean;
  /** MACs per MXU cell-cycle over this kernel's span (null when the kernel has no MXU work) */
  readonly mxu_utilization: number | null;
  /** VPU busy cycles over this kernel's span */
  readonly vpu_utilization: number | null;
  readonly dram_bytes: number;
  readonly macs: number;
  readonly instructions: number;
  readonly stall_cycles: Readonly<Record<string, number>>;
  /** busy cycles per unit, plus `dram` = DRAM channel busy cycles (empty when the kernel did not run) */
  readonly busy_cycles: Readonly<Record<string, number>>;
  /** energy estimate of this kernel run, picojoules (sim/run.ts energy_pj.total) */
  readonly energy_pj: number;
  /** every element equal to the reference layer's step tensor */
  readonly identical_to_reference: boolean;
  readonly elements: number;
  readonly identical_elements: number;
  readonly max_abs_diff: number;
  readonly first_diff: { readonly index: number; readonly sim: number; readonly ref: number | string } | null;
  /** the lower bounds of this kernel's cycles on each resource, the binding one and cycles / binding */
  readonly bounds: LayerBounds;
  /** some input of this step comes (directly or through earlier steps) from a reference tensor substituted for a step the NPU could not run */
  readonly input_from_reference: boolean;
  readonly note?: string;
}

/**
 * Lower bounds of a kernel's (or the layer's) cycles, one per resource: `mac` = MACs / MXU cells; `dram` = bytes
 * moved / DRAM bytes per cycle; `vpu_issue` = VPU instructions (one issues per cycle); `divider` = divisions x
 * divider interval + square roots x sqrt interval. `binding` is the largest, `ratio` = cycles / that bound (1 = the
 * kernel runs at the speed of its busiest resource; null when every bound is 0).
 */
export interface LayerBounds {
  readonly mac: number;
  readonly dram: number;
  readonly vpu_issue: number;
  readonly divider: number;
  readonly binding: 'mac' | 'dram' | 'vpu_issue' | 'divider';
  readonly ratio: number | null;
}

export function bindingOf(b: Omit<LayerBounds, 'binding' | 'ratio'>, cycles: number): LayerBounds {
  const order = ['mac', 'dram', 'vpu_issue', 'divider'] as const;
  let binding: LayerBounds['binding'] = 'mac';
  for (const k of order) if (b[k] > b[binding]) binding = k;
  return { ...b, binding, ratio: b[binding] > 0 ? cycles / b[binding] : null };
}

/** The four bounds of one simulated kernel run. */
export function kernelBounds(sim: SimResult, cfg: MachineConfig): LayerBounds {
  const s = sim.stats;
  const by = s.instructions_by_mnemonic ?? {};
  const dv = cfg.divider;
  const divs = (by['div'] ?? 0) + (by['div.w'] ?? 0), sqrts = by['isqrt.w'] ?? 0;
  return bindingOf({
    mac: Math.ceil(s.macs / (cfg.mxu.rows * cfg.mxu.cols)),
    dram: Math.ceil(s.dram_bytes / cfg.dram.bytesPerCycle),
    vpu_issue: s.instructions_by_unit?.['vpu'] ?? 0,
    divider: divs * (dv.divIntervalCycles ?? dv.divLatencyCycles) + sqrts * (dv.sqrtIntervalCycles ?? dv.sqrtLatencyCycles),
  }, s.span_cycles ?? s.cycles ?? 0);
}

export interface LayerSimResult {
  readonly machine: string;
  readonly clock_ghz: number;
  readonly seq: number;
  readonly hidden: number;
  readonly heads: number;
  readonly ffn: number;
  readonly steps: readonly LayerSimStep[];
  /** the simulator's layer output (step 19), int8 [seq, hidden] */
  readonly output: Int8Array;
  readonly output_scale: number;
  /** the layer's simulated cycles (= the sum of the steps' cycles): the chain's end, or the kernels apart summed (overlap: false) */
  readonly total_cycles: number;
  /** whether the kernels ran overlapped as one chain (see `schedule`) */
  readonly overlapped: boolean;
  readonly total_model_cycles: number;
  readonly latency_us: number;
  readonly total_macs: number;
  readonly total_dram_bytes: number;
  /** total MACs over (total cycles x MXU cells) */
  readonly mxu_utilization: number;
  /** the layer's bounds: MACs over the cells, all DRAM bytes over the bandwidth, all VPU instructions, all divisions */
  readonly bounds: LayerBounds;
  /** every step ran on the NPU and equals the reference */
  readonly bit_exact: boolean;
  /** the first step whose output differs from the reference, with its first differing element */
  readonly first_mismatch: { readonly step: number; readonly name: string; readonly kernel: string; readonly index: number; readonly sim: number; readonly ref: number | string } | null;
  /** steps the NPU kernels could not take, with the reason */
  readonly unsupported: readonly { readonly step: number; readonly name: string; readonly kernel: string; readonly reason: string }[];
  readonly schedule: string;
  /** the reference layer run the steps were compared with */
  readonly reference: LayerRun;
}

/**
 * How a step's program joins the layer's chain (sim/chain.ts): its DRAM input buffers read the tensors earlier steps
 * wrote (buffer -> tensor), its outputs are named for later steps. `drain`: some input is prepared by the host, so the
 * program starts once everything before it has finished (as do steps with no binding).
 */
interface StepBinding {
  readonly inputs?: Readonly<Record<string, string>>;
  readonly outputs?: Readonly<Record<string, string>>;
  readonly drain?: boolean;
}

/** A reference run that may not be there yet: `ready` says whether `get` would return at once. */
export interface LazyReference {
  readonly ready: () => boolean;
  readonly get: () => LayerRun;
}

export interface LayerSimOptions {
  /** HF key mask, one entry per position (1 attend, 0 masked), as runLayer takes it */
  readonly mask?: ArrayLike<number>;
  /**
   * the reference run of the same layer, input and mask (computed when omitted), or one being computed elsewhere (the
   * CLI's is on another thread, cli/reference-thread.ts): the steps are then compared as soon as it is ready, and at
   * the latest at the end (or when a step falls back to the reference tensor); `onStep` follows the comparisons
   */
  readonly reference?: LayerRun | LazyReference;
  /**
   * called after each kernel run, in order (progress, host timing by the caller), with the tensor the step
   * produced: the simulator's output (int32 view), or the reference tensor substituted where the kernel did not run
   */
  readonly onStep?: (step: LayerSimStep, output: Int32Array) => void;
  /**
   * Fuse kernels where the data allows (default true): fc1 + i-GELU + QuantAct(8) + the step-15 rescale in one
   * program. false runs every kernel of the unfused schedule (the before side of a comparison).
   */
  readonly fuse?: boolean;
  /**
   * Overlap the kernels (default true): the layer's programs run as one chained instruction stream on one machine
   * (sim/chain.ts), each reading the DRAM bytes its producers wrote, the next program's loads issued under the previous
   * program's last stores and computation with every hazard tracked. false: each kernel alone on an idle machine, the
   * sum of their cycles (an upper bound).
   */
  readonly overlap?: boolean;
  /** overlapped: start the chain's machine from seeded garbage instead of zeros (SimChain's poison; for tests) */
  readonly poison?: number;
}

export const LAYER_SCHEDULE_NOTE =
  'kernels run one after another with no overlap between kernels, each from idle queues to its last store: ' +
  'the total is an upper bound that inter-kernel overlap (next kernel\'s loads under this kernel\'s stores, tensors kept on chip) would reduce';

export const LAYER_SCHEDULE_OVERLAPPED =
  'overlapped: the kernel programs run as one chained instruction stream on one machine (sim/chain.ts), each reading ' +
  'the DRAM bytes its producer wrote; a kernel\'s first instructions dispatch right after the previous kernel\'s last, ' +
  'under its final stores and computation, with every hazard tracked; a step whose input the host prepared starts once the chain drained';

/** Errors that mean "this NPU kernel cannot take this step on this machine" (domain, tiling, capacity), not a bug. */
function isKernelLimit(e: unknown): e is Error {
  return e instanceof KernelInputError || e instanceof TilingError || e instanceof AsmError || e instanceof ChainCapacityError;
}


/**
 * What the overlapped layer keeps in DRAM at least: the weights (Q, K, V, the output dense, fc1, fc2: 4C^2 + 2CF
 * bytes) and the tensors the kernels hand on (x, q, k, v, the uint8 probabilities [H, T, T], the context, the int32
 * residual sums, h, the fc1 output [T, F], the output). A layer above the machine's DRAM cannot run; biases, constants
 * and alignment come on top.
 */
export function layerDramBytes(T: number, C: number, H: number, F: number): number {
  return 4 * C * C + 2 * C * F + H * T * T + T * (15 * C + F);
}

/** Two programs whose scratchpad buffers lie at the same addresses with the same sizes. */
function sameSpadLayout(a: Program, b: Program | undefined): boolean {
  if (b === undefined) return false;
  const spad = (p: Program): string => JSON.stringify([...p.buffers.values()].filter((x) => x.space === 'spad').map((x) => [x.name, x.address, x.size]));
  return spad(a) === spad(b);
}

function sameConsts(what: string, a: QuantActConsts, b: QuantActConsts): void {
  const eq = (x: readonly number[], y: readonly number[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  if (a.bits !== b.bits || a.scaleOut !== b.scaleOut || !eq(a.m, b.m) || !eq(a.e, b.e) || a.mId !== b.mId || a.eId !== b.eId) {
    throw new Error(`internal: the ${what} case folds to other constants than the compiled layer`);
  }
}

interface Diff {
  readonly n: number;
  readonly identical: number;
  readonly maxAbs: number;
  readonly first: LayerSimStep['first_diff'];
}

/** Element-by-element comparison with a reference tensor (int32 or int64). */
function compareWith(sim: ArrayLike<number>, ref: IntData): Diff {
  if (sim.length !== ref.length) {
    return { n: ref.length, identical: 0, maxAbs: Infinity, first: { index: Math.min(sim.length, ref.length), sim: NaN, ref: `length ${ref.length} (simulator: ${sim.length})` } };
  }
  let identical = 0, maxAbs = 0;
  let first: Diff['first'] = null;
  if (ref instanceof Int32Array) {
    for (let i = 0; i < ref.length; i++) {
      const a = sim[i]!, b = ref[i]!;
      if (a === b) identical++;
      else {
        const d = a > b ? a - b : b - a;
        if (d > maxAbs) maxAbs = d;
        first ??= { index: i, sim: a, ref: b };
      }
    }
  } else {
    // int64 reference: each element read as its two int32 halves (little-endian), exact as a double below 2^53;
    // BigInt only for an element beyond that
    const halves = new Int32Array(ref.buffer, ref.byteOffset, ref.length * 2);
    for (let i = 0; i < ref.length; i++) {
      const hi = halves[2 * i + 1]!;
      if (hi >= -2097152 && hi < 2097152) {
        const bn = hi * 4294967296 + (halves[2 * i]! >>> 0);
        const a = sim[i]!;
        if (a === bn) {
          identical++;
          continue;
        }
      }
      const a = sim[i]!, b = ref[i]!;
      if (BigInt(a) === b) identical++;
      else {
        const d = Number(BigInt(a) - b);
        const ad = d < 0 ? -d : d;
        if (ad > maxAbs) maxAbs = ad;
        first ??= { index: i, sim: a, ref: b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b.toString() };
      }
    }
  }
  return { n: ref.length, identical, maxAbs, first };
}

function statsOf(sim: SimResult): Pick<LayerSimStep, 'mxu_utilization' | 'vpu_utilization' | 'dram_bytes' | 'macs' | 'instructions' | 'stall_cycles' | 'busy_cycles' | 'energy_pj'> {
  const s = sim.stats;
  return {
    mxu_utilization: s.macs > 0 ? s.mxu_utilization : null,
    vpu_utilization: s.utilization?.['vpu'] ?? null,
    dram_bytes: s.dram_bytes,
    macs: s.macs,
    instructions: s.instructions,
    stall_cycles: stallsHit(s),
    busy_cycles: busyCycles(s),
    energy_pj: s.energy_pj.total,
  };
}

/**
 * Runs steps 1..19 of the layer on the simulator, kernel by kernel (see the header), on the int8 input x [T, hidden]
 * (scale = the layer's input_scale). Returns every kernel run with its cycles, utilization and its comparison with
 * the reference layer's step tensor, the simulator's output and the summed latency.
 */
export function runLayerSim(model: CompiledLayerSim, x: Int8Array, T: number, cfg: MachineConfig, opts: LayerSimOptions = {}): LayerSimResult {
  const { layer, compiled: c } = model;
  const C = c.hidden, H = c.heads, F = c.ffn;
  if (!Number.isInteger(T) || T < 1) throw new KernelInputError(`seq: ${T} is not a positive integer`);
  if (x.length !== T * C) throw new KernelInputError(`input: ${x.length} values, expected seq*hidden = ${T * C}`);
  const given = opts.reference;
  const lazy = given !== undefined && 'get' in given ? given : undefined;
  let refRun: LayerRun | undefined = lazy === undefined ? given as LayerRun | undefined : undefined;
  const reference = (): LayerRun => (refRun ??= lazy !== undefined ? lazy.get() : runLayer(c, x, T, opts.mask));
  // Comparisons wait, in step order, for a reference that is not ready (computed elsewhere); one computed here on
  // demand is always ready.
  const waiting: (() => void)[] = [];
  const settle = (force: boolean): void => {
    if (waiting.length === 0 || (!force && refRun === undefined && lazy !== undefined && !lazy.ready())) return;
    for (const f of waiting.splice(0)) f();
  };
  const s = layer.attention.self;
  const ao = layer.attention.output;

  const fuse = opts.fuse ?? true;
  // the chain's DRAM: every weight and constant plus the layer's tensors (a slight overestimate, allocated once)
  const dramHint = layerDramBytes(T, C, H, F) + 64 * (4 * C + 2 * F) + T * C + 65536;
  const chain = (opts.overlap ?? true)
    ? new SimChain(cfg, { dramBytes: Math.min(cfg.dram.sizeBytes, dramHint), ...(opts.poison === undefined ? {} : { poison: opts.poison }) })
    : undefined;
  /** A fused program can take this layer on this machine (else the unfused kernels run, each with its own limits). */
  const fits = (check: () => void): boolean => {
    try {
      check();
      return true;
    } catch (e) {
      if (isKernelLimit(e)) return false;
      throw e;
    }
  };
  const steps: LayerSimStep[] = [];
  const unsupported: { step: number; name: string; kernel: string; reason: string }[] = [];
  let substituted = false;

  /**
   * Runs one kernel; on a kernel limit, records it and continues with the reference tensor. Returns the output
   * (the simulator's, or the reference's where the kernel could not run) as int32.
   */
  const stepRun = (
    fused: readonly number[], name: LayerStepName, kernel: LayerKernel, bind: StepBinding | undefined,
    run: (ro: RunOptions) => { y: ArrayLike<number>; r: Pick<CaseRun, 'cycles' | 'model_cycles' | 'model_exact' | 'sim'> },
    stored?: { readonly expect: (ref: IntData) => IntData; readonly note: string },
  ): Int32Array => {
    const step = fused[fused.length - 1]!;
    const fromRef = substituted;
    let out: { y: ArrayLike<number>; r: Pick<CaseRun, 'cycles' | 'model_cycles' | 'model_exact' | 'sim'> } | undefined;
    let reason = '';
    // Chained: the program's DRAM inputs are the bytes its producers wrote (bind), or, where this step's inputs were
    // prepared by the host (no binding, or a tensor substituted from the reference), it starts once the chain drained.
    let ro: RunOptions = {};
    if (chain !== undefined) {
      const inputs = Object.entries(bind?.inputs ?? {});
      const linked = !substituted && inputs.every(([, t]) => chain.has(t));
      ro = { link: { chain, ...(linked ? { inputs: Object.fromEntries(inputs) } : {}), ...(bind?.outputs ? { outputs: bind.outputs } : {}), drain: !linked || bind === undefined || bind.drain === true } };
    }
    try {
      out = run(ro);
    } catch (e) {
      if (!isKernelLimit(e)) throw e;
      reason = e.message;
    }
    if (out === undefined) {
      // the reference tensor is needed now, and the earlier steps' comparisons come first
      settle(true);
      const refStep = reference().steps[name];
      const y = intDataToInt32(refStep.data);
      unsupported.push({ step, name, kernel, reason });
      if (y === undefined) throw new KernelInputError(`step ${step} (${name}): the ${kernel} kernel cannot take it (${reason}), and its reference tensor needs 64 bits, so the layer cannot continue`);
      substituted = true;
      steps.push({
        step, steps: fused, name, kernel, shape: refStep.shape, ran: false, cycles: 0, span_cycles: 0, model_cycles: 0, model_exact: true,
        mxu_utilization: null, vpu_utilization: null, dram_bytes: 0, macs: 0, instructions: 0, stall_cycles: {}, busy_cycles: {}, energy_pj: 0,
        identical_to_reference: false, elements: refStep.data.length, identical_elements: 0, max_abs_diff: 0, first_diff: null,
        bounds: bindingOf({ mac: 0, dram: 0, vpu_issue: 0, divider: 0 }, 0), input_from_reference: fromRef, note: `the NPU ${kernel} kernel cannot take this step: ${reason}; the reference tensor was used downstream`,
      });
      opts.onStep?.(steps[steps.length - 1]!, y);
      return y;
    }
    const ran = out;
    const y = ran.y instanceof Int32Array ? ran.y : new Int32Array(ran.y);
    waiting.push(() => {
      const refStep = reference().steps[name];
      const d = compareWith(y, stored ? stored.expect(refStep.data) : refStep.data);
      steps.push({
        step, steps: fused, name, kernel, shape: refStep.shape, ran: true,
        cycles: ran.r.cycles, span_cycles: ran.r.sim.stats.span_cycles ?? ran.r.cycles, model_cycles: ran.r.model_cycles, model_exact: ran.r.model_exact, ...statsOf(ran.r.sim),
        identical_to_reference: d.identical === d.n, elements: d.n, identical_elements: d.identical, max_abs_diff: d.maxAbs, first_diff: d.first,
        bounds: kernelBounds(ran.r.sim, cfg), input_from_reference: fromRef, ...(stored ? { note: stored.note } : {}),
      });
      opts.onStep?.(steps[steps.length - 1]!, y);
    });
    settle(false);
    return y;
  };

  const caseRun = (r: CaseRun): { y: ArrayLike<number>; r: CaseRun } => ({ y: r.y ?? r.y_int, r });

  const linear = (step: number, name: LayerStepName, l: CompiledLayer['query'], xin: Int32Array): Int32Array =>
    stepRun([step], name, 'linear', undefined, (ro) => {
      saturatedBias(l);
      const run = runLinearSim(new Int8Array(xin), l.weight, new Int32Array(l.bias), T, l.inFeatures, l.outFeatures, cfg, ro);
      return { y: run.y, r: { cycles: run.sim.stats.cycles ?? 0, model_cycles: run.model.cycles, model_exact: run.model.exact, sim: run.sim } };
    });

  const saturatedBias = (l: CompiledLayer['query']): void => {
    for (let i = 0; i < l.bias.length; i++) {
      if (l.bias[i]! > 2147483647) {
        throw new KernelInputError(`bias[${i}] = ${l.bias[i]} (a saturated bias of an all-zero weight row) does not fit the int32 accumulator the MXU preloads`);
      }
    }
  };

  /**
   * A projection and its QuantAct fused in one program (steps 1 and 2 of Q, K, V): the int32 accumulator
   * tiles are requantized on chip by the VPU and never travel to DRAM.
   */
  let xsOf: Program | undefined; // the program that left the layer input in its scratchpad buffer xs (Q's)
  const linearRequant = (name: LayerStepName, l: CompiledLayer['query'], xin: Int32Array, range: ActRange, consts: QuantActConsts, bind: StepBinding, xOnChip = false): Int32Array =>
    stepRun([1, 2], name, 'linear-requant', bind, (ro) => {
      saturatedBias(l);
      sameConsts(name, foldQuantAct(range, l.scaleOut), consts);
      if (range.bits !== 8 && range.bits !== 16) throw new KernelInputError(`${name}: bits = ${range.bits}: the fused linear-requant kernel writes 8 or 16 bits`);
      const N = l.outFeatures;
      const bc = (v: readonly number[]): number[] => (v.length === 1 ? new Array<number>(N).fill(v[0]!) : [...v]);
      const run = runLinearRequantSim(new Int8Array(xin), l.weight, new Int32Array(l.bias), T, l.inFeatures, N, { m: bc(consts.m), e: bc(consts.e), bits: range.bits }, cfg, { ...ro, xOnChip });
      if (!xOnChip) xsOf = run.program;
      else if (!sameSpadLayout(run.program, xsOf)) throw new Error(`internal: ${name} reads x from the scratchpad, but its buffers are not where ${xsOf?.file ?? 'no earlier program'} left them`);
      return { y: run.y, r: { cycles: run.sim.stats.cycles ?? 0, model_cycles: run.model.cycles, model_exact: run.model.exact, sim: run.sim } };
    });

  /** A linear and its residual QuantAct fused (steps 7-8, 16-17): identity = an int8 tensor [T, N] with its scale. */
  const linearResidual = (
    fused: readonly number[], name: LayerStepName, l: CompiledLayer['query'], xin: Int32Array, range: ActRange, consts: QuantActConsts,
    identity: { readonly w: Int32Array; readonly scale: number }, bind: StepBinding,
  ): Int32Array =>
    stepRun(fused, name, 'linear-requant', bind, (ro) => {
      saturatedBias(l);
      sameConsts(name, foldQuantAct(range, l.scaleOut, identity.scale), consts);
      const bits = range.bits;
      if (bits !== 8 && bits !== 16 && bits !== 22) throw new KernelInputError(`${name}: bits = ${bits}: the fused linear-requant kernel writes 8, 16 or 22 bits`);
      if (consts.mId === undefined || consts.eId === undefined) throw new Error(`internal: ${name} has no identity constants`);
      const wi = identity.w.findIndex((v) => v < -128 || v > 127);
      if (wi >= 0) throw new KernelInputError(`${name}: identity[${wi}] = ${identity.w[wi]} is not int8`);
      const N = l.outFeatures;
      const bc = (v: readonly number[]): number[] => (v.length === 1 ? new Array<number>(N).fill(v[0]!) : [...v]);
      const run = runLinearRequantSim(new Int8Array(xin), l.weight, new Int32Array(l.bias), T, l.inFeatures, N,
        { m: bc(consts.m), e: bc(consts.e), bits, identity: { w: new Int8Array(identity.w), m: consts.mId, e: consts.eId } }, cfg, ro);
      return { y: run.y, r: { cycles: run.sim.stats.cycles ?? 0, model_cycles: run.model.cycles, model_exact: run.model.exact, sim: run.sim } };
    });

  /** QuantAct on the requant-act program; `identity` = the residual term (int8 tensor and its scale). */
  const requant = (
    step: number, name: LayerStepName, xin: Int32Array, shape: readonly number[], scaleIn: number | readonly number[], range: ActRange, consts: QuantActConsts,
    identity?: { readonly w: Int32Array; readonly scale: number }, bind?: StepBinding,
  ): Int32Array =>
    stepRun([step], name, 'requant-act', bind, (ro) => {
      sameConsts(name, foldQuantAct(range, scaleIn, identity?.scale), consts);
      const input = {
        x_int: xin, shape: [...shape], scale_in: typeof scaleIn === 'number' ? scaleIn : [...scaleIn],
        bits: range.bits, x_min: range.x_min, x_max: range.x_max,
        ...(identity ? { identity_int: identity.w, identity_scale: identity.scale } : {}),
      };
      return caseRun(simCaseRequantAct(input, cfg, ro));
    });

  const layerNorm = (
    fused: readonly number[], name: LayerStepName, xin: Int32Array, ln: IbertLayerJson['output']['LayerNorm'], outAct: IbertLayerJson['output']['output_activation'],
    lnConsts: CompiledLayer['ln1'], actConsts: QuantActConsts, second: { readonly m: number; readonly e: number } | undefined, bind: StepBinding,
  ): Int32Array =>
    stepRun(fused, name, 'layernorm', bind, (ro) => {
      const lnF = foldLayerNorm(ln.gamma, ln.beta, ln.shift);
      if (lnF.shift !== lnConsts.shift || lnF.qBeta.some((v, i) => v !== lnConsts.qBeta[i])) throw new Error(`internal: the ${name} LayerNorm case folds to other constants than the compiled layer`);
      sameConsts(name, foldQuantAct(outAct, lnF.scaleOut), actConsts);
      if (outAct.bits !== 8) {
        throw new KernelInputError(`output_activation.bits = ${outAct.bits}: the fused LayerNorm kernel requantizes to 8 bits only`);
      }
      return caseRun(simCaseLayerNorm({
        x_int: xin, shape: [T, C], gamma: [...ln.gamma], beta: [...ln.beta], shift: ln.shift,
        out_x_min: outAct.x_min, out_x_max: outAct.x_max, out_bits: 8,
      }, cfg, second ? { ...ro, second } : ro));
    });

  // 1-2: Q, K, V projections and their QuantAct(8)
  const x32 = new Int32Array(x);
  // K and V read the layer input where Q's program left it, in the scratchpad (chained, where the block stays resident:
  // Q, K and V are the same program, so the same layout): their x loads are dropped
  const q8 = linearRequant('query8', c.query, x32, s.query_activation, c.queryAct, { outputs: { x: 'x', y: 'q8' } });
  const qkvSame = chain !== undefined && !substituted && s.key_activation.bits === s.query_activation.bits && s.value_activation.bits === s.query_activation.bits &&
    xsOf !== undefined && fits(() => {
      if (!xBlockResident(linearRequantTiling(T, c.query.inFeatures, c.query.outFeatures, s.query_activation.bits === 16 ? 16 : 8, cfg))) throw new TilingError('x not resident');
    });
  const k8 = linearRequant('key8', c.key, x32, s.key_activation, c.keyAct, { inputs: { x: 'x' }, outputs: { y: 'k8' } }, qkvSame);
  const v8 = linearRequant('value8', c.value, x32, s.value_activation, c.valueAct, { inputs: { x: 'x' }, outputs: { y: 'v8' } }, qkvSame && !substituted);

  // 3: scores per head (1/sqrt(d_head) is folded into the softmax input scale, not applied to the integers)
  // 4: IntSoftmax over the key axis, with the key mask per row position
  const act = c.softmax.act;
  const sf = foldSoftmax(c.scoreScale, act);
  if (sf.M !== c.softmax.M || sf.E31 !== c.softmax.E31 || sf.qLn2 !== c.softmax.qLn2 || sf.qc !== c.softmax.qc) throw new Error('internal: the softmax case folds to other constants than the compiled layer');
  const maskBits = opts.mask === undefined ? undefined : Array.from(opts.mask, (v) => (v === 0 ? 0 : 1));
  // 3-4 in one program where the data allows and the cycle models say it is faster: the MXU writes each chunk of a
  // head's scores into the softmax's accumulator buffers, and the int32 scores never make the DRAM round trip
  let smConsts: ReturnType<typeof foldSoftmaxNpu> | undefined;
  try {
    smConsts = foldSoftmaxNpu(sf);
  } catch {
    smConsts = undefined; // the separate softmax kernel reports why
  }
  const qkSoftmaxFused = fuse && smConsts !== undefined && T <= Math.floor(2147483647 / smConsts.E0) && fits(() => {
    const variant = softmaxVariant(smConsts!);
    const mask = maskBits === undefined ? 'none' as const : 'position' as const;
    const fused = qkSoftmaxModel({ T, hidden: C, heads: H, mask }, variant, cfg).cycles;
    const apart = qkModel(T, C, H, cfg).cycles + softmaxModel(H * T, T, cfg, { mask, variant }).cycles;
    if (fused >= apart) throw new TilingError(`qk-softmax: the fused program (model ${fused} cycles) is not faster than qk + softmax (${apart})`);
  });
  let probs: Int32Array;
  // the fused program stores the probabilities as P.V's mxu.mm.u8 reads them (uint8, p = 256 saturated to 255 by the
  // NPU: kernels/npu/attention.ts), so P.V reads its DRAM bytes directly; the step is compared with the reference
  // probabilities saturated the same way (layer 2), and P.V's output with the reference layer as every step is
  let probsStored = false;
  if (qkSoftmaxFused) {
    probs = stepRun([3, 4], 'probs', 'qk-softmax', { inputs: { q: 'q8', k: 'k8' }, outputs: { y: 'probs8' } }, (ro) => {
      const run = runQkSoftmaxSim(new Int8Array(q8), new Int8Array(k8), T, C, H, smConsts!, cfg, maskBits, { ...ro, probsU8: true });
      return { y: run.y, r: { cycles: run.sim.stats.cycles ?? 0, model_cycles: run.model.cycles, model_exact: run.model.exact, sim: run.sim } };
    }, {
      expect: (ref) => new Int32Array(npuPvInts(ref as ArrayLike<number>)),
      note: 'stored as uint8 min(p, 255), the byte format P.V reads: compared with the reference probabilities saturated the same way (kernels/npu/attention.ts)',
    });
    probsStored = true;
  } else {
    const scores = stepRun([3], 'scores', 'qk', undefined, (ro) =>
      caseRun(simCaseQk({ q_int: { shape: [T, C], data: q8 }, k_int: { shape: [T, C], data: k8 }, heads: H }, cfg, ro)));
    probs = stepRun([4], 'probs', 'softmax', undefined, (ro) => {
      const mask = maskBits === undefined ? {} : { mask: maskBits };
      return caseRun(simCaseSoftmax({ x_int: scores, shape: [H, T, T], scale_in: c.scoreScale, x_min: act.x_min, x_max: act.x_max, ...mask }, cfg, ro));
    });
  }

  // 5-6: context = P . V per head, its QuantAct(8)
  // with the context QuantAct(8) in P.V's output stage where the data allows: the int32 context stays on chip
  // (a compiler's choice by the cycle models: where the VPU work of the fold would hold the front end longer than
  // the separate requant-act kernel takes, as on server where a head's 64 columns fill half the lanes, it stays apart)
  const pvFold = fuse && s.output_activation.bits === 8 && c.contextAct.m.length === 1 && fits(() => attentionTiling('pv', T, C, H, cfg, true)) &&
    pvModel(T, C, H, cfg, true).cycles < pvModel(T, C, H, cfg).cycles + requantActModel(T, C, { perChannel: false, bits: 8, clampX: false, clampW: false }, cfg).cycles;
  let ctx8: Int32Array;
  if (pvFold) {
    ctx8 = stepRun([5, 6], 'context8', 'pv', probsStored ? { inputs: { p: 'probs8', v: 'v8' }, outputs: { ctx: 'ctx8' } } : { inputs: { v: 'v8' }, outputs: { ctx: 'ctx8' }, drain: true }, (ro) => {
      sameConsts('context8', foldQuantAct(s.output_activation, c.contextScale), c.contextAct);
      // p bound in the chain: P.V reads the bytes qk-softmax stored, the host writes nothing (no conversion needed)
      const p8 = ro.link?.inputs?.['p'] !== undefined ? new Uint8Array(probs.length) : npuPvInts(probs);
      const run = runPvRequantSim(p8, new Int8Array(v8), T, C, H, { m: c.contextAct.m[0]!, e: c.contextAct.e[0]! }, cfg, ro);
      return { y: run.y, r: { cycles: run.sim.stats.cycles ?? 0, model_cycles: run.model.cycles, model_exact: run.model.exact, sim: run.sim } };
    });
  } else {
    const ctx = stepRun([5], 'context', 'pv', probsStored ? { inputs: { p: 'probs8', v: 'v8' }, outputs: { ctx: 'ctx' } } : { inputs: { v: 'v8' }, outputs: { ctx: 'ctx' }, drain: true }, (ro) =>
      caseRun(simCasePv({ p_int: { shape: [H, T, T], data: probs }, v_int: { shape: [T, C], data: v8 }, heads: H }, cfg, ro)));
    ctx8 = requant(6, 'context8', ctx, [T, C], c.contextScale, s.output_activation, c.contextAct, undefined, { inputs: { x: 'ctx' }, outputs: { y: 'ctx8' } });
  }

  // 7-10: output dense, residual QuantAct(22) with the layer input, LayerNorm fused with its QuantAct(8)
  const r1 = linearResidual([7, 8], 'ln1_input', c.attnDense, ctx8, ao.ln_input_act, c.ln1InputAct, { w: x32, scale: c.inputScale }, { inputs: { x: 'ctx8', wid: 'x' }, outputs: { y: 'r1' } });
  // 11 (the int8 -> int8 rescale before fc1) folded into the LayerNorm's output stage where the data allows: a
  // second in-register requantization, the same integers as the separate requant-act step
  const pre = layer.pre_intermediate_act;
  const lnFold = fuse && pre.bits === 8 && ao.output_activation.bits === 8 && c.preIntermediateAct.m.length === 1 && fits(() => {
    const lc = parseLayerNormCase({ x_int: new Array<number>(C).fill(0), shape: [1, C], gamma: [...ao.LayerNorm.gamma], beta: [...ao.LayerNorm.beta], shift: ao.LayerNorm.shift, out_x_min: ao.output_activation.x_min, out_x_max: ao.output_activation.x_max, out_bits: 8 });
    if (generalVectors(foldLayerNormCase(lc).npu, cfg.vpu.lanes).length > 0) throw new TilingError('general-path vectors');
  });
  let h8: Int32Array;
  if (lnFold) {
    sameConsts('intermediate_input8', foldQuantAct(pre, c.ln1OutputAct.scaleOut), c.preIntermediateAct);
    const second = npuMultiplier(c.preIntermediateAct.m[0]!, c.preIntermediateAct.e[0]!, 'pre_intermediate_act');
    h8 = layerNorm([9, 10, 11], 'intermediate_input8', r1, ao.LayerNorm, ao.output_activation, c.ln1, c.ln1OutputAct, second, { inputs: { x: 'r1' }, outputs: { y: 'h8' } });
  } else {
    const a8 = layerNorm([9, 10], 'attention_output8', r1, ao.LayerNorm, ao.output_activation, c.ln1, c.ln1OutputAct, undefined, { inputs: { x: 'r1' } });
    h8 = requant(11, 'intermediate_input8', a8, [T, C], c.ln1OutputAct.scaleOut, pre, c.preIntermediateAct);
  }

  // 12-14: FFN up-projection, i-GELU fused with its QuantAct(8)
  const geluAct = layer.intermediate.output_activation;
  // 12-15 in one program where the data allows: the int32 fc1 output never leaves the chip
  const geluFused = fuse && geluAct.bits === 8 && layer.pre_output_act.bits === 8 && fits(() => {
    linearRequantTiling(T, c.fc1.inFeatures, F, 8, cfg, undefined, undefined, 'gelu');
    foldGeluNpu([...c.fc1.scaleOut], geluAct);
  });
  let g2: Int32Array;
  if (geluFused) {
    g2 = stepRun([12, 13, 14, 15], 'fc2_input8', 'linear-gelu', { inputs: { x: 'h8' }, outputs: { y: 'g2' } }, (ro) => {
      saturatedBias(c.fc1);
      const gF = foldGelu(c.fc1.scaleOut);
      sameConsts('gelu8', foldQuantAct(geluAct, gF.scaleOut), c.geluAct);
      sameConsts('fc2_input8', foldQuantAct(layer.pre_output_act, c.geluAct.scaleOut), c.preOutputAct);
      const gk = foldGeluNpu([...c.fc1.scaleOut], geluAct);
      const q2 = c.preOutputAct;
      if (q2.m.length !== 1 || q2.e.length !== 1) throw new Error('internal: the step-15 requantization is not per tensor');
      const run = runLinearGeluSim(new Int8Array(h8), c.fc1.weight, new Int32Array(c.fc1.bias), T, c.fc1.inFeatures, F, gk, { m: q2.m[0]!, e: q2.e[0]! }, cfg, ro);
      return { y: run.y, r: { cycles: run.sim.stats.cycles ?? 0, model_cycles: run.model.cycles, model_exact: run.model.exact, sim: run.sim } };
    });
  } else {
    const f1 = linear(12, 'fc1_acc', c.fc1, h8);
    const g8 = stepRun([13, 14], 'gelu8', 'gelu', undefined, (ro) => {
      const gF = foldGelu(c.fc1.scaleOut);
      sameConsts('gelu8', foldQuantAct(geluAct, gF.scaleOut), c.geluAct);
      return caseRun(simCaseGelu({ x_int: f1, shape: [T, F], scale_in: [...c.fc1.scaleOut], out_x_min: geluAct.x_min, out_x_max: geluAct.x_max, out_bits: geluAct.bits }, cfg, ro));
    });
    g2 = requant(15, 'fc2_input8', g8, [T, F], c.geluAct.scaleOut, layer.pre_output_act, c.preOutputAct);
  }

  // 16-19: FFN down-projection, residual with h8 (step 11), LayerNorm fused with its QuantAct(8)
  const r2 = linearResidual([16, 17], 'ln2_input', c.fc2, g2, layer.output.ln_input_act, c.ln2InputAct, { w: h8, scale: c.preIntermediateAct.scaleOut }, { inputs: { x: 'g2', wid: 'h8' }, outputs: { y: 'r2' } });
  const out = layerNorm([18, 19], 'output8', r2, layer.output.LayerNorm, layer.output.output_activation, c.ln2, c.outputAct, undefined, { inputs: { x: 'r2' } });

  settle(true);
  let total = 0, totalModel = 0, macs = 0, dram = 0, vpuIssue = 0, divider = 0;
  for (const st of steps) {
    vpuIssue += st.bounds.vpu_issue;
    divider += st.bounds.divider;
    total += st.cycles;
    totalModel += st.model_cycles;
    macs += st.macs;
    dram += st.dram_bytes;
  }
  const bad = steps.find((st) => st.ran && !st.identical_to_reference);
  const firstMismatch = bad?.first_diff
    ? { step: bad.step, name: bad.name, kernel: bad.kernel, index: bad.first_diff.index, sim: bad.first_diff.sim, ref: bad.first_diff.ref }
    : null;
  return {
    machine: cfg.name, clock_ghz: cfg.clockGHz, seq: T, hidden: C, heads: H, ffn: F,
    steps, output: new Int8Array(out), output_scale: c.outputAct.scaleOut,
    total_cycles: total, total_model_cycles: totalModel, latency_us: total / (cfg.clockGHz * 1e3),
    total_macs: macs, total_dram_bytes: dram, mxu_utilization: total > 0 ? macs / (total * cfg.mxu.rows * cfg.mxu.cols) : 0,
    bounds: bindingOf({
      mac: Math.ceil(macs / (cfg.mxu.rows * cfg.mxu.cols)), dram: Math.ceil(dram / cfg.dram.bytesPerCycle), vpu_issue: vpuIssue, divider,
    }, total),
    bit_exact: unsupported.length === 0 && steps.every((st) => st.identical_to_reference),
    first_mismatch: firstMismatch, unsupported, schedule: chain ? LAYER_SCHEDULE_OVERLAPPED : LAYER_SCHEDULE_NOTE, overlapped: chain !== undefined, reference: reference(),
  };
}
