// `npm run fuzz`: the seeded fuzz harness. In process, >= 10^5 inputs per target (assembler sources,
// instruction words, machine configs, kernel case files) with the outcome counted by the CLI exit code it
// maps to; then a smaller CLI-level sample (bench/fuzz/cli.ts) that spawns `intnpu` on generated files with
// a time limit per run and records each run's peak memory. Writes bench/results/fuzz.json.
//
//   node dist/bench/fuzz/main.js [--n 100000] [--seed intnpu-fuzz] [--targets asm,words,config,cases] [--cli 300] [--out file]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { runCliSample } from './cli.js';
import { runTarget, type TargetName, type TargetReport } from './targets.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const n = Number(arg('n', '100000'));
const seed = arg('seed', 'intnpu-fuzz');
const targets = arg('targets', 'asm,words,config,cases').split(',').filter(Boolean) as TargetName[];
const cliRuns = Number(arg('cli', '300'));
const out = arg('out', 'bench/results/fuzz.json');

const reports: TargetReport[] = [];
for (const t of targets) {
  const rep = runTarget(t, n, seed);
  reports.push(rep);
  process.stdout.write(
    `${t.padEnd(7)} ${rep.inputs} inputs: exit 0 ${rep.exit_codes['0']}, exit 1 ${rep.exit_codes['1']}, exit 2 ${rep.exit_codes['2']}, ` +
      `exit 3 ${rep.exit_codes['3']}; hangs (> ${rep.time_limit_ms} ms) ${rep.hangs}; slowest ${rep.slowest_ms} ms; ` +
      `peak RSS ${rep.peak_rss_mb} MB; ${rep.host_seconds} s\n`,
  );
  for (const e of rep.examples) process.stdout.write(`    input ${e.index} (exit ${e.exit}): ${e.message}\n`);
}
const cli = cliRuns > 0 ? await runCliSample(cliRuns, seed, (line) => process.stdout.write(line + '\n')) : undefined;
const result = { seed, command: process.argv.slice(1).join(' '), node: process.version, targets: reports, cli };
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
process.stdout.write(`written ${out}\n`);
const bad = reports.some((r) => r.internal_errors > 0 || r.hangs > 0 || r.exit_codes['2']! > 0) ||
  (cli !== undefined && (cli.exit_codes['3']! > 0 || cli.killed > 0 || cli.over_1gb > 0 || cli.other_codes > 0));
process.exitCode = bad ? 1 : 0;
