// The CLI-level fuzz sample: `intnpu` spawned on generated files (sources, binaries, machine files, case
// files with .npy tensors) and on the hostile file system shapes a case file can name (paths outside its
// folder, symlinks to /dev/zero, FIFOs, directories, deep nesting), each run with a time limit. Counts exit
// codes, runs killed at the limit, peak memory per run (from a preload that reports
// process.resourceUsage().maxRSS at exit), stack traces on stderr, and leaks of a secret planted in files.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { wordsToBytes } from '../../isa/encoding.js';
import { KERNELS } from '../../cli/registry.js';
import { deepNest, genAsmSource, genCase, genMachineConfig, genNpy, genWords, rngFor, type Rng } from './gen.js';

const MAIN = resolve('dist/cli/main.js');
const SECRET = 'SECRET-4f1d-must-never-appear-in-output';

export interface CliReport {
  runs: number;
  seed: string;
  time_limit_s: number;
  exit_codes: Record<string, number>;
  /** Runs killed at the time limit. */
  killed: number;
  /** Exit statuses other than 0..3 (a crash by signal, an abort). */
  other_codes: number;
  over_1gb: number;
  peak_rss_mb: number;
  stack_traces: number;
  secret_leaks: number;
  host_seconds: number;
  /** By scenario: runs and exit codes. */
  scenarios: Record<string, Record<string, number>>;
  examples: { scenario: string; args: string[]; status: string; stderr: string }[];
}

interface Job {
  scenario: string;
  args: string[];
  stdin?: string;
}

const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** One generated CLI invocation, with its files written under `dir`. */
function makeJob(r: Rng, dir: string, i: number): Job {
  const f = (name: string): string => join(dir, `${i}-${name}`);
  const c = r();
  if (c < 0.25) {
    const p = f('p.s');
    writeFileSync(p, genAsmSource(r));
    if (r() < 0.3) return { scenario: 'asm', args: ['asm', p, '-o', r() < 0.8 ? f('p.bin') : join(dir, 'missing-dir', 'p.bin')] };
    return { scenario: 'run-source', args: ['run', p, '-m', join(dir, 'small.json'), ...(r() < 0.3 ? ['--check-buffers'] : []), ...(r() < 0.2 ? ['--max-cycles', String(Math.floor(r() * 1000))] : [])] };
  }
  if (c < 0.4) {
    const p = f('p.bin');
    const bytes = wordsToBytes(genWords(r));
    writeFileSync(p, r() < 0.8 ? bytes : bytes.subarray(0, Math.floor(r() * bytes.length)));
    return { scenario: 'binary', args: r() < 0.5 ? ['run', p, '-m', join(dir, 'small.json')] : ['disasm', p] };
  }
  if (c < 0.55) {
    const p = f('m.json');
    writeFileSync(p, JSON.stringify(genMachineConfig(r)));
    return { scenario: 'machine', args: r() < 0.5 ? ['machine', p] : ['run', join(dir, 'ok.s'), '-m', p] };
  }
  if (c < 0.8) {
    const kernels = [...KERNELS.values()].filter((k) => k.example);
    const k = pick(r, kernels);
    const { input, npy } = genCase(r, k.example!('small', 'fuzz-cli'));
    const p = f('case.json');
    if (typeof input === 'object' && input !== null) {
      for (const [key, bytes] of npy) {
        const name = `${i}-${key}.npy`;
        writeFileSync(join(dir, name), bytes);
        (input as Record<string, unknown>)[key] = name;
      }
    }
    writeFileSync(p, JSON.stringify(input));
    return { scenario: 'case', args: ['kernel', k.name, '-i', p, '-e', pick(r, ['ref', 'npu', 'sim'])] };
  }
  if (c < 0.93) {
    // A case file naming something it must not read, or something that must not hang the reader.
    const p = f('hostile.json');
    const target = pick(r, ['../outside/secret.npy', join(dir, '..', 'outside', 'secret.npy'), 'zero.npy', 'fifo.npy', 'dir.npy', 'missing.npy', 'outside-link.npy', 'text.npy']);
    const body = r() < 0.2 ? { x_int: deepNest(1337), multiplier: 1, shift: 0, bits: 8 } : { x_int: target, multiplier: 1073741824, shift: 31, bits: 8 };
    writeFileSync(p, JSON.stringify(body));
    const allow = r() < 0.2 ? ['--allow-paths', join(dir, '..', 'outside')] : [];
    return { scenario: 'hostile-path', args: ['kernel', 'requant', '-i', p, '-e', pick(r, ['ref', 'npu', 'sim']), ...allow] };
  }
  const variant = Math.floor(r() * 12);
  const ok = join(dir, 'buf.s');
  const set = (file: string, content: string): string[] => {
    writeFileSync(f(file), content);
    return ['run', ok, '--set', `a=${f(file)}`, '--dump', 'a'];
  };
  const args = [
    set('null.json', 'null'),
    set('big.json', JSON.stringify(Array.from({ length: 100 }, () => 1))),
    set('wide.json', JSON.stringify([300, 1, 2])),
    set('short.json', JSON.stringify([1, 2])),
    set('obj.json', JSON.stringify({ dtype: 'constructor', data: [1] })),
    ['run', join(dir, 'missing.bin')],
    ['run', join(dir, 'dir.bin')],
    ['run', ok, '--trace', join(dir, 'missing-dir', 't.json')],
    ['report', '-k', 'nosuch'],
    ['fidelity', '-k', 'nosuch'],
    pick(r, [['--seq', '0'], ['--seq', '-5', '--hidden', '3.5'], ['--seq', 'abc']]),
    ['--version'],
  ][variant]!;
  return { scenario: 'paper-cut', args };
}

/** Fixed files the jobs refer to: a small machine, a valid program, the hostile file system shapes. */
function prepare(dir: string): void {
  writeFileSync(join(dir, 'small.json'), JSON.stringify({ dram: { sizeBytes: 65536 }, spad: { sizeBytes: 16384 }, acc: { sizeBytes: 16384 }, limits: { maxCycles: 200000, maxInstructions: 5000, maxWorkPerInstruction: 1048576 } }));
  writeFileSync(join(dir, 'ok.s'), '.buffer a, spad, 16\n    li r1, a\n    vld.s8 v1, r1, 0\n    halt\n');
  writeFileSync(join(dir, 'buf.s'), '.buffer a, spad, 8\n    li r1, 8\n    vsetvl r2, r1\n    li r1, a\n    vld.s8 v1, r1, 0\n    halt\n');
  const outside = join(dir, '..', 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'secret.npy'), SECRET);
  writeFileSync(join(dir, 'text.npy'), `\x93NUMPY\x01\x00\x30\x00${SECRET}`);
  symlinkSync('/dev/zero', join(dir, 'zero.npy'));
  symlinkSync(join(outside, 'secret.npy'), join(dir, 'outside-link.npy'));
  mkdirSync(join(dir, 'dir.npy'));
  mkdirSync(join(dir, 'dir.bin'));
  try {
    execFileSync('mkfifo', [join(dir, 'fifo.npy')]);
  } catch {
    // no mkfifo: the FIFO case then reads a missing file
  }
}

function runOne(job: Job, preload: string, rssFile: string, limitS: number): Promise<{ status: string; stdout: string; stderr: string; rssKb: number }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', preload, MAIN, ...job.args], {
      env: { ...process.env, INTNPU_FUZZ_RSS: rssFile, INTNPU_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { if (stdout.length < 1_000_000) stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { if (stderr.length < 1_000_000) stderr += b.toString(); });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let rssKb = 0;
      try {
        rssKb = Number(readFileSync(rssFile, 'utf8'));
        rmSync(rssFile);
      } catch {
        // no report: killed before exit
      }
      done({ status: killed ? 'killed' : code !== null ? String(code) : `signal ${signal}`, stdout, stderr, rssKb });
    });
  });
}

export async function runCliSample(runs: number, seed: string, log: (line: string) => void, limitS = 20, parallel = 2): Promise<CliReport> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm run build first`);
  const root = mkdtempSync(join(tmpdir(), 'intnpu-fuzz-'));
  const dir = join(root, 'cases');
  mkdirSync(dir);
  prepare(dir);
  const preload = join(root, 'rss.mjs');
  writeFileSync(preload, "import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => { try { writeFileSync(process.env.INTNPU_FUZZ_RSS, String(process.resourceUsage().maxRSS)); } catch {} });\n");
  const rep: CliReport = {
    runs, seed, time_limit_s: limitS, exit_codes: { '0': 0, '1': 0, '2': 0, '3': 0 }, killed: 0, other_codes: 0, over_1gb: 0,
    peak_rss_mb: 0, stack_traces: 0, secret_leaks: 0, host_seconds: 0, scenarios: {}, examples: [],
  };
  const t0 = performance.now();
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    while (next < runs) {
      const i = next++;
      const r = rngFor(`${seed}:cli:${i}`);
      const job = makeJob(r, dir, i);
      const res = await runOne(job, preload, join(root, `rss-${w}`), limitS);
      const sc = (rep.scenarios[job.scenario] ??= {});
      sc[res.status] = (sc[res.status] ?? 0) + 1;
      if (res.status === 'killed') rep.killed++;
      else if (/^[0-3]$/.test(res.status)) rep.exit_codes[res.status]!++;
      else rep.other_codes++;
      const mb = res.rssKb / 1024;
      rep.peak_rss_mb = Math.max(rep.peak_rss_mb, Math.round(mb));
      if (mb > 1024) rep.over_1gb++;
      const trace = /\n\s+at .+:\d+:\d+\)?\n/.test(res.stderr);
      if (trace) rep.stack_traces++;
      const leak = res.stdout.includes(SECRET) || res.stderr.includes(SECRET);
      if (leak) rep.secret_leaks++;
      const bad = res.status === '3' || res.status === 'killed' || !/^[0-3]$/.test(res.status) || trace || leak || mb > 1024;
      if (bad && rep.examples.length < 10) {
        rep.examples.push({ scenario: job.scenario, args: job.args.map((a) => a.replace(root, '$TMP')), status: res.status, stderr: res.stderr.slice(0, 400) });
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, (_, w) => worker(w)));
  rep.host_seconds = Math.round(performance.now() - t0) / 1000;
  log(`cli     ${runs} runs: exit 0 ${rep.exit_codes['0']}, exit 1 ${rep.exit_codes['1']}, exit 2 ${rep.exit_codes['2']}, exit 3 ${rep.exit_codes['3']}; ` +
    `killed at ${limitS} s ${rep.killed}; other ${rep.other_codes}; peak RSS ${rep.peak_rss_mb} MB (over 1 GB: ${rep.over_1gb}); ` +
    `stack traces ${rep.stack_traces}; secret leaks ${rep.secret_leaks}; ${rep.host_seconds} s`);
  for (const [k, v] of Object.entries(rep.scenarios)) log(`    ${k}: ${JSON.stringify(v)}`);
  for (const e of rep.examples) log(`    ${e.scenario} ${e.args.join(' ')} -> ${e.status}: ${e.stderr.split('\n')[0]}`);
  rmSync(root, { recursive: true, force: true });
  return rep;
}
