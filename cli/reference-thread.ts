// The reference layer computed on a worker thread (cli/reference-worker.ts) while the main thread simulates: a user
// of `intnpu layer` waits for the longer of the two, not their sum (the machine has a second core; the CPU time is
// the same). runLayerSim takes the reference as a function and calls it when it compares the first step; the
// function blocks until the worker's reply is there (Atomics.wait on a shared counter, then receiveMessageOnPort,
// so the simulation stays synchronous).
//
// The results are the reference's own: the worker runs the same runLayer on a copy of the same compiled layer and
// input. Whatever goes wrong on the worker side (it cannot start, a job throws, no reply within the patience
// below) falls back to runLayer on the main thread, which then reports its own error as it always did.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { runLayer, type CompiledLayer, type LayerRun } from '../kernels/ref/layer.js';
import type { SyntheticLayerOptions } from '../kernels/ref/generate.js';
import type { LazyReference } from '../programs/models/layer.js';
import type { ReferenceJob, ReferenceReply } from './reference-worker.js';

/** How long to wait for one reply before computing it here (a worker that died mid-job leaves no other sign). */
const PATIENCE_MS = 120_000;
/** How long a worker may take to start running its module (one that cannot load, say a broken build, never does). */
const START_PATIENCE_MS = 10_000;

export class ReferenceThread {
  private readonly worker: Worker | undefined;
  private readonly port: MessagePort | undefined;
  /** [0] counts the worker's replies (and its start), [1] is 1 once its module runs */
  private readonly ticks = new Int32Array(new SharedArrayBuffer(8));
  private readonly started = performance.now();
  private readonly startPatienceMs: number;
  private readonly replies = new Map<number, ReferenceReply>();
  private next = 0;
  /** the compiled layers already copied to the worker, by their number there */
  private readonly layers = new Map<CompiledLayer, number>();
  /** the worker has stopped (seen between jobs; while blocked, only the patience ends a wait on a dead worker) */
  private exited = false;

  /** Whether a worker was started (false: every reference is computed on the calling thread). */
  get threaded(): boolean {
    return this.worker !== undefined;
  }

  /**
   * Starts the worker (it loads its modules while the main thread goes on); `threaded` false: none, all runs here.
   * `opts` for tests: another worker module, another start patience.
   */
  constructor(threaded = true, opts: { readonly url?: URL; readonly startPatienceMs?: number } = {}) {
    const url = opts.url ?? new URL('./reference-worker.js', import.meta.url);
    this.startPatienceMs = opts.startPatienceMs ?? START_PATIENCE_MS;
    try {
      if (!threaded) throw new Error('no worker wanted');
      // run from the TypeScript sources (vitest) there is no worker module to start: the reference runs here
      if (!existsSync(fileURLToPath(url))) throw new Error('no worker module');
      const { port1, port2 } = new MessageChannel();
      this.worker = new Worker(url, { workerData: { port: port2, ticks: this.ticks }, transferList: [port2] });
      this.worker.unref();
      this.worker.on('error', () => undefined); // a failed worker is a missing reply: handled by the fallback
      this.worker.on('exit', () => (this.exited = true));
      this.port = port1;
      this.port.unref();
    } catch {
      this.worker = undefined;
      this.port = undefined;
    }
  }

  /** Stops the worker (jobs asked afterwards are computed on the calling thread). */
  close(): void {
    this.exited = true;
    void this.worker?.terminate();
  }

  /**
   * Queues the reference run of one layer input; returns what runLayerSim's `reference` option takes: whether the
   * worker's run is there, and the run (waiting for it, or computed here if the worker cannot give it). `synthetic`:
   * the options of the cached synthetic layer that `compiled`, `x` and `mask` come from (the worker reads it itself).
   */
  submit(compiled: CompiledLayer, x: Int8Array, T: number, mask?: ArrayLike<number>, synthetic?: SyntheticLayerOptions): LazyReference {
    let run: LayerRun | undefined;
    const here = (): LayerRun => (run ??= runLayer(compiled, x, T, mask));
    const local: LazyReference = { ready: () => true, get: here };
    if (this.port === undefined || this.exited) return local;
    const id = this.next++;
    // a cached synthetic layer is read by the worker itself: copying the compiled layer to it costs this thread 60-90 ms
    // a compiled layer is copied to the worker once (a batch's sequences share it), then named by its number
    let job: ReferenceJob;
    if (synthetic !== undefined) job = { id, synthetic };
    else {
      const sent = this.layers.get(compiled);
      const layer = sent ?? this.layers.size;
      job = { id, layer, ...(sent === undefined ? { compiled } : {}), x, T, ...(mask === undefined ? {} : { mask: Array.from(mask) }) };
    }
    try {
      this.port.postMessage(job);
    } catch {
      return local;
    }
    if ('compiled' in job && job.compiled !== undefined) this.layers.set(job.compiled, job.layer);
    return {
      ready: () => run !== undefined || this.poll(id, 0) !== undefined,
      get: () => {
        if (run !== undefined) return run;
        const r = this.poll(id, PATIENCE_MS);
        this.replies.delete(id);
        return r !== undefined && 'run' in r ? (run = r.run) : here();
      },
    };
  }

  /** The reply to job `id`, waiting at most `patienceMs` for it (undefined without one by then). */
  private poll(id: number, patienceMs: number): ReferenceReply | undefined {
    const port = this.port!;
    const deadline = performance.now() + patienceMs;
    for (;;) {
      const got = this.replies.get(id);
      if (got !== undefined) return got;
      // read the counter before the port: a reply posted after this read ticks it, and the wait returns at once
      const seen = Atomics.load(this.ticks, 0);
      const m = receiveMessageOnPort(port);
      if (m !== undefined) {
        const r = m.message as ReferenceReply;
        this.replies.set(r.id, r);
        continue;
      }
      const now = performance.now();
      if (now >= deadline || this.exited) return undefined;
      // a worker whose module never ran will not answer: stop waiting for it
      const running = Atomics.load(this.ticks, 1) === 1;
      if (!running && now - this.started >= this.startPatienceMs) return undefined;
      Atomics.wait(this.ticks, 0, seen, running ? deadline - now : Math.min(deadline, this.started + this.startPatienceMs) - now);
    }
  }
}
