// The WebAssembly MXU (sim/wasm-mxu.ts) against the TypeScript MAC loop (sim/exec.ts matmulTile): the same
// accumulators for random tiles worked in place on a machine's memories (strides, remainders, int8 and uint8 inputs,
// overwrite and accumulate with int32 wrap-around), and the same outputs and cycles for the kernel programs that use
// the MXU.
import { afterEach, describe, expect, it } from 'vitest';
import { matmulTile, matmulTileU8 } from '../../sim/exec.js';
import { Machine } from '../../sim/machine.js';
import { loadMachine, parseMachine } from '../../sim/config.js';
import { MxuMemory, setSimWasm, simWasmActive } from '../../sim/wasm-mxu.js';
import { mulAddRoundShift, PACK } from '../../sim/intops.js';
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

  sit('the in-place kernel equals matmulTile on random tiles (strides incl. negative, odd rows, partial column blocks, operands at the memories\' ends, u8, accumulate with wrap-around), weights by its wload', (rng) => {
    const R = 40, C = 19; // an array whose depth (40 -> 40) and width (19 -> 20) both need padding
    const SPAD = 1024, ACC = 300; // room for the largest region (13 rows 44 bytes apart; 13 rows of 22 words)
    const mem = MxuMemory.create(SPAD, ACC, C, R, 8)!;
    expect(mem).toBeDefined();
    expect(mem.spad.byteOffset).toBe(0);
    for (let t = 0; t < 60; t++) {
      const k = 1 + Math.floor(rng() * R), rows = 1 + Math.floor(rng() * 13), n = 1 + Math.floor(rng() * C);
      const neg = t % 5 === 1, atEnd = t % 5 === 2;
      const xStride = (neg ? -1 : 1) * (k + Math.floor(rng() * 5)), accStride = (t % 7 === 3 ? -1 : 1) * (n + Math.floor(rng() * 4));
      const xSpan = (rows - 1) * Math.abs(xStride) + k, aSpan = (rows - 1) * Math.abs(accStride) + n;
      // the region's lowest address: anywhere, or flush with the end of the scratchpad / accumulators
      const xLo = atEnd ? SPAD - xSpan : Math.floor(rng() * (SPAD - xSpan + 1));
      const aLo = atEnd || t % 7 === 3 ? ACC - aSpan : Math.floor(rng() * (ACC - aSpan + 1));
      const x = xStride < 0 ? xLo + (rows - 1) * -xStride : xLo, accAddr = accStride < 0 ? aLo + (rows - 1) * -accStride : aLo;
      const unsigned = rng() < 0.3, accumulate = rng() < 0.5;
      const buf = t & 1;
      for (let i = 0; i < SPAD; i++) mem.spad[i] = Math.floor(rng() * 256) - 128;
      for (let i = 0; i < ACC; i++) mem.acc[i] = Math.floor(rng() * 2 ** 32) - 2 ** 31;
      mem.acc[aLo] = 2 ** 31 - 1; // wraps when a positive sum is added
      // the weights by the wasm mxu.wload from a scratchpad region ([n][k] rows or [k][n] transposed, strides of either
      // sign, flush with the scratchpad's end every fifth tile), over stale values: W[j][kk] for kk < k, zero up to the
      // depth, columns past n untouched
      const Q = mem.wq[buf]!, D = mem.depth;
      for (let i = 0; i < Q.length; i++) Q[i] = Math.floor(rng() * 65536) - 32768;
      const stale = Int16Array.from(Q);
      const transposed = rng() < 0.4;
      const wRows = transposed ? k : n, wLen = transposed ? n : k;
      const wStride = (rng() < 0.3 ? -1 : 1) * (wLen + Math.floor(rng() * 3));
      const wSpan = (wRows - 1) * Math.abs(wStride) + wLen;
      const wLo = atEnd ? SPAD - wSpan : Math.floor(rng() * (SPAD - wSpan + 1));
      const wAddr = wStride < 0 ? wLo + (wRows - 1) * -wStride : wLo;
      const js = transposed ? 1 : wStride, ks = transposed ? wStride : 1;
      mem.wload(buf, wAddr, js, ks, k, n);
      for (let j = 0; j < C; j++) {
        for (let kk = 0; kk < D; kk++) {
          const want = j >= n ? stale[j * D + kk]! : kk < k ? mem.spad[wAddr + j * js + kk * ks]! : 0;
          if (Q[j * D + kk] !== want) expect(Q[j * D + kk], `tile ${t}: wload column ${j} lane ${kk} (k ${k} n ${n} transposed ${transposed} stride ${wStride})`).toBe(want);
        }
      }
      // TypeScript form: packed pairs P[q][kk] = W[2q][kk] + W[2q+1][kk] * 2^26, stride R
      const P = new Float64Array(Math.ceil(n / 2) * R);
      for (let j = 0; j < n; j += 2) for (let kk = 0; kk < k; kk++) P[(j >> 1) * R + kk] = Q[j * D + kk]! + (j + 1 < n ? Q[(j + 1) * D + kk]! * PACK : 0);
      const a = Int32Array.from(mem.acc);
      const S8 = Int8Array.from(mem.spad);
      if (unsigned) matmulTileU8(new Uint8Array(S8.buffer), x, xStride, rows, P, R, k, n, a, accAddr, accStride, accumulate);
      else matmulTile(S8, x, xStride, rows, P, R, k, n, a, accAddr, accStride, accumulate);
      const what = `tile ${t}: k ${k} n ${n} rows ${rows} x ${x}/${xStride} acc ${accAddr}/${accStride} u8 ${unsigned} accumulate ${accumulate}`;
      expect(() => mem.mm(unsigned, x, xStride, rows, buf, k, n, accAddr, accStride, accumulate), what).not.toThrow();
      expect(Array.from(mem.acc), what).toEqual(Array.from(a));
      expect(Array.from(mem.spad), `${what}: scratchpad untouched`).toEqual(Array.from(S8));
    }
  });

  sit('the VPU multiplies (vmacr, vmulr.vx, vmulr.vv) equal mulAddRoundShift on every lane, mode, width and shift class, in place', (rng) => {
    const L = 8;
    const mem = MxuMemory.create(256, 64, 4, 8, L)!;
    const V = mem.vregs;
    const lane = (): number => {
      const k = rng();
      if (k < 0.25) return [-2147483648, 2147483647, -2147483647, 0, 1, -1, 65535, -65536, 46341][Math.floor(rng() * 9)]!;
      if (k < 0.6) return (rng() * 2 ** 32) | 0;
      return ((rng() * 2 ** 32) | 0) >> Math.floor(rng() * 32);
    };
    const shiftOf = (): number => [0, 1, 15, 16, 31, 52, 53, 54, 62, 63, 64, 65, 100, 127][Math.floor(rng() * 14)]!;
    for (let t = 0; t < 600; t++) {
      // every fourth case small operands and shifts: exact ties of every sign (p = +-2^(s-1), q = 0 or -1) are common
      const small = (t >> 4) % 4 === 3;
      for (let i = 0; i < V.length; i++) V[i] = small ? Math.floor(rng() * 17) - 8 : lane();
      const n = 1 + Math.floor(rng() * L), rmode = t & 3, sat = (t >> 2) & 3, shift = small ? 1 + Math.floor(rng() * 4) : shiftOf();
      // registers 1..4 as operands; the destination one of them every third case (read before written per lane)
      const d = t % 3 === 0 ? 1 + Math.floor(rng() * 3) : 5, a = 1, b = 2, c = 3, sv = 4;
      for (let i = 0; i < L; i++) V[sv * L + i] = small ? Math.floor(rng() * 5) : shiftOf();
      const before = Int32Array.from(V);
      const mul = small ? Math.floor(rng() * 17) - 8 : lane();
      const op = t % 3;
      const want = Int32Array.from(before);
      for (let i = 0; i < n; i++) {
        const A = before[a * L + i]!, B = before[b * L + i]!;
        want[d * L + i] = op === 0 ? mulAddRoundShift(A, B, before[c * L + i]!, shift, rmode, sat)
          : op === 1 ? mulAddRoundShift(A, mul, 0, shift, rmode, sat) : mulAddRoundShift(A, B, 0, before[sv * L + i]!, rmode, sat);
      }
      if (op === 0) mem.vmacr(d * L, a * L, b * L, c * L, n, shift, rmode, sat);
      else if (op === 1) mem.vmulrVx(d * L, a * L, mul, n, shift, rmode, sat);
      else mem.vmulrVv(d * L, a * L, b * L, sv * L, n, rmode, sat);
      expect(Array.from(V), `case ${t}: ${['vmacr', 'vmulr.vx', 'vmulr.vv'][op]} n ${n} shift ${shift} rmode ${rmode} sat ${sat} d ${d}`).toEqual(Array.from(want));
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
