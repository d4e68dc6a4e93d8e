// Built programs through the memo store (programs/program-store.ts): a stored program reads back with the same words,
// lines and symbols, its listing is rebuilt only when read and must give the same words, and a kernel run on a program
// read from the store gives the same outputs, cycles and statistics as on the freshly built one.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { assemble, type Program } from '../../isa/asm.js';
import { assembleBuilt } from '../../programs/index.js';
import { buildLinearRequant, runLinearRequantSim } from '../../programs/linear-requant/build.js';
import { PROGRAM_CODEC } from '../../programs/program-store.js';
import { setMemoStore, type MemoStore } from '../../programs/schedule.js';
import { loadMachine } from '../../sim/config.js';

const edge = loadMachine('edge');

afterEach(() => setMemoStore(undefined));

/** Everything a Program holds but its listing. */
const parts = (p: Program): unknown => ({ file: p.file, words: [...p.words], lines: [...p.lines], labels: [...p.labels], consts: [...p.consts], buffers: [...p.buffers.values()], allocated: p.allocated });

describe('program store', () => {
  const emitted = assembleBuilt(buildLinearRequant(16, 64, 32, 8, edge), edge);
  const text = assemble(readFileSync(new URL('../../examples/matmul.s', import.meta.url), 'utf8'), { file: 'matmul.s' });

  it('an emitted and an assembled program read back whole; the listing only on demand, from the builder', () => {
    for (const p of [emitted, text]) {
      let builds = 0;
      const back = PROGRAM_CODEC.decode(PROGRAM_CODEC.encode(p)!, () => (builds++, p)) as Program;
      expect(parts(back)).toEqual(parts(p));
      expect(back.words).toBeInstanceOf(Uint32Array);
      expect(back.lines).toBeInstanceOf(Int32Array);
      expect(builds).toBe(0);
      expect(back.sourceLines).toEqual(p.sourceLines);
      expect(back.sourceLines.length).toBeGreaterThan(0);
      expect(builds).toBe(1);
    }
  });

  it('a listing whose builder now gives other words is refused', () => {
    const other = assembleBuilt(buildLinearRequant(16, 64, 48, 8, edge), edge);
    const back = PROGRAM_CODEC.decode(PROGRAM_CODEC.encode(emitted)!, () => other) as Program;
    expect(() => back.sourceLines).toThrow(/differs from what its builder gives now/);
  });

  it('a kernel run on a program read from the store equals the run on the built one', () => {
    const map = new Map<string, Uint8Array>();
    const store: MemoStore = { get: (k) => map.get(k), set: (k, v) => void map.set(k, v) };
    const rng = seedrandom.alea('program store');
    const M = 12, K = 80, N = 40;
    const x = Int8Array.from({ length: M * K }, () => Math.floor(rng() * 256) - 128);
    const w = Int8Array.from({ length: N * K }, () => Math.floor(rng() * 256) - 128);
    const bias = Int32Array.from({ length: N }, () => Math.floor(rng() * 4096) - 2048);
    const consts = { m: Array.from({ length: N }, () => 1 + Math.floor(rng() * 2 ** 30)), e: Array.from({ length: N }, () => 20 + Math.floor(rng() * 8)), bits: 8 as const };
    const fresh = runLinearRequantSim(x, w, bias, M, K, N, consts, edge);
    setMemoStore(store);
    // a new machine object: no in-memory entry, the store is filled; then another reads it back
    const first = runLinearRequantSim(x, w, bias, M, K, N, consts, structuredClone(edge));
    const stored = [...map.keys()].filter((k) => k.startsWith('linear-requant '));
    expect(stored).toHaveLength(1);
    const again = runLinearRequantSim(x, w, bias, M, K, N, consts, structuredClone(edge));
    for (const r of [first, again]) {
      expect([...r.y]).toEqual([...fresh.y]);
      expect(r.sim.stats).toEqual(fresh.sim.stats);
      expect(r.model).toEqual(fresh.model);
      expect(isDeepStrictEqual([...r.program.words], [...fresh.program.words])).toBe(true);
    }
  });
});
