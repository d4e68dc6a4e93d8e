// Tiling, schedule and cycle models of the two attention matmuls (docs/IBERT.md section 9, steps 3 and 5):
// `qk` (scores = Q_h . K_h^T per head) and `pv` (context_h = P_h . V_h per head). Both are a per-head GEMM
// run like `linear` (programs/schedule.ts): x rows stream through the array, weight tiles come through a
// scratchpad ring, int32 results collect in accumulator tiles and are stored in row pieces. The schedule (the
// operations in program order) is built here once: programs/attention/build.ts turns it into assembly and the model
// below prices it analytically from the shape and the machine; the model never runs the simulator.

import { LINEAR_OP_INSTRS } from '../linear/model.js';
import { memoPerMachine, ScheduleClock, TilingError, type ModelMachine } from '../schedule.js';

/** Which attention matmul: the shapes of its per-head GEMM follow from it. */
export type AttentionKernel = 'qk' | 'pv';

/**
 * The per-head GEMM y_h[M, N] = x_h[M, K] . W_h (int32) and how it is tiled: x rows in blocks of mt (one
 * accumulator tile is mt x cols int32), K in array-row tiles, N in array-column tiles.
 *   qk: x_h = Q_h [T, dh] (int8), W_h = K_h [T, dh] in the [N, K] layout (mxu.wload), y_h = scores[h] [T, T].
 *   pv: x_h = P_h [T, T] (uint8), W_h = V_h [T, dh] in the [K, N] layout (mxu.wload.t), y_h = context[:, h] [T, dh].
 */
export interface AttentionTiling {
  readonly kernel: AttentionKernel;
  readonly T: number;
  readonly hidden: number;
  readonly heads: number;
  readonly dHead: number;
  readonly M: number;
  readonly K: number;
  readonly N: number;
  readonly mt: number;
  /** Scratchpad x blocks in rotation (each mt x K bytes): blocks of later heads load while earlier ones compute. */
  readonly xBuffers: number;
  /** Weight-tile slots in the scratchpad ring (each rows x cols bytes). */
  readonly ringSlots: number;
  /** Accumulator tiles in rotation: while one fills, the others are being stored. */
  readonly accTiles: number;
  readonly kTiles: number;
  readonly nTiles: number;
  readonly mTiles: number;
  /** Steps (one weight tile and one stream each) by which loads run ahead of the streams in program order. */
  readonly prefetchSteps: number;
  readonly spadBytes: number;
  readonly accWords: number;
  /**
   * pv only: the context QuantAct(8) (layer step 6) folded into the output stage: a finished accumulator piece is
   * requantized by the VPU (vld.acc, vmulr.vx m, e rne sat8, vst.s8 into `ys`, one int8 [mt][cols] slot per
   * accumulator tile) and stored as int8, so the int32 context never goes to DRAM.
   */
  readonly requant: boolean;
}

/**
 * Buffer counts. The int32 outputs make both kernels store-bound on the DRAM channel at BERT-base shapes, and
 * the channel is reserved first-fit in program order, so loads must be issued (and their buffers free) well
 * before the stores of earlier tiles book the channel: deep rings, as far as the memories hold them.
 */
export const MIN_ACC_TILES = 2;
export const MAX_ACC_TILES = 4;
export const MAX_X_BUFFERS = 16;
export const MIN_RING_SLOTS = 8;
export const MAX_RING_SLOTS = 32;

function checkShape(T: number, hidden: number, heads: number): number {
  for (const [name, v] of [['T', T], ['hidden', hidden], ['heads', heads]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name}: ${v} is not a positive integer`);
  }
  if (hidden % heads !== 0) throw new RangeError(`heads: ${heads} do not divide hidden ${hidden}`);
  return hidden / heads;
}

export function attentionTiling(kernel: AttentionKernel, T: number, hidden: number, heads: number, mach: ModelMachine, requant = false): AttentionTiling {
  const dh = checkShape(T, hidden, heads);
  if (requant && kernel !== 'pv') throw new RangeError('attentionTiling: only pv has a requantizing output stage');
  const M = T;
  const K = kernel === 'qk' ? dh : T;
  const N = kernel === 'qk' ? T : dh;
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const slotBytes = R * C;
  const minRing = MIN_RING_SLOTS * slotBytes;
  const accWordsTotal = Math.floor(mach.acc.sizeBytes / 4);
  const maxMtAcc = Math.floor(accWordsTotal / (MIN_ACC_TILES * C));
  // the int8 output slots (requant): at most one [mt][cols] per accumulator tile
  const ysBytes = requant ? MAX_ACC_TILES * Math.min(M, maxMtAcc) * C : 0;
  const avail = mach.spad.sizeBytes - minRing - ysBytes;
  // Two x blocks at least when they fit (the next head's block loads during this head), else one; a single
  // block holding all M rows beats two blocks that split M (which would reload the weights per block).
  let xBuffers = 2;
  let mt = Math.min(M, maxMtAcc, Math.floor(avail / (2 * K)));
  if (mt < 1 || (mt < M && Math.floor(avail / K) >= M && M <= maxMtAcc)) {
    xBuffers = 1;
    mt = Math.min(M, maxMtAcc, Math.floor(avail / K));
  }
  if (mt < 1) {
    throw new TilingError(
      `${kernel} T=${T} hidden=${hidden} heads=${heads} does not tile on this machine: scratchpad buffer 'xs' needs ${K} bytes for one ` +
        `row of K plus ${minRing} bytes for the weight ring 'wring' (${K + minRing} bytes), spad holds ${mach.spad.sizeBytes}; ` +
        `accumulator buffer 'yacc' needs ${MIN_ACC_TILES * C * 4} bytes per row, acc holds ${mach.acc.sizeBytes}`,
    );
  }
  const mTiles = Math.ceil(M / mt);
  const kTiles = Math.ceil(K / R), nTiles = Math.ceil(N / C);
  const blocks = heads * mTiles;
  if (xBuffers === 2) xBuffers = Math.max(2, Math.min(MAX_X_BUFFERS, blocks, Math.floor(avail / (mt * K))));
  const spareSlots = Math.floor((mach.spad.sizeBytes - ysBytes - xBuffers * mt * K) / slotBytes);
  const ringSlots = Math.max(MIN_RING_SLOTS, Math.min(MAX_RING_SLOTS, spareSlots, blocks * kTiles * nTiles));
  const accTiles = Math.min(MAX_ACC_TILES, Math.floor(accWordsTotal / (mt * C)));
  // How far loads may run ahead without overwriting what an earlier stream still reads (program order is
  // also the order of the functional semantics): a ring slot is reused ringSlots steps later; chunk ki of an
  // x buffer is last read (xBuffers - 1) blocks plus kTiles - 1 steps before the next block's load of it.
  const perBlock = kTiles * nTiles;
  const prefetchSteps = Math.max(0, Math.min(ringSlots - 1, (xBuffers - 1) * perBlock + kTiles - 1));
  return {
    kernel, T, hidden, heads, dHead: dh, M, K, N, mt, xBuffers, ringSlots, accTiles, kTiles, nTiles, mTiles, prefetchSteps,
    spadBytes: xBuffers * mt * K + ringSlots * slotBytes + (requant ? accTiles * mt * C : 0),
    accWords: accTiles * mt * C,
    requant,
  };
}

export const qkTiling = (T: number, hidden: number, heads: number, mach: ModelMachine): AttentionTiling => attentionTiling('qk', T, hidden, heads, mach);
export const pvTiling = (T: number, hidden: number, heads: number, mach: ModelMachine): AttentionTiling => attentionTiling('pv', T, hidden, heads, mach);

// ---- the schedule: operations in program order ----

/** Load x_h rows m0..m0+mt, columns k0..k0+kt into chunk ki of x buffer `buf`. */
export interface LoadXOp { readonly kind: 'loadX'; readonly h: number; readonly m0: number; readonly mt: number; readonly k0: number; readonly kt: number; readonly ki: number; readonly buf: number }
/** Load the weight tile k0..k0+kt x n0..n0+nt of head h into ring slot `slot`. */
export interface LoadWOp { readonly kind: 'loadW'; readonly h: number; readonly k0: number; readonly kt: number; readonly n0: number; readonly nt: number; readonly slot: number }
/** Preload ring slot `slot` (kt array rows, nt columns) into the MXU's shadow weight buffer. */
export interface PreloadOp { readonly kind: 'preload'; readonly slot: number; readonly kt: number; readonly nt: number }
/** Stream chunk ki of x buffer `buf` (mt rows) into accumulator tile `acc`; `first` overwrites instead of adding. */
export interface StreamOp {
  readonly kind: 'stream'; readonly h: number; readonly m0: number; readonly mt: number; readonly k0: number; readonly ki: number;
  readonly n0: number; readonly nt: number; readonly buf: number; readonly acc: number; readonly first: boolean;
}
/** Store rows r0..r0+rows of accumulator tile `acc` (output rows m0 + r0.., columns n0..n0+nt of head h). */
export interface StoreOp { readonly kind: 'store'; readonly h: number; readonly m0: number; readonly r0: number; readonly rows: number; readonly n0: number; readonly nt: number; readonly acc: number }
export type AttentionOp = LoadXOp | LoadWOp | PreloadOp | StreamOp | StoreOp;

/**
 * Program order: steps (block = head x row block, then output-column tile, then k tile) each do one weight
 * tile: [loads of the step prefetchSteps ahead] [one store piece of the previous tile] preload, stream. A
 * step's loads are its x chunk (first column tile of a block only) and its weight tile. The store of a tile
 * is cut into kTiles row pieces issued one per step of the next tile (so one long transfer never holds the
 * channel while the array waits for weights); what is left goes after that tile.
 */
export function attentionSchedule(t: AttentionTiling, mach: ModelMachine): AttentionOp[] {
  const R = mach.mxu.rows, C = mach.mxu.cols;
  interface Step { loads: AttentionOp[]; preload: PreloadOp; stream: StreamOp; lastOfTile: boolean }
  const steps: Step[] = [];
  let slot = 0, acc = 0, block = 0;
  for (let h = 0; h < t.heads; h++) {
    for (let mi = 0; mi < t.mTiles; mi++, block++) {
      const m0 = mi * t.mt, mt = Math.min(t.mt, t.M - m0);
      const buf = block % t.xBuffers;
      for (let ni = 0; ni < t.nTiles; ni++) {
        const n0 = ni * C, nt = Math.min(C, t.N - n0);
        for (let ki = 0; ki < t.kTiles; ki++) {
          const k0 = ki * R, kt = Math.min(R, t.K - k0);
          const loads: AttentionOp[] = [];
          if (ni === 0) loads.push({ kind: 'loadX', h, m0, mt, k0, kt, ki, buf });
          loads.push({ kind: 'loadW', h, k0, kt, n0, nt, slot });
          steps.push({
            loads,
            preload: { kind: 'preload', slot, kt, nt },
            stream: { kind: 'stream', h, m0, mt, k0, ki, n0, nt, buf, acc, first: ki === 0 },
            lastOfTile: ki === t.kTiles - 1,
          });
          slot = (slot + 1) % t.ringSlots;
        }
        acc = (acc + 1) % t.accTiles;
      }
    }
  }
  const ops: AttentionOp[] = [];
  const D = t.prefetchSteps;
  for (let s = 0; s < Math.min(D, steps.length); s++) ops.push(...steps[s]!.loads);
  let pending: StoreOp[] = [];
  let current: StoreOp[] = [];
  for (let s = 0; s < steps.length; s++) {
    const st = steps[s]!;
    if (s + D < steps.length) ops.push(...steps[s + D]!.loads);
    const piece = pending.shift();
    if (piece) ops.push(piece);
    ops.push(st.preload, st.stream);
    if (st.lastOfTile) {
      ops.push(...pending);
      const { h, m0, mt, n0, nt, acc: a } = st.stream;
      const rows = Math.ceil(mt / t.kTiles);
      current = [];
      for (let r0 = 0; r0 < mt; r0 += rows) current.push({ kind: 'store', h, m0, r0, rows: Math.min(rows, mt - r0), n0, nt, acc: a });
      pending = current;
    }
  }
  ops.push(...pending);
  return ops;
}

// ---- the cycle model ----

/** Instructions the builder emits per operation: operand `li`s plus the operation itself. */
export const ATTENTION_OP_INSTRS = { dma: LINEAR_OP_INSTRS.dma, preload: LINEAR_OP_INSTRS.wload, stream: LINEAR_OP_INSTRS.mm } as const;

export interface AttentionModel {
  readonly cycles: number;
  /** Always false: the units overlap, so the model is an analytical schedule (tolerance 5 %), not a closed form. */
  readonly exact: boolean;
  /** Useful MACs: heads x M x K x N. */
  readonly macs: number;
  readonly macBoundCycles: number;
  readonly dramBoundCycles: number;
  readonly dramBytes: number;
  /**
   * The best MXU utilization the array shape allows: a per-head GEMM with K or N below the array size
   * leaves rows or columns idle (dh = 64 on a 128 x 128 array: at most 50 %).
   */
  readonly arrayFillShare: number;
}

/** DRAM bytes: x once per head, weights once per x row block, outputs once as int32. */
function attentionBytes(t: AttentionTiling): number {
  return t.heads * (t.M * t.K + t.mTiles * t.K * t.N + t.M * t.N * (t.requant ? 1 : 4));
}

function modelOf(t: AttentionTiling, mach: ModelMachine): AttentionModel {
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const macs = t.heads * t.M * t.K * t.N;
  const dramBytes = attentionBytes(t);
  const macBoundCycles = Math.ceil(macs / (R * C));
  const dramBoundCycles = Math.ceil(dramBytes / mach.dram.bytesPerCycle);
  // Stream cycles are M per (k, n) tile; each carries at most kt x nt of the R x C MACs.
  const streamCycles = t.heads * t.M * t.kTiles * t.nTiles;
  const arrayFillShare = macs / (streamCycles * R * C);
  const cycles = Math.max(attentionPipeline(t, mach), macBoundCycles, dramBoundCycles);
  return { cycles, exact: false, macs, macBoundCycles, dramBoundCycles, dramBytes, arrayFillShare };
}

/** Cycles of `qk` (scores [H, T, T] int32 from q8, k8 [T, hidden] int8) on a machine. */
export function qkModel(T: number, hidden: number, heads: number, mach: ModelMachine): AttentionModel {
  return memoPerMachine(mach, `qkModel ${JSON.stringify([T, hidden, heads])}`, () => modelOf(qkTiling(T, hidden, heads, mach), mach));
}

/**
 * Cycles of `pv` (context [T, hidden] int32 from p [H, T, T] uint8 and v8 [T, hidden] int8) on a machine; with
 * `requant`, the context QuantAct(8) in the output stage (int8 context).
 */
export function pvModel(T: number, hidden: number, heads: number, mach: ModelMachine, requant = false): AttentionModel {
  return memoPerMachine(mach, `pvModel ${JSON.stringify([T, hidden, heads, requant])}`, () => modelOf(attentionTiling('pv', T, hidden, heads, mach, requant), mach));
}

/** Rows of the requantizing output stage whose VPU ops are interleaved (hides the load and multiply latencies). */
export const PV_POST_GROUP = 4;

/** Lane chunks [first column, width] of an output tile of nt columns. */
export function laneChunks(nt: number, lanes: number): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  for (let c0 = 0; c0 < nt; c0 += lanes) out.push([c0, Math.min(lanes, nt - c0)]);
  return out;
}

/**
 * The schedule priced operation by operation, in program order, with the timing rules of docs/TIMING.md (an
 * analytical pipeline in the style of linearPipeline, not an instruction simulation): each operation
 * dispatches after its operand li's, at most queueDepth operations ahead of its unit's oldest unstarted
 * one; it starts when its unit (the DMA direction, the MXU stream port or the weight-load port) is free, no
 * earlier operation of its unit starts later, the DRAM channel has a first-fit gap (DMA), and what it needs
 * is done: an x chunk or ring slot DRAM latency after its transfer, a free ring slot after the preload that
 * read it, a free x chunk after the last stream that read it, weights after their preload, a free shadow
 * buffer after the last stream that used it, accumulator rows (overwrite) after the stores that read them,
 * and results (store) after the last stream into the tile has drained from the array.
 */
function attentionPipeline(t: AttentionTiling, mach: ModelMachine): number {
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const clock = new ScheduleClock(mach, ATTENTION_OP_INSTRS.dma);
  const dma = (unit: 'load' | 'store', bytes: number, needs: number): { end: number; done: number } => clock.dma(unit, bytes, needs);
  const mxu = (lis: number, needs: number): number => clock.mxu(lis, needs);
  const xReady = Array.from({ length: t.xBuffers }, () => new Array<number>(t.kTiles).fill(0));
  const xFree = Array.from({ length: t.xBuffers }, () => new Array<number>(t.kTiles).fill(0));
  const slotReady = new Array<number>(t.ringSlots).fill(0);
  const slotFree = new Array<number>(t.ringSlots).fill(0);
  // Per accumulator row: when the last store reading it ends (a short last row block overwrites only its rows).
  const accRowFree = Array.from({ length: t.accTiles }, () => new Array<number>(t.mt).fill(0));
  const accDone = new Array<number>(t.accTiles).fill(0);
  // requant: per ys slot row, when the store reading it ends; the vector length the program last set
  const ysFree = Array.from({ length: t.accTiles }, () => new Array<number>(t.mt).fill(0));
  let vl = -1;
  if (t.requant) clock.scalar(2); // li r16 m, li r17 e
  const wbufFree = [0, 0];
  let wbuf = 1, streamFree = 0, weightPortFree = 0, weightsReady = 0;
  let finish = 0;
  for (const op of attentionSchedule(t, mach)) {
    switch (op.kind) {
      case 'loadX':
        xReady[op.buf]![op.ki] = dma('load', op.mt * op.kt, xFree[op.buf]![op.ki]!).done;
        break;
      case 'loadW':
        slotReady[op.slot] = dma('load', op.kt * op.nt, slotFree[op.slot]!).done;
        break;
      case 'preload': {
        // The preload fills the shadow buffer the stream is not using, once its last stream has ended.
        wbuf ^= 1;
        const s = mxu(ATTENTION_OP_INSTRS.preload - 1, Math.max(weightPortFree, slotReady[op.slot]!, wbufFree[wbuf]!));
        weightPortFree = s + op.kt;
        weightsReady = weightPortFree;
        slotFree[op.slot] = weightPortFree;
        break;
      }
      case 'stream': {
        let accFree = 0;
        if (op.first) for (let r = 0; r < op.mt; r++) accFree = Math.max(accFree, accRowFree[op.acc]![r]!);
        const s = mxu(ATTENTION_OP_INSTRS.stream - 1, Math.max(streamFree, weightsReady, xReady[op.buf]![op.ki]!, accFree));
        streamFree = s + op.mt;
        wbufFree[wbuf] = streamFree;
        xFree[op.buf]![op.ki] = streamFree;
        accDone[op.acc] = s + op.mt - 1 + R + C;
        finish = Math.max(finish, accDone[op.acc]!);
        break;
      }
      case 'store': {
        if (t.requant) {
          // the VPU requantizes the piece into the tile's ys slot (as programs/attention/build.ts emits it)
          const ld = mach.vpu.loadLatencyCycles, mul = mach.vpu.mulLatencyCycles;
          const rows = accRowFree[op.acc]!;
          const ys = ysFree[op.acc]!;
          let storeNeeds = 0;
          for (const [, w] of laneChunks(op.nt, mach.vpu.lanes)) {
            if (w !== vl) {
              clock.scalar(2);
              vl = w;
            }
            clock.scalar(2);
            for (let g0 = 0; g0 < op.rows; g0 += PV_POST_GROUP) {
              const g = Math.min(PV_POST_GROUP, op.rows - g0);
              for (let i = 0; i < g; i++) {
                const st = clock.vpu(ld, [], i, accDone[op.acc]!);
                rows[op.r0 + g0 + i] = Math.max(rows[op.r0 + g0 + i]!, st + 1);
              }
              for (let i = 0; i < g; i++) clock.vpu(mul, [i], i, 0);
              for (let i = 0; i < g; i++) storeNeeds = Math.max(storeNeeds, clock.vpu(1, [i], -1, ys[op.r0 + g0 + i]!) + 1);
            }
          }
          const r = dma('store', op.rows * op.nt, storeNeeds);
          for (let i = op.r0; i < op.r0 + op.rows; i++) ys[i] = r.end;
          finish = Math.max(finish, r.done);
          break;
        }
        const r = dma('store', op.rows * op.nt * 4, accDone[op.acc]!);
        const rows = accRowFree[op.acc]!;
        for (let i = op.r0; i < op.r0 + op.rows; i++) rows[i] = Math.max(rows[i]!, r.end);
        finish = Math.max(finish, r.done);
        break;
      }
    }
  }
  return Math.max(finish, clock.frontEnd + 1);
}
