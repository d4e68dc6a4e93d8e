// The run loop: decode once, then fetch, execute (sim/exec.ts) and price (sim/timing.ts) each
// instruction in program order. Faults stop the run with pc, disassembled instruction, cycle and
// source line. Modes: full (data + timing), timing-only (no data), functional-only (no timing).
import type { BufferSymbol, Program } from '../isa/asm.js';
import { formatInstr } from '../isa/disasm.js';
import { decodeProgram } from '../isa/encoding.js';
import { FIELD_SLOTS as EMIT_FIELD_SLOTS, predecoded } from '../isa/emit.js';
import { BY_OPCODE, UNITS } from '../isa/table.js';
import type { MachineConfig } from './config.js';
import { CLASS_INDEX, Effects, SEMANTICS_BY_OPCODE } from './exec.js';
import { Fault, Machine, SPACE_ACC, SPACE_DRAM, SPACE_NAMES } from './machine.js';

const SPACE_INDEX = { dram: SPACE_DRAM, spad: 1, acc: SPACE_ACC } as const;
import { STALL_CAUSES, TimingModel, type TimingTotals, type TraceEvent } from './timing.js';

export const FIELD_SLOTS = EMIT_FIELD_SLOTS;

/** A program decoded for execution: the opcode of each pc, and where its up to 8 field values start in `fields`. */
export interface LoadedProgram {
  readonly n: number;
  readonly opc: Uint8Array;
  readonly fields: Int32Array;
  /** pc's field values are fields[fieldAt[pc] ..] (one row per distinct word for decoded words, per pc for emitted ones) */
  readonly fieldAt: Int32Array;
  readonly decodeErrors: ReadonlyMap<number, string>;
  readonly source?: Program;
}

export function loadProgram(words: Uint32Array, source?: Program): LoadedProgram {
  const n = words.length >> 1;
  // words from the typed emitter come decoded already (read-only, like the words)
  const pre = predecoded(words);
  if (pre !== undefined) {
    const decodeErrors = new Map<number, string>();
    const fieldAt = new Int32Array(n);
    for (let pc = 0; pc < n; pc++) fieldAt[pc] = pc * FIELD_SLOTS;
    const p = { n, opc: pre.opc, fields: pre.fields, fieldAt, decodeErrors };
    return source ? { ...p, source } : p;
  }
  const d = decodeProgram(words, FIELD_SLOTS);
  const p = { n, opc: d.opc, fields: d.fields, fieldAt: d.fieldAt, decodeErrors: d.errors };
  return source ? { ...p, source } : p;
}

export class SimFault extends Error {
  override readonly name = 'SimFault';
  readonly exitCode = 1;
  readonly kind: string;
  readonly pc: number;
  readonly instruction: string;
  readonly cycle: number;
  readonly line: number | undefined;
  constructor(kind: string, detail: string, pc: number, instruction: string, cycle: number, prog: LoadedProgram) {
    const src = prog.source;
    const line = src && pc >= 0 && pc < src.lines.length ? src.lines[pc] : undefined;
    const where = src && line !== undefined ? `${src.file}:${line}: ` : '';
    const text = src && line !== undefined ? `\n${line} | ${src.sourceLines[line - 1] ?? ''}` : '';
    super(`${where}fault[${kind}] at pc ${pc}, cycle ${cycle}: ${instruction}: ${detail}${text}`);
    this.kind = kind;
    this.pc = pc;
    this.instruction = instruction;
    this.cycle = cycle;
    this.line = line;
  }
}

/** Per opcode: 0 no lane arithmetic, 1 VPU lane op, 2 VPU multiply lane op (for the energy estimate). */
const LANE_OP_KIND: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const [op, def] of BY_OPCODE) {
    if (def.unit !== 'vpu' || def.timing === 'vpuLoad' || def.timing === 'vpuStore') continue;
    t[op] = CLASS_INDEX[def.timing] === CLASS_INDEX.vpuMul ? 2 : 1;
  }
  return t;
})();

export type SimMode = 'full' | 'timing' | 'functional';

export interface SimOptions {
  readonly mode?: SimMode;
  readonly trace?: boolean;
  /** A machine prepared by the host (inputs written); a fresh one otherwise. */
  readonly machine?: Machine;
  /**
   * Buffer-bounds check for kernel authors: a DMA, MXU or vector access that starts inside a `.buffer`
   * of the program and leaves it faults (kind `buffer-overrun`). Accesses starting outside every
   * buffer are not checked. Needs the program's symbols (a Program source).
   */
  readonly checkBuffers?: boolean;
}

export interface SimStats {
  cycles: number | null;
  seconds: number | null;
  instructions: number;
  instructions_by_unit: Record<string, number>;
  instructions_by_mnemonic: Record<string, number>;
  busy_cycles: Record<string, number> | null;
  utilization: Record<string, number> | null;
  stall_cycles: Record<string, number> | null;
  macs: number;
  mxu_utilization: number | null;
  dram_bytes: number;
  dram_read_bytes: number;
  dram_write_bytes: number;
  dram_channel_utilization: number | null;
  sram_bytes: number;
  vpu_lane_ops: number;
  energy_pj: { mac: number; dram: number; sram: number; vpu: number; total: number };
  /**
   * A chained program (sim/chain.ts): cycles from its first dispatch to its last result, over which the
   * utilizations are taken; `cycles` is then what it added to the chain's end. Absent for a program run alone.
   */
  span_cycles?: number;
}

export interface SimResult {
  readonly machine: Machine;
  readonly stats: SimStats;
  readonly timing: TimingModel | undefined;
  readonly trace: TraceEvent[] | undefined;
}

export function instrText(prog: LoadedProgram, pc: number): string {
  if (pc < 0 || pc >= prog.n) return '<no instruction>';
  const def = BY_OPCODE.get(prog.opc[pc]!);
  if (!def) return `<undecodable word: ${prog.decodeErrors.get(pc) ?? 'unknown'}>`;
  const at = prog.fieldAt[pc]!;
  const vals = Array.from(prog.fields.subarray(at, at + def.fields.length));
  return formatInstr(def, vals, pc);
}

/**
 * One run of a program, instruction by instruction: `step()` executes (sim/exec.ts) and prices
 * (sim/timing.ts) the instruction at `pc`. `simulate` runs it to the end; the debugger steps it.
 */
export class Simulation {
  readonly machine: Machine;
  readonly timing: TimingModel | undefined;
  readonly prog: LoadedProgram;
  /** The next instruction to execute; `finished` once the program halted or ran off its end. */
  pc = 0;
  executed = 0;
  finished = false;
  private readonly cfg: MachineConfig;
  private readonly data: boolean;
  private readonly e = new Effects();
  private readonly perOpcode = new Float64Array(256);
  /** Per space (dram, spad, acc): the program's buffers, for checkBuffers. */
  private readonly bufferTable: ReadonlyArray<readonly BufferSymbol[]> | undefined;
  private macs = 0;
  private dramRead = 0;
  private dramWrite = 0;
  private sramBytes = 0;
  private laneOps = 0;
  private mulLaneOps = 0;

  constructor(prog: LoadedProgram, cfg: MachineConfig, opts: SimOptions = {}) {
    const mode = opts.mode ?? 'full';
    this.prog = prog;
    this.cfg = cfg;
    this.machine = opts.machine ?? new Machine(cfg);
    const chained = this.machine.continueTiming;
    if (chained !== undefined && (mode === 'functional' || opts.trace === true)) throw new Error('a chained run is priced in full or timing mode, without a trace');
    if (chained !== undefined) chained.begin(prog.n);
    this.timing = mode === 'functional' ? undefined : chained ?? new TimingModel(cfg, prog.n, opts.trace === true);
    this.data = mode !== 'timing';
    if (opts.checkBuffers && prog.source) {
      const bySpace: BufferSymbol[][] = [[], [], []];
      for (const b of prog.source.buffers.values()) bySpace[SPACE_INDEX[b.space]]!.push(b);
      this.bufferTable = bySpace;
    }
  }

  /** The buffer-bounds check (checkBuffers): every region of this instruction stays in its buffer. */
  private checkRegions(pc: number): void {
    const e = this.e;
    for (let i = 0; i < e.nRegions; i++) {
      const rows = e.rRows[i]!, len = e.rLen[i]!;
      if (rows === 0 || len === 0) continue;
      const base = e.rBase[i]!, stride = e.rStride[i]!, space = e.rSpace[i]!;
      const last = base + (rows - 1) * stride;
      const lo = Math.min(base, last), hi = Math.max(base, last) + len;
      const buf = this.bufferTable![space]!.find((b) => base >= b.address && base < b.address + b.size);
      if (!buf || (lo >= buf.address && hi <= buf.address + buf.size)) continue;
      const unit = space === SPACE_ACC ? 'words' : 'bytes';
      throw this.fault(
        'buffer-overrun',
        `${e.rWrite[i] ? 'write' : 'read'} of ${SPACE_NAMES[space]} [${lo}, ${hi}) ${unit} starts in buffer '${buf.name}' [${buf.address}, ${buf.address + buf.size}) and leaves it (--check-buffers)`,
        pc,
      );
    }
  }

  private fault(kind: string, detail: string, at: number): SimFault {
    return new SimFault(kind, detail, at, instrText(this.prog, at), this.timing ? this.timing.now : 0, this.prog);
  }

  /** Executes one instruction; returns false once the program has ended. Faults throw SimFault. */
  step(): boolean {
    if (this.finished) return false;
    const { n, opc, fields, fieldAt } = this.prog;
    const pc = this.pc;
    if (pc === n) {
      this.finished = true; // running off the end is an implicit halt
      return false;
    }
    if (pc < 0 || pc > n) throw this.fault('pc-out-of-range', `jumped to pc ${pc}, outside the program (0..${n})`, pc);
    const op = opc[pc]!;
    const sem = SEMANTICS_BY_OPCODE[op];
    if (!sem) throw this.fault('bad-encoding', this.prog.decodeErrors.get(pc) ?? `opcode ${op} has no semantics`, pc);
    const e = this.e;
    e.reset();
    const fo = fieldAt[pc]!;
    let next: number;
    try {
      next = sem(this.machine, fields, fo, pc, e, this.data);
    } catch (err) {
      if (err instanceof Fault) throw this.fault(err.kind, err.message, pc);
      throw err;
    }
    if (this.bufferTable) this.checkRegions(pc);
    this.timing?.account(pc, op, fields, fo, e);
    // The budget holds for the run's end, not only for dispatch: an instruction whose results land
    // past it (or a final halt after it) faults here, at the instruction that crossed it.
    if (this.timing && this.timing.end > this.cfg.limits.maxCycles) {
      throw this.fault('runaway', `the run reaches cycle ${this.timing.end}, past the cycle budget of ${this.cfg.limits.maxCycles} (limits.maxCycles)`, pc);
    }
    this.perOpcode[op] = this.perOpcode[op]! + 1;
    this.executed++;
    this.macs += e.macs;
    if (e.dramBytes > 0) {
      // The DRAM region is the one in space 0: read by dma.ld, written by dma.st.
      for (let i = 0; i < e.nRegions; i++) if (e.rSpace[i] === SPACE_DRAM) {
        if (e.rWrite[i] === 1) this.dramWrite += e.dramBytes;
        else this.dramRead += e.dramBytes;
      }
    }
    for (let i = 0; i < e.nRegions; i++) {
      const sp = e.rSpace[i]!;
      if (sp !== SPACE_DRAM) this.sramBytes += e.rRows[i]! * e.rLen[i]! * (sp === SPACE_ACC ? 4 : 1);
    }
    const lane = LANE_OP_KIND[op]!;
    if (lane === 1) this.laneOps += e.amount;
    else if (lane === 2) this.mulLaneOps += e.amount;
    if (e.halt) {
      this.finished = true;
      return false;
    }
    const limits = this.cfg.limits;
    if (this.executed >= limits.maxInstructions) throw this.fault('runaway', `executed ${this.executed} instructions, the limit (limits.maxInstructions); missing halt or endless loop?`, next);
    this.pc = next;
    return true;
  }

  /** The stats of the run so far (call after it finished for the final figures). */
  result(): SimResult {
    const { cfg, timing, perOpcode, macs, dramRead, dramWrite, sramBytes, laneOps, mulLaneOps } = this;
    const m = this.machine;
    const executed = this.executed;
    const totals: TimingTotals | undefined = timing?.finish();
    const cycles = totals ? totals.cycles : null;
    const byUnit: Record<string, number> = {};
    const byMnemonic: Record<string, number> = {};
    for (let op = 0; op < 256; op++) {
      const c = perOpcode[op]!;
      if (c === 0) continue;
      const def = BY_OPCODE.get(op)!;
      byMnemonic[def.mnemonic] = c;
      byUnit[def.unit] = (byUnit[def.unit] ?? 0) + c;
    }
    const unitRecord = (arr: Float64Array, f: (v: number) => number): Record<string, number> =>
      Object.fromEntries(UNITS.map((u, i) => [u, f(arr[i]!)]));
    const en = cfg.energy;
    const energy = {
      mac: macs * en.pjPerMac,
      dram: (dramRead + dramWrite) * en.pjPerDramByte,
      sram: sramBytes * en.pjPerSramByte,
      vpu: laneOps * en.pjPerVpuLaneOp + mulLaneOps * en.pjPerVpuMulLaneOp,
      total: 0,
    };
    energy.total = energy.mac + energy.dram + energy.sram + energy.vpu;
    const stats: SimStats = {
      cycles,
      seconds: cycles === null ? null : cycles / (cfg.clockGHz * 1e9),
      instructions: executed,
      instructions_by_unit: byUnit,
      instructions_by_mnemonic: byMnemonic,
      busy_cycles: totals ? unitRecord(totals.busy, (v) => v) : null,
      utilization: totals && totals.span ? unitRecord(totals.busy, (v) => v / totals.span) : null,
      stall_cycles: totals ? Object.fromEntries(STALL_CAUSES.map((c, i) => [c, totals.stalls[i]!])) : null,
      macs,
      mxu_utilization: totals && totals.span ? macs / (totals.span * cfg.mxu.rows * cfg.mxu.cols) : null,
      dram_bytes: dramRead + dramWrite,
      dram_read_bytes: dramRead,
      dram_write_bytes: dramWrite,
      dram_channel_utilization: totals && totals.span ? totals.dramChannelBusy / totals.span : null,
      sram_bytes: sramBytes,
      vpu_lane_ops: laneOps + mulLaneOps,
      energy_pj: energy,
      ...(totals && totals.span !== totals.cycles ? { span_cycles: totals.span } : {}),
    };
    return { machine: m, stats, timing, trace: timing?.trace };
  }
}

export function simulate(prog: LoadedProgram, cfg: MachineConfig, opts: SimOptions = {}): SimResult {
  const sim = new Simulation(prog, cfg, opts);
  while (sim.step());
  return sim.result();
}
