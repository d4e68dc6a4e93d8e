// Host-side buffer I/O for `run` and `debug`: fill a program's .buffer from a tensor file (JSON
// {"dtype","data"}, a bare JSON array, or NumPy .npy) and find buffers by name with a helpful error.
import type { BufferSymbol, Program } from '../isa/asm.js';
import type { Machine } from '../sim/machine.js';
import { parseNpy } from '../kernels/ref/npy.js';
import { readJson, UsageError } from './common.js';
import { readInputFile } from './files.js';

export const DTYPES = { int8: Int8Array, int16: Int16Array, int32: Int32Array } as const;
export type Dtype = keyof typeof DTYPES;

export function bufferOf(prog: Program | undefined, name: string, file: string): BufferSymbol {
  const b = prog?.buffers.get(name);
  if (!b) throw new UsageError(`no buffer '${name}' in ${file}${prog ? ` (buffers: ${[...prog.buffers.keys()].join(', ') || 'none'})` : ' (a .bin has no symbols)'}`);
  return b;
}

/**
 * Apply `--set BUFFER=FILE[:int8|int16|int32]` options to a machine before the run. FILE is a tensor JSON
 * ({"dtype","data"}), a bare JSON array of integers (int8 unless a `:type` suffix says otherwise), or a
 * NumPy .npy integer array. Returns warnings (a buffer only partly filled) for the caller to print.
 */
export function setBuffers(specs: readonly string[] | undefined, prog: Program | undefined, file: string, m: Machine): string[] {
  const warnings: string[] = [];
  for (const s of specs ?? []) {
    const eq = s.indexOf('=');
    const name = eq > 0 ? s.slice(0, eq) : '';
    let path = eq > 0 ? s.slice(eq + 1) : '';
    if (!name || !path) throw new UsageError(`--set ${s}: expected BUFFER=file.json, BUFFER=file.json:int16 or BUFFER=file.npy`);
    let suffix: Dtype | undefined;
    const typed = /^(.*):(int8|int16|int32)$/.exec(path);
    if (typed) {
      path = typed[1]!;
      suffix = typed[2] as Dtype;
    }
    let dtype: Dtype;
    let data: unknown;
    let bare = false;
    if (path.endsWith('.npy')) {
      const a = parseNpy(readInputFile(path), path);
      dtype = a.dtype.endsWith('1') ? 'int8' : a.dtype.endsWith('2') ? 'int16' : 'int32';
      if (suffix !== undefined && suffix !== dtype) throw new UsageError(`--set ${s}: ${path} holds ${dtype} data, not ${suffix}`);
      data = a.data;
    } else {
      const t = readJson(path);
      if (Array.isArray(t)) {
        dtype = suffix ?? 'int8';
        data = t;
        bare = true;
      } else {
        if (typeof t !== 'object' || t === null) throw new UsageError(`--set ${s}: ${path} holds ${t === null ? 'null' : typeof t}, not a tensor ({"dtype", "data"} or a JSON array)`);
        const obj = t as { dtype?: unknown; data?: unknown };
        const unknownKeys = Object.keys(obj).filter((k) => k !== 'dtype' && k !== 'data');
        if (unknownKeys.length > 0) throw new UsageError(`--set ${s}: ${path}: unknown key ${JSON.stringify(unknownKeys[0])} (a tensor file has "dtype" and "data")`);
        if (obj.dtype !== undefined && !(typeof obj.dtype === 'string' && Object.hasOwn(DTYPES, obj.dtype))) {
          throw new UsageError(`--set ${s}: ${path}: "dtype" must be int8, int16 or int32`);
        }
        dtype = obj.dtype !== undefined ? (obj.dtype as Dtype) : 'int8';
        if (suffix !== undefined && obj.dtype !== undefined && suffix !== dtype) throw new UsageError(`--set ${s}: ${path} says "dtype": ${JSON.stringify(obj.dtype)}, not ${suffix}`);
        if (suffix !== undefined) dtype = suffix;
        data = obj.data;
      }
    }
    if (!Array.isArray(data)) throw new UsageError(`--set ${s}: ${path}: "data" must be an array of integers`);
    const notInt = data.findIndex((v) => !Number.isInteger(v));
    if (notInt >= 0) throw new UsageError(`--set ${s}: ${path}: element ${notInt} is not an integer`);
    const bits = dtype === 'int8' ? 8 : dtype === 'int16' ? 16 : 32;
    const lo = -(2 ** (bits - 1)), hi = 2 ** (bits - 1) - 1;
    const bad = (data as number[]).findIndex((v) => v < lo || v > hi);
    if (bad >= 0) throw new UsageError(`--set ${s}: element ${bad} = ${(data as number[])[bad]} does not fit ${dtype} (${lo}..${hi})${bare && suffix === undefined ? '; a bare array is int8 unless you add :int16 or :int32' : ''}`);
    const buf = bufferOf(prog, name, file);
    const elemBytes = DTYPES[dtype].BYTES_PER_ELEMENT;
    if (buf.space === 'acc' && dtype !== 'int32') throw new UsageError(`--set ${s}: accumulator buffer '${name}' takes int32 data (add :int32)`);
    const capacity = buf.space === 'acc' ? buf.size : Math.floor(buf.size / elemBytes);
    // More data than the buffer holds is an error; less fills its start, and says so.
    if (data.length > capacity) {
      throw new UsageError(`--set ${s}: ${data.length} ${dtype} values given, buffer '${name}' holds ${capacity} (${buf.size} ${buf.space === 'acc' ? 'words' : 'bytes'})`);
    }
    if (data.length < capacity) {
      warnings.push(`--set ${s}: warning: ${data.length} ${dtype} values fill the first ${data.length} of the ${capacity} of buffer '${name}'; the rest is left as it was (zero on a fresh machine)`);
    }
    m.writeBuffer(buf, DTYPES[dtype].from(data as number[]));
  }
  return warnings;
}
