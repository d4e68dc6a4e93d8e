// The WebAssembly MXU (sim/wasm-mxu.ts) against the TypeScript MAC loop (sim/exec.ts matmulTile): the same
// accumulators for random tiles (strides, remainders, int8 and uint8 inputs, overwrite and accumulate with
// int32 wrap-around), and the same outputs and cycles for the kernel programs that use the MXU.
import { afterEach, describe, expect, it } from 'vitest';
import { matmulTile, matmulTileU8 } from '../../sim/exec.js';
import { Machine } from '../../sim/machine.js';
import { loadMachine, parseMachine } from '../../sim/config.js';
import { matmulTileWasm, paddedDepth, setSimWasm, simWasmActive } from '../../sim/wasm-mxu.js';
import { PACK } from '../../sim/intops.js';
import { runLinearSim } from '../../programs/index.js';
import { runLinearRequantSim } from '../../programs/linear-requant/build.js';
import { runPvSim, runQkSim } from '../../programs/attention/build.js';
import { seededIt } from '../seeded.js';

const sit = seededIt('test/sim/wasm-mxu.test.ts');
afterEach(() => setSimWasm(true));

const ints = (rng: () => number, n: number, lo: number, hi: number, T: { from(a: ArrayLike<number>): ArrayLike<number> } = Int8Array): ArrayLike<number> =>
  T.from(Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo + 1))));

describe('WebAssembly MXU', () => {
  it('is chosen on this runtime unless INTNPU_WASM=0 or setSimWasm(false) turns it off', () => {
    expect(simWasmActive()).toBe(process.env['INTNPU_WASM'] !== '0');
    setSimWasm(true);
    expect(simWasmActive()).toBe(true);
    expect(new Machine(loadMachine('edge')).wasmMxu).toBe(true);
    setSimWasm(false);
    expect(new Machine(loadMachine('edge')).wasmMxu).toBe(false);
  });

  sit('matmulTileWasm equals matmulTile on random tiles (strides, remainders, u8, accumulate with wrap-around)', (rng) => {
    const R = 40;
    for (let t = 0; t < 40; t++) {
      // every other tile on 4-byte boundaries (x, stride and k multiples of 4: the word-copy path), the others anywhere
      const aligned = t % 2 === 0;
      // and every fourth tile's accumulator rows one contiguous block (n a multiple of 4 = the row stride)
      const block = t % 4 === 0;
      const k = aligned ? 4 * (1 + Math.floor(rng() * (R / 4))) : 1 + Math.floor(rng() * R), rows = 1 + Math.floor(rng() * 13);
      const n = block ? 4 * (1 + Math.floor(rng() * 4)) : 1 + Math.floor(rng() * 19);
      const xStride = aligned ? k + 4 * Math.floor(rng() * 3) : k + Math.floor(rng() * 5), accStride = block ? n : n + Math.floor(rng() * 4);
      const x0 = aligned ? 4 : 3;
      const unsigned = rng() < 0.3, accumulate = rng() < 0.5;
      const S8 = ints(rng, x0 + rows * xStride, -128, 127) as Int8Array;
      const W = ints(rng, n * k, -128, 127) as Int8Array;
      // TypeScript form: packed pairs P[q][kk] = W[2q][kk] + W[2q+1][kk] * 2^26, stride R
      const P = new Float64Array(Math.ceil(n / 2) * R);
      for (let j = 0; j < n; j += 2) for (let kk = 0; kk < k; kk++) P[(j >> 1) * R + kk] = W[j * k + kk]! + (j + 1 < n ? W[(j + 1) * k + kk]! * PACK : 0);
      const D = paddedDepth(R);
      const Q = new Int16Array(n * D);
      for (let j = 0; j < n; j++) for (let kk = 0; kk < k; kk++) Q[j * D + kk] = W[j * k + kk]!;
      const init = ints(rng, 2 + rows * accStride, -(2 ** 31), 2 ** 31 - 1, Int32Array) as Int32Array;
      init[2] = 2 ** 31 - 1; // wraps when a positive sum is added
      const a = Int32Array.from(init), b = Int32Array.from(init);
      if (unsigned) matmulTileU8(new Uint8Array(S8.buffer), x0, xStride, rows, P, R, k, n, a, 2, accStride, accumulate);
      else matmulTile(S8, x0, xStride, rows, P, R, k, n, a, 2, accStride, accumulate);
      matmulTileWasm(unsigned ? new Uint8Array(S8.buffer) : S8, x0, xStride, rows, Q, D, k, n, b, 2, accStride, accumulate);
      expect(Array.from(b), `tile ${t}: k ${k} n ${n} rows ${rows} u8 ${unsigned} acc ${accumulate} aligned ${aligned} block ${block}`).toEqual(Array.from(a));
    }
  });

  sit('kernel programs: the same outputs and cycles on both engines (linear both loop orders, linear-requant, qk, pv)', (rng) => {
    const edge = loadMachine('edge');
    const small = parseMachine({ name: 'edge, 64 KiB spad, 16 KiB acc', spad: { sizeBytes: 64 * 1024 }, acc: { sizeBytes: 16 * 1024 } });
    const both = <T extends { y: ArrayLike<number>; sim: { stats: object } }>(run: () => T): void => {
      setSimWasm(false);
      const ts = run();
      setSimWasm(true);
      const wa = run();
      expect(Array.from(wa.y)).toEqual(Array.from(ts.y));
      expect(wa.sim.stats).toEqual(ts.sim.stats);
    };
    for (const [M, K, N, cfg] of [[20, 100, 70, edge], [30, 3000, 40, small]] as const) {
      const x = ints(rng, M * K, -128, 127) as Int8Array, w = ints(rng, N * K, -127, 126) as Int8Array;
      const bias = ints(rng, N, -65536, 65536, Int32Array) as Int32Array;
      both(() => runLinearSim(x, w, bias, M, K, N, cfg));
      const m = Array.from({ length: N }, () => 1073741824 + Math.floor(rng() * 1e9)), e = Array.from({ length: N }, () => 36 + Math.floor(rng() * 4));
      both(() => runLinearRequantSim(x, w, bias, M, K, N, { m, e, bits: 8 }, cfg));
    }
    const T = 16, hidden = 64, heads = 4;
    const q = ints(rng, T * hidden, -128, 127) as Int8Array, kk = ints(rng, T * hidden, -128, 127) as Int8Array;
    both(() => runQkSim(q, kk, T, hidden, heads, edge));
    const p = ints(rng, heads * T * T, 0, 255, Uint8Array) as Uint8Array;
    both(() => runPvSim(p, kk, T, hidden, heads, edge));
  });
});
