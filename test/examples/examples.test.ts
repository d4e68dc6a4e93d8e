// The hand-written programs in examples/, tested the way a kernel author tests their own: through the
// package's public entries (index.ts = `intnpu`, testing.ts = `intnpu/testing`), every output element against
// a computation written here, and cycles against the expectation each program's header states from the
// timing constants (docs/TIMING.md), not from a run.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect } from 'vitest';
import { runProgram } from '../../index.js';
import { expectBitExact, expectCycles } from '../../testing.js';
import { seededIt, type Rng } from '../seeded.js';

const it = seededIt('test/examples/examples.test.ts');
const EXAMPLES = resolve(import.meta.dirname, '../../examples');
const source = (name: string): string => readFileSync(resolve(EXAMPLES, name), 'utf8');
const ints = (rng: Rng, n: number, lo: number, hi: number): number[] => Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo + 1)));
const ceil = (a: number, b: number): number => Math.ceil(a / b);

// edge: 16 B/cycle DRAM, 100 cycles DRAM latency, 32 lanes, a taken branch costs one bubble.
const EDGE = { bytesPerCycle: 16, dramLatency: 100, lanes: 32 };

describe('examples/vadd_sat.s', () => {
  it('adds with int8 saturation, remainder pass included, on edge and server', (rng) => {
    for (const [machine, N] of [['edge', 1000], ['server', 333]] as const) {
      // Half the pairs near the ends of the range, so both saturation bounds are hit.
      const a = Int8Array.from(ints(rng, N, -128, 127).map((v, i) => (i % 2 ? v : v < 0 ? -128 + (-v % 8) : 127 - (v % 8))));
      const b = Int8Array.from(ints(rng, N, -128, 127).map((v, i) => (i % 2 ? v : Math.sign(a[i]!) * Math.abs(v))));
      const run = runProgram(source('vadd_sat.s'), { file: 'vadd_sat.s', machine, params: { N }, inputs: { a, b } });
      const want = Array.from(a, (v, i) => Math.max(-128, Math.min(127, v + b[i]!)));
      expect(want.filter((v) => v === 127).length).toBeGreaterThan(10);
      expect(want.filter((v) => v === -128).length).toBeGreaterThan(10);
      expectBitExact(run.read('c'), want);
    }
  });

  it('takes the cycles its header states on edge', () => {
    const N = 1000;
    const run = runProgram(source('vadd_sat.s'), { params: { N }, inputs: { a: new Int8Array(N), b: new Int8Array(N) } });
    const { bytesPerCycle: bw, dramLatency: lat, lanes } = EDGE;
    expectCycles(run.cycles, 2 * ceil(N, bw) + lat + 12 * ceil(N, lanes) + ceil(N, bw) + lat, { tolerance: 0.1 });
  });
});

describe('examples/dot.s', () => {
  it('sums the products of every pair, exactly', (rng) => {
    for (const N of [1, 31, 1000, 4099]) {
      const a = Int8Array.from(ints(rng, N, -128, 127));
      const b = Int8Array.from(ints(rng, N, -128, 127));
      const run = runProgram(source('dot.s'), { file: 'dot.s', params: { N }, inputs: { a, b } });
      let s = 0n;
      for (let i = 0; i < N; i++) s += BigInt(a[i]!) * BigInt(b[i]!);
      expectBitExact(run.read('s', 'int32'), [s]);
    }
    // The largest magnitudes: every product +2^14.
    const N = 2048;
    const run = runProgram(source('dot.s'), { params: { N }, inputs: { a: new Int8Array(N).fill(-128), b: new Int8Array(N).fill(-128) } });
    expectBitExact(run.read('s', 'int32'), [N * 16384]);
  });

  it('costs the loads, ~10 front-end cycles per pass, one reduction and the store on edge', () => {
    const N = 1000;
    const run = runProgram(source('dot.s'), { params: { N }, inputs: { a: new Int8Array(N), b: new Int8Array(N) } });
    const { bytesPerCycle: bw, dramLatency: lat, lanes } = EDGE;
    expectCycles(run.cycles, 2 * ceil(N, bw) + lat + 10 * ceil(N, lanes) + 20 + lat, { tolerance: 0.1 });
  });
});

/** round(x * m / 2^s), ties to even, saturated to int8: in BigInt, independent of the simulator's helpers. */
function requantRef(x: number, m: number, s: number): number {
  const p = BigInt(x) * BigInt(m);
  const d = 1n << BigInt(s);
  let q = p / d; // truncates toward zero
  let r = p - q * d;
  if (r < 0n) { q -= 1n; r += d; } // floor
  if (2n * r > d || (2n * r === d && q % 2n !== 0n)) q += 1n;
  return Number(q > 127n ? 127n : q < -128n ? -128n : q);
}

describe('examples/requant.s', () => {
  it('requantizes int32 to int8 with rounding half to even and saturation', (rng) => {
    const N = 300;
    for (const [MULT, SHIFT] of [[1518500250, 36], [1 << 30, 31], [2147483647, 40], [-1073741824, 33]] as const) {
      const x = Int32Array.from(ints(rng, N, -(2 ** 31), 2 ** 31 - 1).map((v, i) => (i % 3 === 0 ? (v >> 12) : i % 3 === 1 ? v >> 20 : v)));
      // Exact ties: x * MULT / 2^SHIFT = k + 1/2 needs x = (2k+1) 2^(SHIFT-1) / MULT; with MULT = 2^30, SHIFT = 31 it is x odd.
      if (MULT === 1 << 30) for (let i = 0; i < 40; i++) x[i] = 2 * i - 41;
      const run = runProgram(source('requant.s'), { file: 'requant.s', params: { N, MULT, SHIFT }, inputs: { x } });
      expectBitExact(run.read('y'), Array.from(x, (v) => requantRef(v, MULT, SHIFT)), { label: `MULT ${MULT}, SHIFT ${SHIFT}` });
    }
  });

  it('costs the load, ~9 front-end cycles per pass and the store on edge', () => {
    const N = 256;
    const run = runProgram(source('requant.s'), { params: { N }, inputs: { x: new Int32Array(N) } });
    const { bytesPerCycle: bw, dramLatency: lat, lanes } = EDGE;
    expectCycles(run.cycles, ceil(4 * N, bw) + lat + 9 * ceil(N, lanes) + ceil(N, bw) + lat, { tolerance: 0.1 });
  });
});

describe('examples/matmul.s', () => {
  it('multiplies tile by tile, every output element, on edge and server', (rng) => {
    for (const [machine, M, K, N] of [['edge', 64, 64, 64], ['edge', 5, 32, 96], ['server', 40, 96, 64]] as const) {
      const x = Int8Array.from(ints(rng, M * K, -128, 127));
      const w = Int8Array.from(ints(rng, N * K, -128, 127));
      const run = runProgram(source('matmul.s'), { file: 'matmul.s', machine, params: { M, K, N }, inputs: { x, w } });
      const want = new Array<number>(M * N);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += x[i * K + k]! * w[j * K + k]!;
        want[i * N + j] = s;
      }
      expectBitExact(run.read('y', 'int32'), { data: want, shape: [M, N] }, { label: `${machine} ${M}x${K}x${N}` });
    }
  });

  it('is DRAM-bound on edge: at least its bytes at 16 B/cycle plus two latencies, at most 20 % more', () => {
    const [M, K, N] = [64, 128, 96];
    const run = runProgram(source('matmul.s'), { params: { M, K, N }, inputs: { x: new Int8Array(M * K), w: new Int8Array(N * K) } });
    const bytes = M * K + N * K + 4 * M * N;
    expect(run.stats.dram_bytes).toBe(bytes); // x once, every weight tile once, y once
    const bound = ceil(bytes, EDGE.bytesPerCycle) + 2 * EDGE.dramLatency;
    expect(run.cycles).toBeGreaterThanOrEqual(bound);
    expectCycles(run.cycles, bound, { tolerance: 0.2 });
  });
});
