// .npy reading: files built here byte by byte from the format's definition (magic, version, header dict,
// C-order little-endian data), including a PyTorch/NumPy-style int8 matrix fed to `intnpu kernel`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NpyError, parseNpy, toNested } from '../../kernels/ref/npy.js';

function npy(descr: string, shape: number[], bytes: Uint8Array, version = 1): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = version === 1 ? 10 : 12;
  let header = dict;
  while ((pre + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const out = new Uint8Array(pre + header.length + bytes.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), pre);
  out.set(bytes, pre + header.length);
  return out;
}

describe('.npy', () => {
  it('reads int8, uint8, int16, int32 and int64 arrays in C order, versions 1 and 2', () => {
    const i8 = Int8Array.from([-128, -1, 0, 1, 127, 5]);
    expect(parseNpy(npy('|i1', [2, 3], new Uint8Array(i8.buffer)))).toEqual({ dtype: '|i1', shape: [2, 3], data: [-128, -1, 0, 1, 127, 5] });
    expect(parseNpy(npy('|u1', [3], Uint8Array.from([0, 200, 255]))).data).toEqual([0, 200, 255]);
    const i16 = Int16Array.from([-32768, 32767, -2]);
    expect(parseNpy(npy('<i2', [3], new Uint8Array(i16.buffer), 2)).data).toEqual([-32768, 32767, -2]);
    const i32 = Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 7, -7]);
    const a = parseNpy(npy('<i4', [2, 2], new Uint8Array(i32.buffer)));
    expect(toNested(a)).toEqual([[-(2 ** 31), 2 ** 31 - 1], [7, -7]]);
    const i64 = BigInt64Array.from([-(2n ** 40n), 3n]);
    expect(parseNpy(npy('<i8', [2], new Uint8Array(i64.buffer))).data).toEqual([-(2 ** 40), 3]);
  });

  it('rejects floats, Fortran order, bad magic and truncated data with a clear error', () => {
    expect(() => parseNpy(npy('<f4', [1], new Uint8Array(4)))).toThrow(/not an integer type/);
    expect(() => parseNpy(new Uint8Array(20))).toThrow(NpyError);
    expect(() => parseNpy(npy('<i4', [4], new Uint8Array(8)))).toThrow(/truncated/);
    const f = npy('|i1', [1], new Uint8Array(1));
    const text = new TextDecoder('latin1').decode(f).replace("'fortran_order': False", "'fortran_order': True ");
    expect(() => parseNpy(Uint8Array.from(text, (c) => c.charCodeAt(0)))).toThrow(/Fortran/);
  });

  it('a kernel case can name .npy files for its tensors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'intnpu-npy-'));
    const M = 2, K = 3, N = 2;
    const x = Int8Array.from([1, -2, 3, -128, 127, 0]);
    const w = Int8Array.from([5, 6, -7, 8, -9, 10]);
    writeFileSync(join(dir, 'x.npy'), npy('|i1', [M, K], new Uint8Array(x.buffer)));
    writeFileSync(join(dir, 'w.npy'), npy('|i1', [N, K], new Uint8Array(w.buffer)));
    writeFileSync(join(dir, 'case.json'), JSON.stringify({ x_int: 'x.npy', weight_int: 'w.npy', bias_int: [100, -100] }));
    const r = spawnSync(process.execPath, ['dist/cli/main.js', 'kernel', 'linear', '--engine', 'sim', '--input', join(dir, 'case.json'), '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const want: number[] = [];
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = j === 0 ? 100 : -100;
      for (let k = 0; k < K; k++) s += x[i * K + k]! * w[j * K + k]!;
      want.push(s);
    }
    expect((JSON.parse(r.stdout) as { y_int: number[] }).y_int).toEqual(want);
  });
});
