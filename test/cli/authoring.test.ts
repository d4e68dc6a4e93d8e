// The kernel author's and CI's CLI tools, as child processes of the built CLI: `kernel --emit-asm` replays
// to the same cycles through `run`, golden record/check (exit codes, the table, JUnit), and `run --set` with
// bare JSON arrays. In process (no child start-up): every built-in program's listing assembles back to the
// same words and replays to the same cycles, the strict golden format, merging, the --set loader's errors.
// Needs `npm run build` first (npm test does).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assemble } from '../../isa/asm.js';
import { programListing } from '../../programs/index.js';
import { loadMachine } from '../../sim/config.js';
import { KERNELS } from '../../cli/registry.js';
import { checkGolden, GoldenFileSchema, mergeGolden, parseGolden, sameSubject, type GoldenEntry } from '../../cli/golden.js';
import { runProgram } from '../../sim/run-program.js';
import { Machine } from '../../sim/machine.js';
import { setBuffers } from '../../cli/buffers.js';
import { UsageError } from '../../cli/common.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'intnpu-authoring-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run { status: number | null; stdout: string; stderr: string }
/** The CLI as a child process; async, so that independent runs overlap (each pays ~0.4 s of start-up). */
function cli(...args: string[]): Promise<Run> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [MAIN, ...args], { cwd: dir, timeout: 30_000 });
    let stdout = '', stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', fail);
    p.on('close', (status) => done({ status, stdout, stderr }));
  });
}
const show = (r: Run): string => `exit ${r.status}\n--- stdout\n${r.stdout.slice(0, 3000)}\n--- stderr\n${r.stderr.slice(0, 2000)}`;
const write = (name: string, v: unknown): string => {
  const p = join(dir, name);
  writeFileSync(p, typeof v === 'string' ? v : JSON.stringify(v));
  return p;
};
const example = (name: string): unknown => KERNELS.get(name)!.example!('small', 'authoring');

describe('kernel --emit-asm', () => {
  it('every built-in program listing assembles back to the words the simulator ran, and replays to its cycles', () => {
    const cfg = loadMachine('edge');
    let n = 0;
    for (const k of KERNELS.values()) {
      if (!k.sim || !k.example) continue;
      const run = k.sim(k.example('small', 'listing'), cfg, {});
      const listing = programListing(run.program);
      const again = assemble(listing, { file: `${k.name}.s` });
      expect(Array.from(again.words), k.name).toEqual(Array.from(run.program.words));
      expect([...again.buffers.values()], k.name).toEqual([...run.program.buffers.values()]);
      const inputs = Object.fromEntries([...run.sim.machine.hostWrites].map(([name, w]) => [name, w.data]));
      expect(Object.keys(inputs).length, k.name).toBeGreaterThan(0);
      expect(runProgram(listing, { machine: cfg, inputs }).cycles, k.name).toBe(run.cycles);
      n++;
    }
    expect(n).toBeGreaterThanOrEqual(7);
  });

  it('writes a program that run assembles and replays to the same cycles and outputs', async () => {
    const casePath = write('linear.case.json', example('linear'));
    const k = await cli('kernel', 'linear', '--input', casePath, '--json', '--emit-asm', 'linear.s', '--emit-inputs', 'linear-in');
    expect(k.status, show(k)).toBe(0);
    const kj = JSON.parse(k.stdout) as { cycles: number; y_int: number[] };
    const replay = /replay: intnpu (run .*)$/m.exec(k.stderr)?.[1];
    expect(replay, show(k)).toBe('run linear.s --machine edge --set x=linear-in/x.json --set w=linear-in/w.json --set bias=linear-in/bias.json');
    expect(readFileSync(join(dir, 'linear.s'), 'utf8')).toMatch(/^; intnpu kernel linear --input linear\.case\.json --machine edge/);
    // `run` assembles linear.s as `asm` does (the same assemble(); the listing test above checks the words).
    const r = await cli(...replay!.split(' '), '--json', '--dump', 'y:int32');
    expect(r.status, show(r)).toBe(0);
    const rj = JSON.parse(r.stdout) as { cycles: number; buffers: Record<string, number[]> };
    expect(rj.cycles).toBe(kj.cycles);
    expect(rj.buffers['y']).toEqual(kj.y_int);
  });
});

describe('golden', () => {
  it('record then check exits 0; a cycle count off by 10 % exits 2 naming the entry, with a JUnit failure; so does a digest', async () => {
    const rec = await cli('golden', 'record', '--out', 'golden.json', '--machine', 'edge');
    expect(rec.status, show(rec)).toBe(0);
    const golden = GoldenFileSchema.parse(JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')));
    const kernels = golden.entries.filter((e) => e.kind === 'kernel').map((e) => e.kind === 'kernel' && e.kernel);
    expect(kernels.sort()).toEqual([...KERNELS.values()].filter((k) => k.sim && k.example).map((k) => k.name).sort());
    expect(golden.entries.some((e) => e.kind === 'layer' && e.size === 'small')).toBe(true);

    // Smaller files (linear and gelu) keep the failing checks fast: gelu's cycles edited by +10 %, linear's digest.
    const pick = golden.entries.filter((e) => e.kind === 'kernel' && (e.kernel === 'linear' || e.kernel === 'gelu'));
    const gelu = pick.find((e) => e.kind === 'kernel' && e.kernel === 'gelu')!;
    const lin = pick.find((e) => e.kind === 'kernel' && e.kernel === 'linear')!;
    const edited = Math.round(gelu.cycles * 1.1);
    write('cycles.json', { ...golden, entries: pick.map((e) => (e === gelu ? { ...e, cycles: edited } : e)) });
    const wrong = 'f'.repeat(64);
    write('digest.json', { ...golden, entries: [{ ...lin, outputs: { y_int: { ...lin.outputs['y_int']!, sha256: wrong } } }] });
    const [ok, bad, dig] = await Promise.all([
      cli('golden', 'check', 'golden.json', '--junit', 'ok.xml'),
      cli('golden', 'check', 'cycles.json', '--junit', 'bad.xml'),
      cli('golden', 'check', 'digest.json', '--junit', 'dig.xml'),
    ]);
    expect(ok.status, show(ok)).toBe(0);
    expect(ok.stdout).toContain(`all ${golden.entries.length} entries match`);
    expect(readFileSync(join(dir, 'ok.xml'), 'utf8')).toContain(`tests="${golden.entries.length}" failures="0" errors="0"`);

    expect(bad.status, show(bad)).toBe(2);
    expect(bad.stdout).toMatch(new RegExp(`kernel gelu \\(small\\) on edge\\s+${edited.toLocaleString('en-US')}\\s+${gelu.cycles.toLocaleString('en-US')}\\s+-9\\.\\d\\d %.*CYCLES`));
    expect(bad.stdout).toMatch(/kernel linear \(small\) on edge .* ok/);
    expect(bad.stdout).toContain('1 of 2 entries differ');
    const junit = readFileSync(join(dir, 'bad.xml'), 'utf8');
    expect(junit).toContain('failures="1"');
    expect(junit).toMatch(/<testcase classname="intnpu.golden.edge" name="kernel gelu \(small\) on edge" time="[\d.]+">\s*<failure type="cycles" message="cycles: expected \d+, actual \d+/);
    expect(junit.match(/<failure/g)).toHaveLength(1);

    expect(dig.status, show(dig)).toBe(2);
    expect(dig.stdout).toContain('OUTPUT');
    expect(dig.stdout).toContain(`output y_int: expected sha256 ${wrong}`);
    expect(dig.stdout).toContain(`actual ${lin.outputs['y_int']!.sha256}`);
    expect(readFileSync(join(dir, 'dig.xml'), 'utf8')).toContain('<failure type="output"');

    // --cycles-tolerance, in process: 10 % passes the edited entry, 9 % does not.
    const file = parseGolden(JSON.parse(readFileSync(join(dir, 'cycles.json'), 'utf8')), 'cycles.json');
    const now = (): number => 0;
    expect(checkGolden(file, dir, 0.1, now).map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(checkGolden(file, dir, 0.09, now).map((r) => r.status).sort()).toEqual(['cycles', 'ok']);
  });

  it('rejects a golden file with an unknown key or another version, naming it', () => {
    const base = { format: 'intnpu/golden', version: 1, entries: [{ kind: 'layer', size: 'small', seed: 's', machine: 'edge', cycles: 1, outputs: {}, cycle: 2 }] };
    expect(() => parseGolden(base, 'typo.json')).toThrow(UsageError);
    expect(() => parseGolden(base, 'typo.json')).toThrow(/typo\.json: invalid golden file\n✖ Unrecognized key: "cycle"\n  → at entries\[0\]/);
    expect(() => parseGolden({ ...base, version: 2 }, 'v2.json')).toThrow(/v2\.json: golden format version 2; this intnpu reads version 1/);
  });

  it('records and checks a user program with bare-array inputs; a changed input is an output mismatch', async () => {
    write('a.json', [1, 2, 3, 120, -128, 5, 6, 7]);
    write('b.json', [1, 1, 1, 10, -1, 1, 1, 1]);
    const prog = join(ROOT, 'examples/vadd_sat.s');
    const rec = await cli('golden', 'record', '--out', 'user.json', '--program', prog, '--param', 'N=8', '--set', 'a=a.json', '--set', 'b=b.json');
    expect(rec.status, show(rec)).toBe(0);
    const g = parseGolden(JSON.parse(readFileSync(join(dir, 'user.json'), 'utf8')), 'user.json');
    expect(g.entries).toHaveLength(1);
    expect(Object.keys(g.entries[0]!.outputs)).toEqual(['c']);
    expect(checkGolden(g, dir, 0, () => 0).map((x) => x.status)).toEqual(['ok']);
    write('b.json', [1, 1, 1, 10, -1, 1, 1, 2]);
    const r = await cli('golden', 'check', 'user.json');
    expect(r.status, show(r)).toBe(2);
    expect(r.stdout).toMatch(/program .*vadd_sat\.s N=8 on edge .* OUTPUT/);
  });
});

describe('run --set', () => {
  it('takes bare JSON arrays, int8 unless typed, and rejects values the type cannot hold', async () => {
    write('sa.json', [1, 2, 3, 120, -128, 5, 6, 7]);
    write('wide.json', [300, -2, 0, 32767]);
    const prog = join(ROOT, 'examples/vadd_sat.s');
    const r = await cli('run', prog, '--param', 'N=8', '--set', 'a=sa.json', '--set', 'b=wide.json:int16', '--dump', 'a', '--dump', 'b:int16', '--dump', 'c', '--json');
    expect(r.status, show(r)).toBe(0);
    const bufs = (JSON.parse(r.stdout) as { buffers: Record<string, number[]> }).buffers;
    expect(bufs['a']).toEqual([1, 2, 3, 120, -128, 5, 6, 7]);
    expect(bufs['b']).toEqual([300, -2, 0, 32767]);
    // c = sat8(a + b) with b's int16 values read back as bytes: 300 = 0x012c -> 44, 1; -2 -> -2, -1; 32767 -> -1, 127.
    expect(bufs['c']).toEqual([1 + 44, 2 + 1, 3 - 2, 120 - 1, -128, 5, 6 - 1, 7 + 127].map((v) => Math.max(-128, Math.min(127, v))));
    // The same loader in process: a bare array is int8 unless typed, and a value that does not fit is named.
    const src = assemble(readFileSync(prog, 'utf8'), { file: 'vadd_sat.s', params: { N: 8 } });
    const m = new Machine(loadMachine('edge'));
    write('two.json', [300, -2]);
    expect(() => setBuffers([`a=${join(dir, 'wide.json')}`], src, 'vadd_sat.s', m)).toThrow(/element 0 = 300 does not fit int8 \(-128\.\.127\); a bare array is int8 unless you add :int16 or :int32/);
    expect(() => setBuffers([`a=${join(dir, 'wide.json')}:int64`], src, 'vadd_sat.s', m)).toThrow(UsageError);
    setBuffers([`a=${join(dir, 'two.json')}:int32`], src, 'vadd_sat.s', m);
    expect(Array.from(new Int32Array(m.readBytes(src.buffers.get('a')!).buffer, 0, 2))).toEqual([300, -2]);
  });
});

describe('golden file merging', () => {
  it('a new recording replaces only the entry of the same subject (params included)', () => {
    const entry = (N: number, cycles: number): GoldenEntry => ({ kind: 'program', program: 'p.s', params: { N }, set: ['a=a.json'], machine: 'edge', cycles, outputs: {} });
    expect(sameSubject(entry(8, 1), entry(8, 2))).toBe(true);
    expect(sameSubject(entry(8, 1), entry(16, 1))).toBe(false);
    expect(sameSubject(entry(8, 1), { ...entry(8, 1), machine: 'server' })).toBe(false);
    const path = write('merge.json', { format: 'intnpu/golden', version: 1, entries: [entry(8, 1), entry(16, 1)] });
    expect(mergeGolden(path, [entry(8, 5)]).entries.map((e) => [e.kind === 'program' && e.params?.['N'], e.cycles])).toEqual([[16, 1], [8, 5]]);
  });
});
