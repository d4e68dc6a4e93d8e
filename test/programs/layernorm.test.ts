// The fused LayerNorm + QuantAct(8) kernel: layer 2 (kernels/npu/layernorm.ts) against independent oracles and
// layer 1, the program (programs/layernorm/build.ts) against layer 2 on the simulator, every element compared, with and
// without a divider; the cycle model (programs/layernorm/model.ts) against the simulated cycles.
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../isa/asm.js';
import { fl32 } from '../../kernels/ref/fold.js';
import { layernormModel, layernormPlan, softMeanOps, softRecipOps } from '../../programs/layernorm/model.js';
import {
  exampleCaseLayerNorm, fidelityLayerNorm, foldLayerNormNpu, layerNormNpuLane, layerNormRowScalars, LN_GENERAL, npuCaseLayerNorm,
  parseLayerNormCase, refCaseLayerNorm,
} from '../../kernels/npu/layernorm.js';
import { outputVectorAsm, simCaseLayerNorm } from '../../programs/layernorm/build.js';
import { foldRequantActNpu, requantActNpuApply } from '../../kernels/npu/requant-act.js';
import { TilingError } from '../../programs/schedule.js';
import { loadMachine, parseMachine, type MachineConfig } from '../../sim/config.js';
import { Machine } from '../../sim/machine.js';
import { loadProgram, simulate } from '../../sim/run.js';

const edge = loadMachine('edge');
const server = loadMachine('server');
const edgeNoDiv = parseMachine({ divider: { present: false } });
const serverNoDiv = parseMachine({ preset: 'server', divider: { present: false } });
const lanes8 = parseMachine({ vpu: { lanes: 8 } });
const FILE = 'test/programs/layernorm.test.ts';

function repro(seed: string): string {
  return `seed '${seed}'; reproduce: npx vitest run ${FILE} -t "${seed.split(/[:(]/)[0]!.trim()}"`;
}

function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, seed: string, what = 'sim', other = 'npu'): void {
  expect(got.length, repro(seed)).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) expect.fail(`element ${i}: ${what} ${got[i]} != ${other} ${want[i]} (${repro(seed)})`);
  }
}

type Case = { shape: number[]; x_int: number[]; gamma: number[]; beta: number[]; shift: number; out_x_min: number; out_x_max: number };

/** Rows of several kinds (random 22-bit, constant, one-hot, near-constant, extremes), seeded. */
function randomCase(seed: string, rows: number, C: number, opts: { shift?: number; corner?: boolean; range?: number } = {}): Case {
  const rng = seedrandom.alea(seed);
  const shift = opts.shift ?? Math.floor(rng() * 8);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rng() * a.length)]!;
  const x: number[] = [];
  for (let r = 0; r < rows; r++) {
    const kind = pick(['rand', 'rand', 'const', 'onehot', 'onehot1', 'near', 'edge', 'small']);
    const base = Math.floor((rng() - 0.5) * 2 ** 21);
    const hot = Math.floor(rng() * C);
    for (let c = 0; c < C; c++) {
      let v: number;
      if (kind === 'rand') v = Math.floor((rng() - 0.5) * 2 ** 22);
      else if (kind === 'const') v = base;
      else if (kind === 'onehot') v = c === hot ? pick([2097151, -2097152, 12345]) : 0;
      else if (kind === 'onehot1') v = c === hot ? 1 : 0;
      else if (kind === 'near') v = base + Math.floor(rng() * 2 ** (shift + 1));
      else if (kind === 'edge') v = pick([2097151, -2097152]);
      else v = Math.floor((rng() - 0.5) * 64);
      x.push(Math.max(-2097152, Math.min(2097151, v)));
    }
  }
  const gamma = Array.from({ length: C }, () => {
    const g = opts.corner && rng() < 0.3 ? 10 ** (-6 + 5 * rng()) : 0.3 + rng();
    return fl32(rng() < 0.2 ? -g : g);
  });
  const beta = Array.from({ length: C }, () => fl32((rng() - 0.5) * (opts.corner && rng() < 0.3 ? 20 : 0.4)));
  const range = opts.range ?? 0.5 + 20 * rng();
  return { shape: [rows, C], x_int: x, gamma, beta, shift, out_x_min: -range * rng(), out_x_max: range };
}

// ---- independent oracles (BigInt, written here) ----
const bigFloorDiv = (a: bigint, b: bigint): bigint => {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
};
const bigIsqrt = (v: bigint): bigint => {
  if (v < 2n) return v;
  let x = BigInt(Math.floor(Math.sqrt(Number(v))));
  while (x * x > v) x -= 1n;
  while ((x + 1n) * (x + 1n) <= v) x += 1n;
  return x;
};
function oracleRow(x: readonly number[], base: number, C: number, shift: number): { mu: number; S: number; nf: number } {
  let s = 0n;
  for (let c = 0; c < C; c++) s += BigInt(x[base + c]!);
  const Cb = BigInt(C);
  let q = bigFloorDiv(s, Cb);
  const r2 = 2n * (s - q * Cb);
  if (r2 > Cb || (r2 === Cb && (q & 1n) === 1n)) q += 1n;
  let V = 0n;
  for (let c = 0; c < C; c++) {
    const ys = (BigInt(x[base + c]!) - q) >> BigInt(shift);
    V += ys * ys;
  }
  const S = bigIsqrt(V);
  const f = S === 0n ? 0n : (1n << 31n) / (S << BigInt(shift));
  return { mu: Number(q), S: Number(S), nf: Number(-f) };
}

describe('layernorm layer 2 (NPU kernel semantics)', () => {
  it('row scalars: mu, isqrt(V) and -floor(2^31 / (S << shift)) equal a BigInt oracle', () => {
    const seed = 'row scalars';
    for (let t = 0; t < 30; t++) {
      const C = [1, 2, 3, 17, 768, 1024, 3000][t % 7]!;
      const c = randomCase(`${seed}:${t}`, 6, C, { shift: t % 9 });
      for (let r = 0; r < 6; r++) {
        const got = layerNormRowScalars(c.x_int, r * C, C, c.shift);
        const want = oracleRow(c.x_int, r * C, C, c.shift);
        expect(got, `${repro(`${seed}:${t}`)} row ${r}`).toEqual(want);
      }
    }
  });

  it('fidelity on a BERT-base synthetic layer: >= 99.9 % identical int8 outputs, never more than one step apart', () => {
    const f = fidelityLayerNorm({ seed: 'fidelity:layernorm' });
    console.log(`layernorm fidelity: ${f.setting}: ${f.identical}/${f.n} identical (${(100 * f.identical_share).toFixed(4)} %), max diff ${f.max_abs_diff}`);
    expect(f.n).toBe(2 * 128 * 768);
    expect(f.identical_share, JSON.stringify(f.first_diff)).toBeGreaterThanOrEqual(0.999);
    expect(f.max_abs_diff).toBeLessThanOrEqual(1);
    // With this layer's constants (all channels on the direct path) layer 2 is layer 1 exactly.
    expect(f.identical).toBe(f.n);
  });

  it('general path and its e >= 63 step form equal layer 1 on corner channels (tiny gamma, large beta, odd ranges)', () => {
    let general = 0, elements = 0, clampedCases = 0;
    for (let t = 0; t < 120; t++) {
      const seed = `corner channels:${t}`;
      const rng = seedrandom.alea(seed);
      const c = randomCase(seed, 6, [1, 2, 5, 40, 64][t % 5]!, { corner: true, shift: [0, 0, 3, 7, 20][t % 5]!, range: 10 ** (-6 + 9 * rng()) });
      const npu = npuCaseLayerNorm(c);
      if ((npu.consts['npu_clamped_channels'] as number[]).length > 0) {
        clampedCases++;
        continue; // deviation 2, tested below
      }
      general += npu.consts['npu_general_channels'] as number;
      expectSame(npu.y_int, refCaseLayerNorm(c).y_int, seed, 'npu', 'ref');
      elements += npu.y_int.length;
    }
    expect(general).toBeGreaterThan(200);
    expect(elements).toBeGreaterThan(10000);
    expect(clampedCases).toBeLessThan(20);
  });

  it('deviation 2: a channel with e <= 33 and |q_beta| > 2^30 is reported as clamped', () => {
    // gamma 1 with a range of 1e-7 gives e = 25; beta 30 gives q_beta ~ 1.2e9 > 2^30.
    const C = 4;
    const c = { shape: [2, C], x_int: [0, 1, 2, 3, 5, -5, 0, 7], gamma: [1, 1, 1, 1], beta: [30, 0, 0, 0], shift: 0, out_x_min: -1e-7, out_x_max: 1e-7 };
    const npu = npuCaseLayerNorm(c);
    expect(npu.consts['npu_clamped_channels']).toEqual([0]);
    // The other channels are exact.
    const ref = refCaseLayerNorm(c).y_int;
    for (let i = 0; i < ref.length; i++) if (i % C !== 0) expect(npu.y_int[i]).toBe(ref[i]);
  });

  it('rejects inputs outside the 22-bit domain and invalid cases, naming the field', () => {
    const c = randomCase('domain', 2, 5);
    expect(() => npuCaseLayerNorm({ ...c, x_int: c.x_int.map((v, i) => (i === 7 ? 2097152 : v)) })).toThrow(/x_int\[7\]: 2097152 is outside the 22-bit/);
    expect(() => refCaseLayerNorm({ ...c, out_x_min: undefined })).toThrow(/out_x_min/);
    expect(() => parseLayerNormCase({ ...c, gamma: [1, 0, 1, 1, 1] })).toThrow(/gamma/);
    expect(() => parseLayerNormCase({ ...c, beta: [1, 2] })).toThrow(/beta: 2 values/);
    expect(() => parseLayerNormCase({ ...c, out_bits: 16 })).toThrow(/out_bits/);
  });

  it('example cases: small is 4 x 45, base is 128 x 768, and layer 2 equals layer 1 on both', () => {
    for (const size of ['small', 'base'] as const) {
      const c = exampleCaseLayerNorm(size, 'example cases');
      const npu = npuCaseLayerNorm(c);
      expect(npu.shape).toEqual(size === 'base' ? [128, 768] : [4, 45]);
      expectSame(npu.y_int, refCaseLayerNorm(c).y_int, `example cases:${size}`, 'npu', 'ref');
    }
  });
});

/** Runs the case on the simulator and compares every element with layer 2. */
function simVsNpu(c: unknown, cfg: MachineConfig, seed: string, mode: 'full' | 'timing' = 'full') {
  const run = simCaseLayerNorm(c, cfg, { mode });
  if (mode === 'full') expectSame(run.y_int, npuCaseLayerNorm(c).y_int, `${seed} (${cfg.name}${cfg.divider.present ? '' : ', no divider'})`);
  return run;
}

describe('layernorm with a second requantization in its output stage (layer step 11 folded into steps 9-10)', () => {
  it('every element equals layer 2 followed by requant-act layer 2; model within 1 %; general-path plans refuse it', () => {
    let ran = 0, refused = 0;
    for (const cfg of [edge, server, edgeNoDiv]) {
      for (const [rows, C, corner] of [[9, 70, false], [20, 96, false], [6, 64, true]] as const) {
        const seed = `second requant:${rows}x${C}:${corner}:${cfg.name}:${cfg.divider.present}`;
        const c = randomCase(seed, rows, C, { corner, range: 3 });
        const second = { m: 1518500250, e: 31 }; // ~ x 0.707
        let run;
        try {
          run = simCaseLayerNorm(c, cfg, { second });
        } catch (e) {
          expect(e, seed).toBeInstanceOf(TilingError);
          refused++;
          continue;
        }
        ran++;
        const y = npuCaseLayerNorm(c).y_int;
        const want = requantActNpuApply(Int32Array.from(y), foldRequantActNpu({ bits: 8, scaleOut: 1, m: [second.m], e: [second.e] }));
        expectSame(run.y_int, Array.from(want), seed, 'sim', 'npu + requant');
        expect(run.y_int.some((v, i) => v !== y[i]), seed).toBe(true); // the second requantization did something
        expect(Math.abs(run.model_cycles / run.cycles - 1), `${seed}: sim ${run.cycles} model ${run.model_cycles}`).toBeLessThanOrEqual(0.01);
      }
    }
    expect(ran).toBeGreaterThanOrEqual(6);
    expect(ran + refused).toBe(9);
  });
});

describe('layernorm on the simulator', () => {
  it('bit-exact through the pipeline prologue, loop and epilogue (rows 0..14, C not a multiple of the lanes)', () => {
    for (const cfg of [edge, lanes8, edgeNoDiv]) {
      for (let rows = 0; rows <= 14; rows++) {
        const C = [45, 8, 1, 33, 100][rows % 5]!;
        simVsNpu(randomCase(`pipeline prologue:${rows}`, rows, C), cfg, `pipeline prologue:${rows}`);
      }
    }
  });

  it('edge cases: constant and one-hot rows, extremes, saturation, negative gamma, general-path channels', () => {
    const cases: Array<[string, Case]> = [];
    for (let t = 0; t < 6; t++) cases.push([`edge cases:${t}`, randomCase(`edge cases:${t}`, 9, [3, 40, 77][t % 3]!, { corner: t >= 3, shift: [0, 5, 12][t % 3]! })]);
    const C = 40;
    cases.push(['edge cases:saturating', { ...randomCase('edge cases:saturating', 7, C), out_x_min: -1e-3, out_x_max: 1e-3 }]);
    cases.push(['edge cases:constant', { shape: [3, C], x_int: new Array<number>(3 * C).fill(-2097152), gamma: new Array<number>(C).fill(-0.5), beta: new Array<number>(C).fill(0.3), shift: 0, out_x_min: -1, out_x_max: 1 }]);
    for (const [seed, c] of cases) for (const cfg of [edge, server, edgeNoDiv, serverNoDiv]) simVsNpu(c, cfg, seed);
  });

  it('BERT-base 128 x 768 on edge and server: bit-exact, model within 5 %, VPU-bound on edge', () => {
    const c = exampleCaseLayerNorm('base', 'BERT-base');
    for (const [cfg, noDiv] of [[edge, edgeNoDiv], [server, serverNoDiv]] as const) {
      for (const m of [cfg, noDiv]) {
        const run = simVsNpu(c, m, 'BERT-base');
        const s = run.sim.stats;
        const rel = Math.abs(run.model_cycles / s.cycles! - 1);
        console.log(`layernorm [128, 768] on ${m.name}${m.divider.present ? '' : ' without divider'}: sim ${s.cycles} model ${run.model_cycles} ` +
          `(${(100 * (run.model_cycles / s.cycles! - 1)).toFixed(2)} %); VPU ${(100 * s.utilization!['vpu']!).toFixed(1)} %, divider ` +
          `${(100 * s.utilization!['divider']!).toFixed(1)} %, DRAM channel ${(100 * s.dram_channel_utilization!).toFixed(1)} %; stalls ${JSON.stringify(s.stall_cycles)}`);
        expect(rel, `${m.name} divider ${m.divider.present}: sim ${s.cycles} model ${run.model_cycles}`).toBeLessThanOrEqual(0.05);
        expect(run.model_exact).toBe(false);
      }
    }
    const e = simCaseLayerNorm(c, edge, { mode: 'timing' }).sim.stats;
    expect(e.utilization!['vpu']!).toBeGreaterThan(0.85);
  });

  it('constants resident in registers (<= 6 vectors per row, divider, no general vectors): loaded once, bit-exact, model within 1 %', () => {
    const pipelined = parseMachine({ preset: 'server', name: 'server-pipelined-divider', divider: { divIntervalCycles: 1, sqrtIntervalCycles: 1 } });
    const c = randomCase('resident constants', 24, 700, {}); // 6 vectors of 128 lanes, the last of 60; no general-path channel
    for (const cfg of [server, pipelined]) {
      const seed = `resident constants:${cfg.name}`;
      const plan = layernormPlan(24, 700, cfg);
      expect(plan.constsResident, seed).toBe(true);
      const run = simVsNpu(c, cfg, seed);
      // B2, M, E of each vector are read through r12 once, not once per row
      const constLoads = run.program.sourceLines.filter((l) => /^\s*vld\.acc v\d+, r12,/.test(l)).length;
      expect(constLoads, seed).toBe(3 * plan.vectors);
      // the output, variance and sum pointers carry from row to row (24 rows wrap the ring of 6 slots 4 times): each
      // is set only for the ring's slot 0, the y pointer only for its first of two slots
      for (const reg of ['r9', 'r10', 'r11']) {
        const sets = run.program.sourceLines.filter((l) => new RegExp(`^\\s*li\\s+${reg},`).test(l));
        expect(sets.length, `${seed}: ${reg}`).toBeGreaterThan(0);
        for (const l of sets) expect(l.trim(), `${seed}: ${reg}`).toBe(`li ${reg}, xring`);
      }
      for (const l of run.program.sourceLines.filter((x) => /^\s*li\s+r13,/.test(x))) expect(l.trim(), seed).toBe('li r13, yring');
      expect(Math.abs(run.model_cycles / run.cycles - 1), `${seed}: sim ${run.cycles} model ${run.model_cycles}`).toBeLessThanOrEqual(0.01);
    }
    // more vectors than registers (edge: 24 per row), general vectors or no divider: the per-row loads stay
    expect(layernormPlan(24, 768, edge).constsResident).toBe(false);
    expect(layernormPlan(24, 768, server, [2]).constsResident).toBe(false);
    expect(layernormPlan(24, 768, serverNoDiv).constsResident).toBe(false);
  });

  it('model within 5 % of the simulated cycles across shapes and machines (timing mode)', () => {
    const slowDiv = parseMachine({ divider: { divLatencyCycles: 80, sqrtLatencyCycles: 60 } });
    const lowBw = parseMachine({ dram: { bytesPerCycle: 4 } });
    const shapes: Array<[number, number]> = [[1, 45], [5, 45], [9, 100], [30, 768], [64, 200], [16, 1024]];
    for (const cfg of [edge, server, lanes8, slowDiv, lowBw, edgeNoDiv, serverNoDiv]) {
      for (const [rows, C] of shapes) {
        const c = randomCase(`model:${rows}x${C}`, rows, C, { corner: rows === 5 });
        const run = simCaseLayerNorm(c, cfg, { mode: 'timing' });
        const rel = Math.abs(run.model_cycles / run.sim.stats.cycles! - 1);
        expect(rel, `${rows}x${C} on ${cfg.name} (divider ${cfg.divider.present}): sim ${run.sim.stats.cycles} model ${run.model_cycles}`).toBeLessThanOrEqual(0.05);
      }
    }
  });

  it('timing-only and full runs give identical cycles', () => {
    const c = randomCase('timing-only', 12, 100);
    for (const cfg of [edge, edgeNoDiv]) {
      expect(simCaseLayerNorm(c, cfg, { mode: 'timing' }).cycles).toBe(simCaseLayerNorm(c, cfg).cycles);
    }
  });

  it('a shape that cannot fit names the buffers and the bytes; no divider needs C <= 1024', () => {
    expect(() => layernormPlan(4, 4000, edge)).toThrow(/accumulator buffers 'consts' \(\d+ bytes\) and 'xring' .* need \d+ bytes, acc holds 65536/);
    expect(() => layernormModel(4, 1025, edgeNoDiv)).toThrow(/C <= 1024/);
    expect(layernormPlan(4, 2000, edge).prefetch).toBeLessThan(2); // shrinks the prefetch before giving up
  });
});

// ---- the software routines on the simulator, value by value, against exact integer results ----

/** Runs a routine per input value with vl = 1 and returns lane 0 of its result register per value. */
function runRoutine(values: ReadonlyArray<readonly [number, number]>, body: (lo: number, hi: number) => string[], result: string, C: number, shift: number): number[] {
  const src: string[] = [
    `.buffer out, acc, ${values.length}`,
    'li r1, 1', `li r2, ${shift}`, `li r6, ${C}`, 'vsetvl r0, r1',
    'vbcast v22, r1', 'vbcast v23, r0', 'vbcast v30, r6', 'addi r18, r6, -1', 'vbcast v31, r18', 'sub r18, r0, r6', 'vbcast v19, r18',
    'li r13, out',
  ];
  for (const [lo, hi] of values) src.push(...body(lo, hi), `vst.acc ${result}, r13, 1`);
  src.push('halt');
  const prog = assemble(src.join('\n'), { file: 'routine.s' });
  const sim = simulate(loadProgram(prog.words, prog), edgeNoDiv, { machine: new Machine(edgeNoDiv), mode: 'functional' });
  const b = prog.buffers.get('out')!;
  const bytes = sim.machine.readBytes(b, values.length);
  return Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, values.length));
}

describe('layernorm software routines (no divider)', () => {
  it('mean: rne(s / C) for every C kind, ties and extremes of the int32 sum', () => {
    const seed = 'mean: rne';
    const rng = seedrandom.alea(seed);
    for (const C of [1, 2, 3, 7, 45, 768, 1000, 1024]) {
      const sums: number[] = [-(2 ** 31), 2 ** 31 - 1, 0, 1, -1];
      for (let k = 0; k < 60; k++) {
        const q = Math.floor((rng() - 0.5) * 2 ** 31 / C);
        for (const r of [0, Math.floor(C / 2), Math.ceil(C / 2), C - 1]) sums.push(q * C + r);
        sums.push(Math.floor((rng() - 0.5) * 2 ** 32));
      }
      const ok = sums.filter((s) => s >= -(2 ** 31) && s < 2 ** 31);
      const ops = softMeanOps(C, 'v27').filter((o) => !o.text.startsWith('vbcast v12'));
      const got = runRoutine(ok.map((s) => [s, 0] as const), (lo) => [`li r14, ${lo}`, 'vbcast v12, r14', ...ops.map((o) => o.text)], 'v27', C, 0);
      const want = ok.map((s) => {
        const sb = BigInt(s), Cb = BigInt(C);
        let q = bigFloorDiv(sb, Cb);
        const r2 = 2n * (sb - q * Cb);
        if (r2 > Cb || (r2 === Cb && (q & 1n) === 1n)) q += 1n;
        return Number(q);
      });
      expectSame(got, want, `${seed}:C=${C}`, 'routine', 'exact');
    }
  });

  it('isqrt and 1/S: nf = -floor(2^(31-shift) / isqrt(V)) for squares, their neighbours and random V < 2^54', () => {
    const seed = 'isqrt and 1';
    const rng = seedrandom.alea(seed);
    const vs: bigint[] = [0n, 1n, 2n, 3n, 4n, 5n, (1n << 54n) - 1n, 1n << 30n, (1n << 30n) - 1n, 1n << 28n];
    for (let k = 0; k < 400; k++) {
      const bits = 1 + Math.floor(rng() * 54);
      const v = BigInt(Math.floor(rng() * 2 ** Math.min(bits, 50))) << BigInt(Math.max(0, bits - 50));
      const s = bigIsqrt(v);
      vs.push(v, s * s, s * s > 0n ? s * s - 1n : 0n, (s + 1n) * (s + 1n) - 1n);
    }
    for (const shift of [0, 6]) {
      const got = runRoutine(vs.map((v) => [Number(BigInt.asIntN(32, v)), Number(v >> 32n)] as const), (lo, hi) => [`li r16, ${lo}`, `li r17, ${hi}`, ...softRecipOps('v29').map((o) => o.text)], 'v29', 768, shift);
      const want = vs.map((v) => {
        const S = bigIsqrt(v);
        return S === 0n ? 0 : Number(-((1n << BigInt(31 - shift)) / S));
      });
      expectSame(got, want, `${seed}:shift=${shift}`, 'routine', 'exact');
    }
  });
});

// ---- the output stage lane by lane, on designed h values (rounding ties included) ----

/** Layer 1's requantized output of a channel as a function of h = floor(y f / 2). */
function oracleOut(h: bigint, qb: bigint, m: bigint, e: number): number {
  const p = (h + qb) * m;
  let q: bigint;
  if (e <= 0) q = p << BigInt(-e);
  else {
    const d = 1n << BigInt(e);
    q = bigFloorDiv(p, d);
    const r2 = 2n * (p - q * d);
    if (r2 > d || (r2 === d && (q & 1n) === 1n)) q += 1n;
  }
  return Number(q > 127n ? 127n : q < -128n ? -128n : q);
}

const H_LO = -(2 ** 30), H_HI = 2 ** 31 - 1; // the proven range of h

/** Runs the emitted output code of one vector over rows of h values (x = h, mu = 0, nf = -2: A = h + c1). */
function runOutputVector(general: boolean, consts: Int32Array, hs: readonly number[][]): number[][] {
  const L = 8;
  const cfg = lanes8;
  const src = [
    `.buffer hx, acc, ${hs.length * L}`, `.buffer k, acc, ${consts.length}`, `.buffer y, spad, ${hs.length * L}`,
    'li r1, 1', 'li r27, 32', 'li r28, -128', 'li r29, 127', 'vbcast v22, r1', 'vbcast v23, r0', 'li r18, -2', 'vbcast v21, r18', 'vbcast v20, r0',
    'li r11, hx', 'li r13, y',
  ];
  for (let i = 0; i < hs.length; i++) src.push('li r12, k', ...outputVectorAsm(general, L));
  src.push('halt');
  const prog = assemble(src.join('\n'), { file: 'outvec.s' });
  const m = new Machine(cfg);
  m.writeBuffer(prog.buffers.get('hx')!, Int32Array.from(hs.flat()));
  m.writeBuffer(prog.buffers.get('k')!, consts);
  const sim = simulate(loadProgram(prog.words, prog), cfg, { machine: m, mode: 'functional' });
  const y = new Int8Array(sim.machine.readBytes(prog.buffers.get('y')!, hs.length * L).buffer);
  return hs.map((_, i) => Array.from(y.subarray(i * L, i * L + L)));
}

describe('layernorm output stage lane by lane (rounding ties, general path, step form)', () => {
  it('direct and general lanes equal layer 1 at designed ties and the ends of the h range', () => {
    const seed = 'designed ties';
    const rng = seedrandom.alea(seed);
    // Eight channels per vector: (q_beta, m, e). Powers of two put exact ties inside the unsaturated window.
    const scenarios: Array<Array<[bigint, number, number]>> = [
      [[-(2n ** 30n) - 12345n, 2 ** 30, 34], [-(2n ** 30n) - 777n, 2 ** 30, 40], [2n ** 32n + 2n ** 31n - 5n, 2 ** 30, 62], [-(2n ** 33n) + 3n, -(2 ** 30), 50],
        [12345n, 2 ** 30, 40], [-5000n, -(2 ** 30), 36], [-(2n ** 31n) - 1n, 2 ** 30, 45], [2n ** 35n + 1n, 2 ** 30, 61]],
      [[-(2n ** 30n) - 99n, 1518500250, 37], [3n * 2n ** 31n, -1518500250, 60], [-(2n ** 38n), 2 ** 30, 70], [2n ** 38n + 12345n, -(2 ** 30), 66],
        [-(2n ** 36n) - 1n, 2147483647, 64], [2n ** 40n, 1234567891, 90], [0n, 2 ** 30, 33], [1n, 2147483648, 41]],
    ];
    let ties = 0;
    for (const [si, sc] of scenarios.entries()) {
      const qBeta = sc.map(([q]) => Number(q));
      const k = foldLayerNormNpu(qBeta, 0, { m: sc.map(([, m]) => m), e: sc.map(([, , e]) => e) });
      const general = Array.from(k.kind).some((v) => v === LN_GENERAL);
      const blocks = general ? [k.B2, k.M, k.E, k.Tlo, k.Thi, k.Kh, k.Sh, Int32Array.from(k.kind, (v) => (v === LN_GENERAL ? 1 : 0))] : [k.B2, k.M, k.E];
      const consts = Int32Array.from(blocks.flatMap((b) => Array.from(b)));
      // Per lane: ties h = 2^(e-31) - q_beta (mod 2^(e-30)) for m = +-2^30, their neighbours, the range ends, random h.
      const perLane: number[][] = sc.map(([q, m, e]) => {
        const out = [H_LO, H_HI, 0, -1, 1];
        if (Math.abs(m) === 2 ** 30 && e > 31 && e <= 62) {
          const per = 2n ** BigInt(e - 30);
          const h0 = ((2n ** BigInt(e - 31) - q) % per + per) % per; // a tie, in [0, per)
          let h = h0 - per * ((h0 - BigInt(H_LO)) / per); // the lowest tie >= H_LO
          for (let j = 0; j < 6 && h <= BigInt(H_HI); j++, h += per) out.push(Number(h) - 1, Number(h), Number(h) + 1);
        }
        // the step of an e >= 63 channel, found by bisection on the oracle
        let a = BigInt(H_LO), b = BigInt(H_HI);
        const hi = oracleOut(b, q, BigInt(m), e);
        if (oracleOut(a, q, BigInt(m), e) !== hi) {
          while (b - a > 1n) {
            const mid = (a + b) >> 1n;
            if (oracleOut(mid, q, BigInt(m), e) === hi) b = mid;
            else a = mid;
          }
          out.push(Number(a) - 1, Number(a), Number(b), Number(b) + 1);
        }
        while (out.length < 40) out.push(H_LO + Math.floor(rng() * (H_HI - H_LO)));
        return out.filter((h) => h >= H_LO && h <= H_HI);
      });
      const rows = Math.max(...perLane.map((l) => l.length));
      const hs = Array.from({ length: rows }, (_, i) => perLane.map((l) => l[i % l.length]!));
      const got = runOutputVector(general, consts, hs);
      hs.forEach((row, i) => row.forEach((h, c) => {
        const [q, m, e] = sc[c]!;
        const want = oracleOut(BigInt(h), q, BigInt(m), e);
        if (e > 0 && e <= 127 && ((BigInt(h) + q) * BigInt(m)) % (1n << BigInt(e)) === 1n << BigInt(e - 1)) ties++;
        // layer 2's lane (y f = 2h gives h) and the program's lane both equal layer 1
        const npu = layerNormNpuLane(2 * h, k, c);
        if (npu !== want) expect.fail(`scenario ${si} lane ${c} h ${h}: npu ${npu} != layer 1 ${want} (${repro(seed)})`);
        if (got[i]![c] !== want) expect.fail(`scenario ${si} lane ${c} h ${h}: sim ${got[i]![c]} != layer 1 ${want} (${repro(seed)})`);
      }));
    }
    expect(ties, 'exact ties exercised').toBeGreaterThan(20);
  });
});
