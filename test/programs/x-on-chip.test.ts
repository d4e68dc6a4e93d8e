// linear-requant with x on chip (K and V of a chained layer read the layer input where Q's program left it in the
// scratchpad): bit-exact after a program that left x there, every element against an independent reference (linearRef
// then requantApply per channel), fewer DRAM bytes by exactly x; on a fresh machine the same program computes on
// zeros (so it really reads the scratchpad); and a plan whose x block is not resident is refused.
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { linearRef } from '../../kernels/ref/linear.js';
import { requantApply } from '../../kernels/ref/requant.js';
import { runLinearRequantSim } from '../../programs/linear-requant/build.js';
import { linearRequantSchedule, linearRequantTiling } from '../../programs/linear-requant/model.js';
import { TilingError } from '../../programs/schedule.js';
import { SimChain } from '../../sim/chain.js';
import { loadMachine, parseMachine } from '../../sim/config.js';

const M = 24, K = 96, N = 64;
const rng = seedrandom.alea('x on chip');
const int8 = (n: number): Int8Array => Int8Array.from({ length: n }, () => Math.floor(rng() * 256) - 128);
const x = int8(M * K), w1 = int8(N * K), w2 = int8(N * K);
const bias = Int32Array.from({ length: N }, () => Math.floor((rng() - 0.5) * 2 ** 20));
const m = Array.from({ length: N }, () => 2 ** 30 + Math.floor(rng() * 2 ** 30));
const e = Array.from({ length: N }, () => 40 + Math.floor(rng() * 3));
const consts = { m, e, bits: 8 as const };

function reference(xx: Int8Array, w: Int8Array): number[] {
  return Array.from(requantApply(linearRef(xx, w, bias, M, K, N), { bits: 8, m, e }));
}

describe('linear-requant with x on chip', () => {
  for (const name of ['edge', 'server'] as const) {
    it(`${name}: after a program of the same layout, bit-exact with x's DRAM bytes saved; on a fresh machine it reads zeros`, () => {
      const cfg = loadMachine(name);
      const chain = new SimChain(cfg);
      const first = runLinearRequantSim(x, w1, bias, M, K, N, consts, cfg, { link: { chain, outputs: { x: 'x' } } });
      const second = runLinearRequantSim(x, w2, bias, M, K, N, consts, cfg, { link: { chain, inputs: { x: 'x' } }, xOnChip: true });
      expect(Array.from(first.y)).toEqual(reference(x, w1));
      expect(Array.from(second.y)).toEqual(reference(x, w2));
      expect(first.sim.stats.dram_bytes - second.sim.stats.dram_bytes).toBe(M * K);
      const alone = runLinearRequantSim(x, w2, bias, M, K, N, consts, cfg, { xOnChip: true });
      expect(Array.from(alone.y)).toEqual(reference(new Int8Array(M * K), w2));
    });
  }

  it('a plan whose x block is not resident as one row block is refused', () => {
    const tiny = parseMachine({ spad: { sizeBytes: 65536 } });
    const p = linearRequantTiling(128, 768, 64, 8, tiny);
    expect(p.t.order !== 'rows' || p.t.mTiles > 1).toBe(true);
    expect(() => linearRequantSchedule(p, tiny, true)).toThrow(TilingError);
  });
});
