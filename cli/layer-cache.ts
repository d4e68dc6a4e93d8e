// An on-disk cache of synthetic layers, keyed by seed and shape (and a version of the generator), so that
// `intnpu layer`, sweeps and benchmarks do not redo the float64 calibration pass for a layer they have made
// before. The same seed gives the same layer with or without the cache: the cache stores the generator's
// output exactly (integers as int8/int32 arrays, everything else as float64 bits or JSON numbers, which
// round-trip doubles exactly; the int8 weight and input tensors come back as Int8Array, which the layer format
// takes as they are) with a SHA-256 of its bytes; a file that fails the check is ignored and
// regenerated. Location: $INTNPU_CACHE_DIR, else $XDG_CACHE_HOME/intnpu, else ~/.cache/intnpu; INTNPU_CACHE=0
// turns it off. A cache that cannot be written (read-only home) is skipped silently.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { generateLayer, type SyntheticLayerOptions } from '../kernels/ref/generate.js';
import type { IbertLayerJson, QuantLinearJson } from '../kernels/ref/layer-format.js';

/** Bump when generateLayer's output for a given seed and shape changes (test/kernels/ref/wasm-gemm.test.ts pins it). */
export const SYNTHETIC_LAYER_VERSION = 1;

export interface CachedLayer {
  readonly layer: IbertLayerJson;
  readonly mask?: number[];
  /** where it came from: 'generated' (and stored if possible) or 'cache' */
  readonly from: 'generated' | 'cache';
}

export function layerCacheDir(): string | undefined {
  if (process.env['INTNPU_CACHE'] === '0') return undefined;
  const explicit = process.env['INTNPU_CACHE_DIR'];
  if (explicit) return explicit;
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg || join(os.homedir(), '.cache'), 'intnpu');
}

const MIN_BLOB = 256;

/** JSON with large number arrays moved to typed blobs (int8, int32 or float64, whichever holds them exactly). */
function encode(value: unknown): Buffer {
  const blobs: Buffer[] = [];
  const json = JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Int8Array) {
      // the int8 tensors the layer already holds typed: their bytes as they are (PERF: no scan of millions of numbers)
      blobs.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      return { $blob: blobs.length - 1, type: 'i8', length: v.length };
    }
    if (!Array.isArray(v) || v.length < MIN_BLOB || !v.every((x) => typeof x === 'number')) return v;
    const nums = v as number[];
    const int8 = nums.every((x) => Number.isInteger(x) && x >= -128 && x <= 127);
    const int32 = int8 || nums.every((x) => Number.isInteger(x) && x >= -2147483648 && x <= 2147483647);
    const arr = int8 ? Int8Array.from(nums) : int32 ? Int32Array.from(nums) : Float64Array.from(nums);
    blobs.push(Buffer.from(arr.buffer));
    return { $blob: blobs.length - 1, type: int8 ? 'i8' : int32 ? 'i32' : 'f64', length: nums.length };
  });
  const head = Buffer.from(JSON.stringify({ json, blobs: blobs.map((b) => b.length) }));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(head.length);
  return Buffer.concat([len, head, ...blobs]);
}

/** Keys of the layer format whose int8 tensors may be Int8Array (kernels/ref/layer-format.ts int8Tensor). */
const INT8_TENSOR_KEYS: ReadonlySet<string> = new Set(['weight_int', 'x_int']);

function decode(buf: Buffer): unknown {
  const headLen = buf.readUInt32LE(0);
  const head = JSON.parse(buf.subarray(4, 4 + headLen).toString()) as { json: string; blobs: number[] };
  const blobs: Buffer[] = [];
  let off = 4 + headLen;
  for (const n of head.blobs) {
    blobs.push(buf.subarray(off, off + n));
    off += n;
  }
  if (off !== buf.length) throw new Error('layer cache: length mismatch');
  return JSON.parse(head.json, (k, v: unknown) => {
    if (typeof v !== 'object' || v === null || !('$blob' in v)) return v;
    const b = v as { $blob: number; type: 'i8' | 'i32' | 'f64'; length: number };
    const src = blobs[b.$blob]!;
    if (b.type === 'i8') {
      if (src.length !== b.length) throw new Error('layer cache: blob length mismatch');
      // The layer format takes its big int8 tensors as Int8Array: a view of the file's bytes (PERF: no number array
      // of millions of elements, and no copy: fresh memory costs ~5 ms/MB to touch on this kind of VM)
      const arr = new Int8Array(src.buffer, src.byteOffset, src.length);
      return INT8_TENSOR_KEYS.has(k) ? arr : Array.from(arr);
    }
    const width = b.type === 'i32' ? 4 : 8;
    if (src.length !== b.length * width) throw new Error('layer cache: blob length mismatch');
    // int32 and float64 blobs are small (biases, scales, gamma/beta) and may sit at any offset: read by DataView
    const dv = new DataView(src.buffer, src.byteOffset, src.length);
    const out = new Array<number>(b.length);
    if (width === 4) for (let i = 0; i < b.length; i++) out[i] = dv.getInt32(4 * i, true);
    else for (let i = 0; i < b.length; i++) out[i] = dv.getFloat64(8 * i, true);
    return out;
  });
}

/**
 * generateLayer(opts).layer and .mask, from the cache when it holds a verified copy. `dir` null means no cache
 * (an explicit `undefined` would take the default folder, as JavaScript default parameters do).
 */
export function syntheticLayer(opts: SyntheticLayerOptions, dir: string | null = layerCacheDir() ?? null): CachedLayer {
  const key = createHash('sha256').update(JSON.stringify({ v: SYNTHETIC_LAYER_VERSION, opts })).digest('hex').slice(0, 32);
  const file = dir === null ? undefined : join(dir, `layer-${key}.bin`);
  if (file !== undefined) {
    try {
      const buf = readFileSync(file);
      const digest = buf.subarray(0, 32), body = buf.subarray(32);
      if (createHash('sha256').update(body).digest().equals(digest)) {
        const v = decode(body) as { layer: IbertLayerJson; mask?: number[] };
        return v.mask === undefined ? { layer: v.layer, from: 'cache' } : { layer: v.layer, mask: v.mask, from: 'cache' };
      }
    } catch {
      // absent or unreadable: generate
    }
  }
  const g = generateLayer(opts, { int8Arrays: true });
  // the same form as a cached layer: the generator's number arrays of millions of weights can go (cold-run memory)
  const layer = typedTensors(g.layer);
  if (file !== undefined && dir !== null) {
    try {
      mkdirSync(dir, { recursive: true });
      const body = encode(g.mask === undefined ? { layer } : { layer, mask: g.mask });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([createHash('sha256').update(body).digest(), body]));
      renameSync(tmp, file);
    } catch {
      // a cache that cannot be written is no cache
    }
  }
  return g.mask === undefined ? { layer, from: 'generated' } : { layer, mask: g.mask, from: 'generated' };
}

/** The layer with its int8 weight and input tensors as Int8Array (what the cache returns), everything else shared. */
function typedTensors(l: IbertLayerJson): IbertLayerJson {
  const i8 = (v: number[] | Int8Array): Int8Array => (v instanceof Int8Array ? v : new Int8Array(v));
  const lin = (q: QuantLinearJson): QuantLinearJson => ({ ...q, weight_int: i8(q.weight_int) });
  const s = l.attention.self;
  return {
    ...l,
    attention: { self: { ...s, query: lin(s.query), key: lin(s.key), value: lin(s.value) }, output: { ...l.attention.output, dense: lin(l.attention.output.dense) } },
    intermediate: { ...l.intermediate, dense: lin(l.intermediate.dense) },
    output: { ...l.output, dense: lin(l.output.dense) },
    ...(l.input === undefined ? {} : { input: { ...l.input, x_int: i8(l.input.x_int) } }),
  };
}
