// Tiling and cycle model of `linear` (programs/linear/build.ts emits the same schedule): x rows stream through
// the MXU, weight tiles come through a scratchpad ring, int32 results collect in accumulator tiles. Closed form
// for one tile (exact), an analytical pipeline over tiles otherwise; it never runs the simulator.

import { ScheduleClock, TilingError, xfer, type ModelMachine } from '../schedule.js';

/**
 * Loop orders of `linear`. 'rows': row blocks of x outer (each block loaded once and kept), output-column
 * tiles, then K tiles; the weights are read once per row block. 'columns' (chosen only when x does not fit
 * and it moves fewer DRAM bytes): row blocks, then groups of `groupTiles` output-column tiles whose
 * accumulators stay resident, then K tiles, then the group's column tiles; x is read in [rows, array-rows]
 * K-slices once per column group, the weights once per row block.
 */
export type LinearOrder = 'rows' | 'columns';

/** How `linear` is tiled on a machine: x rows in blocks of mt, K in array-row tiles, N in array-column tiles. */
export interface LinearTiling {
  readonly M: number;
  readonly K: number;
  readonly N: number;
  readonly order: LinearOrder;
  /** Rows of x per block (one accumulator tile is mt x cols int32). */
  readonly mt: number;
  /** Scratchpad copies of the x block ('rows': 2 = the next block loads while this one computes; 'columns': K-slice slots of [mt][rows]). */
  readonly xBuffers: number;
  /** Output-column tiles per column group ('columns'; 1 for 'rows'). */
  readonly groupTiles: number;
  /** Column groups per row block ('columns'; nTiles for 'rows'). */
  readonly groups: number;
  /** Accumulator copies of a group (2 = a group's store overlaps the next group's compute; 'rows': two tiles). */
  readonly accBuffers: number;
  /**
   * 'columns': K tiles of the row block's x kept in the scratchpad across its column groups (each a [mt][rows]
   * slice, loaded in the block's first group and read again by the others; linearXResident says which, spread
   * evenly over K so the re-streamed slices of the later groups are too). The rest streams through the xBuffers
   * slots once per group. 'rows': 0 (the whole block is kept).
   */
  readonly xResident: number;
  /** Bytes the schedule moves on the DRAM channel. */
  readonly dramBytes: number;
  /** Weight-tile slots in the scratchpad ring (each rows x cols bytes). */
  readonly ringSlots: number;
  readonly kTiles: number;
  readonly nTiles: number;
  readonly mTiles: number;
  /** Bytes of scratchpad and words of accumulator the plan uses. */
  readonly spadBytes: number;
  readonly accWords: number;
}

export const WEIGHT_RING_SLOTS = 8;

/**
 * The tilings `linear` may use on the machine: the rows order first, then (only when x does not fit the scratchpad)
 * the 'columns' candidates that move fewer DRAM bytes than it. linearTiling picks by the linear kernel's model;
 * the fused kernels (programs/linear-requant) by theirs.
 */
export function linearTilingCandidates(M: number, K: number, N: number, mach: ModelMachine): LinearTiling[] {
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const ringBytes = WEIGHT_RING_SLOTS * R * C;
  const avail = mach.spad.sizeBytes - ringBytes;
  const accTiles = 2;
  const maxMtAcc = Math.floor(mach.acc.sizeBytes / 4 / (accTiles * C));
  let mt: number;
  let xBuffers: number;
  if (M * K <= avail && M <= maxMtAcc) {
    mt = M;
    xBuffers = 1;
  } else {
    xBuffers = 2;
    mt = Math.min(M, maxMtAcc, Math.floor(avail / (2 * K)));
    if (mt < 1) {
      xBuffers = 1;
      mt = Math.min(M, maxMtAcc, Math.floor(avail / K));
    }
  }
  if (mt < 1) {
    const need = ringBytes + K;
    throw new TilingError(
      `linear ${M}x${K}x${N} does not tile on this machine: scratchpad buffer 'x' needs ${K} bytes for one row of K plus ` +
        `${ringBytes} bytes for the weight ring 'wring' (${need} bytes), spad holds ${mach.spad.sizeBytes}; accumulator tile needs ` +
        `${accTiles * C * 4} bytes per row, acc holds ${mach.acc.sizeBytes}`,
    );
  }
  const kTiles = Math.ceil(K / R), nTiles = Math.ceil(N / C), mTiles = Math.ceil(M / mt);
  const rows: LinearTiling = {
    M, K, N, order: 'rows', mt, xBuffers, groupTiles: 1, groups: nTiles, accBuffers: accTiles, xResident: 0,
    dramBytes: linearDramBytes(M, K, N, mTiles, 1),
    ringSlots: WEIGHT_RING_SLOTS, kTiles, nTiles, mTiles,
    spadBytes: xBuffers * mt * K + ringBytes,
    accWords: accTiles * mt * C,
  };
  if (M * K <= avail) return [rows];
  return [rows, ...linearColumnsTilings(M, K, N, mach).filter((c) => c.dramBytes < rows.dramBytes)];
}

/**
 * x does not fit: the rows order re-reads all weights per row block; column groups outer re-read (the
 * non-resident part of) x per group instead. Of the candidates, the one with the fewest modelled cycles (two
 * accumulator copies hide the stores when the MXU is the bottleneck; one copy halves the x re-reads when the
 * channel is), ties to fewer bytes, then to the rows order.
 */
export function linearTiling(M: number, K: number, N: number, mach: ModelMachine): LinearTiling {
  const cands = linearTilingCandidates(M, K, N, mach);
  if (cands.length === 1) return cands[0]!;
  let best: { t: LinearTiling; cycles: number } | undefined;
  for (const c of cands) {
    const cycles = c.order === 'rows' ? linearPipeline(c, mach) : linearColumnsPipeline(c, mach);
    if (!best || cycles < best.cycles || (cycles === best.cycles && c.dramBytes < best.t.dramBytes)) best = { t: c, cycles };
  }
  return best!.t;
}

/**
 * DRAM bytes: x once plus its streamed columns (K less the resident K tiles' columns) once per further read,
 * the weights and the bias row once per row block, y once.
 */
function linearDramBytes(M: number, K: number, N: number, rowBlocks: number, xReads: number, streamedK = K): number {
  return M * K + (xReads - 1) * M * streamedK + rowBlocks * (N * K + N * 4) + M * N * 4;
}

/**
 * Which K tiles of x stay resident ('columns' order): for each K tile its resident slot (0..xResident-1), or -1
 * when it streams. `xResident` of `kTiles` tiles, spread evenly (tile ki is resident when floor((ki + 1) r / k)
 * steps past floor(ki r / k)), so the later groups' x loads are spread over their K steps.
 */
export function linearXResident(t: Pick<LinearTiling, 'kTiles' | 'xResident'>): number[] {
  const out: number[] = [];
  const r = t.xResident, k = t.kTiles;
  for (let ki = 0; ki < k; ki++) {
    const a = Math.floor((ki * r) / k), b = Math.floor(((ki + 1) * r) / k);
    out.push(b > a ? a : -1);
  }
  return out;
}

/**
 * A 'columns' tiling with `xResident` resident K tiles instead (fewer, when a fused kernel needs part of the
 * scratchpad the plain linear tiling gave to x): the scratchpad bytes and the DRAM bytes follow.
 */
export function linearWithResident(t: LinearTiling, xResident: number, mach: ModelMachine): LinearTiling {
  if (t.order !== 'columns') throw new RangeError('linearWithResident: only the columns order keeps x slices resident');
  const R = mach.mxu.rows;
  const r = Math.max(0, Math.min(t.kTiles, xResident));
  const streamedK = streamedColumns(t.K, R, linearXResident({ kTiles: t.kTiles, xResident: r }));
  return {
    ...t, xResident: r,
    dramBytes: linearDramBytes(t.M, t.K, t.N, t.mTiles, t.groups, streamedK),
    spadBytes: t.spadBytes - (t.xResident - r) * t.mt * R,
  };
}

/** Columns of x that stream once per column group (K less the resident K tiles' columns). */
function streamedColumns(K: number, R: number, slots: readonly number[]): number {
  let cols = K;
  slots.forEach((s, ki) => {
    if (s >= 0) cols -= Math.min(R, K - ki * R);
  });
  return cols;
}

/**
 * The 'columns' order candidates: for two accumulator copies of a group (the store of one group overlaps
 * the next group's compute) and for one, the largest group whose accumulators (rows x G*cols int32, rows
 * blocked if M is large) fit, with the two x K-slice slots and the weight ring in the scratchpad, and as many
 * resident x K tiles as the rest of the scratchpad holds (x then moves M K + (groups - 1) M streamedK bytes).
 */
/** Row-block splits the 'columns' candidates try: the largest block the memories allow, and 2 and 4 times as many. */
export const COLUMNS_ROW_SPLITS = [1, 2, 4] as const;

export function linearColumnsTilings(M: number, K: number, N: number, mach: ModelMachine): LinearTiling[] {
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const ringBytes = WEIGHT_RING_SLOTS * R * C;
  const accWords = Math.floor(mach.acc.sizeBytes / 4);
  const kTiles = Math.ceil(K / R), nTiles = Math.ceil(N / C);
  const xSlots = 2;
  const out: LinearTiling[] = [];
  const seen = new Set<string>();
  for (const accBuffers of [2, 1]) for (const split of COLUMNS_ROW_SPLITS) {
    const mt0 = Math.min(M, Math.floor(accWords / (accBuffers * C)), Math.floor((mach.spad.sizeBytes - ringBytes) / (xSlots * R)));
    if (mt0 < 1) continue;
    // fewer rows per block: larger groups (fewer x re-reads) and more of the block resident, for more weight reads
    const mt = Math.ceil(M / (Math.ceil(M / mt0) * split));
    if (seen.has(`${accBuffers}:${mt}`)) continue;
    seen.add(`${accBuffers}:${mt}`);
    const groupTiles = Math.min(nTiles, Math.floor(accWords / (accBuffers * mt * C)));
    const mTiles = Math.ceil(M / mt), groups = Math.ceil(nTiles / groupTiles);
    // resident K tiles only pay when x is read more than once
    const free = mach.spad.sizeBytes - ringBytes - xSlots * mt * R;
    const xResident = groups > 1 ? Math.max(0, Math.min(kTiles, Math.floor(free / (mt * R)))) : 0;
    const streamedK = streamedColumns(K, R, linearXResident({ kTiles, xResident }));
    const t: LinearTiling = {
      M, K, N, order: 'columns', mt, xBuffers: xSlots, groupTiles, groups, accBuffers, xResident,
      dramBytes: linearDramBytes(M, K, N, mTiles, groups, streamedK),
      ringSlots: WEIGHT_RING_SLOTS, kTiles, nTiles, mTiles,
      spadBytes: (xSlots + xResident) * mt * R + ringBytes,
      accWords: accBuffers * groupTiles * mt * C,
    };
    out.push(t);
  }
  return out;
}


/** Instructions the builder emits per operation: operand `li`s plus the operation itself. */
export const LINEAR_OP_INSTRS = { dma: 7, wload: 5, mm: 6 } as const;

export interface LinearModel {
  readonly cycles: number;
  readonly macs: number;
  /** MAC-bound, DRAM-bound and front-end-bound lower bounds, and the roofline (their max). */
  readonly macBoundCycles: number;
  readonly dramBoundCycles: number;
  readonly dramBytes: number;
  readonly exact: boolean;
}

/**
 * Single tile (M <= mt, K <= rows, N <= cols): the exact serial schedule of bias, x and weight loads,
 * weight preload, one stream and the store. Tiled: per output-column tile, the larger of its MXU stream
 * time and its DRAM transfer time (loads of that tile plus the previous tile's store), plus the start-up
 * before the first stream and the drain and store after the last.
 */
export function linearModel(M: number, K: number, N: number, mach: ModelMachine): LinearModel {
  const t = linearTiling(M, K, N, mach);
  const R = mach.mxu.rows, C = mach.mxu.cols, L = mach.dram.latencyCycles;
  const macs = M * K * N;
  // DRAM bytes ('rows'): x once, weights once per row block, bias row once per (m, n) tile, y once;
  // ('columns'): x once per column group instead.
  const dramBytes = t.dramBytes;
  const macBoundCycles = Math.ceil(macs / (R * C));
  const dramBoundCycles = Math.ceil(dramBytes / mach.dram.bytesPerCycle);
  const base = { macs, macBoundCycles, dramBoundCycles, dramBytes };

  if (t.mTiles === 1 && t.kTiles === 1 && t.nTiles === 1) {
    const op = LINEAR_OP_INSTRS;
    // Dispatch slots: bias dma, x dma, weight dma, wload, mm, store, halt.
    const dBias = op.dma - 1, dX = dBias + op.dma, dW = dX + op.dma, dWl = dW + op.wload, dMm = dWl + op.mm, dSt = dMm + op.dma;
    const bStart = dBias + 1, bEnd = bStart + xfer(N * 4, mach), bDone = bEnd + L;
    const xStart = Math.max(dX + 1, bEnd), xEnd = xStart + xfer(M * K, mach), xDone = xEnd + L;
    const wStart = Math.max(dW + 1, xEnd), wEnd = wStart + xfer(N * K, mach), wDone = wEnd + L;
    const wlDone = Math.max(dWl + 1, wDone) + K;
    const mmStart = Math.max(dMm + 1, wlDone, xDone, bDone);
    const mmDone = mmStart + M - 1 + R + C;
    const stDone = Math.max(dSt + 1, mmDone) + xfer(M * N * 4, mach) + L;
    return { ...base, cycles: Math.max(stDone, dSt + 2), exact: true };
  }

  const pipeline = t.order === 'rows' ? linearPipeline(t, mach) : linearColumnsPipeline(t, mach);
  return { ...base, cycles: Math.max(pipeline, macBoundCycles, dramBoundCycles), exact: false };
}


/**
 * Tiled linear: an analytical pipeline over tiles, not instructions. Each tile step is a weight load on
 * the DRAM channel, a preload on the weight port and a stream on the MXU; x chunks load during the first
 * output-column tile of a row block, bias rows at each tile start, stores in row pieces during the next
 * tile. Each operation starts when the front end has issued it (its operand li's plus itself, at most
 * queueDepth operations ahead of its unit), its unit and the channel are free, and what it needs is done:
 * weights DRAM latency after their transfer, a ring slot after the preload that used it, an accumulator
 * tile after its previous store. The channel serves requests in order of readiness (first fit).
 */
function linearPipeline(t: LinearTiling, mach: ModelMachine): number {
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const { M, K, N } = t;
  const clock = new ScheduleClock(mach, LINEAR_OP_INSTRS.dma);
  const dma = (unit: 'load' | 'store', bytes: number, needs: number): { end: number; done: number } => clock.dma(unit, bytes, needs);
  let streamFree = 0, weightPortFree = 0, lastMm = 0;
  const wbufFree = [0, 0];
  let wbuf = 1;
  const ringFree: number[] = new Array<number>(t.ringSlots).fill(0);
  const accFree = [0, 0];
  const xBlockFree = new Array<number>(t.xBuffers).fill(0);
  let slot = 0, accTile = 0;
  let pending: Array<{ bytes: number; needs: number; tile: number }> = [];
  let finish = 0;
  const flush = (p: { bytes: number; needs: number; tile: number }): void => {
    const r = dma('store', p.bytes, p.needs);
    accFree[p.tile] = Math.max(accFree[p.tile]!, r.end);
    finish = Math.max(finish, r.done);
  };
  for (let mi = 0; mi < t.mTiles; mi++) {
    const mt = Math.min(t.mt, M - mi * t.mt);
    const xb = mi % t.xBuffers;
    const xDone: number[] = [];
    let blockEnd = 0;
    for (let ni = 0; ni < t.nTiles; ni++) {
      const nt = Math.min(C, N - ni * C);
      const bias = dma('load', nt * 4, accFree[accTile]!);
      let tileDone = 0;
      for (let ki = 0; ki < t.kTiles; ki++) {
        const kt = Math.min(R, K - ki * R);
        if (ni === 0) xDone[ki] = dma('load', mt * kt, xBlockFree[xb]!).done;
        const p = pending.shift();
        if (p) flush(p);
        const w = dma('load', nt * kt, ringFree[slot]!);
        // Preload into the other weight buffer once the stream that used it has ended.
        wbuf ^= 1;
        const wlStart = clock.mxu(LINEAR_OP_INSTRS.wload - 1, Math.max(weightPortFree, w.done, wbufFree[wbuf]!));
        weightPortFree = wlStart + kt;
        ringFree[slot] = weightPortFree;
        slot = (slot + 1) % t.ringSlots;
        const mmStart = clock.mxu(LINEAR_OP_INSTRS.mm - 1, Math.max(streamFree, weightPortFree, xDone[ki]!, bias.done));
        streamFree = mmStart + mt;
        wbufFree[wbuf] = streamFree;
        lastMm = mmStart + mt - 1 + R + C;
        tileDone = lastMm;
        blockEnd = streamFree;
      }
      for (const p of pending) flush(p);
      const rows = Math.ceil(mt / t.kTiles);
      pending = [];
      for (let r0 = 0; r0 < mt; r0 += rows) pending.push({ bytes: Math.min(rows, mt - r0) * nt * 4, needs: tileDone, tile: accTile });
      accTile ^= 1;
    }
    xBlockFree[xb] = blockEnd;
  }
  for (const p of pending) flush(p);
  return Math.max(finish, lastMm, clock.frontEnd + 1);
}

/**
 * Tiled linear, 'columns' order: the same walk as linearPipeline over the operations of the column-group
 * program in program order. Per K step an x K-slice loads into one of two scratchpad slots (after the
 * streams that last read that slot end); per column tile of the group a weight load, preload and stream
 * as in the rows order. A tile's bias row loads in the group's first K step, after the stores that last
 * read its accumulator region ended. With two accumulator copies the previous group's stores are row
 * pieces, one before each weight load of this group; with one copy a tile's whole store goes just before
 * its bias load.
 */
function linearColumnsPipeline(t: LinearTiling, mach: ModelMachine): number {
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const { M, K, N } = t;
  const G = t.groupTiles;
  const clock = new ScheduleClock(mach, LINEAR_OP_INSTRS.dma);
  let streamFree = 0, weightPortFree = 0, lastMm = 0;
  const wbufFree = [0, 0];
  let wbuf = 1;
  const ringFree: number[] = new Array<number>(t.ringSlots).fill(0);
  const accFree: number[] = new Array<number>(t.accBuffers * G).fill(0);
  const xSlotFree: number[] = new Array<number>(t.xBuffers + t.xResident).fill(0);
  const resident = linearXResident(t);
  const residentDone: number[] = new Array<number>(t.xResident).fill(0);
  let slot = 0, xSlot = 0, group = 0;
  type Store = { bytes: number; needs: number; region: number };
  let pending: Store[] = []; // two copies: row pieces of the previous group, in issue order
  let prevByTile: Store[][] = []; // one copy: the previous group's store per tile
  let finish = 0;
  const flush = (p: Store): void => {
    const r = clock.dma('store', p.bytes, p.needs);
    accFree[p.region] = Math.max(accFree[p.region]!, r.end);
    finish = Math.max(finish, r.done);
  };
  for (let mi = 0; mi < t.mTiles; mi++) {
    const mt = Math.min(t.mt, M - mi * t.mt);
    for (let gi = 0; gi < t.groups; gi++, group++) {
      const n0Tile = gi * G, tiles = Math.min(G, t.nTiles - n0Tile);
      const half = group % t.accBuffers;
      const biasDone: number[] = new Array<number>(tiles).fill(0);
      const lastDone: number[] = new Array<number>(tiles).fill(0);
      for (let ki = 0; ki < t.kTiles; ki++) {
        const kt = Math.min(R, K - ki * R);
        // a resident K tile loads in the row block's first group only; a streamed one in every group
        const ri = resident[ki]!;
        let xs: number;
        if (ri >= 0) xs = t.xBuffers + ri;
        else {
          xs = xSlot;
          xSlot = (xSlot + 1) % t.xBuffers;
        }
        let xDone: number;
        if (ri < 0 || gi === 0) {
          xDone = clock.dma('load', mt * kt, xSlotFree[xs]!).done;
          if (ri >= 0) residentDone[ri] = xDone;
        } else xDone = residentDone[ri]!;
        for (let j = 0; j < tiles; j++) {
          const nt = Math.min(C, N - (n0Tile + j) * C);
          const region = half * G + j;
          if (ki === 0) {
            if (t.accBuffers === 1) {
              for (const p of prevByTile[j] ?? []) flush(p);
              prevByTile[j] = [];
            }
            biasDone[j] = clock.dma('load', nt * 4, accFree[region]!).done;
          }
          if (t.accBuffers > 1) {
            const p = pending.shift();
            if (p) flush(p);
          }
          const w = clock.dma('load', nt * kt, ringFree[slot]!);
          wbuf ^= 1;
          const wlStart = clock.mxu(LINEAR_OP_INSTRS.wload - 1, Math.max(weightPortFree, w.done, wbufFree[wbuf]!));
          weightPortFree = wlStart + kt;
          ringFree[slot] = weightPortFree;
          slot = (slot + 1) % t.ringSlots;
          const mmStart = clock.mxu(LINEAR_OP_INSTRS.mm - 1, Math.max(streamFree, weightPortFree, xDone, biasDone[j]!));
          streamFree = mmStart + mt;
          wbufFree[wbuf] = streamFree;
          lastMm = mmStart + mt - 1 + R + C;
          lastDone[j] = lastMm;
        }
        xSlotFree[xs] = streamFree;
        if (ki === 0 && t.accBuffers === 1) {
          for (const ps of prevByTile) for (const p of ps) flush(p);
          prevByTile = [];
        }
      }
      if (t.accBuffers > 1) {
        for (const p of pending) flush(p);
        pending = [];
      }
      for (let j = 0; j < tiles; j++) {
        const nt = Math.min(C, N - (n0Tile + j) * C);
        const region = half * G + j;
        const pieces = linearStorePieces(mt, t);
        const stores = pieces.map((rn) => ({ bytes: rn * nt * 4, needs: lastDone[j]!, region }));
        if (t.accBuffers > 1) pending.push(...stores);
        else prevByTile[j] = stores;
      }
    }
  }
  for (const p of pending) flush(p);
  for (const ps of prevByTile) for (const p of ps) flush(p);
  return Math.max(finish, lastMm, clock.frontEnd + 1);
}

/**
 * Rows per store piece of one accumulator tile of mt rows ('columns' order): with two accumulator copies
 * kTiles pieces (one per weight load of the next group, as the rows order splits them); with one copy the
 * whole tile in one transfer, since the next group's bias load of that region waits for all of it anyway.
 */
export function linearStorePieces(mt: number, t: LinearTiling): number[] {
  const pieces = t.accBuffers > 1 ? t.kTiles : 1;
  const rows = Math.ceil(mt / pieces);
  const out: number[] = [];
  for (let r0 = 0; r0 < mt; r0 += rows) out.push(Math.min(rows, mt - r0));
  return out;
}

