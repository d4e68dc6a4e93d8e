// The typed emitter alone: N instructions (li, vmulr.vx with register names and enums, dma.ld, vld.acc) into one
// program, `reps` times; prints the fastest emit and finish times (the machine is shared: the minimum is the
// emitter's cost, the rest is other load). `npm run build && node dist/bench/emitter-micro.js [N] [reps]`.
import { ProgramEmitter } from '../isa/emit.js';

const N = Number(process.argv[2] ?? 250_000), reps = Number(process.argv[3] ?? 15);
let emitMs = Infinity, finishMs = Infinity;
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  const e = new ProgramEmitter('micro.s');
  e.comment('emitter micro-benchmark');
  const b = e.buffer('b', 'dram', 100);
  for (let i = 0; i < N / 4; i++) {
    e.li(1, b + i);
    e.op('vmulr.vx', 'v1', 'v2', 'r3', 'r4', 'rne', 'sat8');
    e.op('dma.ld', 'acc', 1, 2, 3, 4, 5, 6);
    e.op('vld.acc', 3, 'r9', 128);
  }
  e.op('halt');
  const t1 = performance.now();
  e.finish();
  const t2 = performance.now();
  if (r > 0) {
    emitMs = Math.min(emitMs, t1 - t0);
    finishMs = Math.min(finishMs, t2 - t1);
  }
}
process.stdout.write(JSON.stringify({ instructions: N, emit_ms_min: Number(emitMs.toFixed(2)), finish_ms_min: Number(finishMs.toFixed(2)), ns_per_instruction: Math.round((1e6 * (emitMs + finishMs)) / N) }) + '\n');
