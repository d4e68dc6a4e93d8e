// The shared scheduling rules of the closed-form cycle models (programs/<kernel>/model.ts): the machine fields
// they read, the error a tiling raises when a kernel does not fit, and the ScheduleClock that walks a kernel's
// operations in program order with the timing rules of docs/TIMING.md. No model ever runs the simulator, so a
// simulated cycle count that drifts from its model points at a bug in one or the other.
import { isDeepStrictEqual } from 'node:util';

/** The machine fields the models read (a structural subset of the simulator's config). */
export interface ModelMachine {
  readonly mxu: { readonly rows: number; readonly cols: number };
  readonly vpu: { readonly lanes: number; readonly mulLatencyCycles: number; readonly loadLatencyCycles: number };
  readonly dram: { readonly bytesPerCycle: number; readonly latencyCycles: number };
  readonly spad: { readonly sizeBytes: number };
  readonly acc: { readonly sizeBytes: number };
  readonly frontend: { readonly queueDepth: number; readonly takenBranchPenaltyCycles: number };
}

export class TilingError extends Error {
  override readonly name = 'TilingError';
  readonly exitCode = 1;
}


/** Cycles to move `bytes` over the DRAM channel. */
export const xfer = (bytes: number, mach: ModelMachine): number => Math.ceil(bytes / mach.dram.bytesPerCycle);

/**
 * The machine's scheduling rules (docs/TIMING.md) for analytical models that walk a kernel's operations
 * in program order: the in-order front end (operand li's, then the operation, at most queueDepth
 * operations ahead of its unit's oldest unstarted one), in-order units, and the one DRAM channel booked
 * first-fit by readiness. It prices operations, not instructions, and knows nothing of addresses: each
 * model states what every operation needs.
 */
export class ScheduleClock {
  private readonly mach: ModelMachine;
  private readonly dmaLis: number;
  private readonly busy: Array<[number, number]> = []; // channel intervals, sorted by start
  private fe = 0; // next dispatch cycle
  private readonly starts: Record<ClockUnit, number[]> = { load: [], store: [], mxu: [], vpu: [] };
  private readonly lastStart: Record<ClockUnit, number> = { load: 0, store: 0, mxu: 0, vpu: -1 };
  /** When each vector register's value is ready (for models that price VPU instructions one by one). */
  readonly vreg = new Float64Array(32);
  /** The latest completion seen (DMA done, VPU result), bytes moved on the channel, VPU instructions priced. */
  finish = 0;
  dramBytes = 0;
  vpuCount = 0;

  constructor(mach: ModelMachine, dmaInstrs: number) {
    this.mach = mach;
    this.dmaLis = dmaInstrs - 1;
  }

  /** The cycle after the last dispatch. */
  get frontEnd(): number {
    return this.fe;
  }

  private reserve(ready: number, len: number): number {
    if (len <= 0) return ready;
    // Intervals are disjoint and sorted, so their ends are sorted too: those ending before `ready`
    // (which only grows with dispatch) can never matter again. Dropping them keeps the walk linear.
    let drop = 0;
    while (drop < this.busy.length && this.busy[drop]![1] <= this.fe - 1) drop++;
    if (drop > 64) this.busy.splice(0, drop);
    let s = ready;
    for (const [a, b] of this.busy) {
      if (b <= s) continue;
      if (a >= s + len) break;
      s = b;
    }
    let i = 0;
    while (i < this.busy.length && this.busy[i]![0] < s) i++;
    this.busy.splice(i, 0, [s, s + len]);
    return s;
  }

  private issue(unit: ClockUnit, lis: number): number {
    this.fe += lis;
    const q = this.starts[unit];
    const d = Math.max(this.fe, q.length >= this.mach.frontend.queueDepth ? q[q.length - this.mach.frontend.queueDepth]! : 0);
    this.fe = d + 1;
    return d;
  }

  /** `n` scalar instructions: front-end cycles only. */
  scalar(n: number): void {
    this.fe += n;
  }

  /** A DMA of `bytes` on the load or store queue, starting no earlier than `needs`. */
  dma(unit: 'load' | 'store', bytes: number, needs: number, lis = this.dmaLis): { end: number; done: number } {
    const d = this.issue(unit, lis);
    const x = xfer(bytes, this.mach);
    const s = this.reserve(Math.max(d + 1, this.lastStart[unit], needs), x);
    this.starts[unit].push(s);
    this.lastStart[unit] = s;
    this.dramBytes += bytes;
    const end = s + Math.max(1, x);
    const done = x === 0 ? end : s + x + this.mach.dram.latencyCycles;
    if (done > this.finish) this.finish = done;
    return { end, done };
  }

  /** An MXU operation after `lis` operand li's; returns its start (no earlier than `needs`). */
  mxu(lis: number, needs: number): number {
    const d = this.issue('mxu', lis);
    const s = Math.max(d + 1, this.lastStart.mxu, needs);
    this.starts.mxu.push(s);
    this.lastStart.mxu = s;
    return s;
  }

  /** One VPU instruction: reads `srcs`, writes `dst` (or -1) with latency `lat`, after the memory hazard `needs`. */
  vpu(lat: number, srcs: readonly number[], dst: number, needs: number): number {
    const d = this.issue('vpu', 0);
    let dep = Math.max(d + 1, this.lastStart.vpu + 1, needs);
    for (const r of srcs) dep = Math.max(dep, this.vreg[r]!);
    if (dst >= 0 && this.vreg[dst]! > dep + lat - 1) dep = this.vreg[dst]! - lat + 1; // WAW: land after the old value
    this.starts.vpu.push(dep);
    this.lastStart.vpu = dep;
    if (dst >= 0) this.vreg[dst] = dep + lat;
    if (dep + lat > this.finish) this.finish = dep + lat;
    this.vpuCount++;
    return dep;
  }
}

type ClockUnit = 'load' | 'store' | 'mxu' | 'vpu';

/**
 * Where memoised results may outlive the process: bytes (a MemoCodec's) under string keys. None by default (a
 * library user's memo lives in memory); the CLI sets one on disk (cli/memo-store.ts), keyed by a fingerprint of this
 * code, so that a second `intnpu layer` does not re-walk the cycle models and re-price the tilings the first one
 * chose, nor build its programs again (as a compiler's tuning log or Triton's kernel cache keeps what it found).
 */
export interface MemoStore {
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): void;
}

let memoStore: MemoStore | undefined;

/** Sets (or, with undefined, removes) the store that memoPerMachine's results outlive the process in. */
export function setMemoStore(store: MemoStore | undefined): void {
  memoStore = store;
}

const MACHINE_KEYS = new WeakMap<object, string>();

/** The machine as text, for a key that outlives the object (machines are read-only: computed once per object). */
function machineKey(mach: object): string {
  let k = MACHINE_KEYS.get(mach);
  if (k === undefined) MACHINE_KEYS.set(mach, (k = JSON.stringify(mach)));
  return k;
}

/**
 * How a memoised value goes into the memo store and back: `encode` gives its bytes, or undefined for a value that
 * cannot be stored faithfully (it is then recomputed each time); `decode` may call `recompute` for parts it did not
 * store (a program's listing, say), lazily.
 */
export interface MemoCodec {
  encode(v: unknown): Uint8Array | undefined;
  decode(bytes: Uint8Array, recompute: () => unknown): unknown;
}

const UTF8_OUT = new TextEncoder(), UTF8_IN = new TextDecoder();

/**
 * Plain data as JSON: stored only when the JSON reads back deep-equal to the value (plain objects, arrays, finite
 * numbers other than -0, strings, booleans, null); a Map, a class instance, undefined fields, NaN or -0 would not
 * survive the round trip.
 */
export const JSON_CODEC: MemoCodec = {
  encode(v) {
    const json = JSON.stringify(v);
    return json !== undefined && isDeepStrictEqual(JSON.parse(json), v) ? UTF8_OUT.encode(json) : undefined;
  },
  decode: (bytes) => JSON.parse(UTF8_IN.decode(bytes)) as unknown,
};

/** A result through the memo store, when one is set: decoded from its bytes, or computed and stored. */
function throughStore<T>(mach: object, key: string, f: () => T, codec: MemoCodec): T {
  const store = memoStore;
  if (store === undefined) return f();
  const k = `${key}\n${machineKey(mach)}`;
  const bytes = store.get(k);
  if (bytes !== undefined) return codec.decode(bytes, f) as T;
  const v = f();
  const encoded = codec.encode(v);
  if (encoded !== undefined) store.set(k, encoded);
  return v;
}

/**
 * A per-machine cache of at most `capacity` entries per machine object (oldest out first): `(mach, key, f)` returns
 * f()'s result for that machine and key, computing it once. The key must name every input of f other than the
 * machine, and the results are read-only. With a `codec`, a miss is looked up in the memo store (setMemoStore)
 * first, with the machine's fields as part of the key.
 */
export function perMachineCache(capacity: number, codec?: MemoCodec): <T>(mach: object, key: string, f: () => T) => T {
  const byMachine = new WeakMap<object, Map<string, unknown>>();
  return <T>(mach: object, key: string, f: () => T): T => {
    let m = byMachine.get(mach);
    if (m === undefined) byMachine.set(mach, (m = new Map()));
    if (m.has(key)) return m.get(key) as T;
    const v = codec ? throughStore(mach, key, f, codec) : f();
    if (m.size >= capacity) m.delete(m.keys().next().value!);
    m.set(key, v);
    return v;
  };
}

/**
 * A pure function's result from a per-machine memo: a layer asks for the same cycle model two or three times (the
 * fusion decision, the builder's plan, the runner's figure), and a model that walks a schedule or prices candidate
 * tilings costs tens of milliseconds at BERT-base shapes. Its results are JSON-shaped plans and cycle figures, so
 * they also go through the memo store when one is set.
 */
export const memoPerMachine = perMachineCache(256, JSON_CODEC);
