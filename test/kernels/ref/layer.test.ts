// The reference encoder layer (section 9) and embedding stage, step by step against the BigInt oracles, the scale
// chain, the JSON format (zod, error paths), agreement with the float64 layer, and the accuracy report.

import { describe, expect, it } from 'vitest';
import { accuracyReport, formatAccuracyReport, sig2 } from '../../../kernels/ref/accuracy.js';
import { KernelInputError } from '../../../kernels/ref/errors.js';
import { fl32 } from '../../../kernels/ref/fold.js';
import { compareVectors } from '../../../kernels/ref/float-ref.js';
import { generateEmbeddings, generateLayer } from '../../../kernels/ref/generate.js';
import { compileEmbeddings, compileLayer, LAYER_STEP_NAMES, runEmbeddings, runLayer, runLayerJson, type LayerRun } from '../../../kernels/ref/layer.js';
import { layerInputSequences, parseEmbeddings, parseLayer, type IbertLayerJson } from '../../../kernels/ref/layer-format.js';
import { oFrexp31, oGelu, oLayerNormRow, oLinear, oRequant, oSoftmaxRow } from './oracles.js';

const FILE = 'test/kernels/ref/layer.test.ts';

const big = (a: ArrayLike<number | bigint>): bigint[] => Array.from(a, (v) => BigInt(v));
const num = (a: ArrayLike<number | bigint>): number[] => Array.from(a, (v) => Number(v));

function expectSame(got: ArrayLike<number | bigint>, want: readonly bigint[], what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (BigInt(got[i]!) !== want[i]) expect(`${what}[${i}] = ${got[i]}`).toBe(`${what}[${i}] = ${want[i]}`);
  }
}

function requantOracle(x: readonly bigint[], m: readonly number[], e: readonly number[], bits: number, id?: { w: readonly bigint[]; m: number; e: number }): bigint[] {
  const C = m.length;
  return x.map((v, i) => oRequant(v, m[i % C]!, e[i % C]!, bits, id === undefined ? undefined : { w: id.w[i]!, m: id.m, e: id.e }));
}

/** Recomputes every step of `run` from the previous step's recorded tensor with the BigInt oracles. */
function checkLayerSteps(layerSeed: string, opts: { seq: number; hidden: number; heads: number; ffn: number; maskedTail?: number; negativeGammaFraction?: number }, rangeFactor = 1): void {
  const g = generateLayer({ seed: layerSeed, ...opts });
  // rangeFactor != 1 recalibrates the int8 -> int8 QuantActs (steps 11 and 15) so they are not the identity; the
  // biases then no longer match the float layer, so the float comparison is skipped.
  const L = rangeFactor === 1 ? g.layer : {
    ...g.layer,
    pre_intermediate_act: { ...g.layer.pre_intermediate_act, x_max: g.layer.pre_intermediate_act.x_max * rangeFactor },
    pre_output_act: { ...g.layer.pre_output_act, x_min: g.layer.pre_output_act.x_min * rangeFactor, x_max: g.layer.pre_output_act.x_max * rangeFactor },
  };
  const c = compileLayer(L);
  const T = opts.seq;
  const C = opts.hidden;
  const H = opts.heads;
  const dh = C / H;
  const F = opts.ffn;
  const x = L.input!.x_int;
  const run: LayerRun = runLayer(c, Int8Array.from(x), T, g.mask);
  const s = run.steps;
  expect(Object.keys(s).sort()).toEqual([...LAYER_STEP_NAMES].sort());

  // constants re-derived from the scales, independently of fold.ts
  const sbQ = L.attention.self.query.weight_scale.map((w) => fl32(w * L.input_scale));
  expect(s.query_acc.scale).toEqual(sbQ);
  const sq = Math.max(Math.abs(L.attention.self.query_activation.x_min), Math.abs(L.attention.self.query_activation.x_max), 1e-8) / 127;
  sbQ.forEach((sb, ch) => expect({ m: c.queryAct.m[ch], e: c.queryAct.e[ch] }).toEqual(oFrexp31(sb / Math.fround(sq))));
  expect(s.query8.scale).toBe(sq);
  expect(s.scores.scale).toBe((c.queryAct.scaleOut * c.keyAct.scaleOut) / Math.sqrt(dh));
  expect(s.context.scale).toBe(c.valueAct.scaleOut / 256);
  expect(s.probs.scale).toBe(1 / 256);
  expect(s.ln1_output.scale).toEqual(L.attention.output.LayerNorm.gamma.map((gm) => (Math.fround(Math.sqrt(Math.fround(C))) / 2 ** 30) * gm));
  expect({ m: c.ln1InputAct.mId, e: c.ln1InputAct.eId }).toEqual(oFrexp31(L.input_scale / Math.fround(c.ln1InputAct.scaleOut)));
  expect({ m: c.ln2InputAct.mId, e: c.ln2InputAct.eId }).toEqual(oFrexp31(c.preIntermediateAct.scaleOut / Math.fround(c.ln2InputAct.scaleOut)));

  // step 0..2
  expectSame(s.input.data, big(x), 'input');
  const sa = L.attention.self;
  expectSame(s.query_acc.data, oLinear(x, sa.query.weight_int, sa.query.bias_int, T, C, C), 'query_acc');
  expectSame(s.key_acc.data, oLinear(x, sa.key.weight_int, sa.key.bias_int, T, C, C), 'key_acc');
  expectSame(s.value_acc.data, oLinear(x, sa.value.weight_int, sa.value.bias_int, T, C, C), 'value_acc');
  expectSame(s.query8.data, requantOracle(big(s.query_acc.data), c.queryAct.m, c.queryAct.e, 8), 'query8');
  expectSame(s.key8.data, requantOracle(big(s.key_acc.data), c.keyAct.m, c.keyAct.e, 8), 'key8');
  expectSame(s.value8.data, requantOracle(big(s.value_acc.data), c.valueAct.m, c.valueAct.e, 8), 'value8');
  // step 3: scores per head
  const q8 = num(s.query8.data), k8 = num(s.key8.data), v8 = num(s.value8.data);
  const scores: bigint[] = [];
  for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
    let acc = 0n;
    for (let d = 0; d < dh; d++) acc += BigInt(q8[i * C + h * dh + d]!) * BigInt(k8[j * C + h * dh + d]!);
    scores.push(acc);
  }
  expectSame(s.scores.data, scores, 'scores');
  // step 4: softmax rows with the key mask
  const sc = big(s.scores.data);
  const probs: bigint[] = [];
  const e16: bigint[] = [];
  for (let r = 0; r < H * T; r++) {
    const o = oSoftmaxRow(sc.slice(r * T, (r + 1) * T), c.softmax, g.mask);
    probs.push(...o.y);
    e16.push(...o.e16);
  }
  expectSame(s.exp16.data, e16, 'exp16');
  expectSame(s.probs.data, probs, 'probs');
  if (g.mask !== undefined) for (let r = 0; r < H * T; r++) g.mask.forEach((mk, j) => mk === 0 && expect(probs[r * T + j]).toBe(0n));
  // step 5-6: context
  const ctx: bigint[] = new Array<bigint>(T * C).fill(0n);
  for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) for (let d = 0; d < dh; d++) {
    let acc = 0n;
    for (let j = 0; j < T; j++) acc += probs[(h * T + i) * T + j]! * BigInt(v8[j * C + h * dh + d]!);
    ctx[i * C + h * dh + d] = acc;
  }
  expectSame(s.context.data, ctx, 'context');
  expectSame(s.context8.data, requantOracle(ctx, c.contextAct.m, c.contextAct.e, 8), 'context8');
  // step 7-10
  const ao = L.attention.output;
  expectSame(s.attn_dense.data, oLinear(num(s.context8.data), ao.dense.weight_int, ao.dense.bias_int, T, C, C), 'attn_dense');
  expectSame(s.ln1_input.data, requantOracle(big(s.attn_dense.data), c.ln1InputAct.m, c.ln1InputAct.e, ao.ln_input_act.bits, { w: big(x), m: c.ln1InputAct.mId!, e: c.ln1InputAct.eId! }), 'ln1_input');
  const lnRows = (inp: bigint[], qBeta: readonly number[], shift: number): bigint[] => {
    const out: bigint[] = [];
    for (let t = 0; t < T; t++) out.push(...oLayerNormRow(inp.slice(t * C, (t + 1) * C), qBeta, shift));
    return out;
  };
  expectSame(s.ln1_output.data, lnRows(big(s.ln1_input.data), c.ln1.qBeta, ao.LayerNorm.shift), 'ln1_output');
  expectSame(s.attention_output8.data, requantOracle(big(s.ln1_output.data), c.ln1OutputAct.m, c.ln1OutputAct.e, 8), 'attention_output8');
  // step 11-15
  expectSame(s.intermediate_input8.data, requantOracle(big(s.attention_output8.data), c.preIntermediateAct.m, c.preIntermediateAct.e, 8), 'intermediate_input8');
  const h8 = num(s.intermediate_input8.data);
  expectSame(s.fc1_acc.data, oLinear(h8, L.intermediate.dense.weight_int, L.intermediate.dense.bias_int, T, C, F), 'fc1_acc');
  const f1 = big(s.fc1_acc.data);
  expectSame(s.gelu.data, f1.map((v, i) => oGelu(v, c.gelu.qb[i % F]!, c.gelu.qc[i % F]!, c.gelu.q1[i % F]!)), 'gelu');
  expect((s.gelu.scale as number[]).every((v) => v < 0)).toBe(true);
  expect(c.geluAct.m.every((m) => m < 0)).toBe(true); // negative input scale -> negative multipliers
  expectSame(s.gelu8.data, requantOracle(big(s.gelu.data), c.geluAct.m, c.geluAct.e, 8), 'gelu8');
  expectSame(s.fc2_input8.data, requantOracle(big(s.gelu8.data), c.preOutputAct.m, c.preOutputAct.e, 8), 'fc2_input8');
  // step 16-19
  const od = L.output;
  expectSame(s.fc2_acc.data, oLinear(num(s.fc2_input8.data), od.dense.weight_int, od.dense.bias_int, T, F, C), 'fc2_acc');
  expectSame(s.ln2_input.data, requantOracle(big(s.fc2_acc.data), c.ln2InputAct.m, c.ln2InputAct.e, od.ln_input_act.bits, { w: big(h8), m: c.ln2InputAct.mId!, e: c.ln2InputAct.eId! }), 'ln2_input');
  expectSame(s.ln2_output.data, lnRows(big(s.ln2_input.data), c.ln2.qBeta, od.LayerNorm.shift), 'ln2_output');
  expectSame(s.output8.data, requantOracle(big(s.ln2_output.data), c.outputAct.m, c.outputAct.e, 8), 'output8');
  expectSame(run.output, big(s.output8.data), 'output');

  if (rangeFactor !== 1) {
    expect(s.intermediate_input8.data).not.toEqual(s.attention_output8.data);
    return;
  }
  // the float64 layer on the same input agrees
  const deq = Array.from(run.output, (v) => v * run.outputScale);
  expect(compareVectors(deq, g.floatRun.output).cosine).toBeGreaterThan(0.99);
}

describe('reference layer, step by step', () => {
  it('small layer (seq 8, hidden 32, 2 heads, FFN 64) with a padding mask and negative gammas', () => {
    checkLayerSteps('layer small masked', { seq: 8, hidden: 32, heads: 2, ffn: 64, maskedTail: 2, negativeGammaFraction: 0.25 });
  });

  it('hidden size not a multiple of 16 (hidden 36, 3 heads, FFN 72, seq 5)', () => {
    checkLayerSteps('layer odd hidden', { seq: 5, hidden: 36, heads: 3, ffn: 72 });
    checkLayerSteps('layer odd hidden', { seq: 5, hidden: 36, heads: 3, ffn: 72, negativeGammaFraction: 0.3 }, 1.3);
  });

  it('seq 1 and a single head', () => {
    checkLayerSteps('layer seq1', { seq: 1, hidden: 12, heads: 1, ffn: 20 });
  });
});

describe('layer JSON format', () => {
  it('round-trips through JSON text and runs identically from it', () => {
    const g = generateLayer({ seed: 'layer json roundtrip', seq: 6, hidden: 16, heads: 2, ffn: 24, maskedTail: 1 });
    const text = JSON.stringify(g.layer);
    const fromJson = runLayerJson(JSON.parse(text) as unknown);
    const direct = runLayer(compileLayer(g.layer), Int8Array.from(g.layer.input!.x_int), 6, g.mask);
    expect(Array.from(fromJson.output)).toEqual(Array.from(direct.output));
    expect(fromJson.outputScale).toBe(direct.outputScale);
    // softmax_act defaults to the calibration fixed point when omitted
    const j = JSON.parse(text) as { attention: { self: { softmax_act?: unknown }; output: { LayerNorm: { shift?: number } } } };
    delete j.attention.self.softmax_act;
    const parsed = parseLayer(j);
    expect(compileLayer(parsed).softmax.act).toEqual(compileLayer(g.layer).softmax.act);
    // a missing LayerNorm shift is an error (a default of 0 would run a calibrated layer with other integers)
    delete j.attention.output.LayerNorm.shift;
    expect(() => parseLayer(j)).toThrow(/required\s+→ at attention\.output\.LayerNorm\.shift/);
  });

  it('refuses unknown keys, naming the key and the keys allowed there', () => {
    const g = generateLayer({ seed: 'layer json strict', seq: 2, hidden: 8, heads: 2, ffn: 8 });
    const j = structuredClone(g.layer) as unknown as { attention: { self: Record<string, unknown> }; output: { LayerNorm: Record<string, unknown> } };
    j.attention.self['softmax_activation'] = j.attention.self['softmax_act'];
    expect(() => parseLayer(j)).toThrow(/unknown key "softmax_activation"; allowed here: query, key, value, query_activation, key_activation, value_activation, softmax_act, output_activation\s+→ at attention\.self/);
    delete j.attention.self['softmax_activation'];
    j.attention.self['softmax'] = { act: j.attention.self['softmax_act'] };
    expect(() => parseLayer(j)).toThrow(/unknown key "softmax"/);
    delete j.attention.self['softmax'];
    j.output.LayerNorm['eps'] = 1e-12;
    expect(() => parseLayer(j)).toThrow(/unknown key "eps"; allowed here: gamma, beta, shift\s+→ at output\.LayerNorm/);
    delete j.output.LayerNorm['eps'];
    expect(() => parseLayer(j)).not.toThrow();
    const e = generateEmbeddings({ seed: 'emb strict', seq: 2, hidden: 8, vocab: 5, maxPositions: 4 }).embeddings as unknown as Record<string, unknown>;
    expect(() => parseEmbeddings({ ...e, embeddings_act2: e['embeddings_act1'] })).toThrow(/unknown key "embeddings_act2"/);
  });

  it('takes HF one-element tensors as scalars and broadcasts a one-element per-channel scale', () => {
    const g = generateLayer({ seed: 'layer json hf scalars', seq: 3, hidden: 8, heads: 2, ffn: 8 });
    const l = g.layer;
    const j = structuredClone(l) as unknown as Record<string, unknown> & { attention: { self: { query_activation: Record<string, unknown>; key: { weight_scale: number[] } } }; output: { LayerNorm: Record<string, unknown> } };
    j['input_scale'] = [l.input_scale];
    j.attention.self.query_activation['x_min'] = [l.attention.self.query_activation.x_min];
    j.attention.self.query_activation['x_max'] = [l.attention.self.query_activation.x_max];
    j.output.LayerNorm['shift'] = [l.output.LayerNorm.shift];
    const p = parseLayer(j);
    expect(p.input_scale).toBe(l.input_scale);
    expect(p.attention.self.query_activation).toEqual(l.attention.self.query_activation);
    expect(p.output.LayerNorm.shift).toBe(l.output.LayerNorm.shift);
    // a per-tensor weight scale [s] stands for s on every output channel
    const s0 = l.attention.self.key.weight_scale[0]!;
    j.attention.self.key.weight_scale = [s0];
    expect(parseLayer(j).attention.self.key.weight_scale).toEqual(new Array<number>(8).fill(s0));
    j.attention.self.key.weight_scale = [s0, s0];
    expect(() => parseLayer(j)).toThrow(/expected one scale per output channel \(8\) or one for all, got 2\s+→ at attention\.self\.key\.weight_scale/);
    j.attention.self.key.weight_scale = [...l.attention.self.key.weight_scale];
    j.output.LayerNorm['shift'] = [1, 2];
    expect(() => parseLayer(j)).toThrow(/output\.LayerNorm\.shift/);
  });

  it('reads a batch [B, T, C] input as B sequences, with a shared or a per-batch mask', () => {
    const a = generateLayer({ seed: 'layer batch', seq: 4, hidden: 8, heads: 2, ffn: 8 });
    const x0 = a.layer.input!.x_int;
    const x1 = x0.map((v) => (v === -128 ? 127 : 0 - v) | 0);
    const j = { ...a.layer, input: { shape: [2, 4, 8], x_int: [...x0, ...x1], attention_mask: [1, 1, 1, 0, 1, 1, 0, 0] } };
    const seqs = layerInputSequences(parseLayer(j).input!);
    expect(seqs.map((s) => [s.T, Array.from(s.x), s.mask])).toEqual([[4, x0, [1, 1, 1, 0]], [4, x1, [1, 1, 0, 0]]]);
    const shared = layerInputSequences(parseLayer({ ...j, input: { ...j.input, attention_mask: [1, 1, 1, 0] } }).input!);
    expect(shared.map((s) => s.mask)).toEqual([[1, 1, 1, 0], [1, 1, 1, 0]]);
    expect(() => parseLayer({ ...j, input: { ...j.input, attention_mask: [1, 1, 1] } })).toThrow(/expected one entry per position \(4\) or per batch position \(8\), got 3/);
    expect(() => parseLayer({ ...j, input: { ...j.input, shape: [2, 4, 9] } })).toThrow(/input\.x_int|input\.shape/);
    expect(() => runLayerJson(j)).toThrow(/a batch of 2 sequences/);
  });

  it('rejects bad layers with KernelInputError naming the path', () => {
    const g = generateLayer({ seed: 'layer json bad', seq: 2, hidden: 8, heads: 2, ffn: 8 });
    const mutate = (f: (j: IbertLayerJson) => void): unknown => {
      const j = structuredClone(g.layer);
      f(j);
      return j;
    };
    const cases: [unknown, RegExp][] = [
      [mutate((j) => { j.attention.self.query.weight_int[5] = 300; }), /attention\.self\.query\.weight_int\[5\]/],
      [mutate((j) => { j.intermediate.dense.bias_int.pop(); }), /intermediate\.dense\.bias_int/],
      [mutate((j) => { j.output.LayerNorm.gamma[3] = 0; }), /output\.LayerNorm\.gamma\[3\]/],
      [mutate((j) => { j.config.num_attention_heads = 3; }), /config\.num_attention_heads/],
      [mutate((j) => { (j.input!.x_int as number[]).push(1); }), /input\.x_int/],
      [mutate((j) => { (j as { format: string }).format = 'other'; }), /format/],
      [mutate((j) => { j.pre_output_act.bits = 16; }), /pre_output_act\.bits/],
      [mutate((j) => { j.input_scale = -1; }), /input_scale/],
    ];
    for (const [bad, re] of cases) {
      expect(() => parseLayer(bad)).toThrow(KernelInputError);
      expect(() => parseLayer(bad)).toThrow(re);
    }
  });
});

describe('embedding stage', () => {
  it('word + token type, + position through one QuantAct(16), LayerNorm, QuantAct(8), step by step', () => {
    const e = generateEmbeddings({ seed: 'embeddings small', seq: 8, hidden: 32, vocab: 50, maxPositions: 16 });
    const ce = compileEmbeddings(e.embeddings);
    const inp = e.embeddings.input!;
    const run = runEmbeddings(ce, inp);
    const C = 32;
    const rows = (tab: readonly number[] | Int8Array, ids: readonly number[]): bigint[] => ids.flatMap((id) => big(Array.from(tab.slice(id * C, (id + 1) * C))));
    const w = rows(e.embeddings.word_embeddings.weight_int, inp.input_ids);
    const t = rows(e.embeddings.token_type_embeddings.weight_int, inp.token_type_ids!);
    const p = rows(e.embeddings.position_embeddings.weight_int, inp.position_ids!);
    expectSame(run.steps.word.data, w, 'word');
    const s1 = requantOracle(w, ce.act1a.m, ce.act1a.e, 16, { w: t, m: ce.act1a.mId!, e: ce.act1a.eId! });
    expectSame(run.steps.sum1.data, s1, 'sum1');
    // the same module twice: the second call's input scale is its own output scale
    expect(ce.act1b.scaleOut).toBe(ce.act1a.scaleOut);
    expect({ m: ce.act1b.m[0], e: ce.act1b.e[0] }).toEqual(oFrexp31(ce.act1a.scaleOut / Math.fround(ce.act1a.scaleOut)));
    const s2 = requantOracle(s1, ce.act1b.m, ce.act1b.e, 16, { w: p, m: ce.act1b.mId!, e: ce.act1b.eId! });
    expectSame(run.steps.sum2.data, s2, 'sum2');
    const ln: bigint[] = [];
    for (let r = 0; r < 8; r++) ln.push(...oLayerNormRow(s2.slice(r * C, (r + 1) * C), ce.ln.qBeta, ce.ln.shift));
    expectSame(run.steps.ln_output.data, ln, 'ln_output');
    expectSame(run.output, requantOracle(ln, ce.outputAct.m, ce.outputAct.e, 8), 'output8');
    const deq = Array.from(run.output, (v) => v * run.outputScale);
    expect(compareVectors(deq, e.floatOutput).cosine).toBeGreaterThan(0.99);
  });
});

describe('accuracy report', () => {
  it('reproduces Table 1 to two significant digits, the i-exp gap, and a small layer', () => {
    const r = accuracyReport({ layer: 'small' });
    const find = (name: string, setting: string) => {
      const row = r.rows.find((x) => x.name === name && x.setting.startsWith(setting));
      if (row === undefined) throw new Error(`no row ${name} / ${setting}`);
      return row;
    };
    const sig = (v: number): string => sig2(v);
    expect([sig(find('x*sigmoid(1.702x)', 'float, 1001').rms), sig(find('x*sigmoid(1.702x)', 'float, 1001').max)]).toEqual(['0.012', '0.020']);
    expect([sig(find('h-GELU', 'float, 1001').rms), sig(find('h-GELU', 'float, 1001').max)]).toEqual(['0.031', '0.068']);
    expect([sig(find('i-GELU', 'float, k = sqrt(2)').rms), sig(find('i-GELU', 'float, k = sqrt(2)').max)]).toEqual(['0.0082', '0.018']);
    expect(sig(find('i-exp', 'float, code coefficients').max)).toBe('0.0019');
    expect(sig(find('integer i-exp', 'S = 0.0003125').max)).toBe('0.0019');
    expect(sig(find('integer i-GELU', 'S = 0.00024').rms)).toBe('0.0082');
    expect(find('integer i-GELU', 'S = 8/127').rms).toBeGreaterThan(10); // unusable on int8 inputs (section 6)
    for (const row of r.rows.filter((x) => x.group === 'softmax')) expect(row.max).toBeLessThan(6e-3);
    expect(r.layer!.cosine).toBeGreaterThan(0.99);
    expect(formatAccuracyReport(r)).toMatch(/h-GELU/);
    expect(JSON.parse(JSON.stringify(r)).rows.length).toBe(r.rows.length);
  });
});
