// The timing model: a separate service that prices what sim/exec.ts executed. An in-order front end
// dispatches one instruction per cycle into per-unit queues; units start their queue heads in order
// as soon as the unit, the operands (hazards on scalar registers, vector registers and memory address
// ranges, tracked automatically between units) and, for DMA, the shared DRAM channel allow. Every
// constant it uses comes from the machine config; docs/TIMING.md defines each counter.
import { BY_OPCODE, ISA, UNITS } from '../isa/table.js';
import type { MachineConfig } from './config.js';
import { CLASS_INDEX, CLASS_NAMES, Effects, UNIT_INDEX } from './exec.js';
import { SPACE_NAMES } from './machine.js';

export const U_SCALAR = UNIT_INDEX.scalar;
export const U_MXU = UNIT_INDEX.mxu;
const C = CLASS_INDEX;

/** Why an instruction waited. Front-end causes delay dispatch; queue causes delay the start on its unit. */
export const STALL_CAUSES = ['queue_full', 'scalar_dependency', 'unit_busy', 'data_dependency', 'dram_channel', 'branch_penalty'] as const;
export type StallCause = (typeof STALL_CAUSES)[number];
const S_QUEUE = 0, S_SCALAR = 1, S_UNIT = 2, S_DATA = 3, S_DRAM = 4, S_BRANCH = 5;

/** Per-opcode facts the model needs, derived from the ISA table once. */
interface OpInfo {
  unit: number;
  cls: number;
  /** Scalar registers read or written at dispatch (field indices). */
  sregFields: number[];
  /** A field naming the low register of a 64-bit pair read at dispatch (its successor is read too); -1 none. */
  pairField: number;
}
const OP_INFO: ReadonlyArray<OpInfo | undefined> = (() => {
  const t: (OpInfo | undefined)[] = [];
  for (const d of ISA) {
    const sregFields: number[] = [];
    const reduceDest = d.timing === 'vpuReduce';
    d.fields.forEach((fd, i) => {
      // A reduction's destination is written late by the VPU (and a .w pair accumulated there with
      // forwarding): it is not a dispatch-time operand. Later readers and writers wait for it instead.
      if (fd.kind === 'sreg' && !(reduceDest && i === 0)) sregFields.push(i);
    });
    const pairField = d.mnemonic === 'div.w' || d.mnemonic === 'isqrt.w' ? 1 : -1;
    t[d.opcode] = { unit: UNIT_INDEX[d.unit], cls: CLASS_INDEX[d.timing], sregFields, pairField };
  }
  return t;
})();

/** One instruction's schedule (kept only when a trace is requested). */
export interface TraceEvent {
  readonly pc: number;
  readonly unit: number;
  readonly dispatch: number;
  readonly start: number;
  /** The unit (or its port) is free again. */
  readonly end: number;
  /** Results visible to other units. */
  readonly done: number;
  /** The stall cause that delayed it most, and the pc of the producer it waited for (-1 = none). */
  readonly cause: number;
  readonly waitedOn: number;
}

/**
 * The memory regions of one unit's instructions still in flight in one memory space (a later instruction of another
 * unit that touches one waits for it), as parallel typed arrays: PERF, no object per region of every instruction.
 * The unit and the space are the list's (TimingModel.pending holds one per pair), not stored per region. `seq`
 * numbers the regions of all lists in the order they were issued.
 */
class PendingRegions {
  n = 0;
  seq = new Float64Array(64);
  write = new Uint8Array(64);
  lo = new Float64Array(64);
  hi = new Float64Array(64);
  base = new Float64Array(64);
  rows = new Float64Array(64);
  len = new Float64Array(64);
  stride = new Float64Array(64);
  until = new Float64Array(64);
  pc = new Int32Array(64);

  push(seq: number, write: boolean, lo: number, hi: number, base: number, rows: number, len: number, stride: number, until: number, pc: number): void {
    if (this.n === this.pc.length) this.grow();
    const k = this.n++;
    this.seq[k] = seq;
    this.write[k] = write ? 1 : 0;
    this.lo[k] = lo;
    this.hi[k] = hi;
    this.base[k] = base;
    this.rows[k] = rows;
    this.len[k] = len;
    this.stride[k] = stride;
    this.until[k] = until;
    this.pc[k] = pc;
  }

  /** Keeps the regions still reserved after `now`, in order. */
  prune(now: number): void {
    let j = 0;
    for (let k = 0; k < this.n; k++) {
      if (!(this.until[k]! > now)) continue;
      if (j !== k) {
        this.seq[j] = this.seq[k]!;
        this.write[j] = this.write[k]!;
        this.lo[j] = this.lo[k]!;
        this.hi[j] = this.hi[k]!;
        this.base[j] = this.base[k]!;
        this.rows[j] = this.rows[k]!;
        this.len[j] = this.len[k]!;
        this.stride[j] = this.stride[k]!;
        this.until[j] = this.until[k]!;
        this.pc[j] = this.pc[k]!;
      }
      j++;
    }
    this.n = j;
  }

  /** Exact overlap of region k with a strided region when the strides agree and rows do not wrap; else by bounds. */
  overlaps(k: number, base: number, rows: number, len: number, stride: number, lo: number, hi: number): boolean {
    if (hi <= this.lo[k]! || this.hi[k]! <= lo) return false;
    const pRows = this.rows[k]!;
    if (rows <= 1 && pRows <= 1) return true;
    const s = stride;
    if (s !== this.stride[k]! || s <= 0) return true;
    const pBase = this.base[k]!, pLen = this.len[k]!;
    const r1 = Math.floor(base / s), c1 = base - r1 * s;
    const r2 = Math.floor(pBase / s), c2 = pBase - r2 * s;
    if (c1 + len > s || c2 + pLen > s) return true;
    const rowsMeet = r1 < r2 + pRows && r2 < r1 + rows;
    const colsMeet = c1 < c2 + pLen && c2 < c1 + len;
    return rowsMeet && colsMeet;
  }

  private grow(): void {
    const g = <T extends Int32Array | Uint8Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.seq = g(this.seq);
    this.write = g(this.write);
    this.lo = g(this.lo);
    this.hi = g(this.hi);
    this.base = g(this.base);
    this.rows = g(this.rows);
    this.len = g(this.len);
    this.stride = g(this.stride);
    this.until = g(this.until);
    this.pc = g(this.pc);
  }
}

/** Busy intervals of the DRAM channel, for first-fit reservation by readiness. */
class Calendar {
  private starts: number[] = [];
  private ends: number[] = [];
  reserve(ready: number, length: number): number {
    if (length <= 0) return ready;
    let t = ready;
    let i = 0;
    const s = this.starts, e = this.ends;
    while (i < s.length && e[i]! <= t) i++;
    while (i < s.length && s[i]! < t + length) {
      if (e[i]! > t) t = e[i]!;
      i++;
    }
    s.splice(i, 0, t);
    e.splice(i, 0, t + length);
    return t;
  }
  prune(before: number): void {
    let k = 0;
    while (k < this.ends.length && this.ends[k]! <= before) k++;
    if (k > 0) {
      this.starts.splice(0, k);
      this.ends.splice(0, k);
    }
  }
}

export interface TimingTotals {
  cycles: number;
  busy: Float64Array;
  stalls: Float64Array;
  instructions: Float64Array;
  dramChannelBusy: number;
  /**
   * Cycles from the program's first dispatch to its last result. Equal to `cycles` for a program run on its own;
   * in a chained run (begin) `cycles` is what the program adds to the chain's end and `span` its own extent, which
   * overlaps its neighbours'.
   */
  span: number;
}

/** The state a chained program's figures are measured from (TimingModel.begin). */
interface ProgramBase {
  end: number;
  firstDispatch: number;
  busy: Float64Array;
  stalls: Float64Array;
  instructions: Float64Array;
  dramChannelBusy: number;
}

export class TimingModel {
  private readonly cfg: MachineConfig;
  private feNext = 0;
  private endCycle = 0;
  private readonly lastStart = new Float64Array(UNITS.length);
  /** Port free times: one per unit, plus the MXU weight-load port at index UNITS.length. */
  private readonly portFree = new Float64Array(UNITS.length + 1);
  /**
   * Per unit, the start cycles of its last Q instructions as a ring (unit u's slots at u*Q..u*Q+Q-1), the next slot to
   * overwrite (the oldest, PERF: an int32 index kept wrapped instead of count % Q, a float modulo per instruction), and
   * how many instructions the unit has had.
   */
  private readonly qRing: Float64Array;
  private readonly qPos = new Int32Array(UNITS.length);
  private readonly qCount = new Float64Array(UNITS.length);
  /** Result latency by timing class for the VPU classes (1 for the others; see latencyOf). */
  private readonly latency: Float64Array;
  private readonly sregReady = new Float64Array(32);
  private readonly vregReady = new Float64Array(32);
  private readonly vregProducer = new Int32Array(32).fill(-1);
  private readonly sregProducer = new Int32Array(32).fill(-1);
  /**
   * In-flight regions per memory space (dram, spad, acc) and unit, at space * UNITS.length + unit: a region only meets
   * regions of its own space and other units (PERF: a VPU load scans the MXU's and DMA's writes to the accumulators,
   * not the dozens of its own loads in flight).
   */
  private readonly pending: readonly PendingRegions[] = Array.from({ length: 3 * UNITS.length }, () => new PendingRegions());
  /** Regions issued so far: their order across the lists (the first of equally late producers is the one waited on). */
  private regionSeq = 0;
  private readonly channel = new Calendar();
  private readonly wbufReady = new Float64Array(2);
  private readonly wbufFree = new Float64Array(2);
  private readonly wbufProducer = new Int32Array(2).fill(-1);
  private sincePrune = 0;
  readonly totals: TimingTotals;
  /**
   * Per-pc stall cycles by cause (pc * causes + cause), for "which instruction waited on what": of the program being
   * run (a chained run's begin starts them again for the next program).
   */
  pcStalls: Float64Array;
  /** Per pc: the producer pc it most recently waited for on a data dependency. */
  pcWaitedOn: Int32Array;
  private base: ProgramBase | undefined;
  /** The next program (begin) dispatches only after every result so far has landed (a chain's drain). */
  drainBeforeNext = false;
  readonly trace: TraceEvent[] | undefined;
  private readonly Q: number;
  private readonly penalty: number;

  constructor(cfg: MachineConfig, programLength: number, withTrace: boolean) {
    this.cfg = cfg;
    this.Q = cfg.frontend.queueDepth;
    this.penalty = cfg.frontend.takenBranchPenaltyCycles;
    this.qRing = new Float64Array(UNITS.length * this.Q);
    this.latency = Float64Array.from(CLASS_NAMES, (_, cls) => this.latencyOf(cls));
    this.totals = {
      cycles: 0,
      busy: new Float64Array(UNITS.length),
      stalls: new Float64Array(STALL_CAUSES.length),
      instructions: new Float64Array(UNITS.length),
      dramChannelBusy: 0,
      span: 0,
    };
    this.pcStalls = new Float64Array(Math.max(1, programLength) * STALL_CAUSES.length);
    this.pcWaitedOn = new Int32Array(Math.max(1, programLength)).fill(-1);
    this.trace = withTrace ? [] : undefined;
  }

  /** The cycle at which the next instruction could dispatch (for the runaway guard). */
  get now(): number {
    return this.feNext;
  }

  /** The cycle the run would end at if it stopped now: the last result or the next dispatch. */
  get end(): number {
    return Math.max(this.endCycle, this.feNext);
  }

  account(pc: number, opcode: number, fields: Int32Array, fo: number, e: Effects): void {
    const info = OP_INFO[opcode]!;
    const u = info.unit;
    const T = this.totals;
    this.stallBase = pc * STALL_CAUSES.length;
    this.worst = -1;
    this.worstCycles = 0;
    let waitedOn = -1;

    // ---- front end: dispatch ----
    let d = this.feNext;
    if (u !== U_SCALAR && this.qCount[u]! >= this.Q) {
      const slot = this.qRing[u * this.Q + this.qPos[u]!]!; // start of the instruction Q places earlier
      if (slot > d) {
        this.charge(S_QUEUE, slot - d);
        d = slot;
      }
    }
    let sregWait = d;
    let sregFrom = -1;
    const sf = info.sregFields;
    for (let j = 0; j < sf.length; j++) {
      const r = fields[fo + sf[j]!]!;
      if (this.sregReady[r]! > sregWait) {
        sregWait = this.sregReady[r]!;
        sregFrom = this.sregProducer[r]!;
      }
    }
    if (info.pairField >= 0) {
      const r = fields[fo + info.pairField]! + 1;
      if (r < 32 && this.sregReady[r]! > sregWait) {
        sregWait = this.sregReady[r]!;
        sregFrom = this.sregProducer[r]!;
      }
    }
    if (sregWait > d) {
      this.charge(S_SCALAR, sregWait - d);
      waitedOn = sregFrom;
      d = sregWait;
    }
    const dispatch = d;
    T.instructions[u] = T.instructions[u]! + 1;

    let start: number, end: number, done: number;
    if (u === U_SCALAR) {
      start = dispatch;
      end = done = dispatch + 1;
      T.busy[u] = T.busy[u]! + 1;
      this.feNext = dispatch + 1;
      if (e.taken && this.penalty > 0) {
        this.feNext += this.penalty;
        this.charge(S_BRANCH, this.penalty);
      }
    } else {
      this.feNext = dispatch + 1;
      const cls = info.cls;
      const port = cls === C.mxuWeights ? UNITS.length : u;
      const ready0 = Math.max(dispatch + 1, this.lastStart[u]!);
      const unitReady = Math.max(ready0, this.portFree[port]!);
      if (unitReady > ready0) this.charge(S_UNIT, unitReady - ready0);

      // Operands produced by other units.
      let dep = unitReady;
      let depFrom = -1;
      for (let i = 0; i < e.nVregReads; i++) {
        const v = e.vregReads[i]!;
        if (this.vregReady[v]! > dep) {
          dep = this.vregReady[v]!;
          depFrom = this.vregProducer[v]!;
        }
      }
      if (e.vregWrite >= 0 && this.vregReady[e.vregWrite]! > dep + this.latency[cls]! - 1) {
        // WAW: the new value must land after the old one.
        dep = this.vregReady[e.vregWrite]! - this.latency[cls]! + 1;
        depFrom = this.vregProducer[e.vregWrite]!;
      }
      if (cls === C.mxuStream && this.wbufReady[e.wbuf]! > dep) {
        dep = this.wbufReady[e.wbuf]!;
        depFrom = this.wbufProducer[e.wbuf]!;
      }
      if (cls === C.mxuWeights && this.wbufFree[e.wbuf]! > dep) dep = this.wbufFree[e.wbuf]!;
      for (let i = 0; i < e.nRegions; i++) {
        const space = e.rSpace[i]!, write = e.rWrite[i] === 1;
        const base = e.rBase[i]!, rows = e.rRows[i]!, len = e.rLen[i]!, stride = e.rStride[i]!;
        if (rows <= 0 || len <= 0) continue;
        const last = base + (rows - 1) * stride;
        const lo = last < base ? last : base, hi = (last < base ? base : last) + len;
        // The latest overlapping producer; of equally late ones the first issued (as a scan in issue order finds it).
        let best = dep, bestSeq = -1, bestPc = -1; // only producers later than dep count
        for (let v = 0; v < UNITS.length; v++) {
          if (v === u) continue;
          const P = this.pending[space * UNITS.length + v]!;
          for (let k = 0; k < P.n; k++) {
            if (!write && P.write[k] === 0) continue;
            const until = P.until[k]!;
            if ((until > best || (until === best && P.seq[k]! < bestSeq)) && P.overlaps(k, base, rows, len, stride, lo, hi)) {
              best = until;
              bestSeq = P.seq[k]!;
              bestPc = P.pc[k]!;
            }
          }
        }
        if (best > dep) {
          dep = best;
          depFrom = bestPc;
        }
      }
      if (dep > unitReady) {
        this.charge(S_DATA, dep - unitReady);
        waitedOn = depFrom;
      }

      // Occupancy and latency by timing class.
      let occupancy: number;
      let latency: number;
      start = dep;
      if (cls === C.dma) {
        const xfer = Math.ceil(e.amount / this.cfg.dram.bytesPerCycle);
        start = this.channel.reserve(dep, xfer);
        if (start > dep) this.charge(S_DRAM, start - dep);
        occupancy = Math.max(1, xfer);
        latency = xfer === 0 ? occupancy : xfer + this.cfg.dram.latencyCycles;
        T.dramChannelBusy += xfer;
      } else if (cls === C.mxuStream) {
        occupancy = Math.max(1, e.amount);
        latency = occupancy - 1 + this.cfg.mxu.rows + this.cfg.mxu.cols;
      } else if (cls === C.mxuWeights) {
        occupancy = e.amount;
        latency = occupancy;
      } else if (cls === C.divide || cls === C.sqrt) {
        // The divider is busy for its initiation interval (the latency for the default iterative divider, which is
        // busy until its result is ready; less for a pipelined one) and writes its result after its latency.
        const dv = this.cfg.divider;
        latency = cls === C.divide ? dv.divLatencyCycles : dv.sqrtLatencyCycles;
        occupancy = (cls === C.divide ? dv.divIntervalCycles : dv.sqrtIntervalCycles) ?? latency;
      } else {
        occupancy = 1;
        latency = this.latency[cls]!;
      }
      end = start + occupancy;
      done = start + latency;
      this.portFree[port] = end;
      this.lastStart[u] = start;
      T.busy[u] = T.busy[u]! + (cls === C.mxuWeights ? 0 : occupancy);
      const qp = this.qPos[u]!;
      this.qRing[u * this.Q + qp] = start;
      this.qPos[u] = qp + 1 === this.Q ? 0 : qp + 1;
      this.qCount[u] = this.qCount[u]! + 1;

      // Results and reservations other instructions will check.
      if (e.vregWrite >= 0) {
        this.vregReady[e.vregWrite] = done;
        this.vregProducer[e.vregWrite] = pc;
      }
      if (e.sregLate >= 0) {
        this.sregReady[e.sregLate] = done;
        this.sregProducer[e.sregLate] = pc;
      }
      if (e.sregLate2 >= 0) {
        this.sregReady[e.sregLate2] = done;
        this.sregProducer[e.sregLate2] = pc;
      }
      if (cls === C.mxuWeights) {
        this.wbufReady[e.wbuf] = done;
        this.wbufProducer[e.wbuf] = pc;
      } else if (cls === C.mxuStream) {
        this.wbufFree[e.wbuf] = Math.max(this.wbufFree[e.wbuf]!, end);
      }
      for (let i = 0; i < e.nRegions; i++) {
        const base = e.rBase[i]!, rows = e.rRows[i]!, len = e.rLen[i]!, stride = e.rStride[i]!;
        if (rows <= 0 || len <= 0) continue;
        const last = base + (rows - 1) * stride;
        const lo = last < base ? last : base, hi = (last < base ? base : last) + len;
        const write = e.rWrite[i] === 1;
        const space = e.rSpace[i]!;
        this.pending[space * UNITS.length + u]!.push(this.regionSeq++, write, lo, hi, base, rows, len, stride, write ? done : end, pc);
      }
      if (++this.sincePrune >= 64) this.prune();
    }
    if (this.worst >= 0) this.pcWaitedOn[pc] = waitedOn;
    if (done > this.endCycle) this.endCycle = done;
    this.trace?.push({ pc, unit: u, dispatch, start, end, done, cause: this.worst, waitedOn });
  }

  // Stall attribution state of the instruction being accounted (fields, not a closure per call).
  private stallBase = 0;
  private worst = -1;
  private worstCycles = 0;
  private charge(cause: number, cycles: number): void {
    if (cycles <= 0) return;
    const T = this.totals;
    T.stalls[cause] = T.stalls[cause]! + cycles;
    this.pcStalls[this.stallBase + cause] = this.pcStalls[this.stallBase + cause]! + cycles;
    if (cycles > this.worstCycles) {
      this.worstCycles = cycles;
      this.worst = cause;
    }
  }

  private latencyOf(cls: number): number {
    const v = this.cfg.vpu;
    if (cls === C.vpuMul) return v.mulLatencyCycles;
    if (cls === C.vpuLoad) return v.loadLatencyCycles;
    if (cls === C.vpuAlu) return v.aluLatencyCycles;
    if (cls === C.vpuReduce) return v.reduceLatencyCycles;
    return 1;
  }

  private prune(): void {
    this.sincePrune = 0;
    const now = this.feNext;
    for (const P of this.pending) P.prune(now);
    this.channel.prune(now);
  }

  /**
   * Continues this clock with the next program of a chain: its first instruction dispatches the cycle after the
   * previous program's last, every hazard with the previous programs' work in flight (registers, memory ranges,
   * weight buffers, the DRAM channel, queue slots) still applies, and `finish` then reports the new program's figures
   * from here: the cycles it adds to the chain's end, its span and its own busy cycles, stalls and instructions.
   */
  begin(programLength: number): void {
    if (this.drainBeforeNext) {
      this.feNext = Math.max(this.feNext, this.endCycle);
      this.drainBeforeNext = false;
    }
    const T = this.totals;
    this.base = {
      end: this.end, firstDispatch: this.feNext, busy: T.busy.slice(), stalls: T.stalls.slice(),
      instructions: T.instructions.slice(), dramChannelBusy: T.dramChannelBusy,
    };
    // PERF: the next program's per-pc tables reuse the previous one's memory, cleared, when it is large enough: a fresh
    // table per program of a chain (megabytes for an unrolled layer program) cost a page fault per 4 KiB on first touch.
    // The previous program's tables are not readable after this anyway (they are this model's, now the next program's).
    const nStalls = Math.max(1, programLength) * STALL_CAUSES.length, nPcs = Math.max(1, programLength);
    const stalls = this.pcStalls.buffer.byteLength >= nStalls * 8 ? new Float64Array(this.pcStalls.buffer, 0, nStalls).fill(0) : new Float64Array(nStalls);
    const waited = this.pcWaitedOn.buffer.byteLength >= nPcs * 4 ? new Int32Array(this.pcWaitedOn.buffer, 0, nPcs) : new Int32Array(nPcs);
    this.pcStalls = stalls;
    this.pcWaitedOn = waited.fill(-1);
  }

  /** Total cycles: the last result, or the cycle after the final dispatch if that is later (chained: see begin). */
  finish(): TimingTotals {
    const end = this.end;
    const b = this.base;
    if (b === undefined) {
      this.totals.cycles = end;
      this.totals.span = end;
      return this.totals;
    }
    const T = this.totals;
    const minus = (a: Float64Array, z: Float64Array): Float64Array => a.map((v, i) => v - z[i]!);
    return {
      cycles: end - b.end, span: end - b.firstDispatch, busy: minus(T.busy, b.busy), stalls: minus(T.stalls, b.stalls),
      instructions: minus(T.instructions, b.instructions), dramChannelBusy: T.dramChannelBusy - b.dramChannelBusy,
    };
  }
}

export { CLASS_NAMES, SPACE_NAMES, BY_OPCODE };
