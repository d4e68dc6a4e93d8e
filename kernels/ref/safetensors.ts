// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
// `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { string: string } }`, then the raw
// little-endian tensor bytes (offsets relative to the end of the header). Read strictly: every entry is checked
// against the buffer (offsets in range, size = elements x dtype size, no overlap), unknown header keys are errors.
// Tensors are decoded on demand, to float64 values (integers beyond 2^53 are refused). Host-side format reading,
// like fold.ts: floats are allowed here (checkpoint scales are float32); no integer kernel path reads this module.

import { z } from 'zod';
import { KernelInputError } from './errors.js';
import { strictObject } from './layer-format.js';

export const SAFETENSORS_DTYPES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
} as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

const EntrySchema = strictObject({
  dtype: z.enum(Object.keys(SAFETENSORS_DTYPES) as [SafetensorsDtype, ...SafetensorsDtype[]]),
  shape: z.array(z.number().int().min(0)),
  data_offsets: z.tuple([z.number().int().min(0), z.number().int().min(0)]),
});

export interface SafetensorsEntry {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** element count */
  readonly size: number;
}

export interface SafetensorsFile {
  readonly names: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  entry(name: string): SafetensorsEntry | undefined;
  /** the tensor's values in C order, as float64 (exact for every dtype but I64/U64 beyond 2^53, which throw) */
  values(name: string): Float64Array;
}

/** Largest header accepted (the format's reference implementation caps it at 100 MB). */
const MAX_HEADER = 100_000_000;

function f16(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function parseSafetensors(bytes: Uint8Array, where = 'safetensors'): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new KernelInputError(`${where}: ${msg}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes: not a safetensors file (no 8-byte header length)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) fail(`header length ${n64} exceeds the file (${bytes.length} bytes) or the ${MAX_HEADER}-byte limit: not a safetensors file`);
  const n = Number(n64);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch {
    return fail('the header is not valid UTF-8 JSON: not a safetensors file');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('the header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const entries = new Map<string, SafetensorsEntry & { begin: number; end: number }>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      const m = z.record(z.string(), z.string()).safeParse(v);
      if (!m.success) fail('__metadata__: expected an object of strings');
      metadata = m.data as Record<string, string>;
      continue;
    }
    const r = EntrySchema.safeParse(v);
    if (!r.success) return fail(`tensor "${name}":\n${z.prettifyError(r.error)}`);
    const { dtype, shape, data_offsets: [begin, end] } = r.data;
    const size = shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(size)) fail(`tensor "${name}": shape [${shape.join(', ')}] is too large`);
    if (end < begin || end > dataLen) fail(`tensor "${name}": data_offsets [${begin}, ${end}] leave the ${dataLen} data bytes`);
    if (end - begin !== size * SAFETENSORS_DTYPES[dtype]) fail(`tensor "${name}": ${end - begin} bytes for ${size} ${dtype} values of shape [${shape.join(', ')}] (expected ${size * SAFETENSORS_DTYPES[dtype]})`);
    entries.set(name, { dtype, shape, size, begin, end });
  }
  const spans = [...entries.entries()].filter(([, e]) => e.end > e.begin).sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![1].begin < spans[i - 1]![1].end) fail(`tensors "${spans[i - 1]![0]}" and "${spans[i]![0]}" overlap`);
  }
  return {
    names: [...entries.keys()],
    metadata,
    entry: (name) => entries.get(name),
    values: (name) => {
      const e = entries.get(name);
      if (e === undefined) return fail(`no tensor "${name}"`);
      const out = new Float64Array(e.size);
      const o = dataStart + e.begin;
      for (let i = 0; i < e.size; i++) {
        switch (e.dtype) {
          case 'F64': out[i] = dv.getFloat64(o + 8 * i, true); break;
          case 'F32': out[i] = dv.getFloat32(o + 4 * i, true); break;
          case 'F16': out[i] = f16(dv.getUint16(o + 2 * i, true)); break;
          case 'BF16': out[i] = new Float32Array(new Uint32Array([dv.getUint16(o + 2 * i, true) << 16]).buffer)[0]!; break;
          case 'I64': {
            const b = dv.getBigInt64(o + 8 * i, true);
            if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) fail(`tensor "${name}"[${i}]: ${b} does not fit a safe integer`);
            out[i] = Number(b);
            break;
          }
          case 'I32': out[i] = dv.getInt32(o + 4 * i, true); break;
          case 'I16': out[i] = dv.getInt16(o + 2 * i, true); break;
          case 'I8': out[i] = dv.getInt8(o + i); break;
          case 'U8': case 'BOOL': out[i] = dv.getUint8(o + i); break;
        }
      }
      return out;
    },
  };
}

export interface SafetensorsTensorIn {
  readonly dtype: 'F64' | 'F32' | 'I64' | 'I32' | 'I8' | 'U8';
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** Encodes tensors as a safetensors file (tests and fixtures; names in the given order, packed). */
export function encodeSafetensors(tensors: Readonly<Record<string, SafetensorsTensorIn>>, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let off = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name]!;
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new RangeError(`${name}: shape [${t.shape.join(', ')}] holds ${size} values, data has ${t.data.length}`);
    const bytes = size * SAFETENSORS_DTYPES[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // align the data to 8 bytes, as the reference writer does
  const hdr = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hdr.length + off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hdr.length), true);
  out.set(hdr, 8);
  let p = 8 + hdr.length;
  for (const name of names) {
    const t = tensors[name]!;
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i]!;
      switch (t.dtype) {
        case 'F64': dv.setFloat64(p, v, true); p += 8; break;
        case 'F32': dv.setFloat32(p, v, true); p += 4; break;
        case 'I64': dv.setBigInt64(p, BigInt(v), true); p += 8; break;
        case 'I32': dv.setInt32(p, v, true); p += 4; break;
        case 'I8': dv.setInt8(p, v); p += 1; break;
        case 'U8': dv.setUint8(p, v); p += 1; break;
      }
    }
  }
  return out;
}
