// `intnpu debug`: a piped command script steps a program, stops at a breakpoint, shows registers,
// memory and each instruction's timing with the producer it waited on.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = `; squares of 40 bytes
.buffer x, spad, 64
.buffer y, acc, 64
    li r1, x
    li r2, y
    li r3, 40
loop:
    vsetvl r4, r3
    vld.s8 v1, r1, 32
    vmul v2, v1, v1
    vst.acc v2, r2, 32
    sub r3, r3, r4
    bne r3, zero, loop
    halt
`;

describe('intnpu debug', () => {
  it('breakpoints, registers, per-instruction timing with the producer waited on, and memory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'intnpu-debug-'));
    const file = join(dir, 'sq.s');
    writeFileSync(file, SRC);
    const script = ['b loop', 'c', 'r', 's 4', 'c', 'c', 'm acc y 3', 'b line:12', 'q'].join('\n') + '\n';
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'debug', file], { input: script, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toContain(`breakpoint at pc 3  ${file}:8  vsetvl r4, r3`);
    expect(out).toMatch(/r3=40 r4=0/);
    // vmul waits for vld's load latency: named as a data dependency on pc 4.
    expect(out).toMatch(/5 {2}vmul v2, v1, v1 {2}\[vpu: dispatch \d+, start \d+, end \d+, done \d+\] {2}waited: data_dependency on pc 4 \(vld\.s8 v1, r1, 32\)/);
    expect(out).toMatch(/program ended at cycle \d+/);
    // Without --set the spad is all zero, so the squares stored in acc are zero.
    expect(out).toContain('acc[0..] i32: [0,0,0]');
    expect(out).toContain('breakpoint at pc 7 (line 12)');
  });

  it('memory reads stop at the end of their space (the scratchpad is not followed by other memory)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'intnpu-debug-'));
    const file = join(dir, 'sq.s');
    writeFileSync(file, SRC);
    // edge: 256 KiB of scratchpad; the last 4 bytes read, 4 bytes from 1 before the end refused
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'debug', file], { input: 'm spad 262140 4\nm spad 262141 4\nq\n', encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('spad[262140..] i8: [0,0,0,0]');
    expect(r.stdout + r.stderr).toContain('m: spad holds 262144 bytes');
  });

  it('--set fills a buffer before the run: the squares appear in the accumulator', () => {
    const dir = mkdtempSync(join(tmpdir(), 'intnpu-debug-'));
    const file = join(dir, 'sq.s');
    writeFileSync(file, SRC);
    const x = Array.from({ length: 40 }, (_, i) => i - 20);
    writeFileSync(join(dir, 'x.json'), JSON.stringify({ dtype: 'int8', data: x }));
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'debug', file, '--set', `x=${join(dir, 'x.json')}`], { input: 'c\nm acc y 40\nq\n', encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`acc[0..] i32: ${JSON.stringify(x.map((v) => v * v))}`);
  });

  it('a fault while stepping is reported with pc, instruction and source line, and the session goes on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'intnpu-debug-'));
    const file = join(dir, 'oob.s');
    writeFileSync(file, 'li r1, 999999\nvld.s8 v1, r1, 0\nhalt\n');
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'debug', file], { input: 'c\nl\nq\n', encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('fault[out-of-bounds] at pc 1');
    expect(r.stdout).toContain('vld.s8 v1, r1, 0');
    expect(r.stdout).toContain('program ended');
  });
});
