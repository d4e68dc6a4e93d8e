// In-process fuzz targets: each runs one generated input through the same library calls the CLI makes
// and classifies the outcome by the exit code the CLI would give (an error's `exitCode`; anything else is
// an internal error, exit 3). `runTarget` drives one target over `n` seeded inputs and counts outcomes,
// slow inputs (over the per-input time limit, "hangs") and the peak resident memory.
import { assemble } from '../../isa/asm.js';
import { disassemble } from '../../isa/disasm.js';
import { parseNpy, toNested } from '../../kernels/ref/npy.js';
import { parseMachine, type MachineConfig } from '../../sim/config.js';
import { loadProgram, simulate } from '../../sim/run.js';
import { KERNELS } from '../../cli/registry.js';
import { ASM_CORPUS, genAsmSource, genCase, genMachineConfig, genParams, genWords, rngFor, type Rng } from './gen.js';

/** The exit code the CLI gives for an error: its own exitCode, else 3 (internal error). */
export function exitCodeOf(e: unknown): number {
  if (typeof e === 'object' && e !== null && 'exitCode' in e && typeof e.exitCode === 'number') return e.exitCode;
  return 3;
}

/** A small machine for the fuzzed programs: tight limits keep every run short. */
export const FUZZ_MACHINE: MachineConfig = parseMachine({
  name: 'fuzz',
  dram: { sizeBytes: 65536 }, spad: { sizeBytes: 16384 }, acc: { sizeBytes: 16384 },
  limits: { maxCycles: 200_000, maxInstructions: 5_000, maxWorkPerInstruction: 2 ** 20 },
});

const capacity = (cfg: MachineConfig) => ({ dram: cfg.dram.sizeBytes, spad: cfg.spad.sizeBytes, acc: cfg.acc.sizeBytes / 4 });

/** Silent wrong answers found by a target's own checks (a round trip that changes the words). */
export class FuzzMismatch extends Error {
  readonly exitCode = 2;
}

/** assemble(disassemble(words)) must give the words back whenever every word was listed. */
function checkRoundTrip(words: Uint32Array): void {
  const d = disassemble(words);
  if (d.lines.some((l) => l.error)) return;
  let again: Uint32Array;
  try {
    again = assemble(d.text, { file: 'roundtrip.s' }).words;
  } catch (e) {
    throw new FuzzMismatch(`the assembler rejects the disassembly: ${(e as Error).message.slice(0, 200)}`);
  }
  if (again.length !== words.length || again.some((v, i) => v !== words[i])) throw new FuzzMismatch('assemble(disassemble(words)) changed the words');
}

export type TargetName = 'asm' | 'words' | 'config' | 'cases';

/** One input of each target; throws what the CLI would see. */
export const TARGETS: Record<TargetName, (r: Rng) => void> = {
  asm: (r) => {
    const src = genAsmSource(r);
    const prog = assemble(src, { file: 'fuzz.s', params: genParams(r), capacity: capacity(FUZZ_MACHINE) });
    // A program that assembled must survive the disassembler round trip and run to a result or a fault.
    checkRoundTrip(prog.words);
    simulate(loadProgram(prog.words, prog), FUZZ_MACHINE, { mode: r() < 0.5 ? 'full' : 'timing', checkBuffers: r() < 0.3 });
  },
  words: (r) => {
    const words = genWords(r);
    checkRoundTrip(words);
    simulate(loadProgram(words), FUZZ_MACHINE, { mode: r() < 0.7 ? 'full' : r() < 0.5 ? 'timing' : 'functional' });
  },
  config: (r) => {
    const cfg = parseMachine(genMachineConfig(r), 'fuzz.json');
    const prog = assembleOnce(ASM_CORPUS[Math.floor(r() * ASM_CORPUS.length)]!);
    // The config is valid: a small program must run on it to a result or a precise fault.
    simulate(loadProgram(prog.words, prog), cfg, { mode: 'full' });
  },
  cases: (r) => {
    const kernels = [...KERNELS.values()].filter((k) => k.example);
    const k = kernels[Math.floor(r() * kernels.length)]!;
    const { input, npy } = genCase(r, exampleOnce(k.name, () => k.example!('small', 'fuzz')));
    // What readCase does with a field naming a .npy file: parse it and nest it by its shape.
    if (typeof input === 'object' && input !== null) {
      for (const [key, bytes] of npy) (input as Record<string, unknown>)[key] = toNested(parseNpy(bytes, `fuzz.json: field ${key}`));
    }
    const engine = r();
    if (engine < 0.45) k.ref(input);
    else if (engine < 0.9 && k.npu) k.npu(input);
    else if (k.sim) k.sim(input, SIM_MACHINE, {});
  },
};

/** The edge machine with tight runaway limits, for the kernels' own programs. */
const SIM_MACHINE: MachineConfig = parseMachine({ limits: { maxCycles: 5_000_000, maxInstructions: 500_000 } });

const assembled = new Map<string, ReturnType<typeof assemble>>();
function assembleOnce(src: string): ReturnType<typeof assemble> {
  let p = assembled.get(src);
  if (!p) assembled.set(src, (p = assemble(src, { file: 'corpus.s' })));
  return p;
}
const examples = new Map<string, unknown>();
function exampleOnce(name: string, make: () => unknown): unknown {
  if (!examples.has(name)) examples.set(name, make());
  return examples.get(name);
}

export interface TargetReport {
  target: TargetName;
  seed: string;
  inputs: number;
  /** Outcomes by the exit code the CLI would give: 0 ok, 1 bad input, 2 mismatch, 3 internal error. */
  exit_codes: Record<string, number>;
  internal_errors: number;
  /** Inputs whose handling took longer than the per-input time limit. */
  hangs: number;
  time_limit_ms: number;
  slowest_ms: number;
  peak_rss_mb: number;
  host_seconds: number;
  /** Up to five reproducers of internal errors, mismatches and hangs: input index and message. */
  examples: { index: number; exit: number | 'hang'; message: string }[];
}

/** Runs `n` inputs of one target; input i is generated from seed `${seed}:${target}:${i}`, so any one reruns alone. */
export function runTarget(target: TargetName, n: number, seed: string, timeLimitMs = 2000, from = 0): TargetReport {
  const exit: Record<string, number> = { '0': 0, '1': 0, '2': 0, '3': 0 };
  const report: TargetReport = {
    target, seed, inputs: n, exit_codes: exit, internal_errors: 0, hangs: 0, time_limit_ms: timeLimitMs,
    slowest_ms: 0, peak_rss_mb: 0, host_seconds: 0, examples: [],
  };
  const t0 = performance.now();
  let peak = process.memoryUsage.rss();
  for (let i = from; i < from + n; i++) {
    const r = rngFor(`${seed}:${target}:${i}`);
    const s = performance.now();
    let code = 0;
    let message = '';
    try {
      TARGETS[target](r);
    } catch (e) {
      code = exitCodeOf(e);
      message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    const ms = performance.now() - s;
    exit[String(code)] = (exit[String(code)] ?? 0) + 1;
    if (code >= 2 && report.examples.length < 5) report.examples.push({ index: i, exit: code, message: message.slice(0, 300) });
    if (ms > timeLimitMs) {
      report.hangs++;
      if (report.examples.length < 5) report.examples.push({ index: i, exit: 'hang', message: `${ms.toFixed(0)} ms` });
    }
    report.slowest_ms = Math.max(report.slowest_ms, ms);
    if ((i & 255) === 0) peak = Math.max(peak, process.memoryUsage.rss());
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  report.internal_errors = exit['3']!;
  report.peak_rss_mb = Math.round(peak / 2 ** 20);
  report.host_seconds = Math.round(performance.now() - t0) / 1000;
  report.slowest_ms = Math.round(report.slowest_ms);
  return report;
}
