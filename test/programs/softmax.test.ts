// i-softmax: the ISA program on the simulator against layer 2 (kernels/npu/softmax.ts) bit for bit, layer 2 against
// layer 1 (kernels/ref/softmax.ts, the I-BERT reference) and against independent BigInt checks of its datapath claims,
// and the simulated cycles against the schedule model (programs/softmax/model.ts), on edge and server, with and
// without the divider.
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { npuPvInts } from '../../kernels/npu/attention.js';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { foldSoftmax } from '../../kernels/ref/fold.js';
import { softmaxModel } from '../../programs/softmax/model.js';
import {
  bertScores, exampleCaseSoftmax, fidelitySoftmax, foldSoftmaxNpu, npuCaseSoftmax, parseSoftmaxCase, refCaseSoftmax, softmaxNpu,
  syntheticScores,
} from '../../kernels/npu/softmax.js';
import { softmaxApply } from '../../kernels/ref/softmax.js';
import { buildSoftmax, runSoftmaxCase, simCaseSoftmax, type SoftmaxBuildOptions } from '../../programs/softmax/build.js';
import { loadMachine, parseMachine, type MachineConfig } from '../../sim/config.js';

const FILE = 'test/programs/softmax.test.ts';
const edge = loadMachine('edge');
const server = loadMachine('server');
const edgeNoDiv = parseMachine({ divider: { present: false } });
const serverNoDiv = parseMachine({ preset: 'server', divider: { present: false } });
const MACHINES: ReadonlyArray<readonly [string, MachineConfig]> = [['edge', edge], ['server', server], ['edge-no-divider', edgeNoDiv], ['server-no-divider', serverNoDiv]];

function repro(seed: string): string {
  const pattern = seed.split(':')[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return `seed '${seed}'; reproduce: npx vitest run ${FILE} -t '${pattern}'`;
}

function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string, seed: string): void {
  expect(got.length, repro(seed)).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) expect.fail(`${what}: element ${i}: ${got[i]} != ${want[i]} (${repro(seed)})`);
  }
}

type Case = Record<string, unknown> & { x_int: number[]; shape: number[]; scale_in: number };

/** Runs a case on the simulator and checks every element against layer 2; returns the run. */
function simMatches(input: Case, cfg: MachineConfig, seed: string) {
  const run = simCaseSoftmax(input, cfg);
  const npu = npuCaseSoftmax(input);
  expectSame(run.y_int, npu.y_int, `sim vs layer 2 on ${cfg.name}${cfg.divider.present ? '' : ' (Newton)'}`, seed);
  return { run, npu };
}

function randomCase(seed: string, rows: number, L: number, mask: 'none' | 'element' | 'position', S = 2e-4): Case {
  const rng = seedrandom.alea(seed);
  const sigma = 0.5 + 4 * rng();
  const x = syntheticScores(seed, rows, L, S, sigma);
  const base: Case = { x_int: Array.from(x), shape: [rows, L], scale_in: S };
  if (mask === 'element') base['mask'] = Array.from({ length: rows * L }, () => (rng() < 0.2 ? 0 : 1));
  if (mask === 'position') base['mask'] = Array.from({ length: L }, (_, i) => (i >= L - Math.floor(L / 4) ? 0 : 1));
  return base;
}

describe('layer 2 datapath claims (independent BigInt checks)', () => {
  it('the reciprocal multiply gives q = floor(t / q_ln2) (and q + c\') for every clamped t', () => {
    for (const S of [2e-4, 1.92e-4, 3.125e-4, 1.25e-3, 0.05, 0.5, 1, 1.5, 1e-5, 7e-8]) {
      const c = foldSoftmaxNpu(foldSoftmax(S));
      const d = BigInt(c.d), mQ = BigInt(c.mQ), cF = BigInt(c.cFold);
      const total = 30 * c.d + 1;
      const stride = total > 400_000 ? Math.ceil(total / 400_000) : 1; // every t for realistic scales, a sample for tiny ones
      for (let a = 0; a <= 30 * c.d; a += a + stride > 30 * c.d && a !== 30 * c.d ? 30 * c.d - a : stride) {
        const ap = BigInt(a) + cF * d;
        const got = ((ap * mQ) >> BigInt(c.sQ)) - cF;
        const want = BigInt(a) / d; // floor(t / q_ln2) for t = -a <= 0, q_ln2 = -d
        if (got !== want) expect.fail(`S = ${S}: t = ${-a}: reciprocal gives ${got}, floor division ${want}`);
      }
    }
  });

  it('no e16 exceeds E0 (so p = 256 needs e16 = sum = E0, and E0 not a power of two rules it out: the uint8 store needs no min)', () => {
    for (const [S, xMaxTimes] of [[2e-4, 0], [3.125e-4, 2], [1.25e-3, 0], [0.05, 0], [2e-4, 7], [1e-3, 300]] as const) {
      const k = foldSoftmax(S);
      const c = foldSoftmaxNpu(xMaxTimes === 0 ? k : foldSoftmax(S, { bits: 16, x_min: 0, x_max: Math.fround(k.qc * 2 ** 30) * xMaxTimes }));
      // every t in [-30 q_ln2 - 2, 0] after a 0 (the row max): rows of 512
      const ts = 30 * c.d + 3, L = 512, rows = Math.ceil(ts / (L - 1));
      const x = new Int32Array(rows * L).fill(-(2 ** 31));
      for (let i = 0; i < ts; i++) x[Math.floor(i / (L - 1)) * L + 1 + (i % (L - 1))] = -i;
      for (let r = 0; r < rows; r++) x[r * L] = 0;
      const e16 = softmaxNpu(x, L, c).e16;
      expect(e16[0], `S = ${S}`).toBe(c.E0);
      let top = 0;
      for (const v of e16) top = Math.max(top, v);
      expect(top, `S = ${S}, x_max x ${xMaxTimes}`).toBe(c.E0);
    }
  });

  it('z = (r + q_b) r + q_c >= 0 at every scale of the domain (so layer 1\'s clamp of E at 0 never acts)', () => {
    for (let i = 0; i <= 100_000; i++) {
      const S = Math.exp(Math.log(6.4e-8) + ((Math.log(1.67) - Math.log(6.4e-8)) * i) / 100_000);
      const k = foldSoftmax(S);
      const r = k.qLn2 === -1 ? 0n : BigInt(k.qLn2 + 1); // z is increasing in r on (q_ln2, 0]: its minimum
      const z = (r + BigInt(k.qb)) * r + BigInt(k.qc);
      if (z < 0n) expect.fail(`S = ${S}: z = ${z}`);
    }
  });

  it('layer 2 equals layer 1 wherever q_c < 2^31, and stays within one step where z is pre-shifted (tiny scales)', () => {
    const seed = 'layer2 vs layer1 sweep';
    for (let i = 0; i < 300; i++) {
      const S = Math.exp(Math.log(6.5e-8) + ((Math.log(1.6) - Math.log(6.5e-8)) * i) / 299);
      const ref = foldSoftmax(S);
      const c = foldSoftmaxNpu(ref);
      const x = syntheticScores(`${seed}:${i}`, 8, 50, S, 3);
      const a = softmaxNpu(x, 50, c).y, b = softmaxApply(x, 50, ref).y;
      for (let j = 0; j < a.length; j++) {
        const diff = Math.abs(a[j]! - b[j]!);
        if (c.k === 0 ? diff !== 0 : diff > 1) expect.fail(`S = ${S} (k = ${c.k}): element ${j}: layer 2 ${a[j]}, layer 1 ${b[j]} (${repro(seed)})`);
      }
    }
    // Deviation D1 measured at BERT-base shape for tiny scales
    for (const S of [1e-5, 1e-6, 1e-7]) {
      const f = fidelitySoftmax({ scaleIn: S, seed: `${seed}:${S}` });
      expect(f.identical_share, f.setting).toBeGreaterThanOrEqual(0.999);
      expect(f.max_abs_diff, f.setting).toBeLessThanOrEqual(1);
    }
  });

  it('fidelity at BERT-base shapes (two synthetic layers, realistic scales): >= 99.9 % identical, at most one step', () => {
    const f = fidelitySoftmax();
    expect(f.n).toBe(2 * 12 * 128 * 128);
    expect(f.identical_share, f.setting).toBeGreaterThanOrEqual(0.999);
    expect(f.max_abs_diff, f.setting).toBeLessThanOrEqual(1);
    expect(f.identical, 'layer 2 is layer 1 at realistic scales').toBe(f.n);
  });

  it('refCase is layer 1, npuCase layer 2; invalid input names the field', () => {
    const input = exampleCaseSoftmax('small', 'api');
    const ref = refCaseSoftmax(input), npu = npuCaseSoftmax(input);
    expect(npu.shape).toEqual([4, 16]);
    expectSame(npu.y_int, ref.y_int, 'npu vs ref', 'api');
    expect(() => npuCaseSoftmax({ x_int: [1, 2], scale_in: -1 })).toThrow(KernelInputError);
    expect(() => npuCaseSoftmax({ x_int: [1, 2], scale_in: -1 })).toThrow(/scale_in/);
    expect(() => npuCaseSoftmax({ x_int: [1, 2], scale_in: 2e-4, x_min: 0, x_max: 1e22 })).toThrow(/x_max.*e16 = [0-2]/);
    expect(() => npuCaseSoftmax({ x_int: [1, 2], scale_in: 1e-9 })).toThrow(/scale_in/);
    expect(() => npuCaseSoftmax({ x_int: [1, 2, 3], scale_in: 2e-4, mask: [1, 0] })).toThrow(/mask/);
    expect(() => simCaseSoftmax({ x_int: [1, 2], scale_in: 2e-4, shape: [3] }, edge)).toThrow(/shape/);
  });
});

describe('softmax on the simulator equals layer 2 bit for bit', () => {
  it('seeded random shapes (padding, streaming rows, masks) on edge and server, with and without the divider', () => {
    const shapes: ReadonlyArray<readonly [number, number]> = [[1, 1], [3, 7], [7, 32], [13, 100], [40, 128], [9, 300], [5, 1000], [20, 129]];
    for (const [name, cfg] of MACHINES) {
      shapes.forEach(([rows, L], i) => {
        const mask = (['none', 'element', 'position'] as const)[i % 3]!;
        const seed = `random shapes:${name}:${rows}x${L}:${mask}`;
        const { npu } = simMatches(randomCase(seed, rows, L, mask), cfg, seed);
        expectSame(npu.y_int, refCaseSoftmax(randomCase(seed, rows, L, mask)).y_int, 'layer 2 vs layer 1', seed);
      });
    }
  });

  it('BERT-base attention (12 heads x 128 rows of 128 realistic scores, 16 masked keys) on all four machines', () => {
    const s = bertScores('softmax bert-base', 16);
    const input: Case = { x_int: Array.from(s.scores), shape: [12, 128, 128], scale_in: s.scaleIn, mask: s.mask ?? [] };
    for (const [name, cfg] of MACHINES) {
      const { run } = simMatches(input, cfg, `bert-base:${name}`);
      if (s.probs) expectSame(run.y_int, s.probs, 'sim vs layer 1 (runLayer probs)', `bert-base:${name}`);
    }
  });

  it('edge cases: one-hot, constant, fully masked, ties, int32 extremes', () => {
    const L = 40;
    const rows: number[][] = [];
    const oneHot = Array.from({ length: L }, () => -5000);
    oneHot[7] = 90000;
    rows.push(oneHot); // one-hot: e16 = 32767 at the max, 0 elsewhere
    rows.push(Array.from({ length: L }, () => 1234)); // constant row: uniform
    rows.push(Array.from({ length: L }, (_, i) => (i % 2 ? 500 : -500))); // ties
    rows.push(Array.from({ length: L }, (_, i) => (i % 3 === 0 ? 2147483647 : -2147483648))); // int32 extremes
    rows.push(Array.from({ length: L }, (_, i) => -2147483648 + i)); // very negative, near-equal
    rows.push(Array.from({ length: L }, (_, i) => 2147483647 - i * 1000)); // near int32 max
    rows.push(Array.from({ length: L }, (_, i) => (i === 0 ? 0 : -2147483648))); // one real score
    rows.push(Array.from({ length: L }, () => 0)); // will be fully masked
    const x = rows.flat();
    const maskEl = x.map((_, i) => (Math.floor(i / L) === 7 || (Math.floor(i / L) === 2 && i % 5 === 0) ? 0 : 1));
    const cases: Array<[string, Case]> = [
      ['plain', { x_int: x, shape: [rows.length, L], scale_in: 2e-4 }],
      ['element mask', { x_int: x, shape: [rows.length, L], scale_in: 2e-4, mask: maskEl }],
      ['all masked', { x_int: x, shape: [rows.length, L], scale_in: 2e-4, mask: Array<number>(L).fill(0) }],
      ['large scale', { x_int: x, shape: [rows.length, L], scale_in: 0.5 }],
      ['scale 1', { x_int: x.map((v) => v >> 20), shape: [rows.length, L], scale_in: 1 }],
      ['tiny scale (z pre-shift)', { x_int: x, shape: [rows.length, L], scale_in: 1e-6 }],
      ['inner range too small (row max saturates, e16 shift below 0)', { x_int: x, shape: [rows.length, L], scale_in: 2e-4, x_min: 0, x_max: 500 }],
      ['inner range 4x too small', { x_int: x, shape: [rows.length, L], scale_in: 2e-4, x_min: -1, x_max: 2e16 }],
      ['inner range huge (E0 small)', { x_int: x, shape: [rows.length, L], scale_in: 2e-4, x_min: 0, x_max: 4e20 }],
    ];
    for (const [label, input] of cases) {
      const npu = npuCaseSoftmax(input);
      const ref = refCaseSoftmax(input);
      if (!label.startsWith('tiny')) expectSame(npu.y_int, ref.y_int, `layer 2 vs layer 1 (${label})`, `edge cases:${label}`);
      for (const [name, cfg] of MACHINES) simMatches(input, cfg, `edge cases:${label}:${name}`);
    }
    // spot checks of the semantics: a one-hot row is 255 at the max and 0 elsewhere; a fully masked row is uniform
    const plain = npuCaseSoftmax(cases[0]![1]).y_int;
    expect(plain.slice(0, L)).toEqual(Array.from({ length: L }, (_, i) => (i === 7 ? 255 : 0)));
    const masked = npuCaseSoftmax(cases[1]![1]).y_int.slice(7 * L, 8 * L);
    expect(new Set(masked).size).toBe(1);
    expect(masked[0]).toBe(Math.floor((32767 * Math.floor(2 ** 32 / (L * 32767))) / 2 ** 24));
  });

  it('every schedule variant (score order, chunk size, Newton on a divider machine) is bit-exact and priced within 5 %', () => {
    const variants: ReadonlyArray<readonly [string, SoftmaxBuildOptions]> = [
      ['scores reloaded', { xResident: false }], ['scores resident', { xResident: true }], ['small chunks', { chunkRows: 6 }],
      ['odd chunks', { chunkRows: 7 }], ['newton', { reciprocal: 'newton' }], ['newton reloaded', { reciprocal: 'newton', xResident: false }],
    ];
    for (const [cfgName, cfg] of [['edge', edge], ['server', server]] as const) {
      for (const [label, build] of variants) {
        for (const [rows, L, mask] of [[90, 64, 'element'], [75, 128, 'position'], [40, 33, 'none']] as const) {
          const seed = `schedule variants:${cfgName}:${label}:${rows}x${L}:${mask}`;
          const input = randomCase(seed, rows, L, mask);
          const run = runSoftmaxCase(input, cfg, { build });
          expectSame(run.y_int, npuCaseSoftmax(input).y_int, `sim vs layer 2 (${label})`, seed);
          if (build.xResident !== undefined) expect(run.plan.xResident).toBe(build.xResident);
          expect(Math.abs(run.model_cycles / run.cycles - 1), `${seed}: sim ${run.cycles}, model ${run.model_cycles}`).toBeLessThanOrEqual(0.05);
        }
      }
    }
  });

  it('uint8 output (probsU8): every byte is min(p, 255) of layer 2, on edge and server, divider and Newton, including p = 256', () => {
    // stale: a one-hot row under the range x_max = 2 q_c 2^30 is p = 256 in layer 2 (e16 = E0 = 16384 alone), stored
    // as 255 by the program's vmin; calibrated: E0 = 32767 is not a power of two, p <= 255, and the program has no vmin
    const S = 3.125e-4;
    const qc = Math.floor(2.792114744077415 / (S * S));
    for (const [name, cfg] of MACHINES) {
      for (const [rows, L, mask] of [[40, 64, 'element'], [27, 33, 'position'], [14, 200, 'none']] as const) {
        for (const stale of [true, false]) {
          const seed = `uint8 output:${name}:${rows}x${L}:${mask}:${stale ? 'stale' : 'calibrated'}`;
          const input: Case = randomCase(seed, rows, L, mask, S);
          input.x_int.fill(-(2 ** 31), 0, L);
          input.x_int[3] = 5000; // row 0: one-hot
          if (mask === 'element') (input['mask'] as number[]).fill(1, 0, L);
          if (stale) {
            input['x_min'] = 0;
            input['x_max'] = 2 * qc * 2 ** 30;
          }
          const want = npuCaseSoftmax(input).y_int;
          expect(want[3], seed).toBe(stale ? 256 : 255);
          const run = runSoftmaxCase(input, cfg, { build: { probsU8: true } });
          expectSame(run.y_int, Array.from(npuPvInts(want)), `sim uint8 vs min(layer 2, 255) on ${name}`, seed);
          expect(run.y_int[3], seed).toBe(255);
          expect(run.program.sourceLines.some((l) => l.trim().startsWith('vmin.vx')), seed).toBe(stale);
          expect(run.sim.stats.dram_write_bytes, seed).toBe(rows * L);
          expect(Math.abs(run.model_cycles / run.cycles - 1), `${seed}: sim ${run.cycles}, model ${run.model_cycles}`).toBeLessThanOrEqual(0.05);
        }
      }
    }
  });

  it('a pipelined divider: f read two rows after its div.w (recipLag 2) and the split exp stage are bit-exact, priced within 5 %, chosen, and faster', () => {
    const pipe = (preset: string) => parseMachine({ preset, name: `${preset}-pipelined-divider`, divider: { divIntervalCycles: 1, sqrtIntervalCycles: 1 } });
    for (const cfg of [pipe('server'), pipe('edge')]) {
      for (const [rows, L, mask] of [[96, 128, 'none'], [42, 100, 'position'], [36, 64, 'element']] as const) {
        const seed = `pipelined divider:${cfg.name}:${rows}x${L}:${mask}`;
        const input = randomCase(seed, rows, L, mask);
        const want = npuCaseSoftmax(input).y_int;
        const cycles: Record<string, number> = {};
        if (Math.ceil(L / cfg.vpu.lanes) > 2) {
          // six e16 sets of four vectors do not fit 32 registers: refused, and lag 1 it is
          expect(() => runSoftmaxCase(input, cfg, { build: { recipLag: 2 } }), seed).toThrow(/recipLag 2 needs .* vector registers/);
          expect(runSoftmaxCase(input, cfg).plan.recipLag, seed).toBe(1);
          continue;
        }
        const variants: ReadonlyArray<readonly [string, SoftmaxBuildOptions]> = [
          ['lag 1', { recipLag: 1, splitExp: false }], ['lag 2', { recipLag: 2, splitExp: false }],
          ['lag 1 split', { recipLag: 1, splitExp: true }], ['lag 2 split', { recipLag: 2, splitExp: true }],
        ];
        for (const [label, build] of variants) {
          const run = runSoftmaxCase(input, cfg, { build });
          expectSame(run.y_int, want, `sim vs layer 2 (${label})`, seed);
          expect(Math.abs(run.model_cycles / run.cycles - 1), `${seed}: ${label}: sim ${run.cycles}, model ${run.model_cycles}`).toBeLessThanOrEqual(0.05);
          cycles[label] = run.cycles;
        }
        const chosen = runSoftmaxCase(input, cfg);
        if (cfg.vpu.lanes === 128 && L === 128 && mask === 'none') {
          // the layer's shape on server: a row's iteration is shorter than the division's 34 cycles, and a row's exp
          // chain alone on the in-order VPU is longer than its instructions
          expect(chosen.plan.recipLag, seed).toBe(2);
          expect(chosen.plan.splitExp, seed).toBe(true);
          expect(cycles['lag 2']!, seed).toBeLessThan(cycles['lag 1']!);
          expect(cycles['lag 2 split']!, seed).toBeLessThan(0.85 * cycles['lag 2']!);
        }
        // the plan's choice is the fastest (within 1 %: the model ties where neither the division nor the chain binds)
        expect(chosen.cycles, seed).toBe(cycles[`lag ${chosen.plan.recipLag}${chosen.plan.splitExp ? ' split' : ''}`]);
        expect(chosen.cycles, seed).toBeLessThanOrEqual(1.01 * Math.min(...Object.values(cycles)));
      }
    }
    // an iterative divider (server's shape with the divider busy for its whole latency): lag 1, no split; the split
    // stage is bit-exact there too
    const iterative = parseMachine({ preset: 'server', divider: { divIntervalCycles: 34, sqrtIntervalCycles: 34 } });
    const preset = randomCase('pipelined divider:preset', 30, 128, 'position');
    expect(runSoftmaxCase(preset, iterative).plan).toMatchObject({ recipLag: 1, splitExp: false });
    expectSame(runSoftmaxCase(preset, iterative, { build: { splitExp: true } }).y_int, npuCaseSoftmax(preset).y_int, 'split on server', 'pipelined divider:preset');
  });

  it('the Newton reciprocal equals floor(2^32 / sum) for sums across magnitudes (inner ranges scale e16)', () => {
    // E0 = e16 of the row max shrinks as the inner range grows, so row sums sweep 3 .. 2^22.
    for (const [scaleUp, L] of [[1, 64], [1, 2000], [7, 64], [300, 100], [2000, 64], [8000, 64]] as const) {
      const S = 2e-4;
      const seed = `newton sums:${scaleUp}:${L}`;
      const xMax = Math.fround(foldSoftmax(S).qc * 2 ** 30) * scaleUp;
      const input: Case = { ...randomCase(seed, 30, L, 'none', S), x_min: 0, x_max: xMax };
      for (const cfg of [edgeNoDiv, serverNoDiv]) simMatches(input, cfg, seed);
    }
  });
});

describe('softmax cycles: simulator against the schedule model', () => {
  const relErr = (sim: number, model: number): number => Math.abs(model / sim - 1);

  it('BERT-base shape within 5 % on edge and server (divider and Newton); bounds and utilization as designed', () => {
    const rows = 12 * 128, L = 128;
    const input: Case = { x_int: Array.from(syntheticScores('cycles bert', rows, L, 2e-4)), shape: [rows, L], scale_in: 2e-4 };
    // server pipelines its divider (one division per cycle): its one-vector rows merge their stages' chains on the
    // in-order VPU, and the front end (13 vector + 3 scalar instructions and the division per row) binds; server's
    // shape with an iterative divider (busy for its 34-cycle latency, one division per 128-lane row) is divider-bound
    const serverIterative = parseMachine({ preset: 'server', divider: { divIntervalCycles: 34, sqrtIntervalCycles: 34 } });
    const expected: Record<string, string> = { edge: 'frontend', server: 'frontend', 'server-iterative': 'divider', 'edge-no-divider': 'vpu', 'server-no-divider': 'vpu' };
    for (const [name, cfg] of [...MACHINES, ['server-iterative', serverIterative] as const]) {
      const run = simCaseSoftmax(input, cfg);
      const model = softmaxModel(rows, L, cfg);
      expect(run.model_cycles).toBe(model.cycles);
      expect(relErr(run.cycles, model.cycles), `${name}: sim ${run.cycles}, model ${model.cycles}`).toBeLessThanOrEqual(0.05);
      expect(model.bound, name).toBe(expected[name]);
      const s = run.sim.stats;
      expect(s.dram_bytes, name).toBe(model.dramBytes);
      // never faster than the busiest resource
      const busiest = Math.max(model.perRow.frontend, model.perRow.divider, model.perRow.dram) * rows;
      expect(run.cycles, name).toBeGreaterThanOrEqual(busiest);
      if (name === 'edge') expect(s.utilization!['vpu']!).toBeGreaterThan(0.85);
      if (name === 'server-iterative') expect(s.utilization!['divider']!).toBeGreaterThan(0.95);
      if (name === 'server') {
        // f is read two rows after its div.w and the exp stage is split and merged: the divider idles (one division
        // per row of ~18 cycles); the front end's 17 instructions per row, not the division's latency or the VPU's
        // dependency chains, set the row period (within 8 % of it, with the chunks and the drain)
        expect(model.plan).toMatchObject({ recipLag: 2, splitExp: true });
        expect(s.utilization!['divider']!).toBeLessThan(0.1);
        expect(model.perRow.frontend).toBe(17);
        expect(model.perRow.vpu).toBeLessThan(model.perRow.frontend);
        expect(run.cycles).toBeLessThan(1.08 * 17 * rows);
        expect(s.utilization!['vpu']!).toBeGreaterThan(0.65);
      }
    }
  });

  it('other shapes and masks (outer loop over chunk pairs, element masks in it): bit-exact, within 5 %', () => {
    const shapes: ReadonlyArray<readonly [number, number, 'none' | 'element' | 'position', MachineConfig]> = [
      [64, 128, 'none', edge], [30, 300, 'none', edge], [128, 768, 'element', edge], [16, 3072, 'none', edge], [500, 64, 'position', edge],
      [300, 64, 'element', edge], [256, 512, 'none', server], [500, 200, 'element', server], [600, 128, 'position', server],
      [100, 100, 'element', edgeNoDiv], [400, 96, 'element', serverNoDiv],
    ];
    let outerLoops = 0;
    for (const [rows, L, mask, cfg] of shapes) {
      const seed = `cycles shapes:${rows}x${L}:${mask}:${cfg.name}`;
      const input = randomCase(seed, rows, L, mask);
      const { run } = simMatches(input, cfg, seed);
      if (softmaxModel(rows, L, cfg, { mask }).plan.outerPasses > 0) outerLoops++;
      expect(relErr(run.cycles, run.model_cycles), `${seed}: sim ${run.cycles}, model ${run.model_cycles}`).toBeLessThanOrEqual(0.05);
    }
    expect(outerLoops).toBeGreaterThanOrEqual(4);
  });

  it('no static-instruction cliff: a seq-512 layer softmax on edge (chunks cut by the memories) still loops over chunk pairs', () => {
    const c = parseSoftmaxCase({ x_int: [0], scale_in: 2e-4 }).consts;
    for (const T of [384, 448, 512]) {
      const rows = 12 * T;
      const p = softmaxModel(rows, T, edge, { mask: 'position' }).plan;
      expect(p.chunkRows, `T ${T}`).toBeLessThan(rows);
      expect(p.outerPasses, `T ${T}: chunkRows ${p.chunkRows}`).toBeGreaterThan(0);
      const built = buildSoftmax({ rows, rowLen: T, consts: c, mask: 'position' }, edge);
      const staticInstrs = built.program!.words.length / 2;
      // a few chunks in line plus the loop bodies: tens of thousands at most, not the ~960,000 of every chunk in line
      expect(staticInstrs, `T ${T}`).toBeLessThan(40_000);
    }
  });

  it('a row that cannot fit names the buffer and the bytes', () => {
    const c = parseSoftmaxCase({ x_int: [0], scale_in: 2e-4 }).consts;
    expect(() => buildSoftmax({ rows: 2, rowLen: 10_000, consts: c, mask: 'none' }, edge)).toThrow(/'xa' needs 80128 bytes.*65536/);
    try {
      softmaxModel(2, 10_000, edge);
      expect.fail('no error');
    } catch (e) {
      expect((e as { exitCode?: number }).exitCode).toBe(1);
    }
  });
});
