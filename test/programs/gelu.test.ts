// The fused i-GELU + QuantAct(8) kernel: the program on the simulator against layer 2 (kernels/npu/gelu.ts), every
// element; layer 2 against a BigInt oracle of its documented arithmetic and against layer 1 (the exact I-BERT
// reference) on a seeded BERT-base layer and on stress scales; simulated cycles against the schedule model.
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { foldGelu, foldQuantAct } from '../../kernels/ref/fold.js';
import { geluModel } from '../../programs/gelu/model.js';
import { exampleCaseGelu, fidelityGelu, npuCaseGelu, refCaseGelu } from '../../kernels/npu/gelu.js';
import { simCaseGelu } from '../../programs/gelu/build.js';
import { loadMachine, parseMachine, type MachineConfig } from '../../sim/config.js';
import { expectSameIn, repro as reproIn, WHAT_IF_MACHINES } from './helpers.js';

const edge = loadMachine('edge');
const server = loadMachine('server');
const FILE = 'test/programs/gelu.test.ts';

const repro = (seed: string, test: string): string => reproIn(FILE, seed, test);
const expectSame = expectSameIn(FILE);

interface GeluCase {
  x_int: number[];
  shape: number[];
  scale_in: number | number[];
  out_x_min: number;
  out_x_max: number;
  out_bits?: number;
}

/** Realistic fc1 accumulators: x = N(-0.3, 1.6) real values (a few x4 outliers) over per-channel scales. */
function randomCase(seed: string, rows: number, cols: number, sLo: number, sHi: number, perChannel = true): GeluCase {
  const rng = seedrandom.alea(seed);
  const nrm = (): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const S = Array.from({ length: perChannel ? cols : 1 }, () => sLo * Math.exp(Math.log(sHi / sLo) * rng()));
  const x: number[] = [];
  for (let i = 0; i < rows * cols; i++) {
    const s = S[perChannel ? i % cols : 0]!;
    const v = (-0.3 + 1.6 * nrm()) * (rng() < 0.01 ? 4 : 1);
    x.push(Math.max(-2147483648, Math.min(2147483647, Math.round(v / s))));
  }
  return { x_int: x, shape: [rows, cols], scale_in: perChannel ? S : S[0]!, out_x_min: -0.17, out_x_max: 6.5 };
}

function checkSim(c: GeluCase, cfg: MachineConfig, seed: string, test: string, tol = 0.02) {
  const npu = npuCaseGelu(c);
  const run = simCaseGelu(c, cfg);
  expectSame(run.y_int, npu.y_int, `sim vs npu on ${cfg.name}`, seed, test);
  const rel = Math.abs(run.cycles / run.model_cycles - 1);
  expect(rel, `${test} on ${cfg.name}: sim ${run.cycles} model ${run.model_cycles} (${repro(seed, test)})`).toBeLessThanOrEqual(tol);
  return { npu, run };
}

// ---- a BigInt oracle of layer 2's documented arithmetic, from the layer-1 constants (fold.ts) ----
function rneBig(p: bigint, e: number): bigint {
  if (e === 0) return p;
  const d = 1n << BigInt(e);
  const q = p >> BigInt(e);
  const r = p - q * d;
  const h = d >> 1n;
  return r > h || (r === h && (q & 1n) === 1n) ? q + 1n : q;
}
const clampBig = (v: bigint, lo: bigint, hi: bigint): bigint => (v < lo ? lo : v > hi ? hi : v);

/** i-GELU exactly as section 6 (BigInt), then the two-step requantization of kernels/npu/gelu.ts's header. */
function oracle(c: GeluCase): number[] {
  const C = typeof c.scale_in === 'number' ? 1 : c.scale_in.length;
  const S = typeof c.scale_in === 'number' ? [c.scale_in] : c.scale_in;
  const g = foldGelu(S);
  const bits = c.out_bits ?? 8;
  const q = foldQuantAct({ bits, x_min: c.out_x_min, x_max: c.out_x_max }, g.scaleOut);
  const H = 1n << BigInt(bits - 1);
  return c.x_int.map((xv, i) => {
    const ch = i % C;
    const x = BigInt(xv), qb = BigInt(g.qb[ch]!), qc = BigInt(g.qc[ch]!), q1 = BigInt(g.q1[ch]!);
    const ax = x < 0n ? -x : x;
    const a = (ax < -qb ? ax : -qb) + qb;
    const sg = x > 0n ? 1n : x < 0n ? -1n : 0n;
    const t = (sg * (a * a + qc)) >> 14n;
    const gv = x * (t + q1);
    let m = q.m[ch]!, e = q.e[ch]!;
    if (m === 2 ** 31) {
      m /= 2;
      e -= 1;
    }
    const s1 = Math.min(127, Math.max(0, e - 53));
    const z = clampBig(rneBig(gv, s1), -(1n << 31n), (1n << 31n) - 1n);
    return Number(clampBig(rneBig(z * BigInt(m), Math.min(127, e - s1)), -H, H - 1n));
  });
}

describe('gelu: layer 2 (npu) against independent checks', () => {
  it('equals a BigInt oracle of its documented arithmetic, on random and edge values down to the smallest allowed scale', () => {
    const test = 'equals a BigInt oracle';
    for (const [lo, hi] of [[1e-4, 1e-3], [1e-5, 1e-4], [8e-7, 3e-6]] as const) {
      const seed = `gelu oracle:${lo}`;
      const c = randomCase(seed, 7, 40, lo, hi);
      // int32 extremes, zero, +-1 and the saturation knee of every channel (|x| = -q_b and neighbours)
      const qb = foldGelu(c.scale_in as number[]).qb;
      const edgeVals = [0, 1, -1, 2147483647, -2147483648, 2147483646, -2147483647];
      for (let col = 0; col < 40; col++) {
        const k = -qb[col]!;
        const vals = [...edgeVals, k, -k, k - 1, -k + 1, k + 1, -k - 1];
        for (let r = 0; r < 7; r++) c.x_int[r * 40 + col] = vals[(r + col) % vals.length]!;
      }
      expectSame(npuCaseGelu(c).y_int, oracle(c), 'npu vs oracle', seed, test);
    }
  });

  it('BERT-base layer: >= 99.9 % identical to layer 1 and never more than one step apart', () => {
    const f = fidelityGelu({ seed: 'gelu fidelity base' });
    console.log(`gelu fidelity: ${f.setting}: ${f.identical}/${f.n} identical (${(100 * f.identical_share).toFixed(4)} %), max diff ${f.max_abs_diff}`);
    expect(f.n).toBe(128 * 3072);
    expect(f.identical_share, repro('gelu fidelity base', 'BERT-base layer')).toBeGreaterThanOrEqual(0.999);
    expect(f.max_abs_diff).toBeLessThanOrEqual(1);
  });

  it('stress scales (every channel rounds in two steps): >= 99.9 % identical, never more than one step', () => {
    for (const [lo, hi] of [[1e-5, 3e-5], [2e-6, 5e-6]] as const) {
      const seed = `gelu stress:${lo}`;
      const c = randomCase(seed, 50, 400, lo, hi);
      const npu = npuCaseGelu(c).y_int, ref = refCaseGelu(c).y_int;
      let same = 0, maxd = 0;
      for (let i = 0; i < ref.length; i++) {
        if (npu[i] === ref[i]) same++;
        maxd = Math.max(maxd, Math.abs(npu[i]! - ref[i]!));
      }
      console.log(`gelu stress S in [${lo}, ${hi}]: ${same}/${ref.length} identical, max diff ${maxd}`);
      expect(same / ref.length, repro(seed, 'stress scales')).toBeGreaterThanOrEqual(0.999);
      expect(maxd, repro(seed, 'stress scales')).toBeLessThanOrEqual(1);
    }
  });

  it('the two-step rounding deviates only next to a tie, by one step (constructed worst case)', () => {
    // S = 8e-7 and a wide output range make the first shift large (s1 = e - 53 = 28) and keep y in range for
    // x up to ~1.2e8. Beyond the knee (x >= -q_b) u = t + q_1 is constant, so g m / 2^e = x P / 2^e with P = u m:
    // scan x for fractions within 2^-23 of 1/2 (the only places the rounding of z can move y), then compare.
    const S = 8e-7, out = { out_x_min: -1, out_x_max: 100 };
    const g = foldGelu([S]);
    const q = foldQuantAct({ bits: 8, x_min: out.out_x_min, x_max: out.out_x_max }, g.scaleOut);
    let m = q.m[0]!, e = q.e[0]!;
    if (m === 2 ** 31) {
      m /= 2;
      e -= 1;
    }
    expect(e - 53, 'the first rounding shift').toBeGreaterThan(20);
    const u = (BigInt(g.qc[0]!) >> 14n) + BigInt(g.q1[0]!);
    const P = u * BigInt(m), E = 1n << BigInt(e);
    const mod = (v: bigint): bigint => ((v % E) + E) % E;
    const x0 = -g.qb[0]!, x1 = Math.min(2147483647, Math.floor(Number((126n * E) / (P < 0n ? -P : P))));
    const alpha = Number(mod(P)) / Number(E);
    let f = Number(mod(BigInt(x0) * P)) / Number(E);
    const near: number[] = [];
    for (let x = x0; x <= x1; x++) {
      if (Math.abs(f - 0.5) < 2 ** -23) near.push(x);
      f += alpha;
      if (f >= 1) f -= 1;
    }
    const c = { x_int: near, shape: [near.length], scale_in: S, ...out };
    const npu = npuCaseGelu(c).y_int, ref = refCaseGelu(c).y_int;
    const diffs = near.filter((_, i) => npu[i] !== ref[i]).length;
    console.log(`gelu near-tie scan: x in [${x0}, ${x1}] (${x1 - x0 + 1} values): ${near.length} within 2^-23 of a tie, ${diffs} differ from layer 1`);
    for (let i = 0; i < near.length; i++) expect(Math.abs(npu[i]! - ref[i]!), `x = ${near[i]}`).toBeLessThanOrEqual(1);
    expect(diffs, 'the deviation is real (else the scan found no near-tie)').toBeGreaterThan(0);
    expect(npuCaseGelu(c).y_int).toEqual(oracle(c));
  });

  it('rejects scales outside the int32 domain and malformed cases, naming the field', () => {
    const base = { x_int: [1, 2, 3, 4], shape: [2, 2], out_x_min: -0.2, out_x_max: 4 };
    const err = (input: unknown): string => {
      try {
        npuCaseGelu(input);
      } catch (e) {
        expect(e).toBeInstanceOf(KernelInputError);
        return (e as Error).message;
      }
      return expect.fail('no error');
    };
    expect(err({ ...base, scale_in: [1e-4, 1e-7] })).toMatch(/scale_in\[1\].*too small/);
    expect(err({ ...base, scale_in: -1e-4 })).toMatch(/scale_in.*positive/);
    expect(err({ ...base, scale_in: [1e-4, 1e-4, 1e-4] })).toMatch(/scale_in: 3 per-channel values/);
    expect(err({ ...base, scale_in: 1e-4, out_bits: 9 })).toMatch(/out_bits/);
    expect(err({ ...base, scale_in: 1e-4, x_int: [1, 2, 3, 2 ** 31] })).toMatch(/x_int/);
  });
});

describe('gelu on the simulator', () => {
  it('small shapes: bit-exact with layer 2, cycles within 2 % of the model (edge and server)', () => {
    const shapes: ReadonlyArray<readonly [number, number, boolean]> = [[1, 1, true], [3, 5, true], [9, 37, true], [6, 200, true], [17, 33, false], [4, 129, true]];
    for (const [rows, cols, pc] of shapes) {
      for (const cfg of [edge, server]) {
        const seed = `gelu small:${rows}x${cols}:${pc}`;
        checkSim(randomCase(seed, rows, cols, 3e-5, 1e-3, pc), cfg, seed, 'small shapes');
      }
    }
  });

  it('edge values: zero, +-1, int32 extremes, the saturation knee, a narrower output, an empty tensor', () => {
    const test = 'edge values';
    const seed = 'gelu edge values';
    const c = randomCase(seed, 8, 36, 1e-5, 1e-3);
    const qb = foldGelu(c.scale_in as number[]).qb;
    for (let col = 0; col < 36; col++) {
      const k = -qb[col]!;
      const vals = [0, 1, -1, 2147483647, -2147483648, k, -k, k + 1];
      for (let r = 0; r < 8; r++) c.x_int[r * 36 + col] = vals[(r + col) % 8]!;
    }
    for (const cfg of [edge, server]) {
      checkSim(c, cfg, seed, test);
      checkSim({ ...c, out_bits: 4, out_x_min: -0.1, out_x_max: 0.5 }, cfg, seed, test);
    }
    const empty = simCaseGelu({ x_int: [], shape: [0, 16], scale_in: 1e-4, out_x_min: -1, out_x_max: 1 }, edge);
    expect(empty.y_int).toEqual([]);
  });

  it('BERT-base fc1 [128, 3072]: bit-exact on edge and server, cycles within 2 % of the model', () => {
    const test = 'BERT-base fc1';
    const seed = 'gelu sim base';
    const c = exampleCaseGelu('base', seed) as GeluCase;
    const npu = npuCaseGelu(c);
    for (const cfg of [edge, server]) {
      const run = simCaseGelu(c, cfg);
      expectSame(run.y_int, npu.y_int, `sim vs npu on ${cfg.name}`, seed, test);
      const s = run.sim.stats;
      console.log(
        `gelu [128, 3072] on ${cfg.name}: sim ${s.cycles} model ${run.model_cycles}; VPU ${(100 * s.utilization!.vpu!).toFixed(1)} %, ` +
          `DRAM channel ${(100 * s.dram_channel_utilization!).toFixed(1)} %; stalls ${JSON.stringify(s.stall_cycles)}`,
      );
      expect(Math.abs(run.cycles / run.model_cycles - 1), repro(seed, test)).toBeLessThanOrEqual(0.02);
      expect(s.utilization!.vpu!, 'the kernel is VPU-bound').toBeGreaterThanOrEqual(0.9);
    }
    // the model never needs the simulator: the same figure from the shape alone
    expect(geluModel(128, 3072, true, 8, edge).cycles).toBe(simCaseGelu(c, edge, { mode: 'timing' }).model_cycles);
  });

  it('what-if machines (long multiply latency, shallow queues, small memories, slow DRAM, 8 lanes): model within 2 %', () => {
    const test = 'what-if machines';
    const seed = 'gelu what-if';
    const c = randomCase(seed, 37, 70, 3e-5, 1e-3);
    for (const w of WHAT_IF_MACHINES) checkSim(c, parseMachine(w), `${seed} on ${JSON.stringify(w)}`, test);
  });

  it('a tiling that cannot fit names the buffer and the bytes', () => {
    const tiny = parseMachine({ vpu: { lanes: 64 }, acc: { sizeBytes: 2048 } });
    expect(() => geluModel(4, 64, true, 8, tiny)).toThrow(/accumulator buffers 'ka' \(constants, 3584 bytes\) plus one row of 'xa'.*acc holds 2048/);
    try {
      simCaseGelu(randomCase('tiny', 4, 64, 1e-4, 1e-3), tiny);
      expect.fail('no error');
    } catch (e) {
      expect((e as { exitCode?: number }).exitCode).toBe(1);
    }
  });
});
