// The library surface users' tests call: runProgram (inputs, buffers, machines, params, modes, and a clear
// error for each caller mistake) and the intnpu/testing assertions (what their failures say).
import { describe, expect, it } from 'vitest';
import { AsmError, ProgramInputError, assemble, runProgram } from '../../index.js';
import { BitExactError, CyclesError, expectBitExact, expectCycles } from '../../testing.js';

const COPY = `
.param N, 16
.buffer src, dram, N
.buffer dst, dram, N
.buffer acc0, acc, 4
.buffer t, spad, N
  li r1, t
  li r2, src
  li r3, 1
  li r4, N
  dma.ld spad, r1, r2, r3, r4, r4, r4
  li r2, dst
  dma.st spad, r1, r2, r3, r4, r4, r4
  halt
`;

describe('runProgram', () => {
  it('writes inputs, runs, and reads buffers as int8, int16 and int32', () => {
    const src = Int8Array.from({ length: 16 }, (_, i) => i * 17 - 128);
    const r = runProgram(COPY, { inputs: { src } });
    expectBitExact(r.read('dst'), src);
    const bytes = new Uint8Array(src.buffer);
    const dv = new DataView(bytes.buffer);
    expectBitExact(r.read('dst', 'int16'), Array.from({ length: 8 }, (_, i) => dv.getInt16(2 * i, true)));
    expectBitExact(r.read('dst', 'int32'), Array.from({ length: 4 }, (_, i) => dv.getInt32(4 * i, true)));
    expect(r.cycles).toBeGreaterThan(2 * 100); // two DMA transfers, each at least dram.latencyCycles (100) on edge
    expect(r.stats.dram_bytes).toBe(32);
    expect(r.machine.name).toBe('edge');
  });

  it('takes params, machine presets, config objects and an assembled Program', () => {
    const src = Int8Array.from({ length: 32 }, (_, i) => i - 16);
    const r = runProgram(COPY, { params: { N: 32 }, machine: 'server', inputs: { src } });
    expect(r.machine.name).toBe('server');
    expectBitExact(r.read('dst'), src);
    const slow = runProgram(COPY, { machine: { dram: { latencyCycles: 1000 } }, inputs: { src: src.subarray(0, 16) } });
    expect(slow.cycles).toBeGreaterThan(2000);
    const prog = assemble(COPY, { file: 'copy.s' });
    expectBitExact(runProgram(prog, { inputs: { src: src.subarray(0, 16) } }).read('dst'), src.subarray(0, 16));
    expect(runProgram(prog, { mode: 'functional' }).cycles).toBeNull();
  });

  it('names each caller mistake', () => {
    expect(() => runProgram('  li r1, nowhere\n  frob\n', { file: 'bad.s' })).toThrow(AsmError);
    try {
      runProgram('  li r1, nowhere\n  frob\n', { file: 'bad.s' });
    } catch (e) {
      expect((e as Error).message).toContain("bad.s:1:10: error[E006]: undefined symbol 'nowhere'");
      expect((e as Error).message).toContain("bad.s:2:3: error[E001]: unknown mnemonic 'frob'");
      expect((e as Error).message).toContain('2 errors');
    }
    expect(() => runProgram(COPY, { inputs: { source: new Int8Array(4) } })).toThrow(/inputs\.source: <input> has no buffer 'source' \(buffers: src, dst, acc0, t\)/);
    expect(() => runProgram(COPY, { inputs: { src: new Int16Array(9) } })).toThrow(/buffer 'src' \(dram, line 3\) holds 16 bytes, the input is 9 Int16Array elements = 18 bytes/);
    expect(() => runProgram(COPY, { inputs: { src: new Float32Array(4) as unknown as Int8Array } })).toThrow(/expected an Int8Array, Uint8Array, Int16Array or Int32Array, got Float32Array/);
    expect(() => runProgram(COPY, { inputs: { src: [1, 2] as unknown as Int8Array } })).toThrow(/got a plain array/);
    expect(() => runProgram(COPY, { inputs: { acc0: new Int8Array(4) } })).toThrow(/accumulator buffer \(int32 words\), so it takes an Int32Array, got Int8Array/);
    expect(() => runProgram(COPY).read('nope')).toThrow(ProgramInputError);
    expect(() => runProgram(COPY).read('acc0', 'int8')).toThrow(/read it as int32/);
    expect(() => runProgram(COPY, { machine: 'no-such-machine.json' })).toThrow(/neither a preset/);
    expect(() => runProgram(COPY, { machine: { mxu: { rows: 0 } } })).toThrow(/mxu\.rows/);
    expect(() => runProgram(assemble(COPY), { params: { N: 4 } })).toThrow(/already assembled/);
  });
});

describe('expectBitExact', () => {
  it('passes on equal data of any integer array kind', () => {
    expectBitExact(Int8Array.from([1, -2, 3]), [1, -2, 3]);
    expectBitExact(Int32Array.from([5, 6, 7, 8]), { data: [5, 6, 7, 8], shape: [2, 2] });
    expectBitExact([[1, 2], [3, 4]], Int16Array.from([1, 2, 3, 4]));
    expectBitExact([1n, 2n], [1, 2]);
    expectBitExact(BigInt64Array.from([-(2n ** 40n), 7n]), [-(2 ** 40), 7]);
    expect(() => expectBitExact([1n], [1.5])).toThrow(/expected 1.5, actual 1/);
  });

  it('names the count, the first differing index and both values', () => {
    const actual = Int32Array.from({ length: 100 }, (_, i) => (i === 41 || i === 77 ? -i : i));
    const expected = Array.from({ length: 100 }, (_, i) => i);
    let err: unknown;
    try { expectBitExact(actual, expected); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(BitExactError);
    const b = err as BitExactError;
    expect(b.message).toMatch(/^2 of 100 elements differ; first at index 41: expected 41, actual -41/);
    expect([b.count, b.index, b.expected, b.actual]).toEqual([2, 41, 41, -41]);
    expect(() => expectBitExact({ data: [1, 2, 3, 9], shape: [2, 2] }, [[1, 2], [3, 4]])).toThrow(/1 of 4 elements differ; first at index 3 \[1, 1\]: expected 4, actual 9/);
  });

  it('fails on a length or shape mismatch', () => {
    expect(() => expectBitExact([1, 2, 3], [1, 2, 3, 4])).toThrow(/length mismatch: expected 4 elements, actual 3; the first 3 are equal/);
    expect(() => expectBitExact({ data: [1, 2, 3, 4, 5, 6], shape: [2, 3] }, { data: [1, 2, 3, 4, 5, 6], shape: [3, 2] })).toThrow(/shape mismatch: expected \[3, 2\], actual \[2, 3\]/);
    expect(() => expectBitExact([[1, 2], [3]], [1, 2, 3])).toThrow(/ragged/);
  });
});

describe('expectCycles', () => {
  it('accepts within tolerance and names the deviation outside it', () => {
    expectCycles(1000, 1000);
    expectCycles(1049, 1000, { tolerance: 0.05 });
    expectCycles(1010, 1000, { absolute: 10 });
    expect(() => expectCycles(1001, 1000)).toThrow(/1001 cycles, expected exactly 1000 \(\+0\.10 %\)/);
    expect(() => expectCycles(1100, 1000, { tolerance: 0.05 })).toThrow(CyclesError);
    expect(() => expectCycles(1100, 1000, { tolerance: 0.05 })).toThrow(/within 950\.\.1050 \(±5\.00 %\) of 1000 \(\+10\.00 %\)/);
    expect(() => expectCycles(null, 1000)).toThrow(/functional-only/);
  });
});
