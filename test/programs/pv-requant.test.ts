// P.V with the context QuantAct(8) in its output stage (layer steps 5-6 in one program, the int32 context never in
// DRAM): every element against the composition of the independent references (pvContext, then requant-act's layer
// 2), and the simulated cycles against the schedule-walk model of programs/attention/model.ts (within 2 %).
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { npuPvInts, pvContext } from '../../kernels/npu/attention.js';
import { foldRequantActNpu, requantActNpuApply } from '../../kernels/npu/requant-act.js';
import { runPvRequantSim } from '../../programs/attention/build.js';
import { loadMachine, parseMachine, type MachineConfig } from '../../sim/config.js';
import { expectSameIn } from './helpers.js';

const FILE = 'test/programs/pv-requant.test.ts';
const expectSame = expectSameIn(FILE);

function runCase(T: number, hidden: number, heads: number, cfg: MachineConfig, test: string): void {
  const seed = `pv-requant:${T}x${hidden}:h${heads}:${cfg.name}`;
  const rng = seedrandom.alea(seed);
  // probabilities as the softmax writes them (0..256, rows summing to about 256), values int8
  const p = Array.from({ length: heads * T * T }, () => (rng() < 0.02 ? 256 : Math.floor(rng() * rng() * 40)));
  const v = Int8Array.from({ length: T * hidden }, () => Math.floor(rng() * 256) - 128);
  const q = { m: 1234567890, e: 41 }; // frexp31 form: ctx * 0.57 / 2^10
  const p8 = npuPvInts(p);
  const run = runPvRequantSim(p8, v, T, hidden, heads, q, cfg);
  const ctx = pvContext(p8, v, T, hidden, heads);
  const want = requantActNpuApply(ctx, foldRequantActNpu({ bits: 8, scaleOut: 1, m: [q.m], e: [q.e] }));
  expectSame(run.y, want, `sim vs reference on ${cfg.name}`, seed, test);
  expect(new Set(run.y).size, seed).toBeGreaterThan(30);
  expect(Math.abs(run.model.cycles / (run.sim.stats.cycles ?? 0) - 1), `${seed}: sim ${run.sim.stats.cycles} model ${run.model.cycles}`).toBeLessThanOrEqual(0.02);
  expect(run.sim.stats.dram_write_bytes, seed).toBe(T * hidden); // int8 context only
}

describe('pv + context QuantAct(8) (steps 5-6 fused)', () => {
  it('edge: several heads, row and column tiles, bit-exact, model within 2 %', () => {
    runCase(40, 96, 3, loadMachine('edge'), 'edge');
  });
  it('server, and a machine with 8 lanes (several lane chunks per tile)', () => {
    runCase(24, 128, 2, loadMachine('server'), 'server');
    runCase(20, 64, 2, parseMachine({ name: 'lanes8', vpu: { lanes: 8 } }), 'server');
  });
});
