// Hugging Face inputs read strictly: config.json (kernels/ref/hf-config.ts), safetensors (kernels/ref/safetensors.ts)
// and an I-BERT state dict with HF's own names (kernels/ref/hf-checkpoint.ts), on a small state dict written by the
// test's own fixture (hf-fixture.ts); and the .npy writer read back by the .npy reader.
import { describe, expect, it } from 'vitest';
import { KernelInputError } from '../../../kernels/ref/errors.js';
import { generateModel } from '../../../kernels/ref/generate.js';
import { hfStateDictToModel } from '../../../kernels/ref/hf-checkpoint.js';
import { maxSequence, parseHfConfig } from '../../../kernels/ref/hf-config.js';
import { compileEmbeddings, compileLayer, runEmbeddings, runLayer } from '../../../kernels/ref/layer.js';
import { encodeNpy, parseNpy } from '../../../kernels/ref/npy.js';
import { encodeSafetensors, parseSafetensors } from '../../../kernels/ref/safetensors.js';
import { hfStateDict } from './hf-fixture.js';

const TINY = {
  model_type: 'ibert', hidden_size: 16, num_attention_heads: 2, intermediate_size: 24, num_hidden_layers: 2,
  vocab_size: 12, max_position_embeddings: 10, type_vocab_size: 1, pad_token_id: 1, hidden_act: 'gelu',
  layer_norm_eps: 1e-5, quant_mode: true, force_dequant: 'none', architectures: ['IBertForSequenceClassification'],
};

describe('config.json', () => {
  it('reads the shape fields, with RoBERTa/I-BERT positions starting at pad_token_id + 1', () => {
    const c = parseHfConfig(TINY);
    expect(c).toEqual({ hidden: 16, heads: 2, ffn: 24, layers: 2, vocab: 12, maxPositions: 10, typeVocab: 1, modelType: 'ibert', positionOffset: 2 });
    expect(maxSequence(c)).toBe(8);
    const bert = parseHfConfig({ ...TINY, model_type: 'bert', pad_token_id: 0 });
    expect([bert.positionOffset, maxSequence(bert)]).toEqual([0, 10]);
  });

  it('names a missing field, a bad head count, an unknown key and a float fallback', () => {
    const { intermediate_size: _f, ...missing } = TINY;
    expect(() => parseHfConfig(missing)).toThrow(KernelInputError);
    expect(() => parseHfConfig(missing)).toThrow(/required \(a shape field of the encoder\)\s+→ at intermediate_size/);
    expect(() => parseHfConfig({ ...TINY, num_attention_heads: 3 })).toThrow(/3 heads do not divide hidden_size 16\s+→ at num_attention_heads/);
    expect(() => parseHfConfig({ ...TINY, num_hidden_layer: 2 })).toThrow(/unknown key "num_hidden_layer"; allowed here: hidden_size, num_attention_heads, intermediate_size, num_hidden_layers,/);
    expect(() => parseHfConfig({ ...TINY, force_dequant: 'gelu' })).toThrow(/→ at force_dequant/);
    expect(() => parseHfConfig({ ...TINY, model_type: 'gpt2' })).toThrow(/expected bert, roberta or ibert .*\s+→ at model_type/);
    expect(() => parseHfConfig({ ...TINY, hidden_size: 0 })).toThrow(/→ at hidden_size/);
  });
});

describe('safetensors', () => {
  it('round-trips every written dtype and rejects truncated or inconsistent files', () => {
    const bytes = encodeSafetensors({
      a: { dtype: 'F32', shape: [2, 2], data: [0.5, -1.25, 3, 1e-3] },
      b: { dtype: 'I64', shape: [3], data: [-5, 0, 2 ** 40] },
      c: { dtype: 'I8', shape: [2], data: [-128, 127] },
      d: { dtype: 'F64', shape: [], data: [Math.PI] },
    }, { format: 'pt' });
    const f = parseSafetensors(bytes, 't.safetensors');
    expect(f.names).toEqual(['a', 'b', 'c', 'd']);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(Array.from(f.values('a'))).toEqual([0.5, -1.25, 3, Math.fround(1e-3)]);
    expect(Array.from(f.values('b'))).toEqual([-5, 0, 2 ** 40]);
    expect(Array.from(f.values('c'))).toEqual([-128, 127]);
    expect(Array.from(f.values('d'))).toEqual([Math.PI]);
    expect(f.entry('a')).toEqual(expect.objectContaining({ dtype: 'F32', shape: [2, 2], size: 4 }));
    expect(() => parseSafetensors(bytes.subarray(0, bytes.length - 1), 't')).toThrow(/data_offsets .* leave the/);
    expect(() => parseSafetensors(new Uint8Array(4), 't')).toThrow(/not a safetensors file/);
    const hugeHeader = new Uint8Array(16);
    new DataView(hugeHeader.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => parseSafetensors(hugeHeader, 't')).toThrow(/header length .* exceeds the file/);
    const text = (h: unknown): Uint8Array => {
      const j = new TextEncoder().encode(JSON.stringify(h));
      const out = new Uint8Array(8 + j.length + 8);
      new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
      out.set(j, 8);
      return out;
    };
    expect(() => parseSafetensors(text({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), 't')).toThrow(/8 bytes for 3 F32 values/);
    expect(() => parseSafetensors(text({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'I32', shape: [1], data_offsets: [4, 8] } }), 't')).toThrow(/overlap/);
    expect(() => parseSafetensors(text({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8], extra: 1 } }), 't')).toThrow(/unknown key "extra"/);
  });
});

describe('HF I-BERT state dict', () => {
  const cfg = parseHfConfig(TINY);
  const g = generateModel({ seed: 'hf state dict', config: cfg, seq: 5 });

  it('a synthetic checkpoint with its int8 tables and weights as Int8Array holds the same values as with number arrays', () => {
    const typed = generateModel({ seed: 'hf state dict', config: cfg, seq: 5 }, { int8Arrays: true });
    const plain = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x instanceof Int8Array ? Array.from(x) : x));
    expect(typed.embeddings.word_embeddings.weight_int).toBeInstanceOf(Int8Array);
    expect(typed.layers[1]!.intermediate.dense.weight_int).toBeInstanceOf(Int8Array);
    expect(plain(typed)).toBe(JSON.stringify(g));
  });

  it('reads HF names into the layer and embeddings formats (fp32 buffers), task heads accepted', () => {
    const dict = { ...hfStateDict(g.embeddings, g.layers, 'ibert.'), 'classifier.dense.weight': { dtype: 'F32' as const, shape: [2, 16], data: new Array<number>(32).fill(0) } };
    const m = hfStateDictToModel(parseSafetensors(encodeSafetensors(dict)), cfg, 'm.safetensors');
    expect(m.prefix).toBe('ibert.');
    expect(m.layers).toHaveLength(2);
    const f = Math.fround;
    const e = m.embeddings;
    expect(e.word_embeddings.weight_int).toEqual(g.embeddings.word_embeddings.weight_int);
    expect(e.position_embeddings.weight_scale).toBe(f(g.embeddings.position_embeddings.weight_scale));
    expect(e.embeddings_act1).toEqual({ bits: 16, x_min: f(g.embeddings.embeddings_act1.x_min), x_max: f(g.embeddings.embeddings_act1.x_max) });
    expect(e.LayerNorm.shift).toBe(g.embeddings.LayerNorm.shift);
    for (let i = 0; i < 2; i++) {
      const [a, b] = [m.layers[i]!, g.layers[i]!];
      expect(a.attention.self.query.weight_int).toEqual(b.attention.self.query.weight_int);
      expect(a.attention.self.query.weight_scale).toEqual(b.attention.self.query.weight_scale.map(f));
      expect(a.intermediate.dense.bias_int).toEqual(b.intermediate.dense.bias_int);
      expect(a.output.dense.in_features).toBe(24);
      expect(a.attention.self.softmax_act).toEqual({ bits: 16, x_min: f(b.attention.self.softmax_act!.x_min), x_max: f(b.attention.self.softmax_act!.x_max) });
      expect(a.output.ln_input_act.bits).toBe(22);
      expect(a.output.LayerNorm.gamma).toEqual(b.output.LayerNorm.gamma.map(f));
      expect(a.attention.output.LayerNorm.shift).toBe(b.attention.output.LayerNorm.shift);
    }
    // the scale chain: layer 0 takes the embeddings' output scale, layer 1 layer 0's
    const ce = compileEmbeddings(e);
    expect(m.layers[0]!.input_scale).toBe(ce.outputAct.scaleOut);
    expect(m.layers[1]!.input_scale).toBe(compileLayer(m.layers[0]!).outputAct.scaleOut);
    // and the model runs: its integer output is the reference's on its own checkpoint, not a degenerate one
    const emb = runEmbeddings(ce, g.input);
    const y = runLayer(compileLayer(m.layers[0]!), emb.output, 5);
    expect(new Set(y.output).size).toBeGreaterThan(8);
  });

  it('reads only the layers asked for', () => {
    const m = hfStateDictToModel(parseSafetensors(encodeSafetensors(hfStateDict(g.embeddings, g.layers))), cfg, 'm', 1);
    expect([m.prefix, m.layers.length]).toEqual(['', 1]);
  });

  it('a missing LayerNorm shift is an error, not 0', () => {
    const dict = hfStateDict(g.embeddings, g.layers);
    delete dict['encoder.layer.1.output.LayerNorm.shift'];
    expect(() => hfStateDictToModel(parseSafetensors(encodeSafetensors(dict)), cfg, 'm.safetensors')).toThrow(/m\.safetensors: missing "encoder\.layer\.1\.output\.LayerNorm\.shift": the LayerNorm shift is the checkpoint's frozen overflow buffer/);
  });

  it('refuses unknown keys, naming the key and what is allowed there', () => {
    const read = (extra: string): void => {
      const dict = { ...hfStateDict(g.embeddings, g.layers), [extra]: { dtype: 'F32' as const, shape: [1], data: [0] } };
      hfStateDictToModel(parseSafetensors(encodeSafetensors(dict)), cfg, 'm.safetensors');
    };
    expect(() => read('encoder.layer.0.attention.self.softmax_activation.x_min')).toThrow(
      /unknown key "encoder\.layer\.0\.attention\.self\.softmax_activation\.x_min"; allowed under encoder\.layer\.0\.attention\.self: query, key, value, query_activation, key_activation, value_activation, softmax, output_activation/);
    expect(() => read('encoder.layer.0.attention.self.softmax.act.x_mn')).toThrow(/allowed under encoder\.layer\.0\.attention\.self\.softmax\.act: x_min, x_max, act_scaling_factor/);
    expect(() => read('encoder.layer.2.output.dense.weight_integer')).toThrow(/num_hidden_layers 2 \(layers 0\.\.1\)/);
    expect(() => read('decoder.weight')).toThrow(/not an I-BERT encoder key/);
  });

  it('names a tensor of the wrong shape and a weight that is not int8', () => {
    const dict = hfStateDict(g.embeddings, g.layers);
    dict['encoder.layer.0.attention.self.key.bias_integer'] = { dtype: 'F32', shape: [15], data: new Array<number>(15).fill(0) };
    expect(() => hfStateDictToModel(parseSafetensors(encodeSafetensors(dict)), cfg, 'm')).toThrow(/"encoder\.layer\.0\.attention\.self\.key\.bias_integer": shape \[15\], expected \[16\]/);
    const d2 = hfStateDict(g.embeddings, g.layers);
    const w = d2['encoder.layer.0.intermediate.dense.weight_integer']!;
    d2['encoder.layer.0.intermediate.dense.weight_integer'] = { ...w, data: Array.from(w.data, (v, i) => (i === 7 ? 0.5 : v)) };
    expect(() => hfStateDictToModel(parseSafetensors(encodeSafetensors(d2)), cfg, 'm')).toThrow(/m: layer 0 \(encoder\.layer\.0\.\*\): invalid I-BERT layer:[\s\S]*intermediate\.dense\.weight_int\[7\]/);
  });
});

describe('.npy writer', () => {
  it('writes int8 and int32 tensors np.load reads (header aligned to 64 bytes)', () => {
    const a = encodeNpy(Int8Array.from([-128, 0, 127, 5, -1, 2]), [2, 3]);
    expect((10 + new DataView(a.buffer).getUint16(8, true)) % 64).toBe(0);
    expect(new TextDecoder().decode(a.subarray(10, 70))).toMatch(/^\{'descr': '\|i1', 'fortran_order': False, 'shape': \(2, 3\), \}/);
    expect(parseNpy(a)).toEqual({ dtype: '|i1', shape: [2, 3], data: [-128, 0, 127, 5, -1, 2] });
    const b = encodeNpy(Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 7]), [3]);
    expect(parseNpy(b)).toEqual({ dtype: '<i4', shape: [3], data: [-(2 ** 31), 2 ** 31 - 1, 7] });
    expect(() => encodeNpy(Int32Array.from([1, 2]), [3])).toThrow(/holds 3 values, data has 2/);
  });
});
