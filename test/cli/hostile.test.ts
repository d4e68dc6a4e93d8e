// Issue 11's reproducers for case files, tensors, run's inputs and outputs, and the new user's paper
// cuts. In process where the behaviour is the library's (file access, .npy headers, --set, case
// validation, labels, traces); a few spawns of the built CLI where only the process shows it (exit
// codes, --version, EPIPE). Each asserts the exit code (an error's exitCode) and the message it now gets.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fidelityCommand } from '../../cli/commands/fidelity.js';
import { layerCommand } from '../../cli/commands/layer.js';
import { reportCommand } from '../../cli/commands/report.js';
import { assemble } from '../../isa/asm.js';
import { setBuffers } from '../../cli/buffers.js';
import { readCase, readJson, sizeArgs, UsageError } from '../../cli/common.js';
import { readBinary, readInputFile, writeOutputFile } from '../../cli/files.js';
import { KERNELS, kernelLabel } from '../../cli/registry.js';
import { parseCase } from '../../kernels/ref/case-parse.js';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { NpyError, parseNpy } from '../../kernels/ref/npy.js';
import { z } from 'zod';
import { parseMachine } from '../../sim/config.js';
import { Machine } from '../../sim/machine.js';
import { loadProgram } from '../../sim/run.js';
import { chromeTrace } from '../../sim/trace.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const SECRET = 'SECRET-text-that-must-not-be-echoed';
let dir = '';
let caseDir = '';
let outside = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'intnpu-hostile-'));
  caseDir = join(dir, 'cases');
  outside = join(dir, 'outside');
  mkdirSync(caseDir);
  mkdirSync(outside);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The error `f` throws, checked to carry exit code 1 and no file content. */
function userError(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    expect((e as { exitCode?: number }).exitCode).toBe(1);
    expect((e as Error).message).not.toContain(SECRET);
    return e as Error;
  }
  throw new Error('no error');
}

/** A .npy file with `header` (version 1) and `data` bytes. */
function npy(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const hb = new TextEncoder().encode(header);
  const out = new Uint8Array(10 + hb.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, hb.length & 0xff, hb.length >> 8]);
  out.set(hb, 10);
  out.set(data, 10 + hb.length);
  return out;
}

describe('.npy headers', () => {
  it('shapes (-1,), (2.5,), (2^32, 0) and (1e8, 0) are bad input before anything is allocated', () => {
    const h = (shape: string): Uint8Array => npy(`{'descr': '|i1', 'fortran_order': False, 'shape': ${shape}, }`);
    expect(userError(() => parseNpy(h('(-1,)'), 'x.npy')).message).toBe('x.npy: shape dimension 0 is not a non-negative integer');
    expect(userError(() => parseNpy(h('(2.5,)'), 'x.npy')).message).toBe('x.npy: shape dimension 0 is not a non-negative integer');
    expect(userError(() => parseNpy(h('(4294967296, 0)'), 'x.npy')).message).toBe('x.npy: shape (4294967296, 0) is larger than this tool reads (at most 33554432 elements and 4194304 rows)');
    expect(userError(() => parseNpy(h('(100000000, 0)'), 'x.npy')).message).toContain('shape (100000000, 0) is larger than this tool reads');
    // A plain valid header still reads.
    expect(parseNpy(npy("{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", new Uint8Array([1, 255])), 'x.npy').data).toEqual([1, -1]);
  });

  it('an unreadable header is described, never echoed', () => {
    const e = userError(() => parseNpy(npy(SECRET), 'x.npy'));
    expect(e).toBeInstanceOf(NpyError);
    expect(e.message).toBe("x.npy: unreadable .npy header (no valid 'descr', 'fortran_order', 'shape' entry)");
  });
});

describe('where case files may read', () => {
  const writeCase = (name: string, body: object): string => {
    const p = join(caseDir, name);
    writeFileSync(p, JSON.stringify(body));
    return p;
  };
  const requant = (x: string): object => ({ x_int: x, multiplier: 1073741824, shift: 31, bits: 8 });
  const goodNpy = npy("{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }", new Uint8Array([1, 2, 3]));

  it('a tensor beside the case file reads; ../, an absolute path and a symlink out of the folder do not', () => {
    writeFileSync(join(caseDir, 'x.npy'), goodNpy);
    writeFileSync(join(outside, 'secret.npy'), SECRET);
    symlinkSync(join(outside, 'secret.npy'), join(caseDir, 'link.npy'));
    expect((readCase(writeCase('ok.json', requant('x.npy'))) as { x_int: unknown }).x_int).toEqual([1, 2, 3]);
    for (const [name, field] of [['up.json', '../outside/secret.npy'], ['abs.json', join(outside, 'secret.npy')], ['link.json', 'link.npy']] as const) {
      const p = writeCase(name, requant(field));
      const e = userError(() => readCase(p));
      expect(e.message).toBe(
        `${p}: field x_int: ${field} is outside the case file's folder ${caseDir}; case files read tensors only there (pass --allow-paths DIR to allow another folder)`,
      );
    }
  });

  it('--allow-paths opens another folder; the file there is still checked (and never echoed)', () => {
    const p = writeCase('allowed.json', requant('../outside/secret.npy'));
    const e = userError(() => readCase(p, [outside]));
    expect(e.message).toBe(`${p}: field x_int (../outside/secret.npy): not a .npy file (bad magic)`);
    writeFileSync(join(outside, 'good.npy'), goodNpy);
    expect((readCase(writeCase('allowed2.json', requant('../outside/good.npy')), [outside]) as { x_int: unknown }).x_int).toEqual([1, 2, 3]);
  });

  it('a symlink to /dev/zero, a FIFO and a directory are refused before they are opened', () => {
    symlinkSync('/dev/zero', join(caseDir, 'zero.npy'));
    mkdirSync(join(caseDir, 'dir.npy'));
    let fifo = true;
    try {
      execFileSync('mkfifo', [join(caseDir, 'fifo.npy')]);
    } catch {
      fifo = false;
    }
    expect(userError(() => readInputFile('/dev/zero')).message).toBe('cannot read /dev/zero: not a regular file (a device, FIFO or socket)');
    // /dev/zero is outside the folder: the path check catches the symlink first.
    expect(userError(() => readCase(writeCase('zero.json', requant('zero.npy')))).message).toContain('zero.npy is outside the case file\'s folder');
    expect(userError(() => readCase(writeCase('dir.json', requant('dir.npy')))).message).toMatch(/field x_int: dir\.npy: it is a directory$/);
    if (fifo) expect(userError(() => readCase(writeCase('fifo.json', requant('fifo.npy')))).message).toMatch(/field x_int: fifo\.npy: not a regular file/);
    expect(userError(() => readCase(writeCase('missing.json', requant('missing.npy')))).message).toBe(`${join(caseDir, 'missing.json')}: field x_int: cannot read missing.npy: ENOENT`);
  });

  it('a file over the size limit is refused by its size', () => {
    const p = join(dir, 'big.bin');
    writeFileSync(p, new Uint8Array(4096));
    expect(userError(() => readInputFile(p, p, 1024)).message).toBe(`cannot read ${p}: 4096 bytes, over the limit of 1024 bytes`);
  });

  it('1,337 levels of nesting are refused before zod walks them (file and library alike)', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 1337; i++) deep = [deep];
    const p = writeCase('deep.json', { x_int: deep, multiplier: 1, shift: 0, bits: 8 });
    expect(userError(() => readJson(p)).message).toBe(`${p}: input nests arrays or objects deeper than 64 levels`);
    const e = userError(() => parseCase(z.object({ x_int: z.unknown() }), { x_int: deep }, 'requant'));
    expect(e).toBeInstanceOf(KernelInputError);
    // Every engine's own parser refuses it too (before this, zod overflowed the stack in some).
    for (const k of KERNELS.values()) {
      for (const f of [k.ref, k.npu]) if (f) expect(() => f({ x_int: deep, scores: deep, x: deep })).toThrow(/deeper than 64 levels|invalid|required|expected/);
    }
  });

  it('invalid JSON says where, not what the text was', () => {
    const p = join(caseDir, 'bad.json');
    writeFileSync(p, `{"x_int": ${SECRET}}`);
    expect(userError(() => readJson(p)).message).toMatch(new RegExp(`^${p.replaceAll('/', '\\/')}: not valid JSON( \\(at position \\d+.*\\))?$`));
  });
});

describe('one validator for every engine', () => {
  const engines = (name: string) => {
    const k = KERNELS.get(name)!;
    return [k.ref, k.npu!, (input: unknown) => k.sim!(input, parseMachine({}), {})] as const;
  };

  it('shape [2^31, 2^31] with 3 values is rejected by ref, npu and sim', () => {
    for (const f of engines('requant')) {
      const e = userError(() => f({ x_int: [1, 2, 3], multiplier: 1073741824, shift: 31, bits: 8, shape: [2 ** 31, 2 ** 31] }));
      expect(e.message).toMatch(/shape: \[2147483648, 2147483648\] holds 4611686018427388000 elements but x_int has 3|shape/);
    }
  });

  it('ragged nested arrays are rejected by ref, npu and sim', () => {
    for (const f of engines('requant')) {
      expect(userError(() => f({ x_int: [[1, 2], [3]], multiplier: 1073741824, shift: 31, bits: 8 })).message).toMatch(/ragged array/);
    }
    for (const f of engines('linear')) {
      expect(userError(() => f({ x_int: [[1, 2], [3]], weight_int: [[1, 2]], bias_int: [0] })).message).toMatch(/ragged array/);
    }
  });
});

describe('run: inputs and outputs', () => {
  const prog = assemble('.buffer a, spad, 8\n.buffer w, acc, 4\nhalt', { file: 'p.s' });
  const set = (content: string, spec = 'a'): string[] => {
    const p = join(dir, `set-${Math.abs(hashOf(content + spec))}.json`);
    writeFileSync(p, content);
    return setBuffers([`${spec}=${p}`], prog, 'p.s', new Machine(parseMachine({})));
  };
  const hashOf = (s: string): number => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7);

  it('--set naming a JSON null, a number or unknown keys is a usage error', () => {
    expect(userError(() => set('null')).message).toMatch(/holds null, not a tensor \(\{"dtype", "data"\} or a JSON array\)$/);
    expect(userError(() => set('42')).message).toMatch(/holds number, not a tensor/);
    expect(userError(() => set('{"dtype":"int8","data":[1],"extra":1}')).message).toMatch(/unknown key "extra"/);
    expect(userError(() => set('{"dtype":"constructor","data":[1]}')).message).toMatch(/"dtype" must be int8, int16 or int32$/);
  });

  it('data larger than the buffer, int8 300 and non-int32 data for acc are errors; short data warns', () => {
    expect(userError(() => set('[1,2,3,4,5,6,7,8,9]')).message).toMatch(/9 int8 values given, buffer 'a' holds 8 \(8 bytes\)$/);
    expect(userError(() => set('[300]')).message).toMatch(/element 0 = 300 does not fit int8 \(-128\.\.127\); a bare array is int8 unless you add :int16 or :int32$/);
    expect(userError(() => set('[1]', 'w')).message).toMatch(/accumulator buffer 'w' takes int32 data \(add :int32\)$/);
    expect(set('[1,2]')[0]).toMatch(/warning: 2 int8 values fill the first 2 of the 8 of buffer 'a'; the rest is left as it was/);
    expect(set('[1,2,3,4,5,6,7,8]')).toEqual([]);
  });

  it('a missing, odd-length or directory .bin is a usage error', () => {
    const odd = join(dir, 'odd.bin');
    writeFileSync(odd, new Uint8Array(12));
    expect(userError(() => readBinary(odd)).message).toBe(`${odd}: binary length 12 is not a multiple of 8 bytes`);
    expect(userError(() => readBinary(join(dir, 'none.bin'))).message).toBe(`cannot read ${join(dir, 'none.bin')}: ENOENT`);
    mkdirSync(join(dir, 'd.bin'));
    expect(userError(() => readBinary(join(dir, 'd.bin'))).message).toBe(`cannot read ${join(dir, 'd.bin')}: it is a directory`);
  });

  it('--trace / -o into a missing folder is a usage error naming the folder', () => {
    const p = join(dir, 'no-such-dir', 't.json');
    expect(userError(() => writeOutputFile(p, '{}', 'trace')).message).toBe(`cannot write trace ${p}: folder ${join(dir, 'no-such-dir')} does not exist`);
  });
});

describe('paper cuts (in process)', () => {
  it('--seq 0, --seq -5 --hidden 3.5 name every bad argument', () => {
    expect(userError(() => sizeArgs({ seq: 0 })).message).toBe('--seq 0: expected a whole number from 1 to 16384');
    expect(userError(() => sizeArgs({ seq: -5, hidden: 3.5, out: 768 })).message).toBe(
      '--seq -5: expected a whole number from 1 to 16384\n--hidden 3.5: expected a whole number from 1 to 16384',
    );
    expect(sizeArgs({ seq: 128, hidden: 768 })).toEqual({ seq: 128, hidden: 768 });
  });

  it('the two requant forms get distinct labels', () => {
    const k = KERNELS.get('requant')!;
    expect(kernelLabel(k, { x_int: [1], multiplier: 1, shift: 0, bits: 8 })).toBe('requant (direct m/2^shift)');
    expect(kernelLabel(k, k.example!('small', 's'))).toBe('requant (QuantAct)');
    expect(kernelLabel(KERNELS.get('linear')!, {})).toBe('linear');
  });

  it('the Chrome trace has integer cycle timestamps equal to each event\'s start cycle', () => {
    const k = KERNELS.get('linear')!;
    const cfg = parseMachine({});
    const run = k.sim!(k.example!('small', 'trace'), cfg, { trace: true });
    const t = chromeTrace(run.sim.trace!, loadProgram(run.program.words, run.program), cfg) as {
      traceEvents: { ph: string; ts?: number; dur?: number; args?: { start_cycle?: number; end_cycle?: number } }[];
      otherData: { time_unit: string };
    };
    const xs = t.traceEvents.filter((e) => e.ph === 'X');
    expect(xs.length).toBeGreaterThan(50);
    for (const e of xs) {
      expect(Number.isInteger(e.ts) && Number.isInteger(e.dur)).toBe(true);
      expect(e.ts).toBe(e.args!.start_cycle);
      expect(e.dur).toBe(Math.max(1, e.args!.end_cycle! - e.args!.start_cycle!));
    }
    expect(t.otherData.time_unit).toMatch(/^cycle/);
  });
});

// ---- command handlers in process: output captured, exit code read back and restored ----

async function handle(cmd: { handler: unknown }, args: Record<string, unknown>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  const saved = process.exitCode;
  try {
    await (cmd.handler as (a: Record<string, unknown>) => Promise<void>)({ _: [], $0: 'intnpu', ...args });
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.exitCode = saved;
    out.mockRestore();
    err.mockRestore();
  }
}

describe('command handlers', () => {
  it('report -k nosuch and fidelity -k nosuch exit 1 naming the valid kernels', async () => {
    const r = await handle(reportCommand, { machine: ['edge'], size: 'small', seed: 's', kernel: 'nosuch' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('--kernel nosuch: not a kernel the report covers (one of linear, requant, gelu, softmax, layernorm, qk, pv)');
    expect(r.stdout).toBe('');
    const f = await handle(fidelityCommand, { seed: 's', kernel: 'nosuch' });
    expect(f.code).toBe(1);
    expect(f.stderr.trim()).toBe('--kernel nosuch: no fidelity measurement for that kernel (one of requant, gelu, softmax, layernorm, qk, pv)');
  });

  it('layer on a machine too small to tile exits 1 (INCOMPLETE) with the tiling message, not 2; --json has the config', async () => {
    const m = join(dir, 'tiny.json');
    writeFileSync(m, JSON.stringify({ spad: { sizeBytes: 1024 }, acc: { sizeBytes: 1024 } }));
    const r = await handle(layerCommand, { machine: m, size: 'small', seed: 'intnpu-layer' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/INCOMPLETE: \d+ kernel\(s\) did not fit the machine \(see below\); every step that ran is bit-exact/);
    expect(r.stdout).not.toContain('NOT bit-exact');
    expect(r.stderr).toContain('step 3 (scores, qk): qk T=8 hidden=64 heads=2 does not tile on this machine');
    expect(r.stdout).toContain('machine: edge (spad.sizeBytes=1024, acc.sizeBytes=1024)');
    const j = await handle(layerCommand, { machine: m, size: 'small', seed: 'intnpu-layer', json: true });
    const cfg = (JSON.parse(j.stdout) as { machine_config: { spad: { sizeBytes: number }; name: string } }).machine_config;
    expect(cfg.spad.sizeBytes).toBe(1024);
    expect(cfg.name).toBe('edge (spad.sizeBytes=1024, acc.sizeBytes=1024)');
  });
});

// ---- the built CLI: behaviour only a process shows ----

function cli(args: string[], cwd = ROOT): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the CLI process', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first with \`npm run build\``);
  });

  it('--version prints this package\'s version, also from inside another project', () => {
    const host = join(dir, 'host');
    mkdirSync(host);
    writeFileSync(join(host, 'package.json'), JSON.stringify({ name: 'host', version: '9.9.9' }));
    const r = cli(['--version'], host);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('0.1.0');
  });

  it('a closed pipe (| head) ends the run quietly with exit 0, no EPIPE stack trace', async () => {
    const src = join(dir, 'big.s');
    writeFileSync(src, '.buffer a, dram, 200000\nhalt\n');
    const child = spawn(process.execPath, [MAIN, 'run', src, '--dump', 'a'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
    expect(stderr).not.toContain('EPIPE');
    expect(stderr).not.toContain('    at ');
    expect(code).toBe(0);
  });
});

// The error classes the assertions above rely on are the ones the CLI maps to exit 1.
it('UsageError, NpyError and KernelInputError carry exit code 1', () => {
  expect(new UsageError('x').exitCode).toBe(1);
  expect(new NpyError('x').exitCode).toBe(1);
  expect(new KernelInputError('x').exitCode).toBe(1);
});
