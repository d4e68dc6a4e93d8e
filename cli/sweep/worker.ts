// Worker thread of `intnpu sweep`: builds the workload's machine-independent inputs once, then evaluates the
// points the main thread sends, one message per point. A point that fails (schema-invalid combination,
// capacity, tiling) is answered with its error; the worker keeps going.
import { parentPort, workerData } from 'node:worker_threads';
import { setMemoStore } from '../../programs/schedule.js';
import { parseMachine, type MachineInput } from '../../sim/config.js';
import { cliMemoStore } from '../memo-store.js';
import { WorkloadRunner, type WorkloadSpec } from './workloads.js';
import type { PointReply, PointRequest } from './pool.js';

interface Init {
  readonly spec: WorkloadSpec;
}

// as the main thread: the cycle models' plans and figures kept between runs (cli/memo-store.ts)
setMemoStore(cliMemoStore());
const init = workerData as Init;
const runner = new WorkloadRunner(init.spec);
const port = parentPort!;

port.on('message', (req: PointRequest) => {
  let reply: PointReply;
  try {
    const cfg = parseMachine(req.machine as MachineInput, `point ${req.index}`);
    const f = runner.run(cfg);
    const { steps: _steps, ...figures } = f;
    reply = { index: req.index, figures };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const known = typeof e === 'object' && e !== null && ('exitCode' in e || (e instanceof Error && /Error$/.test(e.name) && e.name !== 'Error' && e.name !== 'TypeError' && e.name !== 'RangeError'));
    reply = { index: req.index, error: (known ? '' : 'internal: ') + msg.replace(/\s*\n\s*/g, '; ') };
  }
  port.postMessage(reply);
});
