// `intnpu golden record|check`: golden regressions for CI (cli/golden.ts). record runs the built-in kernels
// on their example cases and the synthetic layer (or a user's program with --program) on each machine and
// writes output digests and cycle counts; check reruns them: exit 0 when all match, 2 when any differs.
import { performance } from 'node:perf_hooks';
import type { Argv, CommandModule } from 'yargs';
import { EXIT, handler, printJson, table, UsageError } from '../common.js';
import { writeOutputFile } from '../files.js';
import {
  builtinSubjects, checkGolden, entryName, failureText, formatDeviation, goldenBase, junitXml, loadGolden, mergeGolden,
  rebaseSet, runSubject, toGolden, type GoldenSubject,
} from '../golden.js';
import { KERNELS } from '../registry.js';
import { parseParams } from './run.js';

interface RecordArgs {
  out: string;
  machine: string[];
  size: string;
  seed: string;
  kernel?: string[] | undefined;
  layer: boolean;
  program?: string | undefined;
  param?: string[] | undefined;
  set?: string[] | undefined;
  output?: string[] | undefined;
}

interface CheckArgs {
  file: string;
  'cycles-tolerance': number;
  junit?: string | undefined;
  json?: boolean | undefined;
}

const short = (h: string | undefined): string => (h ? `${h.slice(0, 12)}…` : '(none)');

const recordCommand: CommandModule<object, RecordArgs> = {
  command: 'record',
  describe: 'Run the built-in kernels (example cases) and the synthetic layer, or --program, and write their output digests and cycles',
  builder: (y) =>
    y
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'golden file; entries of the same subject are replaced, others kept' })
      .option('machine', { alias: 'm', type: 'string', array: true, default: ['edge'], describe: 'machines (presets or JSON files), one entry per machine' })
      .option('size', { type: 'string', choices: ['small', 'base'], default: 'small', describe: 'example case and layer size' })
      .option('seed', { type: 'string', default: 'intnpu-golden', describe: 'seed of the example cases and the layer' })
      .option('kernel', { alias: 'k', type: 'string', array: true, describe: `only these kernels (${[...KERNELS.values()].filter((k) => k.sim && k.example).map((k) => k.name).join(', ')})` })
      .option('layer', { type: 'boolean', default: true, describe: 'include the synthetic layer (--no-layer to leave it out)' })
      .option('program', { type: 'string', describe: 'record a user program (.s) instead of the built-ins' })
      .option('param', { type: 'string', array: true, describe: 'with --program: NAME=value for a .param' })
      .option('set', { type: 'string', array: true, describe: 'with --program: BUFFER=FILE[:int8|int16|int32] as for `run --set`' })
      .option('output', { type: 'string', array: true, describe: 'with --program: buffers to digest (default: every DRAM buffer not filled by --set)' }),
  handler: handler((a: RecordArgs) => {
    const base = goldenBase(a.out);
    let subjects: GoldenSubject[];
    if (a.program !== undefined) {
      const params = parseParams(a.param);
      subjects = a.machine.map((machine) => ({
        kind: 'program' as const, program: toGolden(base, a.program!), ...(Object.keys(params).length ? { params } : {}),
        set: (a.set ?? []).map((s) => rebaseSet(s, (p) => toGolden(base, p))), machine: storedMachine(machine, base),
        ...(a.output ? { outputNames: a.output } : {}),
      }));
    } else {
      if (a.param || a.set || a.output) throw new UsageError('--param, --set and --output go with --program');
      const size = a.size as 'small' | 'base';
      subjects = builtinSubjects(a.machine.map((m) => storedMachine(m, base)), size, a.seed)
        .filter((s) => (s.kind === 'kernel' ? !a.kernel || a.kernel.includes(s.kernel) : s.kind !== 'layer' || a.layer));
      const unknown = (a.kernel ?? []).filter((k) => !KERNELS.get(k)?.sim);
      if (unknown.length) throw new UsageError(`--kernel ${unknown.join(', ')}: no such kernel with a simulator program`);
    }
    const entries = subjects.map((s) => runSubject(s, base));
    const file = mergeGolden(a.out, entries);
    writeOutputFile(a.out, JSON.stringify(file, null, 2) + '\n', 'golden file');
    const rows: (string | number)[][] = [['entry', 'cycles', 'outputs']];
    for (const e of entries) rows.push([entryName(e), e.cycles, Object.entries(e.outputs).map(([n, d]) => `${n} ${short(d.sha256)} (${d.bytes} B)`).join(', ')]);
    process.stdout.write(table(rows) + `\n${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} recorded; ${a.out} holds ${file.entries.length}\n`);
  }),
};

/** Presets stay names; machine files are stored relative to the golden file. */
function storedMachine(m: string, base: string): string {
  return /\.json$/i.test(m) ? toGolden(base, m) : m;
}

const checkCommand: CommandModule<object, CheckArgs> = {
  command: 'check <file>',
  describe: 'Rerun every entry of a golden file: exit 0 when all outputs and cycle counts match, 2 when any differs',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true })
      .option('cycles-tolerance', { type: 'number', default: 0, describe: 'allowed relative cycle deviation (0.02 = ±2 %); outputs must always match exactly' })
      .option('junit', { type: 'string', describe: 'write a JUnit XML report here' })
      .option('json', { type: 'boolean' }),
  handler: handler((a: CheckArgs) => {
    const tol = a['cycles-tolerance'];
    if (!Number.isFinite(tol) || tol < 0) throw new UsageError(`--cycles-tolerance ${tol}: must be a number >= 0 (a fraction: 0.02 = 2 %)`);
    const golden = loadGolden(a.file);
    const results = checkGolden(golden, goldenBase(a.file), tol, () => performance.now());
    if (a.junit) writeOutputFile(a.junit, junitXml(results, a.file), 'JUnit report');
    const bad = results.filter((r) => r.status !== 'ok');
    if (a.json) {
      printJson({ file: a.file, cycles_tolerance: tol, entries: results.length, failed: bad.length, results: results.map(({ expected, actual, ...r }) => ({ ...r, expected_cycles: expected.cycles, actual_cycles: actual?.cycles ?? null, expected_outputs: expected.outputs, actual_outputs: actual?.outputs ?? null })) });
    } else {
      const rows: (string | number)[][] = [['entry', 'expected cycles', 'actual cycles', 'deviation', 'outputs', 'status']];
      for (const r of results) {
        const outs = r.status === 'error' ? '-' : r.differing_outputs.length === 0 ? `${Object.keys(r.expected.outputs).length} match`
          : r.differing_outputs.map((n) => `${n}: expected ${short(r.expected.outputs[n]?.sha256)}, actual ${short(r.actual?.outputs[n]?.sha256)}`).join('; ');
        rows.push([r.name, r.expected.cycles, r.actual ? r.actual.cycles : '-', formatDeviation(r.cycles_deviation), outs, r.status === 'ok' ? 'ok' : r.status.toUpperCase()]);
      }
      process.stdout.write(`golden check ${a.file}: ${results.length} entries, cycles tolerance ${(tol * 100).toFixed(2)} %\n${table(rows)}\n`);
      for (const r of bad) process.stdout.write(`\n${r.name}: ${r.status}\n  ${failureText(r).split('\n').join('\n  ')}\n`);
      process.stdout.write(bad.length === 0 ? `\nall ${results.length} entries match\n` : `\n${bad.length} of ${results.length} entries differ\n`);
      if (a.junit) process.stdout.write(`JUnit report written to ${a.junit}\n`);
    }
    return bad.length === 0 ? EXIT.ok : EXIT.mismatch;
  }),
};

export const goldenCommand: CommandModule = {
  command: 'golden',
  describe: 'Golden regressions for CI: record output digests and cycle counts, check them later (exit 2 on drift, JUnit report)',
  builder: (y: Argv) => y.command(recordCommand).command(checkCommand).demandCommand(1, 'golden needs a subcommand: record or check'),
  handler: () => undefined,
};
