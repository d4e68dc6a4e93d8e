// Benchmark of the I-BERT reference layer (kernels/): a seeded BERT-base-sized synthetic layer (seq 128, hidden
// 768, 12 heads, FFN 3072), its integer run time, and its agreement with the float64 evaluation of the same layer.
import { performance } from 'node:perf_hooks';
import { compareVectors } from '../kernels/ref/float-ref.js';
import { generateLayer } from '../kernels/ref/generate.js';
import { compileLayer, runLayer } from '../kernels/ref/layer.js';
import { maxAbsBits } from '../kernels/ref/tensor.js';

export async function benchReferenceLayer(): Promise<Record<string, unknown>> {
  const opts = { seed: 'bench reference layer', seq: 128, hidden: 768, heads: 12, ffn: 3072 };
  const t0 = performance.now();
  const g = generateLayer(opts); // host: float32 params, quantization, float64 calibration pass
  const t1 = performance.now();
  const compiled = compileLayer(g.layer);
  const t2 = performance.now();
  const x = Int8Array.from(g.layer.input!.x_int);
  const run = runLayer(compiled, x, opts.seq, g.mask);
  const t3 = performance.now();
  runLayer(compiled, x, opts.seq, g.mask);
  const t4 = performance.now();
  const out = Float64Array.from(run.output, (v) => v * run.outputScale);
  const cmp = compareVectors(out, g.floatRun.output);
  const { seq: T, hidden: C, ffn: F } = opts;
  const macs = 3 * T * C * C + 2 * T * T * C + T * C * C + 2 * T * C * F;
  const widths: Record<string, number> = {};
  for (const s of Object.values(run.steps)) widths[s.name] = maxAbsBits(s.data);
  return {
    config: opts,
    runtime_ms: t3 - t2,
    runtime_warm_ms: t4 - t3,
    generate_ms: t1 - t0,
    compile_ms: t2 - t1,
    macs,
    gmacs_per_s: macs / ((t4 - t3) * 1e6),
    cosine: cmp.cosine,
    max_abs_error: cmp.maxAbsError,
    rms_error: cmp.rmsError,
    output_rms: cmp.refRms,
    layernorm_shift: [compiled.ln1.shift, compiled.ln2.shift],
    softmax: { scale_in: compiled.softmax.scaleIn, q_ln2: compiled.softmax.qLn2, M: compiled.softmax.M, E31: compiled.softmax.E31 },
    step_max_bits: widths,
  };
}
