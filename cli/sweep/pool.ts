// A pool of worker threads for `intnpu sweep`: each worker holds the workload's inputs; points are handed
// out one at a time as workers finish (uneven points balance themselves), and each answer is passed on
// as soon as it arrives so the output file grows (and a killed sweep can resume).
import { Worker } from 'node:worker_threads';
import type { PointFigures, WorkloadSpec } from './workloads.js';

export interface PointRequest {
  readonly index: number;
  readonly machine: unknown;
}

export type PointReply = { readonly index: number; readonly figures: PointFigures; readonly error?: undefined } | { readonly index: number; readonly error: string; readonly figures?: undefined };

/**
 * The worker module, dist/cli/sweep/worker.js: beside this module as tsc wrote it, or in sweep/ beside the bundled
 * command line (dist/cli/main.js, scripts/bundle-cli.mjs), whose import.meta.url is the bundle's.
 */
function workerUrl(): URL {
  const here = new URL('./worker.js', import.meta.url);
  return import.meta.url.endsWith('/sweep/pool.js') || import.meta.url.endsWith('/sweep/pool.ts') ? here : new URL('./sweep/worker.js', import.meta.url);
}

export async function runPool(spec: WorkloadSpec, requests: readonly PointRequest[], jobs: number, onReply: (r: PointReply) => void): Promise<void> {
  if (requests.length === 0) return;
  const n = Math.max(1, Math.min(jobs, requests.length));
  let next = 0;
  const url = workerUrl();
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = new Worker(url, { workerData: { spec } });
      let current: PointRequest | undefined;
      const feed = (): void => {
        current = requests[next++];
        if (current === undefined) void w.terminate().then(() => resolve());
        else w.postMessage(current);
      };
      w.on('message', (r: PointReply) => {
        onReply(r);
        feed();
      });
      w.on('error', (e) => {
        // A worker that dies (out of memory, a crash) fails its current point; the other workers carry on.
        if (current) onReply({ index: current.index, error: `internal: worker died: ${e.message}` });
        reject(e);
      });
      feed();
    });
  const results = await Promise.allSettled(Array.from({ length: n }, one));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed && failed.status === 'rejected') throw failed.reason;
}
