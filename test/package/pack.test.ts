// The package as a user gets it: `npm pack` the built tree, install the tarball into a fresh project (offline
// from the npm cache when it can), type-check a TypeScript file that imports `intnpu` and `intnpu/testing`
// against the package's own .d.ts files, then run the compiled file: it assembles and runs a program with
// runProgram and checks it with expectBitExact/expectCycles; and run the README's vitest example there, as
// written, against the installed package. Needs `npm run build` first (npm test does).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'intnpu-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sh(cmd: string, args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 90_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.error) throw r.error;
  return { status: r.status, out: `$ ${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}` };
}

const CONSUMER = `
import { runProgram, AsmError, type ProgramRun } from 'intnpu';
import { expectBitExact, expectCycles, BitExactError } from 'intnpu/testing';

const src = [
  '.buffer a, dram, 8',
  '.buffer out, dram, 8',
  '.buffer s, spad, 8',
  '  li r1, s',
  '  li r2, a',
  '  li r3, 1',
  '  li r4, 8',
  '  dma.ld spad, r1, r2, r3, r4, r4, r4',
  '  vsetvl r0, r4',
  '  vld.s8 v1, r1, 0',
  '  vadd v1, v1, v1',
  '  li r5, -128',
  '  li r6, 127',
  '  vclamp v1, v1, r5, r6',
  '  vst.s8 v1, r1, 0',
  '  li r2, out',
  '  dma.st spad, r1, r2, r3, r4, r4, r4',
  '  halt',
].join('\\n');
const a = Int8Array.from([1, -2, 3, 100, -100, 0, 63, -64]);
const run: ProgramRun = runProgram(src, { file: 'double.s', machine: 'edge', inputs: { a } });
const out: Int8Array | Int16Array | Int32Array = run.read('out', 'int8');
expectBitExact(out, Array.from(a, (v) => Math.max(-128, Math.min(127, 2 * v))));
if (run.cycles === null) throw new Error('no cycles');
expectCycles(run.cycles, run.cycles, { tolerance: 0 });
// @ts-expect-error: int64 is not an element type, so the package's types must reject it
const typeProbe = (): unknown => run.read('out', 'int64');
void typeProbe;
let named = '';
try { expectBitExact(out, [2, -4, 6, 127, -128, 0, 126, -127]); } catch (e) { if (e instanceof BitExactError) named = e.message; }
let asm = '';
try { runProgram('  bogus r1\\n', { file: 'bad.s' }); } catch (e) { if (e instanceof AsmError) asm = e.message; }
console.log(JSON.stringify({ out: Array.from(out), cycles: run.cycles, named, asm }));
`;

describe('npm pack', () => {
  it('installs into a fresh project, type-checks against its .d.ts, and runs a program from both entries', () => {
    const packed = sh('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], ROOT);
    expect(packed.status, packed.out).toBe(0);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    expect(tgz, packed.out).toBeDefined();
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    const args = ['install', '--no-audit', '--no-fund', '--no-save', join(dir, tgz!)];
    let inst = sh('npm', [...args, '--offline'], app);
    if (inst.status !== 0) inst = sh('npm', [...args, '--prefer-offline'], app); // cache lacks some metadata
    expect(inst.status, inst.out).toBe(0);
    expect(existsSync(join(app, 'node_modules/intnpu/dist/testing.d.ts'))).toBe(true);

    writeFileSync(join(app, 'consumer.ts'), CONSUMER);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2023', lib: ['ES2023'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true,
        outDir: 'out', types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')], skipLibCheck: false,
      },
      files: ['consumer.ts'],
    }));
    const tsc = sh(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
    expect(tsc.status, tsc.out).toBe(0);
    const ran = sh(process.execPath, ['out/consumer.js'], app);
    expect(ran.status, ran.out).toBe(0);
    const r = JSON.parse(ran.out.split('\n').find((l) => l.startsWith('{'))!) as { out: number[]; cycles: number; named: string; asm: string };
    expect(r.out).toEqual([2, -4, 6, 127, -128, 0, 126, -128]);
    expect(r.cycles).toBeGreaterThan(100); // a DMA round trip at least: 2 x dram.latencyCycles (100)
    expect(r.named).toContain('1 of 8 elements differ; first at index 7: expected -127, actual -128');
    expect(r.asm).toContain("bad.s:1:3: error[E001]: unknown mnemonic 'bogus'");

    // The README's "Testing your own kernel" example, verbatim, with its program where it says.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.split(/^## /m).find((x) => x.startsWith('Testing your own kernel'));
    const example = /```ts\n([\s\S]*?)```/.exec(section ?? '')?.[1];
    expect(example, 'README has no ts example under "Testing your own kernel"').toBeDefined();
    mkdirSync(join(app, 'test'));
    mkdirSync(join(app, 'kernels'));
    writeFileSync(join(app, 'test/vadd_sat.test.ts'), example!);
    copyFileSync(join(ROOT, 'examples/vadd_sat.s'), join(app, 'kernels/vadd_sat.s'));
    const vt = sh(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', app, '--reporter', 'dot'], app);
    expect(vt.status, vt.out).toBe(0);
    expect(vt.out.replace(/\x1b\[[0-9;]*m/g, '')).toMatch(/Tests\s+1 passed \(1\)/);
  });
});
