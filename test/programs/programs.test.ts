// The kernel programs on the simulator against the TypeScript reference (every element), and the
// simulated cycles against the closed-form/analytical models, on seeded random and edge-value inputs.
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { linearModel, linearTiling } from '../../programs/linear/model.js';
import { requantModel } from '../../programs/requant/model.js';
import { linearRef } from '../../kernels/ref/linear.js';
import { requantDirect } from '../../kernels/ref/requant.js';
import { runLinearSim, runRequantSim } from '../../programs/index.js';
import { loadMachine, parseMachine, type MachineConfig } from '../../sim/config.js';

const edge = loadMachine('edge');
const server = loadMachine('server');

function rngFor(name: string): { rng: () => number; seed: string } {
  return { rng: seedrandom.alea(name), seed: name };
}

function repro(seed: string): string {
  return `seed '${seed}'; reproduce: npx vitest run test/programs -t "${seed.split(':')[0]}"`;
}

function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, seed: string): void {
  expect(got.length, repro(seed)).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) expect.fail(`element ${i}: sim ${got[i]} != ref ${want[i]} (${repro(seed)})`);
  }
}

function randInt8(rng: () => number, n: number, lo = -128, hi = 127): Int8Array {
  return Int8Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo + 1)));
}

function linearCase(name: string, M: number, K: number, N: number, cfg: MachineConfig) {
  const { rng, seed } = rngFor(`${name}:${M}x${K}x${N}`);
  const x = randInt8(rng, M * K), w = randInt8(rng, N * K);
  const bias = Int32Array.from({ length: N }, () => Math.floor((rng() - 0.5) * 2 ** 24));
  const run = runLinearSim(x, w, bias, M, K, N, cfg);
  return { run, ref: linearRef(x, w, bias, M, K, N), seed };
}

describe('linear on the simulator', () => {
  it('single-tile shapes: bit-exact and cycles equal the closed-form model exactly', () => {
    for (const [M, K, N] of [[1, 1, 1], [5, 7, 3], [8, 16, 8], [32, 32, 32], [17, 32, 1], [100, 20, 31]] as const) {
      const { run, ref, seed } = linearCase('single tile', M, K, N, edge);
      expectSame(run.y, ref, seed);
      expect(run.model.exact).toBe(true);
      expect(run.sim.stats.cycles, `${M}x${K}x${N}`).toBe(run.model.cycles);
      expect(run.sim.stats.macs).toBe(M * K * N);
    }
  });

  it('tiled shapes (not multiples of the array, K up to 3072): bit-exact, within 2 % of the model', () => {
    const shapes: ReadonlyArray<readonly [number, number, number, MachineConfig]> = [
      [33, 65, 40, edge], [7, 300, 33, edge], [64, 64, 64, edge], [40, 100, 70, edge],
      [16, 3072, 40, edge], [129, 200, 45, edge], [20, 3072, 3, edge],
      [33, 300, 130, server], [64, 3072, 64, server],
    ];
    for (const [M, K, N, cfg] of shapes) {
      const { run, ref, seed } = linearCase('tiled', M, K, N, cfg);
      expectSame(run.y, ref, seed);
      const s = run.sim.stats;
      const rel = Math.abs(s.cycles! / run.model.cycles - 1);
      expect(rel, `${M}x${K}x${N} on ${cfg.name}: sim ${s.cycles} model ${run.model.cycles}`).toBeLessThanOrEqual(0.02);
      expect(s.mxu_utilization!).toBeLessThanOrEqual(1);
      expect(s.cycles!).toBeGreaterThanOrEqual(Math.max(run.model.macBoundCycles, run.model.dramBoundCycles));
    }
  });

  it('edge values: all -128 / 127 / 0 operands and extreme biases', () => {
    const M = 9, K = 70, N = 35;
    const cases: Array<[string, number, number, number]> = [['min', -128, -128, 2 ** 31 - 1 - 70 * 128 * 128], ['max', 127, 127, -(2 ** 31)], ['mixed', -128, 127, 0], ['zero', 0, 0, 12345]];
    for (const [name, xv, wv, bv] of cases) {
      const x = new Int8Array(M * K).fill(xv), w = new Int8Array(N * K).fill(wv), bias = new Int32Array(N).fill(bv);
      const run = runLinearSim(x, w, bias, M, K, N, edge);
      expectSame(run.y, linearRef(x, w, bias, M, K, N), `edge values:${name}`);
    }
  });

  it('the MXU model packs two columns per double: exact at the largest tile depth (k = 1024) and extreme operands', () => {
    const deep = parseMachine({ mxu: { rows: 1024, cols: 5 }, spad: { sizeBytes: 1 << 20 }, acc: { sizeBytes: 1 << 16 } });
    const M = 6, K = 1024, N = 5;
    for (const [name, xv, wv] of [['min*min', -128, -128], ['min*max', -128, 127], ['max*max', 127, 127]] as const) {
      const x = new Int8Array(M * K).fill(xv), w = new Int8Array(N * K).fill(wv);
      // Alternate the sign of one column so a pair holds a large positive and a large negative sum.
      for (let k = 0; k < K; k++) w[1 * K + k] = -wv === 128 ? 127 : -wv;
      const bias = Int32Array.from([0, 1, -1, 2 ** 31 - 1, -(2 ** 31)]);
      const run = runLinearSim(x, w, bias, M, K, N, deep);
      expectSame(run.y, linearRef(x, w, bias, M, K, N), `packed extremes:${name}`);
    }
  });

  it('BERT-base projection 128x768x768 on edge: >= 85 % MXU utilization, model within 2 %, never below the roofline', () => {
    const M = 128, K = 768, N = 768;
    const run = runLinearSim(new Int8Array(M * K), new Int8Array(N * K), new Int32Array(N), M, K, N, edge, { mode: 'timing' });
    const s = run.sim.stats;
    expect(s.mxu_utilization!).toBeGreaterThanOrEqual(0.85);
    expect(s.mxu_utilization!).toBeLessThanOrEqual(1);
    expect(Math.abs(s.cycles! / run.model.cycles - 1)).toBeLessThanOrEqual(0.02);
    expect(s.cycles!).toBeGreaterThanOrEqual(Math.max(run.model.macBoundCycles, run.model.dramBoundCycles));
    // Timing-only mode must give the same count as the full run's model (and the same DRAM traffic).
    expect(s.dram_bytes).toBe(run.model.dramBytes);
  });

  it('timing-only and full runs give identical cycles', () => {
    const { run } = linearCase('modes', 50, 100, 70, edge);
    const t = runLinearSim(new Int8Array(50 * 100), new Int8Array(70 * 100), new Int32Array(70), 50, 100, 70, edge, { mode: 'timing' });
    expect(t.sim.stats.cycles).toBe(run.sim.stats.cycles);
  });

  it('column groups outer when x does not fit: bit-exact, sim == model exactly (cycles and DRAM bytes), never below the roofline', () => {
    const smallServer = parseMachine({ preset: 'server', name: 'server, 1 MiB spad', spad: { sizeBytes: 1 << 20 } });
    const tinyServer = parseMachine({ preset: 'server', name: 'server, 256 KiB spad', spad: { sizeBytes: 256 * 1024 } });
    const tinyEdge = parseMachine({ name: 'edge, 64 KiB spad, 16 KiB acc', spad: { sizeBytes: 64 * 1024 }, acc: { sizeBytes: 16 * 1024 } });
    // [M, K, N, machine, accumulator copies]: remainders in M, K and N; one copy (x read fewer times) and
    // two (stores hidden under the next group), one and several groups, one and several row blocks.
    const shapes: ReadonlyArray<readonly [number, number, number, MachineConfig, number]> = [
      [100, 3072, 70, edge, 1], [129, 2500, 100, edge, 1], [33, 9000, 97, edge, 1], [200, 2000, 33, edge, 1],
      [300, 5000, 40, tinyEdge, 1], [300, 4000, 300, smallServer, 2], [300, 4000, 1000, smallServer, 2], [130, 2100, 200, tinyServer, 2],
    ];
    for (const [M, K, N, cfg, accBuffers] of shapes) {
      const where = `${M}x${K}x${N} on ${cfg.name}`;
      const t = linearTiling(M, K, N, cfg);
      expect(t.order, where).toBe('columns');
      expect(t.accBuffers, where).toBe(accBuffers);
      expect(M * K, where).toBeGreaterThan(cfg.spad.sizeBytes);
      const { run, ref, seed } = linearCase('column groups', M, K, N, cfg);
      expectSame(run.y, ref, seed);
      const s = run.sim.stats;
      expect(s.cycles, `${where}: sim ${s.cycles} model ${run.model.cycles}`).toBe(run.model.cycles);
      expect(s.dram_bytes, where).toBe(run.model.dramBytes);
      expect(s.macs, where).toBe(M * K * N);
      expect(s.mxu_utilization!, where).toBeLessThanOrEqual(1);
      expect(s.cycles!, where).toBeGreaterThanOrEqual(Math.max(run.model.macBoundCycles, run.model.dramBoundCycles));
    }
    // several groups and row blocks: x once per group, weights once per row block
    // (x once, its non-resident columns once per further group: 1 MiB spad keeps 21 of the 32 K slices of 128,
    // spread over K, the last (32 columns) among them)
    const t = linearTiling(300, 4000, 1000, smallServer);
    expect([t.groups, t.mTiles, t.xResident]).toEqual([2, 1, 21]);
    expect(t.dramBytes).toBe(300 * 4000 + 300 * (4000 - (20 * 128 + 4000 - 31 * 128)) + 1000 * 4000 + 1000 * 4 + 300 * 1000 * 4);
    expect(linearTiling(300, 5000, 40, tinyEdge).mTiles).toBeGreaterThan(1);
  });

  it('BERT-base fc2 128x3072x768 on edge: column groups outer, 60 of 96 x slices resident, the rest read 12 times, 309,854 cycles (was 642,541, then 319,918)', () => {
    const M = 128, K = 3072, N = 768;
    const t = linearTiling(M, K, N, edge);
    expect([t.order, t.groupTiles, t.groups, t.accBuffers, t.xResident]).toEqual(['columns', 2, 12, 2, 60]);
    const run = runLinearSim(new Int8Array(M * K), new Int8Array(N * K), new Int32Array(N), M, K, N, edge, { mode: 'timing' });
    const s = run.sim.stats;
    expect(s.cycles).toBe(run.model.cycles);
    expect(s.cycles!).toBeLessThan(319_918);
    expect(s.cycles).toBe(309_854);
    expect(s.dram_bytes).toBe(run.model.dramBytes);
    expect(s.dram_bytes).toBe(M * K + 11 * M * (K - 60 * 32) + N * K + N * 4 + M * N * 4);
    expect(s.cycles!).toBeGreaterThanOrEqual(Math.max(run.model.macBoundCycles, run.model.dramBoundCycles));
    expect(s.mxu_utilization!).toBeLessThanOrEqual(1);
    // bit-exact at this shape on seeded random data
    const { run: full, ref, seed } = linearCase('fc2', M, K, N, edge);
    expectSame(full.y, ref, seed);
    expect(full.sim.stats.cycles).toBe(309_854);
  });

  it('column groups outer on the server preset (x of 8.8 MB > 8 MiB spad, timing only): sim == model exactly', () => {
    const M = 1100, K = 8000, N = 300;
    expect(linearTiling(M, K, N, server).order).toBe('columns');
    const run = runLinearSim(new Int8Array(M * K), new Int8Array(N * K), new Int32Array(N), M, K, N, server, { mode: 'timing' });
    const s = run.sim.stats;
    expect(s.cycles).toBe(run.model.cycles);
    expect(s.dram_bytes).toBe(run.model.dramBytes);
    expect(s.mxu_utilization!).toBeLessThanOrEqual(1);
    expect(s.cycles!).toBeGreaterThanOrEqual(Math.max(run.model.macBoundCycles, run.model.dramBoundCycles));
  });

  it('x that fits keeps the rows order', () => {
    for (const [M, K, N, cfg] of [[128, 768, 768, edge], [128, 3072, 768, server], [1000, 300, 1000, edge], [16, 3072, 40, edge]] as const) {
      expect(linearTiling(M, K, N, cfg).order, `${M}x${K}x${N} on ${cfg.name}`).toBe('rows');
    }
  });

  it('a tiling that cannot fit names the buffer and the bytes', () => {
    const tiny = parseMachine({ spad: { sizeBytes: 8192 } });
    expect(() => linearModel(4, 4096, 4, tiny)).toThrow(/scratchpad buffer 'x' needs 4096 bytes.*8192/);
  });
});

describe('requant on the simulator', () => {
  const oracle = (x: number, m: number, e: number, bits: number): number => {
    // Independent BigInt round-half-even of x*m/2^e, then saturation.
    const p = BigInt(x) * BigInt(m), d = 1n << BigInt(e);
    let q = p >= 0n ? p / d : -((-p + d - 1n) / d);
    const r2 = 2n * (p - q * d);
    if (r2 > d || (r2 === d && (q & 1n) === 1n)) q += 1n;
    const hi = (1n << BigInt(bits - 1)) - 1n, lo = -hi - 1n;
    return Number(q > hi ? hi : q < lo ? lo : q);
  };

  it('random int32 inputs, int8 and int16 outputs: equals the reference and a BigInt oracle', () => {
    for (const [n, m, e, bits] of [[1, 1, 0, 8], [31, 1073741824, 31, 8], [100, 1234567890, 40, 8], [1000, -987654321, 45, 16], [5000, 2 ** 31, 50, 8]] as const) {
      const { rng, seed } = rngFor(`requant random:${n}:${m}:${e}`);
      const x = Int32Array.from({ length: n }, () => Math.floor(rng() * 2 ** 32) - 2 ** 31);
      const run = runRequantSim(x, m, e, bits, edge);
      const ref = requantDirect(x, m, e, bits);
      expectSame(run.y, ref, seed);
      expectSame(run.y, Array.from(x, (v) => oracle(v, m, e, bits)), seed);
    }
  });

  it('exact ties round half to even, and saturation at both ends', () => {
    // x * 1 / 2: odd x are exact ties.
    const x = Int32Array.from([1, 3, 5, -1, -3, -5, 255, 257, -255, -257, 1000, -1000, 2 ** 31 - 1, -(2 ** 31)]);
    const run = runRequantSim(x, 1, 1, 8, edge);
    const want = [0, 2, 2, 0, -2, -2, 127, 127, -128, -128, 127, -128, 127, -128];
    expectSame(run.y, want, 'ties');
    expectSame(run.y, requantDirect(x, 1, 1, 8), 'ties vs ref');
  });

  it('cycles: exact for one chunk, within 2 % for several (edge) and 3 % (server)', () => {
    for (const [n, cfg, tol] of [[5, edge, 0], [100, edge, 0], [4096, edge, 0], [20000, edge, 0.02], [100000, edge, 0.02], [1000, server, 0], [20000, server, 0.03], [100000, server, 0.03]] as const) {
      const run = runRequantSim(new Int32Array(n), 1, 0, 8, cfg, { mode: 'timing' });
      const model = requantModel(n, 8, cfg);
      const rel = Math.abs(run.sim.stats.cycles! / model.cycles - 1);
      expect(rel, `n=${n} on ${cfg.name}: sim ${run.sim.stats.cycles} model ${model.cycles}`).toBeLessThanOrEqual(tol);
    }
  });
});
