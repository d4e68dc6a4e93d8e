// Cycle model and tiling of the per-channel element-wise "stream" kernels (requant-act here; i-GELU in
// programs/gelu/model.ts reuses it): a [rows, cols] int32 tensor streams DRAM -> accumulator memory in tiles of
// (up to) `lanes` columns by `tr` rows, the VPU runs one micro-kernel per row (several rows interleaved),
// and the results stream back. The micro-kernel (its ops, classes and register dependencies) is defined
// here once; programs/requant-act/build.ts prints it as assembly and this model prices it, so the two cannot drift.
//
// The model never runs the simulator: it walks the program's schedule at the level of its sections (DMA
// operations, the VPU ops of a tile's constant loads, first loop iterations and tail explicitly, with the
// timing rules of docs/TIMING.md), and prices the steady-state loop iterations in closed form (period x count).
import { memoPerMachine, TilingError, type ModelMachine } from '../schedule.js';

/** The machine fields the stream models read (a structural subset of the simulator's config). */
export interface StreamMachine extends ModelMachine {
  readonly vpu: ModelMachine['vpu'] & { readonly aluLatencyCycles: number };
}

export type OpClass = 'load' | 'alu' | 'mul' | 'store';

/**
 * One VPU instruction of a micro-kernel, for one row. In `asm`, `%T` names a per-row temporary register and
 * `$K` a per-channel constant register; the builder substitutes vector registers. `mem` says which tile
 * buffer a load reads or a store writes (for the memory hazards against the DMA transfers).
 */
export interface MicroOp {
  readonly asm: string;
  readonly cls: OpClass;
  readonly dst?: string;
  readonly srcs: readonly string[];
  readonly mem?: 'x' | 'w' | 'y';
  /** what it computes, printed beside the first row's instruction */
  readonly note?: string;
}

/** A derived constant computed once per region from the loaded ones (e.g. -q_b). */
export interface ConstOp {
  readonly asm: string;
  readonly cls: OpClass;
  readonly dst: string;
  readonly srcs: readonly string[];
  readonly note?: string;
}

export interface StreamKernel {
  readonly name: string;
  /** Rows of the int32 constants table [K][channels], each loaded into the vector register `$name`. */
  readonly consts: readonly string[];
  /** Constants computed on the VPU after loading (per region). */
  readonly derived: readonly ConstOp[];
  /** Per-row temporaries. */
  readonly temps: readonly string[];
  /** The per-row micro-kernel, in program order (loads first, the store last). */
  readonly body: readonly MicroOp[];
  /** Identity (residual) input: its element size in bytes (1 = int8 in the scratchpad, 4 = int32 in acc). */
  readonly identityBytes?: 1 | 4;
  /** Output element size: 1/2 bytes go through the scratchpad, 4 through the accumulator memory. */
  readonly outBytes: 1 | 2 | 4;
  /** Rows interleaved per loop iteration (hides the multiply latency on the in-order VPU). */
  readonly groupRows: number;
  /** Scalar registers the program sets once (values come with the case): [register, meaning]. */
  readonly scalars: ReadonlyArray<readonly [string, string]>;
}

/** One rectangular part of the tensor that shares a constants block: a column block, or the flat view. */
export interface Region {
  /** element offset of its first element in the tensor */
  readonly offset: number;
  /** elements between consecutive rows in DRAM */
  readonly stride: number;
  readonly rows: number;
  /** columns (<= lanes) = vector length */
  readonly width: number;
  /** first column of its constants in the constants table */
  readonly constCol: number;
  /** index of its constants block (regions with equal index share the loaded constants) */
  readonly constBlock: number;
}

export interface StreamTile {
  readonly region: number;
  readonly row0: number;
  readonly rows: number;
  /** first tile of a new constants block: load and compute the constants */
  readonly loadConsts: boolean;
}

export interface StreamTiling {
  readonly rows: number;
  readonly cols: number;
  readonly perChannel: boolean;
  readonly lanes: number;
  /** width of the constants table (channels, or lanes for per-tensor constants replicated by the host) */
  readonly constCols: number;
  /** rows per tile */
  readonly tr: number;
  readonly regions: readonly Region[];
  readonly tiles: readonly StreamTile[];
  /** words of accumulator memory and bytes of scratchpad the plan uses */
  readonly accWords: number;
  readonly spadBytes: number;
}

/** Tile elements cap: big enough to amortize the DMA set-up, small enough to pipeline load/compute/store. */
export const STREAM_TILE_ELEMENTS = 8192;

/**
 * Tiling of a [rows, cols] tensor. Per-channel constants: column blocks of `lanes` columns (the constants stay in
 * vector registers while all rows of the block stream through). Per-tensor constants: the flat view
 * [floor(n / lanes), lanes] plus a one-row tail. Rows are cut into tiles of `tr` rows, double-buffered.
 */
export function streamTiling(kernel: StreamKernel, rows: number, cols: number, perChannel: boolean, mach: StreamMachine): StreamTiling {
  const L = mach.vpu.lanes;
  const n = rows * cols;
  const regions: Region[] = [];
  if (perChannel) {
    for (let c0 = 0, b = 0; c0 < cols; c0 += L, b++) {
      if (rows > 0) regions.push({ offset: c0, stride: cols, rows, width: Math.min(L, cols - c0), constCol: c0, constBlock: b });
    }
  } else {
    const full = Math.floor(n / L);
    if (full > 0) regions.push({ offset: 0, stride: L, rows: full, width: L, constCol: 0, constBlock: 0 });
    if (n % L > 0) regions.push({ offset: full * L, stride: L, rows: 1, width: n % L, constCol: 0, constBlock: 0 });
  }
  const K = kernel.consts.length;
  const wAcc = kernel.identityBytes === 4 ? 1 : 0;
  const wSpad = kernel.identityBytes === 1 ? 1 : 0;
  const yAcc = kernel.outBytes === 4 ? 1 : 0;
  const ySpad = kernel.outBytes === 4 ? 0 : kernel.outBytes;
  const accWordsFixed = 2 * K * L;
  const accWordsPerRow = 2 * L * (1 + wAcc + yAcc);
  const spadPerRow = 2 * L * (wSpad + ySpad);
  const maxRows = regions.reduce((m, r) => Math.max(m, r.rows), 0);
  const byAcc = Math.floor((mach.acc.sizeBytes / 4 - accWordsFixed) / accWordsPerRow);
  const bySpad = spadPerRow === 0 ? Infinity : Math.floor(mach.spad.sizeBytes / spadPerRow);
  const tr = Math.min(maxRows, byAcc, bySpad, Math.max(1, Math.floor(STREAM_TILE_ELEMENTS / L)));
  if (n > 0 && tr < 1) {
    const accNeed = (accWordsFixed + accWordsPerRow) * 4;
    throw new TilingError(
      `${kernel.name} [${rows}, ${cols}] does not tile on this machine: accumulator buffers 'ka' (constants, ${accWordsFixed * 4} bytes) ` +
        `plus one row of 'xa'${wAcc ? "/'wa'" : ''}${yAcc ? "/'ys'" : ''} (${accWordsPerRow * 4} bytes) need ${accNeed} bytes, acc holds ${mach.acc.sizeBytes}; ` +
        `scratchpad needs ${spadPerRow} bytes per row, spad holds ${mach.spad.sizeBytes}`,
    );
  }
  const tiles: StreamTile[] = [];
  let lastBlock = -1;
  regions.forEach((r, ri) => {
    // Equal tiles within a region (128 rows in tiles of at most 127 are two of 64, not 127 + 1), so that the
    // double buffering alternates between tiles of the same size.
    const h = Math.ceil(r.rows / Math.ceil(r.rows / tr));
    for (let r0 = 0; r0 < r.rows; r0 += h) {
      tiles.push({ region: ri, row0: r0, rows: Math.min(h, r.rows - r0), loadConsts: r.constBlock !== lastBlock });
      lastBlock = r.constBlock;
    }
  });
  const trU = Math.max(tr, 1);
  return {
    rows, cols, perChannel, lanes: L,
    constCols: perChannel ? cols : L,
    tr: trU, regions, tiles,
    accWords: accWordsFixed + trU * accWordsPerRow,
    spadBytes: trU * spadPerRow,
  };
}

/** Instructions per DMA operation: six operand `li`s and the transfer. */
export const STREAM_DMA_INSTRS = 7;

/** Constant-block index of a tile's buffer (alternates, so the next block's constants load during this one). */
export function constBuffer(t: StreamTiling, tile: StreamTile): number {
  return t.regions[tile.region]!.constBlock % 2;
}

export interface StreamModelResult {
  readonly cycles: number;
  readonly exact: boolean;
  /** VPU instructions executed (for utilization figures) */
  readonly vpuInstructions: number;
  /** lower bounds: DRAM channel and front-end dispatch */
  readonly dramBoundCycles: number;
  readonly dispatchBoundCycles: number;
  readonly dramBytes: number;
}

/** First-fit reservations on the one DRAM channel (as sim/timing.ts: by readiness, in accounting order). */
class Channel {
  private readonly s: number[] = [];
  private readonly e: number[] = [];
  reserve(ready: number, len: number): number {
    if (len <= 0) return ready;
    let t = ready;
    let i = 0;
    while (i < this.s.length && this.e[i]! <= t) i++;
    while (i < this.s.length && this.s[i]! < t + len) {
      if (this.e[i]! > t) t = this.e[i]!;
      i++;
    }
    this.s.splice(i, 0, t);
    this.e.splice(i, 0, t + len);
    // Intervals far in the past can never be chosen again (every later request is ready after them).
    if (this.s.length > 64) {
      this.s.splice(0, 32);
      this.e.splice(0, 32);
    }
    return t;
  }
}

/**
 * The schedule walk. State mirrors what the timing rules of docs/TIMING.md depend on: the front end's next
 * dispatch cycle, the VPU's in-order issue (one per cycle, after its operands), the VPU queue (dispatch waits
 * for the start of the op queueDepth places earlier), the DMA units and the shared channel, and per tile
 * buffer the time the last access of each kind completes (the hazards the simulator finds by address range).
 */
export function streamModel(kernel: StreamKernel, t: StreamTiling, mach: StreamMachine): StreamModelResult {
  const L = mach.vpu.lanes;
  const Q = mach.frontend.queueDepth;
  const pen = mach.frontend.takenBranchPenaltyCycles;
  const dramLat = mach.dram.latencyCycles;
  const bpc = mach.dram.bytesPerCycle;
  const lat: Record<OpClass, number> = {
    load: mach.vpu.loadLatencyCycles, alu: mach.vpu.aluLatencyCycles, mul: mach.vpu.mulLatencyCycles, store: 1,
  };
  const G = kernel.groupRows;
  const K = kernel.consts.length;
  const nTemps = kernel.temps.length;
  const tempIndex = new Map(kernel.temps.map((n, i) => [n, i]));
  const constIndex = new Map([...kernel.consts, ...kernel.derived.map((d) => d.dst)].map((n, i) => [n, i]));
  const xfer = (bytes: number): number => Math.ceil(bytes / bpc);

  // ---- state ----
  let fe = 0;
  let vLast = 0; // last VPU start (the next starts at least one cycle later)
  let vCount = 0;
  let vring = new Float64Array(Q);
  const tempReady = new Float64Array(G * nTemps);
  const constReady = new Float64Array(constIndex.size);
  const ch = new Channel();
  const dmaLast = { load: 0, store: 0 };
  const dmaEnd = { load: 0, store: 0 };
  const dmaRing = { load: new Float64Array(Q), store: new Float64Array(Q) };
  const dmaCount = { load: 0, store: 0 };
  // per double-buffer index: when DMA writes are done / VPU reads end / VPU writes done / DMA reads end
  const xDone = [0, 0], wDone = [0, 0], kDone = [0, 0];
  const xReadEnd = [0, 0], wReadEnd = [0, 0], kReadEnd = [0, 0];
  const yWriteDone = [0, 0], yReadEnd = [0, 0];
  let finish = 0;
  let vpuInstructions = 0;
  let dramBytes = 0;

  const scalar = (n: number): void => {
    fe += n;
  };
  const branch = (taken: boolean): void => {
    fe += 1 + (taken ? pen : 0);
  };
  /** One VPU op; deps: register ready times; memDep: the memory hazard time. Returns its start. */
  const vpu = (cls: OpClass, srcReady: number, dstReadyRef: { arr: Float64Array; i: number } | null, memDep: number): number => {
    let d = fe;
    if (vCount >= Q) {
      const slot = vring[vCount % Q]!;
      if (slot > d) d = slot;
    }
    fe = d + 1;
    let dep = Math.max(d + 1, vLast + (vCount > 0 ? 1 : 0), srcReady, memDep);
    const l = lat[cls];
    if (dstReadyRef) {
      const old = dstReadyRef.arr[dstReadyRef.i]!;
      if (old > dep + l - 1) dep = old - l + 1;
    }
    const start = dep;
    vLast = start;
    vring[vCount % Q] = start;
    vCount++;
    vpuInstructions++;
    if (dstReadyRef) dstReadyRef.arr[dstReadyRef.i] = start + l;
    finish = Math.max(finish, start + l);
    return start;
  };
  const dma = (unit: 'load' | 'store', bytes: number, memDep: number): { end: number; done: number } => {
    fe += STREAM_DMA_INSTRS - 1;
    let d = fe;
    if (dmaCount[unit] >= Q) {
      const slot = dmaRing[unit][dmaCount[unit] % Q]!;
      if (slot > d) d = slot;
    }
    fe = d + 1;
    // In order on its unit, after the unit's previous transfer ended, after the hazard, then first fit.
    const ready = Math.max(d + 1, dmaLast[unit], dmaEnd[unit], memDep);
    const x = xfer(bytes);
    const start = ch.reserve(ready, x);
    dmaLast[unit] = start;
    dmaRing[unit][dmaCount[unit] % Q] = start;
    dmaCount[unit]++;
    dramBytes += bytes;
    const end = start + Math.max(1, x);
    dmaEnd[unit] = end;
    const done = x === 0 ? end : start + x + dramLat;
    finish = Math.max(finish, done);
    return { end, done };
  };

  // ---- the micro-kernel of a group of rows, op by op ----
  const opTemp = (name: string, g: number): number => g * nTemps + tempIndex.get(name)!;
  const srcTime = (srcs: readonly string[], g: number): number => {
    let r = 0;
    for (const s of srcs) {
      const ti = tempIndex.get(s);
      r = Math.max(r, ti !== undefined ? tempReady[g * nTemps + ti]! : constReady[constIndex.get(s)!]!);
    }
    return r;
  };
  const runRows = (rowsN: number, b: number): void => {
    for (const op of kernel.body) {
      for (let g = 0; g < rowsN; g++) {
        let mem = 0;
        if (op.mem === 'x') mem = xDone[b]!;
        else if (op.mem === 'w') mem = wDone[b]!;
        else if (op.mem === 'y') mem = yReadEnd[b]!;
        const s = vpu(op.cls, srcTime(op.srcs, g), op.dst ? { arr: tempReady, i: opTemp(op.dst, g) } : null, mem);
        if (op.mem === 'x') xReadEnd[b] = Math.max(xReadEnd[b]!, s + 1);
        else if (op.mem === 'w') wReadEnd[b] = Math.max(wReadEnd[b]!, s + 1);
        else if (op.mem === 'y') yWriteDone[b] = Math.max(yWriteDone[b]!, s + 1);
      }
    }
  };
  const opsPerGroup = kernel.body.length * G;

  /** Shift the VPU/front-end state by `m` periods of `P` cycles (steady-state loop iterations in closed form). */
  const shift = (m: number, P: number, b: number): void => {
    const dt = m * P;
    fe += dt;
    vLast += dt;
    const ring = new Float64Array(Q);
    const lastOps = Math.min(Q, vCount);
    for (let j = vCount - lastOps; j < vCount; j++) ring[(j + m * opsPerGroup) % Q] = vring[j % Q]! + dt;
    vring = ring;
    vCount += m * opsPerGroup;
    vpuInstructions += m * opsPerGroup;
    for (let i = 0; i < tempReady.length; i++) tempReady[i] = tempReady[i]! + dt;
    xReadEnd[b] = xReadEnd[b]! + dt;
    wReadEnd[b] = wReadEnd[b]! + dt;
    yWriteDone[b] = yWriteDone[b]! + dt;
  };

  const tileBytes = (tile: StreamTile, region: Region) => ({
    x: tile.rows * region.width * 4,
    w: kernel.identityBytes ? tile.rows * region.width * kernel.identityBytes : 0,
    y: tile.rows * region.width * kernel.outBytes,
    k: K * region.width * 4,
  });

  const load = (i: number): void => {
    const tile = t.tiles[i]!;
    const region = t.regions[tile.region]!;
    const b = i % 2, kb = constBuffer(t, tile);
    const bytes = tileBytes(tile, region);
    if (tile.loadConsts) kDone[kb] = dma('load', bytes.k, kReadEnd[kb]!).done;
    xDone[b] = dma('load', bytes.x, xReadEnd[b]!).done;
    if (kernel.identityBytes) wDone[b] = dma('load', bytes.w, wReadEnd[b]!).done;
  };

  // ---- the program, section by section ----
  scalar(kernel.scalars.length);
  if (t.tiles.length > 0) load(0);
  let lastWidth = -1;
  for (let i = 0; i < t.tiles.length; i++) {
    const tile = t.tiles[i]!;
    const region = t.regions[tile.region]!;
    const b = i % 2, kb = constBuffer(t, tile);
    if (i + 1 < t.tiles.length) load(i + 1);
    if (region.width !== lastWidth) {
      scalar(2); // li + vsetvl
      lastWidth = region.width;
    }
    if (tile.loadConsts) {
      scalar(1); // li constants pointer
      for (let k = 0; k < K; k++) {
        const s = vpu('load', 0, { arr: constReady, i: k }, kDone[kb]!);
        kReadEnd[kb] = Math.max(kReadEnd[kb]!, s + 1);
      }
      for (const d of kernel.derived) {
        vpu(d.cls, srcTime(d.srcs, 0), { arr: constReady, i: constIndex.get(d.dst)! }, 0);
      }
    }
    scalar(kernel.identityBytes ? 3 : 2); // tile pointers
    const groups = Math.floor(tile.rows / G), rem = tile.rows - groups * G;
    if (groups > 0) {
      scalar(1); // li loop count
      // Explicit iterations until the schedule repeats (the transient after a data wait), then closed form.
      let it = 0;
      let prevFe = -1, prevV = -1, prevDelta = -1, stable = 0;
      while (it < groups - 1) {
        const fe0 = fe, v0 = vLast;
        runRows(G, b);
        branch(true);
        it++;
        const dFe = fe - fe0, dV = vLast - v0;
        if (dFe === dV && dFe === prevDelta && fe - vLast === prevFe - prevV) stable++;
        else stable = 0;
        prevDelta = dFe === dV ? dFe : -1;
        prevFe = fe;
        prevV = vLast;
        if (stable >= 2 && it < groups - 1) {
          shift(groups - 1 - it, dFe, b);
          it = groups - 1;
        }
      }
      runRows(G, b);
      branch(false);
    }
    if (rem > 0) runRows(rem, b);
    // store the tile: waits for the last vector store
    const st = dma('store', tileBytes(tile, region).y, yWriteDone[b]!);
    yReadEnd[b] = st.end;
  }
  scalar(1); // halt
  finish = Math.max(finish, fe);

  // Lower bounds, for reports: the channel's bytes and the front end's dispatch slots.
  const dispatchBound = fe;
  return {
    cycles: finish,
    exact: false,
    vpuInstructions,
    dramBoundCycles: Math.ceil(dramBytes / bpc),
    dispatchBoundCycles: dispatchBound,
    dramBytes,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// requant-act: y = clamp(rne(x m_c / 2^e_c) + rne(w m' / 2^e'), lo, hi) (docs/IBERT.md section 3).

export interface RequantActShape {
  /** per-channel (column) multipliers and shifts; false: one per tensor */
  readonly perChannel: boolean;
  readonly bits: number;
  /** identity (residual) element size; absent: no identity term */
  readonly identityBytes?: 1 | 4;
  /** symmetric clamps of the two terms before the add (compile-time bounds that make the int32 sum exact) */
  readonly clampX: boolean;
  readonly clampW: boolean;
}

export function requantActOutBytes(bits: number): 1 | 2 | 4 {
  return bits <= 8 ? 1 : bits <= 16 ? 2 : 4;
}

/** The final clamp to [lo, hi] is needed unless a saturating multiply already gives exactly that range. */
export function requantActFinalClamp(s: RequantActShape): boolean {
  if (s.identityBytes) return s.bits < 32;
  return s.bits !== 8 && s.bits !== 16 && s.bits !== 32;
}

/**
 * The micro-kernel. Registers: r9 x pointer, r13 identity pointer, r10 output pointer; r20/r21 the identity
 * multiplier and shift; r22..r27 clamp bounds (x term, identity term, output).
 */
export function requantActKernel(s: RequantActShape, lanes: number): StreamKernel {
  const L = lanes;
  const ob = requantActOutBytes(s.bits);
  const id = s.identityBytes;
  const direct = !id && (s.bits === 8 || s.bits === 16);
  const body: MicroOp[] = [{ asm: `vld.acc %X, r9, ${L}`, cls: 'load', dst: 'X', srcs: [], mem: 'x', note: 'x (int32)' }];
  if (id) body.push({ asm: id === 1 ? `vld.s8 %W, r13, ${L}` : `vld.acc %W, r13, ${L}`, cls: 'load', dst: 'W', srcs: [], mem: 'w', note: 'w (identity)' });
  body.push({ asm: `vmulr.vv %X, %X, $m, $e, rne, ${direct ? (s.bits === 8 ? 'sat8' : 'sat16') : 'sat32'}`, cls: 'mul', dst: 'X', srcs: ['X', 'm', 'e'], note: 't1 = rne(x m_c / 2^e_c)' });
  if (id) body.push({ asm: 'vmulr.vx %W, %W, r20, r21, rne, sat32', cls: 'mul', dst: 'W', srcs: ['W'], note: "t2 = rne(w m' / 2^e')" });
  if (id && s.clampX) body.push({ asm: 'vclamp %X, %X, r22, r23', cls: 'alu', dst: 'X', srcs: ['X'], note: 'bound t1 so the int32 sum cannot wrap' });
  if (id && s.clampW) body.push({ asm: 'vclamp %W, %W, r24, r25', cls: 'alu', dst: 'W', srcs: ['W'], note: 'bound t2 so the int32 sum cannot wrap' });
  if (id) body.push({ asm: 'vadd %X, %X, %W', cls: 'alu', dst: 'X', srcs: ['X', 'W'], note: 't1 + t2' });
  if (requantActFinalClamp(s)) body.push({ asm: 'vclamp %X, %X, r26, r27', cls: 'alu', dst: 'X', srcs: ['X'], note: 'clamp to the output range' });
  const st = ob === 1 ? 'vst.s8' : ob === 2 ? 'vst.s16' : 'vst.acc';
  body.push({ asm: `${st} %X, r10, ${L * (ob === 4 ? 1 : ob)}`, cls: 'store', srcs: ['X'], mem: 'y', note: 'y' });
  const scalars: Array<readonly [string, string]> = [];
  if (id) scalars.push(['r20', "identity multiplier m'"], ['r21', "identity shift e'"]);
  if (id && s.clampX) scalars.push(['r22', 'x-term lower bound'], ['r23', 'x-term upper bound']);
  if (id && s.clampW) scalars.push(['r24', 'identity-term lower bound'], ['r25', 'identity-term upper bound']);
  if (requantActFinalClamp(s)) scalars.push(['r26', 'output minimum -2^(bits-1)'], ['r27', 'output maximum 2^(bits-1)-1']);
  const k: StreamKernel = {
    name: 'requant-act',
    consts: ['m', 'e'],
    derived: [],
    temps: id ? ['X', 'W'] : ['X'],
    body,
    outBytes: ob,
    groupRows: 4,
    scalars,
  };
  return id ? { ...k, identityBytes: id } : k;
}

/** Cycles of requant-act on a [rows, cols] tensor (the shape of the case; channels = cols). */
export function requantActModel(rows: number, cols: number, shape: RequantActShape, mach: StreamMachine): { cycles: number; exact: boolean } & StreamModelResult {
  return memoPerMachine(mach, `requantActModel ${JSON.stringify([rows, cols, shape])}`, () => {
    const kernel = requantActKernel(shape, mach.vpu.lanes);
    const t = streamTiling(kernel, rows, cols, shape.perChannel, mach);
    return streamModel(kernel, t, mach);
  });
}
