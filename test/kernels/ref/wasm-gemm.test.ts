// The reference's WebAssembly path (kernels/ref/wasm-gemm.ts) against its TypeScript definition: every
// element of gemmABt and every bit of linearFloat, on odd shapes and strided operands; the synthetic layers
// pinned by digests recorded from the code before the WebAssembly path existed; the committed module
// against its WAT source.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateLayer } from '../../../kernels/ref/generate.js';
import { linearFloat, linearFloatTs } from '../../../kernels/ref/float-ref.js';
import { gemmABt, gemmABtTs } from '../../../kernels/ref/linear.js';
import { gemmABtWasm, linearFloatWasm, referenceWasmActive, setReferenceWasm } from '../../../kernels/ref/wasm-gemm.js';
import { seededIt } from '../../seeded.js';

const sit = seededIt('test/kernels/ref/wasm-gemm.test.ts');
const ROOT = resolve(import.meta.dirname, '../../..');

afterEach(() => setReferenceWasm(true));

function ints(rng: () => number, n: number, lo: number, hi: number): Int16Array {
  return Int16Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo + 1)));
}

describe('reference GEMM on WebAssembly SIMD', () => {
  it('is available on this runtime (Node 20 has SIMD), unless INTNPU_WASM=0 turns it off', () => {
    setReferenceWasm(true);
    expect(referenceWasmActive()).toBe(true);
    setReferenceWasm(false);
    expect(referenceWasmActive()).toBe(false);
  });

  sit('gemmABt: WebAssembly equals TypeScript on odd shapes, strided operands and 9-bit values', (rng) => {
    for (const [M, N, K, lo, hi] of [[5, 7, 33, -128, 127], [2, 4, 8, -128, 127], [13, 30, 64, 0, 256], [33, 9, 127, -300, 300]] as const) {
      const lda = K + 3, ldb = K + 5, ldo = N + 2;
      const a = ints(rng, 2 + M * lda, lo, hi), b = ints(rng, 1 + N * ldb, -128, 127);
      const want = new Int32Array(M * ldo + 1).fill(-7), got = new Int32Array(M * ldo + 1).fill(-7);
      gemmABtTs(a, 2, lda, b, 1, ldb, M, N, K, want, 1, ldo);
      expect(gemmABtWasm(a, 2, lda, b, 1, ldb, M, N, K, got, 1, ldo)).toBe(true);
      expect(Array.from(got)).toEqual(Array.from(want));
    }
  });

  sit('gemmABt: the int8 kernel (both operands Int8Array) equals TypeScript on odd shapes and strided operands', (rng) => {
    for (const [M, N, K, lda, ldb] of [[5, 7, 33, 36, 40], [2, 4, 16, 16, 16], [13, 30, 64, 64, 64], [33, 9, 127, 130, 127], [1, 1, 1, 1, 1]] as const) {
      const a = Int8Array.from(ints(rng, 2 + M * lda, -128, 127)), b = Int8Array.from(ints(rng, 1 + N * ldb, -128, 127));
      const ldo = N + 2;
      const want = new Int32Array(M * ldo + 1).fill(-7), got = new Int32Array(M * ldo + 1).fill(-7);
      gemmABtTs(a, 2, lda, b, 1, ldb, M, N, K, want, 1, ldo);
      expect(gemmABtWasm(a, 2, lda, b, 1, ldb, M, N, K, got, 1, ldo)).toBe(true);
      expect(Array.from(got)).toEqual(Array.from(want));
    }
    // the extremes: -128 * -128 summed over K = 1024 (2^24 per dot product)
    const a = new Int8Array(3 * 1024).fill(-128), b = new Int8Array(5 * 1024).fill(-128);
    const got = new Int32Array(15);
    expect(gemmABtWasm(a, 0, 1024, b, 0, 1024, 3, 5, 1024, got, 0, 5)).toBe(true);
    expect(Array.from(got)).toEqual(new Array(15).fill(1024 * 16384));
  });

  it('gemmABt falls back to TypeScript for operands outside int16', () => {
    const a = new Int32Array(64 * 64).fill(1), b = new Int32Array(64 * 64).fill(2);
    a[5] = 40000;
    const out = new Int32Array(64 * 64);
    expect(gemmABtWasm(a, 0, 64, b, 0, 64, 64, 64, 64, out, 0, 64)).toBe(false);
    gemmABt(a, 0, 64, b, 0, 64, 64, 64, 64, out, 0, 64);
    expect(out[0]).toBe(2 * (63 + 40000));
  });

  sit('linearFloat: WebAssembly gives the same doubles as the TypeScript summation order', (rng) => {
    for (const [T, K, N] of [[7, 66, 9], [8, 64, 30], [3, 131, 17]] as const) {
      const x = Float64Array.from({ length: T * K }, () => (rng() - 0.5) * 3);
      const w = Float64Array.from({ length: N * K }, () => (rng() - 0.5) * 0.1);
      const bias = Float64Array.from({ length: N }, () => rng() - 0.5);
      const l = { inFeatures: K, outFeatures: N, weight: w, bias };
      const want = linearFloatTs(x, T, l);
      const got = linearFloatWasm(x, T, K, N, w, bias);
      expect(got).toBeDefined();
      expect(Buffer.from(got!.buffer).equals(Buffer.from(want.buffer))).toBe(true);
      setReferenceWasm(false);
      expect(Buffer.from(linearFloat(x, T, l).buffer).equals(Buffer.from(want.buffer))).toBe(true);
      setReferenceWasm(true);
    }
  });

  // Digests of JSON.stringify(layer) recorded from the code before the WebAssembly path (and with it off):
  // the same seed gives the same layer on either path.
  const PINNED = [
    [{ seed: 'intnpu-layer', seq: 8, hidden: 64, heads: 2, ffn: 256 }, '490536d698a54612466e251ca048456019178b14f9d7516918ee199506fe5dd7'],
    [{ seed: 'digest-odd', seq: 7, hidden: 66, heads: 3, ffn: 130, maskedTail: 2 }, '717a8ed9cb15a8273e7335e6f0274231b4efbae319ec2e82840b0b33e6d1c7f8'],
  ] as const;
  for (const wasm of [true, false]) {
    it(`synthetic layers are unchanged (${wasm ? 'WebAssembly' : 'TypeScript'} path)`, () => {
      setReferenceWasm(wasm);
      for (const [opts, digest] of PINNED) {
        expect(createHash('sha256').update(JSON.stringify(generateLayer(opts).layer)).digest('hex'), opts.seed).toBe(digest);
      }
    });
  }

  it('the committed modules match their WAT sources (node scripts/build-wasm.mjs --check)', () => {
    const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
