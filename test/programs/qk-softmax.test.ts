// Q.K^T and softmax fused in one program (layer steps 3-4, the int32 scores never in DRAM): every probability
// against the composition of the independent NPU semantics (qkScores, then softmaxNpu), and the simulated cycles
// against the chunk model of programs/qk-softmax/model.ts (within 5 %).
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { qkScores } from '../../kernels/npu/attention.js';
import { foldSoftmaxNpu, softmaxNpu } from '../../kernels/npu/softmax.js';
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
  it('refuses, with a TilingError the layer runner takes as "run qk and softmax apart", a shape whose K of three heads does not fit', () => {
    const small = parseMachine({ name: 'small-spad', spad: { sizeBytes: 16384 } });
    const shape = { T: 128, hidden: 256, heads: 4, mask: 'none' as const }; // K_h: 128 x 64 bytes, three of them 24 KiB
    expect(() => qkSoftmaxModel(shape, PLAIN_VARIANT, small)).toThrow(TilingError);
    expect(() => qkSoftmaxModel(shape, PLAIN_VARIANT, small)).toThrow(/scratchpad \(16384 bytes\)/);
    expect(qkSoftmaxModel(shape, PLAIN_VARIANT, loadMachine('edge')).qkPlan.chunkRows).toBeGreaterThan(0);
  });
});
