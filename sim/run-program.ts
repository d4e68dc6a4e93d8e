// runProgram: the one call a kernel author's own tests make: assemble (or take) a program, place typed
// inputs in its .buffer regions, simulate on a preset, a machine file or a config object, and read buffers
// back as int8/int16/int32. Every user mistake (assembly errors, an unknown buffer, an input that does not
// fit or has the wrong element type) is a ProgramInputError or AsmError with a message that names it.
import { assemble, type BufferSymbol, type Program } from '../isa/asm.js';
import { loadMachine, parseMachine, type MachineConfig, type MachineInput } from './config.js';
import { Machine } from './machine.js';
import { loadProgram, simulate, type SimMode, type SimResult, type SimStats } from './run.js';
import type { TraceEvent } from './timing.js';

/** Element types a buffer can be read as. */
export const ELEMENT_TYPES = { int8: Int8Array, int16: Int16Array, int32: Int32Array } as const;
export type ElementType = keyof typeof ELEMENT_TYPES;
export type ElementArray = Int8Array | Int16Array | Int32Array;
/** What a host may write into a buffer (Uint8Array: raw bytes). */
export type BufferInput = Int8Array | Uint8Array | Int16Array | Int32Array;

/** A preset name (`edge`, `server`), a path to a machine JSON file, or a config object (validated). */
export type MachineSpec = string | MachineConfig | (MachineInput & { readonly preset?: string });

export interface RunProgramOptions {
  /** File name used in diagnostics and faults (default `<input>`). */
  readonly file?: string;
  /** Default `edge`. */
  readonly machine?: MachineSpec;
  /** Buffer name to data; written before the run (DRAM/scratchpad: the array's bytes; accumulator: Int32Array). */
  readonly inputs?: Readonly<Record<string, BufferInput>>;
  /** Values for the program's `.param` declarations (only when assembling source). */
  readonly params?: Readonly<Record<string, number>>;
  /** full (data + timing, default), timing (counters only, no data), functional (data only, no cycles). */
  readonly mode?: SimMode;
  /** Record trace events (SimResult.trace), for chromeTrace(). */
  readonly trace?: boolean;
}

export interface ProgramRun {
  /** Simulated cycles; null in functional-only mode, which has no timing. */
  readonly cycles: number | null;
  readonly stats: SimStats;
  /** A copy of a buffer's contents after the run; default type int32 for acc buffers, int8 otherwise. */
  read(buffer: string, type?: ElementType): ElementArray;
  readonly program: Program;
  readonly machine: MachineConfig;
  readonly trace: readonly TraceEvent[] | undefined;
  /** The raw simulator result (machine state, timing model). */
  readonly result: SimResult;
}

/** A mistake in what the caller passed to runProgram (not in the assembly, which throws AsmError). */
export class ProgramInputError extends Error {
  override readonly name = 'ProgramInputError';
  readonly exitCode = 1;
}

function resolveMachine(spec: MachineSpec | undefined): MachineConfig {
  if (spec === undefined) return loadMachine('edge');
  if (typeof spec === 'string') return loadMachine(spec);
  if (typeof spec !== 'object' || spec === null) throw new ProgramInputError(`machine must be a preset name, a file path or a config object, got ${typeof spec}`);
  return parseMachine(spec, 'machine');
}

function bufferNamed(prog: Program, name: string, what: string): BufferSymbol {
  const b = prog.buffers.get(name);
  if (b) return b;
  const known = [...prog.buffers.keys()];
  throw new ProgramInputError(`${what}: ${prog.file} has no buffer '${name}' (buffers: ${known.length ? known.join(', ') : 'none declared'})`);
}

const kindOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a plain array' : typeof v === 'object' ? (v.constructor?.name ?? 'an object') : typeof v;

function checkInput(prog: Program, name: string, data: unknown): { sym: BufferSymbol; data: BufferInput } {
  const sym = bufferNamed(prog, name, `inputs.${name}`);
  if (sym.space === 'acc') {
    if (!(data instanceof Int32Array)) {
      throw new ProgramInputError(`inputs.${name}: '${name}' is an accumulator buffer (int32 words), so it takes an Int32Array, got ${kindOf(data)}`);
    }
  } else if (!(data instanceof Int8Array || data instanceof Uint8Array || data instanceof Int16Array || data instanceof Int32Array)) {
    throw new ProgramInputError(`inputs.${name}: expected an Int8Array, Uint8Array, Int16Array or Int32Array, got ${kindOf(data)}`);
  }
  const units = sym.space === 'acc' ? data.length : data.byteLength;
  if (units > sym.size) {
    const unit = sym.space === 'acc' ? 'words' : 'bytes';
    const detail = sym.space === 'acc' ? `${data.length} words` : `${data.length} ${kindOf(data)} elements = ${data.byteLength} bytes`;
    throw new ProgramInputError(`inputs.${name}: buffer '${name}' (${sym.space}, line ${sym.line}) holds ${sym.size} ${unit}, the input is ${detail}`);
  }
  return { sym, data };
}

/** Assemble `source` (or take an assembled Program), write `inputs`, simulate, and give buffers back. */
export function runProgram(source: string | Program, opts: RunProgramOptions = {}): ProgramRun {
  const cfg = resolveMachine(opts.machine);
  let prog: Program;
  if (typeof source === 'string') {
    prog = assemble(source, {
      file: opts.file ?? '<input>',
      params: opts.params ?? {},
      capacity: { dram: cfg.dram.sizeBytes, spad: cfg.spad.sizeBytes, acc: cfg.acc.sizeBytes / 4 },
    });
  } else if (typeof source === 'object' && source !== null && source.words instanceof Uint32Array) {
    if (opts.params && Object.keys(opts.params).length > 0) {
      throw new ProgramInputError('params: the program is already assembled; pass the source text to set .param values');
    }
    prog = source;
  } else {
    throw new ProgramInputError(`runProgram: expected assembly source (a string) or an assembled Program, got ${kindOf(source)}`);
  }
  const m = new Machine(cfg);
  for (const [name, data] of Object.entries(opts.inputs ?? {})) {
    const inp = checkInput(prog, name, data);
    m.writeBuffer(inp.sym, inp.data);
  }
  const result = simulate(loadProgram(prog.words, prog), cfg, { machine: m, mode: opts.mode ?? 'full', trace: opts.trace === true });
  const read = (buffer: string, type?: ElementType): ElementArray => {
    const sym = bufferNamed(prog, buffer, `read('${buffer}')`);
    const t: ElementType = type ?? (sym.space === 'acc' ? 'int32' : 'int8');
    const T = ELEMENT_TYPES[t];
    if (T === undefined) throw new ProgramInputError(`read('${buffer}', '${String(type)}'): type must be int8, int16 or int32`);
    if (sym.space === 'acc' && t !== 'int32') throw new ProgramInputError(`read('${buffer}', '${t}'): '${buffer}' is an accumulator buffer of int32 words; read it as int32`);
    const bytes = m.readBytes(sym);
    return new T(bytes.buffer as ArrayBuffer, bytes.byteOffset, Math.floor(bytes.byteLength / T.BYTES_PER_ELEMENT));
  };
  return { cycles: result.stats.cycles, stats: result.stats, read, program: prog, machine: cfg, trace: result.trace, result };
}
