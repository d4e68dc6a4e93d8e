// Program builder for i-softmax (docs/IBERT.md section 7; layer 2 in kernels/npu/softmax.ts): int32 scores
// [rows, rowLen] -> probabilities in [0, 256] as int16, with an optional 0/1 mask per element or per row position.
// It emits instruction words (isa/emit.ts) whose listing, rendered only when read, is readable assembly: a
// software-pipelined loop over rows whose every instruction is commented by stage.
//
// Why along the row (one vector = lanes consecutive scores of a row) and not one row per lane: scores arrive
// row-major, and a row-per-lane layout needs a transposing DMA per column (one instruction per 32..128 elements)
// plus a per-lane division; along the row, one 2-D DMA moves a whole chunk of rows, the row max and sum are one
// vredmax/vredsum each, and the single division per row runs on the divider in parallel with the VPU.
//
// Per row, four stages (x = scores, m = row max):
//   S1 max:   load the row [apply the mask: x = mask ? x : INT32_MIN]; m = vredmax(x)
//   S2 exp:   lo = max(m, INT32_MIN + 30d) - 30d; u = max(x, lo) - (m + c'd)            [= t - c'd, t = x - m clamped]
//             sh = floor(-u m_q / 2^s_q)  (= q + c': q = floor(t / q_ln2) by a reciprocal multiply, exact)
//             r = sh d + u;  z = (r + q_b) r + q_c  (one vmacr, 64-bit inside);  e16 = sat16(rne(z M / 2^sh))
//             sum = vredsum(e16)
//   S3 recip: f = floor(2^32 / sum): div.w on the divider, or (no divider) a Newton reciprocal on the VPU
//   S4 norm:  y = floor(e16 f / 2^24) -> int16 -> scratchpad; whole chunks go back to DRAM. With probsU8 the store
//             is a byte store of min(y, 255) (P.V's uint8 input); the vmin is emitted only where the constants
//             allow y = 256 (E0 a power of two, see SoftmaxVariant.reach256), else y <= 255 and the store is exact.
// Scalars produced by a reduction or the divider are read at dispatch, so a consumer placed right after its
// producer would stall the in-order front end. The loop therefore runs the stages of different rows side by side:
// iteration j does S2(j-1), S1(j), S3(j-2), S4(j-3), so the row sum and f are consumed one iteration (a row's worth
// of instructions) after they were produced (f two iterations, S4(j-4), where a pipelined divider's latency exceeds
// a row's iteration: plan.recipLag, with six e16 sets and three f names so that the rotation still repeats every
// 6 rows), and the row max after S3 and S4 (short rows: it is the one place
// where the front end can wait a few cycles). S2 of the previous row runs first so that S1 can load the next row
// into the registers S2 just freed: the scores stay in registers from S1 to S2. e16 of three rows is live at once
// (three register sets), and the scalar names alternate between two rows, so the loop body holds lcm(3, 2) = 6
// rows. That order couples the front end to the row-max reduction: when the VPU is the bottleneck (short rows on a
// VPU-heavy machine) the plan (programs/softmax/model.ts) prices both and may pick the other one, S1(j), S2(j-1),
// S3(j-2), S4(j-3), where S2 reloads the scores. Rows longer than 4 vectors do not fit the registers: they use that
// order too and stream e16 through a scratchpad ring of three rows.
// With a pipelined divider, rows of one or two vectors may split S2 (plan.splitExp): S2a (clamp, q, r) of row j-1
// interleaved instruction by instruction with S2b (z, e16, sum) of row j-2, two U/SH/RR sets, S3(j-3), S4(j-3-lag),
// so that a row's dependent exp chain is not alone on the in-order VPU.
// Chunks of rows are double-buffered: while a chunk is computed, the next one loads and the previous one stores;
// an outer loop runs over pairs of chunks (the two buffers), taking DRAM addresses from its counter.
// Rows are padded on chip to a multiple of the lanes (no vl switching): padding scores are INT32_MIN (they never
// win the max) and their e16 is forced to 0 by a min with a constant (32767 | 0) vector before the sum.
import { TilingError } from '../schedule.js';
import { clampsU8, DIV_AT_S2A, LOOP_ROWS, mergedStages, StageOps, NEWTON_STEPS, PRODUCER_PARTS, probBytes, producerParts, softmaxModel, softmaxPlan, type SoftmaxMachine, type SoftmaxMaskKind, type SoftmaxOptions, type SoftmaxPlan, type SoftmaxVariant } from './model.js';
import { parseSoftmaxCase, type SoftmaxNpuConsts } from '../../kernels/npu/softmax.js';
import type { MachineConfig } from '../../sim/config.js';
import { loadProgram, simulate, type SimResult } from '../../sim/run.js';
import { assembleBuilt, machineFor, programBuffer, type CaseRun, type RunOptions } from '../index.js';
import { emitted, type BuiltProgram } from '../linear/build.js';
import { ProgramEmitter, type Operand } from '../../isa/emit.js';

/** Newton reciprocal constants: y0 = C1 - floor(d C2 / 2^31) ~ 2^29 (48/17 - 32/17 d/2^31), a 1/17 start. */
export const NEWTON_C1 = 1515870810; // round(48/17 * 2^29), compile-time constant
export const NEWTON_C2 = 1010580540; // round(32/17 * 2^29)

/** Variant flags of the instruction sequence for a set of constants. */
export function softmaxVariant(c: SoftmaxNpuConsts): SoftmaxVariant {
  return { zPreShift: c.k > 0, shiftBelowZero: c.c < 0, reach256: 2 ** 32 % c.E0 === 0 };
}

// ---- scalar registers ----
const R = {
  NEGMQ: 'r1', SQ: 'r2', QB: 'r3', K: 'r4', QCHI: 'r5', LOMIN: 'r6', SH24: 'r7',
  PAIR: 'r8', // div.w dividend pair r8:r9 = (0, 1) = 2^32 (divider); r8 = 31, r9 = 8 (Newton)
  ONE: 'r9', C31: 'r8', C8: 'r9',
  CADJ: 'r10', OUTER: 'r11',
  RMAX: ['r12', 'r13'], RSUM: ['r14', 'r15', 'r20'], RF: ['r16', 'r17', 'r19'], RN: ['r16', 'r17'],
  C2P30: 'r18', C29: 'r19',
  C255: 'r18', // the uint8 saturation bound (divider only: Newton takes r18; it sets R.T[3] in each S4 instead)
  LO: 'r21', MC: 'r22',
  P1X: 'r23', P1M: 'r24', P2X: 'r25', P4Y: 'r26', LOOP: 'r27',
  T: ['r28', 'r29', 'r30', 'r31'],
} as const;

/** Vector register plan: three (six with recipLag 2) e16 sets (resident rows), a temporary pool, constants. */
interface VRegs {
  readonly E: readonly (readonly string[])[];
  readonly U: readonly string[];
  readonly SH: readonly string[];
  readonly RR: readonly string[];
  /** the second U/SH/RR set of the split exp stage (rows alternate), else the first again */
  readonly U2: readonly string[];
  readonly SH2: readonly string[];
  readonly RR2: readonly string[];
  readonly N: readonly string[];
  readonly D: string;
  readonly QC: string;
  readonly M: string;
  readonly NEG: string;
  readonly CAP: string;
  readonly Z: string;
  readonly PM1: readonly string[];
  /** running max / sum of the groups of a streamed row */
  readonly ACC: string;
  /** merged stages (mergedStages): S1's scores and mask, S4's output ('' otherwise) */
  readonly X1: string;
  readonly XM: string;
  readonly YS: string;
}

function vregPlan(p: SoftmaxPlan): VRegs {
  let next = 0;
  const take = (n: number): string[] => Array.from({ length: n }, () => `v${next++}`);
  const E = Array.from({ length: p.eSets }, () => (p.resident ? take(p.nv) : []));
  const G = p.group;
  const U = take(G), SH = take(G), RR = take(G);
  const [U2, SH2, RR2] = p.splitExp ? [take(G), take(G), take(G)] : [U, SH, RR];
  const N = p.reciprocal === 'newton' ? take(Math.max(0, 7 - 2 * G)) : [];
  const D = take(1)[0]!, QC = take(1)[0]!, M = take(1)[0]!;
  const NEG = p.mask !== 'none' || p.tail < p.lanes ? take(1)[0]! : '';
  const CAP = p.tail < p.lanes ? take(1)[0]! : '';
  const Z = p.reciprocal === 'newton' ? take(1)[0]! : '';
  const PM1 = p.reciprocal === 'newton' ? take(p.pm1Vectors) : [];
  const ACC = p.resident ? '' : take(1)[0]!;
  const [X1, XM, YS] = mergedStages(p) ? take(3) : ['', '', ''];
  if (next > 32) throw new Error(`internal: softmax vector register plan needs ${next} registers`);
  return { E, U, SH, RR, U2, SH2, RR2, N, D, QC, M, NEG, CAP, Z, PM1, ACC, X1: X1!, XM: XM!, YS: YS! };
}

/** The case's layout and constants, as the builder needs them. */
export interface SoftmaxBuildCase {
  readonly rows: number;
  readonly rowLen: number;
  readonly consts: SoftmaxNpuConsts;
  readonly mask: SoftmaxMaskKind;
}

/** Schedule choices the plan makes by itself; tests and what-if studies can force them (as SoftmaxOptions documents). */
export type SoftmaxBuildOptions = Pick<SoftmaxOptions, 'reciprocal' | 'chunkRows' | 'xResident' | 'probsU8' | 'recipLag' | 'splitExp'>;

/** Where a builder's instructions go: the emitter, or a stage being collected for interleaving (registers by name). */
export interface SoftmaxSink {
  op(mnemonic: string, ...operands: Operand[]): void;
  /** `buffer`: the value is an address in that buffer (the listing names it) */
  li(reg: string, value: number, buffer?: string): void;
  /** a comment at the end of the last instruction's line */
  remark(text: string): void;
}

/** One recorded instruction (`m` a mnemonic, or ';' for a comment with its text in `r`) of a collected stage. */
interface Rec {
  readonly m: string;
  readonly o: readonly Operand[];
  r: string | undefined;
  /** an li of an address: the buffer it points into */
  readonly b?: string | undefined;
}

/** A scalar register's number from its name in the plan ('r12' -> 12). */
const sreg = (name: string): number => Number(name.slice(1));

/**
 * A producer of score chunks on chip, in place of the chunk loads from DRAM (the fused qk-softmax program,
 * programs/qk-softmax/build.ts): `declare` allocates its buffers (first, before the softmax's), `produce` emits the
 * instructions that write chunk k's rows (row0.., n rows) into the accumulator at word address `chip` with the row
 * stride lpad. It may use r21, r22 and r28..r31 only (the DMA operand registers of the loads it replaces), and is
 * emitted where the load would be: the hardware orders it after the last reader of the buffer it overwrites and
 * before the first reader of the rows it writes. A chunk of at least PRODUCER_PARTS + 1 rows spreads the
 * production of the next one over PRODUCER_PARTS of its iterations (its first, second and fourth, the ones outside
 * the row loop), so that a unit queue the producer fills drains between them.
 */
export interface ChunkProducer {
  /** the program's file name */
  readonly file: string;
  readonly notes: readonly string[];
  declare(e: ProgramEmitter): void;
  produce(k: number, row0: number, n: number, chip: number, lpad: number, out: SoftmaxSink, part: number, parts: number): void;
}

/** The iterations (from the start of the chunk before it) that emit the parts of a produced chunk. */
const PRODUCER_SLOTS = [0, 1, 3];

export function buildSoftmax(cse: SoftmaxBuildCase, mach: SoftmaxMachine, opts: SoftmaxBuildOptions = {}, producer?: ChunkProducer): BuiltProgram & { plan: SoftmaxPlan } {
  const c = cse.consts;
  const variant = softmaxVariant(c);
  const plan = softmaxPlan(cse.rows, cse.rowLen, mach, { mask: cse.mask, variant, ...opts });
  if (plan.reciprocal === 'newton' && cse.rowLen * c.E0 >= 1 << 30) {
    throw new TilingError(
      `softmax rows of ${cse.rowLen} can sum to ${cse.rowLen} * ${c.E0} >= 2^30: the Newton reciprocal (no divider) checks its result with ` +
        'the remainder 2^32 - f * sum in one int32 lane, which needs sums below 2^30 (at most 32767 scores per row under the fixed-point calibration)',
    );
  }
  const V = vregPlan(plan);
  const { rows, rowLen, lanes, nv, lpad, chunkRows: Cr, chunks } = plan;
  const G = plan.group;
  const newton = plan.reciprocal === 'newton';
  const u8 = plan.probsU8;
  /** the uint8 store needs its min(p, 255): only when E0 is a power of two can a (one-hot) row reach p = 256 */
  const clamp = clampsU8(plan);
  const ob = probBytes(plan);
  const c255 = newton ? R.T[3] : R.C255;
  const lag = plan.recipLag;
  /** f of a row: two names alternate (lag 1), three rotate (lag 2: f of three rows in flight) */
  const rf = (row: number): string => R.RF[row % (lag + 1)]!;
  const e = new ProgramEmitter(producer?.file ?? `softmax_${rows}x${rowLen}${cse.mask === 'none' ? '' : `_${cse.mask}`}${newton ? '_newton' : ''}${u8 ? '_u8' : ''}.s`);
  // Instructions go straight to the emitter, except while a stage is captured (the split exp stage and the merged
  // stages collect their parts, then interleave them): then they are recorded and replayed in the merged order.
  let recs: Rec[] | null = null;
  const sink: SoftmaxSink = {
    op(m, ...o) {
      if (recs !== null) recs.push({ m, o, r: undefined });
      else e.op(m, ...o);
    },
    li(r, v, buffer) {
      if (recs !== null) recs.push({ m: 'li', o: [r, v], r: undefined, b: buffer });
      else e.li(sreg(r), v, buffer);
    },
    remark(text) {
      if (recs !== null) recs[recs.length - 1]!.r = text;
      else e.remark(text);
    },
  };
  const { op, li, remark } = sink;
  const note = (s: string): void => {
    if (recs !== null) recs.push({ m: ';', o: [], r: s });
    else e.comment(s);
  };
  const capture = (fn: () => void): Rec[] => {
    const lines: Rec[] = [];
    recs = lines;
    fn();
    recs = null;
    return lines;
  };
  const replay = (lines: readonly Rec[]): void => {
    for (const l of lines) {
      if (l.m === ';') e.comment(l.r!);
      else {
        if (l.m === 'li') e.li(sreg(l.o[0] as string), l.o[1] as number, l.b);
        else e.op(l.m, ...l.o);
        if (l.r !== undefined) e.remark(l.r);
      }
    }
  };
  /** a vector instruction (the VPU's in-order queue), not a comment, scalar or vsetvl */
  const isVec = (l: Rec): boolean => l.m.charCodeAt(0) === 118 /* v */ && l.m !== 'vsetvl';
  const split = plan.splitExp;
  const merged = mergedStages(plan);
  const stageOps = new StageOps(plan);
  /** the U/SH/RR set of a row in the split exp stage (rows alternate); the one set otherwise */
  const setOf = (row: number): { U: readonly string[]; SH: readonly string[]; RR: readonly string[] } =>
    (split && row % 2 === 1 ? { U: V.U2, SH: V.SH2, RR: V.RR2 } : { U: V.U, SH: V.SH, RR: V.RR });

  // ---------------- header ----------------
  note(`softmax: ${rows} rows of ${rowLen} int32 scores -> ${u8 ? 'uint8 probabilities min(p, 255) (p in [0, 256]; the byte format mxu.mm.u8 reads)' : 'int16 probabilities in [0, 256]'}${cse.mask === 'none' ? '' : `, mask per ${cse.mask === 'element' ? 'element' : 'row position'}`}`);
  note(`constants: q_ln2 = ${-c.d}, q_b = ${c.qb}, q_c = ${c.ref.qc}${c.k ? ` (z pre-shift k = ${c.k}: q_c = ${c.qcHi} * 2^${c.k} + ${c.qcLo})` : ''}, M = ${c.M}, e16 shift = q + ${c.c}, ` +
    `q + ${c.cFold} = floor(a' * ${c.mQ} / 2^${c.sQ}), E0 = ${c.E0}`);
  note(`machine: ${lanes} lanes; a row is ${nv} vector${nv > 1 ? 's' : ''} (padded to ${lpad}${plan.tail < lanes ? `, last vector ${plan.tail} lanes` : ''}); ` +
    `e16 ${plan.resident ? 'stays in registers' : 'streams through the scratchpad ring es'}; ${chunks} chunk${chunks > 1 ? 's' : ''} of ${Cr} rows; ` +
    `f = floor(2^32 / sum) ${newton ? 'by a Newton reciprocal on the VPU (no divider)' : 'on the divider (div.w)'}`);
  note(plan.xResident
    ? `loop iteration j: S2(j-1) exp + sum, S1(j) load + max, S3(j-2) reciprocal, S4(j-${2 + lag}) normalize + store (see programs/softmax/build.ts)`
    : `loop iteration j: S1(j) load + max, S2(j-1) reload + exp + sum, S3(j-2) reciprocal, S4(j-${2 + lag}) normalize + store (see programs/softmax/build.ts)`);
  if (lag === 2) note('f is read two iterations after its div.w (the divider is pipelined: its latency would hold the front end otherwise)');
  note('scalar registers: r1 -m_q, r2 s_q, r3 q_b, r4 k, r5 q_c >> k, r6 INT32_MIN + 30d, r7 24,');
  note(newton
    ? '  r8 31, r9 8, r18 2^30, r19 29 (Newton), r16/r17 bit length n of the row sum (rows alternate)'
    : `  r8:r9 = (0, 1) the div.w dividend 2^32, ${lag === 2 ? 'r16/r17/r19 f (row mod 3)' : 'r16/r17 f (rows alternate)'}${clamp ? ', r18 255 (uint8 saturation)' : ''}`);
  if (clamp && newton) note('  r31 255 (uint8 saturation), set in each S4');
  if (u8) {
    note(clamp
      ? `uint8 output: E0 = ${c.E0} is a power of two, so a one-hot row reaches p = 256: vmin with 255 before each byte store`
      : `uint8 output: E0 = ${c.E0} is not a power of two, so p <= 255 (p = 256 needs e16 = sum = E0 dividing 2^32): the byte store is exact`);
  }
  note('  r10 c (if c < 0), r11 outer loop count (chunk pairs); r12/r13 row max (rows alternate), r14/r15/r20 row sum (row mod 3); r21 lo, r22 m + c\'d (S2)');
  note(`  r23 S1 score pointer, r24 S1 mask pointer, ${plan.xResident ? '' : 'r25 S2 score pointer, '}r26 S4 output pointer, r27 loop count,`);
  note('  r21, r22, r28..r31 DMA operands between stages (chip, dram, rows, len, chip stride, dram stride) and Newton temporaries');
  note(`vector registers: e16 sets ${V.E.map((s) => (s.length ? `${s[0]}..${s[s.length - 1]}` : '-')).join(', ')} (row mod ${plan.eSets}); ${plan.xResident ? `scores ${V.U.join(', ')} (S1 -> S2); ` : ''}temporaries ${plan.xResident ? V.SH[0] : V.U[0]}..${V.RR[V.RR.length - 1]}${V.N.length ? `, ${V.N.join(', ')}` : ''};`);
  note(`  ${V.D} d = -q_ln2, ${V.QC} q_c mod 2^k, ${V.M} M${V.NEG ? `, ${V.NEG} INT32_MIN` : ''}${V.CAP ? `, ${V.CAP} e16 cap of the last vector (32767 | 0 on padding)` : ''}` +
    `${V.Z ? `, ${V.Z} zero` : ''}${V.PM1.length ? `, ${V.PM1.join(', ')} 2^j - 1 per lane j (Newton bit length)` : ''}`);
  const xaWords = 2 * Cr * lpad;
  if (producer && cse.mask === 'element') throw new Error('internal: a softmax chunk producer takes no per-element mask');
  /** buffer addresses (bytes for dram and spad, int32 words for acc); only the declared ones are read */
  const B = { x: 0, mask: 0, y: 0, xa: 0, ys: 0, ms: 0, mp: 0, es: 0 };
  if (producer) {
    for (const n of producer.notes) note(n);
    producer.declare(e);
  } else B.x = e.buffer('x', 'dram', rows * rowLen * 4, `scores int32 [${rows}][${rowLen}]`);
  if (cse.mask === 'element') B.mask = e.buffer('mask', 'dram', rows * rowLen, `0/1 int8 [${rows}][${rowLen}]`);
  if (cse.mask === 'position') B.mask = e.buffer('mask', 'dram', rowLen, `0/1 int8 [${rowLen}], the same for every row`);
  B.y = u8
    ? e.buffer('y', 'dram', rows * rowLen, `probabilities uint8 min(p, 255) [${rows}][${rowLen}]`)
    : e.buffer('y', 'dram', rows * rowLen * 2, `probabilities int16 [${rows}][${rowLen}]`);
  B.xa = e.buffer('xa', 'acc', xaWords, `two chunks of ${Cr} score rows, padded to ${lpad}`);
  B.ys = e.buffer('ys', 'spad', 2 * Cr * lpad * ob, `two chunks of ${Cr} ${u8 ? 'uint8' : 'int16'} output rows`);
  if (cse.mask === 'element') B.ms = e.buffer('ms', 'spad', 2 * Cr * lpad, 'two chunks of mask rows');
  if (cse.mask === 'position') B.mp = e.buffer('mp', 'spad', lpad, 'the position mask');
  if (!plan.resident) B.es = e.buffer('es', 'spad', 3 * lpad * 2, 'e16 of three rows in flight (int16)');
  // ---------------- constants ----------------
  note('---- constants ----');
  li(R.T[0], lanes);
  op('vsetvl', R.T[0], R.T[0]);
  li(R.NEGMQ, -c.mQ);
  li(R.SQ, c.sQ);
  li(R.QB, c.qb);
  li(R.K, c.k);
  if (c.k > 0) li(R.QCHI, c.qcHi);
  li(R.LOMIN, c.loMin);
  li(R.SH24, 24);
  if (newton) {
    li(R.C31, 31);
    li(R.C8, 8);
    li(R.C2P30, 1 << 30);
    li(R.C29, 29);
  } else {
    li(R.PAIR, 0);
    li(R.ONE, 1);
    if (clamp) li(R.C255, 255);
  }
  if (variant.shiftBelowZero) li(R.CADJ, c.c);
  const bcast = (v: string, value: number): void => {
    li(R.T[1], value);
    op('vbcast', v, R.T[1]);
  };
  bcast(V.D, c.d);
  bcast(V.QC, c.qcLo);
  bcast(V.M, c.M);
  if (V.NEG) bcast(V.NEG, -2147483648);
  if (V.Z) op('vbcast', V.Z, 'r0');
  if (V.CAP) {
    note(`e16 cap of the last vector: 32767 on its ${plan.tail} real lanes, 0 on the padding`);
    op('vbcast', V.CAP, 'r0');
    li(R.T[1], plan.tail);
    op('vsetvl', R.T[1], R.T[1]);
    bcast(V.CAP, 32767);
    op('vsetvl', R.T[0], R.T[0]);
  }
  if (V.PM1.length) {
    note('2^j - 1 in lane j (INT32_MAX beyond j = 30): s >= 2^j <=> 2^j - 1 < s, so vredsum(vslt(PM1, s)) = bit length of s');
    V.PM1.forEach((v, k) => {
      bcast(v, 2147483647);
      for (let i = Math.min(lanes, 31 - k * lanes) - 1; i >= 0; i--) {
        li(R.T[1], i + 1);
        op('vsetvl', R.T[1], R.T[1]);
        bcast(v, (1 << (k * lanes + i)) - 1); // k lanes + i <= 30
      }
      op('vsetvl', R.T[0], R.T[0]);
    });
  }
  if (cse.mask === 'position') li(R.P1M, B.mp, 'mp');
  if (V.CAP) {
    note('padding lanes of every chunk row start as INT32_MIN (DMA writes only the real scores)');
    li(R.P1X, B.xa + (nv - 1) * lanes, 'xa');
    for (let i = 0; i < 2 * Cr; i++) op('vst.acc', V.NEG, R.P1X, lpad);
  }

  // ---------------- DMA ----------------
  const chunkStart = (k: number): number => k * Cr;
  const chunkRowsOf = (k: number): number => Math.min(Cr, rows - k * Cr);
  /**
   * Inside the outer loop over chunk pairs the DRAM address of a chunk moves by two chunks per pass: with the
   * outer counter r11 counting down from `passes` to 1, it is (first-pass address + 2 chunks * passes) - 2 chunks * r11.
   */
  let outer: { passes: number } | null = null;
  const DMA_REGS = [R.LO, R.MC, ...R.T] as const;
  type Buf = keyof typeof B;
  const dma = (mnemonic: 'dma.ld' | 'dma.st', space: 'acc' | 'spad', chipBuf: Buf, chipOff: number, dramBuf: Buf, chunkBytes: number, k: number, rest: readonly [number, number, number, number]): void => {
    li(R.LO, B[chipBuf] + chipOff, chipBuf);
    if (outer === null) li(R.MC, B[dramBuf] + k * chunkBytes, dramBuf);
    else {
      li(R.T[0], 2 * chunkBytes);
      op('mul', R.T[0], R.T[0], R.OUTER);
      li(R.MC, B[dramBuf] + (k + 2 * outer.passes) * chunkBytes, dramBuf);
      op('sub', R.MC, R.MC, R.T[0]);
      remark("this pass's chunk");
    }
    rest.forEach((a, i) => li(DMA_REGS[2 + i]!, a));
    op(mnemonic, space, ...DMA_REGS);
  };
  const loadChunk = (k: number): void => {
    const n = chunkRowsOf(k), buf = k % 2;
    if (producer) {
      note(`produce chunk ${k}: rows ${chunkStart(k)}..${chunkStart(k) + n - 1} into buffer ${buf}`);
      producer.produce(k, chunkStart(k), n, B.xa + buf * Cr * lpad, lpad, sink, 0, k === 0 ? 1 : producerParts(chunkRowsOf(k - 1)));
      return;
    }
    note(`load chunk ${k}${outer ? ' (+2 per pass)' : ''}: rows ${chunkStart(k)}..${chunkStart(k) + n - 1} into buffer ${buf}`);
    dma('dma.ld', 'acc', 'xa', buf * Cr * lpad, 'x', Cr * rowLen * 4, k, [n, rowLen, lpad, rowLen * 4]);
    if (cse.mask === 'element') dma('dma.ld', 'spad', 'ms', buf * Cr * lpad, 'mask', Cr * rowLen, k, [n, rowLen, lpad, rowLen]);
  };
  const storeChunk = (k: number): void => {
    const n = chunkRowsOf(k), buf = k % 2;
    note(`store chunk ${k}${outer ? ' (+2 per pass)' : ''}: rows ${chunkStart(k)}..${chunkStart(k) + n - 1}`);
    dma('dma.st', 'spad', 'ys', buf * Cr * lpad * ob, 'y', Cr * rowLen * ob, k, [n, ob * rowLen, ob * lpad, ob * rowLen]);
  };

  // ---------------- stages ----------------
  const groups = (): Array<[number, number]> => {
    const gs: Array<[number, number]> = [];
    for (let v0 = 0; v0 < nv; v0 += G) gs.push([v0, Math.min(G, nv - v0)]);
    return gs;
  };
  const isFirstOfChunk = (row: number): boolean => row % Cr === 0;
  /** `li reg, buffer + the row's chunk slot` (the two chunk buffers alternate) */
  const liChunk = (reg: string, row: number, buffer: Buf, rowBytes: number): void => li(reg, B[buffer] + (Math.floor(row / Cr) % 2) * Cr * rowBytes, buffer);
  /** Max of the registers, in place or (into != null) into temporaries so that the inputs survive. */
  const maxTree = (regs: readonly string[], into: readonly string[] | null): string => {
    let live = [...regs];
    let t = 0;
    while (live.length > 1) {
      const nxt: string[] = [];
      for (let i = 0; i + 1 < live.length; i += 2) {
        const d = into === null ? live[i]! : into[t++ % into.length]!;
        op('vmax', d, live[i]!, live[i + 1]!);
        nxt.push(d);
      }
      if (live.length % 2) nxt.push(live[live.length - 1]!);
      live = nxt;
    }
    return live[0]!;
  };
  const addTree = (regs: readonly string[], into: readonly string[]): string => {
    // sums into the `into` temporaries (never the e16 sets)
    let live = [...regs];
    let t = 0;
    while (live.length > 1) {
      const nxt: string[] = [];
      for (let i = 0; i + 1 < live.length; i += 2) {
        const d = into[t++ % into.length]!;
        op('vadd', d, live[i]!, live[i + 1]!);
        nxt.push(d);
      }
      if (live.length % 2) nxt.push(live[live.length - 1]!);
      live = nxt;
    }
    return live[0]!;
  };

  // Resident rows keep their scores in the U registers from S1 to S2 (S2 of the previous row runs first in each
  // iteration, so one set suffices); streamed rows reload them in S2 (masked scores are written back for that).
  const S1 = (row: number): void => {
    note(`S1 row ${row}: load${cse.mask === 'none' ? '' : ', mask'}, max`);
    if (isFirstOfChunk(row)) {
      liChunk(R.P1X, row, 'xa', lpad);
      if (cse.mask === 'element') liChunk(R.P1M, row, 'ms', lpad);
    }
    let acc = '';
    // split: the set S2a of row - 1 reloads right after (S2b of row - 2 holds the other); merged: registers of its own
    const S1set = merged ? { U: [V.X1], SH: [V.XM], RR: V.RR } : setOf(row + 1);
    for (const [v0, gn] of groups()) {
      const regs = S1set.U.slice(0, gn);
      const last = v0 + gn === nv;
      if (cse.mask !== 'none') {
        regs.forEach((r, i) => op('vld.s8', S1set.SH[i]!, R.P1M, cse.mask === 'position' && last && i === gn - 1 ? -(nv - 1) * lanes : lanes));
        if (plan.xResident) {
          regs.forEach((r) => op('vld.acc', r, R.P1X, lanes));
        } else {
          // load with increments that bring the pointer back to the group start, then store the masked vectors
          regs.forEach((r, i) => op('vld.acc', r, R.P1X, i === gn - 1 ? -(gn - 1) * lanes : lanes));
        }
        regs.forEach((r, i) => {
          op('vsel', r, S1set.SH[i]!, r, V.NEG);
          if (!i) remark('masked -> INT32_MIN');
        });
        if (!plan.xResident) regs.forEach((r) => op('vst.acc', r, R.P1X, lanes));
      } else {
        regs.forEach((r) => op('vld.acc', r, R.P1X, lanes));
      }
      const m = maxTree(regs, plan.xResident ? V.RR : null);
      if (plan.resident) acc = m;
      else if (acc === '') {
        op('vmax', V.ACC, m, m);
        remark('running max of the groups');
        acc = V.ACC;
      } else op('vmax', acc, acc, m);
    }
    op('vredmax', R.RMAX[row % 2]!, acc);
  };

  // The exp stage's vector work on one row's registers (U: x then the polynomial, SH: the shift q, RR: r), shared by
  // the stage in line (S2) and its split halves (S2a, S2b): the clamp and the reciprocal multiply for q and r ...
  const expHead = (U: readonly string[], SH: readonly string[], RR: readonly string[]): void => {
    U.forEach((u, i) => {
      op('vmax.vx', u, u, R.LO);
      if (!i) remark('x = max(x, lo)');
    });
    U.forEach((u, i) => {
      op('vsub.vx', u, u, R.MC);
      if (!i) remark("u = t - c'd");
    });
    U.forEach((u, i) => {
      op('vmulr.vx', SH[i]!, u, R.NEGMQ, R.SQ, 'floor', 'wrap32');
      if (!i) remark("sh = q + c' = floor(-u m_q / 2^s_q)");
    });
    U.forEach((u, i) => {
      op('vmacr', RR[i]!, SH[i]!, V.D, u, 'r0', 'floor', 'wrap32');
      if (!i) remark('r = sh d + u = t - q q_ln2');
    });
  };
  // ... then the polynomial and e16 into E
  const expTail = (U: readonly string[], SH: readonly string[], RR: readonly string[], E: readonly string[]): void => {
    U.forEach((u, i) => {
      op('vadd.vx', u, RR[i]!, R.QB);
      if (!i) remark('r + q_b');
    });
    U.forEach((u, i) => {
      op('vmacr', u, u, RR[i]!, V.QC, R.K, 'floor', 'wrap32');
      if (!i) remark('z = (r + q_b) r + q_c');
    });
    if (c.k > 0) U.forEach((u) => op('vadd.vx', u, u, R.QCHI));
    if (variant.shiftBelowZero) {
      SH.forEach((x) => op('vadd.vx', x, x, R.CADJ));
      SH.forEach((x) => op('vmax.vx', x, x, 'r0'));
    }
    U.forEach((u, i) => {
      op('vmulr.vv', E[i]!, u, V.M, SH[i]!, 'rne', 'sat16');
      if (!i) remark('e16 = rne(z M / 2^sh)');
    });
  };
  /** The clamp bounds of a row from its max (S2, S2a). */
  const clampBounds = (rmax: string): void => {
    op('max', R.LO, rmax, R.LOMIN);
    op('addi', R.LO, R.LO, c.loAdd);
    remark('lo = clamp bound of x');
    op('addi', R.MC, rmax, c.cFold * c.d);
    remark("m + c'd (wraps; u below is exact mod 2^32)");
  };
  const S2 = (row: number): void => {
    const rmax = R.RMAX[row % 2]!;
    note(`S2 row ${row}: e16 = exp, sum`);
    if (isFirstOfChunk(row) && !plan.xResident) liChunk(R.P2X, row, 'xa', lpad);
    clampBounds(rmax);
    if (!plan.resident) li(R.T[0], B.es + (row % 3) * lpad * 2, 'es');
    let sumAcc = '';
    for (const [v0, gn] of groups()) {
      const U = V.U.slice(0, gn), SH = V.SH.slice(0, gn), RR = V.RR.slice(0, gn);
      const E = plan.resident ? V.E[row % plan.eSets]!.slice(v0, v0 + gn) : SH;
      if (!plan.xResident) U.forEach((u) => op('vld.acc', u, R.P2X, lanes));
      expHead(U, SH, RR);
      // e16 lands in the resident set, or (streaming) back in SH (the shift is dead once the multiply has read it)
      expTail(U, SH, RR, E);
      if (v0 + gn === nv && V.CAP) op('vmin', E[gn - 1]!, E[gn - 1]!, V.CAP);
      if (!plan.resident) E.forEach((x) => op('vst.s16', x, R.T[0], 2 * lanes));
      const s = gn === 1 ? E[0]! : addTree(E, RR);
      if (plan.resident) sumAcc = s;
      else if (sumAcc === '') {
        op('vmax', V.ACC, s, s);
        remark('running sum of the groups');
        sumAcc = V.ACC;
      } else op('vadd', sumAcc, sumAcc, s);
    }
    op('vredsum', R.RSUM[row % 3]!, sumAcc);
  };

  // The split exp stage (plan.splitExp: rows of at most two vectors, scores reloaded): S2a of row j-1 (clamp, the
  // reciprocal multiply for q, r) and S2b of row j-2 (the polynomial, e16, the sum) interleave instruction by
  // instruction, so the in-order VPU always has an independent instruction between the dependent ones of a chain.
  const S2a = (row: number): Rec[] => {
    const rmax = R.RMAX[row % 2]!;
    const { U, SH, RR } = setOf(row);
    return capture(() => {
      if (isFirstOfChunk(row)) liChunk(R.P2X, row, 'xa', lpad);
      clampBounds(rmax);
      U.forEach((u) => op('vld.acc', u, R.P2X, lanes));
      expHead(U, SH, RR);
    });
  };
  const S2b = (row: number): Rec[] => capture(() => {
    const { U, SH, RR } = setOf(row);
    const E = V.E[row % plan.eSets]!;
    expTail(U, SH, RR, E);
    if (V.CAP) op('vmin', E[nv - 1]!, E[nv - 1]!, V.CAP);
    const sum = nv === 1 ? E[0]! : addTree(E, RR);
    op('vredsum', R.RSUM[row % 3]!, sum);
  });
  /** S2a(a) and S2b(b) of two rows: a's scalars first, then the vector instructions alternating, b's first. */
  const S2split = (a: number, b: number): void => {
    const la = a >= 0 && a < rows ? S2a(a) : [];
    const lb = b >= 0 && b < rows ? S2b(b) : [];
    if (la.length + lb.length === 0) return;
    note(`S2 split: ${la.length ? `S2a row ${a} (clamp, q, r)` : ''}${la.length && lb.length ? ' interleaved with ' : ''}${lb.length ? `S2b row ${b} (z, e16, sum)` : ''}`);
    replay(la.filter((l) => !isVec(l)));
    const va = la.filter(isVec), vb = lb.filter(isVec);
    for (let i = 0; i < Math.max(va.length, vb.length); i++) {
      if (i < vb.length) replay([vb[i]!]);
      if (i < va.length) replay([va[i]!]);
    }
  };

  const S3div = (row: number): void => {
    note(`S3 row ${row}: f = floor(2^32 / sum) on the divider`);
    op('div.w', rf(row), R.PAIR, R.RSUM[row % 3]!, 'floor');
  };

  // Newton, first half: bit length n of the sum (lane j compares s with 2^j - 1), a reduction into a scalar.
  const S3a = (row: number): void => {
    const s = R.RSUM[row % 3]!;
    note(`S3a row ${row}: n = bit length of the sum`);
    const T = [...V.N, ...V.SH, ...V.RR];
    op('vbcast', T[0]!, s);
    V.PM1.forEach((p, k) => op('vslt', T[1 + k]!, p, T[0]!));
    for (let k = 1; k < V.PM1.length; k++) op('vadd', T[1]!, T[1]!, T[1 + k]!);
    op('vredsum', R.RN[row % 2]!, T[1]!);
  };
  // Newton, second half: d = s << (31 - n) in [2^30, 2^31); y ~ 2^60 / d by three Newton steps from a linear
  // start; f = floor(y 8 / 2^n) corrected twice with the exact remainder 2^32 - f s (mod 2^32). Returns f's register.
  const S3b = (row: number): string => {
    const s = R.RSUM[row % 3]!, n = R.RN[row % 2]!;
    const [negs, t31, negd, sh29] = [R.LO, R.MC, R.T[0], R.T[1]];
    const T = [...V.N, ...V.SH, ...V.RR]; // not U: it holds the scores of the row that S1 just loaded
    const Y = T[T.length - 1]!, W = T[T.length - 2]!, F = T[T.length - 3]!, RM = T[T.length - 4]!, DL = T[T.length - 5]!, SV = T[T.length - 6]!;
    note(`S3b row ${row}: f = floor(2^32 / sum) by Newton (no divider)`);
    op('sub', negs, 'r0', s);
    op('sub', t31, R.C31, n);
    op('sll', t31, s, t31);
    remark('d = s << (31 - n)');
    op('sub', negd, 'r0', t31);
    op('addi', sh29, n, 29);
    op('vbcast', Y, t31);
    li(R.T[3], -NEWTON_C2);
    op('vmulr.vx', Y, Y, R.T[3], R.C31, 'floor', 'wrap32');
    li(R.T[2], NEWTON_C1);
    op('vadd.vx', Y, Y, R.T[2]);
    remark('y0 = C1 - d C2 / 2^31');
    for (let it = 0; it < NEWTON_STEPS; it++) {
      op('vmulr.vx', W, Y, negd, R.C31, 'floor', 'wrap32');
      remark('-d y / 2^31');
      op('vadd.vx', W, W, R.C2P30);
      op('vmacr', Y, Y, W, V.Z, R.C29, 'floor', 'wrap32');
      remark('y = y (2 - d y)');
    }
    op('vmulr.vx', F, Y, R.C8, n, 'floor', 'wrap32');
    remark('f ~ y 8 / 2^n');
    op('vmul.vx', RM, F, negs);
    remark('rem = 2^32 - f s (mod 2^32)');
    op('vmacr', DL, RM, Y, V.Z, sh29, 'floor', 'wrap32');
    remark('rem / s');
    op('vadd', F, F, DL);
    op('vmul.vx', RM, F, negs);
    op('addi', R.T[2], s, -1);
    op('vbcast', SV, R.T[2]);
    op('vslt', DL, SV, RM);
    remark('rem >= s: one more');
    op('vslt', W, RM, V.Z);
    remark('rem < 0: one less');
    op('vadd', F, F, DL);
    op('vsub', F, F, W);
    return F;
  };

  const S4 = (row: number, fvec: string): void => {
    note(`S4 row ${row}: y = e16 f / 2^24${clamp ? ', min(y, 255)' : ''}${u8 ? ', store uint8' : ', store'}`);
    if (isFirstOfChunk(row)) liChunk(R.P4Y, row, 'ys', lpad * ob);
    if (clamp && newton) li(c255, 255);
    if (!plan.resident) li(R.T[0], B.es + (row % 3) * lpad * 2, 'es');
    // split: the set of row + 1 + lag (= j - 2, its S2b done this iteration); S2a of j - 1 holds the other set
    const tmp = setOf(row + 1 + lag);
    const Ys = merged ? [V.YS] : [...tmp.SH, ...tmp.RR, ...V.N, ...(plan.xResident ? [] : tmp.U)].filter((r) => r !== fvec);
    for (const [v0, gn] of groups()) {
      const Yg = Ys.slice(0, gn);
      let E: readonly string[];
      if (plan.resident) E = V.E[row % plan.eSets]!.slice(v0, v0 + gn);
      else {
        E = Ys.slice(gn, 2 * gn);
        E.forEach((x) => op('vld.s16', x, R.T[0], 2 * lanes));
      }
      E.forEach((x, i) => (newton
        ? op('vmacr', Yg[i]!, x, fvec, V.Z, R.SH24, 'floor', 'wrap32')
        : op('vmulr.vx', Yg[i]!, x, rf(row), R.SH24, 'floor', 'wrap32')));
      if (u8) {
        if (clamp) {
          Yg.forEach((y, i) => {
            op('vmin.vx', y, y, c255);
            if (!i) remark('p8 = min(p, 255): p = 256 only in a one-hot row');
          });
        }
        Yg.forEach((y) => op('vst.s8', y, R.P4Y, lanes));
      } else Yg.forEach((y) => op('vst.s16', y, R.P4Y, 2 * lanes));
    }
  };

  // ---------------- the row pipeline ----------------
  /** iterations from a row's S1 to its S3: 2, or 3 with the split exp stage */
  const d3 = split ? 3 : 2;
  const lastIter = rows + d3 - 1 + lag;
  const chunkOfRow = (row: number): number => Math.floor(row / Cr);
  /** Everything iteration j does, in program order. */
  /**
   * Merged stages (one-vector rows, split): S1(j), S2a(j-1), S2b(j-2), S4(j-3-lag); their scalar instructions (the
   * pointers, S2a's clamp bounds from the row max) first, the division of row j - 3, then the vector instructions in
   * the model's mergeOrder.
   */
  const mergedIteration = (j: number): void => {
    const r4 = j - 3 - lag;
    const parts = [
      j < rows ? capture(() => S1(j)) : [],
      j - 1 >= 0 && j - 1 < rows ? S2a(j - 1) : [],
      j - 2 >= 0 && j - 2 < rows ? S2b(j - 2) : [],
      r4 >= 0 && r4 < rows ? capture(() => S4(r4, '')) : [],
    ];
    const vec = parts.map((ls) => ls.filter(isVec));
    const { ops, stage } = stageOps.merged(j, mach, rows);
    vec.forEach((v, k) => {
      const want = stage.filter((x) => x === k).length;
      if (v.length !== want) throw new Error(`internal: merged softmax stage ${k} of iteration ${j} emits ${v.length} vector instructions, the model ${want}`);
    });
    if (ops.length > 0) note(`merged: ${[j - 1 >= 0 && j - 1 < rows ? `S2a row ${j - 1}` : '', j - 2 >= 0 && j - 2 < rows ? `S2b row ${j - 2}` : '', j < rows ? `S1 row ${j}` : '', r4 >= 0 && r4 < rows ? `S4 row ${r4}` : ''].filter((x) => x).join(', ')}`);
    for (const k of [0, 1, 3]) replay(parts[k]!.filter((l) => !isVec(l) && l.m !== ';'));
    // the division of row j - 3 before S2a's vector instruction DIV_AT_S2A (its sum was reduced early in the
    // iteration before; S4 reads f two iterations later), or after the vector instructions where S2a is absent
    const div = j - 3 >= 0 && j - 3 < rows;
    let divDone = false;
    const next = [0, 0, 0, 0];
    for (const k of stage) {
      if (k === 1 && next[1] === DIV_AT_S2A && div) {
        S3div(j - 3);
        divDone = true;
      }
      replay([vec[k]![next[k]!++]!]);
    }
    if (div && !divDone) S3div(j - 3);
  };

  /** At row j: the next chunk's load (at a chunk's first row), and the producer's part of it due at this row. */
  const feedNextChunk = (j: number): void => {
    if (j < rows && isFirstOfChunk(j) && chunkOfRow(j) + 1 < chunks) loadChunk(chunkOfRow(j) + 1);
    if (producer && j < rows && chunkOfRow(j) + 1 < chunks && producerParts(chunkRowsOf(chunkOfRow(j))) > 1) {
      const part = PRODUCER_SLOTS.indexOf(j - chunkStart(chunkOfRow(j)));
      if (part > 0) {
        const k = chunkOfRow(j) + 1;
        note(`produce chunk ${k}, part ${part + 1} of ${PRODUCER_PARTS}`);
        producer.produce(k, chunkStart(k), chunkRowsOf(k), B.xa + (k % 2) * Cr * lpad, lpad, sink, part, PRODUCER_PARTS);
      }
    }
  };

  const iteration = (j: number): void => {
    if (merged) {
      mergedIteration(j);
      feedNextChunk(j);
      const done = j - 3 - lag;
      if (done >= 0 && (done === rows - 1 || (done + 1) % Cr === 0)) storeChunk(chunkOfRow(done));
      return;
    }
    if (!plan.xResident && j < rows) S1(j);
    if (split) S2split(j - 1, j - 2);
    else if (j - 1 >= 0 && j - 1 < rows) S2(j - 1);
    feedNextChunk(j);
    if (plan.xResident && j < rows) S1(j);
    if (!newton) {
      if (j - d3 >= 0 && j - d3 < rows) S3div(j - d3);
      if (j - d3 - lag >= 0) S4(j - d3 - lag, '');
    } else {
      if (j - 2 >= 0 && j - 2 < rows) S3a(j - 2);
      if (j - 3 >= 0) S4(j - 3, S3b(j - 3));
    }
    const done = j - d3 - lag;
    if (done >= 0 && (done === rows - 1 || (done + 1) % Cr === 0)) storeChunk(chunkOfRow(done));
  };
  /** Iterations without resets or DMA, all stages active: they can run in the loop. */
  const steady = (j: number): boolean => {
    if (j < d3 + lag || j >= rows) return false;
    const done = j - d3 - lag;
    for (const row of [j, j - 1, done]) if (isFirstOfChunk(row)) return false;
    if (isFirstOfChunk(j)) return false;
    if ((done + 1) % Cr === 0) return false;
    return true;
  };

  /** Iterations j0 <= j < j1, runs of steady ones as inner loops of LOOP_ROWS rows. */
  const emitRange = (j0: number, j1: number): void => {
    for (let j = j0; j < j1;) {
      let run = 0;
      while (j + run < j1 && steady(j + run)) run++;
      const bodies = Math.floor(run / LOOP_ROWS);
      if (bodies >= 2) {
        const name = `rows_${j}`;
        note(`---- loop x${bodies}: rows ${j}..${j + bodies * LOOP_ROWS - 1} enter S1, ${LOOP_ROWS} per pass (row numbers below: the first pass) ----`);
        li(R.LOOP, bodies);
        e.label(name);
        for (let i = 0; i < LOOP_ROWS; i++) iteration(j + i);
        op('dbnz', R.LOOP, name);
        j += bodies * LOOP_ROWS;
        continue;
      }
      iteration(j);
      j++;
    }
  };

  note('---- start: first chunk ----');
  if (cse.mask === 'position') {
    li(R.LO, B.mp, 'mp');
    li(R.MC, B.mask, 'mask');
    [1, rowLen, lpad, rowLen].forEach((a, i) => li(R.T[i]!, a));
    op('dma.ld', 'spad', R.LO, R.MC, ...R.T);
  }
  loadChunk(0);
  // The outer loop runs over pairs of full chunks (2, 3), (4, 5), ... as long as the chunk after the pair is full:
  // one pass is 2 Cr iterations, identical from pass to pass (buffers alternate per chunk, register sets repeat
  // every LOOP_ROWS rows) except for the DRAM addresses, which come from the outer counter.
  // (with a producer every chunk is emitted in line: its instructions name the chunk's head and rows)
  const passes = producer ? 0 : plan.outerPasses;
  if (passes > 0) {
    const J0 = 2 * Cr;
    emitRange(0, J0);
    note(`==== outer loop x${passes}: chunks 2 + 2p and 3 + 2p per pass (row and chunk numbers below: the first pass) ====`);
    li(R.OUTER, passes);
    e.label('pairs');
    outer = { passes };
    emitRange(J0, J0 + 2 * Cr);
    outer = null;
    op('dbnz', R.OUTER, 'pairs');
    emitRange(J0 + 2 * Cr * passes, lastIter + 1);
  } else emitRange(0, lastIter + 1);
  op('halt');
  return emitted(e.finish(), { plan });
}

/** The n probabilities a softmax program stored in its buffer y: uint8 (probsU8) or int16 little-endian. */
export function readProbs(m: SimResult['machine'], y: ReturnType<typeof programBuffer>, n: number, probsU8: true): Uint8Array;
export function readProbs(m: SimResult['machine'], y: ReturnType<typeof programBuffer>, n: number, probsU8: false): Int16Array;
export function readProbs(m: SimResult['machine'], y: ReturnType<typeof programBuffer>, n: number, probsU8: boolean): Uint8Array | Int16Array;
export function readProbs(m: SimResult['machine'], y: ReturnType<typeof programBuffer>, n: number, probsU8: boolean): Uint8Array | Int16Array {
  const bytes = m.readBytes(y, n * (probsU8 ? 1 : 2));
  if (probsU8) return Uint8Array.from(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
  return out;
}

/** Runs a softmax case on the simulator (the lead's CLI entry: `intnpu kernel softmax --engine sim`). */
export function simCaseSoftmax(input: unknown, cfg: MachineConfig, opts: RunOptions = {}): CaseRun {
  return runSoftmaxCase(input, cfg, opts);
}

/** simCaseSoftmax with forced schedule choices (tests, what-if studies); the model prices the same plan. */
export function runSoftmaxCase(input: unknown, cfg: MachineConfig, opts: RunOptions & { readonly build?: SoftmaxBuildOptions } = {}): CaseRun & { plan: SoftmaxPlan } {
  const cse = parseSoftmaxCase(input);
  const maskKind: SoftmaxMaskKind = cse.mask === undefined ? 'none' : cse.mask.length === cse.x.length && cse.rows > 1 ? 'element' : 'position';
  const built = buildSoftmax({ rows: cse.rows, rowLen: cse.rowLen, consts: cse.consts, mask: maskKind }, cfg, opts.build ?? {});
  const program = assembleBuilt(built, cfg);
  const m = machineFor(program, cfg, opts);
  const buf = (name: string) => programBuffer(program, name);
  m.writeBuffer(buf('x'), cse.x);
  if (cse.mask !== undefined) m.writeBuffer(buf('mask'), maskKind === 'position' ? cse.mask.subarray(0, cse.rowLen) : cse.mask);
  const sim = simulate(loadProgram(program.words, program), cfg, { machine: m, mode: opts.mode ?? 'full', trace: opts.trace ?? false });
  const p = built.plan;
  const y = Array.from(readProbs(sim.machine, programBuffer(program, 'y'), cse.x.length, p.probsU8));
  const model = softmaxModel(cse.rows, cse.rowLen, cfg, {
    mask: maskKind, variant: p.variant, reciprocal: p.reciprocal, chunkRows: p.chunkRows, xResident: p.xResident, probsU8: p.probsU8, recipLag: p.recipLag, splitExp: p.splitExp,
  });
  return {
    y_int: y, shape: cse.shape, cycles: sim.stats.cycles ?? 0, model_cycles: model.cycles, model_exact: model.exact, sim, program, plan: p,
  };
}
