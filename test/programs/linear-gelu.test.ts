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
import { geluFormOf, linearRequantTiling } from '../../programs/linear-requant/model.js';
import { TilingError } from '../../programs/schedule.js';
import { loadMachine, parseMachine, type MachineConfig } from '../../sim/config.js';
import { expectSameIn } from './helpers.js';

const FILE = 'test/programs/linear-gelu.test.ts';
const expectSame = expectSameIn(FILE);

interface Scales {
  /** fc1 output scales: S0 * 4^u, u uniform in [0, 1) */
  readonly s0: number;
  /** the step-15 QuantAct's range */
  readonly q2: { readonly x_min: number; readonly x_max: number };
}
const SMALL_S: Scales = { s0: 1.5e-5, q2: { x_min: -0.2, x_max: 4.7 } };

function runCase(M: number, K: number, N: number, cfg: MachineConfig, test: string, sc: Scales = SMALL_S) {
  const seed = `linear-gelu:${M}x${K}x${N}:${cfg.name}`;
  const rng = seedrandom.alea(seed);
  const x = Int8Array.from({ length: M * K }, () => Math.floor(rng() * 256) - 128);
  const w = Int8Array.from({ length: N * K }, () => Math.floor(rng() * 256) - 128);
  const bias = Int32Array.from({ length: N }, () => Math.floor((rng() - 0.5) * 2 ** 16));
  // per-channel fc1 output scales that put the accumulators at real values of a few units (GELU's interesting range)
  const S = Array.from({ length: N }, () => sc.s0 * Math.exp(Math.log(4) * rng()));
  const gk = foldGeluNpu(S, { bits: 8, x_min: -0.17, x_max: 6.5 });
  const q2 = foldQuantAct({ bits: 8, ...sc.q2 }, gk.scaleOut);
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
    const run = runCase(40, 96, 80, loadMachine('edge'), 'edge');
    // q_c below -2^31 for the smallest scales: the split form, and a step 15 that changes values
    expect(run.form).toEqual({ wide: false, rescale: true });
  });
  it('wide form (q_c in int32) and step 15 an identity on int8 (not emitted): server and edge, bit-exact, model = simulator', () => {
    const sc: Scales = { s0: 1e-4, q2: { x_min: -0.17, x_max: 6.5 } };
    const a = runCase(24, 96, 136, loadMachine('server'), 'wide form', sc);
    expect(a.form).toEqual({ wide: true, rescale: false });
    const b = runCase(20, 64, 72, loadMachine('edge'), 'wide form', { ...sc, q2: { x_min: -0.2, x_max: 4.7 } });
    expect(b.form).toEqual({ wide: true, rescale: true });
    // fewer VPU instructions per output row: 10 and 11 against the split form's 14
    const split = runCase(20, 64, 72, loadMachine('edge'), 'wide form');
    expect(split.form).toEqual({ wide: false, rescale: true });
    // (20 rows x 3 column tiles of at most 32 lanes: 60 row vectors, 3 fewer ops each, plus fewer constant ops per tile)
    const vpu = (r: typeof b): number => r.sim.stats.instructions_by_unit['vpu'] ?? 0;
    expect(vpu(split) - vpu(b)).toBeGreaterThanOrEqual(3 * 60);
  });
  it('geluFormOf: step 15 is dropped only when it maps all 256 int8 values to themselves; wide only when q_c, 2^14 q_1 and q_c + q_b^2 fit int32', () => {
    const k = { qb: [-5000], qcLo: [100], qcHi: [-40000], q1: [-40000] };
    expect(geluFormOf(k, 2 ** 30, 30)).toEqual({ wide: true, rescale: false });
    expect(geluFormOf(k, 2 ** 30 + 2 ** 20, 30)).toEqual({ wide: true, rescale: false }); // 127 (1 + 2^-10) still rounds to 127
    expect(geluFormOf(k, Math.round(2 ** 30 * 1.01), 30).rescale).toBe(true); // 100 -> 101
    expect(geluFormOf(k, 2 ** 30 - 1, 30).rescale).toBe(false);
    expect(geluFormOf(k, 2 ** 29, 30).rescale).toBe(true); // halves
    // q_c = -40000 * 2^14 + 100 fits; -140000 * 2^14 does not; 2^14 q_1 alone out of range
    expect(geluFormOf({ ...k, qcHi: [-140000] }, 2 ** 30, 30).wide).toBe(false);
    expect(geluFormOf({ ...k, q1: [-140000] }, 2 ** 30, 30).wide).toBe(false);
    // one channel of many out of range takes the whole tensor to the split form
    expect(geluFormOf({ qb: [-5000, -5000], qcLo: [100, 100], qcHi: [-40000, -131073], q1: [-40000, -40000] }, 2 ** 30, 30).wide).toBe(false);
  });
  it('server and a slow-multiplier, shallow-queue machine', () => {
    runCase(24, 160, 136, loadMachine('server'), 'server and');
    runCase(36, 64, 64, parseMachine({ name: 'whatif', vpu: { mulLatencyCycles: 6 }, frontend: { queueDepth: 2, takenBranchPenaltyCycles: 3 } }), 'server and');
  });
  it('refuses a machine whose lane chunks leave too few vector registers (the layer falls back to separate kernels)', () => {
    expect(() => linearRequantTiling(16, 64, 64, 8, parseMachine({ vpu: { lanes: 8 } }), undefined, undefined, 'gelu')).toThrow(TilingError);
  });
});
