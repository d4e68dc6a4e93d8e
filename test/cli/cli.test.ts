// The built `intnpu` CLI as a child process: machine configs and their schema, asm/disasm round trip,
// diagnostics and faults on stderr without stack traces, runaway limits from a machine file, and the
// kernel command's outputs checked against values computed here. Needs `npm run build` first (npm test does).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, ROOT, runCli, show, type Run } from './spawn.js';

let dir = '';

const cli = (...args: string[]): Run => runCli(args, ROOT, 20_000);

function file(name: string, content: string | object): string {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

function json(r: Run): Record<string, unknown> {
  expect(r.status, show(r)).toBe(0);
  const v: unknown = JSON.parse(r.stdout);
  expect(typeof v === 'object' && v !== null && !Array.isArray(v), show(r)).toBe(true);
  return v as Record<string, unknown>;
}

/** A user error: exit 1, a message, and no stack trace. */
function expectUserError(r: Run): void {
  expect(r.status, show(r)).toBe(1);
  expect(r.stderr.trim().length).toBeGreaterThan(0);
  expect(r.stderr).not.toContain('    at ');
  expect(r.stderr).not.toContain('internal error');
}

beforeAll(() => {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: build first with \`npm run build\` (\`npm test\` does it before vitest)`);
  }
  dir = mkdtempSync(join(tmpdir(), 'intnpu-cli-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('machine', () => {
  it('machine edge --json prints the resolved config', () => {
    const cfg = json(cli('machine', 'edge', '--json'));
    expect(cfg['name']).toBe('edge');
    expect(cfg['mxu']).toEqual({ rows: 32, cols: 32 });
  });

  it('machine --schema prints a JSON Schema', () => {
    const s = json(cli('machine', '--schema'));
    expect(String(s['$schema'])).toContain('json-schema');
    expect(s['type']).toBe('object');
    expect((s['properties'] as Record<string, unknown>)['mxu']).toBeTypeOf('object');
  });

  it('an invalid machine file exits 1 naming the zod path, without a stack trace', () => {
    const bad = file('bad-machine.json', { mxu: { rows: 0 } });
    const r = cli('machine', bad, '--json');
    expectUserError(r);
    expect(r.stderr).toContain('mxu.rows');
    expect(r.stderr).toContain(bad);
    // The same through `run`.
    const prog = file('halt.s', 'halt\n');
    const r2 = cli('run', prog, '--machine', file('bad2.json', { dram: { bytesPerCycle: 'fast' } }));
    expectUserError(r2);
    expect(r2.stderr).toContain('dram.bytesPerCycle');
  });
});

describe('asm and disasm', () => {
  it('malformed assembly exits 1 with file:line:col: error[E...] and a caret', () => {
    const lines = ['start: nop', '    add r1, r2, r99', '    frob r3', '    li r4, 70000 * 70000 * 70000'];
    const src = file('bad.s', lines.join('\n') + '\n');
    const r = cli('asm', src);
    expectUserError(r);
    const col = lines[1]!.indexOf('r99') + 1;
    expect(r.stderr).toContain(`${src}:2:${col}: error[E004]:`);
    expect(r.stderr).toContain(`${src}:3:5: error[E001]:`);
    const out = r.stderr.split('\n');
    const srcRow = out.indexOf(`2 | ${lines[1]}`);
    expect(srcRow, r.stderr).toBeGreaterThan(0);
    const caret = out[srcRow + 1]!;
    expect(caret.indexOf('^') - '2 | '.length).toBe(col - 1);
    expect(caret.slice(caret.indexOf('^'))).toBe('^^^');
    expect(existsSync(join(dir, 'bad.bin'))).toBe(false);
  });

  it('asm -> disasm -> asm reproduces the .bin bytes', () => {
    const src = file('prog.s', [
      '; a loop, buffers, enums and negative immediates',
      '.equ N, 3',
      '.buffer xd, dram, 64',
      '.buffer xa, acc, 16',
      '    li r1, N',
      '    li r2, xa',
      '    li r3, xd',
      '    li r5, 1',
      '    li r6, 16',
      '    dma.ld acc, r2, r3, r5, r6, r0, r0',
      'loop:',
      '    vld.acc v1, r2, 0',
      '    vmulr.vx v2, v1, r1, r5, rhaz, sat16',
      '    vst.acc v2, r2, -4',
      '    addi r2, r2, 4',
      '    dbnz r1, loop',
      '    bge r1, r0, done',
      '    mxu.mm r2, r3, r5, r6, r6, acc',
      'done:',
      '    halt',
    ].join('\n'));
    const a = cli('asm', src, '-o', join(dir, 'a.bin'));
    expect(a.status, show(a)).toBe(0);
    const bytesA = readFileSync(join(dir, 'a.bin'));
    expect(bytesA.length).toBe(8 * 14);
    const d = cli('disasm', join(dir, 'a.bin'));
    expect(d.status, show(d)).toBe(0);
    expect(d.stdout).toContain('vmulr.vx v2, v1, r1, r5, rhaz, sat16');
    expect(d.stdout).toMatch(/^L\d+:$/m); // branch targets came back as labels
    const dis = file('dis.s', d.stdout);
    const b = cli('asm', dis, '-o', join(dir, 'b.bin'));
    expect(b.status, show(b)).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, 'b.bin')), bytesA)).toBe(0);
  });
});

describe('run', () => {
  it('an out-of-bounds access exits 1 with fault[out-of-bounds], the pc and the source line', () => {
    const lines = ['    li r1, 262140', '    li r3, 1', '    li r4, 8', '    dma.ld spad, r1, r0, r3, r4, r0, r0', '    halt'];
    const src = file('oob.s', lines.join('\n') + '\n');
    const r = cli('run', src);
    expectUserError(r);
    expect(r.stderr).toContain('fault[out-of-bounds]');
    expect(r.stderr).toContain('pc 3');
    expect(r.stderr).toContain(`${src}:4:`);
    expect(r.stderr).toContain(`4 | ${lines[3]}`);
  });

  it('an endless loop with limits.maxInstructions from a machine file exits 1 with runaway', () => {
    const src = file('loop.s', 'start: nop\nloop: jmp loop\n');
    const mach = file('limits.json', { limits: { maxInstructions: 500 } });
    const r = cli('run', src, '--machine', mach);
    expectUserError(r);
    expect(r.stderr).toContain('runaway');
    expect(r.stderr).toContain('fault[runaway]');
  });

  it('--trace writes a Chrome trace with X events', () => {
    const src = file('small.s', 'li r1, 0\nli r2, 64\nli r3, 1\nli r4, 8\ndma.ld acc, r1, r2, r3, r4, r0, r0\nvld.acc v1, r1, 0\nhalt\n');
    const t = join(dir, 'run-trace.json');
    const r = cli('run', src, '--trace', t);
    expect(r.status, show(r)).toBe(0);
    const tr = JSON.parse(readFileSync(t, 'utf8')) as { traceEvents: { ph: string; dur?: number }[] };
    const xs = tr.traceEvents.filter((e) => e.ph === 'X');
    expect(xs.length).toBe(7);
  });
});

describe('kernel', () => {
  const M = 3, K = 5, N = 4;
  const x = [1, -2, 3, -4, 5, 127, -128, 0, 1, -1, -128, -128, -128, -128, -128];
  const w = [1, 2, 3, 4, 5, -1, -1, -1, -1, -1, 127, 127, -128, 0, 3, -128, -128, -128, -128, -128];
  const bias = [10, -20, 100000, -2147483648 + 100000];
  const yWant: number[] = [];
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias[n]!;
      for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
      yWant.push(s);
    }
  }

  it('kernel linear --engine sim matches the product computed here, with sane stats', () => {
    const inp = file('lin.json', { M, K, N, x_int: x, weight_int: w, bias_int: bias });
    const trace = join(dir, 'lin-trace.json');
    const out = json(cli('kernel', 'linear', '--engine', 'sim', '--input', inp, '--json', '--trace', trace));
    // No sum here leaves int32 (|x.w| <= 5 * 2^14 on top of the biases), so no wrap is expected.
    for (const v of yWant) expect(v >= -(2 ** 31) && v < 2 ** 31).toBe(true);
    expect(out['y_int']).toEqual(yWant);
    expect(out['cycles']).toBeTypeOf('number');
    expect(out['cycles'] as number).toBeGreaterThan(0);
    expect(out['model_cycles']).toBeTypeOf('number');
    const stats = out['stats'] as Record<string, number>;
    expect(stats['macs']).toBe(M * K * N);
    expect(stats['mxu_utilization']).toBeGreaterThan(0);
    expect(stats['mxu_utilization']).toBeLessThanOrEqual(1);
    expect(stats['dram_bytes']).toBeGreaterThan(0);
    expect(stats['cycles']).toBe(out['cycles']);
    const tr = JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: { ph: string; dur?: number; args?: { pc?: number } }[] };
    const xs = tr.traceEvents.filter((e) => e.ph === 'X');
    expect(xs.length).toBe(stats['instructions']);
    for (const e of xs) expect(e.dur).toBeGreaterThan(0);
  });

  it('kernel linear --engine ref gives the same y_int', () => {
    const inp = file('lin-ref.json', { M, K, N, x_int: x, weight_int: w, bias_int: bias });
    const out = json(cli('kernel', 'linear', '--engine', 'ref', '--input', inp, '--json'));
    expect(out['y_int']).toEqual(yWant);
  });

  it('kernel requant --engine sim rounds ties to even and saturates to int8', () => {
    const multiplier = 3, shift = 2; // y = rne(3x / 4)
    const xs = [2, 6, -2, -6, 10, -10, 1, -1, 3, 0, 169, 170, 171, -171, -172, -173, 1000, -1000, 2147483647, -2147483648, 12345678, -7];
    const rne = (p: bigint, s: number): bigint => {
      const d = 1n << BigInt(s);
      let q = p / d;
      let r = p - q * d;
      if (r < 0n) {
        q -= 1n;
        r += d;
      } // now floor
      if (2n * r > d || (2n * r === d && (q & 1n) === 1n)) q += 1n;
      return q;
    };
    const want = xs.map((v) => {
      const q = rne(BigInt(v) * BigInt(multiplier), shift);
      return Number(q > 127n ? 127n : q < -128n ? -128n : q);
    });
    const ties = xs.filter((v) => (BigInt(v) * 3n) % 4n !== 0n && ((BigInt(v) * 3n) % 4n) ** 2n === 4n).length;
    expect(ties).toBeGreaterThanOrEqual(4);
    expect(want.filter((v) => v === 127 || v === -128).length).toBeGreaterThanOrEqual(4);
    const inp = file('rq.json', { x_int: xs, multiplier, shift, bits: 8 });
    const out = json(cli('kernel', 'requant', '--engine', 'sim', '--input', inp, '--json'));
    expect(out['y_int']).toEqual(want);
    const ref = json(cli('kernel', 'requant', '--engine', 'ref', '--input', inp, '--json'));
    expect(ref['y_int']).toEqual(want);
  });

  it('a case with an out-of-range field exits 1 naming the field', () => {
    const bad = [...x];
    bad[7] = 300;
    const inp = file('lin-bad.json', { M, K, N, x_int: bad, weight_int: w, bias_int: bias });
    const r = cli('kernel', 'linear', '--engine', 'sim', '--input', inp);
    expectUserError(r);
    expect(r.stderr).toContain('x_int');
    expect(r.stderr).toContain('300');
    const r2 = cli('kernel', 'linear', '--engine', 'sim', '--input', file('lin-bad2.json', { M, K, N, x_int: x, weight_int: 'nope', bias_int: bias }));
    expectUserError(r2);
    expect(r2.stderr).toContain('weight_int');
  });

  it('an unknown kernel for the sim engine exits 1', () => {
    const inp = file('any.json', { x_int: [1] });
    const r = cli('kernel', 'no_such_kernel', '--engine', 'sim', '--input', inp);
    expectUserError(r);
    expect(r.stderr).toContain('no_such_kernel');
  });
});
