// The fused `linear-requant` kernel: y8 = QuantAct(x . W^T + b) with per-channel multipliers and shifts, where
// the int32 accumulator tile never leaves the chip. Its schedule (which programs/linear-requant/build.ts prints as
// assembly) and its cycle model (which prices the same schedule with the timing rules of docs/TIMING.md) live
// here, so the two cannot drift: the schedule is a list of operations in program order, the builder turns each
// into instructions, the model walks it.
//
// Schedule. The linear tiling of programs/schedule.ts (both loop orders), on a machine whose scratchpad is
// reduced by the two new buffers (the int8/int16 output tiles `ys` and the per-channel constants `ks`), so the
// accumulator plan is the linear kernel's own. After the last K step of an output tile its requantization
// ("post" work: the VPU reads the accumulator rows, vmulr.vv with the per-lane multiplier and shift, saturation,
// a narrowing store to `ys`, then a DMA store of those rows) is cut into row pieces that are issued one per
// weight load of the MXU work that follows (after a lag of POST_LAG weight loads, so that the VPU queue never
// holds the front end while the accumulator tile is still draining out of the array). Pieces not issued by the
// time an accumulator region is reloaded (its bias load) are issued just before it; the hazard tracking
// makes the bias load wait for the VPU's reads.
//
// Constants. The multiplier m_c (|m_c| < 2^31) and shift e_c (0..127) of each output channel are kept in the
// scratchpad as three int16 rows [hi, lo - 2^15, e] with m = hi * 2^16 + lo (0 <= lo < 2^16), and rebuilt in
// vector registers once per output tile (vld.s16, vsll.vx 16, vadd, vadd.vx 2^15: wrapping int32 arithmetic
// gives m exactly). Keeping them out of the accumulator memory leaves its whole capacity to the linear tiling.
//
// Identity term and 22 bits (the residual QuantAct of layer steps 8 and 17, fused with the linear of steps 7 and
// 16). An optional int8 identity [M, N] with one (m', e') is added as layer 2 of requant-act does it
// (kernels/npu/requant-act.ts): vmulr.vv to sat32, vld.s8 + vmulr.vx rne sat32, the compile-time term clamps that
// keep the int32 sum exact (clampX / clampW), vadd, vclamp to the output range. Each tile's identity rows are
// loaded with its bias and constants into a per-region int8 slot of `ws` in the scratchpad, a whole tile's MXU
// work ahead of the post work that reads them (loading them piece by piece just before use stalls the in-order
// VPU on DRAM latency and, through the full VPU queue, the front end: +30% cycles at BERT-base on edge). 22-bit
// outputs are int32: each requantized row is written back (vst.acc) into the accumulator row it was read from and
// the piece is stored to DRAM from there (dma.st acc), so no output buffer is needed at all: the scratchpad has no
// int32 vector store, and a separate int32 buffer in the accumulator memory would take capacity from the linear
// tiling. The region's next bias load waits for that store (accFree).
import { LINEAR_OP_INSTRS, linearTiling, linearTilingCandidates, linearWithResident, linearXResident, type LinearTiling } from '../linear/model.js';
import { memoPerMachine, ScheduleClock, TilingError, type ModelMachine } from '../schedule.js';

/** The machine fields this model reads. */
export interface FusedMachine extends ModelMachine {
  readonly vpu: ModelMachine['vpu'] & { readonly aluLatencyCycles: number };
}

/** Accumulator rows whose VPU ops are interleaved (hides the multiply latency on the in-order VPU). */
export const POST_GROUP_ROWS = 4;

/** Output widths of the fused kernel: int8, int16, or 22 bits stored as int32 (the residual QuantAct of steps 8 and 17). */
export type LinearRequantBits = 8 | 16 | 22;

/**
 * The identity (residual) term's shape: an int8 tensor [M, N] requantized with one scalar (m', e') and added
 * with the clamps of kernels/npu/requant-act.ts (clampX / clampW: symmetric bounds of the two terms, 0 = none).
 */
export interface LinearRequantIdentity {
  readonly clampX: number;
  readonly clampW: number;
}

/**
 * What the VPU does to a finished accumulator row: the per-channel requantization (the default), or i-GELU with its
 * QuantAct(8) and a second per-tensor requantization of the int8 result (layer steps 12-15: fc1, i-GELU, its
 * QuantAct(8), the int8 -> int8 rescale before fc2), so the int32 fc1 output never goes to DRAM.
 */
export type PostKind = 'requant' | 'gelu';

/**
 * The form of the GELU output stage (compile time, from the constants: geluFormOf).
 * wide: q_c and 2^14 q_1 fit int32 and the polynomial sa^2 + q_c stays in int32 for every channel, so
 *   u = floor((s (sa^2 + q_c) + 2^14 q_1) / 2^14) is two vmacr (the split form needs four ops: q_c in two halves);
 * rescale: the step-15 requantization is emitted (false: it maps every int8 to itself, checked over all 256).
 */
export interface GeluForm {
  readonly wide: boolean;
  readonly rescale: boolean;
}
/** The split form with the rescale: valid for every constant the gelu kernel accepts. */
export const GELU_SPLIT: GeluForm = { wide: false, rescale: true };

export interface LinearRequantPlan {
  readonly t: LinearTiling;
  readonly bits: LinearRequantBits;
  /** the output stage (see PostKind) */
  readonly post: PostKind;
  /** post 'gelu': the stage's form (see GeluForm) */
  readonly gelu?: GeluForm;
  /** the identity term (absent: the plain per-channel requantization) */
  readonly identity?: LinearRequantIdentity;
  /** accumulator regions (and constants blocks in ks) */
  readonly regions: number;
  /** output element bytes (4: int32 rows written back in place into the accumulator region, stored from there) */
  readonly ob: 1 | 2 | 4;
  /** lane chunks of an output tile: [first column, width] (one per `lanes` columns of the array) */
  readonly chunks: ReadonlyArray<readonly [number, number]>;
  /** rows of the largest accumulator tile (the ys buffer is 2 x mt x cols elements) */
  readonly mt: number;
  /** weight loads after a tile's last one before its post work may be issued (postLag) */
  readonly lag: number;
  /** 'columns': K tiles of the group's head and tail that each tile runs alone (staggerOrder; 0 = none) */
  readonly stagger: number;
  /**
   * 'rows': output tiles at the start of a row block that run K-major together (each x slice, loaded at its first
   * use, shared by them, so the block's x loads spread over their MXU work instead of binding the first tile);
   * at most `regions`; 1 = every tile alone.
   */
  readonly firstGroup: number;
}

/** The largest accumulator tile any linear tiling can use: min(M, acc words / cols). */
function maxTileRows(M: number, mach: ModelMachine): number {
  return Math.max(1, Math.min(M, Math.floor(mach.acc.sizeBytes / 4 / mach.mxu.cols)));
}

/** Output element bytes: 22 bits are stored as int32. */
export function outBytes(bits: LinearRequantBits): 1 | 2 | 4 {
  return bits === 8 ? 1 : bits === 16 ? 2 : 4;
}

/**
 * Scratchpad bytes of the output tiles ys (2 tiles of the largest accumulator tile; none for int32 outputs, which
 * go back into the accumulator rows they came from).
 */
function ysBytes(M: number, bits: LinearRequantBits, mach: ModelMachine): number {
  return bits === 22 ? 0 : 2 * maxTileRows(M, mach) * mach.mxu.cols * outBytes(bits);
}

/**
 * The identity tiles ws: one int8 tile [t.mt][cols] per accumulator region (a tile's identity rows load with its
 * bias and constants, a whole tile ahead of its post work, into the slot its region frees). At most wsBound bytes,
 * which is what the tiling reserves before it knows the regions.
 */
export function wsBytes(t: LinearTiling, mach: ModelMachine, regions = accRegions(t)): number {
  return regions * t.mt * mach.mxu.cols;
}

/** An upper bound of wsBytes for any tiling of the shape: a quarter of the accumulator bytes, two copies of every column tile. */
function wsBound(M: number, N: number, mach: ModelMachine): number {
  const C = mach.mxu.cols;
  return Math.min(Math.floor(mach.acc.sizeBytes / 4), 2 * Math.ceil(N / C) * maxTileRows(M, mach) * C);
}

/** The output needs a clamp after the multiply (no saturation of vmulr gives its range). */
export function needsFinalClamp(p: Pick<LinearRequantPlan, 'bits' | 'identity'>): boolean {
  return p.identity !== undefined || p.bits === 22;
}

/**
 * The identity sum as one saturating vmacr (x term * 1 + identity term, sat32) instead of the term clamp and a
 * wrapping vadd: when exactly one term is clamped (kernels/npu/requant-act.ts, the exact regime of the 22-bit
 * residuals), layer 2 is clamp(t1 + t2, lo, hi) of the exact sum (the clamp bound H + min(B1, B2) only cuts terms
 * whose sum is beyond +-H anyway), and clamp(sat32(t1 + t2), lo, hi) is the same value since lo, hi lie in int32.
 * Not with both clamps (the inexact regime, where the clamped terms are what layer 2 adds). The ones vector lives in
 * the register below the lane chunks' constants (onesReg), broadcast once at the start.
 */
export function sumByMac(p: Pick<LinearRequantPlan, 'identity'>): boolean {
  const id = p.identity;
  return id !== undefined && (id.clampX > 0) !== (id.clampW > 0);
}
/** The vector register of ones for sumByMac: the first below the per-chunk m, e pairs. */
export function onesReg(p: Pick<LinearRequantPlan, 'chunks'>): number {
  return 31 - 2 * p.chunks.length;
}

/** Accumulator regions of a linear tiling (each t.mt x cols words): two tiles ('rows'), the group's copies ('columns'). */
export function accRegions(t: LinearTiling): number {
  return t.order === 'rows' ? 2 : t.accBuffers * t.groupTiles;
}

/** int16 rows of one constants block: [hi, lo - 2^15, e] (requant); the 11 rows of GELU_CONST_ROWS (gelu). */
export function ksRows(post: PostKind, form: GeluForm = GELU_SPLIT): number {
  return post === 'gelu' ? geluKsRows(form).length : 3;
}

/** Bytes of one constants block [ksRows][cols] int16 in ks (one block per accumulator region). */
export function ksBlockBytes(mach: ModelMachine, post: PostKind = 'requant', form: GeluForm = GELU_SPLIT): number {
  return ksRows(post, form) * mach.mxu.cols * 2;
}

/**
 * The post-work lag in weight loads: the front end runs up to queueDepth / 2 weight loads (a preload and a stream
 * each) ahead of the array, and a tile's accumulators are complete (rows + cols - 1) cycles after its last stream
 * ends; its VPU work is issued once both have passed, so the VPU queue never stalls dispatch on a draining tile.
 */
export function postLag(t: LinearTiling, mach: ModelMachine): number {
  return Math.ceil(mach.frontend.queueDepth / 2) + Math.ceil((mach.mxu.rows + mach.mxu.cols) / Math.max(1, t.mt)) + 1;
}

/**
 * The fused kernel's plan: the linear kernel's candidate tilings, each priced by this kernel's model (see
 * choosePlan). Memoised per machine object, since a layer asks for the same shapes several times.
 */
export function linearRequantTiling(
  M: number, K: number, N: number, bits: LinearRequantBits, mach: FusedMachine, lagOverride?: number, identity?: LinearRequantIdentity,
  post: PostKind = 'requant', form: GeluForm = GELU_SPLIT,
): LinearRequantPlan {
  const key = `linearRequantTiling ${JSON.stringify([M, K, N, bits, lagOverride ?? null, identity ?? null, post, post === 'gelu' ? form : null])}`;
  return memoPerMachine(mach, key, () => choosePlan(M, K, N, bits, mach, lagOverride, identity, post, form));
}

function choosePlan(
  M: number, K: number, N: number, bits: LinearRequantBits, mach: FusedMachine, lagOverride: number | undefined, identity: LinearRequantIdentity | undefined,
  post: PostKind, form: GeluForm,
): LinearRequantPlan {
  const C = mach.mxu.cols, L = mach.vpu.lanes;
  const id = identity !== undefined;
  if (post === 'gelu' && (id || bits !== 8)) throw new TilingError('linear-requant: the GELU output stage writes int8 and takes no identity term');
  // The linear tiling on the scratchpad left after ys (and ws) and two constants blocks; a column-group plan needs
  // one constants block per accumulator region, checked after.
  const extra = ysBytes(M, bits, mach) + (id ? wsBound(M, N, mach) : 0) + 2 * ksBlockBytes(mach, post, form);
  if (extra >= mach.spad.sizeBytes) {
    throw new TilingError(`linear-requant ${M}x${K}x${N}: scratchpad buffers 'ys'${id ? ", 'ws'" : ''} and 'ks' need ${extra} bytes, spad holds ${mach.spad.sizeBytes}`);
  }
  const reduced: ModelMachine = { ...mach, spad: { sizeBytes: mach.spad.sizeBytes - extra } };
  const chunks: Array<readonly [number, number]> = [];
  for (let c0 = 0; c0 < C; c0 += L) chunks.push([c0, Math.min(L, C - c0)]);
  const temps = post === 'gelu' ? GELU_TEMPS.length * POST_GROUP_ROWS + 1 : (id ? 2 : 1) * POST_GROUP_ROWS;
  const perChunk = post === 'gelu' ? GELU_CONSTS.length : 2;
  const ones = post !== 'gelu' && sumByMac({ ...(identity ? { identity } : {}) }) ? 1 : 0;
  if (perChunk * chunks.length + temps + ones > 32) {
    throw new TilingError(`linear-requant: ${chunks.length} lane chunks per array tile (cols ${C}, lanes ${L}) need ${perChunk * chunks.length} constant vector registers plus ${temps} temporaries (32 available)`);
  }
  const needOf = (u: LinearTiling, regions: number): number => u.spadBytes + ysBytes(M, bits, mach) + (id ? wsBytes(u, mach, regions) : 0) + regions * ksBlockBytes(mach, post, form);
  const planOf = (t0: LinearTiling, regions = accRegions(t0)): LinearRequantPlan | TilingError => {
    let t = t0;
    let need = needOf(t, regions);
    if (need > mach.spad.sizeBytes && t.xResident > 0) {
      // the group's further constants blocks come out of the resident x slices
      t = linearWithResident(t, t.xResident - Math.ceil((need - mach.spad.sizeBytes) / (t.mt * mach.mxu.rows)), reduced);
      need = needOf(t, regions);
    }
    if (need > mach.spad.sizeBytes) {
      return new TilingError(
        `linear-requant ${M}x${K}x${N} does not tile on this machine: scratchpad buffers 'xs' and 'wring' (${t.spadBytes} bytes), 'ys' (${ysBytes(M, bits, mach)})${id ? `, 'ws' (${wsBytes(t, mach)})` : ''} ` +
          `and 'ks' (${regions} constants blocks of ${ksBlockBytes(mach, post, form)}) need ${need} bytes, spad holds ${mach.spad.sizeBytes}`,
      );
    }
    const base = { t, bits, post, ...(post === 'gelu' ? { gelu: form } : {}), regions, ob: outBytes(bits), chunks, mt: maxTileRows(M, mach), lag: lagOverride ?? postLag(t, mach), stagger: 0, firstGroup: 1 };
    return identity ? { ...base, identity } : base;
  };
  // The linear kernel's candidate tilings (on the scratchpad left after ys, ws and two constants blocks; a
  // column-group plan needs one constants block per accumulator region, taken from its resident x slices), each
  // priced by this kernel's model: its output stage changes which one is fastest. A column-group plan with one
  // accumulator copy also tries staggered group boundaries (staggerOrder). Fewest cycles wins; ties keep the
  // earlier candidate (the rows order first) and the smaller stagger.
  // The rows order also tries three and four accumulator regions where the accumulator memory holds them (the
  // tile after next then need not wait for the requantization and store of the one that last used its region).
  const accWords = Math.floor(mach.acc.sizeBytes / 4);
  // A large GELU plan is not searched: its VPU stage is what a column-group boundary waits for, which the cheap
  // pricing below does not see, and walking it costs tens of times more; it takes the linear kernel's own tiling
  // (and, in the rows order, the accumulator-region variants, priced with the plain stage).
  const proxy = post === 'gelu' && M * N > GELU_PRICED_OUTPUTS;
  const plans = (proxy ? [linearTiling(M, K, N, reduced)] : linearTilingCandidates(M, K, N, reduced)).flatMap((t) => {
    const out = [planOf(t)];
    if (t.order === 'rows') {
      const most = Math.min(ROWS_MAX_REGIONS, t.mTiles * t.nTiles, Math.floor(accWords / (t.mt * C)));
      for (let r = 3; r <= most; r++) out.push(planOf(t, r));
    }
    return out;
  });
  const fits = plans.filter((q): q is LinearRequantPlan => !(q instanceof TilingError));
  if (fits.length === 0) throw plans[0] as TilingError;
  // only the rows order and the column-group plans whose roofline (MAC or DRAM bound) is among the three lowest
  // are walked (each walk of a large shape costs tens of milliseconds of host time)
  // (the fused kernel's bytes: the linear tiling's, with y at its own width instead of int32, plus the constants
  // once per row block and the identity once)
  const fusedBytes = (q: LinearRequantPlan): number => q.t.dramBytes - M * N * 4 + M * N * q.ob + q.t.mTiles * ksRows(post, form) * 2 * N + (id ? M * N : 0);
  const roof = (q: LinearRequantPlan): number => Math.max(Math.ceil((M * K * N) / (mach.mxu.rows * C)), Math.ceil(fusedBytes(q) / mach.dram.bytesPerCycle));
  const cols = fits.filter((q) => q.t.order === 'columns').sort((a, b) => roof(a) - roof(b)).slice(0, 3);
  const ok = [...fits.filter((q) => q.t.order === 'rows'), ...cols];
  if (ok.length === 1 && ok[0]!.t.order === 'rows' && (ok[0]!.t.kTiles < 2 || ok[0]!.t.nTiles < 2)) return ok[0]!;
  const price = (q: LinearRequantPlan): number => {
    const r = proxy ? { ...q, post: 'requant' as const } : q;
    return linearRequantModelOf(r, linearRequantSchedule(r, mach), mach).cycles;
  };
  // Candidates in order of their roofline (a lower bound of their cycles), each skipped once the best found is
  // already at or below it. A column plan with one accumulator copy climbs the stagger depths from the middle one.
  let best: { p: LinearRequantPlan; cycles: number } | undefined;
  const consider = (q: LinearRequantPlan): number => {
    const cycles = price(q);
    if (!best || cycles < best.cycles) best = { p: q, cycles };
    return cycles;
  };
  const byRoof = ok.map((p, i) => ({ p, i, roof: roof(p) })).sort((a, b) => a.roof - b.roof || a.i - b.i);
  for (const { p, roof: r } of byRoof) {
    if (best && r >= best.cycles) continue;
    const base = consider(p);
    if (!proxy && p.t.order === 'columns' && p.t.accBuffers === 1 && p.t.groups > 1) {
      const Ds = STAGGER_CANDIDATES.filter((D) => 2 * D <= p.t.xResident);
      const at = new Map<number, number>();
      const cost = (i: number): number => {
        if (!at.has(i)) at.set(i, consider({ ...p, stagger: Ds[i]! }));
        return at.get(i)!;
      };
      if (Ds.length > 0) {
        let i = Math.floor(Ds.length / 2);
        if (cost(i) >= base) i = 0; // the middle depth does not pay: climb from the shallowest instead
        if (cost(i) < base) {
          for (const step of [1, -1]) {
            while (i + step >= 0 && i + step < Ds.length && cost(i + step) < cost(i)) i += step;
          }
        }
      }
    }
    if (p.t.order === 'rows' && p.regions > 2 && p.t.kTiles > 1 && (p.regions === ROWS_MAX_REGIONS || p.regions === p.t.mTiles * p.t.nTiles)) {
      consider({ ...p, firstGroup: Math.min(p.regions, p.t.nTiles) });
    }
  }
  return best!.p;
}

/** Outputs up to which a GELU plan's candidates are priced with the GELU stage itself. */
export const GELU_PRICED_OUTPUTS = 65536;

/** The most accumulator regions the rows order tries besides its two (3 up to as many as fit, up to this; the most also with its first tiles K-major). */
export const ROWS_MAX_REGIONS = 4;

/** Stagger depths (K tiles) a column-group plan climbs (from the middle one towards the cheaper neighbour). */
export const STAGGER_CANDIDATES = [4, 8, 12, 16, 20, 24] as const;

// ---------------------------------------------------------------------------------------------------------------
// The schedule: operations in program order.

export interface FusedTile {
  /** processing order (the two ys tiles alternate by its parity) */
  readonly index: number;
  readonly m0: number;
  readonly mt: number;
  readonly n0: number;
  readonly nt: number;
  /** accumulator region (each t.mt x cols words) and constants block */
  readonly region: number;
}

export type FusedOp =
  | { readonly kind: 'comment'; readonly text: string }
  | { readonly kind: 'bias'; readonly tile: FusedTile }
  | { readonly kind: 'consts'; readonly tile: FusedTile }
  /** x load into region key `key` (rows: slot x K tile; columns: K-slice slot) */
  | { readonly kind: 'x'; readonly key: number; readonly chip: number; readonly dram: number; readonly rows: number; readonly len: number; readonly chipStride: number }
  | { readonly kind: 'step'; readonly tile: FusedTile; readonly k0: number; readonly kt: number; readonly ring: number; readonly xKey: number; readonly xAddr: number; readonly xStride: number }
  | { readonly kind: 'post'; readonly tile: FusedTile; readonly r0: number; readonly rn: number; readonly first: boolean }
  /** a tile's identity rows into its region's ws slot (with its bias and constants) */
  | { readonly kind: 'idload'; readonly tile: FusedTile };

/**
 * The K order of a column group with a stagger of D ('columns' order): `head` the first D resident K tiles (each
 * tile of the group runs them alone, one tile after the other), `mid` the rest in order (each x slice shared by the
 * group's tiles), `tail` the last D resident K tiles (each tile alone again). A tile thus finishes D K steps of the
 * others' work before the next, and its requantization and store run under them and under the next group's head,
 * while the next group's tile in that region waits for it only after the head steps of the tiles before it:
 * with one accumulator copy the group boundary no longer empties the array. D = 0: the plain K order.
 */
export function staggerOrder(t: Pick<LinearTiling, 'kTiles' | 'xResident'>, D: number): { head: number[]; mid: number[]; tail: number[] } {
  const res: number[] = [];
  linearXResident(t).forEach((s, ki) => {
    if (s >= 0) res.push(ki);
  });
  const d = Math.max(0, Math.min(D, Math.floor(res.length / 2)));
  const head = res.slice(0, d), tail = d > 0 ? res.slice(res.length - d) : [];
  const skip = new Set([...head, ...tail]);
  const mid: number[] = [];
  for (let ki = 0; ki < t.kTiles; ki++) if (!skip.has(ki)) mid.push(ki);
  return { head, mid, tail };
}

/**
 * Rows per post piece of a tile of mt rows: a multiple of the group rows, about mt / (kTiles - lag) pieces (a
 * staggered plan: mt / stagger pieces, one per weight load of the next tile's tail steps).
 */
export function postPieces(mt: number, kTiles: number, lag: number): number[] {
  const slots = Math.max(1, kTiles - lag);
  const per = POST_GROUP_ROWS * Math.ceil(Math.ceil(mt / slots) / POST_GROUP_ROWS);
  const out: number[] = [];
  for (let r0 = 0; r0 < mt; r0 += per) out.push(Math.min(per, mt - r0));
  return out;
}

/**
 * The program's schedule. `xOnChip`: the x block is already in the scratchpad buffer `xs` (row-major [M][K] at its
 * start), left there by the previous program of a chain that has the same layout (Q's program, for K's and V's, which
 * read the same x): the x loads are dropped. Needs the whole block resident (rows order, one row block).
 */
export function linearRequantSchedule(p: LinearRequantPlan, mach: ModelMachine, xOnChip = false): FusedOp[] {
  if (xOnChip && !xBlockResident(p)) {
    throw new TilingError(`linear-requant: x can stay on chip only as one resident row block (this plan: ${p.t.order} order, ${p.t.mTiles} row block(s))`);
  }
  const ops = scheduleOps(p, mach);
  return xOnChip ? ops.filter((o) => o.kind !== 'x') : ops;
}

/** The plan keeps the whole x block in its scratchpad buffer xs (rows order, one row block): what xOnChip needs. */
export function xBlockResident(p: LinearRequantPlan): boolean {
  return p.t.order === 'rows' && p.t.mTiles === 1;
}

function scheduleOps(p: LinearRequantPlan, mach: ModelMachine): FusedOp[] {
  const t = p.t;
  const { M, K, N } = t;
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const ops: FusedOp[] = [];
  type Piece = { tile: FusedTile; r0: number; rn: number; first: boolean; eligible: number };
  const id = p.identity !== undefined;
  const pending: Piece[] = [];
  let tileCount = 0;
  let wl = 0; // weight loads issued so far (the slots)
  const enqueue = (tile: FusedTile): void => {
    let r0 = 0;
    for (const rn of postPieces(tile.mt, p.stagger > 0 ? p.stagger + p.lag : t.kTiles, p.lag)) {
      pending.push({ tile, r0, rn, first: r0 === 0, eligible: wl + p.lag });
      r0 += rn;
    }
  };
  /** The oldest pending piece. */
  const emitNext = (): void => {
    const pc = pending.shift()!;
    ops.push({ kind: 'post', tile: pc.tile, r0: pc.r0, rn: pc.rn, first: pc.first });
  };
  /** Before a bias load into `region`: every pending piece up to the last one of the tile in that region. */
  const flushRegion = (region: number): void => {
    let last = -1;
    pending.forEach((pc, i) => {
      if (pc.tile.region === region) last = i;
    });
    for (let i = 0; i <= last; i++) emitNext();
  };
  /** A slot (just before a weight load): the oldest pending piece, once it is eligible. */
  const slot = (): void => {
    const pc = pending[0];
    if (pc && pc.eligible <= wl) emitNext();
    wl++;
  };
  const newTile = (m0: number, mt: number, n0: number, nt: number, region: number): FusedTile => ({
    index: tileCount++, m0, mt, n0, nt, region,
  });
  let ring = 0;
  if (t.order === 'rows') {
    let accTile = 0;
    for (let mi = 0; mi < t.mTiles; mi++) {
      const m0 = mi * t.mt, mt = Math.min(t.mt, M - m0);
      const xs = mi % t.xBuffers;
      const xOp = (ki: number): void => {
        const k0 = ki * R, kt = Math.min(R, K - k0);
        const xAddr = xs * t.mt * K + k0;
        ops.push({ kind: 'x', key: xs * t.kTiles + ki, chip: xAddr, dram: m0 * K + k0, rows: mt, len: kt, chipStride: K });
      };
      const stepOp = (tile: FusedTile, ki: number): void => {
        const k0 = ki * R, kt = Math.min(R, K - k0);
        slot();
        ops.push({ kind: 'step', tile, k0, kt, ring, xKey: xs * t.kTiles + ki, xAddr: xs * t.mt * K + k0, xStride: K });
        ring = (ring + 1) % t.ringSlots;
      };
      const startTile = (ni: number): FusedTile => {
        const n0 = ni * C, nt = Math.min(C, N - n0);
        const tile = newTile(m0, mt, n0, nt, accTile);
        ops.push({ kind: 'comment', text: `---- output tile ${tile.index}: rows ${m0}..${m0 + mt - 1}, columns ${n0}..${n0 + nt - 1} (accumulator ${accTile}) ----` });
        flushRegion(accTile);
        ops.push({ kind: 'bias', tile }, { kind: 'consts', tile });
        if (id) ops.push({ kind: 'idload', tile });
        accTile = (accTile + 1) % p.regions;
        return tile;
      };
      // the block's first tiles K-major together, each x slice loaded at its first use
      const G = Math.min(p.firstGroup, t.nTiles);
      if (G > 1) {
        const first: FusedTile[] = [];
        for (let ni = 0; ni < G; ni++) first.push(startTile(ni));
        for (let ki = 0; ki < t.kTiles; ki++) {
          xOp(ki);
          for (const tile of first) stepOp(tile, ki);
        }
        for (const tile of first) enqueue(tile);
      }
      for (let ni = G > 1 ? G : 0; ni < t.nTiles; ni++) {
        const tile = startTile(ni);
        for (let ki = 0; ki < t.kTiles; ki++) {
          if (ni === 0) xOp(ki);
          stepOp(tile, ki);
        }
        enqueue(tile);
      }
    }
  } else {
    const G = t.groupTiles;
    const resident = linearXResident(t);
    const { head, mid, tail } = staggerOrder(t, p.stagger);
    let xSlot = 0, group = 0;
    for (let mi = 0; mi < t.mTiles; mi++) {
      const m0 = mi * t.mt, mt = Math.min(t.mt, M - m0);
      for (let gi = 0; gi < t.groups; gi++, group++) {
        const tiles = Math.min(G, t.nTiles - gi * G);
        const half = group % t.accBuffers;
        const gTiles: FusedTile[] = [];
        const n0g = gi * G * C;
        ops.push({ kind: 'comment', text: `==== rows ${m0}..${m0 + mt - 1}, column group ${gi}: columns ${n0g}..${Math.min(N, n0g + tiles * C) - 1} (${tiles} tile${tiles > 1 ? 's' : ''}, accumulator copy ${half}) ====` });
        // x slices: a resident one (key xBuffers + its slot) loads at its first use in the row block's first group
        const loaded = new Set<number>();
        const xOf = (ki: number): { key: number; addr: number } => {
          const ri = resident[ki]!;
          const k0 = ki * R, kt = Math.min(R, K - k0);
          let key: number;
          if (ri >= 0) key = t.xBuffers + ri;
          else {
            key = xSlot;
            xSlot = (xSlot + 1) % t.xBuffers;
          }
          const addr = key * t.mt * R;
          if ((ri < 0 || gi === 0) && !loaded.has(ki)) {
            loaded.add(ki);
            ops.push({ kind: 'comment', text: `---- K ${k0}..${k0 + kt - 1}: x slice rows ${m0}..${m0 + mt - 1}${ri >= 0 ? ` (resident slot ${ri})` : ''} ----` });
            ops.push({ kind: 'x', key, chip: addr, dram: m0 * K + k0, rows: mt, len: kt, chipStride: R });
          }
          return { key, addr };
        };
        const step = (j: number, ki: number, x: { key: number; addr: number }): void => {
          const k0 = ki * R, kt = Math.min(R, K - k0);
          if (gTiles[j] === undefined) {
            const n0 = (gi * G + j) * C, nt = Math.min(C, N - n0);
            const region = half * G + j;
            const tile = newTile(m0, mt, n0, nt, region);
            gTiles[j] = tile;
            ops.push({ kind: 'comment', text: `output tile ${tile.index}: columns ${n0}..${n0 + nt - 1} (accumulator region ${region})` });
            flushRegion(region);
            ops.push({ kind: 'bias', tile }, { kind: 'consts', tile });
            if (id && tail.length === 0) ops.push({ kind: 'idload', tile });
          }
          slot();
          ops.push({ kind: 'step', tile: gTiles[j]!, k0, kt, ring, xKey: x.key, xAddr: x.addr, xStride: R });
          ring = (ring + 1) % t.ringSlots;
        };
        // head: each tile alone on its first resident slices, so a tile's region is needed only after the
        // tiles before it have run them (the previous group's tail frees the regions in the same order). The row
        // block's first group, which loads the resident slices, is not staggered: every slice it loads is shared
        // by all its tiles (a tile alone on slices still to load would wait for the channel, which that group
        // already keeps as busy as the array), and its tiles all finish at its end.
        const first = gi === 0;
        const gTail = first ? [] : tail;
        const shared = first ? [...Array(t.kTiles).keys()] : mid;
        if (!first) for (let j = 0; j < tiles; j++) for (const ki of head) step(j, ki, xOf(ki));
        for (const ki of shared) {
          const x = xOf(ki);
          for (let j = 0; j < tiles; j++) step(j, ki, x);
        }
        // tail: each tile alone on its last resident slices; its requantization is queued as it finishes
        for (let j = 0; j < tiles; j++) {
          // (a staggered tile's identity rows load here, where the channel carries only the tail's weights)
          if (id && tail.length > 0) ops.push({ kind: 'idload', tile: gTiles[j]! });
          for (const ki of gTail) step(j, ki, xOf(ki));
          if (tail.length > 0) enqueue(gTiles[j]!);
        }
        if (tail.length === 0) for (const tile of gTiles) enqueue(tile);
      }
    }
  }
  // The pieces no weight load follows (the last tile's, and any left): split into pieces of at most
  // TAIL_PIECE_ROWS rows, each with its own store, so the stores and their DRAM latency run under the
  // requantization of the rows after them instead of all after it. (Not the GELU stage: its pieces loop, and the
  // loop's set-up costs what the earlier store saves.)
  const tailPieces: Piece[] = [];
  for (const pc of pending) {
    if (pc.rn <= TAIL_PIECE_ROWS || p.post === 'gelu') {
      tailPieces.push(pc);
      continue;
    }
    for (let r = 0; r < pc.rn; r += TAIL_PIECE_ROWS) {
      tailPieces.push({ ...pc, r0: pc.r0 + r, rn: Math.min(TAIL_PIECE_ROWS, pc.rn - r), first: pc.first && r === 0 });
    }
  }
  pending.splice(0, pending.length, ...tailPieces);
  while (pending.length > 0) emitNext();
  return ops;
}

/** Rows of a piece issued after the last weight load (see scheduleOps' end). */
export const TAIL_PIECE_ROWS = 32;

// ---------------------------------------------------------------------------------------------------------------
// The cycle model: the schedule walked with the machine's rules (ScheduleClock's rules plus the VPU and the
// scalar instructions of the post work).

/** Instructions per operation the builder emits (operand li's plus the operation). */
export const FUSED_INSTRS = LINEAR_OP_INSTRS;

export interface LinearRequantModel {
  readonly cycles: number;
  /** false: an analytical walk measured against the simulator (equal on the tested shapes) */
  readonly exact: boolean;
  readonly dramBytes: number;
  readonly macs: number;
  readonly macBoundCycles: number;
  readonly dramBoundCycles: number;
  readonly vpuInstructions: number;
}

export function linearRequantModel(M: number, K: number, N: number, bits: LinearRequantBits, mach: FusedMachine, identity?: LinearRequantIdentity): LinearRequantModel {
  const p = linearRequantTiling(M, K, N, bits, mach, undefined, identity);
  return linearRequantModelOf(p, linearRequantSchedule(p, mach), mach);
}

/** Prices a schedule (the one linearRequantSchedule returns for the plan). */
export function linearRequantModelOf(p: LinearRequantPlan, ops: readonly FusedOp[], mach: FusedMachine): LinearRequantModel {
  // a built program's schedule is priced once per machine (the runner asks on every run of a cached program)
  let byMach = PRICED.get(ops);
  if (byMach === undefined) PRICED.set(ops, (byMach = new WeakMap()));
  let m = byMach.get(mach);
  if (m === undefined) byMach.set(mach, (m = priceSchedule(p, ops, mach)));
  return m;
}
const PRICED = new WeakMap<readonly FusedOp[], WeakMap<object, LinearRequantModel>>();

function priceSchedule(p: LinearRequantPlan, ops: readonly FusedOp[], mach: FusedMachine): LinearRequantModel {
  const t = p.t;
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const ld = mach.vpu.loadLatencyCycles, mul = mach.vpu.mulLatencyCycles, alu = mach.vpu.aluLatencyCycles;
  const G = POST_GROUP_ROWS;
  const clock = new ScheduleClock(mach, FUSED_INSTRS.dma);
  const id = p.identity;
  const finalClamp = needsFinalClamp(p);
  clock.scalar(2 + fusedScalarLis(p)); // li r16, 16; li r17, 32768; identity and clamp scalars
  const byMac = sumByMac(p);
  let vl = -1;
  if (byMac) {
    clock.vpu(mach.vpu.aluLatencyCycles, [], onesReg(p), 0); // vbcast of 1 at vl = lanes
    vl = mach.vpu.lanes;
  }
  const held = new Map<number, number>(); // the step operand registers' values (stepOperands)
  let streamFree = 0, weightPortFree = 0, lastMm = 0;
  const wbufFree = [0, 0];
  let wbuf = 1;
  const ringFree = new Array<number>(t.ringSlots).fill(0);
  const accFree = new Array<number>(p.regions).fill(0); // VPU reads of the region end
  const xFree = new Map<number, number>(); // x region key -> last stream reading it ends
  const xDone = new Map<number, number>();
  const biasDone = new Map<number, number>(); // tile index -> bias done
  const tileDone = new Map<number, number>(); // tile index -> last mm done
  const ksDone = new Array<number>(p.regions).fill(0), ksFree = new Array<number>(p.regions).fill(0);
  const ysFree = [new Array<number>(p.mt).fill(0), new Array<number>(p.mt).fill(0)]; // per row: store read end
  const wsFree = new Array<number>(p.regions).fill(0); // per region: its identity slot's last VPU read ends
  const idDone = new Map<number, number>(); // tile index -> identity rows loaded
  for (const op of ops) {
    switch (op.kind) {
      case 'comment':
        break;
      case 'bias': {
        const r = clock.dma('load', op.tile.nt * 4, accFree[op.tile.region]!);
        biasDone.set(op.tile.index, r.done);
        break;
      }
      case 'consts': {
        const kb = op.tile.region;
        ksDone[kb] = clock.dma('load', ksRows(p.post, p.gelu) * op.tile.nt * 2, ksFree[kb]!).done;
        break;
      }
      case 'x': {
        xDone.set(op.key, clock.dma('load', op.rows * op.len, xFree.get(op.key) ?? 0).done);
        break;
      }
      case 'step': {
        const { tile, kt } = op;
        const lis = stepOperandLis(held, mach, t.K, op);
        const w = clock.dma('load', tile.nt * kt, ringFree[op.ring]!, lis.dma);
        wbuf ^= 1;
        const wl = clock.mxu(lis.wload, Math.max(weightPortFree, w.done, wbufFree[wbuf]!));
        weightPortFree = wl + kt;
        ringFree[op.ring] = weightPortFree;
        const mm = clock.mxu(lis.mm, Math.max(streamFree, weightPortFree, xDone.get(op.xKey) ?? 0, biasDone.get(tile.index)!));
        streamFree = mm + tile.mt;
        wbufFree[wbuf] = streamFree;
        xFree.set(op.xKey, streamFree);
        lastMm = mm + tile.mt - 1 + R + C;
        tileDone.set(tile.index, lastMm);
        break;
      }
      case 'idload': {
        const { tile } = op;
        idDone.set(tile.index, clock.dma('load', tile.mt * tile.nt, wsFree[tile.region]!).done);
        break;
      }
      case 'post': {
        const { tile, r0, rn } = op;
        const b = tile.index % 2, kb = tile.region;
        const wReady = id ? idDone.get(tile.index)! : 0;
        const done = tileDone.get(tile.index)!;
        const ys = ysFree[b]!;
        let storeNeeds = 0;
        if (p.post === 'gelu') {
          // one lane chunk (checked by the tiling): constants, then the rows in groups, op by op (geluPostOps)
          const w = Math.min(p.chunks[0]![1], tile.nt);
          if (w !== vl) {
            clock.scalar(2);
            vl = w;
          }
          const g = geluPostOps(C, p.gelu);
          const price = (o: PostOp, needs: number): number => clock.vpu(o.cls === 'load' ? ld : o.cls === 'mul' ? mul : o.cls === 'alu' ? alu : 1, o.srcs, o.dst, needs);
          if (op.first) {
            clock.scalar(1);
            for (const o of g.consts) {
              const s = price(o, o.mem === 'ks' ? ksDone[kb]! : 0);
              if (o.mem === 'ks') ksFree[kb] = Math.max(ksFree[kb]!, s + 1);
            }
          }
          clock.scalar(2); // acc and output pointers
          // the builder's loop: geluLoopGroups(rn) groups per trip, then the rest in line
          const U = geluLoopGroups(rn);
          const trips = Math.floor(rn / (U * G));
          if (trips > 0) clock.scalar(1); // li r11: the trip count
          for (let g0 = 0; g0 < rn; g0 += G) {
            const n = Math.min(G, rn - g0);
            const gi = g0 / G;
            if (gi > 0 && gi < trips * U && gi % U === 0) clock.scalar(mach.frontend.takenBranchPenaltyCycles); // the taken dbnz's bubble
            for (const o of g.row) {
              for (let i = 0; i < n; i++) {
                const oi = shiftRow(o, i);
                if (oi.mem === 'acc') {
                  const s = price(oi, done);
                  accFree[tile.region] = Math.max(accFree[tile.region]!, s + 1);
                } else if (oi.mem === 'ys') {
                  const s = price(oi, ys[r0 + g0 + i]!);
                  storeNeeds = Math.max(storeNeeds, s + 1);
                } else price(oi, 0);
              }
            }
            if (gi < trips * U && gi % U === U - 1) clock.scalar(1); // dbnz
          }
        } else p.chunks.forEach(([c0, width], ci) => {
          if (c0 >= tile.nt) return;
          const w = Math.min(width, tile.nt - c0);
          if (w !== vl) {
            clock.scalar(2);
            vl = w;
          }
          const vm = 31 - 2 * ci, ve = 30 - 2 * ci;
          if (op.first) {
            clock.scalar(1);
            const s1 = clock.vpu(ld, [], vm, ksDone[kb]!); // hi
            const s2 = clock.vpu(ld, [], ve, ksDone[kb]!); // lo - 2^15
            clock.vpu(alu, [vm], vm, 0); // hi << 16
            clock.vpu(alu, [vm, ve], vm, 0); // + lo'
            clock.vpu(alu, [vm], vm, 0); // + 2^15
            const s3 = clock.vpu(ld, [], ve, ksDone[kb]!); // e
            ksFree[kb] = Math.max(ksFree[kb]!, s1 + 1, s2 + 1, s3 + 1);
          }
          clock.scalar(id ? 3 : 2); // acc, (identity,) output pointers
          for (let g0 = 0; g0 < rn; g0 += G) {
            const g = Math.min(G, rn - g0);
            for (let i = 0; i < g; i++) {
              const s = clock.vpu(ld, [], i, done);
              accFree[tile.region] = Math.max(accFree[tile.region]!, s + 1);
            }
            if (id) {
              for (let i = 0; i < g; i++) {
                const s = clock.vpu(ld, [], G + i, wReady);
                wsFree[kb] = Math.max(wsFree[kb]!, s + 1);
              }
            }
            for (let i = 0; i < g; i++) clock.vpu(mul, [i, vm, ve], i, 0);
            if (id) {
              for (let i = 0; i < g; i++) clock.vpu(mul, [G + i], G + i, 0);
              if (byMac) {
                for (let i = 0; i < g; i++) clock.vpu(mul, [i, onesReg(p), G + i], i, 0);
              } else {
                if (id.clampX > 0) for (let i = 0; i < g; i++) clock.vpu(alu, [i], i, 0);
                if (id.clampW > 0) for (let i = 0; i < g; i++) clock.vpu(alu, [G + i], G + i, 0);
                for (let i = 0; i < g; i++) clock.vpu(alu, [i, G + i], i, 0);
              }
            }
            if (finalClamp) for (let i = 0; i < g; i++) clock.vpu(alu, [i], i, 0);
            for (let i = 0; i < g; i++) {
              if (p.ob === 4) {
                // back into the accumulator row it came from
                const s = clock.vpu(1, [i], -1, 0);
                accFree[tile.region] = Math.max(accFree[tile.region]!, s + 1);
                storeNeeds = Math.max(storeNeeds, s + 1);
              } else {
                const s = clock.vpu(1, [i], -1, ys[r0 + g0 + i]!);
                storeNeeds = Math.max(storeNeeds, s + 1);
              }
            }
          }
        });
        const st = clock.dma('store', rn * tile.nt * p.ob, storeNeeds);
        if (p.ob === 4) accFree[tile.region] = Math.max(accFree[tile.region]!, st.end);
        else for (let r = r0; r < r0 + rn; r++) ys[r] = st.end;
        break;
      }
    }
  }
  clock.scalar(1); // halt
  const macs = t.M * t.K * t.N;
  const cycles = Math.max(clock.finish, lastMm, clock.frontEnd);
  return {
    cycles, exact: false, dramBytes: clock.dramBytes, macs,
    macBoundCycles: Math.ceil(macs / (R * C)),
    dramBoundCycles: Math.ceil(clock.dramBytes / mach.dram.bytesPerCycle),
    vpuInstructions: clock.vpuCount,
  };
}

/**
 * The MXU operands of a step beside its addresses live in registers of their own, loaded only when they change
 * (R, K and C once, the tile rows and columns, K-tile length and x stride rarely), so a step costs 5 li's instead
 * of 15 on the front end (which binds the GELU stage on server).
 */
export const STEP_REGS = { nt: 18, kt: 19, R: 28, K: 29, C: 30, mt: 31, xStride: 15 } as const;

/**
 * The step operand registers (beside the addresses) that must be loaded before each of the step's three
 * operations, [register, value], given what they hold (`held`, updated): the builder emits these li's, the
 * model counts them.
 */
export function stepOperands(
  held: Map<number, number>, rows: number, cols: number, K: number, op: { readonly tile: { readonly nt: number; readonly mt: number }; readonly kt: number; readonly xStride: number },
): { readonly dma: ReadonlyArray<readonly [number, number]>; readonly mm: ReadonlyArray<readonly [number, number]> } {
  const load = (pairs: ReadonlyArray<readonly [number, number]>): Array<readonly [number, number]> => {
    const out: Array<readonly [number, number]> = [];
    for (const [r, v] of pairs) {
      if (held.get(r) !== v) {
        held.set(r, v);
        out.push([r, v]);
      }
    }
    return out;
  };
  return {
    dma: load([[STEP_REGS.nt, op.tile.nt], [STEP_REGS.kt, op.kt], [STEP_REGS.R, rows], [STEP_REGS.K, K]]),
    mm: load([[STEP_REGS.mt, op.tile.mt], [STEP_REGS.C, cols], [STEP_REGS.xStride, op.xStride]]),
  };
}

/** The li counts before a step's dma.ld (slot, source, changed operands), mxu.wload (slot) and mxu.mm (acc, x, changed). */
function stepOperandLis(held: Map<number, number>, mach: ModelMachine, K: number, op: Parameters<typeof stepOperands>[4]): { dma: number; wload: number; mm: number } {
  const s = stepOperands(held, mach.mxu.rows, mach.mxu.cols, K, op);
  return { dma: 2 + s.dma.length, wload: 1, mm: 2 + s.mm.length };
}

/** The li's of the scalar constants after r16/r17: identity m', e'; the term clamps; the output clamp; GELU's four. */
export function fusedScalarLis(p: Pick<LinearRequantPlan, 'bits' | 'identity' | 'post'>): number {
  if (p.post === 'gelu') return GELU_SCALARS.length;
  const id = p.identity;
  // sumByMac: li r12, lanes; vsetvl; li r14, 1 (then a vbcast) instead of the clamp bounds
  const terms = id === undefined ? 0 : sumByMac(p) ? 3 : (id.clampX > 0 ? 2 : 0) + (id.clampW > 0 ? 2 : 0);
  return (id ? 2 : 0) + terms + (needsFinalClamp(p) ? 2 : 0);
}

/** Host side: the int16 constants table [hi, lo - 2^15, e] x N from NPU multipliers (|m| < 2^31) and shifts (0..127). */
export function packLinearRequantConsts(m: ArrayLike<number>, e: ArrayLike<number>, N: number): Int16Array {
  const out = new Int16Array(3 * N);
  for (let c = 0; c < N; c++) {
    const mc = m[c]!, ec = e[c]!;
    const hi = Math.floor(mc / 65536), lo = mc - hi * 65536;
    out[c] = hi;
    out[N + c] = lo - 32768;
    out[2 * N + c] = ec;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The GELU output stage (post = 'gelu'): i-GELU + QuantAct(8) exactly as programs/gelu/model.ts's micro-kernel
// (kernels/npu/gelu.ts, the same ops on the same accumulator values), then the per-tensor int8 -> int8
// requantization of layer step 15 (vmulr.vx with the scalars r20, r21, rne, sat8: requant-act's direct form).
// The builder prints these ops and the model prices them, so the two cannot drift.

/**
 * Groups of POST_GROUP_ROWS rows per trip of the GELU stage's row loop for a piece of rn rows: eight (one dbnz and
 * its bubble per 32 rows: the front end, which also dispatches the MXU work, binds this stage on server) when the
 * piece has at least two such trips, else four, two or one likewise (short pieces still loop, which keeps the
 * program small at long sequences).
 */
export function geluLoopGroups(rn: number): number {
  return rn >= 16 * POST_GROUP_ROWS ? 8 : rn >= 8 * POST_GROUP_ROWS ? 4 : rn >= 4 * POST_GROUP_ROWS ? 2 : 1;
}

/** Per-row temporaries (POST_GROUP_ROWS rows interleaved: row i uses v[5i .. 5i+4]); v20 is the constants scratch. */
export const GELU_TEMPS = ['X', 'S', 'A', 'B', 'C'] as const;
/** Per-channel constant vectors, v31 downwards. */
export const GELU_CONSTS = ['qb', 'qclo', 'qchi', 'q1', 's1', 'm', 'sh'] as const;
/** The int16 rows of a GELU constants block (split form): 32-bit constants as (hi, lo - 2^15), small ones as is. */
export const GELU_CONST_ROWS = ['qb.hi', 'qb.lo', 'qclo', 'qchi.hi', 'qchi.lo', 'q1.hi', 'q1.lo', 's1', 'm.hi', 'm.lo', 'sh'] as const;
/** The rows of the wide form's block: q_c whole and q1s = 2^14 q_1 in the registers of qc_lo and qc_hi. */
export const GELU_WIDE_CONST_ROWS = ['qb.hi', 'qb.lo', 'qc.hi', 'qc.lo', 'q1s.hi', 'q1s.lo', 's1', 'm.hi', 'm.lo', 'sh'] as const;
/** The constants block rows of a GELU stage form. */
export function geluKsRows(form: GeluForm): readonly string[] {
  return form.wide ? GELU_WIDE_CONST_ROWS : GELU_CONST_ROWS;
}
/** Scalars of the GELU stage (r14/r15 carry MXU operands in this program, so the polynomial shift and -1 move). */
export const GELU_SCALARS = [['r22', 'polynomial shift 14'], ['r20', 'second requantization multiplier (step 15)'], ['r21', 'second requantization shift']] as const;

export interface PostOp {
  readonly asm: string;
  readonly cls: 'load' | 'alu' | 'mul' | 'store';
  /** vector registers (numbers; -1 = none) */
  readonly dst: number;
  readonly srcs: readonly number[];
  /** the memory it touches: the constants block, the accumulator rows, the output tile */
  readonly mem?: 'ks' | 'acc' | 'ys';
  readonly note?: string;
}

const SCRATCH = 20;
const kreg = (k: (typeof GELU_CONSTS)[number]): number => 31 - GELU_CONSTS.indexOf(k);
const treg = (t: (typeof GELU_TEMPS)[number]): number => GELU_TEMPS.indexOf(t);

/** The same op for row i of a group (temporaries moved by 5 i registers). */
export function shiftRow(o: PostOp, i: number): PostOp {
  if (i === 0) return o;
  // memoized: the GELU stage asks for the same few ops' rows hundreds of thousands of times per BERT-base program
  let rows = SHIFTED.get(o);
  if (rows === undefined) SHIFTED.set(o, (rows = []));
  const hit = rows[i];
  if (hit !== undefined) return hit;
  const T = GELU_TEMPS.length;
  const mv = (r: number): number => (r >= 0 && r < T ? r + T * i : r);
  return (rows[i] = { ...o, dst: mv(o.dst), srcs: o.srcs.map(mv), asm: o.asm.replace(/\bv(\d+)\b/g, (m0, d: string) => `v${mv(Number(d))}`) });
}
const SHIFTED = new WeakMap<PostOp, PostOp[]>();

/**
 * The GELU stage's VPU ops: `consts` rebuilds the per-channel constants of a tile from its ks block (r9 points at
 * it, rows 2 x cols bytes apart); `row` is row 0 of a group (r9: accumulator row, r10: output row; both advance by
 * cols); shiftRow gives row i.
 */
export function geluPostOps(cols: number, form: GeluForm = GELU_SPLIT): { readonly consts: readonly PostOp[]; readonly row: readonly PostOp[] } {
  // one list per row width and form (the op objects are shared, so shiftRow's memo holds across tiles)
  const key = `${cols} ${form.wide ? 'wide' : 'split'} ${form.rescale ? 'rescale' : 'norescale'}`;
  let lists = GELU_OPS.get(key);
  if (lists === undefined) GELU_OPS.set(key, (lists = makeGeluPostOps(cols, form)));
  return lists;
}
const GELU_OPS = new Map<string, { readonly consts: readonly PostOp[]; readonly row: readonly PostOp[] }>();

function makeGeluPostOps(cols: number, form: GeluForm): { readonly consts: readonly PostOp[]; readonly row: readonly PostOp[] } {
  const K = (k: (typeof GELU_CONSTS)[number]): string => `v${kreg(k)}`;
  const T = (t: (typeof GELU_TEMPS)[number]): string => `v${treg(t)}`;
  const consts: PostOp[] = [];
  const last = geluKsRows(form).length - 1;
  const ld16 = (d: number, row: number, what: string): void => {
    consts.push({ asm: `vld.s16 v${d}, r9, ${row === last ? 0 : 2 * cols}`, cls: 'load', dst: d, srcs: [], mem: 'ks', note: what });
  };
  const wide = (k: (typeof GELU_CONSTS)[number], row: number, what: string = k): void => {
    const d = kreg(k);
    ld16(d, row, `${what}: hi`);
    ld16(SCRATCH, row + 1, `${what}: lo - 2^15`);
    consts.push({ asm: `vsll.vx v${d}, v${d}, r16`, cls: 'alu', dst: d, srcs: [d] });
    consts.push({ asm: `vadd v${d}, v${d}, v${SCRATCH}`, cls: 'alu', dst: d, srcs: [d, SCRATCH] });
    consts.push({ asm: `vadd.vx v${d}, v${d}, r17`, cls: 'alu', dst: d, srcs: [d], note: `${what} = hi * 2^16 + lo` });
  };
  if (form.wide) {
    // GELU_WIDE_CONST_ROWS: q_c in qclo's register, q1s = 2^14 q_1 in qchi's
    wide('qb', 0);
    wide('qclo', 2, 'qc');
    wide('qchi', 4, 'q1s');
    ld16(kreg('s1'), 6, 's1');
    wide('m', 7);
    ld16(kreg('sh'), 9, 'sh');
  } else {
    wide('qb', 0);
    ld16(kreg('qclo'), 2, 'qc_lo');
    wide('qchi', 3);
    wide('q1', 5);
    ld16(kreg('s1'), 7, 's1');
    wide('m', 8);
    ld16(kreg('sh'), 10, 'sh');
  }
  const o = (asm: string, cls: PostOp['cls'], dst: number, srcs: number[], note?: string, mem?: PostOp['mem']): PostOp => ({
    asm, cls, dst, srcs, ...(note ? { note } : {}), ...(mem ? { mem } : {}),
  });
  const [X, S, A, B, C] = GELU_TEMPS.map(treg) as [number, number, number, number, number];
  const head: PostOp[] = [
    o(`vld.acc ${T('X')}, r9, ${cols}`, 'load', X, [], 'x: int32 fc1 accumulators', 'acc'),
    o(`vsgn ${T('S')}, ${T('X')}`, 'alu', S, [X], 's = sgn(x)'),
    o(`vmacr ${T('A')}, ${T('S')}, ${T('X')}, ${K('qb')}, r0, floor, sat32`, 'mul', A, [S, X, kreg('qb')], '|x| + q_b (s x = |x|)'),
    o(`vmin.vx ${T('A')}, ${T('A')}, r0`, 'alu', A, [A], 'a = min(|x|, -q_b) + q_b = min(|x| + q_b, 0)'),
  ];
  // u = t + q_1 in B (split) or A (wide)
  const poly: PostOp[] = form.wide
    ? [
        o(`vmacr ${T('A')}, ${T('A')}, ${T('A')}, ${K('qclo')}, r0, floor, sat32`, 'mul', A, [A, kreg('qclo')], 'P = a^2 + q_c (in int32: geluFormOf)'),
        o(`vmacr ${T('A')}, ${T('S')}, ${T('A')}, ${K('qchi')}, r22, floor, sat32`, 'mul', A, [S, A, kreg('qchi')], 'u = floor((s P + 2^14 q_1) / 2^14) = t + q_1'),
      ]
    : [
        o(`vmul ${T('B')}, ${T('S')}, ${T('A')}`, 'mul', B, [S, A], 'sa = s a'),
        o(`vmul ${T('C')}, ${T('S')}, ${K('qclo')}`, 'mul', C, [S, kreg('qclo')], 's qc_lo'),
        o(`vmacr ${T('B')}, ${T('A')}, ${T('B')}, ${T('C')}, r22, floor, sat32`, 'mul', B, [A, B, C], "t' = floor((a sa + s qc_lo) / 2^14) = floor(s (a^2 + qc_lo) / 2^14)"),
        o(`vmacr ${T('C')}, ${T('S')}, ${K('qchi')}, ${K('q1')}, r0, floor, sat32`, 'mul', C, [S, kreg('qchi'), kreg('q1')], 's qc_hi + q_1'),
        o(`vadd ${T('B')}, ${T('B')}, ${T('C')}`, 'alu', B, [B, C], 'u = t + q_1'),
      ];
  const U = form.wide ? A : B;
  const row: PostOp[] = [
    ...head,
    ...poly,
    o(`vmulr.vv ${T('X')}, ${T('X')}, v${U}, ${K('s1')}, rne, sat32`, 'mul', X, [X, U, kreg('s1')], 'z = rne(x u / 2^s1)'),
    o(`vmulr.vv ${T('X')}, ${T('X')}, ${K('m')}, ${K('sh')}, rne, sat8`, 'mul', X, [X, kreg('m'), kreg('sh')], 'y = sat8(rne(z m / 2^sh)) (step 14)'),
    ...(form.rescale ? [o(`vmulr.vx ${T('X')}, ${T('X')}, r20, r21, rne, sat8`, 'mul', X, [X], "y' = sat8(rne(y m2 / 2^e2)) (step 15)")] : []),
    o(`vst.s8 ${T('X')}, r10, ${cols}`, 'store', -1, [X], form.rescale ? 'int8 out' : 'int8 out (step 15 maps every int8 to itself: not emitted)', 'ys'),
  ];
  return { consts, row };
}

const TWO31 = 2147483648;

/**
 * Host side, compile time: the GELU stage form these constants allow (GeluForm). wide when, for every channel,
 * q_c = qc_hi 2^14 + qc_lo and 2^14 q_1 lie in int32 and the polynomial P = a^2 + q_c over a^2 in [0, q_b^2] does
 * too (exact: q_b^2 < 2^62 is compared as a BigInt), so the vmacr computing P never saturates and
 * floor((s P + 2^14 q_1) / 2^14) = floor(s P / 2^14) + q_1 = t + q_1 exactly (a multiple of 2^14 passes a floor).
 * rescale is false when the step-15 requantization (m2, e2) maps every int8 value to itself (all 256 checked).
 */
export function geluFormOf(
  k: { qb: ArrayLike<number>; qcLo: ArrayLike<number>; qcHi: ArrayLike<number>; q1: ArrayLike<number> },
  m2: number, e2: number,
): GeluForm {
  const n = Math.max(k.qb.length, k.qcLo.length, k.qcHi.length, k.q1.length);
  const at = (v: ArrayLike<number>, c: number): number => (v.length === 1 ? v[0]! : v[c]!);
  const in32 = (v: bigint): boolean => v >= -BigInt(TWO31) && v < BigInt(TWO31);
  let wide = true;
  for (let c = 0; c < n && wide; c++) {
    const qb = BigInt(at(k.qb, c));
    const qc = BigInt(at(k.qcHi, c)) * 16384n + BigInt(at(k.qcLo, c));
    wide = in32(qc) && in32(qc + qb * qb) && in32(BigInt(at(k.q1, c)) * 16384n);
  }
  let rescale = false;
  for (let y = -128; y < 128 && !rescale; y++) {
    // sat8(rne(y m2 / 2^e2)), exactly (BigInt: |y m2| < 2^38, e2 up to 127)
    const p = BigInt(y) * BigInt(m2);
    const d = 1n << BigInt(e2);
    let q = p >= 0n ? p / d : -((-p + d - 1n) / d); // floor
    const r = p - q * d; // 0 <= r < d
    if (2n * r > d || (2n * r === d && (q & 1n) === 1n)) q += 1n;
    const yy = q < -128n ? -128n : q > 127n ? 127n : q;
    rescale = yy !== BigInt(y);
  }
  return { wide, rescale };
}

/** Host side: the GELU constants block rows (geluKsRows(form)) for N channels, int16 [11 or 10][N]. */
export function packGeluConsts(
  k: { qb: ArrayLike<number>; qcLo: ArrayLike<number>; qcHi: ArrayLike<number>; q1: ArrayLike<number>; s1: ArrayLike<number>; m: ArrayLike<number>; sh: ArrayLike<number> },
  N: number, form: GeluForm = GELU_SPLIT,
): Int16Array {
  const out = new Int16Array(geluKsRows(form).length * N);
  const at = (v: ArrayLike<number>, c: number): number => (v.length === 1 ? v[0]! : v[c]!);
  for (let c = 0; c < N; c++) {
    const put = (row: number, v: number): void => {
      out[row * N + c] = v;
    };
    const wide = (row: number, v: number): void => {
      const hi = Math.floor(v / 65536);
      put(row, hi);
      put(row + 1, v - hi * 65536 - 32768);
    };
    if (form.wide) {
      wide(0, at(k.qb, c));
      wide(2, at(k.qcHi, c) * 16384 + at(k.qcLo, c));
      wide(4, at(k.q1, c) * 16384);
      put(6, at(k.s1, c));
      wide(7, at(k.m, c));
      put(9, at(k.sh, c));
      continue;
    }
    wide(0, at(k.qb, c));
    put(2, at(k.qcLo, c));
    wide(3, at(k.qcHi, c));
    wide(5, at(k.q1, c));
    put(7, at(k.s1, c));
    wide(8, at(k.m, c));
    put(10, at(k.sh, c));
  }
  return out;
}
