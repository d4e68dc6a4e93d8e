// NumPy .npy reading (format versions 1-3, C order, little-endian integer dtypes), so tensors saved from
// PyTorch/NumPy (`np.save`) feed the CLI directly. Floats are rejected: the NPU takes integers only.

export interface NpyArray {
  readonly dtype: string;
  readonly shape: number[];
  /** Values in C order; int64/uint64 values must fit a double exactly. */
  readonly data: number[];
}

export class NpyError extends Error {
  override readonly name = 'NpyError';
  readonly exitCode = 1;
}

const READERS: Record<string, { size: number; read: (dv: DataView, off: number) => number }> = {
  '|i1': { size: 1, read: (dv, o) => dv.getInt8(o) },
  '|u1': { size: 1, read: (dv, o) => dv.getUint8(o) },
  '<i2': { size: 2, read: (dv, o) => dv.getInt16(o, true) },
  '<u2': { size: 2, read: (dv, o) => dv.getUint16(o, true) },
  '<i4': { size: 4, read: (dv, o) => dv.getInt32(o, true) },
  '<u4': { size: 4, read: (dv, o) => dv.getUint32(o, true) },
  '<i8': { size: 8, read: (dv, o) => Number(dv.getBigInt64(o, true)) },
};

interface NpyLayout {
  readonly descr: string;
  readonly shape: number[];
  readonly n: number;
  readonly off: number;
  readonly size: number;
}

function npyLayout(bytes: Uint8Array, where: string): NpyLayout {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new NpyError(`${where}: not a .npy file (bad magic)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new NpyError(`${where}: unreadable .npy header: ${header.trim()}`);
  if (fortran === 'True') throw new NpyError(`${where}: Fortran-order arrays are not supported (save with np.ascontiguousarray)`);
  const reader = READERS[descr === '<i1' ? '|i1' : descr === '<u1' ? '|u1' : descr];
  if (!reader) throw new NpyError(`${where}: dtype ${descr} is not an integer type this tool reads (int8/uint8/int16/uint16/int32/uint32/int64, little-endian)`);
  const shape = shapeText.split(',').map((t) => t.trim()).filter((t) => t !== '').map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const off = start + headerLen;
  if (bytes.length < off + n * reader.size) throw new NpyError(`${where}: truncated: ${n} values of ${reader.size} bytes need ${off + n * reader.size} bytes, file has ${bytes.length}`);
  return { descr, shape, n, off, size: reader.size };
}

export function parseNpy(bytes: Uint8Array, where = 'npy'): NpyArray {
  const { descr, shape, n, off } = npyLayout(bytes, where);
  const reader = READERS[descr === '<i1' ? '|i1' : descr === '<u1' ? '|u1' : descr]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const v = reader.read(dv, off + i * reader.size);
    if (!Number.isSafeInteger(v)) throw new NpyError(`${where}: value ${i} does not fit a safe integer`);
    data[i] = v;
  }
  return { dtype: descr, shape, data };
}

/** The array as nested JavaScript arrays following its shape (a 0-d array gives its single value). */
export function toNested(a: NpyArray): unknown {
  let pos = 0;
  const build = (dim: number): unknown => {
    if (dim === a.shape.length) return a.data[pos++];
    return Array.from({ length: a.shape[dim]! }, () => build(dim + 1));
  };
  return build(0);
}

const TYPED: Record<string, new (buffer: ArrayBuffer) => Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array> = {
  '|i1': Int8Array, '|u1': Uint8Array, '<i2': Int16Array, '<u2': Uint16Array, '<i4': Int32Array, '<u4': Uint32Array,
};

/**
 * A .npy array of a 32-bit-or-narrower integer dtype straight into the matching typed array (one copy of the
 * bytes, no per-element work), with its shape; undefined for int64 (read those with parseNpy: values must be
 * checked against 2^53). Same header checks and errors as parseNpy.
 */
export function parseNpyTyped(bytes: Uint8Array, where = 'npy'): { data: Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array; shape: number[]; dtype: string } | undefined {
  const { descr, shape, n, off, size } = npyLayout(bytes, where);
  const T = TYPED[descr === '<i1' ? '|i1' : descr === '<u1' ? '|u1' : descr];
  if (T === undefined) return undefined;
  // a fresh, aligned buffer of exactly the data (a Node Buffer's own slice() would share the file's pool)
  const copy = new Uint8Array(n * size);
  copy.set(bytes.subarray(off, off + n * size));
  return { data: new T(copy.buffer), shape, dtype: descr };
}
