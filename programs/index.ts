// Runs the kernel programs on the simulator: build the program for the shape and machine, assemble it,
// place the inputs in its DRAM buffers, simulate, read the outputs back, and put the closed-form model
// beside the simulated cycles.
import { assemble, type BufferSymbol, type Program } from '../isa/asm.js';
import { checkCapacity } from '../isa/emit.js';
import { linearModel, type LinearModel } from './linear/model.js';
import { requantModel, type RequantModel } from './requant/model.js';
import type { MachineConfig } from '../sim/config.js';
import { Machine } from '../sim/machine.js';
import type { ChainLink } from '../sim/chain.js';
import { loadProgram, simulate, type SimMode, type SimResult } from '../sim/run.js';
import { buildLinear, type BuiltProgram } from './linear/build.js';
import { storedProgram } from './program-store.js';
import { buildRequant } from './requant/build.js';

export { buildLinear, buildRequant };
export { programListing } from './listing.js';

export interface KernelRun<M> {
  readonly y: Int32Array;
  readonly sim: SimResult;
  readonly model: M;
  readonly program: Program;
}

/** What a kernel program run on a case returns, for the CLI (`intnpu kernel <name> --engine sim`). */
export interface CaseRun {
  /** Outputs, flat row-major, as plain numbers. */
  readonly y_int: number[];
  /** The same outputs as an Int32Array, where the runner has them (printing a preview needs no number array). */
  readonly y?: Int32Array;
  readonly shape: number[];
  readonly cycles: number;
  readonly model_cycles: number;
  /** True where the model is exact by construction (straight-line kernels), false where within a tolerance. */
  readonly model_exact: boolean;
  readonly sim: SimResult;
  readonly program: Program;
}

export interface RunOptions {
  readonly mode?: SimMode;
  readonly trace?: boolean;
  /** Run as the next program of a chain (sim/chain.ts): on its machine, after its previous programs, buffers bound as given. */
  readonly link?: ChainLink;
}

/** The program of a built kernel on this machine: emitted words as they are, text through the assembler; both checked against the memories. */
export function assembleBuilt(built: BuiltProgram, cfg: MachineConfig): Program {
  const capacity = { dram: cfg.dram.sizeBytes, spad: cfg.spad.sizeBytes, acc: cfg.acc.sizeBytes / 4 };
  if (built.program !== undefined) {
    checkCapacity(built.program, capacity);
    return built.program;
  }
  return assemble(built.source, { file: built.file, capacity });
}

/** A buffer the program builder declared (a missing one is a builder bug, not bad input). */
export function programBuffer(prog: Program, name: string): BufferSymbol {
  const b = prog.buffers.get(name);
  if (!b) throw new Error(`program ${prog.file} has no buffer '${name}'`);
  return b;
}

/** A machine for a builder's program: DRAM sized to the program's buffers (builders declare every byte they touch). */
export function machineFor(prog: Program, cfg: MachineConfig, opts: RunOptions = {}): Machine {
  if (opts.link !== undefined) return opts.link.chain.attach(prog, opts.link);
  return new Machine(cfg, { dramBytes: prog.allocated.dram });
}

function run(prog: Program, cfg: MachineConfig, inputs: Record<string, Int8Array | Int32Array>, opts: RunOptions): SimResult {
  const m = machineFor(prog, cfg, opts);
  for (const [name, data] of Object.entries(inputs)) m.writeBuffer(programBuffer(prog, name), data);
  return simulate(loadProgram(prog.words, prog), cfg, { machine: m, mode: opts.mode ?? 'full', trace: opts.trace ?? false });
}

export function runLinearSim(
  x: Int8Array, w: Int8Array, bias: Int32Array, M: number, K: number, N: number, cfg: MachineConfig, opts: RunOptions = {},
): KernelRun<LinearModel> {
  const program = storedProgram(cfg, `linear ${M}x${K}x${N}`, () => assembleBuilt(buildLinear(M, K, N, cfg), cfg));
  const sim = run(program, cfg, { x, w, bias }, opts);
  const bytes = sim.machine.readBytes(programBuffer(program, 'y'), M * N * 4);
  const y = new Int32Array(bytes.buffer, bytes.byteOffset, M * N);
  return { y, sim, model: linearModel(M, K, N, cfg), program };
}

export function runRequantSim(
  x: Int32Array, multiplier: number, shift: number, bits: 8 | 16, cfg: MachineConfig, opts: RunOptions = {},
): KernelRun<RequantModel> {
  // m = 2^31 (possible from frexp31) is m = 2^30 with one bit less of shift: the same rational.
  let m = multiplier, e = shift;
  if (m === 2 ** 31) {
    if (e === 0) throw new RangeError('multiplier 2^31 with shift 0 has no int32 form on the VPU');
    m = 2 ** 30;
    e -= 1;
  }
  const program = assembleBuilt(buildRequant(x.length, m, e, bits, cfg), cfg);
  const sim = run(program, cfg, { x }, opts);
  const bytes = sim.machine.readBytes(programBuffer(program, 'y'), x.length * (bits / 8));
  const y = new Int32Array(x.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < x.length; i++) y[i] = bits === 8 ? view.getInt8(i) : view.getInt16(2 * i, true);
  return { y, sim, model: requantModel(x.length, bits, cfg), program };
}
