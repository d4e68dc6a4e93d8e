// A whole encoder on the simulator (programs/models/model.ts) and the `model` command, on a tiny config (hidden 64,
// 2 heads, 2 layers, short sequences); `layer --seq/--pad/--out/--dump` and a batch input. Expected outputs come from
// the reference (kernels/ref), never from the simulator path under test.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { generateLayer, generateModel } from '../../kernels/ref/generate.js';
import { parseHfConfig } from '../../kernels/ref/hf-config.js';
import { compileEmbeddings, compileLayer, LAYER_STEP_NAMES, runEmbeddings, runLayer, type LayerStepName } from '../../kernels/ref/layer.js';
import { encodeNpy, parseNpy } from '../../kernels/ref/npy.js';
import { encodeSafetensors } from '../../kernels/ref/safetensors.js';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { runModelSim, runSyntheticModel } from '../../programs/models/model.js';
import { loadMachine } from '../../sim/config.js';
import { layerCommand } from '../../cli/commands/layer.js';
import { modelCommand } from '../../cli/commands/model.js';
import { hfStateDict } from '../kernels/ref/hf-fixture.js';

const edge = loadMachine('edge');
const TINY = {
  model_type: 'ibert', hidden_size: 64, num_attention_heads: 2, intermediate_size: 128, num_hidden_layers: 2,
  vocab_size: 40, max_position_embeddings: 16, type_vocab_size: 1, pad_token_id: 1, hidden_act: 'gelu',
};
const cfg = parseHfConfig(TINY);
const dir = mkdtempSync(join(tmpdir(), 'intnpu-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The reference model chained on reference tensors: embeddings, then each layer on the previous reference output. */
function referenceModel(g: ReturnType<typeof generateModel>, mask?: readonly number[]): Int8Array {
  let x = runEmbeddings(compileEmbeddings(g.embeddings), g.input).output;
  for (const l of g.layers) x = runLayer(compileLayer(l), x, g.input.input_ids.length, mask).output;
  return x;
}

describe('runModelSim', () => {
  it('runs embeddings and two layers, each on the previous simulated output, bit-exact, with a padding mask', () => {
    const g = generateModel({ seed: 'model sim tiny', config: cfg, seq: 6, maskedTail: 2 });
    expect(g.mask).toEqual([1, 1, 1, 1, 0, 0]);
    expect(g.input.position_ids).toEqual([2, 3, 4, 5, 6, 7]);
    const r = runModelSim(g, g.input, edge, { mask: g.mask! });
    expect(r.embeddings.steps.map((s) => [s.name, s.kernel, s.identical_to_reference])).toEqual([
      ['sum1', 'requant-act', true], ['sum2', 'requant-act', true], ['output8', 'layernorm', true],
    ]);
    expect(r.layers).toHaveLength(2);
    for (const l of r.layers) {
      expect(l.bit_exact).toBe(true);
      expect(l.steps).toHaveLength(10); // the fused plan (programs/models/layer.ts): 10 kernel runs on edge
      expect(l.steps.every((s) => s.ran && s.identical_to_reference && !s.input_from_reference)).toBe(true);
    }
    expect(r.bit_exact && r.matches_reference_model).toBe(true);
    expect(r.unsupported).toEqual([]);
    expect(r.total_cycles).toBe(r.embeddings.total_cycles + r.layers[0]!.total_cycles + r.layers[1]!.total_cycles);
    expect(r.total_macs).toBe(r.layers[0]!.total_macs * 2);
    expect(r.mxu_utilization).toBeCloseTo(r.total_macs / (r.total_cycles * 32 * 32), 12);
    expect(Array.from(r.output)).toEqual(Array.from(referenceModel(g, g.mask)));
    // the mask matters: without it the reference model gives another output
    expect(Array.from(referenceModel(g))).not.toEqual(Array.from(r.output));
  });

  it('refuses a layer whose input_scale is not the previous output scale', () => {
    const g = generateModel({ seed: 'model sim chain', config: cfg, seq: 2, layers: 2 });
    const bad = { ...g, layers: [g.layers[0]!, { ...g.layers[1]!, input_scale: g.layers[1]!.input_scale * 2 }] };
    expect(() => runModelSim(bad, g.input, edge)).toThrow(KernelInputError);
    expect(() => runModelSim(bad, g.input, edge)).toThrow(/layer 1: input_scale .* differs from the output scale of layer 0/);
  });
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '', stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  process.exitCode = undefined;
  await yargs(args).command(modelCommand).command(layerCommand).strict().parseAsync();
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  vi.restoreAllMocks();
  return { code, stdout, stderr };
}

function writeJson(name: string, v: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(v));
  return f;
}

interface ModelJson {
  total_cycles: number; bit_exact: boolean; seq: number;
  embeddings: { total_cycles: number; steps: unknown[] };
  layers: { total_cycles: number; bit_exact: boolean; steps: { cycles: number }[] }[];
}

describe('intnpu model', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });
  const conf = writeJson('config.json', TINY);

  it('--json: total_cycles, bit_exact, layers with their steps, embeddings, the parts adding up; --out writes the final int8 output', async () => {
    const out = join(dir, 'model-y.npy');
    const r = await cli(['model', '--config', conf, '--seq', '3', '--layers', '1', '--json', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as ModelJson;
    expect(j.bit_exact).toBe(true);
    expect(j.seq).toBe(3);
    expect(j.layers).toHaveLength(1);
    expect(j.embeddings.steps).toHaveLength(3);
    for (const l of j.layers) expect(l.total_cycles).toBe(l.steps.reduce((a, s) => a + s.cycles, 0));
    expect(j.total_cycles).toBe(j.embeddings.total_cycles + j.layers.reduce((a, l) => a + l.total_cycles, 0));
    // the same seeded checkpoint and ids, run by the reference
    const g = generateModel({ seed: 'intnpu-model', config: cfg, seq: 3, layers: 1 });
    const y = parseNpy(readFileSync(out));
    expect(y.shape).toEqual([3, 64]);
    expect(y.data).toEqual(Array.from(referenceModel(g)));
    // the library call sweeps use runs the same checkpoint
    const lib = runSyntheticModel(cfg, edge, { seq: 3, layers: 1 });
    expect([lib.total_cycles, lib.bit_exact]).toEqual([j.total_cycles, true]);
    expect(Array.from(lib.output)).toEqual(y.data);
  });

  it('prints per-layer cycles and the total', async () => {
    const dump = join(dir, 'model-dump');
    const r = await cli(['model', '--config', conf, '--seq', '2', '--dump', dump]);
    expect(r.code, r.stderr).toBe(0);
    // every simulated step, per stage
    const g = generateModel({ seed: 'intnpu-model', config: cfg, seq: 2 });
    const e = runEmbeddings(compileEmbeddings(g.embeddings), g.input);
    expect(parseNpy(readFileSync(join(dump, 'embeddings', 'sum2.npy'))).data).toEqual(Array.from(e.steps.sum2.data as Int32Array));
    const l0 = runLayer(compileLayer(g.layers[0]!), e.output, 2);
    expect(parseNpy(readFileSync(join(dump, 'layer1', 'query8.npy'))).data).toEqual(
      Array.from(runLayer(compileLayer(g.layers[1]!), l0.output, 2).steps.query8.data as Int32Array));
    expect(parseNpy(readFileSync(join(dump, 'layer0', 'output8.npy')))).toEqual({ dtype: '<i4', shape: [2, 64], data: Array.from(l0.output) });
    expect(r.stdout).toMatch(/embeddings\s+3\s+[\d,]+/);
    expect(r.stdout).toMatch(/layer 0\s+10\s+[\d,]+/);
    expect(r.stdout).toMatch(/layer 1\s+10\s+[\d,]+/);
    expect(r.stdout).toMatch(/total latency\s+[\d,]+ cycles/);
    expect(r.stdout).toMatch(/every step of the embeddings and of every layer bit-exact/);
  });

  it('bad input exits 1 naming the field and the limit', async () => {
    const { vocab_size: _v, ...noVocab } = TINY;
    const cases: [string[], RegExp][] = [
      [['--config', writeJson('novocab.json', noVocab)], /required \(a shape field of the encoder\)\s+→ at vocab_size/],
      [['--config', writeJson('heads.json', { ...TINY, num_attention_heads: 3 })], /3 heads do not divide hidden_size 64\s+→ at num_attention_heads/],
      [['--config', conf, '--seq', '15'], /--seq: 15 tokens do not fit max_position_embeddings 16 \(ibert positions start at pad_token_id \+ 1 = 2\): at most 14/],
      [['--config', conf, '--layers', '3'], /--layers: 3 exceeds num_hidden_layers 2/],
      [['--config', conf, '--seq', '0'], /--seq: 0 is not a positive integer/],
      [['--config', conf, '--seq', '4', '--pad', '4'], /--pad: 4 padded positions leave no token of seq 4/],
      [['--config', conf, '--input', writeJson('ids.json', { input_ids: [3, 40, 5] })], /ids\.json: input_ids\[1\] = 40 is not below vocab_size 40/],
      [['--config', conf, '--input', writeJson('ids2.json', { input_ids: [3, 4], token_ids: [0, 0] })], /unknown key "token_ids"; allowed here: input_ids, token_type_ids, position_ids, attention_mask/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(['model', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(re);
    }
  });

  it('--checkpoint reads an HF I-BERT state dict (safetensors, config beside it) and a layer-format folder', async () => {
    const g = generateModel({ seed: 'model checkpoint', config: cfg, seq: 3, layers: 1 });
    const hf = join(dir, 'hf');
    mkdirSync(hf);
    writeFileSync(join(hf, 'config.json'), JSON.stringify(TINY));
    writeFileSync(join(hf, 'model.safetensors'), encodeSafetensors(hfStateDict(g.embeddings, g.layers, 'ibert.')));
    const r = await cli(['model', '--config', join(hf, 'config.json'), '--checkpoint', hf, '--layers', '1', '--seq', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as ModelJson & { checkpoint: string };
    expect(j.checkpoint).toMatch(/Hugging Face I-BERT state dict, prefix 'ibert\.'/);
    expect(j.bit_exact).toBe(true);

    // one layer of it with `layer --checkpoint` (config beside it), on an int8 .npy input [B, T, C]
    const xin = join(dir, 'x.npy');
    const emb = runEmbeddings(compileEmbeddings(g.embeddings), g.input).output;
    writeFileSync(xin, encodeNpy(Int8Array.from([...emb, ...emb.map((v) => (v === -128 ? 127 : -v))]), [2, 3, 64]));
    const ly = join(dir, 'hf-layer-y.npy');
    const rl = await cli(['layer', '--checkpoint', join(hf, 'model.safetensors'), '--index', '0', '--input', xin, '--out', ly, '--json']);
    expect(rl.code, rl.stderr).toBe(0);
    const jl = JSON.parse(rl.stdout) as { batch: number; bit_exact: boolean; layer: string };
    expect([jl.batch, jl.bit_exact]).toEqual([2, true]);
    expect(jl.layer).toMatch(/layer 0 of .*model\.safetensors/);
    expect(parseNpy(readFileSync(ly)).shape).toEqual([2, 3, 64]);
    const bad = await cli(['layer', '--checkpoint', join(hf, 'model.safetensors'), '--index', '2']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--index: 2 is not a layer of .*config\.json \(num_hidden_layers 2\)/);

    const lf = join(dir, 'lf');
    mkdirSync(lf);
    writeFileSync(join(lf, 'embeddings.json'), JSON.stringify({ ...g.embeddings, input: g.input }));
    g.layers.forEach((l, i) => writeFileSync(join(lf, `layer${i}.json`), JSON.stringify(l)));
    const out = join(dir, 'lf-y.npy');
    // token ids and a padding mask from --input
    const ids = writeJson('ids-ok.json', { ...g.input, attention_mask: [1, 1, 0] });
    const r2 = await cli(['model', '--config', conf, '--checkpoint', lf, '--layers', '1', '--input', ids, '--out', out]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/layer format/);
    expect(r2.stdout).toMatch(/seq 3 \(1 padded\)/);
    expect(parseNpy(readFileSync(out)).data).toEqual(Array.from(referenceModel(g, [1, 1, 0])));
    const r3 = await cli(['model', '--config', conf, '--checkpoint', lf]);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/layer1\.json is missing \(2 layers requested\)/);
  });
});

describe('intnpu layer --seq/--pad/--out/--dump and batch input', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  it('a synthetic layer at --seq 5 with 2 padded positions: the output and every step as .npy', async () => {
    const out = join(dir, 'layer-y.npy');
    const dump = join(dir, 'dump');
    const seed = 'layer seq pad out dump';
    const r = await cli(['layer', '--size', 'small', '--seq', '5', '--pad', '2', `--seed=${seed}`, '--out', out, '--dump', dump]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/at seq 5, last 2 positions padded/);
    const g = generateLayer({ seed, seq: 5, hidden: 64, heads: 2, ffn: 256, maskedTail: 2 });
    const ref = runLayer(compileLayer(g.layer), Int8Array.from(g.layer.input!.x_int), 5, g.mask);
    expect(parseNpy(readFileSync(out))).toEqual({ dtype: '|i1', shape: [5, 64], data: Array.from(ref.output) });
    // every file is a reference step (whatever the schedule fuses), equal to the reference's tensor of that step
    for (const f of readdirSync(dump)) {
      const name = f.replace(/\.npy$/, '') as LayerStepName;
      expect(LAYER_STEP_NAMES, f).toContain(name);
      const got = parseNpy(readFileSync(join(dump, f)));
      expect(got.shape, f).toEqual(ref.steps[name].shape);
      expect(got.data, f).toEqual(Array.from(ref.steps[name].data as Int32Array));
    }
    const probs = parseNpy(readFileSync(join(dump, 'probs.npy')));
    expect(probs.shape).toEqual([2, 5, 5]);
    expect(probs.data).toEqual(Array.from(ref.steps.probs.data as Int32Array));
    expect(probs.data[3]).toBe(0); // a masked key position
    // fused programs keep their intermediates on chip: the dump has the steps the simulator produced
    for (const s of ['query8', 'key8', 'value8', 'context8', 'ln1_input', 'intermediate_input8', 'fc2_input8', 'ln2_input', 'output8']) {
      expect(existsSync(join(dump, `${s}.npy`)), s).toBe(true);
    }
    for (const s of ['scores', 'attention_output8', 'fc1_acc', 'gelu8']) expect(existsSync(join(dump, `${s}.npy`)), s).toBe(false);
    // --no-fuse runs every kernel apart: every intermediate step is dumped
    const dump2 = join(dir, 'dump-unfused');
    const r2 = await cli(['layer', '--size', 'small', '--seq', '5', '--pad', '2', `--seed=${seed}`, '--no-fuse', '--dump', dump2]);
    expect(r2.code, r2.stderr).toBe(0);
    for (const s of ['query8', 'key8', 'value8', 'scores', 'context', 'context8', 'ln1_input', 'attention_output8', 'intermediate_input8', 'fc1_acc', 'gelu8', 'fc2_input8', 'ln2_input', 'output8']) {
      expect(existsSync(join(dump2, `${s}.npy`)), s).toBe(true);
    }
    expect(parseNpy(readFileSync(join(dump2, 'gelu8.npy'))).data).toEqual(Array.from(ref.steps.gelu8.data as Int32Array));
  });

  it('a batch [2, T, C] layer file runs as 2 sequences; --out writes [2, T, C]', async () => {
    const g = generateLayer({ seed: 'layer batch cli', seq: 3, hidden: 16, heads: 2, ffn: 24 });
    const x0 = g.layer.input!.x_int;
    const x1 = [...x0.slice(16), ...x0.slice(0, 16)];
    const file = writeJson('batch.json', { ...g.layer, input: { shape: [2, 3, 16], x_int: [...x0, ...x1] } });
    const out = join(dir, 'batch-y.npy');
    const r = await cli(['layer', '--layer', file, '--json', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { batch: number; bit_exact: boolean; total_cycles: number; sequences: { total_cycles: number }[] };
    expect([j.batch, j.bit_exact]).toEqual([2, true]);
    expect(j.total_cycles).toBe(j.sequences[0]!.total_cycles + j.sequences[1]!.total_cycles);
    const c = compileLayer(g.layer);
    const want = [...runLayer(c, Int8Array.from(x0), 3).output, ...runLayer(c, Int8Array.from(x1), 3).output];
    expect(parseNpy(readFileSync(out))).toEqual({ dtype: '|i1', shape: [2, 3, 16], data: want });
  });

  it('a sequence that does not fit the machine exits 1 naming the memory and its size', async () => {
    // (the fused programs keep the int32 intermediates on chip, so a smaller DRAM than the unfused kernels need)
    const m = writeJson('small-dram.json', { name: 'small-dram', dram: { sizeBytes: 32768 } });
    // each kernel alone (--no-overlap): the steps whose own buffers do not fit are named
    const r = await cli(['layer', '--size', 'small', '--seq', '48', '--machine', m, '--no-overlap']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/does not fit small-dram at seq 48\): step \d+ \(\w+, [\w-]+\): .*dram holds 32768 bytes/);
    const r2 = await cli(['layer', '--size', 'small', '--seq', '-3']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/--seq: -3 is not a positive integer/);
    // refused before the layer is generated: a length whose tensors cannot fit the DRAM (with the largest that can),
    // and one past the host limit of a synthetic layer; no stack trace either way
    // one after the other: the in-process runs share the captured stderr (the handler awaits)
    const r3 = await cli(['layer', '--size', 'base', '--seq', '512', '--machine', m]);
    const r4 = await cli(['layer', '--size', 'base', '--seq', '5000']);
    expect(r3.code, r3.stderr).toBe(1);
    expect(r3.stderr).toMatch(/--seq: a BERT-base layer at seq 512 keeps at least \d+ bytes in DRAM .* small-dram's dram\.sizeBytes is 32768: at most seq \d+/);
    expect(r4.code, r4.stderr).toBe(1);
    expect(r4.stderr).toMatch(/--seq: 5000 tokens exceed the host limit of a synthetic layer, 1024/);
    expect(r3.stderr + r4.stderr).not.toMatch(/\n\s+at /);
  });
});
