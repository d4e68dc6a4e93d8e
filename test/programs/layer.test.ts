// A whole encoder layer on the simulator (programs/models/layer.ts): small seeded layers end to end on edge and server,
// every step identical to the reference layer (kernels/ref/layer.ts), the total equal to the sum of the steps, the
// fused steps compared with the reference's later step, a step the NPU kernel cannot take reported (and the rest
// of the layer still checked), a wrong reference caught at the first differing step, and the `layer` command.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateLayer, type SyntheticLayerOptions } from '../../kernels/ref/generate.js';
import { compileLayer, runLayer } from '../../kernels/ref/layer.js';
import type { IbertLayerJson } from '../../kernels/ref/layer-format.js';
import { compileLayerSim, runLayerSim, type LayerSimResult } from '../../programs/models/layer.js';
import { loadMachine, type MachineConfig } from '../../sim/config.js';
import { layerCommand } from '../../cli/commands/layer.js';
import { repro as reproIn } from './helpers.js';

const FILE = 'test/programs/layer.test.ts';
const edge = loadMachine('edge');
const server = loadMachine('server');
const repro = (seed: string, test: string): string => reproIn(FILE, seed, test);

/** The kernel runs of a layer without fusion across kernels (runLayerSim's fuse: false), in order: [steps, reference name, kernel]. */
const PLAN_UNFUSED: readonly (readonly [string, string, string])[] = [
  // Q, K, V: the projection and its QuantAct(8) fused in one program (the accumulators stay on chip).
  ['1-2', 'query8', 'linear-requant'], ['1-2', 'key8', 'linear-requant'], ['1-2', 'value8', 'linear-requant'],
  ['3', 'scores', 'qk'], ['4', 'probs', 'softmax'], ['5', 'context', 'pv'], ['6', 'context8', 'requant-act'],
  ['7-8', 'ln1_input', 'linear-requant'], ['9-10', 'attention_output8', 'layernorm'],
  ['11', 'intermediate_input8', 'requant-act'], ['12', 'fc1_acc', 'linear'], ['13-14', 'gelu8', 'gelu'],
  ['15', 'fc2_input8', 'requant-act'], ['16-17', 'ln2_input', 'linear-requant'],
  ['18-19', 'output8', 'layernorm'],
];

/**
 * The default (fused) plan: Q.K^T and softmax in one program (the scores stay on chip); the step-11 rescale in
 * LayerNorm's output stage; fc1, i-GELU, its QuantAct(8) and the step-15 rescale in one program.
 */
const PLAN_PV_APART: readonly (readonly [string, string, string])[] = [
  ...PLAN_UNFUSED.slice(0, 3),
  ['3-4', 'probs', 'qk-softmax'],
  ...PLAN_UNFUSED.slice(5, 8),
  ['9-10-11', 'intermediate_input8', 'layernorm'],
  ['12-13-14-15', 'fc2_input8', 'linear-gelu'],
  ...PLAN_UNFUSED.slice(13),
];

/**
 * The default plan where P.V also takes the context QuantAct(8) (the layer runner folds it where the cycle models say
 * the fold is faster: edge yes, server, whose 64-column heads fill half the lanes, not).
 */
const PLAN: readonly (readonly [string, string, string])[] = [
  ...PLAN_PV_APART.slice(0, 4),
  ['5-6', 'context8', 'pv'],
  ...PLAN_PV_APART.slice(6),
];

function synth(seed: string, dims: Omit<SyntheticLayerOptions, 'seed'>) {
  const g = generateLayer({ seed, ...dims });
  const x = Int8Array.from(g.layer.input!.x_int);
  return { layer: g.layer, x, mask: g.mask };
}

function runOn(layer: IbertLayerJson, x: Int8Array, T: number, cfg: MachineConfig, mask: number[] | undefined): LayerSimResult {
  return runLayerSim(compileLayerSim(layer), x, T, cfg, mask === undefined ? {} : { mask });
}

/** Every step ran, is identical to the reference, and the totals add up; the output is the reference's. */
function expectExactLayer(r: LayerSimResult, seed: string, test: string, plan: typeof PLAN = PLAN): void {
  const why = repro(seed, test);
  const got = r.steps.map((s) => [s.steps.join('-'), s.name, s.kernel]);
  if (plan === PLAN && JSON.stringify(got) === JSON.stringify(PLAN_PV_APART)) plan = PLAN_PV_APART;
  expect(got, why).toEqual(plan);
  for (const s of r.steps) {
    const where = `step ${s.steps.join('-')} ${s.name} (${s.kernel}) on ${r.machine}`;
    expect(s.ran, `${where}: ${s.note ?? ''} (${why})`).toBe(true);
    if (!s.identical_to_reference) expect.fail(`${where}: ${s.elements - s.identical_elements} of ${s.elements} elements differ, first ${JSON.stringify(s.first_diff)} (${why})`);
    expect(s.elements, `${where} (${why})`).toBe(s.shape.reduce((a, b) => a * b, 1));
    expect(s.cycles, `${where} (${why})`).toBeGreaterThan(0);
    expect(s.input_from_reference, `${where} (${why})`).toBe(false);
  }
  expect(r.bit_exact, why).toBe(true);
  expect(r.first_mismatch, why).toBeNull();
  expect(r.unsupported, why).toEqual([]);
  expect(r.total_cycles, why).toBe(r.steps.reduce((a, s) => a + s.cycles, 0));
  expect(r.total_model_cycles, why).toBe(r.steps.reduce((a, s) => a + s.model_cycles, 0));
  expect(r.total_macs, why).toBe(r.steps.reduce((a, s) => a + s.macs, 0));
  expect(r.latency_us, why).toBeCloseTo(r.total_cycles / (r.clock_ghz * 1e3), 9);
  expect(Array.from(r.output), why).toEqual(Array.from(r.reference.output));
  // every GEMM's MACs are counted once: Q, K, V, output dense, fc1, fc2, and the two attention matmuls
  const { seq: T, hidden: C, ffn: F } = r;
  expect(r.total_macs, why).toBe(4 * T * C * C + 2 * T * C * F + 2 * T * T * C);
}

describe('whole encoder layer on the simulator', () => {
  const cases: readonly (readonly [string, Omit<SyntheticLayerOptions, 'seed'>])[] = [
    ['layer seq 8 hidden 32 heads 2 ffn 64', { seq: 8, hidden: 32, heads: 2, ffn: 64 }],
    // seq, hidden, d_head and FFN not multiples of the lanes (32 / 128) nor of the MXU side
    ['layer seq 7 hidden 40 heads 2 ffn 72', { seq: 7, hidden: 40, heads: 2, ffn: 72 }],
    // padded positions: the key mask goes to the softmax program per row position
    ['layer seq 12 hidden 48 heads 3 ffn 80 masked', { seq: 12, hidden: 48, heads: 3, ffn: 80, maskedTail: 3 }],
  ];
  for (const [name, dims] of cases) {
    for (const cfg of [edge, server]) {
      const test = `${name} on ${cfg.name}`;
      it(test, () => {
        const { layer, x, mask } = synth(name, dims);
        if (dims.maskedTail) expect(mask, repro(name, test)).toBeDefined();
        const r = runOn(layer, x, dims.seq, cfg, mask);
        expectExactLayer(r, name, test);
      });
    }
  }

  it('fused steps are compared with the later reference step, and the reference tensors are the runLayer ones', () => {
    const seed = 'fused steps are compared with the later reference step, and the reference tensors are the runLayer ones';
    const { layer, x } = synth(seed, { seq: 5, hidden: 16, heads: 2, ffn: 24 });
    const c = compileLayer(layer);
    const ref = runLayer(c, x, 5);
    const r = runLayerSim({ layer, compiled: c }, x, 5, edge, { reference: ref });
    const why = repro(seed, 'fused steps are compared with the later reference step, and the reference tensors are the runLayer ones');
    const byName = new Map(r.steps.map((s) => [s.name, s]));
    expect(byName.get('intermediate_input8')?.steps, why).toEqual([9, 10, 11]);
    expect(byName.get('fc2_input8')?.step, why).toBe(15);
    expect(byName.get('fc2_input8')?.steps, why).toEqual([12, 13, 14, 15]);
    expect(byName.get('output8')?.step, why).toBe(19);
    expect(r.reference, why).toBe(ref);
    expect(r.bit_exact, why).toBe(true);
  });

  it('without fusion every kernel runs on its own, bit-exact, and the fused layer is faster with the same output', () => {
    const test = 'without fusion every kernel runs on its own, bit-exact, and the fused layer is faster with the same output';
    const { layer, x } = synth(test, { seq: 8, hidden: 32, heads: 2, ffn: 64 });
    const cl = compileLayerSim(layer);
    const fused = runLayerSim(cl, x, 8, edge);
    const unfused = runLayerSim(cl, x, 8, edge, { fuse: false, reference: fused.reference });
    expectExactLayer(unfused, test, test, PLAN_UNFUSED);
    expect(Array.from(fused.output), repro(test, test)).toEqual(Array.from(unfused.output));
    expect(fused.total_cycles, repro(test, test)).toBeLessThan(unfused.total_cycles);
  });

  it('no kernel depends on the state the previous one leaves: from on-chip garbage (poison) every step is bit-exact in the same cycles', () => {
    const test = 'no kernel depends on the state the previous one leaves';
    for (const [name, dims] of cases.slice(1)) {
      const { layer, x, mask } = synth(name, dims);
      const cl = compileLayerSim(layer);
      for (const cfg of [edge, server]) {
        for (const fuse of cfg === edge ? [true, false] : [true]) {
          const clean = runLayerSim(cl, x, dims.seq, cfg, { ...(mask ? { mask } : {}), fuse });
          const dirty = runLayerSim(cl, x, dims.seq, cfg, { ...(mask ? { mask } : {}), fuse, reference: clean.reference, poison: 12345 });
          expectExactLayer(dirty, name, test, fuse ? PLAN : PLAN_UNFUSED);
          expect(dirty.steps.map((st) => st.cycles), `${name} on ${cfg.name}${fuse ? '' : ', unfused'} (${repro(name, test)})`).toEqual(clean.steps.map((st) => st.cycles));
        }
      }
    }
  });

  it('a step the NPU kernel cannot take is reported, and the layer goes on from the reference tensor', () => {
    const test = 'a step the NPU kernel cannot take is reported, and the layer goes on from the reference tensor';
    const seed = test;
    const { layer: base, x } = synth(seed, { seq: 6, hidden: 32, heads: 2, ffn: 48 });
    // a 6-bit attention.output.output_activation: legal in the format, but the fused LayerNorm kernel requantizes to 8 bits only
    const oa = base.attention.output.output_activation;
    const layer: IbertLayerJson = { ...base, attention: { ...base.attention, output: { ...base.attention.output, output_activation: { ...oa, bits: 6 } } } };
    const r = runOn(layer, x, 6, edge, undefined);
    const why = repro(seed, test);
    expect(r.bit_exact, why).toBe(false);
    expect(r.unsupported.map((u) => [u.step, u.name, u.kernel]), why).toEqual([[10, 'attention_output8', 'layernorm']]);
    expect(r.unsupported[0]!.reason, why).toMatch(/8 bits only/);
    const idx = r.steps.findIndex((s) => s.name === 'attention_output8');
    const st = r.steps[idx]!;
    expect([st.ran, st.cycles, st.identical_to_reference], why).toEqual([false, 0, false]);
    expect(st.note, why).toMatch(/cannot take this step/);
    // before it: the simulator's own chain; after it: fed (through) the substituted reference tensor, still exact
    for (const s of r.steps.slice(0, idx)) expect([s.name, s.input_from_reference, s.identical_to_reference], why).toEqual([s.name, false, true]);
    for (const s of r.steps.slice(idx + 1)) expect([s.name, s.input_from_reference, s.identical_to_reference], why).toEqual([s.name, true, true]);
    expect(r.first_mismatch, why).toBeNull();
    expect(r.total_cycles, why).toBe(r.steps.reduce((a, s) => a + s.cycles, 0));
  });

  it('a reference that is ready only at the end gives the same steps, in the same order, to onStep as well', () => {
    const test = 'a reference that is ready only at the end gives the same steps, in the same order, to onStep as well';
    const seed = test;
    const { layer: base, x, mask } = synth(seed, { seq: 6, hidden: 32, heads: 2, ffn: 48, maskedTail: 1 });
    // the plain layer, and one with a step the NPU cannot take (its reference tensor is needed in the middle)
    const oa = base.attention.output.output_activation;
    const odd: IbertLayerJson = { ...base, attention: { ...base.attention, output: { ...base.attention.output, output_activation: { ...oa, bits: 6 } } } };
    for (const layer of [base, odd]) {
      const c = compileLayerSim(layer);
      const eagerSeen: string[] = [], lateSeen: string[] = [];
      const eager = runLayerSim(c, x, 6, edge, { mask: mask!, onStep: (st, y) => eagerSeen.push(`${st.name} ${st.identical_to_reference} ${y.join(',')}`) });
      const run = runLayer(c.compiled, x, 6, mask);
      let asked = 0, gets = 0;
      const late = runLayerSim(c, x, 6, edge, {
        mask: mask!,
        reference: { ready: () => (asked++, false), get: () => (gets++, run) },
        onStep: (st, y) => lateSeen.push(`${st.name} ${st.identical_to_reference} ${y.join(',')}`),
      });
      const why = repro(seed, test);
      expect(asked, why).toBeGreaterThan(0);
      expect(gets, why).toBeGreaterThan(0);
      const { reference: _a, ...e } = eager;
      const { reference: _b, ...l } = late;
      expect(l, why).toEqual(e);
      expect(lateSeen, why).toEqual(eagerSeen);
      expect(lateSeen.length, why).toBe(late.steps.length);
    }
  });

  it('a differing step is named with its first differing element', () => {
    const test = 'a differing step is named with its first differing element';
    const seed = test;
    const T = 6;
    const { layer, x } = synth(seed, { seq: T, hidden: 32, heads: 2, ffn: 48 });
    const c = compileLayer(layer);
    // compare with the reference of the same layer under another mask: steps 1..3 agree, the softmax is the first to differ
    const mask = [1, 1, 1, 1, 0, 0];
    const r = runLayerSim({ layer, compiled: c }, x, T, edge, { reference: runLayer(c, x, T, mask) });
    const why = repro(seed, test);
    expect(r.bit_exact, why).toBe(false);
    expect(r.first_mismatch?.step, why).toBe(4);
    expect(r.first_mismatch?.name, why).toBe('probs');
    const probs = r.steps.find((s) => s.name === 'probs')!;
    expect(probs.identical_to_reference, why).toBe(false);
    expect(probs.first_diff, why).toEqual({ index: r.first_mismatch!.index, sim: r.first_mismatch!.sim, ref: r.first_mismatch!.ref });
    // every row changes under the other mask: the first differing element is in the first row
    expect(r.first_mismatch!.index, why).toBeLessThan(T);
    const before = r.steps.findIndex((s) => s.name === 'probs');
    expect(before, why).toBeGreaterThan(0);
    for (const s of r.steps.slice(0, before)) expect([s.name, s.identical_to_reference], why).toEqual([s.name, true]);
  });
});

describe('intnpu layer', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '', stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
    process.exitCode = undefined;
    await yargs(args).command(layerCommand).strict().parseAsync();
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    vi.restoreAllMocks();
    return { code, stdout, stderr };
  }

  it('prints the per-step table and the latency, exit 0 when bit-exact', async () => {
    const test = 'prints the per-step table and the latency, exit 0 when bit-exact';
    // no command: the layer is the main job (`npx intnpu`)
    const r = await cli(['--size', 'small', '--machine', 'server', `--seed=${test}`]);
    expect(r.code, `${r.stderr} (${repro(test, test)})`).toBe(0);
    expect(r.stdout).toMatch(/18-19\s+output8\s+layernorm/);
    expect(r.stdout).toMatch(/12-15\s+fc2_input8\s+linear-gelu/);
    expect(r.stdout).toMatch(/bounds\s+MAC [\d,]+, DRAM [\d,]+, VPU issue [\d,]+, divider [\d,]+ cycles: (MAC|DRAM|VPU|div) binds; the layer takes [\d.]+x it/);
    expect(r.stdout).toMatch(/total latency\s+[\d,]+ cycles = [\d.]+ us at 1 GHz/);
    expect(r.stdout).toMatch(/overlapped: the kernels ran as one chained instruction stream/);
    expect(r.stdout).toMatch(/every step bit-exact/);
  });

  it('overlapped (default) against --no-overlap: both bit-exact, the chain is shorter, its steps add up to it and each span covers its step', async () => {
    const test = 'overlapped against no-overlap';
    type J = { total_cycles: number; bit_exact: boolean; schedule: string; steps: { cycles: number; span_cycles: number; model_cycles: number }[] };
    // one after the other: the in-process runs share the captured stdout (the handler awaits)
    const o = await cli(['layer', '--size', 'small', `--seed=${test}`, '--json']);
    const n = await cli(['layer', '--size', 'small', `--seed=${test}`, '--json', '--no-overlap']);
    expect(o.code, o.stderr).toBe(0);
    expect(n.code, n.stderr).toBe(0);
    const jo = JSON.parse(o.stdout) as J, jn = JSON.parse(n.stdout) as J;
    expect([jo.bit_exact, jn.bit_exact]).toEqual([true, true]);
    expect(jo.schedule).toMatch(/^overlapped/);
    expect(jn.schedule).toMatch(/upper bound/);
    expect(jo.total_cycles).toBeLessThan(jn.total_cycles);
    expect(jo.steps.reduce((a, s) => a + s.cycles, 0)).toBe(jo.total_cycles);
    for (const s of jo.steps) expect(s.span_cycles).toBeGreaterThanOrEqual(s.cycles);
    for (const s of jn.steps) expect(s.span_cycles).toBe(s.cycles);
    // the first kernel starts on an idle machine either way
    expect(jo.steps[0]!.cycles).toBe(jn.steps[0]!.cycles);
  });

  it('json output: the steps add up to the total', async () => {
    const test = 'json output: the steps add up to the total';
    const r = await cli(['layer', '--size', 'small', `--seed=${test}`, '--json']);
    expect(r.code, `${r.stderr} (${repro(test, test)})`).toBe(0);
    type Bounds = { mac: number; dram: number; vpu_issue: number; divider: number; binding: 'mac' | 'dram' | 'vpu_issue' | 'divider'; ratio: number | null };
    const j = JSON.parse(r.stdout) as { total_cycles: number; total_macs: number; bit_exact: boolean; bounds: Bounds; steps: { cycles: number; macs: number; identical_to_reference: boolean; bounds: Bounds }[] };
    expect(j.bit_exact).toBe(true);
    expect(j.steps).toHaveLength(PLAN.length);
    expect(j.total_cycles).toBe(j.steps.reduce((a, s) => a + s.cycles, 0));
    // bounds: the binding one is the largest, every bound is a lower bound (ratio >= 1), the MAC bound is MACs / cells
    const cells = edge.mxu.rows * edge.mxu.cols;
    for (const b of [j.bounds, ...j.steps.map((s) => s.bounds)]) {
      expect(b[b.binding]).toBe(Math.max(b.mac, b.dram, b.vpu_issue, b.divider));
      expect(b.ratio).not.toBeNull();
      expect(b.ratio!).toBeGreaterThanOrEqual(1);
    }
    expect(j.bounds.mac).toBe(Math.ceil(j.total_macs / cells));
    expect(j.bounds.ratio).toBeCloseTo(j.total_cycles / j.bounds[j.bounds.binding], 12);
    for (const s of j.steps) expect(s.bounds.mac).toBe(Math.ceil(s.macs / cells));
    // the softmax step divides once per row on the iterative divider: its divider bound is rows x the latency
    const probs = j.steps.find((s) => (s as unknown as { name: string }).name === 'probs')!;
    expect(probs.bounds.divider).toBe(2 * 8 * edge.divider.divLatencyCycles);
  });

  it('a layer file with a step the NPU cannot take gives exit 1 (nothing mismatched) and names the step', async () => {
    const seed = 'a layer file with a step the NPU cannot take gives exit 1 (nothing mismatched) and names the step';
    const { layer } = synth(seed, { seq: 4, hidden: 16, heads: 2, ffn: 24 });
    const oa = layer.output.output_activation;
    const bad: IbertLayerJson = { ...layer, output: { ...layer.output, output_activation: { ...oa, bits: 4 } } };
    const dir = mkdtempSync(join(tmpdir(), 'intnpu-layer-'));
    try {
      const file = join(dir, 'layer.json');
      writeFileSync(file, JSON.stringify(bad));
      const r = await cli(['layer', '--layer', file]);
      expect(r.code, `${r.stderr} (${repro(seed, seed)})`).toBe(1);
      expect(r.stderr).toMatch(/step 19 \(output8, layernorm\)/);
      expect(r.stdout).toMatch(/NOT RUN/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
