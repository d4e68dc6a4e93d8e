// The HTML report of a sweep: latency against each swept field, the Pareto front of latency vs energy, and
// every row (failed points with their error).
import type { SweepResult, Row } from '../sweep/sweep.js';
import { FIGURE_COLUMNS } from '../sweep/sweep.js';
import { htmlTable, page } from './page.js';
import { paretoFront, PALETTE, scatter, type Axis } from './svg.js';

const ok = (r: Row): boolean => r['error'] === null && typeof r['latency_us'] === 'number' && typeof r['energy_uj'] === 'number';

function axisFor(path: string, values: readonly (string | number | boolean)[]): Axis {
  if (values.every((v) => typeof v === 'number')) {
    const nums = values as number[];
    const pos = nums.every((v) => v > 0);
    const spread = pos ? Math.max(...nums) / Math.min(...nums) : 0;
    return { label: path + (pos && spread >= 8 ? ' (log scale)' : ''), log: pos && spread >= 8, tickValues: [...nums].sort((a, b) => a - b) };
  }
  return { label: path, categories: values.map(String) };
}

function pointTip(r: Row, fields: readonly string[]): string {
  return `point ${String(r['point'])}: ${fields.map((f) => `${f}=${String(r[f])}`).join(', ')}\n` +
    `latency ${Number(r['latency_us']).toFixed(2)} us, energy ${Number(r['energy_uj']).toFixed(2)} uJ, bound ${String(r['bound'])}`;
}

export function sweepHtml(r: SweepResult): string {
  const fields = r.fields.map((f) => f.path);
  const good = r.rows.filter(ok);
  let charts = '';
  r.fields.forEach((f, i) => {
    const xa = axisFor(f.path, f.values);
    // one series per value of the other fields' first field, so trends along f read as lines
    const groups = new Map<string, Row[]>();
    for (const row of good) {
      const key = r.fields.filter((g) => g.path !== f.path).map((g) => `${g.path.split('.').pop()!}=${String(row[g.path])}`).join(', ') || 'all points';
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    const series = [...groups.entries()].map(([name, rows], k) => ({
      name, color: PALETTE[k % PALETTE.length]!, line: true,
      points: rows.sort((a, b) => (xa.categories ? xa.categories.indexOf(String(a[f.path])) - xa.categories.indexOf(String(b[f.path])) : Number(a[f.path]) - Number(b[f.path])))
        .map((row) => ({ x: xa.categories ? String(row[f.path]) : Number(row[f.path]), y: Number(row['latency_us']), tip: pointTip(row, fields) })),
    }));
    charts += scatter(`latency-vs-${i}`, `Latency vs ${f.path}` + (groups.size > 1 ? ' (one line per setting of the other fields)' : ''), xa, { label: 'latency (us)' }, series);
  });
  const front = paretoFront(good, (x) => Number(x['latency_us']), (x) => Number(x['energy_uj']));
  const frontSet = new Set(front);
  charts += scatter('pareto', 'Pareto front: latency vs energy', { label: 'latency (us)' }, { label: 'energy (uJ)' }, [
    { name: 'dominated points', color: '#9498a0', points: good.filter((x) => !frontSet.has(x)).map((x) => ({ x: Number(x['latency_us']), y: Number(x['energy_uj']), tip: pointTip(x, fields) })) },
    { name: 'Pareto front', color: '#ff725c', line: true, points: front.map((x) => ({ x: Number(x['latency_us']), y: Number(x['energy_uj']), tip: pointTip(x, fields) })) },
  ]);
  const cols = ['point', ...fields, ...FIGURE_COLUMNS];
  const failed = r.rows.length - good.length;
  const body = `<h2>Charts</h2><div class="charts">${charts}</div>
<h2>Pareto-optimal points (${front.length})</h2>${htmlTable(cols, front.map((x) => cols.map((c) => x[c] ?? null)))}
<h2>All points (${r.rows.length}${failed ? `, ${failed} failed` : ''})</h2>${htmlTable(cols, r.rows.map((x) => cols.map((c) => x[c] ?? null)), (i) => (ok(r.rows[i]!) ? '' : 'err'))}
<p class="note">Latency is the simulated cycles at the machine's clock; energy is the simulator's per-event estimate (machine.energy). bound is the resource busy for the largest share of the cycles (bound_share); a Pareto-optimal point has no other point at most as slow and at most as costly.</p>`;
  return page(`intnpu sweep: ${r.description}`, `base machine ${r.base}; ${r.fields.map((f) => `${f.path} in {${f.values.join(', ')}}`).join(' x ')} = ${r.total_points} points` + (r.shard !== '1/1' ? `; this file: shard ${r.shard}` : ''), body);
}
