// Q.K^T and softmax fused in one program (layer steps 3-4, the int32 scores never in DRAM): every probability
// against the composition of the independent NPU semantics (qkScores, then softmaxNpu), and the simulated cycles
// against the chunk model of programs/qk-softmax/model.ts (within 5 %).
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { npuPvInts, qkScores } from '../../kernels/npu/attention.js';
import { foldSoftmaxNpu, softmaxNpu, type SoftmaxNpuConsts } from '../../kernels/npu/softmax.js';
import { foldSoftmax } from '../../kernels/ref/fold.js';
import { runQkSoftmaxSim } from '../../programs/qk-softmax/build.js';
import { qkSoftmaxModel } from '../../programs/qk-softmax/model.js';
import { PLAIN_VARIANT } from '../../programs/softmax/model.js';
import { TilingError } from '../../programs/schedule.js';
import { loadMachine, parseMachine, type MachineConfig } from '../../sim/config.js';
import { expectSameIn } from './helpers.js';

const FILE = 'test/programs/qk-softmax.test.ts';
const expectSame = expectSameIn(FILE);

function runCase(T: number, hidden: number, heads: number, cfg: MachineConfig, test: string, masked = false): void {
  const seed = `qk-softmax:${T}x${hidden}:h${heads}:${cfg.name}:${masked}`;
  const rng = seedrandom.alea(seed);
  const q = Int8Array.from({ length: T * hidden }, () => Math.floor(rng() * 81) - 40);
  const k = Int8Array.from({ length: T * hidden }, () => Math.floor(rng() * 81) - 40);
  const mask = masked ? Array.from({ length: T }, (_, i) => (i < T - 3 ? 1 : 0)) : undefined;
  // a score scale that spreads the probabilities of a row over many values
  const consts = foldSoftmaxNpu(foldSoftmax(1 / 1024));
  const run = runQkSoftmaxSim(q, k, T, hidden, heads, consts, cfg, mask);
  const want = softmaxNpu(qkScores(q, k, T, hidden, heads), T, consts, mask).y;
  expectSame(run.y, want, `sim vs NPU semantics on ${cfg.name}`, seed, test);
  expect(new Set(run.y).size, seed).toBeGreaterThan(20);
  const cycles = run.sim.stats.cycles ?? 0;
  expect(Math.abs(run.model.cycles / cycles - 1), `${seed}: sim ${cycles} model ${run.model.cycles}`).toBeLessThanOrEqual(0.05);
  expect(run.sim.stats.dram_write_bytes, seed).toBe(heads * T * T * 2); // int16 probabilities only: no scores
}

describe('qk + softmax (steps 3-4 fused)', () => {
  it('edge: several heads and chunks per head, bit-exact, model within 5 %', () => {
    runCase(48, 96, 3, loadMachine('edge'), 'edge');
  });
  it('server, a padded row length with a key mask, and a machine with 8 lanes', () => {
    runCase(40, 128, 2, loadMachine('server'), 'server');
    runCase(36, 64, 2, loadMachine('edge'), 'mask', true);
    runCase(24, 64, 2, parseMachine({ name: 'lanes8', vpu: { lanes: 8 } }), 'lanes8');
  });
  it('server with a pipelined divider: f read two rows after its division (recipLag 2), the split exp stage, bit-exact, model within 5 %', () => {
    const cfg = parseMachine({ preset: 'server', name: 'server-pipelined-divider', divider: { divIntervalCycles: 1 } });
    expect(qkSoftmaxModel({ T: 128, hidden: 256, heads: 2, mask: 'none' }, PLAIN_VARIANT, cfg).plan).toMatchObject({ recipLag: 2, splitExp: true });
    runCase(128, 256, 2, cfg, 'pipelined');
  });
  it('refuses, with a TilingError the layer runner takes as "run qk and softmax apart", a shape whose K of three heads does not fit', () => {
    const small = parseMachine({ name: 'small-spad', spad: { sizeBytes: 16384 } });
    const shape = { T: 128, hidden: 256, heads: 4, mask: 'none' as const }; // K_h: 128 x 64 bytes, three of them 24 KiB
    expect(() => qkSoftmaxModel(shape, PLAIN_VARIANT, small)).toThrow(TilingError);
    expect(() => qkSoftmaxModel(shape, PLAIN_VARIANT, small)).toThrow(/scratchpad \(16384 bytes\)/);
    expect(qkSoftmaxModel(shape, PLAIN_VARIANT, loadMachine('edge')).qkPlan.chunkRows).toBeGreaterThan(0);
  });
});

/**
 * The uint8 variant (probsU8): every stored byte against the NPU semantics' probabilities through the layer-2 clamp
 * of the P.V input (npuPvInts: min(p, 255)), the cycles against the model, and the DRAM writes halved.
 */
function runU8(q: Int8Array, k: Int8Array, T: number, hidden: number, heads: number, consts: SoftmaxNpuConsts, cfg: MachineConfig, seed: string, test: string, clamps: boolean, mask?: number[]): Int32Array {
  const run = runQkSoftmaxSim(q, k, T, hidden, heads, consts, cfg, mask, { probsU8: true });
  const ref = softmaxNpu(qkScores(q, k, T, hidden, heads), T, consts, mask).y;
  expect(run.y).toBeInstanceOf(Uint8Array);
  expectSame(run.y, npuPvInts(ref), `sim uint8 vs min(NPU semantics, 255) on ${cfg.name}`, seed, test);
  const cycles = run.sim.stats.cycles ?? 0;
  expect(Math.abs(run.model.cycles / cycles - 1), `${seed}: sim ${cycles} model ${run.model.cycles}`).toBeLessThanOrEqual(0.05);
  expect(run.sim.stats.dram_write_bytes, seed).toBe(heads * T * T); // one byte per probability
  expect(run.program.buffers.get('y')!.size, seed).toBe(heads * T * T);
  // the min(p, 255) is emitted where the constants allow p = 256 (E0 a power of two), and only there
  expect(run.program.sourceLines.some((l) => l.trim().startsWith('vmin.vx')), seed).toBe(clamps);
  return ref;
}

describe('qk + softmax storing uint8 probabilities (probsU8: the P.V input, saturated by the NPU)', () => {
  const consts = foldSoftmaxNpu(foldSoftmax(1 / 1024));
  const random = (seed: string, n: number): Int8Array => {
    const rng = seedrandom.alea(seed);
    return Int8Array.from({ length: n }, () => Math.floor(rng() * 81) - 40);
  };
  it('edge and server, with a key mask and without a divider (Newton): every byte equals min(p, 255)', () => {
    const cases: ReadonlyArray<readonly [string, number, number, number, MachineConfig, boolean]> = [
      ['edge', 48, 96, 3, loadMachine('edge'), false],
      ['server', 40, 128, 2, loadMachine('server'), false],
      ['edge-mask', 36, 64, 2, loadMachine('edge'), true],
      ['server-newton', 24, 64, 2, parseMachine({ preset: 'server', name: 'server-no-divider', divider: { present: false } }), false],
    ];
    for (const [name, T, hidden, heads, cfg, masked] of cases) {
      const seed = `qk-softmax-u8:${name}:${T}x${hidden}:h${heads}`;
      const mask = masked ? Array.from({ length: T }, (_, i) => (i < T - 3 ? 1 : 0)) : undefined;
      const ref = runU8(random(`${seed}:q`, T * hidden), random(`${seed}:k`, T * hidden), T, hidden, heads, consts, cfg, seed, 'edge and server', false, mask);
      expect(new Set(ref).size, seed).toBeGreaterThan(20);
    }
  });
  it('a one-hot row under a stale softmax range (x_max = 2 q_c 2^30) reaches p = 256 and stores 255', () => {
    // docs/IBERT.md section 7: p = 256 needs a row whose only non-zero e16 is a power of two; with this range the
    // row max maps to e16 = 16384 (test/kernels/ref/kernels.test.ts). Query rows 0..3 of head 0 are all 127 and key
    // row 5 of head 0 is all 127: its score 32 * 127 * 127 beats every other (at most 32 * 127 * 10) by far more than
    // 30 q_ln2, so every other e16 of those rows is 0.
    const S = 3.125e-4;
    const qc = Math.floor(2.792114744077415 / (S * S));
    const stale = foldSoftmaxNpu(foldSoftmax(S, { bits: 16, x_min: 0, x_max: 2 * qc * 2 ** 30 }));
    const T = 16, hidden = 64, heads = 2, dh = 32;
    for (const cfg of [loadMachine('edge'), loadMachine('server')]) {
      const seed = `qk-softmax-u8:one-hot:${cfg.name}`;
      const rng = seedrandom.alea(seed);
      const small = (): number => Math.floor(rng() * 21) - 10;
      const q = Int8Array.from({ length: T * hidden }, (_, i) => (Math.floor(i / hidden) < 4 && i % hidden < dh ? 127 : small()));
      const k = Int8Array.from({ length: T * hidden }, (_, i) => (Math.floor(i / hidden) === 5 && i % hidden < dh ? 127 : small()));
      const ref = runU8(q, k, T, hidden, heads, stale, cfg, seed, 'one-hot', true);
      for (let t = 0; t < 4; t++) {
        // the case does what it claims: the reference row is one-hot at 256
        expect(Array.from(ref.subarray(t * T, (t + 1) * T)), seed).toEqual(Array.from({ length: T }, (_, s) => (s === 5 ? 256 : 0)));
      }
      const run16 = runQkSoftmaxSim(q, k, T, hidden, heads, stale, cfg);
      expect(run16.y[5], seed).toBe(256); // the int16 variant keeps 256
      const run8 = runQkSoftmaxSim(q, k, T, hidden, heads, stale, cfg, undefined, { probsU8: true });
      for (let t = 0; t < 4; t++) expect(run8.y[t * T + 5], seed).toBe(255);
    }
  });
});
