// Bundles the command line (dist/cli/main.js, as tsc wrote it, with everything it imports: the project's modules,
// yargs, zod, seedrandom) into one module at the same path. Why: Node 20 loads ES modules file by file, and the
// ~200 files of an `intnpu layer` run cost ~130 ms of start-up on this machine against ~40 ms for one file (measured
// side by side; Node 20 has no module compile cache). The library (dist/index.js and the rest of dist/) stays as tsc
// wrote it; the bundle is only the `intnpu` executable.
//
// What the bundle must keep working, and how:
// - the worker threads (cli/reference-worker.js, cli/sweep/worker.js) are bundles of their own at their own paths,
//   found by URL from the module that starts them (cli/reference-thread.ts, cli/sweep/pool.ts handle both places);
// - the memo store's code fingerprint, the hash of dist/programs, sim, isa, kernels as tsc wrote them (the code the
//   bundles hold), is computed here and compiled into the bundles (INTNPU_CODE_FINGERPRINT);
// - dynamic imports (commands loaded on use) become lazily initialised parts of the one file;
// - CommonJS dependencies (seedrandom) get a `require` from createRequire (the banner).
//   node scripts/bundle-cli.mjs
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { codeFingerprint } from '../dist/cli/memo-store.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The executable and the two worker modules it starts, each bundled in place. */
const ENTRIES = ['dist/cli/main.js', 'dist/cli/reference-worker.js', 'dist/cli/sweep/worker.js'];
// the memo store's key of this code, computed once here rather than by hashing dist/ at every start
const fingerprint = codeFingerprint(join(ROOT, 'dist'));
for (const entry of ENTRIES) {
  const file = join(ROOT, entry);
  // bundling a bundle would declare the banner twice and break the module: the input must be tsc's output
  if (readFileSync(file, 'utf8').includes('__intnpuCreateRequire')) throw new Error(`${entry} is a bundle already: run tsc first (npm run build)`);
  await build({
    entryPoints: [file],
    outfile: file,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    define: { INTNPU_CODE_FINGERPRINT: JSON.stringify(fingerprint) },
    logLevel: 'warning',
    banner: { js: "import { createRequire as __intnpuCreateRequire } from 'node:module'; const require = __intnpuCreateRequire(import.meta.url);" },
  });
}
chmodSync(join(ROOT, ENTRIES[0]), 0o755);
