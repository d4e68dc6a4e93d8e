// Chained runs: the kernel programs of a layer priced as one instruction stream. Each program is built on its
// own (its DRAM buffers addressed from 0), and the chain does what a loader does with a relocation table: it binds
// every DRAM buffer of the next program to an address of one shared machine, either a fresh region (weights,
// constants, outputs) or the bytes an earlier program of the chain wrote (a tensor it named). The programs then
// run on that machine one after another, and the timing model carries on from one to the next: the next
// program's first instruction dispatches the cycle after the previous one's last, while that one's stores and
// computation are still in flight, and every hazard between them (memory ranges in DRAM, scratchpad and
// accumulator; registers; the MXU weight buffers; the DRAM channel; queue slots) is tracked as within a program.
// So a consumer's loads wait exactly for the producer's stores of the bytes they read, and no longer.
import type { Program } from '../isa/asm.js';
import type { MachineConfig } from './config.js';
import { Machine, type DramSegment } from './machine.js';
import { TimingModel } from './timing.js';

/** One input buffer bound to (part of) a tensor an earlier program of the chain wrote. */
export interface ChainInput {
  readonly tensor: string;
  /** Byte offset into the tensor (default 0). */
  readonly offset?: number;
}

/** How a program joins the chain: which of its DRAM buffers read earlier tensors, which it names for later ones. */
export interface ChainLink {
  readonly chain: SimChain;
  /** Input buffer name -> the tensor (or part of it) an earlier program wrote; the host does not write these. */
  readonly inputs?: Readonly<Record<string, string | ChainInput>>;
  /** Output buffer name -> the tensor name later programs read it by. */
  readonly outputs?: Readonly<Record<string, string>>;
  /**
   * The program starts once everything before it in the chain has finished: for a program whose inputs the host
   * prepared (a dependence the chain cannot see), so nothing of it runs ahead of the data it stands for.
   */
  readonly drain?: boolean;
}

/** The chained programs' buffers do not fit the machine's DRAM (every program's weights, constants and tensors stay there). */
export class ChainCapacityError extends Error {
  override readonly name = 'ChainCapacityError';
  readonly exitCode = 1;
}

/** DRAM placement granule of the chain's fresh regions (a DRAM burst / cache line). */
const ALIGN = 64;

export class SimChain {
  readonly machine: Machine;
  private readonly timing: TimingModel;
  private top = 0;
  private readonly tensors = new Map<string, { readonly at: number; readonly bytes: number }>();
  /** Programs attached so far. */
  programs = 0;

  /**
   * `poison`: start from garbage instead of power-on zeros (scratchpad, accumulators, vector and scalar registers
   * r1..r31, the vector length), from this seed: a program that computes the same on it assumes nothing about the
   * state the previous kernel leaves (the tests run the layers so).
   * `dramBytes`: what the caller expects the chain to use (allocated at once; more grows it).
   */
  constructor(cfg: MachineConfig, opts: { readonly poison?: number; readonly dramBytes?: number } = {}) {
    this.machine = new Machine(cfg, { dramBytes: opts.dramBytes ?? 0 });
    this.timing = new TimingModel(cfg, 1, false);
    this.machine.continueTiming = this.timing;
    if (opts.poison !== undefined) poison(this.machine, opts.poison);
  }

  /** The cycle the chain ends at so far (the last result of any program run on it). */
  get cycles(): number {
    return this.timing.end;
  }

  /** Whether an earlier program wrote a tensor of this name. */
  has(tensor: string): boolean {
    return this.tensors.has(tensor);
  }

  /** The machine, prepared for `prog`: its DRAM buffers bound (see ChainLink) and the host writes of bound inputs skipped. */
  attach(prog: Program, link: ChainLink): Machine {
    if (link.chain !== this) throw new Error('internal: a program joins another chain than its link names');
    const segments: DramSegment[] = [];
    const bound = new Set<string>();
    for (const name of [...Object.keys(link.inputs ?? {}), ...Object.keys(link.outputs ?? {})]) {
      const b = prog.buffers.get(name);
      if (b === undefined || b.space !== 'dram') throw new Error(`internal: chained program ${prog.file} has no DRAM buffer '${name}'`);
    }
    const fresh: { name: string; at: number; bytes: number }[] = [];
    let top = this.top;
    for (const b of prog.buffers.values()) {
      if (b.space !== 'dram' || b.size === 0) continue;
      const inp = link.inputs?.[b.name];
      if (inp !== undefined) {
        const ref = typeof inp === 'string' ? { tensor: inp, offset: 0 } : { tensor: inp.tensor, offset: inp.offset ?? 0 };
        const t = this.tensors.get(ref.tensor);
        if (t === undefined) throw new Error(`internal: ${prog.file}: buffer '${b.name}' reads tensor '${ref.tensor}', which no earlier program of the chain wrote`);
        if (ref.offset < 0 || ref.offset + b.size > t.bytes) {
          throw new Error(`internal: ${prog.file}: buffer '${b.name}' (${b.size} bytes at offset ${ref.offset}) does not lie within tensor '${ref.tensor}' (${t.bytes} bytes)`);
        }
        segments.push({ lo: b.address, hi: b.address + b.size, to: t.at + ref.offset, name: b.name });
        bound.add(b.name);
        continue;
      }
      const at = Math.ceil(top / ALIGN) * ALIGN;
      top = at + b.size;
      segments.push({ lo: b.address, hi: b.address + b.size, to: at, name: b.name });
      fresh.push({ name: b.name, at, bytes: b.size });
    }
    const m = this.machine;
    const cap = m.cfg.dram.sizeBytes;
    if (top > cap) {
      throw new ChainCapacityError(
        `dram holds ${cap} bytes, but the chained programs need ${top} with ${prog.file} (every kernel's weights, constants and tensors stay in DRAM; ` +
          `${this.top} for the ${this.programs} before it)`,
      );
    }
    this.top = top;
    // past what the caller expected (dramBytes): doubling from 4 MiB, so a chain grows a few times, not once per program
    if (this.top > m.dram.length) m.growDram(Math.min(cap, Math.max(this.top, 2 * m.dram.length, 4 * 1024 * 1024)));
    m.setDramSegments(segments, bound);
    for (const [buffer, tensor] of Object.entries(link.outputs ?? {})) {
      const f = fresh.find((x) => x.name === buffer)!;
      this.tensors.set(tensor, { at: f.at, bytes: f.bytes });
    }
    if (link.drain === true) this.timing.drainBeforeNext = true;
    this.programs++;
    return m;
  }
}

/** Fills the machine's on-chip state with a seeded xorshift32 pattern (see SimChain's `poison`). */
function poison(m: Machine, seed: number): void {
  let z = (seed | 0) || 0x9e3779b9;
  const next = (): number => {
    z ^= z << 13;
    z ^= z >>> 17;
    z ^= z << 5;
    return z | 0;
  };
  for (let i = 0; i < m.spad.length; i++) m.spad[i] = next();
  for (let i = 0; i < m.acc.length; i++) m.acc[i] = next();
  for (let i = 0; i < m.vregs.length; i++) m.vregs[i] = next();
  for (let r = 1; r < 32; r++) m.sregs[r] = next();
  m.vl = 1 + ((next() >>> 0) % m.lanes);
}
