// `intnpu fidelity`: layer 2 (NPU kernel semantics) against layer 1 (the I-BERT reference) on realistic
// seeded inputs at BERT-base shapes: the share of identical int8 outputs and the largest difference.
import type { CommandModule } from 'yargs';
import { EXIT, handler, printJson, table, UsageError } from '../common.js';
import { KERNELS, type FidelityResult } from '../registry.js';
import { Progress } from '../progress.js';

interface Args {
  kernel?: string | undefined;
  seed: string;
  json?: boolean | undefined;
}

/** The acceptance bar of layer 2: at least 99.9 % identical and never more than one step apart. */
export const FIDELITY_MIN_SHARE = 0.999;
export const FIDELITY_MAX_DIFF = 1;

export const fidelityCommand: CommandModule<object, Args> = {
  command: 'fidelity',
  describe: 'Measure the NPU kernel semantics (layer 2) against the I-BERT reference (layer 1) at BERT-base shapes',
  builder: (y) =>
    y
      .option('kernel', { alias: 'k', type: 'string', describe: 'one kernel only' })
      .option('seed', { type: 'string', default: 'intnpu-fidelity' })
      .option('json', { type: 'boolean' }),
  handler: handler((a: Args) => {
    const results: FidelityResult[] = [];
    const valid = [...KERNELS.values()].filter((k) => k.fidelity).map((k) => k.name);
    if (a.kernel !== undefined && !valid.includes(a.kernel)) {
      throw new UsageError(`--kernel ${a.kernel}: no fidelity measurement for that kernel (one of ${valid.join(', ')})`);
    }
    const chosen = [...KERNELS.values()].filter((k) => k.fidelity && (!a.kernel || a.kernel === k.name));
    const progress = new Progress('fidelity', chosen.length, a.json);
    for (const k of chosen) {
      progress.begin(k.name);
      const r = k.fidelity!({ seed: a.seed });
      results.push(...(Array.isArray(r) ? r : [r]));
      progress.tick(`${k.name} done`);
    }
    progress.end();
    const pass = (r: FidelityResult): boolean => r.identical_share >= FIDELITY_MIN_SHARE && r.max_abs_diff <= FIDELITY_MAX_DIFF;
    const ok = results.every(pass);
    if (a.json) {
      printJson({ results, bar: { min_identical_share: FIDELITY_MIN_SHARE, max_abs_diff: FIDELITY_MAX_DIFF }, pass: ok });
    } else {
      const rows: (string | number)[][] = [['kernel', 'setting', 'outputs', 'identical', 'share', 'max |diff|', 'first difference', 'pass']];
      for (const r of results) {
        rows.push([r.kernel, r.setting, r.n, r.identical, `${(r.identical_share * 100).toFixed(4)} %`, r.max_abs_diff,
          r.first_diff ? `#${r.first_diff.index}: npu ${r.first_diff.npu}, ref ${r.first_diff.ref}` : '-', pass(r) ? 'yes' : 'NO']);
      }
      process.stdout.write(table(rows) + `\nbar: >= ${FIDELITY_MIN_SHARE * 100} % identical and |diff| <= ${FIDELITY_MAX_DIFF}\n`);
      if (results.length === 0) process.stdout.write('no kernel with a fidelity measurement matched\n');
    }
    return ok ? EXIT.ok : EXIT.mismatch;
  }),
};
