// The design-space grid of `intnpu sweep`: `--grid FIELD=v1,v2,...` options over machine-config paths, each
// field and each value validated by the machine's zod schema (sim/config.ts) before anything runs, the cross
// product in a fixed order (the first --grid field varies slowest) and the `--shard i/n` selection.
import { MachineSchema, type MachineInput } from '../../sim/config.js';
import { UsageError } from '../common.js';

export type GridValue = number | boolean | string;

export interface GridField {
  /** dotted machine-config path, e.g. `mxu.rows` */
  readonly path: string;
  readonly values: readonly GridValue[];
}

/** One point of the grid: its index in the whole grid (before sharding) and its value per field. */
export interface GridPoint {
  readonly index: number;
  readonly values: readonly GridValue[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets `path` (dotted) in a copy of a plain JSON object, creating intermediate objects. */
export function withPath(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path.split('.');
  const out: Record<string, unknown> = { ...obj };
  if (rest.length === 0) out[head!] = value;
  else out[head!] = withPath(isPlainObject(obj[head!]) ? (obj[head!] as Record<string, unknown>) : {}, rest.join('.'), value);
  return out;
}

/** The machine overrides of one point: the base description with each grid field set. */
export function pointMachine(base: MachineInput, fields: readonly GridField[], values: readonly GridValue[]): Record<string, unknown> {
  let m = { ...(base as Record<string, unknown>) };
  fields.forEach((f, i) => (m = withPath(m, f.path, values[i])));
  return m;
}

/** The default (fully parsed) machine: every field present, so a path that is not in it is not a field. */
const FULL = MachineSchema.parse({}) as Record<string, unknown>;

function leafOf(path: string): unknown {
  let cur: unknown = FULL;
  const parts = path.split('.');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (!isPlainObject(cur) || !(p in cur)) {
      const here = parts.slice(0, i).join('.');
      const keys = isPlainObject(cur) ? Object.keys(cur).join(', ') : '';
      throw new UsageError(`--grid ${path}: unknown machine field '${parts.slice(0, i + 1).join('.')}'` + (keys ? ` (fields${here ? ` of ${here}` : ''}: ${keys})` : ''));
    }
    cur = cur[p];
  }
  if (isPlainObject(cur)) {
    throw new UsageError(`--grid ${path}: '${path}' is a group, not a field (fields: ${Object.keys(cur).map((k) => `${path}.${k}`).join(', ')})`);
  }
  return cur;
}

function parseValue(path: string, text: string, like: unknown): GridValue {
  if (typeof like === 'boolean') {
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw new UsageError(`--grid ${path}: value '${text}' is not a boolean (true or false)`);
  }
  if (typeof like === 'number') {
    const v = text.trim() === '' ? NaN : Number(text);
    if (!Number.isFinite(v)) throw new UsageError(`--grid ${path}: value '${text}' is not a number`);
    return v;
  }
  return text;
}

/**
 * Parses `FIELD=v1,v2,...` options. Every field must be a machine-config path, every value must pass the schema
 * on its own (set into the default machine); the error names the field and the schema's message.
 */
export function parseGrid(specs: readonly string[] | undefined): GridField[] {
  if (!specs || specs.length === 0) throw new UsageError('--grid: empty grid: give at least one --grid FIELD=v1,v2,... (e.g. --grid mxu.rows=16,32)');
  const fields: GridField[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new UsageError(`--grid ${spec}: expected FIELD=v1,v2,... (a machine field such as mxu.rows, then its values)`);
    const path = spec.slice(0, eq).trim();
    const list = spec.slice(eq + 1);
    if (fields.some((f) => f.path === path)) throw new UsageError(`--grid ${path}: field given twice; put all its values in one --grid`);
    const like = leafOf(path);
    if (list.trim() === '') throw new UsageError(`--grid ${path}: empty grid: no values after '='`);
    const values = list.split(',').map((t) => parseValue(path, t.trim(), like));
    for (const v of values) {
      const r = MachineSchema.safeParse(withPath({}, path, v));
      if (!r.success) {
        const issue = r.error.issues[0]!;
        throw new UsageError(`--grid ${path}: value ${JSON.stringify(v)} rejected by the machine schema at ${issue.path.join('.') || path}: ${issue.message}`);
      }
    }
    if (new Set(values.map((v) => String(v))).size !== values.length) throw new UsageError(`--grid ${path}: a value is repeated`);
    fields.push({ path, values });
  }
  return fields;
}

/** The cross product, first field slowest: point i has the same values in every run of the same grid. */
export function gridPoints(fields: readonly GridField[]): GridPoint[] {
  let combos: GridValue[][] = [[]];
  for (const f of fields) combos = combos.flatMap((c) => f.values.map((v) => [...c, v]));
  return combos.map((values, index) => ({ index, values }));
}

export interface Shard {
  readonly i: number;
  readonly n: number;
}

export function parseShard(spec: string | undefined): Shard {
  if (spec === undefined) return { i: 1, n: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  if (!m) throw new UsageError(`--shard ${spec}: expected i/n with 1 <= i <= n (e.g. --shard 2/4)`);
  const i = Number(m[1]), n = Number(m[2]);
  if (n < 1 || i < 1 || i > n) throw new UsageError(`--shard ${spec}: shard index ${i} is outside 1..${n}`);
  return { i, n };
}

/** Shard i of n takes every n-th point starting at point i-1, so the n shards together are the whole grid. */
export function shardPoints(points: readonly GridPoint[], s: Shard): GridPoint[] {
  return points.filter((p) => p.index % s.n === s.i - 1);
}
