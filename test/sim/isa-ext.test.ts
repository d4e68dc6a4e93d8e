// The VPU, divider and MXU instructions added for the I-BERT kernels, each against an oracle written
// here (BigInt or plain loops), plus the timing of late scalar results and the non-pipelined divider.
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../isa/asm.js';
import { parseMachine, type MachineConfig } from '../../sim/config.js';
import { Machine } from '../../sim/machine.js';
import { loadProgram, SimFault, simulate, type SimResult } from '../../sim/run.js';
import { STALL_CAUSES } from '../../sim/timing.js';

const CFG = parseMachine({ vpu: { lanes: 8 }, spad: { sizeBytes: 4096 }, acc: { sizeBytes: 4096 }, dram: { sizeBytes: 65536 }, mxu: { rows: 8, cols: 8 } });
const L = 8;

function run(src: string, cfg: MachineConfig = CFG, prep?: (m: Machine) => void, trace = false): SimResult {
  const prog = assemble(src, { file: 'ext.s' });
  const m = new Machine(cfg);
  prep?.(m);
  return simulate(loadProgram(prog.words, prog), cfg, { machine: m, trace });
}
const vreg = (m: Machine, v: number): number[] => Array.from(m.vregs.subarray(v * L, v * L + L));
const setV = (m: Machine, v: number, vals: number[]): void => m.vregs.set(vals, v * L);

function oracleRound(p: bigint, s: number, rmode: number): bigint {
  const d = 1n << BigInt(s);
  let q = p / d;
  if (p < 0n && q * d !== p) q -= 1n;
  const r = p - q * d;
  if (rmode === 1 && (2n * r > d || (2n * r === d && (q & 1n) === 1n))) q += 1n;
  if (rmode === 2 && (2n * r > d || (2n * r === d && p >= 0n))) q += 1n;
  if (rmode === 3 && p < 0n && r !== 0n) q += 1n;
  return q;
}
const sat = (q: bigint, mode: number): number =>
  mode === 0 ? Number(BigInt.asIntN(32, q)) : Number(((lim) => (q > lim ? lim : q < -lim - 1n ? -lim - 1n : q))(mode === 1 ? 127n : mode === 2 ? 32767n : 2147483647n));

function fault(f: () => unknown): SimFault {
  try {
    f();
  } catch (e) {
    if (e instanceof SimFault) return e;
    throw e;
  }
  throw new Error('expected a fault');
}

describe('VPU additions', () => {
  it('vmacr equals round((a*b + c) / 2^s) with saturation, for every mode, on seeded and extreme lanes', () => {
    const seed = 'vmacr';
    const rng = seedrandom.alea(seed);
    const ext = [0, 1, -1, 2147483647, -2147483648, 65535, -65536, 1 << 30];
    for (let trial = 0; trial < 40; trial++) {
      const a = Array.from({ length: L }, (_, i) => (trial < 8 ? ext[(i + trial) % 8]! : Math.floor(rng() * 2 ** 32) - 2 ** 31));
      const b = Array.from({ length: L }, (_, i) => (trial < 8 ? ext[(i * 3 + trial) % 8]! : Math.floor(rng() * 2 ** 32) - 2 ** 31));
      const c = Array.from({ length: L }, (_, i) => (trial < 8 ? ext[(i * 5 + trial) % 8]! : Math.floor(rng() * 2 ** 32) - 2 ** 31));
      const s = trial % 64;
      for (let rmode = 0; rmode < 4; rmode++) {
        for (let sm = 0; sm < 4; sm++) {
          const modes = ['floor', 'rne', 'rhaz', 'trunc'], sats = ['wrap32', 'sat8', 'sat16', 'sat32'];
          const r = run(`li r1, ${s}\nvmacr v4, v1, v2, v3, r1, ${modes[rmode]}, ${sats[sm]}\nhalt`, CFG, (m) => {
            setV(m, 1, a); setV(m, 2, b); setV(m, 3, c);
          });
          const want = a.map((x, i) => sat(oracleRound(BigInt(x) * BigInt(b[i]!) + BigInt(c[i]!), s, rmode), sm));
          expect(vreg(r.machine, 4), `seed '${seed}' trial ${trial} rmode ${rmode} sat ${sm}`).toEqual(want);
        }
      }
    }
  });

  it('vabs, vsgn, vslt, vseq, vsel lane by lane (and lanes >= vl untouched)', () => {
    const a = [5, -5, 0, 2147483647, -2147483648, -1, 7, 3];
    const b = [5, 5, -1, 0, -2147483648, 0, 8, 2];
    const r = run('li r1, 7\nvsetvl r1, r1\nvabs v3, v1\nvsgn v4, v1\nvslt v5, v1, v2\nvseq v6, v1, v2\nvsel v7, v5, v1, v2\nhalt', CFG, (m) => {
      setV(m, 1, a); setV(m, 2, b);
      for (const v of [3, 4, 5, 6, 7]) setV(m, v, Array(L).fill(99));
    });
    const m = r.machine;
    expect(vreg(m, 3)).toEqual([5, 5, 0, 2147483647, -2147483648, 1, 7, 99]);
    expect(vreg(m, 4)).toEqual([1, -1, 0, 1, -1, -1, 1, 99]);
    expect(vreg(m, 5)).toEqual([0, 1, 0, 0, 0, 1, 1, 99]);
    expect(vreg(m, 6)).toEqual([1, 0, 0, 0, 1, 0, 0, 99]);
    expect(vreg(m, 7)).toEqual([5, -5, -1, 0, -2147483648, -1, 7, 99]);
  });

  it('vredsum wraps, vredmax; vredsum.w and vredsumsq.w accumulate exactly into a 64-bit pair', () => {
    const a = [2147483647, 2147483647, -5, 3, -2147483648, 100, 1, 0];
    const b = [268435455, -268435456, 99999, -3, 123456789, -987654, 0, 1]; // squares up to 2^56
    const r = run(
      'li r2, 0\nli r3, 0\nli r4, 0\nli r5, 0\nvredsum r1, v1\nvredmax r6, v1\nvredsum.w r2, v1\nvredsum.w r2, v1\nvredsumsq.w r4, v2\nvredsumsq.w r4, v2\nhalt',
      CFG, (m) => {
        setV(m, 1, a);
        setV(m, 2, b);
      });
    const s = r.machine.sregs;
    const sum = a.reduce((x, y) => x + BigInt(y), 0n);
    const sq = b.reduce((x, y) => x + BigInt(y) * BigInt(y), 0n);
    // Squares of int32 extremes overflow 64 bits after a few lanes: a fault, not a wrapped sum.
    expect(fault(() => run('li r2, 0\nli r3, 0\nvredsumsq.w r2, v1\nhalt', CFG, (m) => setV(m, 1, a))).kind).toBe('overflow');
    const pair = (lo: number, hi: number): bigint => (BigInt(hi) << 32n) | BigInt(lo >>> 0);
    expect(s[1]).toBe(Number(BigInt.asIntN(32, sum)));
    expect(s[6]).toBe(2147483647);
    expect(pair(s[2]!, s[3]!)).toBe(2n * sum);
    expect(pair(s[4]!, s[5]!)).toBe(2n * sq);
  });
});

describe('divider', () => {
  const oracleDiv = (a: bigint, b: bigint, rmode: number): number => {
    const neg = b < 0n;
    const [n, d] = neg ? [-a, -b] : [a, b];
    let q = n / d;
    if (n < 0n && q * d !== n) q -= 1n;
    const r = n - q * d;
    if (rmode === 1 && (2n * r > d || (2n * r === d && (q & 1n) === 1n))) q += 1n;
    if (rmode === 2 && (2n * r > d || (2n * r === d && q >= 0n))) q += 1n;
    if (rmode === 3 && q < 0n && r !== 0n) q += 1n;
    return Number(q > 2147483647n ? 2147483647n : q < -2147483648n ? -2147483648n : q);
  };
  const modes = ['floor', 'rne', 'rhaz', 'trunc'];

  it('div rounds the exact quotient in every mode (ties, negatives, extremes)', () => {
    const vals = [7, -7, 6, -6, 5, -5, 1, -1, 2, -2, 3, 768, -768, 2147483647, -2147483648, 1535, -1535, 384];
    for (const a of vals) for (const b of vals) for (let rm = 0; rm < 4; rm++) {
      const r = run(`li r1, ${a}\nli r2, ${b}\ndiv r3, r1, r2, ${modes[rm]}\nhalt`);
      expect(r.machine.sregs[3], `${a} / ${b} ${modes[rm]}`).toBe(oracleDiv(BigInt(a), BigInt(b), rm));
    }
  });

  it('div.w divides a 64-bit pair: floor(2^32 / sum), a rounded mean of a 64-bit sum, saturation', () => {
    const cases: Array<[bigint, number, number]> = [[1n << 32n, 98303, 0], [1n << 32n, 3, 0], [1n << 32n, 1, 0], [-(5n << 32n) - 7n, 768, 1], [(1n << 40n) + 384n, 768, 1], [-(1n << 62n), -3, 2]];
    for (const [n, d, rm] of cases) {
      const lo = Number(BigInt.asIntN(32, n)), hi = Number(BigInt.asIntN(32, n >> 32n));
      const r = run(`li r4, ${lo}\nli r5, ${hi}\nli r6, ${d}\ndiv.w r7, r4, r6, ${modes[rm]}\nhalt`);
      expect(r.machine.sregs[7], `${n} / ${d}`).toBe(oracleDiv(n, BigInt(d), rm));
    }
  });

  it('isqrt.w is floor(sqrt) of a 64-bit pair at perfect squares, their neighbours and the top of the range', () => {
    const vals: bigint[] = [0n, 1n, 2n, 3n, 4n, 1089462004n, (1n << 62n) - 1n];
    for (const r of [3n, 65535n, 65536n, 2147483647n, 46341n, 1234567891n]) for (const d of [-1n, 0n, 1n]) if (r * r + d >= 0n && r * r + d < 1n << 62n) vals.push(r * r + d);
    for (const v of vals) {
      const lo = Number(BigInt.asIntN(32, v)), hi = Number(BigInt.asIntN(32, v >> 32n));
      const res = run(`li r2, ${lo}\nli r3, ${hi}\nisqrt.w r1, r2\nhalt`);
      const got = BigInt(res.machine.sregs[1]!);
      expect(got * got <= v && (got + 1n) * (got + 1n) > v, `isqrt(${v}) = ${got}`).toBe(true);
    }
  });

  it('faults: division by zero, no divider on the machine, a bad pair, a negative radicand', () => {
    expect(fault(() => run('li r1, 5\ndiv r3, r1, r0, floor\nhalt')).kind).toBe('divide-by-zero');
    const none = parseMachine({ divider: { present: false } });
    expect(fault(() => run('li r1, 5\nli r2, 1\ndiv r3, r1, r2, floor\nhalt', none)).kind).toBe('no-divider');
    expect(fault(() => run('li r2, 1\ndiv.w r3, r31, r2, floor\nhalt')).kind).toBe('bad-operand');
    expect(fault(() => run('li r3, -1\nisqrt.w r1, r2\nhalt')).kind).toBe('bad-operand');
  });
});

describe('MXU additions', () => {
  it('mxu.mm.u8 reads unsigned input bytes; mxu.wload.t loads a K-major tile', () => {
    const M = 5, K = 8, N = 7;
    const rng = seedrandom.alea('mm.u8');
    const x = Array.from({ length: M * K }, () => Math.floor(rng() * 256)); // 0..255
    const wkn = Array.from({ length: K * N }, () => Math.floor(rng() * 256) - 128); // [K][N]
    const src = `li r1, 0\nli r2, ${N}\nli r3, ${K}\nli r4, ${N}\nmxu.wload.t r1, r2, r3, r4\nli r5, 0\nli r6, 256\nli r7, ${M}\nli r8, ${N}\nli r9, ${K}\nmxu.mm.u8 r5, r6, r7, r8, r9, ovw\nhalt`;
    const r = run(src, CFG, (m) => {
      m.spad.set(Int8Array.from(wkn), 0);
      m.spad.set(Int8Array.from(x.map((v) => (v > 127 ? v - 256 : v))), 256);
    });
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[i * K + k]! * wkn[k * N + j]!;
      expect(r.machine.acc[i * N + j], `y[${i}][${j}]`).toBe(s);
    }
  });
});

describe('timing of late scalar results', () => {
  it('a scalar reading a reduction result waits reduceLatencyCycles; a second div waits for the busy divider', () => {
    const r = run('vredsum r1, v1\naddi r2, r1, 1\nli r3, 9\nli r4, 2\ndiv r5, r3, r4, floor\ndiv r6, r3, r4, floor\nadd r7, r6, r5\nhalt', CFG, undefined, true);
    const t = r.trace!;
    const red = t.find((e) => e.pc === 0)!, use = t.find((e) => e.pc === 1)!;
    expect(red.done - red.start).toBe(CFG.vpu.reduceLatencyCycles);
    expect(use.dispatch).toBe(red.done);
    expect(STALL_CAUSES[use.cause]).toBe('scalar_dependency');
    expect(use.waitedOn).toBe(0);
    const d1 = t.find((e) => e.pc === 4)!, d2 = t.find((e) => e.pc === 5)!, sum = t.find((e) => e.pc === 6)!;
    expect(d1.done - d1.start).toBe(CFG.divider.divLatencyCycles);
    expect(d2.start).toBe(d1.end);
    expect(sum.dispatch).toBe(d2.done);
    expect(r.machine.sregs[7]).toBe(8);
  });

  it('back-to-back accumulation into one pair issues every cycle (forwarding in the reduction tree)', () => {
    const r = run('li r2, 0\nli r3, 0\nvredsumsq.w r2, v1\nvredsumsq.w r2, v1\nvredsumsq.w r2, v1\nhalt', CFG, (m) => setV(m, 1, [1, 2, 3, 4, 5, 6, 7, 8]), true);
    const starts = r.trace!.filter((e) => e.pc >= 2 && e.pc <= 4).map((e) => e.start);
    expect(starts[1]! - starts[0]!).toBe(1);
    expect(starts[2]! - starts[1]!).toBe(1);
    expect(r.machine.sregs[2]).toBe(3 * 204);
  });
});

describe('timing-only mode and data-dependent scalars', () => {
  it('a division by a reduction result: timing-only mode skips the value checks and gives the full run\'s cycles', () => {
    const src = 'vredsum r3, v1\nli r1, 0\nli r2, 1\ndiv.w r4, r1, r3, floor\nisqrt.w r5, r1\nhalt';
    const prog = assemble(src, { file: 't.s' });
    const full = new Machine(CFG);
    full.vregs.fill(7, L, 2 * L);
    const a = simulate(loadProgram(prog.words, prog), CFG, { machine: full });
    expect(a.machine.sregs[4]).toBe(Math.floor(2 ** 32 / 56));
    const b = simulate(loadProgram(prog.words, prog), CFG, { machine: new Machine(CFG), mode: 'timing' });
    expect(b.stats.cycles).toBe(a.stats.cycles);
    // With data, a zero sum is a division by zero.
    expect(fault(() => simulate(loadProgram(prog.words, prog), CFG, { machine: new Machine(CFG) })).kind).toBe('divide-by-zero');
  });

  it('a 64-bit sum of squares over lanes the skipped data left large: an overflow with data, none in timing-only mode', () => {
    // LayerNorm's variance on stale registers: timing-only mode never computed the lanes, so it does not judge them
    const src = 'li r2, 0\nli r3, 0\nvredsumsq.w r2, v1\nvredsumsq.w r2, v1\nhalt';
    const prog = assemble(src, { file: 't.s' });
    const prep = (): Machine => {
      const m = new Machine(CFG);
      m.vregs.fill(-2147483648, L, 2 * L);
      return m;
    };
    expect(fault(() => simulate(loadProgram(prog.words, prog), CFG, { machine: prep() })).kind).toBe('overflow');
    const b = simulate(loadProgram(prog.words, prog), CFG, { machine: prep(), mode: 'timing' });
    expect(b.stats.instructions).toBe(5);
    expect(b.stats.cycles).toBeGreaterThan(0);
  });

  it('vmulr.vv shift lanes the skipped data left out of range: a fault with data, none in timing-only mode', () => {
    const prog = assemble('vmulr.vv v2, v1, v1, v3, rne, sat8\nhalt', { file: 't.s' });
    const prep = (): Machine => {
      const m = new Machine(CFG);
      m.vregs.fill(61898536, 3 * L, 4 * L);
      return m;
    };
    expect(fault(() => simulate(loadProgram(prog.words, prog), CFG, { machine: prep() })).kind).toBe('bad-operand');
    expect(simulate(loadProgram(prog.words, prog), CFG, { machine: prep(), mode: 'timing' }).stats.instructions).toBe(2);
  });
});
