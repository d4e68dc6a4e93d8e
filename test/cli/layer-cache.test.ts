// The synthetic-layer cache (cli/layer-cache.ts): a cached layer equals the generated one exactly (its int8 tensors
// typed either way), a damaged file is ignored and rewritten, and no directory means no cache.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateLayer } from '../../kernels/ref/generate.js';
import { syntheticLayer } from '../../cli/layer-cache.js';

/** JSON with typed arrays written as arrays (the cache returns the int8 tensors as Int8Array). */
const plain = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x instanceof Int8Array ? Array.from(x) : x));

describe('synthetic layer cache', () => {
  const opts = { seed: 'cache test', seq: 7, hidden: 66, heads: 3, ffn: 130, maskedTail: 2 };
  const want = generateLayer(opts);

  it('stores and returns the generated layer exactly (with its mask)', () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'intnpu-cache-'));
    const a = syntheticLayer(opts, dir);
    expect(a.from).toBe('generated');
    // generated or cached, the same values in the same form (int8 tensors typed)
    expect(plain(a.layer)).toBe(JSON.stringify(want.layer));
    expect(a.layer.intermediate.dense.weight_int).toBeInstanceOf(Int8Array);
    const b = syntheticLayer(opts, dir);
    expect(b.from).toBe('cache');
    expect(plain(b.layer)).toBe(JSON.stringify(want.layer));
    // the weights and the input come back as Int8Array (no number arrays), everything else as it was generated
    expect(b.layer.attention.self.query.weight_int).toBeInstanceOf(Int8Array);
    expect(b.layer.output.dense.weight_int).toBeInstanceOf(Int8Array);
    expect(b.layer.input!.x_int).toBeInstanceOf(Int8Array);
    expect(Array.isArray(b.layer.output.dense.bias_int)).toBe(true);
    expect(b.mask).toEqual(want.mask);
    // another seed is another entry
    expect(syntheticLayer({ ...opts, seed: 'other' }, dir).from).toBe('generated');
    expect(readdirSync(dir).filter((f) => f.endsWith('.bin'))).toHaveLength(2);
  });

  it('a damaged file fails its digest and is regenerated; no directory, no cache', () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'intnpu-cache-'));
    syntheticLayer(opts, dir);
    const file = join(dir, readdirSync(dir)[0]!);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    writeFileSync(file, bytes);
    const r = syntheticLayer(opts, dir);
    expect(r.from).toBe('generated');
    expect(plain(r.layer)).toBe(JSON.stringify(want.layer));
    expect(syntheticLayer(opts, dir).from).toBe('cache');
    // null: no cache at all (nothing read, nothing written to the user's cache folder)
    expect(syntheticLayer(opts, null).from).toBe('generated');
  });
});
