// `intnpu kernel <name> --input case.json --engine ref|npu|sim [--compare]`: one kernel on one case by the
// I-BERT reference (ref), the NPU kernel semantics (npu) or its program on the simulator (sim, with the
// cycle model beside the simulated cycles). --compare runs every engine the kernel has and reports, for
// each pair, the share of identical outputs, the largest difference and the first differing element.
import { mkdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { CommandModule } from 'yargs';
import { loadMachine } from '../../sim/config.js';
import { formatHotspots, formatStats, hotspots } from '../../sim/report.js';
import { programListing, type CaseRun } from '../../programs/index.js';
import type { MachineConfig } from '../../sim/config.js';
import { loadProgram } from '../../sim/run.js';
import { chromeTrace } from '../../sim/trace.js';
import { EXIT, handler, printJson, readCase, UsageError } from '../common.js';
import { writeOutputFile } from '../files.js';
import { compareOutputs, type Comparison } from '../compare.js';
import { checkCaseKeys, KERNELS, kernelEntry, kernelLabel, type EngineOutput } from '../registry.js';

interface Args {
  name: string;
  input: string;
  engine: string;
  machine: string;
  compare?: boolean | undefined;
  json?: boolean | undefined;
  trace?: string | undefined;
  'emit-asm'?: string | undefined;
  'emit-inputs'?: string | undefined;
  'allow-paths'?: string[] | undefined;
}

const preview = (y: ReadonlyArray<number | string>): string => `${JSON.stringify(y.slice(0, 32))}${y.length > 32 ? ` ... (${y.length} values)` : ''}`;

export const kernelCommand: CommandModule<object, Args> = {
  command: 'kernel <name>',
  describe: 'Run one kernel on a case file: reference (ref), NPU semantics (npu) or simulator (sim); --compare runs them all',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: `kernel (${[...KERNELS.keys()].join(', ')})` })
      .option('input', { alias: 'i', type: 'string', demandOption: true, describe: 'case JSON (docs/formats.md); fields may name .npy files' })
      .option('engine', { alias: 'e', type: 'string', choices: ['ref', 'npu', 'sim'], default: 'sim' })
      .option('machine', { alias: 'm', type: 'string', default: 'edge', describe: 'preset or JSON file (sim engine)' })
      .option('compare', { type: 'boolean', describe: 'run every engine and compare their outputs' })
      .option('json', { type: 'boolean' })
      .option('trace', { type: 'string', describe: 'Chrome trace-event JSON output (sim engine)' })
      .option('emit-asm', { type: 'string', describe: 'write the program the simulator runs for this case and machine (assembly that `intnpu asm` and `intnpu run` accept)' })
      .option('allow-paths', { type: 'string', array: true, describe: 'folders the case file may name .npy files in, besides its own folder' })
      .option('emit-inputs', { type: 'string', describe: 'with --emit-asm: write each buffer the host fills into this folder (BUFFER.json, for `intnpu run --set`)' }),
  handler: handler((a: Args) => {
    const k = kernelEntry(a.name);
    const input = readCase(a.input, a['allow-paths'] ?? []);
    checkCaseKeys(k, input, a.input);
    const withWhere = <T>(f: () => T): T => {
      try {
        return f();
      } catch (e) {
        if (e instanceof Error && 'exitCode' in e && !e.message.startsWith(a.input)) e.message = `${a.input}: ${e.message}`;
        throw e;
      }
    };
    if (a['emit-inputs'] !== undefined && a['emit-asm'] === undefined) throw new UsageError('--emit-inputs needs --emit-asm');
    if (a['emit-asm'] !== undefined && (a.compare || a.engine !== 'sim')) throw new UsageError('--emit-asm writes the simulator program: use it with --engine sim (the default), without --compare');
    if (a.compare) return compare(a, k.name, input, withWhere);
    if (a.engine === 'ref' || a.engine === 'npu') {
      const f = a.engine === 'ref' ? k.ref : k.npu;
      if (!f) throw new UsageError(`kernel '${k.name}' has no ${a.engine} engine`);
      const r = withWhere(() => f(input));
      if (a.json) printJson({ kernel: k.name, ...(k.form ? { form: k.form(input) } : {}), engine: a.engine, ...r });
      else process.stdout.write(`${kernelLabel(k, input)}, ${a.engine} engine: shape ${JSON.stringify(r.shape)}\ny_int ${preview(r.y_int)}\n`);
      return;
    }
    if (!k.sim) throw new UsageError(`kernel '${k.name}' has no simulator program yet (engines: ref${k.npu ? ', npu' : ''})`);
    const cfg = loadMachine(a.machine);
    const run = withWhere(() => k.sim!(input, cfg, { trace: a.trace !== undefined }));
    const loaded = loadProgram(run.program.words, run.program);
    if (a.trace && run.sim.trace) writeOutputFile(a.trace, JSON.stringify(chromeTrace(run.sim.trace, loaded, cfg)), 'trace');
    const emitted = a['emit-asm'] !== undefined ? emitAsm(a, k.name, run, cfg) : undefined;
    if (a.json) {
      printJson({
        kernel: k.name, ...(k.form ? { form: k.form(input) } : {}), engine: 'sim', y_int: run.y_int, shape: run.shape, cycles: run.cycles,
        model_cycles: run.model_cycles, model_exact: run.model_exact,
        stats: { ...run.sim.stats, hotspots: hotspots(run.sim, loaded) }, machine: cfg,
      });
    } else {
      process.stdout.write(`${kernelLabel(k, input)} on the simulator\n${formatStats(run.sim, cfg, run.model_cycles)}\n`);
      const h = formatHotspots(hotspots(run.sim, loaded, 5));
      if (h) process.stdout.write(h + '\n');
      process.stdout.write(`y_int ${preview(run.y_int)}\n`);
    }
    if (emitted !== undefined) process[a.json ? 'stderr' : 'stdout'].write(emitted);
  }),
};

const DTYPE_OF = (d: Int8Array | Int16Array | Int32Array | Uint8Array): 'int8' | 'int16' | 'int32' =>
  d instanceof Int32Array ? 'int32' : d instanceof Int16Array ? 'int16' : 'int8';

/** Writes the listing (and the host-filled buffers); returns what to tell the user, with the replay command. */
function emitAsm(a: Args, kernel: string, run: CaseRun, cfg: MachineConfig): string {
  const out = a['emit-asm']!;
  const writes = [...run.sim.machine.hostWrites.values()];
  const header = [
    `; intnpu kernel ${kernel} --input ${basename(a.input)} --machine ${a.machine}: the program the simulator ran`,
    `; for this case on ${cfg.name} (${run.program.words.length / 2} instructions, ${run.cycles} cycles in that run).`,
    `; The host fills: ${writes.map((w) => `${w.sym.name} (${w.sym.space}, ${DTYPE_OF(w.data)} x ${w.data.length})`).join(', ') || 'nothing'}.`,
    '',
  ].join('\n');
  writeOutputFile(out, header + programListing(run.program), 'listing');
  const sets: string[] = [];
  const dir = a['emit-inputs'];
  if (dir !== undefined) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new UsageError(`cannot create folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    for (const w of writes) {
      const data = w.data instanceof Uint8Array ? new Int8Array(w.data.buffer, w.data.byteOffset, w.data.length) : w.data;
      const p = join(dir, `${w.sym.name}.json`);
      writeOutputFile(p, JSON.stringify({ dtype: DTYPE_OF(w.data), data: Array.from(data) }));
      sets.push(`--set ${w.sym.name}=${relative(process.cwd(), p) || p}`);
    }
  } else for (const w of writes) sets.push(`--set ${w.sym.name}=${w.sym.name}.json`);
  return `program written to ${out}${dir !== undefined ? `, its ${writes.length} input buffer(s) to ${dir}/` : ''}
` +
    `replay: intnpu run ${out} --machine ${a.machine} ${sets.join(' ')}
`;
}

function compare(a: Args, name: string, input: unknown, withWhere: <T>(f: () => T) => T): number {
  const k = kernelEntry(name);
  const outs: Record<string, EngineOutput> = { ref: withWhere(() => k.ref(input)) };
  if (k.npu) outs['npu'] = withWhere(() => k.npu!(input));
  let cycles: { sim: number; model: number; model_exact: boolean } | null = null;
  if (k.sim) {
    const cfg = loadMachine(a.machine);
    const run = withWhere(() => k.sim!(input, cfg, {}));
    outs['sim'] = run;
    cycles = { sim: run.cycles, model: run.model_cycles, model_exact: run.model_exact };
  }
  const engines = Object.keys(outs);
  const pairs: Array<{ a: string; b: string } & Comparison> = [];
  for (let i = 0; i < engines.length; i++) {
    for (let j = i + 1; j < engines.length; j++) {
      pairs.push({ a: engines[i]!, b: engines[j]!, ...compareOutputs(outs[engines[i]!]!.y_int, outs[engines[j]!]!.y_int) });
    }
  }
  // The simulator must equal the NPU semantics bit for bit; ref vs npu is a fidelity figure.
  const simVsNpu = pairs.find((p) => p.a === 'npu' && p.b === 'sim');
  const ok = !simVsNpu || (simVsNpu.identical === simVsNpu.n && !simVsNpu.length_mismatch);
  if (a.json) {
    printJson({ kernel: name, engines, comparisons: pairs, cycles, sim_equals_npu: simVsNpu ? ok : null });
  } else {
    const out = process.stdout;
    out.write(`${name}: engines ${engines.join(', ')}\n`);
    for (const p of pairs) {
      const fd = p.first_diff ? `first difference at ${p.first_diff.index}: ${p.a} ${p.first_diff.a}, ${p.b} ${p.first_diff.b}` : 'no difference';
      out.write(`  ${p.a} vs ${p.b}: ${p.identical}/${p.n} identical (${(p.identical_share * 100).toFixed(3)} %), max |diff| ${p.max_abs_diff}; ${fd}${p.length_mismatch ? ' (LENGTHS DIFFER)' : ''}\n`);
    }
    if (cycles) out.write(`  cycles: sim ${cycles.sim.toLocaleString('en-US')}, model ${cycles.model.toLocaleString('en-US')} (${cycles.model_exact ? 'exact model' : 'model within tolerance'}; sim/model ${(cycles.sim / cycles.model).toFixed(4)})\n`);
  }
  return ok ? EXIT.ok : EXIT.mismatch;
}
