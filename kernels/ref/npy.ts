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

/** Most elements one .npy array may hold here (the values become JavaScript numbers). */
export const MAX_NPY_ELEMENTS = 2 ** 25;
/** Most sub-arrays (products of the leading dimensions) one .npy array may nest into. */
export const MAX_NPY_ROWS = 2 ** 22;

export function parseNpy(bytes: Uint8Array, where = 'npy'): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new NpyError(`${where}: not a .npy file (bad magic)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new NpyError(`${where}: .npy format version ${major} is not 1, 2 or 3`);
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start) throw new NpyError(`${where}: truncated .npy header`);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  if (start + headerLen > bytes.length) throw new NpyError(`${where}: .npy header length ${headerLen} runs past the end of the file (${bytes.length} bytes)`);
  if (headerLen > 65536) throw new NpyError(`${where}: .npy header of ${headerLen} bytes is longer than any NumPy writes`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  // Errors describe what is wrong with the header; they never quote it (the file could be anything).
  const descr = /'descr'\s*:\s*'([^']{1,16})'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]{0,512})\)/.exec(header)?.[1];
  const missing = [descr === undefined && "'descr'", fortran === undefined && "'fortran_order'", shapeText === undefined && "'shape'"].filter(Boolean);
  if (missing.length > 0) throw new NpyError(`${where}: unreadable .npy header (no valid ${missing.join(', ')} entry)`);
  if (fortran === 'True') throw new NpyError(`${where}: Fortran-order arrays are not supported (save with np.ascontiguousarray)`);
  const key = descr === '<i1' ? '|i1' : descr === '<u1' ? '|u1' : descr!;
  const reader = Object.hasOwn(READERS, key) ? READERS[key] : undefined;
  if (!reader) throw new NpyError(`${where}: dtype ${JSON.stringify(descr)} is not an integer type this tool reads (int8/uint8/int16/uint16/int32/uint32/int64, little-endian)`);
  const dims = shapeText!.split(',').map((t) => t.trim());
  if (dims.length > 1 && dims[dims.length - 1] === '') dims.pop();
  if (dims.length === 1 && dims[0] === '') dims.pop();
  if (dims.length > 32) throw new NpyError(`${where}: shape has ${dims.length} dimensions (at most 32)`);
  const shape: number[] = [];
  for (const [i, t] of dims.entries()) {
    if (!/^\d{1,15}L?$/.test(t)) throw new NpyError(`${where}: shape dimension ${i} is not a non-negative integer`);
    shape.push(Number(t.replace('L', '')));
  }
  // The element count is checked before anything is allocated: (2^32, 0) holds nothing, (1e8, 0) too.
  const n = shape.reduce((a, b) => a * b, 1);
  // toNested builds one array per index of every leading dimension: bound those counts as well.
  let rows = 1;
  const tooManyRows = shape.slice(0, -1).some((d) => (rows *= d) > MAX_NPY_ROWS);
  if (n > MAX_NPY_ELEMENTS || tooManyRows) {
    throw new NpyError(`${where}: shape (${shape.join(', ')}) is larger than this tool reads (at most ${MAX_NPY_ELEMENTS} elements and ${MAX_NPY_ROWS} rows)`);
  }
  const off = start + headerLen;
  if (bytes.length < off + n * reader.size) throw new NpyError(`${where}: truncated: ${n} values of ${reader.size} bytes need ${off + n * reader.size} bytes, file has ${bytes.length}`);
  const data: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const v = reader.read(dv, off + i * reader.size);
    if (!Number.isSafeInteger(v)) throw new NpyError(`${where}: value ${i} does not fit a safe integer`);
    data[i] = v;
  }
  return { dtype: descr!, shape, data };
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

// ---------------------------------------------------------------------------------------------------------------
// Writing (format version 1.0): the CLI's --out and --dump tensors, readable by np.load.

const WRITE_DTYPES = { int8: { descr: '|i1', size: 1 }, int32: { descr: '<i4', size: 4 } } as const;

/** Encodes an int8 or int32 tensor (C order) as a .npy file; `shape` must hold data.length elements. */
export function encodeNpy(data: Int8Array | Int32Array, shape: readonly number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new NpyError(`encodeNpy: shape [${shape.join(', ')}] holds ${n} values, data has ${data.length}`);
  const dt = data instanceof Int8Array ? WRITE_DTYPES.int8 : WRITE_DTYPES.int32;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dt.descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // magic (6) + version (2) + header length (2) + header + '\n', padded with spaces to a multiple of 64
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.length * dt.size);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  const dv = new DataView(out.buffer);
  dv.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  if (dt.size === 1) out.set(new Uint8Array(data.buffer, data.byteOffset, data.length), total);
  else for (let i = 0; i < data.length; i++) dv.setInt32(total + 4 * i, data[i]!, true);
  return out;
}
