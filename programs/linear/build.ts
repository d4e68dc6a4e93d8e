// Program builder for `linear`: y[M,N] = x[M,K] . W[N,K]^T + bias[N] in int32, tiled for the machine's
// MXU and memories (programs/schedule.ts owns the tiling, which its cycle model prices). The program is
// emitted as instruction words (isa/emit.ts); its listing, rendered on demand, is readable straight-line
// assembly with one commented block per tile. Software pipelining comes from the hardware: the front end runs ahead into the unit queues, so weight loads for later tiles overlap the
// current stream, and the automatic hazard tracking keeps every overlap correct.
import { linearStorePieces, linearTiling, linearXResident, type LinearTiling } from './model.js';
import { perMachineCache, type ModelMachine } from '../schedule.js';
import type { Program } from '../../isa/asm.js';
import { programListing, ProgramEmitter, type Operand } from '../../isa/emit.js';

/**
 * A built program. Text builders give `source` (assembled by programs/index.ts assembleBuilt); word builders
 * (isa/emit.ts) give the finished `program` too, and `source` is its listing, rendered only when read.
 */
export interface BuiltProgram {
  readonly source: string;
  readonly file: string;
  readonly program?: Program;
}

/** A BuiltProgram around an emitted program: the listing is rendered on first read of `source`. */
export function emitted<T extends object>(program: Program, extra: T): BuiltProgram & T {
  let text: string | undefined;
  return Object.defineProperty({ file: program.file, program, ...extra }, 'source', {
    get: () => (text ??= programListing(program)),
    enumerable: true,
  }) as BuiltProgram & T;
}

/**
 * A built program from a small per-machine cache (the key must name every input of `build`): a layer builds
 * the Q, K and V projections, and a sweep the same shapes, once. Programs are immutable once finished; eight per
 * machine, since a BERT-base program holds up to a few hundred thousand instructions.
 */
export const cachedBuild = perMachineCache(8);

/** A register operation with its operands loaded by `li` just before (the fixed count the cycle models price). */
export function opLi(e: ProgramEmitter, mnemonic: string, prefix: readonly Operand[], regs: ReadonlyArray<readonly [number, number]>, suffix: readonly Operand[] = []): void {
  const ops: Operand[] = [...prefix];
  for (const [r, v] of regs) {
    e.li(r, v);
    ops.push(r);
  }
  for (const s of suffix) ops.push(s);
  e.op(mnemonic, ...ops);
}

/** Straight-line assembly with a fixed number of operand `li`s per operation (the cycle models count them). */
export class Emitter {
  readonly lines: string[] = [];
  comment(text: string): void {
    this.lines.push(`; ${text}`);
  }
  raw(text: string): void {
    this.lines.push(text);
  }
  /** An operation with its register operands loaded by `li` just before (fixed count per operation). */
  op(mnemonic: string, prefix: readonly string[], regs: ReadonlyArray<readonly [string, string | number]>, suffix: readonly string[] = []): void {
    for (const [r, v] of regs) this.lines.push(`    li   ${r}, ${v}`);
    this.lines.push(`    ${mnemonic} ${[...prefix, ...regs.map(([r]) => r), ...suffix].join(', ')}`);
  }
}

interface LinearBuffers {
  readonly x: number;
  readonly w: number;
  readonly bias: number;
  readonly y: number;
}

/** The header both loop orders share: what is computed, the plan lines, the register plan, the DRAM buffers. */
function linearHeader(M: number, K: number, N: number, ...plan: string[]): { e: ProgramEmitter; b: LinearBuffers } {
  const e = new ProgramEmitter(`linear_${M}x${K}x${N}.s`);
  e.comment(`linear: y[${M},${N}] (int32) = x[${M},${K}] (int8) . W[${N},${K}]^T (int8) + bias[${N}] (int32)`);
  for (const line of plan) e.comment(line);
  e.comment('registers: r1..r6 DMA operands (chip, dram, rows, len, chip stride, dram stride);');
  e.comment('           r7..r10 weight preload (addr, stride, k, n); r11..r15 stream (acc, x, rows, acc stride, x stride)');
  const b = { x: e.buffer('x', 'dram', M * K), w: e.buffer('w', 'dram', N * K), bias: e.buffer('bias', 'dram', N * 4), y: e.buffer('y', 'dram', M * N * 4) };
  return { e, b };
}

export function buildLinear(M: number, K: number, N: number, mach: ModelMachine): BuiltProgram & { tiling: LinearTiling } {
  const t = linearTiling(M, K, N, mach);
  if (t.order === 'columns') return buildLinearColumns(t, mach);
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const { e, b } = linearHeader(M, K, N, `machine: ${R}x${C} MXU; tiles: x rows ${t.mt} (x${t.mTiles}), K ${R} (x${t.kTiles}), N ${C} (x${t.nTiles})`);
  const xs = e.buffer('xs', 'spad', t.xBuffers * t.mt * K, 'x row block(s), [mt][K]');
  const wring = e.buffer('wring', 'spad', t.ringSlots * R * C, `${t.ringSlots} weight slots of [${C}][${R}]`);
  const yacc = e.buffer('yacc', 'acc', 2 * t.mt * C, `two accumulator tiles of [${t.mt}][${C}]`);
  let slot = 0;
  let accTile = 0;
  // The store of a finished tile is split into row pieces issued between the next tile's weight loads,
  // so that one long transfer never holds the DRAM channel while the MXU waits for weights.
  type Piece = () => void;
  let pendingStores: Piece[] = [];
  const storeOps = (acc: number, m0: number, mt: number, n0: number, nt: number, pieces: number): Piece[] => {
    const rows = Math.ceil(mt / pieces);
    const out: Piece[] = [];
    for (let r0 = 0; r0 < mt; r0 += rows) {
      const rn = Math.min(rows, mt - r0);
      out.push(() => {
        e.comment(`store rows ${m0 + r0}..${m0 + r0 + rn - 1}, columns ${n0}..${n0 + nt - 1}`);
        opLi(e, 'dma.st', ['acc'], [[1, acc + r0 * C], [2, b.y + ((m0 + r0) * N + n0) * 4], [3, rn], [4, nt], [5, C], [6, N * 4]]);
      });
    }
    return out;
  };
  for (let mi = 0; mi < t.mTiles; mi++) {
    const m0 = mi * t.mt, mt = Math.min(t.mt, M - m0);
    const xb = xs + (mi % t.xBuffers) * t.mt * K;
    for (let ni = 0; ni < t.nTiles; ni++) {
      const n0 = ni * C, nt = Math.min(C, N - n0);
      const acc = yacc + accTile * t.mt * C;
      e.comment(`---- output tile rows ${m0}..${m0 + mt - 1}, columns ${n0}..${n0 + nt - 1} ----`);
      opLi(e, 'dma.ld', ['acc'], [[1, acc], [2, b.bias + n0 * 4], [3, mt], [4, nt], [5, C], [6, 0]]);
      for (let ki = 0; ki < t.kTiles; ki++) {
        const k0 = ki * R, kt = Math.min(R, K - k0);
        if (ni === 0) {
          opLi(e, 'dma.ld', ['spad'], [[1, xb + k0], [2, b.x + m0 * K + k0], [3, mt], [4, kt], [5, K], [6, K]]);
        }
        pendingStores.shift()?.();
        const ws = wring + slot * R * C;
        slot = (slot + 1) % t.ringSlots;
        opLi(e, 'dma.ld', ['spad'], [[1, ws], [2, b.w + n0 * K + k0], [3, nt], [4, kt], [5, R], [6, K]]);
        opLi(e, 'mxu.wload', [], [[7, ws], [8, R], [9, kt], [10, nt]]);
        opLi(e, 'mxu.mm', [], [[11, acc], [12, xb + k0], [13, mt], [14, C], [15, K]], ['acc']);
      }
      for (const piece of pendingStores) piece();
      pendingStores = storeOps(acc, m0, mt, n0, nt, t.kTiles);
      accTile ^= 1;
    }
  }
  for (const piece of pendingStores) piece();
  e.op('halt');
  return emitted(e.finish(), { tiling: t });
}

/**
 * The 'columns' loop order (x does not fit the scratchpad and re-reading x per column group moves fewer
 * bytes than re-reading the weights per row block): per row block and group of output-column tiles, whose
 * accumulators stay resident, per K tile: the x K-slice [rows, array-rows] (strided in DRAM) into one of
 * two scratchpad slots, then per column tile of the group its weight tile, preload and stream. Bias rows
 * load in the group's first K step; the group's stores go out during the next group (two accumulator
 * copies: row pieces between its weight loads; one copy: each tile's store just before its bias load).
 */
function buildLinearColumns(t: LinearTiling, mach: ModelMachine): BuiltProgram & { tiling: LinearTiling } {
  const { M, K, N } = t;
  const R = mach.mxu.rows, C = mach.mxu.cols, G = t.groupTiles;
  const { e, b } = linearHeader(
    M, K, N,
    `machine: ${R}x${C} MXU; loop order: column groups outer (x does not fit the scratchpad; x is read once per group)`,
    `tiles: x rows ${t.mt} (x${t.mTiles}), column groups of ${G} tiles of ${C} (x${t.groups}), K ${R} (x${t.kTiles}); ${t.accBuffers} accumulator cop${t.accBuffers > 1 ? 'ies' : 'y'} of a group`,
  );
  const xs = e.buffer('xs', 'spad', (t.xBuffers + t.xResident) * t.mt * R, `${t.xBuffers} streamed + ${t.xResident} resident x K-slice slots of [${t.mt}][${R}]`);
  const resident = linearXResident(t);
  if (t.xResident > 0) e.comment(`x: ${t.xResident} of ${t.kTiles} K slices stay resident across a row block's column groups (loaded in its first group); the rest stream per group`);
  const wring = e.buffer('wring', 'spad', t.ringSlots * R * C, `${t.ringSlots} weight slots of [${C}][${R}]`);
  const yacc = e.buffer('yacc', 'acc', t.accBuffers * G * t.mt * C, `${t.accBuffers} x ${G} accumulator tiles of [${t.mt}][${C}]`);
  type Piece = () => void;
  const storeOps = (acc: number, m0: number, mt: number, n0: number, nt: number): Piece[] => {
    const out: Piece[] = [];
    let r0 = 0;
    for (const rn of linearStorePieces(mt, t)) {
      const at = r0;
      out.push(() => {
        e.comment(`store rows ${m0 + at}..${m0 + at + rn - 1}, columns ${n0}..${n0 + nt - 1}`);
        opLi(e, 'dma.st', ['acc'], [[1, acc + at * C], [2, b.y + ((m0 + at) * N + n0) * 4], [3, rn], [4, nt], [5, C], [6, N * 4]]);
      });
      r0 += rn;
    }
    return out;
  };
  let slot = 0, xSlot = 0, group = 0;
  // Two accumulator copies: the previous group's store pieces, one issued before each weight load.
  let pending: Piece[] = [];
  // One copy: the previous group's stores per tile, issued just before that tile's bias load.
  let prevByTile: Piece[][] = [];
  for (let mi = 0; mi < t.mTiles; mi++) {
    const m0 = mi * t.mt, mt = Math.min(t.mt, M - m0);
    for (let gi = 0; gi < t.groups; gi++, group++) {
      const tiles = Math.min(G, t.nTiles - gi * G);
      const half = group % t.accBuffers;
      const n0g = gi * G * C, n1g = Math.min(N, (gi * G + tiles) * C) - 1;
      const accOf = (j: number): number => yacc + (half * G + j) * t.mt * C;
      e.comment(`==== rows ${m0}..${m0 + mt - 1}, column group ${gi}: columns ${n0g}..${n1g} (${tiles} tile${tiles > 1 ? 's' : ''}, accumulator copy ${half}) ====`);
      for (let ki = 0; ki < t.kTiles; ki++) {
        const k0 = ki * R, kt = Math.min(R, K - k0);
        const ri = resident[ki]!;
        let xb: number;
        if (ri >= 0) xb = xs + (t.xBuffers + ri) * t.mt * R;
        else {
          xb = xs + xSlot * t.mt * R;
          xSlot = (xSlot + 1) % t.xBuffers;
        }
        if (ri < 0 || gi === 0) {
          e.comment(`---- K ${k0}..${k0 + kt - 1}: x slice rows ${m0}..${m0 + mt - 1}${ri >= 0 ? ` (resident slot ${ri})` : ''} ----`);
          opLi(e, 'dma.ld', ['spad'], [[1, xb], [2, b.x + m0 * K + k0], [3, mt], [4, kt], [5, R], [6, K]]);
        } else e.comment(`---- K ${k0}..${k0 + kt - 1}: x slice in resident slot ${ri} ----`);
        for (let j = 0; j < tiles; j++) {
          const n0 = (gi * G + j) * C, nt = Math.min(C, N - n0);
          const acc = accOf(j);
          e.comment(`tile columns ${n0}..${n0 + nt - 1}, K ${k0}..${k0 + kt - 1}`);
          if (ki === 0) {
            if (t.accBuffers === 1) {
              for (const piece of prevByTile[j] ?? []) piece();
              prevByTile[j] = [];
            }
            opLi(e, 'dma.ld', ['acc'], [[1, acc], [2, b.bias + n0 * 4], [3, mt], [4, nt], [5, C], [6, 0]]);
          }
          if (t.accBuffers > 1) pending.shift()?.();
          const ws = wring + slot * R * C;
          slot = (slot + 1) % t.ringSlots;
          opLi(e, 'dma.ld', ['spad'], [[1, ws], [2, b.w + n0 * K + k0], [3, nt], [4, kt], [5, R], [6, K]]);
          opLi(e, 'mxu.wload', [], [[7, ws], [8, R], [9, kt], [10, nt]]);
          opLi(e, 'mxu.mm', [], [[11, acc], [12, xb], [13, mt], [14, C], [15, R]], ['acc']);
        }
        if (ki === 0 && t.accBuffers === 1) {
          for (const pieces of prevByTile) for (const piece of pieces) piece();
          prevByTile = [];
        }
      }
      if (t.accBuffers > 1) {
        for (const piece of pending) piece();
        pending = [];
      }
      for (let j = 0; j < tiles; j++) {
        const n0 = (gi * G + j) * C, nt = Math.min(C, N - n0);
        const stores = storeOps(accOf(j), m0, mt, n0, nt);
        if (t.accBuffers > 1) pending.push(...stores);
        else prevByTile[j] = stores;
      }
    }
  }
  for (const piece of pending) piece();
  for (const pieces of prevByTile) for (const piece of pieces) piece();
  e.op('halt');
  return emitted(e.finish(), { tiling: t });
}
