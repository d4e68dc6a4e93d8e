// The kernels the CLI knows, with their engines: `ref` (layer 1, the I-BERT reference), `npu` (layer 2,
// the NPU kernel semantics in TypeScript), `sim` (the ISA program on the simulator), plus example cases
// and fidelity measurements. One table, so `kernel`, `kernel --compare`, `fidelity` and `report` agree.
import seedrandom from 'seedrandom';
import { linearRef } from '../kernels/ref/linear.js';
import { requantDirect } from '../kernels/ref/requant.js';
import { runReferenceCase } from '../kernels/ref/cases.js';
import type { FidelityResult } from '../kernels/npu/common.js';
import { runLinearSim, runRequantSim, type CaseRun, type RunOptions } from '../programs/index.js';
import { exampleCasePv, exampleCaseQk, fidelityPv, fidelityQk, npuCasePv, npuCaseQk, refCasePv, refCaseQk } from '../kernels/npu/attention.js';
import { simCasePv, simCaseQk } from '../programs/attention/build.js';
import { exampleCaseGelu, fidelityGelu, npuCaseGelu, refCaseGelu } from '../kernels/npu/gelu.js';
import { exampleCaseRequantAct, fidelityRequantAct, npuCaseRequantAct, refCaseRequantAct } from '../kernels/npu/requant-act.js';
import { simCaseGelu } from '../programs/gelu/build.js';
import { simCaseRequantAct } from '../programs/requant-act/build.js';
import { exampleCaseSoftmax, fidelitySoftmax, npuCaseSoftmax, refCaseSoftmax } from '../kernels/npu/softmax.js';
import { simCaseSoftmax } from '../programs/softmax/build.js';
import { exampleCaseLayerNorm, fidelityLayerNorm, npuCaseLayerNorm, refCaseLayerNorm } from '../kernels/npu/layernorm.js';
import { simCaseLayerNorm } from '../programs/layernorm/build.js';
import type { MachineConfig } from '../sim/config.js';
import { linearCase, requantCase } from './cases.js';
import { UsageError } from './common.js';

export interface EngineOutput {
  y_int: (number | string)[];
  shape: number[];
  scale_out?: number | number[];
  consts?: Record<string, unknown>;
}

export type { FidelityResult };

export interface KernelEntry {
  readonly name: string;
  readonly doc: string;
  /** every top-level case field some engine of this kernel reads (docs/formats.md); any other is refused */
  readonly keys: readonly string[];
  readonly ref: (input: unknown) => EngineOutput;
  readonly npu?: (input: unknown) => EngineOutput;
  readonly sim?: (input: unknown, cfg: MachineConfig, opts: RunOptions) => CaseRun;
  readonly example?: (size: 'small' | 'base', seed: string) => unknown;
  readonly fidelity?: (opts: { seed?: string }) => FidelityResult | FidelityResult[];
  /** Which form of the kernel a case selects, for kernels with more than one (requant). */
  readonly form?: (input: unknown) => string;
}

/** The kernel's name with the form a case selects: `requant (QuantAct)` vs `requant (direct m/2^shift)`. */
export function kernelLabel(k: KernelEntry, input: unknown): string {
  return k.form ? `${k.name} (${k.form(input)})` : k.name;
}

const isDirectRequant = (input: unknown): boolean => typeof input === 'object' && input !== null && 'multiplier' in input;

function simRun(run: { y: Int32Array; sim: CaseRun['sim']; model: { cycles: number; exact: boolean }; program: CaseRun['program'] }, shape: number[]): CaseRun {
  return {
    y_int: Array.from(run.y), shape, cycles: run.sim.stats.cycles ?? 0, model_cycles: run.model.cycles,
    model_exact: run.model.exact, sim: run.sim, program: run.program,
  };
}

function seededInts(seed: string, n: number, lo: number, hi: number): number[] {
  const rng = seedrandom.alea(seed);
  return Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo + 1)));
}

const linear: KernelEntry = {
  name: 'linear',
  keys: ['x_int', 'weight_int', 'bias_int', 'M', 'K', 'N', 'shape', 'scale_x', 'weight_scale'],
  doc: 'int8 x[M,K] . W[N,K]^T + int32 bias -> int32 (QuantLinear); the NPU computes it exactly, so npu = ref',
  ref: (input) => runReferenceCase('linear', input),
  npu: (input) => {
    const c = linearCase(input, 'case');
    return { y_int: Array.from(linearRef(c.x, c.w, c.bias, c.M, c.K, c.N)), shape: [c.M, c.N] };
  },
  example: (size, seed) => {
    const [M, K, N] = size === 'base' ? [128, 768, 768] : [8, 40, 24];
    return { M, K, N, x_int: seededInts(`${seed}:x`, M * K, -128, 127), weight_int: seededInts(`${seed}:w`, N * K, -127, 126), bias_int: seededInts(`${seed}:b`, N, -65536, 65536) };
  },
  sim: (input, cfg, opts) => {
    const c = linearCase(input, 'case');
    return simRun(runLinearSim(c.x, c.w, c.bias, c.M, c.K, c.N, cfg, opts), [c.M, c.N]);
  },
};

const requantEntry: KernelEntry = {
  name: 'requant',
  keys: ['x_int', 'shape', 'scale_in', 'bits', 'x_min', 'x_max', 'identity_int', 'identity_scale', 'multiplier', 'shift'],
  doc: 'QuantAct: int32 -> int8/16/22 by per-channel multipliers and shifts folded from scales, with the optional residual identity term; or the direct form {x_int, multiplier, shift, bits}',
  ref: (input) => (isDirectRequant(input) ? runReferenceCase('requant', input) : refCaseRequantAct(input)),
  npu: (input) => {
    if (!isDirectRequant(input)) return npuCaseRequantAct(input);
    const c = requantCase(input, 'case');
    return { y_int: Array.from(requantDirect(c.x, c.multiplier, c.shift, c.bits)), shape: c.shape };
  },
  sim: (input, cfg, opts) => {
    if (!isDirectRequant(input)) return simCaseRequantAct(input, cfg, opts);
    const c = requantCase(input, 'case');
    return simRun(runRequantSim(c.x, c.multiplier, c.shift, c.bits, cfg, opts), c.shape);
  },
  example: exampleCaseRequantAct,
  fidelity: fidelityRequantAct,
  form: (input) => (isDirectRequant(input) ? 'direct m/2^shift' : 'QuantAct'),
};

const ENTRIES: KernelEntry[] = [
    linear,
    requantEntry,
    {
      name: 'gelu', keys: ['x_int', 'shape', 'scale_in', 'out_x_min', 'out_x_max', 'out_bits'], doc: 'i-GELU on the int32 fc1 accumulator fused with its int8 requantization (out_x_min/out_x_max/out_bits); without out_* fields the reference gives the int64 GELU',
      ref: (input) => (typeof input === 'object' && input !== null && 'out_x_max' in input ? refCaseGelu(input) : runReferenceCase('gelu', input)),
      npu: npuCaseGelu, sim: simCaseGelu, example: exampleCaseGelu, fidelity: fidelityGelu,
    },
    {
      name: 'softmax', keys: ['x_int', 'shape', 'scale_in', 'mask', 'x_min', 'x_max'], doc: 'i-softmax: int32 scores -> probabilities in [0, 256], rows along the last dimension, with masking',
      ref: refCaseSoftmax, npu: npuCaseSoftmax, sim: simCaseSoftmax, example: exampleCaseSoftmax, fidelity: fidelitySoftmax,
    },
    {
      name: 'layernorm', keys: ['x_int', 'shape', 'gamma', 'beta', 'shift', 'out_x_min', 'out_x_max', 'out_bits'], doc: 'integer LayerNorm on the 22-bit residual sum fused with its per-channel int8 requantization (out_x_min/out_x_max/out_bits); without out_* fields the reference gives the int64 LayerNorm',
      ref: (input) => (typeof input === 'object' && input !== null && 'out_x_max' in input ? refCaseLayerNorm(input) : runReferenceCase('layernorm', input)),
      npu: npuCaseLayerNorm, sim: simCaseLayerNorm, example: exampleCaseLayerNorm, fidelity: fidelityLayerNorm,
    },
    {
      name: 'qk', keys: ['q_int', 'k_int', 'heads'], doc: 'attention scores per head: int8 Q_h . K_h^T -> int32 [H, T, T] (layer 2 = layer 1)',
      ref: refCaseQk, npu: npuCaseQk, sim: simCaseQk, example: exampleCaseQk, fidelity: fidelityQk,
    },
    {
      name: 'pv', keys: ['p_int', 'v_int', 'heads'], doc: 'context per head: probabilities (0..256) . V_h -> int32 [T, hidden]; the NPU clamps p = 256 to 255 (uint8 MXU operand)',
      ref: refCasePv, npu: npuCasePv, sim: simCasePv, example: exampleCasePv, fidelity: fidelityPv,
    },
];

export const KERNELS: ReadonlyMap<string, KernelEntry> = new Map(ENTRIES.map((k) => [k.name, k]));

/**
 * A case file's top-level fields must be ones some engine of the kernel reads: a misspelled field (`scale` for
 * `scale_in`, `out_xmax`) would otherwise be dropped and the case run with a default or fail later elsewhere.
 */
export function checkCaseKeys(k: KernelEntry, input: unknown, where: string): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new UsageError(`${where}: a ${k.name} case is a JSON object`);
  const unknown = Object.keys(input).filter((key) => !k.keys.includes(key));
  if (unknown.length > 0) {
    throw new UsageError(`${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')} in a ${k.name} case; allowed: ${k.keys.join(', ')}`);
  }
}

export function kernelEntry(name: string): KernelEntry {
  const k = KERNELS.get(name);
  if (!k) throw new UsageError(`unknown kernel '${name}' (kernels: ${[...KERNELS.keys()].join(', ')})`);
  return k;
}
