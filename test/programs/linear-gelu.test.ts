// The fused fc1 + i-GELU + QuantAct(8) + int8 requantization program (layer steps 12-15 in one program, the int32
// accumulators never in DRAM) on the simulator: every element against the composition of the independent
// references (linearRef, then the gelu kernel's layer 2 geluNpuApply, then requant-act's layer 2), and the
// simulated cycles against the schedule-walk model (equal: the model walks the same op list the builder prints).
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { foldGeluNpu, geluNpuApply } from '../../kernels/npu/gelu.js';
import { foldRequantActNpu, requantActNpuApply } from '../../kernels/npu/requant-act.js';
import { foldQuantAct } from '../../kernels/ref/fold.js';
import { linearRef } from '../../kernels/ref/linear.js';
import { runLinearGeluSim } from '../../programs/linear-requant/build.js';
import { linearRequantTiling } from '../../programs/linear-requant/model.js';
import { TilingError } from '../../programs/schedule.js';
import { loadMachine, parseMachine, type MachineConfig } from '../../sim/config.js';
import { expectSameIn } from './helpers.js';

const FILE = 'test/programs/linear-gelu.test.ts';
const expectSame = expectSameIn(FILE);

function runCase(M: number, K: number, N: number, cfg: MachineConfig, test: string) {
  const seed = `linear-gelu:${M}x${K}x${N}:${cfg.name}`;
  const rng = seedrandom.alea(seed);
  const x = Int8Array.from({ length: M * K }, () => Math.floor(rng() * 256) - 128);
  const w = Int8Array.from({ length: N * K }, () => Math.floor(rng() * 256) - 128);
  const bias = Int32Array.from({ length: N }, () => Math.floor((rng() - 0.5) * 2 ** 16));
  // per-channel fc1 output scales that put the accumulators at real values of a few units (GELU's interesting range)
  const S = Array.from({ length: N }, () => 1.5e-5 * Math.exp(Math.log(4) * rng()));
  const gk = foldGeluNpu(S, { bits: 8, x_min: -0.17, x_max: 6.5 });
  const q2 = foldQuantAct({ bits: 8, x_min: -0.2, x_max: 4.7 }, gk.scaleOut);
  const run = runLinearGeluSim(x, w, bias, M, K, N, gk, { m: q2.m[0]!, e: q2.e[0]! }, cfg);
  // independent composition: the linear reference, the gelu layer 2, the requant-act layer 2
  const acc = linearRef(x, w, bias, M, K, N);
  const g8 = geluNpuApply(acc, gk);
  const want = requantActNpuApply(g8, foldRequantActNpu(q2));
  expectSame(run.y, want, `sim vs reference on ${cfg.name}`, seed, test);
  // the outputs are not degenerate: GELU's negative tail, zeros and saturated values all occur
  expect(new Set(run.y).size, seed).toBeGreaterThan(20);
  expect(run.sim.stats.cycles, seed).toBe(run.model.cycles);
  // the int32 fc1 output never goes to DRAM: reads x, w, bias, constants; writes int8 y only
  expect(run.sim.stats.dram_write_bytes, seed).toBe(M * N);
  return run;
}

describe('linear-gelu (steps 12-15 fused)', () => {
  it('edge: several row, column and K tiles with partial tiles, bit-exact, model = simulator', () => {
    runCase(40, 96, 80, loadMachine('edge'), 'edge');
  });
  it('server and a slow-multiplier, shallow-queue machine', () => {
    runCase(24, 160, 136, loadMachine('server'), 'server and');
    runCase(36, 64, 64, parseMachine({ name: 'whatif', vpu: { mulLatencyCycles: 6 }, frontend: { queueDepth: 2, takenBranchPenaltyCycles: 3 } }), 'server and');
  });
  it('refuses a machine whose lane chunks leave too few vector registers (the layer falls back to separate kernels)', () => {
    expect(() => linearRequantTiling(16, 64, 64, 8, parseMachine({ vpu: { lanes: 8 } }), undefined, undefined, 'gelu')).toThrow(TilingError);
  });
});
