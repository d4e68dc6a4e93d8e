// The simulator: the exact widening multiply against a BigInt oracle, the machine config, faults with
// pc/line/instruction, instruction semantics against values computed here, timing sanity, and a seeded
// property test (random well-formed programs and random words end in a result or a SimFault, deterministically).
import { describe, expect, it } from 'vitest';
import { assemble, type Program } from '../../isa/asm.js';
import { encode } from '../../isa/encoding.js';
import { BY_MNEMONIC, ENUMS, FIELD_KINDS, ISA, type FieldKind, type InstrDef } from '../../isa/table.js';
import {
  ConfigError, loadMachine, machineJsonSchema, parseMachine, PRESETS, type MachineConfig, type MachineInput,
} from '../../sim/config.js';
import { addLaneSquaresToPair, addLaneSumToPair, mulAddRoundShift, mulRoundShift, PAIR_SUM } from '../../sim/intops.js';
import { Machine } from '../../sim/machine.js';
import { loadProgram, simulate, SimFault, type SimOptions, type SimResult } from '../../sim/run.js';
import { STALL_CAUSES } from '../../sim/timing.js';
import { seededIt } from '../seeded.js';

const FILE = 'test/sim/sim.test.ts';
type Rng = () => number;

const rit = seededIt(FILE);

const randInt = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

// ---------------------------------------------------------------------------------------------------
// Independent oracle of sat(round(a * b / 2^shift)): truncating BigInt division, then a fix-up per mode.
const RMODES = ['floor', 'rne', 'rhaz', 'trunc'] as const;
const SATS = ['wrap32', 'sat8', 'sat16', 'sat32'] as const;
const SAT_RANGE: Record<(typeof SATS)[number], [bigint, bigint] | null> = {
  wrap32: null,
  sat8: [-128n, 127n],
  sat16: [-32768n, 32767n],
  sat32: [-2147483648n, 2147483647n],
};

/** round(p / 2^s) in each mode, in RMODES order. */
function oracleRound(p: bigint, s: number): bigint[] {
  const d = 1n << BigInt(s);
  const q = p / d; // toward zero
  const r = p - q * d; // same sign as p
  const sign = p < 0n ? -1n : 1n;
  const twice = 2n * (r < 0n ? -r : r);
  const floor = r < 0n ? q - 1n : q;
  const trunc = q;
  const rhaz = twice >= d && r !== 0n ? q + sign : q;
  let rne = q;
  if (twice > d) rne = q + sign;
  else if (twice === d && r !== 0n) rne = (q & 1n) === 0n ? q : q + sign;
  return [floor, rne, rhaz, trunc];
}
function oracleSat(q: bigint, sat: (typeof SATS)[number]): number {
  const range = SAT_RANGE[sat];
  if (!range) return Number(BigInt.asIntN(32, q));
  return Number(q < range[0] ? range[0] : q > range[1] ? range[1] : q);
}
function oracleMulRoundShift(a: number, b: number, s: number, rmode: number, sat: number): number {
  return oracleSat(oracleRound(BigInt(a) * BigInt(b), s)[rmode]!, SATS[sat]!);
}

/** Compare all 16 (rmode, sat) combinations for one triple; returns a description of the first mismatch. */
function checkTriple(a: number, b: number, s: number): string | null {
  const qs = oracleRound(BigInt(a) * BigInt(b), s);
  for (let rm = 0; rm < 4; rm++) {
    for (let st = 0; st < 4; st++) {
      const want = oracleSat(qs[rm]!, SATS[st]!);
      const got = mulRoundShift(a, b, s, rm, st);
      if (got !== want) return `mulRoundShift(${a}, ${b}, ${s}, ${RMODES[rm]}, ${SATS[st]}) = ${got}, oracle ${want}`;
    }
  }
  return null;
}

const EDGES = [
  0, 1, -1, 2, -2, 3, -3, 5, -7, 127, -128, 128, -129, 255, 32767, -32768, 32768, 65535, 65536, -65536, -65535,
  2 ** 30, -(2 ** 30), 2 ** 30 + 1, 2 ** 31 - 1, -(2 ** 31), -(2 ** 31) + 1, 0x55555555, -0x55555555, 1_000_003,
];
const SHIFTS = [...Array.from({ length: 71 }, (_, i) => i), 127];

describe('mulRoundShift against a BigInt oracle', () => {
  it('the oracle itself follows the definitions on hand-checked values', () => {
    // 5/2 = 2.5, -5/2 = -2.5, 7/4 = 1.75, -3/2 = -1.5
    expect(oracleRound(5n, 1)).toEqual([2n, 2n, 3n, 2n]);
    expect(oracleRound(-5n, 1)).toEqual([-3n, -2n, -3n, -2n]);
    expect(oracleRound(7n, 2)).toEqual([1n, 2n, 2n, 1n]);
    expect(oracleRound(-3n, 1)).toEqual([-2n, -2n, -2n, -1n]);
    expect(oracleRound(6n, 2)).toEqual([1n, 2n, 2n, 1n]); // 1.5
    expect(oracleSat(300n, 'sat8')).toBe(127);
    expect(oracleSat(2n ** 32n + 5n, 'wrap32')).toBe(5);
    expect(oracleSat(2n ** 31n, 'wrap32')).toBe(-(2 ** 31));
  });

  it('is exact on every pair of edge values for shifts 0..70 and 127 in every mode', () => {
    const bad: string[] = [];
    for (const a of EDGES) for (const b of EDGES) for (const s of SHIFTS) {
      const m = checkTriple(a, b, s);
      if (m && bad.length < 10) bad.push(m);
    }
    expect(bad).toEqual([]);
  });

  rit('mulAddRoundShift: the addend inside the 64 bits, every mode and saturation, products below and above 2^53', (rng) => {
    const bad: string[] = [];
    for (let t = 0; t < 3000 && bad.length < 10; t++) {
      const small = t % 2 === 0; // a 22-bit value times a multiplier: the exact-double range; else any int32
      const a = t < 60 ? pick(rng, EDGES) : small ? randInt(rng, -(2 ** 21), 2 ** 21) : randInt(rng, -(2 ** 31), 2 ** 31 - 1);
      const b = t < 60 ? pick(rng, EDGES) : randInt(rng, -(2 ** 31), 2 ** 31 - 1);
      const c = t % 3 === 0 ? pick(rng, EDGES) : randInt(rng, -(2 ** 31), 2 ** 31 - 1);
      const sh = t % 5 === 0 ? pick(rng, SHIFTS) : randInt(rng, 0, 60);
      const qs = oracleRound(BigInt(a) * BigInt(b) + BigInt(c), sh);
      for (let rm = 0; rm < 4; rm++) for (let st = 0; st < 4; st++) {
        const want = oracleSat(qs[rm]!, SATS[st]!), got = mulAddRoundShift(a, b, c, sh, rm, st);
        if (got !== want) bad.push(`mulAddRoundShift(${a}, ${b}, ${c}, ${sh}, ${RMODES[rm]}, ${SATS[st]}) = ${got}, oracle ${want}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('is exact on exact ties a*b = odd * 2^(s-1), both signs', () => {
    const bad: string[] = [];
    let ties = 0;
    for (let s = 1; s <= 63; s++) {
      for (const odd of [1, 3, 5, 7, 127, 32767]) {
        const e = s - 1; // a*b = odd * 2^e
        const pairs: [number, number][] = [];
        if (e <= 30) pairs.push([odd, 2 ** e], [2 ** e, odd]);
        if (e <= 31) pairs.push([-odd, -(2 ** e) === -(2 ** 31) ? -(2 ** 31) : -(2 ** e)]);
        if (e > 30) {
          const ea = e - 30;
          const av = odd * 2 ** ea;
          if (av <= 2 ** 31 - 1) pairs.push([av, 2 ** 30], [-av, 2 ** 30]);
        }
        for (const [a, b] of pairs) {
          if (a > 2 ** 31 - 1 || a < -(2 ** 31) || b > 2 ** 31 - 1 || b < -(2 ** 31)) continue;
          for (const [x, y] of [[a, b], [-a, b], [a, -b], [-a, -b]] as const) {
            if (x > 2 ** 31 - 1 || y > 2 ** 31 - 1) continue;
            const p = BigInt(x) * BigInt(y);
            const d = 1n << BigInt(s);
            const r = ((p % d) + d) % d;
            expect(r * 2n, `tie construction ${x}*${y}/2^${s}`).toBe(d);
            ties++;
            const m = checkTriple(x, y, s);
            if (m && bad.length < 10) bad.push(m);
          }
        }
      }
    }
    expect(ties).toBeGreaterThan(500);
    expect(bad).toEqual([]);
  });

  it('mulAddRoundShift: products past 2^53 one below, at and one above a tie (the addend), shifts 16..60', () => {
    // a*b = odd * 2^(s-1) at least 2^53 in magnitude (the wide lanes), then c = -1, 0, 1: the remainder is half - 1,
    // half or half + 1, where an inexact remainder (past 2^53) would round the wrong way
    const bad: string[] = [];
    let cases = 0;
    for (let s = 16; s <= 60; s++) {
      for (const odd of [1, 3, 5, 127, 32767]) {
        const i = Math.min(31 - Math.ceil(Math.log2(odd + 1)), s - 1), j = s - 1 - i;
        if (j > 30 || odd * 2 ** (s - 1) < 2 ** 53) continue;
        for (const [a, b] of [[odd * 2 ** i, 2 ** j], [-odd * 2 ** i, 2 ** j], [odd * 2 ** i, -(2 ** j)], [odd * 2 ** i, -(2 ** 31) / 2 ** (31 - j)]] as const) {
          for (const c of [-1, 0, 1]) {
            cases++;
            const qs = oracleRound(BigInt(a) * BigInt(b) + BigInt(c), s);
            for (let rm = 0; rm < 4; rm++) for (let st = 0; st < 4; st++) {
              const want = oracleSat(qs[rm]!, SATS[st]!), got = mulAddRoundShift(a, b, c, s, rm, st);
              if (got !== want && bad.length < 10) bad.push(`mulAddRoundShift(${a}, ${b}, ${c}, ${s}, ${RMODES[rm]}, ${SATS[st]}) = ${got}, oracle ${want}`);
            }
          }
        }
      }
    }
    expect(cases).toBeGreaterThan(300);
    expect(bad).toEqual([]);
  });

  rit('is exact on 100k seeded random triples', (rng) => {
    const bad: string[] = [];
    const operand = (): number => {
      const k = rng();
      if (k < 0.35) return (rng() * 2 ** 32) | 0; // full int32
      if (k < 0.6) return randInt(rng, -300, 300);
      if (k < 0.8) return ((rng() * 2 ** 32) | 0) >> randInt(rng, 0, 31);
      const p = 2 ** randInt(rng, 0, 30);
      return pick(rng, [p, -p, p - 1, -p + 1, p + 1, -p - 1]);
    };
    for (let i = 0; i < 100_000; i++) {
      const a = operand(), b = operand();
      const s = rng() < 0.9 ? randInt(rng, 0, 66) : randInt(rng, 0, 127);
      const m = checkTriple(a, b, s);
      if (m && bad.length < 10) bad.push(m);
    }
    expect(bad).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
describe('64-bit lane sums (vredsum.w, vredsumsq.w) against a BigInt oracle', () => {
  const pairOf = (v: bigint): [number, number] => [Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n))];
  const bigOf = (lo: number, hi: number): bigint => (BigInt(hi) << 32n) | BigInt(lo >>> 0);
  rit('every pair and lane value class, 1..4096 lanes, sums at and past the signed 64-bit range', (rng) => {
    const lane = (): number => {
      const k = rng();
      if (k < 0.2) return pick(rng, [-2147483648, 2147483647, -2147483647, 0, -1, 1, 65535, 65536, -65536, 46341, -46341]);
      if (k < 0.6) return (rng() * 2 ** 32) | 0;
      return ((rng() * 2 ** 32) | 0) >> randInt(rng, 0, 31);
    };
    const bad: string[] = [];
    let overflows = 0;
    for (let t = 0; t < 3000; t++) {
      const n = t % 50 === 0 ? 4096 : randInt(rng, 1, 64), at = randInt(rng, 0, 5);
      const R = Int32Array.from({ length: at + n }, lane);
      // start pairs: anywhere, or a few lane sums away from either end of the 64-bit range
      const edge = rng() < 0.3 ? (rng() < 0.5 ? (1n << 63n) - BigInt(randInt(rng, 0, 2 ** 30)) * (1n << 32n) : -(1n << 63n) + BigInt(randInt(rng, 0, 2 ** 30)) * (1n << 32n)) : undefined;
      const start = edge ?? bigOf((rng() * 2 ** 32) | 0, (rng() * 2 ** 32) | 0);
      const [lo, hi] = pairOf(start);
      for (const squares of [false, true]) {
        let want = bigOf(lo, hi);
        for (let i = 0; i < n; i++) want += squares ? BigInt(R[at + i]!) * BigInt(R[at + i]!) : BigInt(R[at + i]!);
        const fits = want < 1n << 63n && want >= -(1n << 63n);
        const ok = squares ? addLaneSquaresToPair(lo, hi, R, at, n) : addLaneSumToPair(lo, hi, R, at, n);
        const got = (BigInt(PAIR_SUM[1]!) << 32n) + BigInt(PAIR_SUM[0]!);
        if (!fits) overflows++;
        if (ok !== fits || got !== want || PAIR_SUM[0]! < 0 || PAIR_SUM[0]! >= 2 ** 32) {
          if (bad.length < 5) bad.push(`${squares ? 'squares' : 'sum'} of ${n} lanes from ${start}: want ${want} (fits ${fits}), got ${got} (fits ${ok})`);
        }
      }
    }
    expect(overflows).toBeGreaterThan(100);
    expect(bad).toEqual([]);
  });
});

describe('machine config', () => {
  it('parseMachine({}) is the edge preset with the documented defaults', () => {
    const cfg = parseMachine({});
    expect(cfg).toEqual(parseMachine(PRESETS['edge']!));
    expect(cfg).toEqual(loadMachine('edge'));
    expect(cfg.name).toBe('edge');
    expect(cfg.mxu).toEqual({ rows: 32, cols: 32 });
    expect(cfg.vpu.lanes).toBe(32);
    expect(cfg.dram.bytesPerCycle).toBe(16);
    expect(cfg.dram.latencyCycles).toBe(100);
    expect(cfg.spad.sizeBytes).toBe(256 * 1024);
    expect(cfg.acc.sizeBytes).toBe(64 * 1024);
    expect(cfg.frontend.queueDepth).toBe(8);
  });

  it.each([
    [{ mxu: { rows: 0 } }, 'mxu.rows'],
    [{ dram: { bytesPerCycle: 'x' } }, 'dram.bytesPerCycle'],
    [{ vpu: { lanes: 1.5 } }, 'vpu.lanes'],
    [{ acc: { sizeBytes: 1026 } }, 'acc.sizeBytes'],
    [{ limits: { maxInstructions: 0 } }, 'limits.maxInstructions'],
    [{ bogus: 1 }, 'bogus'],
  ] as [unknown, string][])('rejects %j naming %s', (input, path) => {
    let err: unknown;
    try {
      parseMachine(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(path);
  });

  it('rejects an unknown key inside a section, as it does at the top level', () => {
    // A typo such as dram.bytesPerCylce must not silently leave the default of 16 B/cycle in place.
    let err: unknown;
    let cfg: MachineConfig | undefined;
    try {
      cfg = parseMachine({ dram: { bytesPerCylce: 64 } });
    } catch (e) {
      err = e;
    }
    expect(err, `accepted, giving dram = ${JSON.stringify(cfg?.dram)}`).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('bytesPerCylce');
  });

  it('rejects an unknown preset', () => {
    expect(() => parseMachine({ preset: 'mainframe' })).toThrow(ConfigError);
    expect(() => loadMachine('/nonexistent/machine.json')).toThrow(ConfigError);
  });

  it('merges overrides onto a preset', () => {
    const cfg = parseMachine({ preset: 'server', vpu: { lanes: 64 } });
    expect(cfg.vpu.lanes).toBe(64);
    expect(cfg.vpu.mulLatencyCycles).toBe(3); // schema default survives the merge
    expect(cfg.mxu).toEqual({ rows: 128, cols: 128 }); // from server
    expect(cfg.name).toBe('server (vpu.lanes=64)'); // a modified preset is named after its change
    expect(cfg.dram.bytesPerCycle).toBe(256);
    const server = parseMachine({ preset: 'server' });
    expect({ ...cfg, vpu: server.vpu, name: 'server' }).toEqual(server);
  });

  it('machineJsonSchema() is a JSON Schema object with properties.mxu', () => {
    const s = machineJsonSchema() as { type?: unknown; properties?: Record<string, unknown> };
    expect(typeof s).toBe('object');
    expect(s.type).toBe('object');
    expect(s.properties?.['mxu']).toBeTypeOf('object');
    expect(s.properties?.['dram']).toBeTypeOf('object');
    expect(() => JSON.stringify(s)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------------
// Small machines keep every run cheap (Machine allocates its memories up front).
const SMALL: MachineInput = {
  dram: { sizeBytes: 8192 },
  spad: { sizeBytes: 4096 },
  acc: { sizeBytes: 4096 },
  vpu: { lanes: 8 },
  mxu: { rows: 8, cols: 8 },
  limits: { maxInstructions: 100_000 },
};
const small = (over: MachineInput = {}): MachineConfig => parseMachine({ ...SMALL, ...over });
const CFG = small();

function run(src: string, cfg: MachineConfig = CFG, opts: SimOptions & { prep?: (m: Machine, p: Program) => void } = {}): SimResult & { prog: Program } {
  const prog = assemble(src, { file: 'test.s' });
  const m = opts.machine ?? new Machine(cfg);
  opts.prep?.(m, prog);
  const res = simulate(loadProgram(prog.words, prog), cfg, { ...opts, machine: m });
  return { ...res, prog };
}

function faultOf(f: () => unknown): SimFault {
  try {
    f();
  } catch (e) {
    if (e instanceof SimFault) return e;
    throw e;
  }
  throw new Error('expected a SimFault, but the run ended normally');
}

function wordsOf(list: [InstrDef, number[]][]): Uint32Array {
  const w = new Uint32Array(list.length * 2);
  list.forEach(([def, vals], pc) => {
    const [lo, hi] = encode(def, vals);
    w[2 * pc] = lo;
    w[2 * pc + 1] = hi;
  });
  return w;
}
const I = (m: string): InstrDef => BY_MNEMONIC.get(m)!;

describe('faults', () => {
  /** Sources here hold one instruction per line, so the faulting pc's source line is pc + 1. */
  function expectFault(src: string, kind: string, pc: number, instr: string, cfg = CFG): SimFault {
    const lines = src.split('\n');
    const f = faultOf(() => run(src, cfg));
    expect(f.kind).toBe(kind);
    expect(f.pc).toBe(pc);
    expect(f.instruction).toBe(instr);
    expect(f.message).toContain(instr);
    expect(f.message).toContain(`fault[${kind}] at pc ${pc}`);
    expect(f.line).toBe(pc + 1);
    expect(f.message).toContain(`test.s:${pc + 1}:`);
    expect(f.message).toContain(`${pc + 1} | ${lines[pc]}`);
    return f;
  }

  it('out-of-bounds DMA into the scratchpad', () => {
    const f = expectFault('li r1, 4090\nli r3, 1\nli r4, 8\ndma.ld spad, r1, r0, r3, r4, r0, r0\nhalt', 'out-of-bounds', 3, 'dma.ld spad, r1, r0, r3, r4, r0, r0');
    expect(f.message).toContain('4096');
  });

  it('out-of-bounds DRAM side of a DMA', () => {
    expectFault('li r2, 8190\nli r3, 2\nli r4, 4\nli r5, 4\ndma.ld spad, r0, r2, r3, r4, r5, r5\nhalt', 'out-of-bounds', 4, 'dma.ld spad, r0, r2, r3, r4, r5, r5');
  });

  it('out-of-bounds vld.acc (vl lanes past the end)', () => {
    // acc holds 1024 words; 8 lanes from 1020 reach 1028.
    expectFault('li r1, 1020\nvld.acc v1, r1, 0\nhalt', 'out-of-bounds', 1, 'vld.acc v1, r1, 0');
    // ... while a vl of 4 fits exactly.
    expect(() => run('li r2, 4\nvsetvl r2, r2\nli r1, 1020\nvld.acc v1, r1, 0\nhalt')).not.toThrow();
  });

  it('mxu.mm before any mxu.wload', () => {
    expectFault('nop\nmxu.mm r0, r0, r0, r0, r0, ovw\nhalt', 'bad-operand', 1, 'mxu.mm r0, r0, r0, r0, r0, ovw');
  });

  it('mxu.wload with k larger than mxu.rows', () => {
    expectFault('li r1, 9\nli r2, 1\nmxu.wload r0, r0, r1, r2\nhalt', 'bad-operand', 2, 'mxu.wload r0, r0, r1, r2');
    expect(() => run('li r1, 8\nli r2, 8\nli r3, 8\nmxu.wload r0, r3, r1, r2\nhalt')).not.toThrow();
  });

  it('an endless loop stops at limits.maxInstructions', () => {
    const cfg = small({ limits: { maxInstructions: 1000 } });
    const f = expectFault('loop: jmp 0', 'runaway', 0, 'jmp 0', cfg);
    expect(f.message).toContain('maxInstructions');
  });

  it('an endless loop stops at limits.maxCycles', () => {
    const cfg = small({ limits: { maxCycles: 500, maxInstructions: 1_000_000 } });
    const f = expectFault('nop\nloop: jmp 1', 'runaway', 1, 'jmp 1', cfg);
    expect(f.message).toContain('maxCycles');
    expect(f.cycle).toBeGreaterThan(500);
    expect(f.cycle).toBeLessThan(600);
  });

  it('one instruction whose own work exceeds the per-instruction budget is a runaway, before the host loops over it', () => {
    const cfg = small({ limits: { maxCycles: 10_000, maxInstructions: 1000 } });
    const src = 'li r3, 0x7fffffff\nli r4, 1\ndma.ld spad, r0, r0, r3, r4, r0, r0\nhalt';
    const f = expectFault(src, 'runaway', 2, 'dma.ld spad, r0, r0, r3, r4, r0, r0', cfg);
    expect(f.message).toContain('dma does 2147483647 element operations, over the per-instruction budget of 1073741824 (limits.maxWorkPerInstruction)');
  });

  it('an undecodable word is bad-encoding at its pc', () => {
    const w = wordsOf([[I('nop'), []], [I('nop'), []], [I('halt'), []]]);
    w[2] = 0xee; // opcode 0xee does not exist
    const f = faultOf(() => simulate(loadProgram(w), CFG));
    expect(f.kind).toBe('bad-encoding');
    expect(f.pc).toBe(1);
    expect(f.line).toBeUndefined();
    expect(f.message).toContain('fault[bad-encoding]');
    // Unused bits set on a valid opcode, too.
    const v = wordsOf([[I('nop'), []]]);
    v[1] = 0x80000000;
    expect(faultOf(() => simulate(loadProgram(v), CFG)).kind).toBe('bad-encoding');
  });

  it('a jump outside the program is pc-out-of-range', () => {
    const f = faultOf(() => simulate(loadProgram(wordsOf([[I('nop'), []], [I('jmp'), [5]], [I('halt'), []]])), CFG));
    expect(f.kind).toBe('pc-out-of-range');
    expect(f.pc).toBe(6);
    const g = faultOf(() => simulate(loadProgram(wordsOf([[I('jmp'), [-3]]])), CFG));
    expect(g.kind).toBe('pc-out-of-range');
    expect(g.pc).toBe(-3);
    // Jumping exactly to the end is an implicit halt.
    expect(simulate(loadProgram(wordsOf([[I('jmp'), [2]], [I('nop'), []]])), CFG).stats.instructions).toBe(1);
  });

  it('vmulr.vx with a shift outside 0..127 is bad-operand', () => {
    expectFault('li r2, 128\nvmulr.vx v1, v2, r1, r2, rne, sat8\nhalt', 'bad-operand', 1, 'vmulr.vx v1, v2, r1, r2, rne, sat8');
  });
});

// ---------------------------------------------------------------------------------------------------
describe('semantics', () => {
  const i32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
  const floorDiv = (a: bigint, b: bigint): bigint => {
    const q = a / b;
    return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
  };

  rit('scalar add/sub/mul wrap at int32; sra floors; r0 stays 0', (rng) => {
    const vals = [2147483647, -2147483648, -1, 0, 1, 123456789, -987654321];
    for (let t = 0; t < 60; t++) {
      const a = t < vals.length ? vals[t]! : (rng() * 2 ** 32) | 0;
      const b = t < vals.length ? vals[(t + 1) % vals.length]! : (rng() * 2 ** 32) | 0;
      const sh = randInt(rng, 0, 40);
      const res = run(`li r1, ${a}\nli r2, ${b}\nli r9, ${sh}\nadd r3, r1, r2\nsub r4, r1, r2\nmul r5, r1, r2\nsra r6, r1, r9\nadd r0, r1, r2\nli r0, 5\nhalt`);
      const R = res.machine.sregs;
      expect(R[3], `${a} + ${b}`).toBe(i32(BigInt(a) + BigInt(b)));
      expect(R[4], `${a} - ${b}`).toBe(i32(BigInt(a) - BigInt(b)));
      expect(R[5], `${a} * ${b}`).toBe(i32(BigInt(a) * BigInt(b)));
      expect(R[6], `${a} >> ${sh}`).toBe(Number(floorDiv(BigInt(a), 1n << BigInt(sh & 31))));
      expect(R[0]).toBe(0);
    }
    expect(run('li r1, -7\nli r2, 1\nsra r3, r1, r2\nhalt').machine.sregs[3]).toBe(-4);
  });

  it('dbnz runs its loop body exactly n times', () => {
    for (const n of [1, 2, 5, 17]) {
      const res = run(`li r1, ${n}\nli r2, 0\nloop: addi r2, r2, 3\ndbnz r1, loop\nhalt`);
      expect(res.machine.sregs[2]).toBe(3 * n);
      expect(res.machine.sregs[1]).toBe(0);
      expect(res.stats.instructions_by_mnemonic['dbnz']).toBe(n);
      expect(res.stats.instructions).toBe(2 + 2 * n + 1);
    }
  });

  it('vsetvl clamps and leaves lanes >= vl unchanged', () => {
    const res = run('li r1, 7\nvbcast v1, r1\nli r2, 3\nvsetvl r3, r2\nli r4, -9\nvbcast v1, r4\nli r5, 100\nvsetvl r6, r5\nli r7, -5\nvsetvl r8, r7\nhalt');
    const L = 8;
    const v1 = Array.from(res.machine.vregs.subarray(1 * L, 2 * L));
    expect(v1).toEqual([-9, -9, -9, 7, 7, 7, 7, 7]);
    expect(res.machine.sregs[3]).toBe(3);
    expect(res.machine.sregs[6]).toBe(8);
    expect(res.machine.sregs[8]).toBe(0);
    expect(res.machine.vl).toBe(0);
  });

  rit('vld.s16 / vst.s16 round trip little-endian int16 and post-increment', (rng) => {
    const vals = Array.from({ length: 8 }, (_, i) => (i === 0 ? -32768 : i === 1 ? 32767 : i === 2 ? -1 : randInt(rng, -32768, 32767)));
    const bytes = new Uint8Array(16);
    vals.forEach((v, i) => {
      bytes[2 * i] = v & 0xff;
      bytes[2 * i + 1] = (v >> 8) & 0xff;
    });
    const res = run('li r1, 100\nli r2, 300\nvld.s16 v4, r1, 16\nvst.s16 v4, r2, -2\nhalt', CFG, {
      prep: (m) => m.spadU8.set(bytes, 100),
    });
    expect(Array.from(res.machine.vregs.subarray(4 * 8, 5 * 8))).toEqual(vals);
    expect(Array.from(res.machine.spadU8.subarray(300, 316))).toEqual(Array.from(bytes));
    expect(res.machine.sregs[1]).toBe(116);
    expect(res.machine.sregs[2]).toBe(298);
  });

  rit('vst.s8 narrows to the low byte; vld.s8 sign-extends', (rng) => {
    const vals = Array.from({ length: 8 }, () => (rng() * 2 ** 32) | 0);
    const res = run('li r1, 40\nvst.s8 v2, r1, 0\nvld.s8 v3, r1, 0\nhalt', CFG, { prep: (m) => m.vregs.set(vals, 2 * 8) });
    const want = vals.map((v) => Number(BigInt.asIntN(8, BigInt(v))));
    expect(Array.from(res.machine.vregs.subarray(3 * 8, 4 * 8))).toEqual(want);
  });

  rit('vclamp clamps every active lane to lo..hi', (rng) => {
    const vals = Array.from({ length: 8 }, () => randInt(rng, -1000, 1000));
    const lo = randInt(rng, -500, 0), hi = randInt(rng, 0, 500);
    const res = run(`li r1, ${lo}\nli r2, ${hi}\nvclamp v5, v1, r1, r2\nhalt`, CFG, { prep: (m) => m.vregs.set(vals, 8) });
    expect(Array.from(res.machine.vregs.subarray(5 * 8, 6 * 8))).toEqual(vals.map((v) => Math.min(Math.max(v, lo), hi)));
  });

  rit('vmulr.vx matches the oracle in every rounding mode and width', (rng) => {
    for (let t = 0; t < 10; t++) {
      const a = Array.from({ length: 8 }, () => (rng() < 0.3 ? randInt(rng, -20, 20) : (rng() * 2 ** 32) | 0));
      const mul = rng() < 0.5 ? randInt(rng, -1000, 1000) : (rng() * 2 ** 32) | 0;
      const shift = rng() < 0.8 ? randInt(rng, 0, 40) : randInt(rng, 0, 127);
      const lines = [`li r1, ${mul}`, `li r2, ${shift}`];
      const combos: [number, number][] = [];
      RMODES.forEach((rm, ri) => SATS.forEach((st, si) => {
        combos.push([ri, si]);
        lines.push(`vmulr.vx v${10 + combos.length - 1}, v1, r1, r2, ${rm}, ${st}`);
      }));
      lines.push('halt');
      const res = run(lines.join('\n'), CFG, { prep: (m) => m.vregs.set(a, 8) });
      combos.forEach(([ri, si], c) => {
        const got = Array.from(res.machine.vregs.subarray((10 + c) * 8, (11 + c) * 8));
        expect(got, `${RMODES[ri]} ${SATS[si]} mul ${mul} shift ${shift}`).toEqual(a.map((x) => oracleMulRoundShift(x, mul, shift, ri, si)));
      });
    }
  });

  rit('vmulr.vv matches the oracle with per-lane multipliers and shifts', (rng) => {
    for (let t = 0; t < 10; t++) {
      const a = Array.from({ length: 8 }, () => (rng() * 2 ** 32) | 0);
      const b = Array.from({ length: 8 }, () => (rng() < 0.5 ? randInt(rng, -5000, 5000) : (rng() * 2 ** 32) | 0));
      const s = Array.from({ length: 8 }, () => (rng() < 0.9 ? randInt(rng, 0, 66) : randInt(rng, 0, 127)));
      const rm = randInt(rng, 0, 3), st = randInt(rng, 0, 3);
      const res = run(`vmulr.vv v4, v1, v2, v3, ${RMODES[rm]}, ${SATS[st]}\nhalt`, CFG, {
        prep: (m) => {
          m.vregs.set(a, 8);
          m.vregs.set(b, 16);
          m.vregs.set(s, 24);
        },
      });
      const want = a.map((x, i) => oracleMulRoundShift(x, b[i]!, s[i]!, rm, st));
      expect(Array.from(res.machine.vregs.subarray(32, 40))).toEqual(want);
    }
  });

  it('dma.ld with dramStride 0 broadcasts one DRAM row into every chip row', () => {
    const row = [1, -2, 3, -4, 5, 127];
    const res = run('li r1, 64\nli r2, 128\nli r3, 4\nli r4, 6\nli r5, 8\ndma.ld spad, r1, r2, r3, r4, r5, r0\nhalt', CFG, {
      prep: (m) => m.dram.set(row.map((v) => v & 0xff), 128),
    });
    for (let r = 0; r < 4; r++) {
      expect(Array.from(res.machine.spad.subarray(64 + 8 * r, 64 + 8 * r + 8)), `row ${r}`).toEqual([...row, 0, 0]);
    }
    expect(res.machine.spad[63]).toBe(0);
    expect(res.machine.spad[64 + 32]).toBe(0);
    // One row crosses the channel.
    expect(res.stats.dram_read_bytes).toBe(6);
  });

  rit('dma.ld acc reads little-endian int32; dma.st writes them back', (rng) => {
    const vals = Array.from({ length: 6 }, () => (rng() * 2 ** 32) | 0);
    const bytes = new Uint8Array(24);
    const dv = new DataView(bytes.buffer);
    vals.forEach((v, i) => dv.setInt32(4 * i, v, true));
    const res = run('li r1, 10\nli r2, 256\nli r3, 2\nli r4, 3\nli r5, 5\nli r6, 12\ndma.ld acc, r1, r2, r3, r4, r5, r6\nli r7, 1024\ndma.st acc, r1, r7, r3, r4, r5, r6\nhalt', CFG, {
      prep: (m) => m.dram.set(bytes, 256),
    });
    expect(Array.from(res.machine.acc.subarray(10, 13))).toEqual(vals.slice(0, 3));
    expect(Array.from(res.machine.acc.subarray(15, 18))).toEqual(vals.slice(3, 6));
    expect(res.machine.acc[13]).toBe(0);
    expect(Array.from(res.machine.dram.subarray(1024, 1048))).toEqual(Array.from(bytes));
    expect(res.stats.dram_read_bytes).toBe(24);
    expect(res.stats.dram_write_bytes).toBe(24);
  });
});

// ---------------------------------------------------------------------------------------------------
// A small GEMM: x[4][8] . W[4][8]^T into acc (16 words), then the first 8 doubled by the VPU into acc + 16,
// and all 24 words back to DRAM.
const GEMM = `
.buffer xd, dram, 32
.buffer wd, dram, 32
.buffer xs, spad, 32
.buffer ws, spad, 32
.buffer ya, acc, 24
.buffer yd, dram, 96
    li r1, xs
    li r2, xd
    li r3, 4
    li r4, 8
    dma.ld spad, r1, r2, r3, r4, r4, r4
    li r7, ws
    li r8, wd
    dma.ld spad, r7, r8, r3, r4, r4, r4
    mxu.wload r7, r4, r4, r3
    li r11, ya
    mxu.mm r11, r1, r3, r3, r4, ovw
    vld.acc v1, r11, 0
    vadd v2, v1, v1
    li r12, ya + 16
    vst.acc v2, r12, 8
    li r13, yd
    li r14, 1
    li r15, 24
    dma.st acc, r11, r13, r14, r15, r0, r0
    halt
`;

describe('timing sanity', () => {
  const gemmInputs = (rng: Rng): { x: number[]; w: number[] } => ({
    x: Array.from({ length: 32 }, () => randInt(rng, -128, 127)),
    w: Array.from({ length: 32 }, () => randInt(rng, -128, 127)),
  });
  const prepGemm = (x: number[], w: number[]) => (m: Machine, p: Program): void => {
    m.writeBuffer(p.buffers.get('xd')!, Int8Array.from(x));
    m.writeBuffer(p.buffers.get('wd')!, Int8Array.from(w));
  };

  rit('the GEMM program computes x . W^T and satisfies the timing invariants', (rng) => {
    const { x, w } = gemmInputs(rng);
    const full = run(GEMM, CFG, { prep: prepGemm(x, w) });
    // Values: y[r][j] = sum_k x[r][k] w[j][k] at ya + 4r + j; the first 8 doubled at ya + 16.
    const y: number[] = [];
    for (let r = 0; r < 4; r++) for (let j = 0; j < 4; j++) {
      let s = 0;
      for (let k = 0; k < 8; k++) s += x[r * 8 + k]! * w[j * 8 + k]!;
      y.push(s);
    }
    const ya = full.prog.buffers.get('ya')!.address;
    const acc = Array.from(full.machine.acc.subarray(ya, ya + 24));
    expect(acc).toEqual([...y, ...y.slice(0, 8).map((v) => 2 * v)]);
    const yd = full.prog.buffers.get('yd')!.address;
    const out = new DataView(full.machine.dram.buffer, yd, 96);
    expect(Array.from({ length: 24 }, (_, i) => out.getInt32(4 * i, true))).toEqual(acc);

    const s = full.stats;
    expect(s.cycles).not.toBeNull();
    expect(s.cycles!).toBeGreaterThanOrEqual(s.instructions);
    expect(s.macs).toBe(4 * 8 * 4);
    expect(s.mxu_utilization!).toBeGreaterThan(0);
    expect(s.mxu_utilization!).toBeLessThanOrEqual(1);
    for (const u of Object.values(s.utilization!)) expect(u).toBeLessThanOrEqual(1);
    expect(s.dram_read_bytes).toBe(64);
    expect(s.dram_write_bytes).toBe(96);

    const timing = run(GEMM, CFG, { mode: 'timing', prep: prepGemm(x, w) });
    expect(timing.stats.cycles).toBe(s.cycles);
    expect(timing.stats.instructions).toBe(s.instructions);
    expect(timing.stats.macs).toBe(s.macs);

    const func = run(GEMM, CFG, { mode: 'functional', prep: prepGemm(x, w) });
    expect(func.stats.cycles).toBeNull();
    expect(func.stats.mxu_utilization).toBeNull();
    expect(Array.from(func.machine.acc.subarray(ya, ya + 24))).toEqual(acc);
  });

  it('cycles >= dispatched instructions and timing-only cycles agree on several programs', () => {
    const programs = [
      'li r1, 5\nloop: addi r2, r2, 1\ndbnz r1, loop\nhalt',
      'li r1, 4\nvbcast v1, r1\nvmul v2, v1, v1\nvmulr.vx v3, v2, r1, r1, rne, sat8\nvst.s8 v3, r0, 0\nhalt',
      'li r3, 2\nli r4, 64\nli r5, 64\ndma.ld spad, r0, r0, r3, r4, r5, r5\ndma.ld spad, r5, r5, r3, r4, r5, r5\ndma.st spad, r0, r5, r3, r4, r5, r5\nhalt',
      'nop\nnop\nnop',
    ];
    for (const src of programs) {
      const a = run(src);
      expect(a.stats.cycles!, src).toBeGreaterThanOrEqual(a.stats.instructions);
      expect(run(src, CFG, { mode: 'timing' }).stats.cycles, src).toBe(a.stats.cycles);
      expect(run(src, CFG, { mode: 'functional' }).stats.cycles).toBeNull();
    }
  });

  it('a vld.acc consuming a dma.ld acc starts after the DMA is done, waiting on data_dependency', () => {
    const src = 'li r1, 0\nli r2, 64\nli r3, 1\nli r4, 8\ndma.ld acc, r1, r2, r3, r4, r0, r0\nvld.acc v1, r1, 0\nvadd v2, v1, v1\nhalt';
    const res = run(src, CFG, { trace: true });
    const tr = res.trace!;
    expect(tr.length).toBe(res.stats.instructions);
    const dma = tr.find((e) => e.pc === 4)!;
    const ld = tr.find((e) => e.pc === 5)!;
    const add = tr.find((e) => e.pc === 6)!;
    expect(dma.done).toBeGreaterThan(dma.start);
    expect(dma.done - dma.start).toBeGreaterThanOrEqual(CFG.dram.latencyCycles);
    expect(ld.start).toBeGreaterThanOrEqual(dma.done);
    expect(STALL_CAUSES[3]).toBe('data_dependency');
    expect(ld.cause).toBe(STALL_CAUSES.indexOf('data_dependency'));
    expect(ld.waitedOn).toBe(4);
    expect(add.start).toBeGreaterThanOrEqual(ld.done);
    for (const e of tr) {
      expect(e.start).toBeGreaterThanOrEqual(e.dispatch);
      expect(e.end).toBeGreaterThanOrEqual(e.start);
      expect(e.done).toBeGreaterThanOrEqual(e.start);
      expect(e.done).toBeLessThanOrEqual(res.stats.cycles!);
    }
    // Dispatch is in order, one per cycle at most.
    for (let i = 1; i < tr.length; i++) expect(tr[i]!.dispatch).toBeGreaterThan(tr[i - 1]!.dispatch);
  });
});

// ---------------------------------------------------------------------------------------------------
// Property tests. PROP machine: small memories; limits small so nothing runs long.
const PROP = small({ limits: { maxInstructions: 2000, maxCycles: 1_000_000 } });

type Outcome = { ok: true; sig: string } | { ok: false; kind: string; pc: number; cycle: number };

function checksum(a: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < a.length; i++) h = (Math.imul(h, 31) + (a[i]! | 0)) | 0;
  return h;
}

function outcome(words: Uint32Array, cfg: MachineConfig, prep?: (m: Machine) => void): Outcome {
  const m = new Machine(cfg);
  prep?.(m);
  try {
    const r = simulate(loadProgram(words), cfg, { machine: m });
    const s = r.stats;
    return {
      ok: true,
      sig: [s.cycles, s.instructions, s.macs, s.dram_bytes, checksum(m.sregs), checksum(m.vregs), checksum(m.spad), checksum(m.acc), checksum(m.dram), m.vl].join(','),
    };
  } catch (e) {
    if (!(e instanceof SimFault)) {
      throw new Error(`run ended with ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not a SimFault`);
    }
    return { ok: false, kind: e.kind, pc: e.pc, cycle: e.cycle };
  }
}

/**
 * A random well-formed program from the ISA table. Registers r1..r15 hold small in-range addresses and
 * are the only ones memory instructions read; scalar results go to r16..r31 (so row counts and lengths
 * stay small: a DMA with stride 0 may legally repeat a row 2^31 times, which is not what this test is for).
 */
function randomProgram(rng: Rng, cfg: MachineConfig): { words: Uint32Array; prep: (m: Machine) => void } {
  const n = randInt(rng, 4, 40);
  const pre = new Int32Array(32);
  for (let r = 1; r < 16; r++) pre[r] = pick(rng, [0, 1, 2, 4, 8, randInt(rng, 0, 64), randInt(rng, 0, 1024)]);
  for (let r = 16; r < 32; r++) pre[r] = rng() < 0.5 ? randInt(rng, -4, 40) : (rng() * 2 ** 32) | 0;
  const list: [InstrDef, number[]][] = [];
  for (let pc = 0; pc < n - 1; pc++) {
    const def = ISA[randInt(rng, 0, ISA.length - 1)]!;
    const vals = def.fields.map((f, i) => {
      const kind: FieldKind = f.kind;
      if (kind === 'sreg') {
        const writes = def.unit === 'scalar' && (i === 0 && (f.name === 'rd' || def.mnemonic === 'dbnz'));
        if (writes) return rng() < 0.1 ? 0 : randInt(rng, 16, 31);
        if (def.unit === 'scalar') return randInt(rng, 0, 31);
        return randInt(rng, 0, 15);
      }
      if (kind === 'vreg') return randInt(rng, 0, 31);
      if (kind === 'imm16') return rng() < 0.9 ? randInt(rng, -64, 64) : 0;
      if (kind === 'imm32') return rng() < 0.7 ? randInt(rng, -100, 100) : (rng() * 2 ** 32) | 0;
      if (kind === 'target') return randInt(rng, 0, n) - pc;
      const names = (ENUMS as Record<string, readonly string[]>)[kind]!;
      return randInt(rng, 0, names.length - 1);
    });
    list.push([def, vals]);
  }
  list.push([I('halt'), []]);
  return { words: wordsOf(list), prep: (m) => m.sregs.set(pre) };
}

/** Random 64-bit words: fully random, or a valid opcode with random field bits. */
function randomWords(rng: Rng): Uint32Array {
  const n = randInt(rng, 1, 16);
  const w = new Uint32Array(2 * n);
  const structured = rng() < 0.5;
  for (let pc = 0; pc < n; pc++) {
    if (!structured) {
      w[2 * pc] = (rng() * 2 ** 32) >>> 0;
      w[2 * pc + 1] = (rng() * 2 ** 32) >>> 0;
      continue;
    }
    const def = ISA[randInt(rng, 0, ISA.length - 1)]!;
    let word = BigInt(def.opcode);
    let pos = 8;
    for (const f of def.fields) {
      const bits = FIELD_KINDS[f.kind].bits;
      word |= BigInt(Math.floor(rng() * 2 ** bits)) << BigInt(pos);
      pos += bits;
    }
    if (rng() < 0.05) word |= 1n << 63n;
    w[2 * pc] = Number(word & 0xffffffffn);
    w[2 * pc + 1] = Number(word >> 32n);
  }
  return w;
}

describe('property: every run ends in a result or a SimFault, deterministically', () => {
  const reference = (): string => JSON.stringify(run(GEMM, CFG, {
    prep: (m, p) => {
      m.writeBuffer(p.buffers.get('xd')!, Int8Array.from({ length: 32 }, (_, i) => i - 16));
      m.writeBuffer(p.buffers.get('wd')!, Int8Array.from({ length: 32 }, (_, i) => 3 * i - 50));
    },
  }).stats);

  rit('random well-formed programs from the ISA table', (rng) => {
    const before = reference();
    const kinds = new Map<string, number>();
    for (let t = 0; t < 300; t++) {
      const { words, prep } = randomProgram(rng, PROP);
      const copy = words.slice();
      const a = outcome(words, PROP, prep);
      const b = outcome(words, PROP, prep);
      expect(b, `program ${t} is not deterministic`).toEqual(a);
      expect(Array.from(words)).toEqual(Array.from(copy));
      const k = a.ok ? 'ok' : a.kind;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    // The generator reaches both endings (a test that only ever faults proves little).
    expect(kinds.get('ok') ?? 0).toBeGreaterThan(10);
    expect([...kinds.keys()].some((k) => k !== 'ok')).toBe(true);
    expect(reference()).toBe(before);
    const fresh = new Machine(PROP);
    for (const mem of [fresh.dram, fresh.spad, fresh.acc, fresh.sregs, fresh.vregs]) expect(mem.every((v) => v === 0)).toBe(true);
    expect(fresh.wActive).toBe(-1);
  }, 30_000);

  rit('random words as programs', (rng) => {
    const before = reference();
    const kinds = new Map<string, number>();
    for (let t = 0; t < 300; t++) {
      const words = randomWords(rng);
      const a = outcome(words, PROP);
      expect(outcome(words, PROP), `program ${t} is not deterministic`).toEqual(a);
      const k = a.ok ? 'ok' : a.kind;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    expect(kinds.get('bad-encoding') ?? 0).toBeGreaterThan(50);
    expect(reference()).toBe(before);
    const fresh = new Machine(PROP);
    for (const mem of [fresh.dram, fresh.spad, fresh.acc, fresh.sregs, fresh.vregs]) expect(mem.every((v) => v === 0)).toBe(true);
  }, 30_000);
});
