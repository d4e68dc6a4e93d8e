// The reference layer on a worker thread (cli/reference-thread.ts starts it and reads its results): while the main
// thread builds and simulates a layer's kernels, this thread runs the exact reference (kernels/ref/layer.ts) of the
// same layer on its own core. Every job gets one reply, the run or the reason it failed, then a tick of the shared
// counter that the main thread waits on.
import { type MessagePort, workerData } from 'node:worker_threads';
import type { CompiledLayer, LayerRun } from '../kernels/ref/layer.js';
import type { SyntheticLayerOptions } from '../kernels/ref/generate.js';

/**
 * A layer run to compute: a compiled layer (sent once, then named by `layer`) with its input, or a synthetic layer
 * this thread reads from the cache itself.
 */
export type ReferenceJob =
  | { readonly id: number; readonly layer: number; readonly compiled?: CompiledLayer; readonly x: Int8Array; readonly T: number; readonly mask?: number[] }
  | { readonly id: number; readonly synthetic: SyntheticLayerOptions };

export type ReferenceReply = { readonly id: number; readonly run: LayerRun } | { readonly id: number; readonly error: string };

const { port, ticks } = workerData as { port: MessagePort; ticks: Int32Array };
// this module runs: from here on every job gets a reply (ticks[1]; a module that cannot load never sets it)
Atomics.store(ticks, 1, 1);
Atomics.add(ticks, 0, 1);
Atomics.notify(ticks, 0);

const reply = (msg: ReferenceReply, transfer: ArrayBuffer[] = []): void => {
  port.postMessage(msg, transfer);
  Atomics.add(ticks, 0, 1);
  Atomics.notify(ticks, 0);
};

/** The tensors' buffers, each once (the run moves to the main thread without a copy). */
function buffersOf(run: LayerRun): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const s of Object.values(run.steps)) if (s.data.buffer instanceof ArrayBuffer) set.add(s.data.buffer);
  if (run.output.buffer instanceof ArrayBuffer) set.add(run.output.buffer);
  return [...set];
}

const message = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

try {
  const { compileLayer, runLayer } = await import('../kernels/ref/layer.js');
  const { syntheticLayer } = await import('./layer-cache.js');
  /** the compiled layers sent so far, by number (a batch of sequences shares one) */
  const layers = new Map<number, CompiledLayer>();
  port.on('message', (job: ReferenceJob) => {
    let run: LayerRun;
    try {
      if ('synthetic' in job) {
        // the layer and its input as the main thread read them (the same cache file; generated alike if it went)
        const g = syntheticLayer(job.synthetic);
        if (g.layer.input === undefined) throw new Error('internal: the synthetic layer has no input');
        run = runLayer(compileLayer(g.layer), Int8Array.from(g.layer.input.x_int), job.synthetic.seq, g.mask);
      } else {
        if (job.compiled !== undefined) layers.set(job.layer, job.compiled);
        const compiled = layers.get(job.layer);
        if (compiled === undefined) throw new Error(`internal: layer ${job.layer} was never sent`);
        run = runLayer(compiled, job.x, job.T, job.mask);
      }
    } catch (e) {
      reply({ id: job.id, error: message(e) });
      return;
    }
    reply({ id: job.id, run }, buffersOf(run));
  });
} catch (e) {
  // the reference cannot load here: every job is answered with the reason (the main thread computes it itself)
  port.on('message', (job: ReferenceJob) => reply({ id: job.id, error: message(e) }));
}
