// The memo store on disk (programs/schedule.ts MemoStore): the cycle models' plans and figures that
// memoPerMachine computes (tilings priced by their models, softmax plans, the fused attention model), kept between
// runs so that a second `intnpu layer` or a sweep's next point does not walk the same schedules again.
//
// - Where: <cache dir>/memo/<code fingerprint>/<sha256 of the key>.bin, the cache dir of the synthetic layers
//   (cli/layer-cache.ts: $INTNPU_CACHE_DIR, $XDG_CACHE_HOME/intnpu or ~/.cache/intnpu; INTNPU_CACHE=0 turns both off).
// - Staleness: the fingerprint hashes the text of every module under programs/, sim/, isa/ and kernels/ of the code
//   that runs (dist/ or the sources), so a changed model is a new folder; the MAX_VERSIONS most recently used folders
//   are kept. Each file holds its full key, compared on read (no trust in the hash alone), and the SHA-256 of its
//   value, checked on read (a damaged file is a miss, as in the layer cache).
// - Failure: a file that cannot be read or parsed is a miss; a cache that cannot be written is no cache. Nothing
//   here ever changes a result, only whether it is recomputed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MemoStore } from '../programs/schedule.js';
import { layerCacheDir } from './layer-cache.js';

/** Code folders whose modules the memoised functions may depend on. */
const CODE_DIRS = ['programs', 'sim', 'isa', 'kernels'];
/** Fingerprint folders kept (the current one and the most recently used others). */
const MAX_VERSIONS = 4;

/**
 * The folder holding the code folders: the first above this module with programs/schedule.(js|ts) in it (dist/ as tsc
 * wrote it, dist/ under the bundled command line or a bundled worker, or the sources under vitest); undefined if none.
 */
export function codeRoot(from: string = fileURLToPath(import.meta.url)): string | undefined {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'programs', 'schedule.js')) || existsSync(join(dir, 'programs', 'schedule.ts'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** SHA-256 over the path and text of every .js/.ts/.wasm module under the code folders (sorted: the same tree, the same hash). */
export function codeFingerprint(root: string): string {
  const h = createHash('sha256');
  let files = 0;
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(root, rel)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const r = `${rel}/${name}`;
      if (name.endsWith('.js') || (name.endsWith('.ts') && !name.endsWith('.d.ts')) || name.endsWith('.wasm')) {
        h.update(`${r}\n`).update(readFileSync(join(root, r)));
        files++;
      } else if (!name.includes('.')) {
        walk(r);
      }
    }
  };
  for (const d of CODE_DIRS) walk(d);
  if (files === 0) throw new Error(`memo store: no code under ${root} to fingerprint`);
  return h.digest('hex').slice(0, 24);
}

/** A file's first line: its full key and the SHA-256 of the value that follows the line as it is. */
interface Header {
  readonly key: string;
  readonly sha256: string;
}

const digest = (value: Uint8Array): string => createHash('sha256').update(value).digest('hex');

/** A MemoStore under `base` (one file per key) for the code of this fingerprint; older fingerprints beyond MAX_VERSIONS go. */
export function diskMemoStore(base: string, fingerprintOf: () => string): MemoStore {
  // the fingerprint reads the code tree: only once something is looked up
  let fingerprint: string | undefined, dir = '';
  const file = (key: string): string => {
    if (fingerprint === undefined) dir = join(base, 'memo', (fingerprint = fingerprintOf()));
    return join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.bin`);
  };
  let prepared = false;
  const prepare = (): void => {
    prepared = true;
    mkdirSync(dir, { recursive: true });
    const now = new Date();
    utimesSync(dir, now, now);
    const parent = join(base, 'memo');
    const others = readdirSync(parent)
      .filter((n) => n !== fingerprint)
      .map((n) => ({ n, t: statSync(join(parent, n)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    for (const o of others.slice(MAX_VERSIONS - 1)) rmSync(join(parent, o.n), { recursive: true, force: true });
  };
  return {
    get(key) {
      try {
        const bytes = readFileSync(file(key));
        const nl = bytes.indexOf(0x0a);
        if (nl <= 0) return undefined;
        const h = JSON.parse(bytes.subarray(0, nl).toString('utf8')) as Header;
        const value = bytes.subarray(nl + 1);
        return h.key === key && h.sha256 === digest(value) ? value : undefined;
      } catch {
        return undefined;
      }
    },
    set(key, value) {
      try {
        const f = file(key);
        if (!prepared) prepare();
        const tmp = `${f}.${process.pid}.tmp`;
        // the value's bytes as they are (a program's are megabytes of words), after a one-line header
        writeFileSync(tmp, Buffer.concat([Buffer.from(`${JSON.stringify({ key, sha256: digest(value) } satisfies Header)}\n`), value]));
        renameSync(tmp, f);
      } catch {
        // a cache that cannot be written is no cache
      }
    },
  };
}

/** Set by the bundler (scripts/bundle-cli.mjs): the fingerprint of the code the bundle was made from. */
declare const INTNPU_CODE_FINGERPRINT: string | undefined;

/**
 * The CLI's memo store: on disk under the cache folder; none when caching is off or when the code it would be keyed
 * by cannot be found (a stale plan must never be read back). A bundle carries its code's fingerprint; unbundled
 * modules hash their tree on first use.
 */
export function cliMemoStore(): MemoStore | undefined {
  const base = layerCacheDir();
  if (base === undefined) return undefined;
  if (typeof INTNPU_CODE_FINGERPRINT === 'string') return diskMemoStore(base, () => INTNPU_CODE_FINGERPRINT!);
  const root = codeRoot();
  return root === undefined ? undefined : diskMemoStore(base, () => codeFingerprint(root));
}
