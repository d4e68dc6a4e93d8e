// Host-side buffer I/O for `run` and `debug`: fill a program's .buffer from a tensor file (JSON
// {"dtype","data"} or NumPy .npy) and find buffers by name with a helpful error.
import { readFileSync } from 'node:fs';
import type { BufferSymbol, Program } from '../isa/asm.js';
import type { Machine } from '../sim/machine.js';
import { parseNpy } from '../kernels/ref/npy.js';
import { readJson, UsageError } from './common.js';

export const DTYPES = { int8: Int8Array, int16: Int16Array, int32: Int32Array } as const;
export type Dtype = keyof typeof DTYPES;

export function bufferOf(prog: Program | undefined, name: string, file: string): BufferSymbol {
  const b = prog?.buffers.get(name);
  if (!b) throw new UsageError(`no buffer '${name}' in ${file}${prog ? ` (buffers: ${[...prog.buffers.keys()].join(', ') || 'none'})` : ' (a .bin has no symbols)'}`);
  return b;
}

/** Apply `--set BUFFER=tensor.json|tensor.npy` options to a machine before the run. */
export function setBuffers(specs: readonly string[] | undefined, prog: Program | undefined, file: string, m: Machine): void {
  for (const s of specs ?? []) {
    const [name, path] = s.split('=');
    if (!name || !path) throw new UsageError(`--set ${s}: expected BUFFER=file.json or BUFFER=file.npy`);
    let dtype: Dtype;
    let data: unknown;
    if (path.endsWith('.npy')) {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(path);
      } catch (e) {
        throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? ''}`);
      }
      const a = parseNpy(bytes, path);
      dtype = a.dtype.endsWith('1') ? 'int8' : a.dtype.endsWith('2') ? 'int16' : 'int32';
      data = a.data;
    } else {
      const t = readJson(path) as { dtype?: unknown; data?: unknown };
      dtype = typeof t.dtype === 'string' && t.dtype in DTYPES ? (t.dtype as Dtype) : 'int8';
      data = t.data;
    }
    if (!Array.isArray(data) || !data.every((v) => Number.isInteger(v))) throw new UsageError(`${path}: "data" must be an array of integers`);
    m.writeBuffer(bufferOf(prog, name, file), DTYPES[dtype].from(data as number[]));
  }
}
