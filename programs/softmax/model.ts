// i-softmax on the NPU: the plan (vector layout, register residency, row chunks, reciprocal method) that
// programs/softmax/build.ts follows, and the cycle model that prices it from the shape and the machine alone (it never
// runs the simulator). The program's schedule is a software pipeline over rows; see programs/softmax/build.ts.

import { memoPerMachine, TilingError, type ModelMachine } from '../schedule.js';

/** The machine fields the softmax plan and model read (a structural subset of the simulator's config). */
export interface SoftmaxMachine extends ModelMachine {
  readonly vpu: ModelMachine['vpu'] & { readonly aluLatencyCycles: number; readonly reduceLatencyCycles: number };
  readonly divider: { readonly present: boolean; readonly divLatencyCycles: number; readonly divIntervalCycles?: number | undefined };
}

export type SoftmaxMaskKind = 'none' | 'element' | 'position';

/** Variants of the per-vector instruction sequence that depend on the folded constants (kernels/npu/softmax.ts). */
export interface SoftmaxVariant {
  /** q_c >= 2^31: z is pre-shifted and needs one more add per vector */
  readonly zPreShift: boolean;
  /** c < 0 (an inner range far below the fixed point): the e16 shift needs an add and a max per vector */
  readonly shiftBelowZero: boolean;
  /**
   * A probability can be 256: E0 (e16 of the row max, the largest e16 and the smallest row sum) is a power of two,
   * so a one-hot row gives e16 f = 2^32 (docs/IBERT.md section 7). Only then does the uint8 output (probsU8) need its
   * min(p, 255) before the byte store; otherwise every p <= 255 and the byte store alone is exact.
   */
  readonly reach256: boolean;
}

export const PLAIN_VARIANT: SoftmaxVariant = { zPreShift: false, shiftBelowZero: false, reach256: false };

/** The uint8 output needs its saturating min (a p = 256 is possible under these constants). */
export const clampsU8 = (p: { readonly probsU8: boolean; readonly variant: SoftmaxVariant }): boolean => p.probsU8 && p.variant.reach256;

export interface SoftmaxOptions {
  readonly mask?: SoftmaxMaskKind;
  readonly variant?: SoftmaxVariant;
  /** Force the reciprocal method (default: the divider when the machine has one). */
  readonly reciprocal?: 'divider' | 'newton';
  /** Force the rows per DMA chunk (default: chosen by the plan). */
  readonly chunkRows?: number;
  /** Force whether the scores stay in registers from S1 to S2 (default: the faster by the model; rows <= 4 vectors). */
  readonly xResident?: boolean;
  /**
   * Store the probabilities as uint8 saturated at 255 (p8 = min(p, 255), the byte format mxu.mm.u8 of the P.V
   * program reads; kernels/npu/attention.ts npuPvInts) instead of int16 in [0, 256]: a vmin before each byte store.
   */
  readonly probsU8?: boolean;
  /** Force the iterations between a row's division and its normalization (default: chosen by the model). */
  readonly recipLag?: 1 | 2;
  /** Force the split exp stage (default: chosen by the model). */
  readonly splitExp?: boolean;
}

/** Vectors of a row kept in registers between stages; longer rows stream their e16 through the scratchpad. */
export const MAX_RESIDENT_VECTORS = 4;
/** Rows per loop body: the register rotation repeats every lcm(3 e16 sets, 2 scalar names) = 6 rows. */
export const LOOP_ROWS = 6;

export interface SoftmaxPlan {
  readonly rows: number;
  readonly rowLen: number;
  readonly lanes: number;
  /** vectors per row and the padded row length on chip (a multiple of lanes) */
  readonly nv: number;
  readonly lpad: number;
  /** active lanes of the last vector (lanes when rowLen is a multiple of lanes) */
  readonly tail: number;
  /** e16 of the whole row stays in registers (nv <= MAX_RESIDENT_VECTORS) */
  readonly resident: boolean;
  /**
   * The scores stay in registers from S1 to S2 (iteration order S2(j-1), S1(j), S3(j-2), S4(j-3)); otherwise S2
   * reloads them (order S1(j), S2(j-1), S3(j-2), S4(j-3)). Saves a load per vector (and the masked write-back),
   * but the row max is then read only S3 + S4 instructions after its reduction: when the VPU is the bottleneck it
   * drains before the front end can go on. Chosen by the model.
   */
  readonly xResident: boolean;
  /** vectors processed in lockstep (hides the multiply latency) */
  readonly group: number;
  readonly mask: SoftmaxMaskKind;
  readonly variant: SoftmaxVariant;
  readonly reciprocal: 'divider' | 'newton';
  /** rows per DMA chunk (double-buffered) and number of chunks */
  readonly chunkRows: number;
  readonly chunks: number;
  /** acc words and spad bytes the buffers take */
  readonly accWords: number;
  readonly spadBytes: number;
  /** vectors of 2^j - 1 constants for the Newton bit length (ceil(31 / lanes)) */
  readonly pm1Vectors: number;
  /**
   * Passes of the outer loop over chunk pairs (2, 3), (4, 5), ...: used when a pass (2 chunkRows rows) is a whole
   * number of loop bodies and the chunk loaded in the last pass is full; 0 = every chunk is emitted in line.
   */
  readonly outerPasses: number;
  /** the probabilities are stored as uint8 min(p, 255) (1 byte each) instead of int16 (2 bytes) */
  readonly probsU8: boolean;
  /**
   * Iterations from a row's division (S3, div.w) to its normalization (S4, which reads f at dispatch): 1 (iteration j
   * runs S3(j-2), S4(j-3)), or 2 (S3(j-2), S4(j-4)) so that a pipelined divider (divIntervalCycles below its
   * latency) is not waited on when a row's iteration is shorter than the division. Lag 2 keeps e16 of four rows in
   * registers (six sets, so the register rotation still repeats every LOOP_ROWS rows) and f of three rows.
   */
  readonly recipLag: 1 | 2;
  /** e16 register sets of resident rows: 3 (lag 1) or 6 (lag 2) */
  readonly eSets: number;
  /**
   * The exp stage in two halves one iteration apart, interleaved: S2a(j-1) (clamp, q, r) with S2b(j-2) (z, e16,
   * sum); S3(j-3), S4(j-3-lag). For rows of one or two vectors (scores reloaded, the divider): a row's exp chain
   * is then not alone on the in-order VPU. Two U/SH/RR sets (rows alternate).
   */
  readonly splitExp: boolean;
}

/** Bytes of one stored probability: 1 (uint8, saturated at 255) or 2 (int16). */
export const probBytes = (p: { readonly probsU8: boolean }): number => (p.probsU8 ? 1 : 2);

/** Bytes of scratchpad per chunk row: y (int16 or uint8, two buffers) and a per-element mask (two buffers). */
function spadPerRow(lpad: number, mask: SoftmaxMaskKind, outBytes: number): number {
  return 2 * lpad * outBytes + (mask === 'element' ? 2 * lpad : 0);
}

export function softmaxPlan(rows: number, rowLen: number, mach: SoftmaxMachine, opts: SoftmaxOptions = {}): SoftmaxPlan {
  return memoPerMachine(mach, `softmaxPlan ${JSON.stringify([rows, rowLen, opts])}`, () => planSoftmax(rows, rowLen, mach, opts));
}

function planSoftmax(rows: number, rowLen: number, mach: SoftmaxMachine, opts: SoftmaxOptions): SoftmaxPlan {
  if (!(rows >= 1) || !(rowLen >= 1)) throw new TilingError(`softmax needs at least one row of one score (got ${rows} x ${rowLen})`);
  const lanes = mach.vpu.lanes;
  const nv = Math.ceil(rowLen / lanes);
  const lpad = nv * lanes;
  const tail = rowLen - (nv - 1) * lanes;
  const resident = nv <= MAX_RESIDENT_VECTORS;
  const group = Math.min(nv, MAX_RESIDENT_VECTORS);
  const mask = opts.mask ?? 'none';
  const probsU8 = opts.probsU8 ?? false;
  const outBytes = probsU8 ? 1 : 2;
  const reciprocal = opts.reciprocal ?? (mach.divider.present ? 'divider' : 'newton');
  if (reciprocal === 'divider' && !mach.divider.present) throw new TilingError('softmax: reciprocal "divider" requested but the machine has no divider (divider.present is false)');
  // Fixed spad: the per-position mask row and, when rows stream, the e16 ring of three rows.
  const fixedSpad = (mask === 'position' ? lpad : 0) + (resident ? 0 : 3 * lpad * 2);
  const accWordsAvail = mach.acc.sizeBytes / 4;
  const capAcc = Math.floor(accWordsAvail / (2 * lpad));
  const capSpad = Math.floor((mach.spad.sizeBytes - fixedSpad) / spadPerRow(lpad, mask, outBytes));
  const cap = Math.min(capAcc, capSpad);
  if (cap < 1) {
    const accNeed = 2 * lpad * 4;
    const spadNeed = fixedSpad + spadPerRow(lpad, mask, outBytes);
    throw new TilingError(
      `softmax rows of ${rowLen} do not tile on this machine: accumulator buffer 'xa' needs ${accNeed} bytes for two rows ` +
        `(acc holds ${mach.acc.sizeBytes}); scratchpad buffers 'ys'${mask === 'element' ? ", 'ms'" : ''}${mask === 'position' ? ", 'mp'" : ''}${resident ? '' : ", 'es'"} need ${spadNeed} bytes (spad holds ${mach.spad.sizeBytes})`,
    );
  }
  // Chunk size: the first load and the last store are exposed (~ chunkRows * rowLen * 6 / bandwidth cycles), each
  // chunk costs two DMAs (14 front-end instructions): the balance is sqrt(14 rows bw / (6 rowLen)); multiples of
  // the loop body, at least two loop bodies plus the pipeline fill.
  const balance = Math.sqrt((14 * rows * mach.dram.bytesPerCycle) / (6 * rowLen));
  const want = Math.max(2 * LOOP_ROWS, Math.ceil(balance / LOOP_ROWS) * LOOP_ROWS);
  let chunkRows = Math.max(1, Math.min(opts.chunkRows ?? want, cap, rows));
  // The outer loop over chunk pairs needs a pass (2 chunkRows rows) to be whole loop bodies; a chunk size cut by the
  // memories to another value is rounded down to a multiple of LOOP_ROWS / 2, else every chunk would be emitted in
  // line (a seq-512 softmax on edge: ~960,000 static instructions instead of ~10,000).
  const half = LOOP_ROWS / 2;
  if (opts.chunkRows === undefined && chunkRows < rows && chunkRows > half && (2 * chunkRows) % LOOP_ROWS !== 0) chunkRows -= chunkRows % half;
  const chunks = Math.ceil(rows / chunkRows);
  const fullChunks = Math.floor(rows / chunkRows);
  const passes = (2 * chunkRows) % LOOP_ROWS === 0 ? Math.max(0, Math.floor((fullChunks - 3) / 2)) : 0;
  const base: SoftmaxPlan = {
    rows, rowLen, lanes, nv, lpad, tail, resident, xResident: resident, group, mask, variant: opts.variant ?? PLAIN_VARIANT,
    reciprocal, chunkRows, chunks, accWords: 2 * chunkRows * lpad, spadBytes: fixedSpad + chunkRows * spadPerRow(lpad, mask, outBytes),
    pm1Vectors: Math.ceil(31 / lanes), outerPasses: passes >= 2 ? passes : 0, probsU8, recipLag: 1, eSets: 3, splitExp: false,
  };
  if (!resident) {
    if (opts.splitExp === true) throw new TilingError(`softmax: splitExp needs rows in registers (rows of ${rowLen} are ${nv} vectors)`);
    if (opts.recipLag === 2) throw new TilingError(`softmax: recipLag 2 needs rows of at most ${MAX_RESIDENT_VECTORS} vectors in registers (rows of ${rowLen} are ${nv})`);
    return { ...base, xResident: false };
  }
  // Lag 2 (only with the divider, and where six e16 sets fit the registers) pays when the divider is pipelined: a
  // row then costs less than the division's latency, which lag 1 would wait for.
  const lag2: SoftmaxPlan = { ...base, recipLag: 2, eSets: 6 };
  const lag2Fits = reciprocal === 'divider' && vregsNeeded(lag2) <= 32;
  if (opts.recipLag === 2 && !lag2Fits) {
    throw new TilingError(`softmax: recipLag 2 needs the divider and ${vregsNeeded(lag2)} <= 32 vector registers (rows of ${rowLen})`);
  }
  // (lag 2 first: on a tie, where the VPU binds, it still takes the division's latency off the front end)
  const lags = opts.recipLag !== undefined ? [opts.recipLag === 2 ? lag2 : base] : lag2Fits && pipelinedDivider(mach) ? [lag2, base] : [base];
  let candidates = lags.flatMap((p) => (opts.xResident !== undefined ? [{ ...p, xResident: opts.xResident }] : [p, { ...p, xResident: false }]));
  // The split exp stage (reloaded scores, the divider, rows of at most two vectors, registers permitting): tried
  // after the others, so a tie keeps the unsplit program.
  const splits = candidates
    .filter((p) => !p.xResident && reciprocal === 'divider' && nv <= 2)
    .map((p) => ({ ...p, splitExp: true }))
    .filter((p) => vregsNeeded(p) <= 32);
  if (opts.splitExp === true) {
    if (splits.length === 0) throw new TilingError(`softmax: splitExp needs the divider, reloaded scores and rows of at most 2 vectors in 32 registers (rows of ${rowLen})`);
    candidates = splits;
  } else if (opts.splitExp === undefined) candidates = [...candidates, ...splits];
  let best = candidates[0]!;
  for (const c of candidates.slice(1)) if (rowCycles(c, mach).period < rowCycles(best, mach).period) best = c;
  return best;
}

/** The divider accepts a division before the previous one's result: its initiation interval is below its latency. */
const pipelinedDivider = (mach: SoftmaxMachine): boolean => (mach.divider.divIntervalCycles ?? mach.divider.divLatencyCycles) < mach.divider.divLatencyCycles;

/** Vector registers of the builder's plan (programs/softmax/build.ts vregPlan). */
export function vregsNeeded(p: SoftmaxPlan): number {
  const G = p.group;
  const newton = p.reciprocal === 'newton';
  return (p.resident ? p.eSets * p.nv : 0) + (p.splitExp ? 6 : 3) * G + (newton ? Math.max(0, 7 - 2 * G) : 0) + 3 + (p.mask !== 'none' || p.tail < p.lanes ? 1 : 0) +
    (p.tail < p.lanes ? 1 : 0) + (newton ? 1 + p.pm1Vectors : 0) + (p.resident ? 0 : 1) + (mergedStages(p) ? 3 : 0);
}

/**
 * The split exp stage of one-vector rows runs its four stages' vector instructions merged by the in-order VPU's
 * readiness (mergeOrder) instead of in stage order, S1 and S4 in registers of their own (X1 and the mask XM, YS) so
 * that nothing but true dependencies orders them: one row's chains (S1 load -> max, S2a's five, S2b's four, S4's
 * multiply -> store) then fill each other's latency slots.
 */
export const mergedStages = (p: SoftmaxPlan): boolean => p.splitExp && p.nv === 1;

/** VPU latencies of the op classes. */
function latencies(mach: SoftmaxMachine): Record<OpClass, number> {
  return { alu: mach.vpu.aluLatencyCycles, mul: mach.vpu.mulLatencyCycles, load: mach.vpu.loadLatencyCycles, store: 1, reduce: mach.vpu.reduceLatencyCycles };
}

/**
 * The order in which the builder emits the vector instructions of several stages (each stage's own order kept): a
 * list schedule of an in-order VPU from an empty pipeline, each step taking the stage whose next instruction can
 * issue first (ties: the earlier stage). Returns the stage index of each instruction in emission order.
 */
/**
 * The division of row j - 3 goes before S2a's vector instruction of this index in the merged order: at the start
 * of the iteration it waited on the sum (reduced late in the iteration before), at the end S4 waited on its f; here
 * neither waits on server's BERT-base rows (17 cycles per row, the front end's count).
 */
export const DIV_AT_S2A = 1;

/** Tie order of the merged stages (0 S1, 1 S2a, 2 S2b, 3 S4). */
const MERGE_PRIORITY = [2, 0, 1, 3] as const;

export function mergeOrder(stages: readonly (readonly VOp[])[], mach: SoftmaxMachine, priority: readonly number[] = stages.map((_, k) => k)): number[] {
  const lat = latencies(mach);
  const ready = new Map<string, number>();
  const next = stages.map(() => 0);
  const order: number[] = [];
  let t = -1;
  const total = stages.reduce((a, st) => a + st.length, 0);
  while (order.length < total) {
    let best = -1, bestS = Infinity;
    priority.forEach((k) => {
      const st = stages[k]!;
      const o = st[next[k]!];
      if (o === undefined) return;
      let s = t + 1;
      for (const r of o.s) s = Math.max(s, ready.get(r) ?? 0);
      if (o.d !== '') {
        const prev = ready.get(o.d) ?? 0;
        if (prev > s + lat[o.c] - 1) s = prev - lat[o.c] + 1;
      }
      if (s < bestS) [best, bestS] = [k, s];
    });
    const o = stages[best]![next[best]!]!;
    if (o.d !== '') ready.set(o.d, bestS + lat[o.c]);
    next[best]!++;
    t = bestS;
    order.push(best);
  }
  return order;
}

// ---------------------------------------------------------------------------------------------------------------
// The cycle model.
//
// Steady state: every row costs, on each resource, the work of its four stages (iteration j of the program runs
// S2(j-1), S1(j), S3(j-2), S4(j-3), and the scalars produced by a reduction or the divider are read late enough
// that in steady state no resource waits on another's latency):
//   front end: every instruction dispatches in one cycle (plus the loop's dbnz and taken-branch bubble);
//   VPU: one instruction per cycle, plus the stalls of the in-order pipeline on its dependency chains, found by
//        an issue pass over the symbolic instruction list of steady iterations (the latencies of docs/TIMING.md);
//   divider: its initiation interval per row (divider.divIntervalCycles; the latency when not pipelined);
//   DMA channel: per chunk, the next chunk's load and the previous chunk's store.
// A chunk takes the largest of these. Before the first chunk: the prologue and the first chunk's transfer plus
// the DRAM latency; after the last row: the latency chain of its reduction, reciprocal, normalization and the last
// store's transfer plus the DRAM latency.

export type OpClass = 'alu' | 'mul' | 'load' | 'store' | 'reduce';
export interface VOp {
  readonly c: OpClass;
  /** vector register written ('' = none) */
  readonly d: string;
  readonly s: readonly string[];
}

const op = (c: OpClass, d: string, ...s: string[]): VOp => ({ c, d, s });

/** The symbolic VPU instruction lists of the stages, register for register as programs/softmax/build.ts emits them. */
export class StageOps {
  readonly p: SoftmaxPlan;
  readonly U: string[];
  readonly SH: string[];
  readonly RR: string[];
  readonly N: string[];
  readonly U2: string[];
  readonly SH2: string[];
  readonly RR2: string[];
  constructor(p: SoftmaxPlan) {
    this.p = p;
    const G = p.group;
    const seq = (pre: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${pre}${i}`);
    this.U = seq('U', G);
    this.SH = seq('SH', G);
    this.RR = seq('RR', G);
    this.N = p.reciprocal === 'newton' ? seq('N', Math.max(0, 7 - 2 * G)) : [];
    [this.U2, this.SH2, this.RR2] = p.splitExp ? [seq('U_', G), seq('SH_', G), seq('RR_', G)] : [this.U, this.SH, this.RR];
  }
  /** the U/SH/RR set of a row in the split exp stage (rows alternate); the one set otherwise */
  private setOf(row: number): { U: string[]; SH: string[]; RR: string[] } {
    return this.p.splitExp && ((row % 2) + 2) % 2 === 1 ? { U: this.U2, SH: this.SH2, RR: this.RR2 } : { U: this.U, SH: this.SH, RR: this.RR };
  }
  /** S2a of the split exp stage: reload, clamp, q, r (the scalar prelude is the front end's). */
  s2a(row: number): VOp[] {
    const { U, SH, RR } = this.setOf(row);
    const ops: VOp[] = [];
    U.forEach((u) => ops.push(op('load', u)));
    U.forEach((u) => ops.push(op('alu', u, u)));
    U.forEach((u) => ops.push(op('alu', u, u)));
    U.forEach((u, i) => ops.push(op('mul', SH[i]!, u)));
    U.forEach((u, i) => ops.push(op('mul', RR[i]!, SH[i]!, 'D', u)));
    return ops;
  }
  /** S2b: z, e16, the sum tree and its reduction. */
  s2b(row: number): VOp[] {
    const { U, SH, RR } = this.setOf(row);
    const v = this.p.variant;
    const E = this.eSet(row, 0, this.p.nv);
    const ops: VOp[] = [];
    U.forEach((u, i) => ops.push(op('alu', u, RR[i]!)));
    U.forEach((u, i) => ops.push(op('mul', u, u, RR[i]!, 'QC')));
    if (v.zPreShift) U.forEach((u) => ops.push(op('alu', u, u)));
    if (v.shiftBelowZero) {
      SH.forEach((x) => ops.push(op('alu', x, x)));
      SH.forEach((x) => ops.push(op('alu', x, x)));
    }
    U.forEach((u, i) => ops.push(op('mul', E[i]!, u, 'M', SH[i]!)));
    if (this.p.tail < this.p.lanes) ops.push(op('alu', E[this.p.nv - 1]!, E[this.p.nv - 1]!, 'CAP'));
    const sum = this.p.nv === 1 ? E[0]! : this.tree(ops, E, RR);
    ops.push(op('reduce', '', sum));
    return ops;
  }
  /** S2a(a) and S2b(b) interleaved as the builder emits them (b's instruction first); a < 0 or b < 0: absent. */
  s2split(a: number, b: number): { ops: VOp[]; aLen: number } {
    const va = a >= 0 ? this.s2a(a) : [], vb = b >= 0 ? this.s2b(b) : [];
    const ops: VOp[] = [];
    for (let i = 0; i < Math.max(va.length, vb.length); i++) {
      if (i < vb.length) ops.push(vb[i]!);
      if (i < va.length) ops.push(va[i]!);
    }
    return { ops, aLen: va.length };
  }
  private groups(): Array<[number, number]> {
    const gs: Array<[number, number]> = [];
    for (let v0 = 0; v0 < this.p.nv; v0 += this.p.group) gs.push([v0, Math.min(this.p.group, this.p.nv - v0)]);
    return gs;
  }
  private tree(ops: VOp[], regs: readonly string[], into: readonly string[] | null): string {
    let live = [...regs];
    let t = 0;
    while (live.length > 1) {
      const nxt: string[] = [];
      for (let i = 0; i + 1 < live.length; i += 2) {
        const d = into === null ? live[i]! : into[t++ % into.length]!;
        ops.push(op('alu', d, live[i]!, live[i + 1]!));
        nxt.push(d);
      }
      if (live.length % 2) nxt.push(live[live.length - 1]!);
      live = nxt;
    }
    return live[0]!;
  }
  private eSet(row: number, v0: number, gn: number): string[] {
    return Array.from({ length: gn }, (_, i) => `E${row % this.p.eSets}_${v0 + i}`);
  }
  s1(row = 0): VOp[] {
    const ops: VOp[] = [];
    const masked = this.p.mask !== 'none';
    let acc = '';
    const set = mergedStages(this.p) ? { U: ['X1'], SH: ['XM'] } : this.setOf(row + 1);
    for (const [, gn] of this.groups()) {
      const regs = set.U.slice(0, gn);
      if (masked) {
        regs.forEach((_, i) => ops.push(op('load', set.SH[i]!)));
        regs.forEach((r) => ops.push(op('load', r)));
        regs.forEach((r, i) => ops.push(op('alu', r, set.SH[i]!, r, 'NEG')));
        if (!this.p.xResident) regs.forEach((r) => ops.push(op('store', '', r)));
      } else regs.forEach((r) => ops.push(op('load', r)));
      // resident scores are kept for S2: the max goes into temporaries
      const m = this.tree(ops, regs, this.p.xResident ? this.RR : null);
      if (this.p.resident) acc = m;
      else if (acc === '') {
        ops.push(op('alu', 'ACC', m, m));
        acc = 'ACC';
      } else ops.push(op('alu', 'ACC', 'ACC', m));
    }
    ops.push(op('reduce', '', acc));
    return ops;
  }
  s2(row: number): VOp[] {
    const ops: VOp[] = [];
    const v = this.p.variant;
    let sum = '';
    for (const [v0, gn] of this.groups()) {
      const U = this.U.slice(0, gn), SH = this.SH.slice(0, gn), RR = this.RR.slice(0, gn);
      const E = this.p.resident ? this.eSet(row, v0, gn) : SH;
      if (!this.p.xResident) U.forEach((u) => ops.push(op('load', u)));
      U.forEach((u) => ops.push(op('alu', u, u)));
      U.forEach((u) => ops.push(op('alu', u, u)));
      U.forEach((u, i) => ops.push(op('mul', SH[i]!, u)));
      U.forEach((u, i) => ops.push(op('mul', RR[i]!, SH[i]!, 'D', u)));
      U.forEach((u, i) => ops.push(op('alu', u, RR[i]!)));
      U.forEach((u, i) => ops.push(op('mul', u, u, RR[i]!, 'QC')));
      if (v.zPreShift) U.forEach((u) => ops.push(op('alu', u, u)));
      if (v.shiftBelowZero) {
        SH.forEach((s) => ops.push(op('alu', s, s)));
        SH.forEach((s) => ops.push(op('alu', s, s)));
      }
      U.forEach((u, i) => ops.push(op('mul', E[i]!, u, 'M', SH[i]!)));
      if (v0 + gn === this.p.nv && this.p.tail < this.p.lanes) ops.push(op('alu', E[gn - 1]!, E[gn - 1]!, 'CAP'));
      if (!this.p.resident) E.forEach((e) => ops.push(op('store', '', e)));
      const s = gn === 1 ? E[0]! : this.tree(ops, E, RR);
      if (this.p.resident) sum = s;
      else if (sum === '') {
        ops.push(op('alu', 'ACC', s, s));
        sum = 'ACC';
      } else ops.push(op('alu', 'ACC', 'ACC', s));
    }
    ops.push(op('reduce', '', sum));
    return ops;
  }
  private newtonTemps(): string[] {
    return [...this.N, ...this.SH, ...this.RR];
  }
  s3a(): VOp[] {
    const T = this.newtonTemps();
    const ops: VOp[] = [op('alu', T[0]!)];
    for (let k = 0; k < this.p.pm1Vectors; k++) ops.push(op('alu', T[1 + k]!, `PM${k}`, T[0]!));
    for (let k = 1; k < this.p.pm1Vectors; k++) ops.push(op('alu', T[1]!, T[1]!, T[1 + k]!));
    ops.push(op('reduce', '', T[1]!));
    return ops;
  }
  /** Newton's ops and the register holding f. */
  s3b(): { ops: VOp[]; f: string } {
    const T = this.newtonTemps();
    const n = T.length;
    const Y = T[n - 1]!, W = T[n - 2]!, F = T[n - 3]!, RM = T[n - 4]!, DL = T[n - 5]!, SV = T[n - 6]!;
    const ops: VOp[] = [op('alu', Y), op('mul', Y, Y), op('alu', Y, Y)];
    for (let i = 0; i < NEWTON_STEPS; i++) ops.push(op('mul', W, Y), op('alu', W, W), op('mul', Y, Y, W, 'Z'));
    ops.push(op('mul', F, Y), op('mul', RM, F), op('mul', DL, RM, Y, 'Z'), op('alu', F, F, DL), op('mul', RM, F));
    ops.push(op('alu', SV), op('alu', DL, SV, RM), op('alu', W, RM, 'Z'), op('alu', F, F, DL), op('alu', F, F, W));
    return { ops, f: F };
  }
  s4(row: number, f: string): VOp[] {
    const ops: VOp[] = [];
    const tmp = this.setOf(row + 1 + this.p.recipLag);
    const Ys = mergedStages(this.p) ? ['YS'] : [...tmp.SH, ...tmp.RR, ...this.N, ...(this.p.xResident ? [] : tmp.U)].filter((r) => r !== f);
    for (const [v0, gn] of this.groups()) {
      const Yg = Ys.slice(0, gn);
      let E: string[];
      if (this.p.resident) E = this.eSet(row, v0, gn);
      else {
        E = Ys.slice(gn, 2 * gn);
        E.forEach((e) => ops.push(op('load', e)));
      }
      E.forEach((e, i) => ops.push(f ? op('mul', Yg[i]!, e, f, 'Z') : op('mul', Yg[i]!, e)));
      if (clampsU8(this.p)) Yg.forEach((y) => ops.push(op('alu', y, y)));
      Yg.forEach((y) => ops.push(op('store', '', y)));
    }
    return ops;
  }
  /**
   * The merged stages of split iteration j (rows outside 0..rows-1 absent): S1(j), S2a(j-1), S2b(j-2), S4(j-3-lag)
   * as mergeOrder interleaves them; each op with its stage (0 S1, 1 S2a, 2 S2b, 3 S4).
   */
  merged(j: number, mach: SoftmaxMachine, rows = Infinity): { ops: VOp[]; stage: number[] } {
    const ok = (r: number): boolean => r >= 0 && r < rows;
    const stages = [ok(j) ? this.s1(j) : [], ok(j - 1) ? this.s2a(j - 1) : [], ok(j - 2) ? this.s2b(j - 2) : [], j - 3 - this.p.recipLag >= 0 && j - 3 - this.p.recipLag < rows ? this.s4(j - 3 - this.p.recipLag, '') : []];
    // ties: S2b (its sum feeds the division early in the next iteration), S1 (its row max the next S2a's clamp
    // bounds), S2a, S4 (on server's BERT-base rows the walk gives the front end's 17 cycles per row)
    const stage = mergeOrder(stages, mach, MERGE_PRIORITY);
    const next = [0, 0, 0, 0];
    return { ops: stage.map((k) => stages[k]![next[k]!++]!), stage };
  }
  /** The VPU instructions of steady iteration j, in program order. */
  iteration(j: number, mach?: SoftmaxMachine): VOp[] {
    if (mergedStages(this.p) && mach) return this.merged(j, mach).ops;
    if (this.p.splitExp) return [...this.s1(j), ...this.s2split(j - 1, j - 2).ops, ...this.s4(j - 3 - this.p.recipLag, '')];
    const ops = this.p.xResident ? [...this.s2(j - 1), ...this.s1()] : [...this.s1(), ...this.s2(j - 1)];
    if (this.p.reciprocal === 'newton') {
      ops.push(...this.s3a());
      const b = this.s3b();
      ops.push(...b.ops, ...this.s4(j - 3, b.f));
    } else ops.push(...this.s4(j - 2 - this.p.recipLag, ''));
    return ops;
  }
}

export const NEWTON_STEPS = 3;

/** In-order VPU issue (one per cycle, operands ready, WAW ordered): cycles per row in steady state. */
function vpuCyclesPerRow(p: SoftmaxPlan, mach: SoftmaxMachine): number {
  const lat: Record<OpClass, number> = {
    alu: mach.vpu.aluLatencyCycles, mul: mach.vpu.mulLatencyCycles, load: mach.vpu.loadLatencyCycles, store: 1, reduce: mach.vpu.reduceLatencyCycles,
  };
  const st = new StageOps(p);
  const ready = new Map<string, number>();
  let t = -1;
  const run = (j: number): void => {
    for (const o of st.iteration(j, mach)) {
      let s = t + 1;
      for (const r of o.s) s = Math.max(s, ready.get(r) ?? 0);
      const l = lat[o.c];
      if (o.d !== '') {
        const prev = ready.get(o.d) ?? 0;
        if (prev > s + l - 1) s = prev - l + 1;
        ready.set(o.d, s + l);
      }
      t = s;
    }
  };
  const warm = 2 * LOOP_ROWS, measured = 2 * LOOP_ROWS;
  for (let j = 0; j < warm; j++) run(j + 6);
  const t0 = t;
  for (let j = 0; j < measured; j++) run(j + 6 + warm);
  return (t - t0) / measured;
}

/** Per-row instruction counts of the steady loop (vector and scalar, everything the front end dispatches). */
export function softmaxRowInstructions(p: SoftmaxPlan): { vpu: number; scalar: number; divider: number } {
  const st = new StageOps(p);
  const vpu = st.iteration(6).length;
  let scalar = 3 + (p.resident ? 0 : 2); // S2: max, addi lo, addi m + c'd; streaming: the e16 ring pointers of S2 and S4
  let divider = 0;
  if (p.reciprocal === 'newton') scalar += 8 + (clampsU8(p) ? 1 : 0); // S3b: sub, sub, sll, sub, addi, li C2, li C1, addi; S4: li 255
  else divider = 1;
  return { vpu, scalar, divider };
}

/** Instructions before the first loop iteration (constants, padding, the first loads), as the builder emits them. */
function prologueInstructions(p: SoftmaxPlan): { count: number; vpuStores: number } {
  let n = 2 + 6; // vsetvl and its li; -m_q, s_q, q_b, k, lo bound, 24
  if (p.variant.zPreShift) n += 1;
  n += p.reciprocal === 'newton' ? 4 : 2 + (clampsU8(p) ? 1 : 0); // the divider's 255 for the uint8 saturation
  if (p.variant.shiftBelowZero) n += 1;
  n += 3 * 2; // d, q_c, M
  const padded = p.tail < p.lanes;
  if (p.mask !== 'none' || padded) n += 2;
  if (p.reciprocal === 'newton') n += 1; // zero vector
  if (padded) n += 6;
  if (p.reciprocal === 'newton') {
    for (let k = 0; k < p.pm1Vectors; k++) n += 2 + 4 * Math.min(p.lanes, 31 - k * p.lanes) + 1;
  }
  if (p.mask === 'position') n += 1 + 7;
  let vpuStores = 0;
  if (padded) {
    n += 1 + 2 * p.chunkRows;
    vpuStores = 2 * p.chunkRows;
  }
  return { count: n, vpuStores };
}

/**
 * Steady-state cycles per row on each resource and the period (their max). With resident scores the front end
 * reads the row max only after S3 and S4: if the VPU has fewer instructions left after the max reduction than its
 * latency plus the three scalar instructions and the dispatch slot before S2's first vector instruction, it idles
 * for the difference every row.
 */
export function rowCycles(p: SoftmaxPlan, mach: SoftmaxMachine): { frontend: number; vpu: number; divider: number; chain: number; period: number } {
  const counts = softmaxRowInstructions(p);
  const frontend = counts.vpu + counts.scalar + counts.divider;
  let vpu = vpuCyclesPerRow(p, mach);
  // With a pipelined divider the walk of the steady loop (dividerChainPerRow) prices the front end's wait on the row
  // max itself, and this static estimate overprices it (36 against the walk's and the simulator's 33 cycles per row
  // at 64 x 1 vector on server): the walk alone. With an iterative divider the estimate stays (edge, measured closer).
  if (p.xResident && !(p.reciprocal === 'divider' && pipelinedDivider(mach))) {
    const st = new StageOps(p);
    const after = p.reciprocal === 'newton' ? st.s3a().length + st.s3b().ops.length + st.s4(0, 'F').length : st.s4(0, '').length;
    vpu += Math.max(0, mach.vpu.reduceLatencyCycles + 4 - after);
  }
  const divider = p.reciprocal === 'divider' ? (mach.divider.divIntervalCycles ?? mach.divider.divLatencyCycles) : 0;
  const chain = p.reciprocal === 'divider' ? dividerChainPerRow(p, mach) : 0;
  return { frontend, vpu, divider, chain, period: Math.max(frontend, vpu, divider, chain) };
}

/**
 * The steady loop with the divider, walked instruction by instruction under the simulator's issue rules
 * (docs/TIMING.md): one dispatch per cycle; scalars written late (row max and sum by the VPU's reductions, f by the
 * divider) read at dispatch; VPU and divider queues of queueDepth; in-order VPU with its latencies; the divider
 * busy for its initiation interval and writing f after its latency. Cycles per row (without the loop's dbnz, which
 * the chunk model adds). This is what prices the division's latency when the divider is pipelined (f is read
 * recipLag iterations after its div.w) and the front end's wait on the row max with resident scores.
 */
function dividerChainPerRow(p: SoftmaxPlan, mach: SoftmaxMachine): number {
  const st = new StageOps(p);
  const lat: Record<OpClass, number> = {
    alu: mach.vpu.aluLatencyCycles, mul: mach.vpu.mulLatencyCycles, load: mach.vpu.loadLatencyCycles, store: 1, reduce: mach.vpu.reduceLatencyCycles,
  };
  const Q = mach.frontend.queueDepth;
  const divLat = mach.divider.divLatencyCycles, divII = mach.divider.divIntervalCycles ?? divLat;
  const sReady = new Map<string, number>();
  const vReady = new Map<string, number>();
  let fe = 0;
  const vStarts: number[] = [];
  const dStarts: number[] = [];
  let vLast = 0, divFree = 0, divLast = 0;
  const waitRegs = (d: number, regs: readonly string[]): number => regs.reduce((t, r) => Math.max(t, sReady.get(r) ?? 0), d);
  const scalar = (reads: readonly string[] = []): void => {
    fe = waitRegs(fe, reads) + 1;
  };
  const vpu = (o: VOp, reads: readonly string[] = [], late = ''): void => {
    let d = fe;
    if (vStarts.length >= Q) d = Math.max(d, vStarts[vStarts.length - Q]!);
    d = waitRegs(d, reads);
    fe = d + 1;
    let s = Math.max(d + 1, vLast);
    for (const r of o.s) s = Math.max(s, vReady.get(r) ?? 0);
    const l = lat[o.c];
    if (o.d !== '') {
      const prev = vReady.get(o.d) ?? 0;
      if (prev > s + l - 1) s = prev - l + 1;
      vReady.set(o.d, s + l);
    }
    vLast = s + 1;
    vStarts.push(s);
    if (late) sReady.set(late, s + l);
  };
  const div = (sum: string, f: string): void => {
    let d = fe;
    if (dStarts.length >= Q) d = Math.max(d, dStarts[dStarts.length - Q]!);
    d = waitRegs(d, [sum, f]);
    fe = d + 1;
    const s = Math.max(d + 1, divLast, divFree);
    divLast = s;
    divFree = s + divII;
    dStarts.push(s);
    sReady.set(f, s + divLat);
  };
  const rmax = (r: number): string => `max${r % 2}`;
  const rsum = (r: number): string => `sum${r % 3}`;
  const rf = (r: number): string => `f${r % (p.recipLag + 1)}`;
  const S1 = (j: number): void => {
    const ops = st.s1(j);
    ops.forEach((o, i) => vpu(o, [], i === ops.length - 1 ? rmax(j) : ''));
  };
  const S2 = (r: number): void => {
    scalar([rmax(r)]);
    scalar();
    scalar([rmax(r)]);
    if (!p.resident) scalar();
    const ops = st.s2(r);
    ops.forEach((o, i) => vpu(o, [], i === ops.length - 1 ? rsum(r) : ''));
  };
  const S4 = (r: number): void => {
    if (!p.resident) scalar();
    for (const o of st.s4(r, '')) vpu(o, o.c === 'mul' ? [rf(r)] : []);
  };
  const S2split = (a: number, b: number): void => {
    scalar([rmax(a)]);
    scalar();
    scalar([rmax(a)]);
    const { ops } = st.s2split(a, b);
    ops.forEach((o) => vpu(o, [], o.c === 'reduce' ? rsum(b) : ''));
  };
  const iteration = (j: number): void => {
    if (mergedStages(p)) {
      // the builder's order: S2a's scalars (they read the row max), the merged vector instructions with the division
      // of row j - 3 before S2a's second (DIV_AT_S2A; its sum was reduced early in the iteration before, S4 reads f
      // two iterations later)
      scalar([rmax(j - 1)]);
      scalar();
      scalar([rmax(j - 1)]);
      const { ops, stage } = st.merged(j, mach);
      const r4 = j - 3 - p.recipLag;
      let a = 0;
      ops.forEach((o, i) => {
        const k = stage[i]!;
        if (k === 1 && a++ === DIV_AT_S2A) div(rsum(j - 3), rf(j - 3));
        if (k === 2 && o.c === 'reduce') vpu(o, [], rsum(j - 2));
        else if (k === 0 && o.c === 'reduce') vpu(o, [], rmax(j));
        else if (k === 3 && o.c === 'mul') vpu(o, [rf(r4)]);
        else vpu(o);
      });
      return;
    }
    if (p.splitExp) {
      S1(j);
      S2split(j - 1, j - 2);
    } else if (p.xResident) {
      S2(j - 1);
      S1(j);
    } else {
      S1(j);
      S2(j - 1);
    }
    const d3 = p.splitExp ? 3 : 2;
    div(rsum(j - d3), rf(j - d3));
    S4(j - d3 - p.recipLag);
  };
  const warm = 4 * LOOP_ROWS, measured = 2 * LOOP_ROWS;
  for (let j = 0; j < warm; j++) iteration(j + 6);
  const t0 = fe;
  for (let j = 0; j < measured; j++) iteration(j + 6 + warm);
  return (fe - t0) / measured;
}

export interface SoftmaxModel {
  readonly cycles: number;
  /** false: an analytical schedule (the kernel overlaps the front end, VPU, divider and DMA) */
  readonly exact: boolean;
  readonly plan: SoftmaxPlan;
  /** per-row steady-state cycles on each resource, and the bound that wins */
  readonly perRow: { readonly frontend: number; readonly vpu: number; readonly divider: number; readonly dram: number };
  readonly bound: 'frontend' | 'vpu' | 'divider' | 'dram';
  readonly dramBytes: number;
}

const xfer = (bytes: number, mach: SoftmaxMachine): number => Math.ceil(bytes / mach.dram.bytesPerCycle);

/**
 * What produces the score chunks on chip in place of their DRAM loads (programs/qk-softmax: the MXU), as the model
 * sees it: chunk k's front-end instructions, its DMA channel cycles, the cycles from its first dispatch until its
 * scores are in the buffer (DMA, DRAM latency, the MXU's streams and fill), the MXU's busy cycles, and the DRAM
 * bytes all chunks read.
 */
export interface ChunkSourceCost {
  frontend(k: number): number;
  dma(k: number): number;
  latency(k: number): number;
  unit(k: number): number;
  readonly dramBytes: number;
}

/** Parts a chunk producer spreads a chunk over (programs/softmax/build.ts ChunkProducer). */
export const PRODUCER_PARTS = 3;
/** The parts chunk k + 1 is produced in during chunk k, of rowsOfChunk rows (the first chunk: one, before the loop). */
export const producerParts = (rowsOfChunk: number): number => (rowsOfChunk > PRODUCER_PARTS ? PRODUCER_PARTS : 1);

export function softmaxModel(rows: number, rowLen: number, mach: SoftmaxMachine, opts: SoftmaxOptions = {}, source?: ChunkSourceCost): SoftmaxModel {
  const p0 = softmaxPlan(rows, rowLen, mach, opts);
  const p = source ? { ...p0, outerPasses: 0 } : p0;
  const Lat = mach.dram.latencyCycles, pen = mach.frontend.takenBranchPenaltyCycles;
  const rc = rowCycles(p, mach);
  const feRow = rc.frontend, vpuRow = rc.vpu, divRow = rc.divider, chainRow = rc.chain;
  const maskBytesPerRow = p.mask === 'element' ? rowLen : 0;
  const chunkRowsOf = (k: number): number => (k < 0 || k >= p.chunks ? 0 : Math.min(p.chunkRows, rows - k * p.chunkRows));
  const loadXfer = (k: number): number => (k < 0 || k >= p.chunks ? 0 : xfer(chunkRowsOf(k) * rowLen * 4, mach) + (p.mask === 'element' ? xfer(chunkRowsOf(k) * rowLen, mach) : 0));
  const ob = probBytes(p);
  const storeXfer = (k: number): number => (k < 0 || k >= p.chunks ? 0 : xfer(chunkRowsOf(k) * rowLen * ob, mach));
  const dmaOps = (p.mask === 'element' ? 2 : 1) * 7;

  // Start: the prologue dispatches (the padding stores go one per cycle on the VPU), then the first chunk loads.
  const pro = prologueInstructions(p);
  const firstDispatch = Math.max(pro.count, pro.vpuStores) + (source ? source.frontend(0) : dmaOps);
  const posMask = p.mask === 'position' ? xfer(rowLen, mach) : 0;
  let t = firstDispatch + posMask + (source ? source.latency(0) : loadXfer(0) + Lat);

  let bound: SoftmaxModel['bound'] = 'frontend';
  const perRowBound = Math.max(feRow, vpuRow, divRow);
  for (let k = 0; k < p.chunks; k++) {
    const n = chunkRowsOf(k);
    // Loop overhead: a `li` of the count, one dbnz per body of LOOP_ROWS rows, a bubble per taken branch.
    const steadyRows = Math.max(0, n - 4);
    const bodies = Math.floor(steadyRows / LOOP_ROWS) >= 2 ? Math.floor(steadyRows / LOOP_ROWS) : 0;
    const loopFe = bodies > 0 ? 1 + bodies + (bodies - 1) * pen : 0;
    const resets = 3 + (p.mask === 'element' ? 1 : 0);
    // Inside the outer loop a DMA computes its DRAM address from the loop count (li, mul, li, sub: 3 more).
    const inOuter = p.outerPasses > 0 && k >= 2 && k < 2 + 2 * p.outerPasses;
    const dmaCount = (k + 1 < p.chunks ? (p.mask === 'element' ? 2 : 1) : 0) + (k > 0 ? 1 : 0);
    const outerFe = inOuter ? 3 * dmaCount + (k % 2 === 1 ? 1 + pen : 0) : 0;
    const next = k + 1 < p.chunks ? (source ? source.frontend(k + 1) : dmaOps) : 0;
    const fe = n * feRow + loopFe + resets + next + (k > 0 ? 7 : 0) + outerFe;
    const dma = (source ? (k + 1 < p.chunks ? source.dma(k + 1) : 0) : loadXfer(k + 1)) + storeXfer(k - 1);
    // The next chunk's scores are loaded at this chunk's first row and read by its first row's S1: this chunk's
    // rows must cover the DMA's DRAM latency and transfer (small chunks at a short row period do not).
    const arrive = k + 1 < p.chunks ? (source ? source.latency(k + 1) : Lat + loadXfer(k + 1)) : 0;
    const compute = Math.max(fe, n * vpuRow, n * divRow, n * chainRow, arrive);
    if (dma > compute) bound = 'dram';
    t += Math.max(compute, dma);
  }
  if (bound !== 'dram') bound = perRowBound === divRow ? 'divider' : perRowBound === vpuRow ? 'vpu' : 'frontend';
  // Drain: the last row's sum reduction, its reciprocal, the normalization, and the last chunk's store.
  const recip = p.reciprocal === 'divider'
    ? mach.divider.divLatencyCycles + 1
    : mach.vpu.reduceLatencyCycles + 1 + new StageOps(p).s3b().ops.length * mach.vpu.mulLatencyCycles;
  t += mach.vpu.reduceLatencyCycles + recip + mach.vpu.mulLatencyCycles + (clampsU8(p) ? 3 : 2) * p.nv + storeXfer(p.chunks - 1) + Lat;
  const dramBytes = rows * rowLen * ((source ? 0 : 4) + ob) + (source ? source.dramBytes : 0) + (p.mask === 'element' ? rows * rowLen : p.mask === 'position' ? rowLen : 0);
  return {
    cycles: Math.round(t), exact: false, plan: p,
    perRow: { frontend: feRow, vpu: vpuRow, divider: divRow, dram: (rowLen * ((source ? 0 : 4) + ob) + maskBytesPerRow) / mach.dram.bytesPerCycle },
    bound, dramBytes,
  };
}
