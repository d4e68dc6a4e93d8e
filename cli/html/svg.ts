// Small SVG chart primitives for the HTML reports, drawn as strings on the host: scatter/line charts (linear,
// log or categorical axes), stacked bars, and the frame of the zoomable timeline (drawn by the page's script).
// Every drawn datum carries class "mark" and a <title> tooltip; the browser test counts the marks.

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export const PALETTE = ['#4269d0', '#efb118', '#ff725c', '#6cc5b0', '#3ca951', '#ff8ab7', '#a463f2', '#97bbf5', '#9c6b4e', '#9498a0'];

export const W = 640, H = 380;
const M = { l: 64, r: 170, t: 34, b: 50 };
/** the bottom margin when category labels are rotated */
const MB_ROTATED = 100;

export interface Axis {
  readonly label: string;
  readonly log?: boolean;
  /** categorical axis: the categories in order (values are their names) */
  readonly categories?: readonly string[];
  /** ticks at these values (a swept field's values) instead of round numbers */
  readonly tickValues?: readonly number[];
}

type Scale = ((v: number | string) => number) & { ticks: { v: number | string; label: string }[] };

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 1) return `${+v.toPrecision(4)}`;
  return `${+v.toPrecision(2)}`;
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

export function scale(axis: Axis, values: readonly (number | string)[], r0: number, r1: number): Scale {
  if (axis.categories) {
    const cats = axis.categories;
    const bw = (r1 - r0) / Math.max(1, cats.length);
    const f = ((v: number | string) => r0 + bw * (cats.indexOf(String(v)) + 0.5)) as Scale;
    f.ticks = cats.map((c) => ({ v: c, label: c }));
    return f;
  }
  const nums = values.map(Number).filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  let lo = nums.length ? Math.min(...nums) : 0, hi = nums.length ? Math.max(...nums) : 1;
  if (axis.log && axis.tickValues && axis.tickValues.length > 0) {
    const a = Math.log10(Math.min(...axis.tickValues, lo)) - 0.1, b = Math.log10(Math.max(...axis.tickValues, hi)) + 0.1;
    const f = ((v: number | string) => r0 + ((Math.log10(Number(v)) - a) / (b - a)) * (r1 - r0)) as Scale;
    f.ticks = axis.tickValues.map((v) => ({ v, label: fmt(v) }));
    return f;
  }
  if (axis.log) {
    let llo = Math.floor(Math.log10(lo)), lhi = Math.ceil(Math.log10(hi));
    if (lhi === llo) lhi++;
    if (llo === lhi) llo--;
    const f = ((v: number | string) => r0 + ((Math.log10(Number(v)) - llo) / (lhi - llo)) * (r1 - r0)) as Scale;
    f.ticks = [];
    for (let e = llo; e <= lhi; e++) f.ticks.push({ v: 10 ** e, label: fmt(10 ** e) });
    return f;
  }
  if (lo > 0 && lo < hi * 0.5) lo = 0;
  if (hi === lo) [lo, hi] = [lo === 0 ? 0 : lo * 0.9, hi === 0 ? 1 : hi * 1.1];
  const pad = (hi - lo) * 0.05;
  const a = lo === 0 ? 0 : lo - pad, b = hi + pad;
  const f = ((v: number | string) => r0 + ((Number(v) - a) / (b - a)) * (r1 - r0)) as Scale;
  f.ticks = (axis.tickValues && axis.tickValues.length <= 12 ? [...axis.tickValues] : niceTicks(a, b)).map((v) => ({ v, label: fmt(v) }));
  return f;
}

const rotated = (xa: Axis): boolean => (xa.categories?.length ?? 0) > 5;
const bottom = (xa: Axis): number => (rotated(xa) ? MB_ROTATED : M.b);

function frame(title: string, x: Scale, y: Scale, xa: Axis, ya: Axis, body: string, legend: string, id: string): string {
  const H = HEIGHT(xa), mb = bottom(xa);
  const rot = rotated(xa);
  const xt = x.ticks.map((t) => `<g transform="translate(${x(t.v).toFixed(1)},${H - mb})"><line y2="5" stroke="#888"/>` +
    (rot ? `<text transform="translate(3,10) rotate(-40)" text-anchor="end">${esc(t.label.length > 22 ? t.label.slice(0, 21) + '…' : t.label)}</text>` : `<text y="18" text-anchor="middle">${esc(t.label)}</text>`) + '</g>').join('');
  const yt = y.ticks.map((t) => `<g transform="translate(${M.l},${y(t.v).toFixed(1)})"><line x1="-5" stroke="#888"/><line x2="${W - M.l - M.r}" stroke="#eee"/><text x="-8" dy="4" text-anchor="end">${esc(t.label)}</text></g>`).join('');
  return `<figure class="chart" id="${esc(id)}"><svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">
<text class="title" x="${M.l}" y="20">${esc(title)}</text>${yt}${xt}
<line x1="${M.l}" x2="${W - M.r}" y1="${H - mb}" y2="${H - mb}" stroke="#333"/><line x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${H - mb}" stroke="#333"/>
<text x="${(M.l + W - M.r) / 2}" y="${H - 8}" text-anchor="middle">${esc(xa.label)}</text>
<text transform="translate(16,${(M.t + H - mb) / 2}) rotate(-90)" text-anchor="middle">${esc(ya.label)}</text>
${body}${legend}</svg></figure>`;
}

const HEIGHT = (xa: Axis): number => (rotated(xa) ? H + MB_ROTATED - M.b : H);

function legendOf(items: readonly { name: string; color: string }[]): string {
  return items.filter((s) => s.name !== '').slice(0, 18).map((s, i) => `<g transform="translate(${W - M.r + 8},${M.t + 4 + i * 16})"><rect width="10" height="10" fill="${s.color}"/><text x="13" y="9" font-size="10">${esc(s.name.length > 30 ? s.name.slice(0, 29) + '…' : s.name)}<title>${esc(s.name)}</title></text></g>`).join('');
}

export interface Pt {
  readonly x: number | string;
  readonly y: number;
  readonly tip: string;
}

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly Pt[];
  /** connect the points in order with a line */
  readonly line?: boolean;
  /** draw only the line (ceilings), not the dots; such a series is not counted as marks */
  readonly lineOnly?: boolean;
  readonly dash?: boolean;
}

export function scatter(id: string, title: string, xa: Axis, ya: Axis, series: readonly Series[]): string {
  const all = series.flatMap((s) => s.points);
  const x = scale(xa, all.map((p) => p.x), M.l, W - M.r);
  const y = scale(ya, all.map((p) => p.y), HEIGHT(xa) - bottom(xa), M.t);
  let body = '';
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(y(p.y)) && Number.isFinite(x(p.x)));
    if (s.line || s.lineOnly) {
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join('');
      body += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dash ? ' stroke-dasharray="5 3"' : ''}${s.lineOnly ? ` class="ceiling"><title>${esc(s.name)}</title></path>` : '/>'}`;
      if (s.lineOnly) continue;
    }
    for (const p of pts) body += `<circle class="mark" cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="4" fill="${s.color}" fill-opacity="0.8"><title>${esc(p.tip)}</title></circle>`;
  }
  return frame(title, x, y, xa, ya, body, legendOf(series), id);
}

export interface Stack {
  readonly category: string;
  /** segment name -> value */
  readonly parts: Readonly<Record<string, number>>;
  readonly tip?: string;
}

export function stackedBars(id: string, title: string, xLabel: string, yLabel: string, stacks: readonly Stack[], colors: Readonly<Record<string, string>>): string {
  const names = Object.keys(colors);
  const totals = stacks.map((s) => names.reduce((n, k) => n + (s.parts[k] ?? 0), 0));
  const xa: Axis = { label: xLabel, categories: stacks.map((s) => s.category) };
  const x = scale(xa, [], M.l, W - M.r);
  const y = scale({ label: yLabel }, [0, ...totals], HEIGHT(xa) - bottom(xa), M.t);
  const bw = Math.max(2, ((W - M.l - M.r) / Math.max(1, stacks.length)) * 0.7);
  let body = '';
  stacks.forEach((s) => {
    let acc = 0;
    for (const k of names) {
      const v = s.parts[k] ?? 0;
      if (v <= 0) continue;
      const y0 = y(acc), y1 = y(acc + v);
      body += `<rect class="mark" x="${(x(s.category) - bw / 2).toFixed(1)}" y="${y1.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(0.5, y0 - y1).toFixed(1)}" fill="${colors[k]}"><title>${esc(`${s.category}: ${k} ${v.toLocaleString('en-US')}${s.tip ? `\n${s.tip}` : ''}`)}</title></rect>`;
      acc += v;
    }
  });
  const used = names.filter((k) => stacks.some((s) => (s.parts[k] ?? 0) > 0));
  return frame(title, x, y, xa, { label: yLabel }, body, legendOf(used.map((k) => ({ name: k, color: colors[k]! }))), id);
}

/** Points not dominated in (a, b), both minimized (equal points all kept); sorted by a. */
export function paretoFront<T>(items: readonly T[], a: (t: T) => number, b: (t: T) => number): T[] {
  const sorted = [...items].sort((p, q) => a(p) - a(q) || b(p) - b(q));
  const out: T[] = [];
  let best = Infinity;
  for (const t of sorted) {
    const last = out[out.length - 1];
    if (b(t) < best || (last !== undefined && a(t) === a(last) && b(t) === b(last))) {
      out.push(t); // ties with a front point are not dominated either
      best = b(t);
    }
  }
  return out;
}
