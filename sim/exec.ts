// Functional semantics: one case per ISA row, changing architectural state only. Each case also fills
// an Effects record (which unit, how much work, which memory regions and registers it touched) that the
// timing model and the stats read; no semantics is written twice. With `data` off (timing-only mode,
// VTA's SkipExec) the cases still do control flow, address arithmetic and bounds checks but skip the
// MACs, lane arithmetic and copies.
import { ISA, UNITS, TIMING_CLASSES, type TimingClass } from '../isa/table.js';
import { Fault, Machine, SPACE_ACC, SPACE_DRAM, SPACE_SPAD } from './machine.js';
import { addLaneSquaresToPair, addLaneSumToPair, isqrtBig, mulAddRoundShift, mulRoundShift, PACK, PAIR_SUM, pairToBig, roundDiv, roundDivBig, unpackHigh } from './intops.js';

export const UNIT_INDEX: Readonly<Record<(typeof UNITS)[number], number>> = Object.fromEntries(UNITS.map((u, i) => [u, i])) as Record<(typeof UNITS)[number], number>;
export const CLASS_NAMES = Object.keys(TIMING_CLASSES) as TimingClass[];
export const CLASS_INDEX: Readonly<Record<TimingClass, number>> = Object.fromEntries(CLASS_NAMES.map((c, i) => [c, i])) as Record<TimingClass, number>;

export const MAX_REGIONS = 4;

/** What one executed instruction did, for timing and stats. Reused across instructions. */
export class Effects {
  /** Work amount: rows streamed (mm), array rows loaded (wload), bytes (dma), active lanes (vpu). */
  amount = 0;
  taken = false;
  halt = false;
  macs = 0;
  dramBytes = 0;
  /** Weight buffer touched by mxu.wload (written) or mxu.mm (read). */
  wbuf = -1;
  nRegions = 0;
  readonly rSpace = new Int32Array(MAX_REGIONS);
  readonly rWrite = new Uint8Array(MAX_REGIONS);
  readonly rBase = new Float64Array(MAX_REGIONS);
  readonly rRows = new Float64Array(MAX_REGIONS);
  readonly rLen = new Float64Array(MAX_REGIONS);
  readonly rStride = new Float64Array(MAX_REGIONS);
  /** Vector registers read (up to 3) and written (-1 = none). */
  nVregReads = 0;
  readonly vregReads = new Int32Array(3);
  vregWrite = -1;
  /** Scalar registers written by a non-scalar unit when the instruction completes (-1 = none). */
  sregLate = -1;
  sregLate2 = -1;

  reset(): void {
    this.amount = 0;
    this.taken = false;
    this.halt = false;
    this.macs = 0;
    this.dramBytes = 0;
    this.wbuf = -1;
    this.nRegions = 0;
    this.nVregReads = 0;
    this.vregWrite = -1;
    this.sregLate = -1;
    this.sregLate2 = -1;
  }

  region(space: number, write: boolean, base: number, rows: number, len: number, stride: number): void {
    const i = this.nRegions++;
    this.rSpace[i] = space;
    this.rWrite[i] = write ? 1 : 0;
    this.rBase[i] = base;
    this.rRows[i] = rows;
    this.rLen[i] = len;
    this.rStride[i] = stride;
  }
}

/** Executes one instruction whose fields start at f[o]; returns the next pc. */
export type Semantics = (m: Machine, f: Int32Array, o: number, pc: number, e: Effects, data: boolean) => number;

const sreg = (m: Machine, i: number): number => m.sregs[i]!;
function setReg(m: Machine, i: number, v: number): void {
  if (i !== 0) m.sregs[i] = v;
}

function alu(op: (a: number, b: number) => number): Semantics {
  return (m, f, o, pc) => {
    setReg(m, f[o]!, op(sreg(m, f[o + 1]!), sreg(m, f[o + 2]!)));
    return pc + 1;
  };
}
function branch(cond: (a: number, b: number) => boolean): Semantics {
  return (m, f, o, pc, e) => {
    if (cond(sreg(m, f[o]!), sreg(m, f[o + 1]!))) {
      e.taken = true;
      return pc + f[o + 2]!;
    }
    return pc + 1;
  };
}

/** The vector registers an instruction writes (vd) and reads (-1: none); PERF: fixed arity, no rest array. */
function vecOperands(e: Effects, vd: number, ra = -1, rb = -1, rc = -1): void {
  e.vregWrite = vd;
  const r = e.vregReads;
  let n = 0;
  if (ra >= 0) r[n++] = ra;
  if (rb >= 0) r[n++] = rb;
  if (rc >= 0) r[n++] = rc;
  e.nVregReads = n;
}

function vv(op: (a: number, b: number) => number): Semantics {
  return (m, f, o, pc, e, data) => {
    const vd = f[o]!, va = f[o + 1]!, vb = f[o + 2]!;
    const L = m.lanes, n = m.vl, R = m.vregs;
    e.amount = n;
    vecOperands(e, vd, va, vb);
    if (data) for (let i = 0; i < n; i++) R[vd * L + i] = op(R[va * L + i]!, R[vb * L + i]!);
    return pc + 1;
  };
}
function vx(op: (a: number, b: number) => number): Semantics {
  return (m, f, o, pc, e, data) => {
    const vd = f[o]!, va = f[o + 1]!, s = sreg(m, f[o + 2]!);
    const L = m.lanes, n = m.vl, R = m.vregs;
    e.amount = n;
    vecOperands(e, vd, va);
    if (data) for (let i = 0; i < n; i++) R[vd * L + i] = op(R[va * L + i]!, s);
    return pc + 1;
  };
}

type Elem = 's8' | 's16' | 'acc';
function vload(kind: Elem): Semantics {
  return (m, f, o, pc, e, data) => {
    const vd = f[o]!, ra = f[o + 1]!, inc = f[o + 2]!;
    const addr = sreg(m, ra), n = m.vl, L = m.lanes, R = m.vregs;
    const space = kind === 'acc' ? SPACE_ACC : SPACE_SPAD;
    const width = kind === 's16' ? 2 : 1;
    m.check2d(space, addr, 1, n * width, 0);
    e.amount = n;
    vecOperands(e, vd);
    e.region(space, false, addr, 1, n * width, 0);
    if (data) {
      if (kind === 'acc') for (let i = 0; i < n; i++) R[vd * L + i] = m.acc[addr + i]!;
      else if (kind === 's8') for (let i = 0; i < n; i++) R[vd * L + i] = m.spad[addr + i]!;
      else for (let i = 0; i < n; i++) R[vd * L + i] = (m.spad[addr + 2 * i]! & 0xff) | (m.spad[addr + 2 * i + 1]! << 8);
    }
    setReg(m, ra, (addr + inc) | 0);
    return pc + 1;
  };
}
function vstore(kind: Elem): Semantics {
  return (m, f, o, pc, e, data) => {
    const vs = f[o]!, ra = f[o + 1]!, inc = f[o + 2]!;
    const addr = sreg(m, ra), n = m.vl, L = m.lanes, R = m.vregs;
    const space = kind === 'acc' ? SPACE_ACC : SPACE_SPAD;
    const width = kind === 's16' ? 2 : 1;
    m.check2d(space, addr, 1, n * width, 0);
    e.amount = n;
    e.nVregReads = 1;
    e.vregReads[0] = vs;
    e.region(space, true, addr, 1, n * width, 0);
    if (data) {
      if (kind === 'acc') for (let i = 0; i < n; i++) m.acc[addr + i] = R[vs * L + i]!;
      else if (kind === 's8') for (let i = 0; i < n; i++) m.spad[addr + i] = R[vs * L + i]!;
      else for (let i = 0; i < n; i++) {
        const v = R[vs * L + i]!;
        m.spad[addr + 2 * i] = v;
        m.spad[addr + 2 * i + 1] = v >> 8;
      }
    }
    setReg(m, ra, (addr + inc) | 0);
    return pc + 1;
  };
}

/** Rows up to this many bytes are copied by a loop rather than subarray + set. */
const SHORT_ROW = 128;

/** A memory's bytes as int32 words (one view per array; its byte offset is 0 in every Machine), else undefined. */
const WORDS = new WeakMap<Uint8Array | Int8Array, Int32Array>();
function wordsOf(a: Uint8Array | Int8Array): Int32Array | undefined {
  if ((a.byteOffset & 3) !== 0) return undefined;
  let w = WORDS.get(a);
  if (w === undefined) WORDS.set(a, (w = new Int32Array(a.buffer, a.byteOffset, a.byteLength >> 2)));
  return w;
}

function dma(store: boolean): Semantics {
  return (m, f, o, pc, e, data) => {
    const space = f[o]! === 0 ? SPACE_SPAD : SPACE_ACC;
    const chip = sreg(m, f[o + 1]!), rows = sreg(m, f[o + 3]!), len = sreg(m, f[o + 4]!);
    const chipStride = sreg(m, f[o + 5]!), dramStride = sreg(m, f[o + 6]!);
    const eb = space === SPACE_ACC ? 4 : 1;
    const dram = m.dramAddress(sreg(m, f[o + 2]!), rows, len * eb, dramStride);
    m.check2d(space, chip, rows, len, chipStride);
    m.check2d(SPACE_DRAM, dram, rows, len * eb, dramStride);
    // A DRAM stride of 0 reads one row and replicates it on chip (a broadcast): one row on the channel.
    const bytes = (dramStride === 0 && rows > 0 ? 1 : rows) * len * eb;
    guardWork(m, rows * len, Math.ceil(bytes / m.cfg.dram.bytesPerCycle), 'dma');
    e.amount = bytes;
    e.dramBytes = bytes;
    e.region(space, !store, chip, rows, len, chipStride);
    e.region(SPACE_DRAM, store, dram, rows, len * eb, dramStride);
    if (data && rows * len > 0) {
      const D = m.dram;
      // PERF: rows on 4-byte boundaries in DRAM move as int32 words (the bytes unchanged)
      const D32 = ((dram | dramStride) & 3) === 0 && len * eb <= SHORT_ROW ? wordsOf(D) : undefined;
      const S32 = space === SPACE_SPAD && D32 !== undefined && ((chip | chipStride | len) & 3) === 0 ? wordsOf(m.spad) : undefined;
      if (S32 !== undefined && D32 !== undefined) {
        const lw = len >> 2;
        for (let r = 0; r < rows; r++) {
          const c = (chip + r * chipStride) >> 2, d = (dram + r * dramStride) >> 2;
          if (store) for (let j = 0; j < lw; j++) D32[d + j] = S32[c + j]!;
          else for (let j = 0; j < lw; j++) S32[c + j] = D32[d + j]!;
        }
      } else if (space === SPACE_ACC && D32 !== undefined) {
        const A = m.acc;
        for (let r = 0; r < rows; r++) {
          const c = chip + r * chipStride, d = (dram + r * dramStride) >> 2;
          if (store) for (let j = 0; j < len; j++) D32[d + j] = A[c + j]!;
          else for (let j = 0; j < len; j++) A[c + j] = D32[d + j]!;
        }
      } else if (space === SPACE_SPAD) {
        const S = m.spadU8;
        if (len <= SHORT_ROW) {
          // PERF: short rows (an MXU tile's 16-128 bytes) byte by byte: no subarray object per row
          const from = store ? S : D, to = store ? D : S;
          for (let r = 0; r < rows; r++) {
            const c = chip + r * chipStride, d = dram + r * dramStride;
            const src = store ? c : d, dst = store ? d : c;
            for (let j = 0; j < len; j++) to[dst + j] = from[src + j]!;
          }
        } else {
          for (let r = 0; r < rows; r++) {
            const c = chip + r * chipStride, d = dram + r * dramStride;
            if (store) D.set(S.subarray(c, c + len), d);
            else S.set(D.subarray(d, d + len), c);
          }
        }
      } else {
        // int32 little-endian in DRAM; the accumulator is an Int32Array (little-endian on every Node host).
        const A = new Uint8Array(m.acc.buffer, m.acc.byteOffset, m.acc.byteLength);
        for (let r = 0; r < rows; r++) {
          const c = (chip + r * chipStride) * 4, d = dram + r * dramStride;
          if (store) D.set(A.subarray(c, c + len * 4), d);
          else A.set(D.subarray(d, d + len * 4), c);
        }
      }
    }
    return pc + 1;
  };
}

/**
 * The host work of one instruction is budgeted before the host loops over it: a huge row count with
 * zero strides passes the bounds check, and would otherwise run for minutes. `work` is elements moved
 * (DMA) or multiply-accumulates (MXU); the cycle budget bounds the rows streamed too.
 */
function guardWork(m: Machine, work: number, cycles: number, what: string): void {
  const L = m.cfg.limits;
  if (work > L.maxWorkPerInstruction) {
    throw new Fault('runaway', `${what} does ${work} element operations, over the per-instruction budget of ${L.maxWorkPerInstruction} (limits.maxWorkPerInstruction)`);
  }
  if (cycles > L.maxCycles) {
    throw new Fault('runaway', `${what} takes at least ${cycles} cycles, over the cycle budget of ${L.maxCycles} (limits.maxCycles) by itself`);
  }
}

/** mxu.wload ([N,K] tile: n rows of k bytes) and mxu.wload.t ([K,N] tile: k rows of n bytes). */
function wload(transposed: boolean): Semantics {
  const name = transposed ? 'mxu.wload.t' : 'mxu.wload';
  return (m, f, o, pc, e, data) => {
    const addr = sreg(m, f[o]!), stride = sreg(m, f[o + 1]!), k = sreg(m, f[o + 2]!), n = sreg(m, f[o + 3]!);
    const R = m.cfg.mxu.rows, C = m.cfg.mxu.cols;
    if (k < 1 || k > R || n < 1 || n > C) {
      throw new Fault('bad-operand', `${name} tile k=${k}, n=${n} does not fit the ${R}x${C} array (1 <= k <= ${R}, 1 <= n <= ${C})`);
    }
    const rows = transposed ? k : n, len = transposed ? n : k;
    m.check2d(SPACE_SPAD, addr, rows, len, stride);
    const buf = m.wActive === 0 ? 1 : 0;
    if (data && m.mxu !== undefined) {
      // int16 columns for the WebAssembly MXU: Q[j][kk] = W[j][kk], zero beyond k (sim/wasm-mxu.ts)
      m.mxu.wload(buf, addr, transposed ? 1 : stride, transposed ? stride : 1, k, n);
    } else if (data) {
      // Packed pairs for the MAC loop: P[q][kk] = W[2q][kk] + W[2q+1][kk] * 2^26 (see matmulTile).
      const P = m.wbuf[buf], S = m.spad;
      const js = transposed ? 1 : stride, ks = transposed ? stride : 1;
      for (let j = 0; j < n; j += 2) {
        const dst = (j >> 1) * R, two = j + 1 < n;
        for (let kk = 0; kk < k; kk++) {
          const src = addr + j * js + kk * ks;
          P[dst + kk] = S[src]! + (two ? S[src + js]! * PACK : 0);
        }
      }
    }
    m.wK[buf] = k;
    m.wN[buf] = n;
    m.wActive = buf;
    e.amount = k;
    e.wbuf = buf;
    e.region(SPACE_SPAD, false, addr, rows, len, stride);
    return pc + 1;
  };
}

/** mxu.mm (int8 input rows) and mxu.mm.u8 (the same bytes read as unsigned). */
function mm(unsigned: boolean): Semantics {
  return (m, f, o, pc, e, data) => mmExec(m, f, o, pc, e, data, unsigned);
}
function mmExec(m: Machine, f: Int32Array, o: number, pc: number, e: Effects, data: boolean, unsigned: boolean): number {
  const accAddr = sreg(m, f[o]!), x = sreg(m, f[o + 1]!), rows = sreg(m, f[o + 2]!);
  const accStride = sreg(m, f[o + 3]!), xStride = sreg(m, f[o + 4]!), accumulate = f[o + 5]! === 1;
  const buf = m.wActive;
  if (buf < 0) throw new Fault('bad-operand', 'mxu.mm before any mxu.wload: the array holds no weights');
  const k = m.wK[buf]!, n = m.wN[buf]!;
  guardWork(m, rows * k * n, rows, 'mxu.mm');
  m.check2d(SPACE_SPAD, x, rows, k, xStride);
  m.check2d(SPACE_ACC, accAddr, rows, n, accStride);
  e.amount = rows;
  e.macs = rows * k * n;
  e.wbuf = buf;
  e.region(SPACE_SPAD, false, x, rows, k, xStride);
  e.region(SPACE_ACC, true, accAddr, rows, n, accStride);
  if (data && m.mxu !== undefined) {
    m.mxu.mm(unsigned, x, xStride, rows, buf, k, n, accAddr, accStride, accumulate);
  } else if (data) {
    if (unsigned) matmulTileU8(m.spadU8, x, xStride, rows, m.wbuf[buf]!, m.cfg.mxu.rows, k, n, m.acc, accAddr, accStride, accumulate);
    else matmulTile(m.spad, x, xStride, rows, m.wbuf[buf]!, m.cfg.mxu.rows, k, n, m.acc, accAddr, accStride, accumulate);
  }
  return pc + 1;
}

/**
 * acc[r][j] (+)= sum_kk x[r][kk] * W[j][kk], exactly. PERF: two output columns share one double
 * multiply: the weight buffer holds w[j] + w[j+1] * 2^26 per k (packed at mxu.wload), so one
 * x * packed product accumulates both dot products; each stays below 2^24 in magnitude (k <= 1024,
 * |x*w| <= 2^14), so they separate exactly (unpackPair in sim/intops.ts). Register-blocked 4 rows x 2
 * packed pairs (4 columns): 6 loads per 16 MACs.
 */
export const matmulTile = makeMatmulTile<Int8Array>();
/** The same loop over unsigned input bytes (|x*w| <= 255*128 < 2^15, so k <= 1024 still separates exactly). */
export const matmulTileU8 = makeMatmulTile<Uint8Array>();

/**
 * One source, two closures: V8 keeps type feedback per closure, so the int8 and uint8 callers each get
 * monomorphic optimized code instead of sharing one polymorphic loop.
 */
function makeMatmulTile<T extends Int8Array | Uint8Array>() {
  return function matmulTileImpl(
  S: T, x: number, xStride: number, rows: number,
  P: Float64Array, pStride: number, k: number, n: number,
  A: Int32Array, accAddr: number, accStride: number, accumulate: boolean,
): void {
  const pairs = (n + 1) >> 1;
  const add = accumulate ? 1 : 0;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const x0 = x + r * xStride, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
    const a0 = accAddr + r * accStride, a1 = a0 + accStride, a2 = a1 + accStride, a3 = a2 + accStride;
    let q = 0;
    for (; q + 2 <= pairs; q += 2) {
      const p0 = q * pStride, p1 = p0 + pStride;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      for (let kk = 0; kk < k; kk++) {
        const w0 = P[p0 + kk]!, w1 = P[p1 + kk]!;
        const v0 = S[x0 + kk]!, v1 = S[x1 + kk]!, v2 = S[x2 + kk]!, v3 = S[x3 + kk]!;
        s00 += v0 * w0; s01 += v0 * w1;
        s10 += v1 * w0; s11 += v1 * w1;
        s20 += v2 * w0; s21 += v2 * w1;
        s30 += v3 * w0; s31 += v3 * w1;
      }
      const j = 2 * q;
      put(A, a0 + j, s00, n - j, add); put(A, a0 + j + 2, s01, n - j - 2, add);
      put(A, a1 + j, s10, n - j, add); put(A, a1 + j + 2, s11, n - j - 2, add);
      put(A, a2 + j, s20, n - j, add); put(A, a2 + j + 2, s21, n - j - 2, add);
      put(A, a3 + j, s30, n - j, add); put(A, a3 + j + 2, s31, n - j - 2, add);
    }
    for (; q < pairs; q++) {
      const p0 = q * pStride;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let kk = 0; kk < k; kk++) {
        const w0 = P[p0 + kk]!;
        s0 += S[x0 + kk]! * w0; s1 += S[x1 + kk]! * w0; s2 += S[x2 + kk]! * w0; s3 += S[x3 + kk]! * w0;
      }
      const j = 2 * q;
      put(A, a0 + j, s0, n - j, add); put(A, a1 + j, s1, n - j, add); put(A, a2 + j, s2, n - j, add); put(A, a3 + j, s3, n - j, add);
    }
  }
  for (; r < rows; r++) {
    const x0 = x + r * xStride, a0 = accAddr + r * accStride;
    for (let q = 0; q < pairs; q++) {
      const p0 = q * pStride;
      let s = 0;
      for (let kk = 0; kk < k; kk++) s += S[x0 + kk]! * P[p0 + kk]!;
      put(A, a0 + 2 * q, s, n - 2 * q, add);
    }
  }
};
}

/**
 * Separate a packed pair and write (add = 0) or add (add = 1) its int32 results at A[j], A[j+1],
 * wrapping like the hardware's adders; `left` = columns remaining (1: the pair's high half is padding).
 */
function put(A: Int32Array, j: number, sum: number, left: number, add: number): void {
  const hi = unpackHigh(sum);
  const lo = sum - hi * PACK;
  if (add === 1) {
    A[j] = (A[j]! + lo) | 0;
    if (left > 1) A[j + 1] = (A[j + 1]! + hi) | 0;
  } else {
    A[j] = lo;
    if (left > 1) A[j + 1] = hi;
  }
}

const vmulrVx: Semantics = (m, f, o, pc, e, data) => {
  const vd = f[o]!, va = f[o + 1]!, mul = sreg(m, f[o + 2]!), shift = sreg(m, f[o + 3]!), rmode = f[o + 4]!, sat = f[o + 5]!;
  if (shift < 0 || shift > 127) throw new Fault('bad-operand', `vmulr.vx shift ${shift} outside 0..127`);
  const L = m.lanes, n = m.vl, R = m.vregs;
  e.amount = n;
  vecOperands(e, vd, va);
  if (data && m.mxu !== undefined) m.mxu.vmulrVx(vd * L, va * L, mul, n, shift, rmode, sat);
  else if (data) for (let i = 0; i < n; i++) R[vd * L + i] = mulRoundShift(R[va * L + i]!, mul, shift, rmode, sat);
  return pc + 1;
};
const vmulrVv: Semantics = (m, f, o, pc, e, data) => {
  const vd = f[o]!, va = f[o + 1]!, vb = f[o + 2]!, vs = f[o + 3]!, rmode = f[o + 4]!, sat = f[o + 5]!;
  const L = m.lanes, n = m.vl, R = m.vregs;
  e.amount = n;
  vecOperands(e, vd, va, vb, vs);
  if (!data) return pc + 1; // the shift lanes are data: timing-only mode never computed them, so no value check
  for (let i = 0; i < n; i++) {
    const sh = R[vs * L + i]!;
    if (sh < 0 || sh > 127) throw new Fault('bad-operand', `vmulr.vv lane ${i} shift ${sh} outside 0..127`);
  }
  if (m.mxu !== undefined) m.mxu.vmulrVv(vd * L, va * L, vb * L, vs * L, n, rmode, sat);
  else for (let i = 0; i < n; i++) R[vd * L + i] = mulRoundShift(R[va * L + i]!, R[vb * L + i]!, R[vs * L + i]!, rmode, sat);
  return pc + 1;
};

function v1(op: (a: number) => number): Semantics {
  return (m, f, o, pc, e, data) => {
    const vd = f[o]!, va = f[o + 1]!;
    const L = m.lanes, n = m.vl, R = m.vregs;
    e.amount = n;
    vecOperands(e, vd, va);
    if (data) for (let i = 0; i < n; i++) R[vd * L + i] = op(R[va * L + i]!);
    return pc + 1;
  };
}

/** Lane reductions into a scalar register, written when the reduction completes (a late scalar write). */
function reduce(op: (m: Machine, va: number, n: number) => number): Semantics {
  return (m, f, o, pc, e) => {
    const rd = f[o]!, va = f[o + 1]!;
    e.amount = m.vl;
    e.nVregReads = 1;
    e.vregReads[0] = va;
    setReg(m, rd, op(m, va, m.vl)); // control flow may depend on it, so it is computed in timing-only mode too
    e.sregLate = rd;
    return pc + 1;
  };
}

/** 64-bit accumulation of the lane sum (or sum of squares) into the pair rd (low), rd+1 (high). */
function reducePair(squares: boolean): Semantics {
  const name = squares ? 'vredsumsq.w' : 'vredsum.w';
  return (m, f, o, pc, e, data) => {
    const rd = f[o]!, va = f[o + 1]!;
    if (rd === 0 || rd > 30) throw new Fault('bad-operand', `${name} needs a register pair r${rd}:r${rd + 1} with 1 <= rd <= 30`);
    const L = m.lanes, n = m.vl, R = m.vregs;
    const lo0 = sreg(m, rd), hi0 = sreg(m, rd + 1);
    const fits = squares ? addLaneSquaresToPair(lo0, hi0, R, va * L, n) : addLaneSumToPair(lo0, hi0, R, va * L, n);
    // In timing-only mode the lanes hold whatever the skipped data left: computed (control flow may read the pair, as
    // for vredsum), but no value check, as for the divider (the high word wraps).
    if (!fits && data) throw new Fault('overflow', `${name} sum ${(BigInt(PAIR_SUM[1]!) << 32n) + BigInt(PAIR_SUM[0]!)} does not fit 64 bits`);
    const lo = PAIR_SUM[0]! | 0, hi = PAIR_SUM[1]! | 0;
    setReg(m, rd, lo);
    setReg(m, rd + 1, hi);
    e.amount = n;
    e.nVregReads = 1;
    e.vregReads[0] = va;
    e.sregLate = rd;
    e.sregLate2 = rd + 1;
    return pc + 1;
  };
}

function requireDivider(m: Machine, what: string): void {
  if (!m.cfg.divider.present) throw new Fault('no-divider', `${what}: this machine has no divider (divider.present is false); use a reciprocal program`);
}

function divide(name: string, op: (m: Machine, a: number, b: number, rmode: number) => number): Semantics {
  return (m, f, o, pc, e, data) => {
    const rd = f[o]!, a = f[o + 1]!, b = f[o + 2]!, rmode = f[o + 3]!;
    requireDivider(m, name);
    if (name === 'div.w' && (a === 0 || a > 30)) throw new Fault('bad-operand', `div.w needs a dividend pair r${a}:r${a + 1} with 1 <= rs1 <= 30`);
    // In timing-only mode operands computed from data (reductions) were never computed: no value checks.
    if (!data) {
      setReg(m, rd, 0);
    } else {
      if (sreg(m, b) === 0) throw new Fault('divide-by-zero', `${name}: division by zero (r${b} = 0)`);
      setReg(m, rd, op(m, a, b, rmode));
    }
    e.sregLate = rd;
    return pc + 1;
  };
}

const next: Semantics = (_m, _f, _o, pc) => pc + 1;
const min = (a: number, b: number): number => (a < b ? a : b);
const max = (a: number, b: number): number => (a > b ? a : b);

/** One semantics case per ISA row, by mnemonic. A test checks the two tables match. */
export const SEMANTICS: Readonly<Record<string, Semantics>> = {
  nop: next,
  halt: (_m, _f, _o, pc, e) => {
    e.halt = true;
    return pc;
  },
  li: (m, f, o, pc) => {
    setReg(m, f[o]!, f[o + 1]!);
    return pc + 1;
  },
  addi: (m, f, o, pc) => {
    setReg(m, f[o]!, (sreg(m, f[o + 1]!) + f[o + 2]!) | 0);
    return pc + 1;
  },
  add: alu((a, b) => (a + b) | 0),
  sub: alu((a, b) => (a - b) | 0),
  mul: alu(Math.imul),
  and: alu((a, b) => a & b),
  or: alu((a, b) => a | b),
  xor: alu((a, b) => a ^ b),
  sll: alu((a, b) => a << (b & 31)),
  sra: alu((a, b) => a >> (b & 31)),
  srl: alu((a, b) => (a >>> (b & 31)) | 0),
  min: alu(min),
  max: alu(max),
  slt: alu((a, b) => (a < b ? 1 : 0)),
  beq: branch((a, b) => a === b),
  bne: branch((a, b) => a !== b),
  blt: branch((a, b) => a < b),
  bge: branch((a, b) => a >= b),
  jmp: (_m, f, o, pc, e) => {
    e.taken = true;
    return pc + f[o]!;
  },
  dbnz: (m, f, o, pc, e) => {
    const r = f[o]!;
    const v = (sreg(m, r) - 1) | 0;
    setReg(m, r, v);
    if (v !== 0) {
      e.taken = true;
      return pc + f[o + 1]!;
    }
    return pc + 1;
  },
  vsetvl: (m, f, o, pc) => {
    const want = sreg(m, f[o + 1]!);
    m.vl = want < 0 ? 0 : want > m.lanes ? m.lanes : want;
    setReg(m, f[o]!, m.vl);
    return pc + 1;
  },
  'dma.ld': dma(false),
  'dma.st': dma(true),
  'mxu.wload': wload(false),
  'mxu.mm': mm(false),
  'vld.s8': vload('s8'),
  'vld.s16': vload('s16'),
  'vld.acc': vload('acc'),
  'vst.s8': vstore('s8'),
  'vst.s16': vstore('s16'),
  'vst.acc': vstore('acc'),
  vbcast: (m, f, o, pc, e, data) => {
    const vd = f[o]!, s = sreg(m, f[o + 1]!), L = m.lanes, n = m.vl;
    e.amount = n;
    vecOperands(e, vd);
    if (data) m.vregs.fill(s, vd * L, vd * L + n);
    return pc + 1;
  },
  vadd: vv((a, b) => (a + b) | 0),
  vsub: vv((a, b) => (a - b) | 0),
  vmul: vv(Math.imul),
  vmin: vv(min),
  vmax: vv(max),
  vsra: vv((a, b) => a >> (b & 31)),
  vsll: vv((a, b) => a << (b & 31)),
  'vadd.vx': vx((a, b) => (a + b) | 0),
  'vsub.vx': vx((a, b) => (a - b) | 0),
  'vmul.vx': vx(Math.imul),
  'vmin.vx': vx(min),
  'vmax.vx': vx(max),
  'vsra.vx': vx((a, b) => a >> (b & 31)),
  'vsll.vx': vx((a, b) => a << (b & 31)),
  vclamp: (m, f, o, pc, e, data) => {
    const vd = f[o]!, va = f[o + 1]!, lo = sreg(m, f[o + 2]!), hi = sreg(m, f[o + 3]!);
    const L = m.lanes, n = m.vl, R = m.vregs;
    e.amount = n;
    vecOperands(e, vd, va);
    if (data) for (let i = 0; i < n; i++) {
      const v = R[va * L + i]!;
      R[vd * L + i] = v < lo ? lo : v > hi ? hi : v;
    }
    return pc + 1;
  },
  'vmulr.vx': vmulrVx,
  'vmulr.vv': vmulrVv,
  vmacr: (m, f, o, pc, e, data) => {
    const vd = f[o]!, va = f[o + 1]!, vb = f[o + 2]!, vc = f[o + 3]!, shift = sreg(m, f[o + 4]!), rmode = f[o + 5]!, sat = f[o + 6]!;
    if (shift < 0 || shift > 127) throw new Fault('bad-operand', `vmacr shift ${shift} outside 0..127`);
    const L = m.lanes, n = m.vl, R = m.vregs;
    e.amount = n;
    vecOperands(e, vd, va, vb, vc);
    if (data && m.mxu !== undefined) m.mxu.vmacr(vd * L, va * L, vb * L, vc * L, n, shift, rmode, sat);
    else if (data) for (let i = 0; i < n; i++) R[vd * L + i] = mulAddRoundShift(R[va * L + i]!, R[vb * L + i]!, R[vc * L + i]!, shift, rmode, sat);
    return pc + 1;
  },
  vabs: v1((a) => (a < 0 ? -a | 0 : a)),
  vsgn: v1((a) => (a > 0 ? 1 : a < 0 ? -1 : 0)),
  vslt: vv((a, b) => (a < b ? 1 : 0)),
  vseq: vv((a, b) => (a === b ? 1 : 0)),
  vsel: (m, f, o, pc, e, data) => {
    const vd = f[o]!, vm = f[o + 1]!, va = f[o + 2]!, vb = f[o + 3]!;
    const L = m.lanes, n = m.vl, R = m.vregs;
    e.amount = n;
    vecOperands(e, vd, vm, va, vb);
    if (data) for (let i = 0; i < n; i++) R[vd * L + i] = R[vm * L + i] !== 0 ? R[va * L + i]! : R[vb * L + i]!;
    return pc + 1;
  },
  vredsum: reduce((m, va, n) => {
    let s = 0; // exact: lanes <= 4096, so |s| < 2^43
    for (let i = 0; i < n; i++) s += m.vregs[va * m.lanes + i]!;
    return s | 0;
  }),
  vredmax: reduce((m, va, n) => {
    let mx = -2147483648;
    for (let i = 0; i < n; i++) {
      const v = m.vregs[va * m.lanes + i]!;
      if (v > mx) mx = v;
    }
    return mx;
  }),
  'vredsum.w': reducePair(false),
  'vredsumsq.w': reducePair(true),
  div: divide('div', (m, a, b, rmode) => roundDiv(sreg(m, a), sreg(m, b), rmode)),
  'div.w': divide('div.w', (m, a, b, rmode) => roundDivBig(pairToBig(sreg(m, a), a < 31 ? sreg(m, a + 1) : 0), BigInt(sreg(m, b)), rmode)),
  'isqrt.w': (m, f, o, pc, e, data) => {
    const rd = f[o]!, rs = f[o + 1]!;
    requireDivider(m, 'isqrt.w');
    if (rs === 0 || rs > 30) throw new Fault('bad-operand', `isqrt.w needs a register pair r${rs}:r${rs + 1} with 1 <= rs <= 30`);
    const v = data ? pairToBig(sreg(m, rs), sreg(m, rs + 1)) : 0n;
    if (v < 0n || v >= 1n << 62n) throw new Fault('bad-operand', `isqrt.w of ${v} outside 0..2^62-1`);
    setReg(m, rd, isqrtBig(v));
    e.sregLate = rd;
    return pc + 1;
  },
  'mxu.mm.u8': mm(true),
  'mxu.wload.t': wload(true),
};

/** Semantics indexed by opcode (index 0 and unknown opcodes: undefined). */
export const SEMANTICS_BY_OPCODE: ReadonlyArray<Semantics | undefined> = (() => {
  const t: (Semantics | undefined)[] = [];
  for (const d of ISA) t[d.opcode] = SEMANTICS[d.mnemonic];
  return t;
})();
