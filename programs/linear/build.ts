// Program builder for `linear`: y[M,N] = x[M,K] . W[N,K]^T + bias[N] in int32, tiled for the machine's
// MXU and memories (programs/schedule.ts owns the tiling, which its cycle model prices). The output is
// readable straight-line assembly: one commented block per tile. Software pipelining comes from the
// hardware: the front end runs ahead into the unit queues, so weight loads for later tiles overlap the
// current stream, and the automatic hazard tracking keeps every overlap correct.
import { linearStorePieces, linearTiling, type LinearTiling } from './model.js';
import type { ModelMachine } from '../schedule.js';

export interface BuiltProgram {
  readonly source: string;
  readonly file: string;
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

/** The header both loop orders share: what is computed, the plan lines, the register plan, the DRAM buffers. */
function linearHeader(M: number, K: number, N: number, ...plan: string[]): Emitter {
  const e = new Emitter();
  e.comment(`linear: y[${M},${N}] (int32) = x[${M},${K}] (int8) . W[${N},${K}]^T (int8) + bias[${N}] (int32)`);
  for (const line of plan) e.comment(line);
  e.comment('registers: r1..r6 DMA operands (chip, dram, rows, len, chip stride, dram stride);');
  e.comment('           r7..r10 weight preload (addr, stride, k, n); r11..r15 stream (acc, x, rows, acc stride, x stride)');
  e.raw(`.buffer x,     dram, ${M * K}`);
  e.raw(`.buffer w,     dram, ${N * K}`);
  e.raw(`.buffer bias,  dram, ${N * 4}`);
  e.raw(`.buffer y,     dram, ${M * N * 4}`);
  return e;
}

export function buildLinear(M: number, K: number, N: number, mach: ModelMachine): BuiltProgram & { tiling: LinearTiling } {
  const t = linearTiling(M, K, N, mach);
  if (t.order === 'columns') return buildLinearColumns(t, mach);
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const e = linearHeader(M, K, N, `machine: ${R}x${C} MXU; tiles: x rows ${t.mt} (x${t.mTiles}), K ${R} (x${t.kTiles}), N ${C} (x${t.nTiles})`);
  e.raw(`.buffer xs,    spad, ${t.xBuffers * t.mt * K}     ; x row block(s), [mt][K]`);
  e.raw(`.buffer wring, spad, ${t.ringSlots * R * C}     ; ${t.ringSlots} weight slots of [${C}][${R}]`);
  e.raw(`.buffer yacc,  acc,  ${2 * t.mt * C}     ; two accumulator tiles of [${t.mt}][${C}]`);
  let slot = 0;
  let accTile = 0;
  // The store of a finished tile is split into row pieces issued between the next tile's weight loads,
  // so that one long transfer never holds the DRAM channel while the MXU waits for weights.
  let pendingStores: string[][] = [];
  const storeOps = (acc: string, m0: number, mt: number, n0: number, nt: number, pieces: number): string[][] => {
    const rows = Math.ceil(mt / pieces);
    const out: string[][] = [];
    for (let r0 = 0; r0 < mt; r0 += rows) {
      const rn = Math.min(rows, mt - r0);
      const sub = new Emitter();
      sub.comment(`store rows ${m0 + r0}..${m0 + r0 + rn - 1}, columns ${n0}..${n0 + nt - 1}`);
      sub.op('dma.st', ['acc'], [['r1', `${acc} + ${r0 * C}`], ['r2', `y + ${((m0 + r0) * N + n0) * 4}`], ['r3', rn], ['r4', nt], ['r5', C], ['r6', N * 4]]);
      out.push(sub.lines);
    }
    return out;
  };
  for (let mi = 0; mi < t.mTiles; mi++) {
    const m0 = mi * t.mt, mt = Math.min(t.mt, M - m0);
    const xb = `xs + ${(mi % t.xBuffers) * t.mt * K}`;
    for (let ni = 0; ni < t.nTiles; ni++) {
      const n0 = ni * C, nt = Math.min(C, N - n0);
      const acc = `yacc + ${accTile * t.mt * C}`;
      e.comment(`---- output tile rows ${m0}..${m0 + mt - 1}, columns ${n0}..${n0 + nt - 1} ----`);
      e.op('dma.ld', ['acc'], [['r1', acc], ['r2', `bias + ${n0 * 4}`], ['r3', mt], ['r4', nt], ['r5', C], ['r6', 0]]);
      for (let ki = 0; ki < t.kTiles; ki++) {
        const k0 = ki * R, kt = Math.min(R, K - k0);
        if (ni === 0) {
          e.op('dma.ld', ['spad'], [['r1', `${xb} + ${k0}`], ['r2', `x + ${m0 * K + k0}`], ['r3', mt], ['r4', kt], ['r5', K], ['r6', K]]);
        }
        const piece = pendingStores.shift();
        if (piece) e.lines.push(...piece);
        const ws = `wring + ${slot * R * C}`;
        slot = (slot + 1) % t.ringSlots;
        e.op('dma.ld', ['spad'], [['r1', ws], ['r2', `w + ${n0 * K + k0}`], ['r3', nt], ['r4', kt], ['r5', R], ['r6', K]]);
        e.op('mxu.wload', [], [['r7', ws], ['r8', R], ['r9', kt], ['r10', nt]]);
        e.op('mxu.mm', [], [['r11', acc], ['r12', `${xb} + ${k0}`], ['r13', mt], ['r14', C], ['r15', K]], ['acc']);
      }
      for (const piece of pendingStores) e.lines.push(...piece);
      pendingStores = storeOps(acc, m0, mt, n0, nt, t.kTiles);
      accTile ^= 1;
    }
  }
  for (const piece of pendingStores) e.lines.push(...piece);
  e.raw('    halt');
  return { source: e.lines.join('\n') + '\n', file: `linear_${M}x${K}x${N}.s`, tiling: t };
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
  const e = linearHeader(
    M, K, N,
    `machine: ${R}x${C} MXU; loop order: column groups outer (x does not fit the scratchpad; x is read once per group)`,
    `tiles: x rows ${t.mt} (x${t.mTiles}), column groups of ${G} tiles of ${C} (x${t.groups}), K ${R} (x${t.kTiles}); ${t.accBuffers} accumulator cop${t.accBuffers > 1 ? 'ies' : 'y'} of a group`,
  );
  e.raw(`.buffer xs,    spad, ${t.xBuffers * t.mt * R}     ; ${t.xBuffers} x K-slice slots of [${t.mt}][${R}]`);
  e.raw(`.buffer wring, spad, ${t.ringSlots * R * C}     ; ${t.ringSlots} weight slots of [${C}][${R}]`);
  e.raw(`.buffer yacc,  acc,  ${t.accBuffers * G * t.mt * C}     ; ${t.accBuffers} x ${G} accumulator tiles of [${t.mt}][${C}]`);
  const storeOps = (acc: string, m0: number, mt: number, n0: number, nt: number): string[][] => {
    const out: string[][] = [];
    let r0 = 0;
    for (const rn of linearStorePieces(mt, t)) {
      const sub = new Emitter();
      sub.comment(`store rows ${m0 + r0}..${m0 + r0 + rn - 1}, columns ${n0}..${n0 + nt - 1}`);
      sub.op('dma.st', ['acc'], [['r1', `${acc} + ${r0 * C}`], ['r2', `y + ${((m0 + r0) * N + n0) * 4}`], ['r3', rn], ['r4', nt], ['r5', C], ['r6', N * 4]]);
      out.push(sub.lines);
      r0 += rn;
    }
    return out;
  };
  let slot = 0, xSlot = 0, group = 0;
  // Two accumulator copies: the previous group's store pieces, one issued before each weight load.
  let pending: string[][] = [];
  // One copy: the previous group's stores per tile, issued just before that tile's bias load.
  let prevByTile: string[][][] = [];
  for (let mi = 0; mi < t.mTiles; mi++) {
    const m0 = mi * t.mt, mt = Math.min(t.mt, M - m0);
    for (let gi = 0; gi < t.groups; gi++, group++) {
      const tiles = Math.min(G, t.nTiles - gi * G);
      const half = group % t.accBuffers;
      const n0g = gi * G * C, n1g = Math.min(N, (gi * G + tiles) * C) - 1;
      const accOf = (j: number): string => `yacc + ${(half * G + j) * t.mt * C}`;
      e.comment(`==== rows ${m0}..${m0 + mt - 1}, column group ${gi}: columns ${n0g}..${n1g} (${tiles} tile${tiles > 1 ? 's' : ''}, accumulator copy ${half}) ====`);
      for (let ki = 0; ki < t.kTiles; ki++) {
        const k0 = ki * R, kt = Math.min(R, K - k0);
        const xb = `xs + ${xSlot * t.mt * R}`;
        xSlot = (xSlot + 1) % t.xBuffers;
        e.comment(`---- K ${k0}..${k0 + kt - 1}: x slice rows ${m0}..${m0 + mt - 1} ----`);
        e.op('dma.ld', ['spad'], [['r1', xb], ['r2', `x + ${m0 * K + k0}`], ['r3', mt], ['r4', kt], ['r5', R], ['r6', K]]);
        for (let j = 0; j < tiles; j++) {
          const n0 = (gi * G + j) * C, nt = Math.min(C, N - n0);
          const acc = accOf(j);
          e.comment(`tile columns ${n0}..${n0 + nt - 1}, K ${k0}..${k0 + kt - 1}`);
          if (ki === 0) {
            if (t.accBuffers === 1) {
              for (const piece of prevByTile[j] ?? []) e.lines.push(...piece);
              prevByTile[j] = [];
            }
            e.op('dma.ld', ['acc'], [['r1', acc], ['r2', `bias + ${n0 * 4}`], ['r3', mt], ['r4', nt], ['r5', C], ['r6', 0]]);
          }
          if (t.accBuffers > 1) {
            const piece = pending.shift();
            if (piece) e.lines.push(...piece);
          }
          const ws = `wring + ${slot * R * C}`;
          slot = (slot + 1) % t.ringSlots;
          e.op('dma.ld', ['spad'], [['r1', ws], ['r2', `w + ${n0 * K + k0}`], ['r3', nt], ['r4', kt], ['r5', R], ['r6', K]]);
          e.op('mxu.wload', [], [['r7', ws], ['r8', R], ['r9', kt], ['r10', nt]]);
          e.op('mxu.mm', [], [['r11', acc], ['r12', xb], ['r13', mt], ['r14', C], ['r15', R]], ['acc']);
        }
        if (ki === 0 && t.accBuffers === 1) {
          for (const pieces of prevByTile) for (const piece of pieces) e.lines.push(...piece);
          prevByTile = [];
        }
      }
      if (t.accBuffers > 1) {
        for (const piece of pending) e.lines.push(...piece);
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
  for (const piece of pending) e.lines.push(...piece);
  for (const pieces of prevByTile) for (const piece of pieces) e.lines.push(...piece);
  e.raw('    halt');
  return { source: e.lines.join('\n') + '\n', file: `linear_${M}x${K}x${N}.s`, tiling: t };
}
