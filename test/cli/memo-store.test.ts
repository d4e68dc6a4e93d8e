// The memo store (programs/schedule.ts MemoStore, cli/memo-store.ts on disk): what the cycle models computed comes
// back between runs exactly as computed, only values that survive JSON are kept, a file with another key or damaged
// text is a miss, changed code is another folder, and a layer run reports the same figures with or without the store.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { codeFingerprint, codeRoot, diskMemoStore } from '../../cli/memo-store.js';
import { JSON_CODEC, perMachineCache, setMemoStore, type MemoStore } from '../../programs/schedule.js';
import { loadMachine } from '../../sim/config.js';
import { softmaxPlan } from '../../programs/softmax/model.js';
import { layernormModel } from '../../programs/layernorm/model.js';
import { runCli } from './spawn.js';

const tmp = (): string => mkdtempSync(join(os.tmpdir(), 'intnpu-memo-'));

/** A store in memory that counts its reads and writes. */
function countingStore(): MemoStore & { map: Map<string, Uint8Array>; gets: number; sets: number } {
  const map = new Map<string, Uint8Array>();
  const s = {
    map, gets: 0, sets: 0,
    get(k: string) {
      s.gets++;
      return map.get(k);
    },
    set(k: string, v: Uint8Array) {
      s.sets++;
      map.set(k, v);
    },
  };
  return s;
}

afterEach(() => setMemoStore(undefined));

describe('memo store', () => {
  it('a persisted memo computes once across caches (as across processes) and returns equal values', () => {
    const store = countingStore();
    setMemoStore(store);
    const mach = { a: 1 };
    let calls = 0;
    const f = (): { plan: number[]; cycles: number } => (calls++, { plan: [1, 2, 3], cycles: 42 });
    const first = perMachineCache(4, JSON_CODEC)(mach, 'k', f);
    expect(calls).toBe(1);
    expect(store.sets).toBe(1);
    // a fresh cache and a fresh (equal) machine object: what a second process sees
    const second = perMachineCache(4, JSON_CODEC)({ a: 1 }, 'k', f);
    expect(calls).toBe(1);
    expect(second).toEqual(first);
    // another machine is another key
    perMachineCache(4, JSON_CODEC)({ a: 2 }, 'k', f);
    expect(calls).toBe(2);
    // not persisted without a codec, or without a store
    perMachineCache(4)(mach, 'k', f);
    expect(calls).toBe(3);
    setMemoStore(undefined);
    perMachineCache(4, JSON_CODEC)(mach, 'k', f);
    expect(calls).toBe(4);
  });

  it('keeps only values whose JSON reads back equal', () => {
    const store = countingStore();
    setMemoStore(store);
    const memo = perMachineCache(16, JSON_CODEC);
    const unsafe: Record<string, unknown> = {
      map: new Map([[1, 2]]), negZero: -0, nan: { v: NaN }, inf: [Infinity], undef: { x: undefined }, cls: new (class P { q = 1; })(),
    };
    for (const [k, v] of Object.entries(unsafe)) memo({}, k, () => v);
    expect(store.sets).toBe(0);
    memo({}, 'fine', () => ({ a: [1, -2.5, 'x', null, true], b: { c: 0 } }));
    expect(store.sets).toBe(1);
  });

  it('the models read back from the store equal the computed ones (edge and server)', () => {
    for (const name of ['edge', 'server']) {
      const cfg = loadMachine(name);
      const fresh = [softmaxPlan(96, 128, cfg, { mask: 'position' }), layernormModel(128, 768, cfg)];
      const store = countingStore();
      setMemoStore(store);
      // a machine object equal to cfg but new: the in-memory memo misses, the store is filled
      const cfg2 = structuredClone(cfg);
      const stored = [softmaxPlan(96, 128, cfg2, { mask: 'position' }), layernormModel(128, 768, cfg2)];
      // the softmax plan, the LayerNorm model and the LayerNorm plan it is priced on
      const filled = store.sets;
      expect(filled).toBeGreaterThanOrEqual(2);
      const cfg3 = structuredClone(cfg);
      const read = [softmaxPlan(96, 128, cfg3, { mask: 'position' }), layernormModel(128, 768, cfg3)];
      expect(store.sets).toBe(filled);
      expect(stored).toStrictEqual(fresh);
      expect(read).toEqual(fresh);
    }
  });

  it('on disk: one file per key holding its key and digest; another key, a changed value or damaged text is a miss', () => {
    const dir = tmp();
    const s = diskMemoStore(dir, () => 'fp1');
    const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v).toString('utf8'));
    expect(s.get('a')).toBeUndefined();
    s.set('a', Buffer.from('{"x":1}'));
    expect(text(s.get('a'))).toBe('{"x":1}');
    expect(text(diskMemoStore(dir, () => 'fp1').get('a'))).toBe('{"x":1}');
    const files = readdirSync(join(dir, 'memo', 'fp1'));
    expect(files).toHaveLength(1);
    const f = join(dir, 'memo', 'fp1', files[0]!);
    const good = readFileSync(f, 'utf8');
    // another key in the header, a changed value, a damaged header: each a miss
    writeFileSync(f, good.replace('"key":"a"', '"key":"b"'));
    expect(s.get('a')).toBeUndefined();
    writeFileSync(f, good.replace('{"x":1}', '{"x":2}'));
    expect(s.get('a')).toBeUndefined();
    writeFileSync(f, '{"key":');
    expect(s.get('a')).toBeUndefined();
    writeFileSync(f, good);
    expect(text(s.get('a'))).toBe('{"x":1}');
    // another code fingerprint does not see it
    expect(diskMemoStore(dir, () => 'fp2').get('a')).toBeUndefined();
  });

  it('keeps the four most recently used code fingerprints', () => {
    const dir = tmp();
    for (let i = 0; i < 6; i++) {
      mkdirSync(join(dir, 'memo', `old${i}`), { recursive: true });
      const t = new Date(Date.UTC(2026, 0, 1 + i));
      utimesSync(join(dir, 'memo', `old${i}`), t, t);
    }
    diskMemoStore(dir, () => 'now').set('k', Buffer.from('1'));
    expect(readdirSync(join(dir, 'memo')).sort()).toEqual(['now', 'old3', 'old4', 'old5']);
  });

  it('the code fingerprint follows the text of the code folders', () => {
    const root = tmp();
    mkdirSync(join(root, 'programs', 'x'), { recursive: true });
    writeFileSync(join(root, 'programs', 'x', 'model.js'), 'export const a = 1;');
    writeFileSync(join(root, 'programs', 'notes.md'), 'not code');
    const a = codeFingerprint(root);
    writeFileSync(join(root, 'programs', 'notes.md'), 'still not code');
    expect(codeFingerprint(root)).toBe(a);
    writeFileSync(join(root, 'programs', 'x', 'model.js'), 'export const a = 2;');
    expect(codeFingerprint(root)).not.toBe(a);
    expect(readFileSync(join(root, 'programs', 'x', 'model.js'), 'utf8')).toContain('2');
    // the root is found from any module below it (a bundle in cli/, a worker in cli/sweep/), and no code is no key
    writeFileSync(join(root, 'programs', 'schedule.js'), '');
    mkdirSync(join(root, 'cli', 'sweep'), { recursive: true });
    expect(codeRoot(join(root, 'cli', 'sweep', 'worker.js'))).toBe(root);
    expect(codeRoot(join(tmp(), 'main.js'))).toBeUndefined();
    expect(() => codeFingerprint(tmp())).toThrow(/no code/);
  });

  it('intnpu layer reports the same figures from a cold store, a warm one and none', () => {
    const dir = tmp();
    const run = (env: Record<string, string>): Record<string, unknown> => {
      const r = runCli(['layer', '--size', 'small', '--machine', 'server', '--json'], dir, 60_000, env);
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as Record<string, unknown> & { steps: Record<string, unknown>[] };
      return { total: j['total_cycles'], model: j['total_model_cycles'], steps: j.steps.map((s) => [s['cycles'], s['model_cycles'], s['identical_to_reference']]) };
    };
    const cache = join(dir, 'cache');
    const cold = run({ INTNPU_CACHE: '1', INTNPU_CACHE_DIR: cache });
    expect(readdirSync(join(cache, 'memo'))).toHaveLength(1);
    const warm = run({ INTNPU_CACHE: '1', INTNPU_CACHE_DIR: cache });
    const none = run({ INTNPU_CACHE: '0' });
    expect(warm).toEqual(cold);
    expect(none).toEqual(cold);
  });
});
