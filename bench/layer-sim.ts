// Benchmark of a whole BERT-base encoder layer on the simulator (programs/models/layer.ts): a seeded synthetic layer (seq
// 128, hidden 768, 12 heads, FFN 3072) on the edge and server presets, with the simulated cycles of every kernel and
// of the layer, bit-exactness against the reference layer, and the host time it took (per kernel and in total).
import { performance } from 'node:perf_hooks';
import { generateLayer } from '../kernels/ref/generate.js';
import { runLayer } from '../kernels/ref/layer.js';
import { compileLayerSim, runLayerSim, type LayerSimResult } from '../programs/models/layer.js';
import { loadMachine, type MachineConfig } from '../sim/config.js';

const DIMS = { seq: 128, hidden: 768, heads: 12, ffn: 3072 } as const;
const SEED = 'bench layer sim';

function machineReport(r: LayerSimResult, cfg: MachineConfig, hostMs: number, stepHostMs: number[]): Record<string, unknown> {
  const cells = cfg.mxu.rows * cfg.mxu.cols;
  return {
    total_cycles: r.total_cycles,
    total_model_cycles: r.total_model_cycles,
    latency_us: r.latency_us,
    mac_bound_cycles: Math.ceil(r.total_macs / cells),
    mxu_utilization: r.mxu_utilization,
    total_dram_bytes: r.total_dram_bytes,
    bit_exact: r.bit_exact,
    first_mismatch: r.first_mismatch,
    unsupported: r.unsupported,
    host_ms: hostMs,
    steps: r.steps.map((s, i) => ({
      steps: s.steps.join('-'), name: s.name, kernel: s.kernel, cycles: s.cycles, model_cycles: s.model_cycles,
      share: r.total_cycles > 0 ? s.cycles / r.total_cycles : 0, mxu_utilization: s.mxu_utilization, vpu_utilization: s.vpu_utilization,
      dram_bytes: s.dram_bytes, identical_to_reference: s.identical_to_reference, host_ms: stepHostMs[i] ?? null,
    })),
  };
}

export async function benchLayerSim(): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const g = generateLayer({ seed: SEED, ...DIMS });
  const x = Int8Array.from(g.layer.input!.x_int);
  const t1 = performance.now();
  const model = compileLayerSim(g.layer);
  const reference = runLayer(model.compiled, x, DIMS.seq, g.mask);
  const t2 = performance.now();

  const run = (name: string): { r: LayerSimResult; cfg: MachineConfig; ms: number; steps: number[] } => {
    const cfg = loadMachine(name);
    const steps: number[] = [];
    let last = performance.now();
    const start = last;
    const opts = {
      reference,
      onStep: (): void => {
        const now = performance.now();
        steps.push(now - last);
        last = now;
      },
      ...(g.mask === undefined ? {} : { mask: g.mask }),
    };
    const r = runLayerSim(model, x, DIMS.seq, cfg, opts);
    return { r, cfg, ms: performance.now() - start, steps };
  };
  const edge = run('edge'); // cold: includes the JIT warm-up of the simulator and the program builders
  const server = run('server');
  const edgeWarm = run('edge');
  const sameCycles = edgeWarm.r.total_cycles === edge.r.total_cycles;

  return {
    config: { seed: SEED, ...DIMS },
    schedule: edge.r.schedule,
    generate_ms: t1 - t0,
    reference_ms: t2 - t1,
    note: 'host_ms covers building each kernel case from the previous kernel\'s simulated output, program build, assembly, ' +
      'simulation (functional + timing) and the element-by-element comparison; the first edge run includes JIT warm-up',
    edge: machineReport(edge.r, edge.cfg, edge.ms, edge.steps),
    edge_warm_host_ms: edgeWarm.ms,
    edge_warm_deterministic: sameCycles && edgeWarm.r.bit_exact === edge.r.bit_exact,
    server: machineReport(server.r, server.cfg, server.ms, server.steps),
  };
}
