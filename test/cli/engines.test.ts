// The CLI's engine plumbing: `kernel --engine npu`, `kernel --compare` (pairwise comparison, exit codes),
// and `report` on small example cases. Outputs are checked against products computed here.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/cli/main.js', ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'intnpu-engines-'));
const write = (name: string, v: unknown): string => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(v));
  return p;
};

describe('engines', () => {
  const M = 3, K = 4, N = 2;
  const x = [1, -2, 3, -4, 5, -6, 7, -8, 127, -128, 0, 1];
  const w = [2, 3, -5, 7, -11, 13, 17, -19];
  const b = [1000, -1000];
  const want: number[] = [];
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = b[j]!;
    for (let k = 0; k < K; k++) s += x[i * K + k]! * w[j * K + k]!;
    want.push(s);
  }
  const linear = write('linear.json', { M, K, N, x_int: x, weight_int: w, bias_int: b });

  it('a case field no engine of the kernel reads is refused, naming it and the allowed fields', () => {
    const bad = write('gelu-typo.json', { x_int: [1, 2], scale_in: 0.01, out_xmax: 3 });
    for (const engine of ['ref', 'npu', 'sim']) {
      const r = cli('kernel', 'gelu', '--engine', engine, '--input', bad);
      expect(r.status, `${engine}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/unknown key "out_xmax" in a gelu case; allowed: x_int, shape, scale_in, out_x_min, out_x_max, out_bits/);
    }
  });

  it('npu and ref engines give the product', () => {
    for (const engine of ['npu', 'ref']) {
      const r = cli('kernel', 'linear', '--engine', engine, '--input', linear, '--json');
      expect(r.status, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { y_int: number[] }).y_int).toEqual(want);
    }
  });

  it('--compare reports every pair identical, the cycles, and exits 0', () => {
    const r = cli('kernel', 'linear', '--input', linear, '--compare', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { engines: string[]; comparisons: Array<{ a: string; b: string; identical: number; n: number; first_diff: unknown }>; cycles: { sim: number; model: number }; sim_equals_npu: boolean };
    expect(out.engines).toEqual(['ref', 'npu', 'sim']);
    expect(out.comparisons).toHaveLength(3);
    for (const c of out.comparisons) {
      expect(c.identical).toBe(M * N);
      expect(c.first_diff).toBeNull();
    }
    expect(out.sim_equals_npu).toBe(true);
    expect(out.cycles.sim).toBe(out.cycles.model);
  });

  it('--compare names the first differing element between the reference and the NPU variant (P.V with p = 256)', () => {
    const T = 2, hidden = 2, heads = 1;
    const p = [[[256, 0], [128, 128]]];
    const v = [[3, -4], [5, 6]];
    const pv = write('pv.json', { p_int: p, v_int: v, heads });
    const r = cli('kernel', 'pv', '--input', pv, '--compare', '--json');
    expect(r.status, r.stderr).toBe(0); // sim == npu; ref differs by design
    const out = JSON.parse(r.stdout) as { comparisons: Array<{ a: string; b: string; identical: number; max_abs_diff: number; first_diff: { index: number; a: number; b: number } | null }> };
    const refNpu = out.comparisons.find((c) => c.a === 'ref' && c.b === 'npu')!;
    // Row 0 of P is one-hot at 256: the reference gives 256*v, the NPU (p clamped to 255) 255*v.
    expect(refNpu.first_diff).toEqual({ index: 0, a: 256 * 3, b: 255 * 3 });
    expect(refNpu.max_abs_diff).toBe(4);
    expect(refNpu.identical).toBe(T * hidden - 2);
  });

  it('bad engine input exits 1 with the field named; an engine a kernel lacks exits 1', () => {
    const bad = write('bad.json', { M, K, N, x_int: x.map((v, i) => (i === 5 ? 300 : v)), weight_int: w, bias_int: b });
    const r = cli('kernel', 'linear', '--engine', 'npu', '--input', bad);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('x_int');
    expect(r.stderr).not.toContain('    at ');
  });

  it('report runs every kernel program on its small example, on edge, and all equal the NPU semantics', () => {
    const r = cli('report', '--size', 'small', '--machine', 'edge', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { rows: Array<{ kernel: string; cycles: number; model_cycles: number; sim_equals_npu: boolean | null }> };
    expect(out.rows.length).toBeGreaterThanOrEqual(4);
    for (const row of out.rows) {
      expect(row.sim_equals_npu, row.kernel).toBe(true);
      expect(row.cycles, row.kernel).toBeGreaterThan(0);
      expect(Math.abs(row.cycles / row.model_cycles - 1), row.kernel).toBeLessThanOrEqual(0.05);
    }
  });
});
