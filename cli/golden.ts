// Golden regressions for CI: a versioned, strict JSON file of entries (a built-in kernel on its seeded
// example case, the synthetic layer, or a user's program with its inputs), each with the cycle count and
// the sha256 of every output's bytes on one machine. `record` runs the entries and writes the file;
// `check` reruns them and reports each one (table, JSON, JUnit XML for CI servers).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { z } from 'zod';
import { assemble } from '../isa/asm.js';
import { generateLayer } from '../kernels/ref/generate.js';
import { compileLayerSim, runLayerSim } from '../programs/models/layer.js';
import { loadMachine, PRESETS, type MachineConfig } from '../sim/config.js';
import { Machine } from '../sim/machine.js';
import { loadProgram, simulate } from '../sim/run.js';
import { setBuffers } from './buffers.js';
import { readJson, readText, UsageError } from './common.js';
import { KERNELS, kernelEntry } from './registry.js';
import { LAYER_SIZES } from './commands/layer.js';

export const GOLDEN_FORMAT = 'intnpu/golden';
export const GOLDEN_VERSION = 1;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 digest: 64 lowercase hex digits');
const OutputDigest = z.object({
  sha256: Sha256.describe('sha256 of the output bytes (kernels: the outputs as int32 little-endian; layer and programs: the buffer bytes)'),
  bytes: z.number().int().nonnegative(),
}).strict();
const Common = {
  machine: z.string().min(1).describe('preset name, or a machine JSON file relative to the golden file'),
  cycles: z.number().int().nonnegative(),
  outputs: z.record(z.string(), OutputDigest),
};
const Size = z.enum(['small', 'base']);
const KernelGolden = z.object({ kind: z.literal('kernel'), kernel: z.string().min(1), size: Size, seed: z.string(), ...Common }).strict();
const LayerGolden = z.object({ kind: z.literal('layer'), size: Size, seed: z.string(), ...Common }).strict();
const ProgramGolden = z.object({
  kind: z.literal('program'),
  program: z.string().min(1).describe('assembly file, relative to the golden file'),
  params: z.record(z.string(), z.number().int()).optional(),
  set: z.array(z.string()).describe('BUFFER=FILE[:type] as for `intnpu run --set`, files relative to the golden file'),
  ...Common,
}).strict();
export const GoldenEntrySchema = z.discriminatedUnion('kind', [KernelGolden, LayerGolden, ProgramGolden]);
export const GoldenFileSchema = z.object({
  format: z.literal(GOLDEN_FORMAT),
  version: z.literal(GOLDEN_VERSION),
  entries: z.array(GoldenEntrySchema),
}).strict();
export type GoldenEntry = z.infer<typeof GoldenEntrySchema>;
export type GoldenFile = z.infer<typeof GoldenFileSchema>;

/** What an entry runs, without its results. */
export type GoldenSubject =
  | Omit<z.infer<typeof KernelGolden>, 'cycles' | 'outputs'>
  | Omit<z.infer<typeof LayerGolden>, 'cycles' | 'outputs'>
  | (Omit<z.infer<typeof ProgramGolden>, 'cycles' | 'outputs'> & { readonly outputNames?: readonly string[] });

export function entryName(e: Pick<GoldenEntry, 'kind' | 'machine'> & Partial<{ kernel: string; size: string; program: string; params: Record<string, number> | undefined }>): string {
  const what = e.kind === 'kernel' ? `kernel ${e.kernel} (${e.size})`
    : e.kind === 'layer' ? `layer (${e.size})`
    : `program ${e.program}${e.params && Object.keys(e.params).length ? ` ${Object.entries(e.params).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`;
  return `${what} on ${e.machine}`;
}

export function parseGolden(json: unknown, where: string): GoldenFile {
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const j = json as Record<string, unknown>;
    if (j['format'] === GOLDEN_FORMAT && typeof j['version'] === 'number' && j['version'] !== GOLDEN_VERSION) {
      throw new UsageError(`${where}: golden format version ${j['version']}; this intnpu reads version ${GOLDEN_VERSION}`);
    }
  }
  const r = GoldenFileSchema.safeParse(json);
  if (!r.success) throw new UsageError(`${where}: invalid golden file\n${z.prettifyError(r.error)}`);
  return r.data;
}

export function loadGolden(path: string): GoldenFile {
  return parseGolden(readJson(path), path);
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const digest = (bytes: Uint8Array): z.infer<typeof OutputDigest> => ({ sha256: sha256(bytes), bytes: bytes.byteLength });

/** Kernel outputs (plain numbers) as int32 little-endian bytes, the digest's input. */
function int32Bytes(values: ReadonlyArray<number | string>, what: string): Uint8Array {
  const out = new Int32Array(values.length);
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new Error(`${what}: output ${i} (${String(v)}) is not an int32`);
    out[i] = v;
  });
  return new Uint8Array(out.buffer);
}

const isPreset = (m: string): boolean => m in PRESETS;
/** A path stored in the golden file (relative to its folder) resolved for this process. */
const fromGolden = (base: string, p: string): string => (isAbsolute(p) ? p : resolve(base, p));
/** A path given on the command line stored relative to the golden file's folder. */
export const toGolden = (base: string, p: string): string => relative(base, resolve(p)) || '.';

function machineOf(spec: string, base: string): MachineConfig {
  return loadMachine(isPreset(spec) ? spec : fromGolden(base, spec));
}

/** The `--set` spec with its file resolved against `base` (BUFFER=FILE[:type]). */
export function rebaseSet(spec: string, from: (p: string) => string): string {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`--set ${spec}: expected BUFFER=FILE[:int8|int16|int32]`);
  const m = /^(.*?)(:int8|:int16|:int32)?$/.exec(spec.slice(eq + 1))!;
  return `${spec.slice(0, eq)}=${from(m[1]!)}${m[2] ?? ''}`;
}

/** Runs one subject; `base` is the golden file's folder (for relative paths). */
export function runSubject(s: GoldenSubject, base: string): GoldenEntry {
  const cfg = machineOf(s.machine, base);
  if (s.kind === 'kernel') {
    const k = kernelEntry(s.kernel);
    if (!k.sim || !k.example) throw new UsageError(`kernel '${s.kernel}' has no simulator program or example case`);
    const run = k.sim(k.example(s.size, s.seed), cfg, {});
    return { ...s, cycles: run.cycles, outputs: { y_int: digest(int32Bytes(run.y_int, `kernel ${s.kernel}`)) } };
  }
  if (s.kind === 'layer') {
    const g = generateLayer({ seed: s.seed, ...LAYER_SIZES[s.size] });
    if (g.layer.input === undefined) throw new Error('internal: generateLayer returned no input');
    const r = runLayerSim(compileLayerSim(g.layer), Int8Array.from(g.layer.input.x_int), LAYER_SIZES[s.size].seq, cfg, g.mask === undefined ? {} : { mask: g.mask });
    const out = new Uint8Array(r.output.buffer, r.output.byteOffset, r.output.byteLength);
    return { ...s, cycles: r.total_cycles, outputs: { output: digest(out) } };
  }
  const file = fromGolden(base, s.program);
  const prog = assemble(readText(file), {
    file: s.program, params: s.params ?? {},
    capacity: { dram: cfg.dram.sizeBytes, spad: cfg.spad.sizeBytes, acc: cfg.acc.sizeBytes / 4 },
  });
  const m = new Machine(cfg);
  setBuffers(s.set.map((spec) => rebaseSet(spec, (p) => fromGolden(base, p))), prog, s.program, m);
  const res = simulate(loadProgram(prog.words, prog), cfg, { machine: m });
  const names = s.outputNames ?? [...prog.buffers.values()].filter((b) => b.space === 'dram' && !m.hostWrites.has(b.name)).map((b) => b.name);
  const outputs: Record<string, z.infer<typeof OutputDigest>> = {};
  for (const n of names) {
    const b = prog.buffers.get(n);
    if (!b) throw new UsageError(`--output ${n}: no buffer '${n}' in ${s.program} (buffers: ${[...prog.buffers.keys()].join(', ')})`);
    outputs[n] = digest(m.readBytes(b));
  }
  const { outputNames: _omit, ...rest } = s;
  void _omit;
  return { ...rest, cycles: res.stats.cycles ?? 0, outputs };
}

/** The built-in subjects: every kernel with a program and an example case, and the synthetic layer. */
export function builtinSubjects(machines: readonly string[], size: 'small' | 'base', seed: string): GoldenSubject[] {
  const out: GoldenSubject[] = [];
  for (const machine of machines) {
    for (const k of KERNELS.values()) if (k.sim && k.example) out.push({ kind: 'kernel', kernel: k.name, size, seed, machine });
    out.push({ kind: 'layer', size, seed, machine });
  }
  return out;
}

/** Same subject (so a new recording replaces it): everything but the results. */
export function sameSubject(a: GoldenEntry, b: GoldenEntry): boolean {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical)
      : typeof v === 'object' && v !== null ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
      : v;
  const key = (e: GoldenEntry): string => {
    const { cycles: _c, outputs: _o, ...rest } = e;
    void _c; void _o;
    return JSON.stringify(canonical(rest));
  };
  return key(a) === key(b);
}

/** The file at `path` (when it exists) with `entries` added, replacing entries of the same subject. */
export function mergeGolden(path: string, entries: readonly GoldenEntry[]): GoldenFile {
  const old = existsSync(path) ? loadGolden(path).entries : [];
  const kept = old.filter((o) => !entries.some((e) => sameSubject(o, e)));
  return { format: GOLDEN_FORMAT, version: GOLDEN_VERSION, entries: [...kept, ...entries] };
}

export type CheckStatus = 'ok' | 'cycles' | 'output' | 'cycles+output' | 'error';

export interface CheckResult {
  readonly name: string;
  readonly machine: string;
  readonly expected: GoldenEntry;
  readonly actual: GoldenEntry | null;
  readonly status: CheckStatus;
  /** (actual - expected) / expected cycles */
  readonly cycles_deviation: number | null;
  /** outputs whose digest (or presence) differs */
  readonly differing_outputs: readonly string[];
  readonly error?: string;
  readonly host_seconds: number;
}

/** Reruns every entry; `tolerance` is the allowed relative cycle deviation. `now` supplies host time (for the report only). */
export function checkGolden(file: GoldenFile, base: string, tolerance: number, now: () => number): CheckResult[] {
  return file.entries.map((expected) => {
    const t0 = now();
    const name = entryName(expected);
    let actual: GoldenEntry;
    try {
      const { cycles: _c, outputs: _o, ...subject } = expected;
      void _c; void _o;
      actual = runSubject({ ...subject, ...(expected.kind === 'program' ? { outputNames: Object.keys(expected.outputs) } : {}) } as GoldenSubject, base);
    } catch (e) {
      return { name, machine: expected.machine, expected, actual: null, status: 'error', cycles_deviation: null, differing_outputs: [], error: e instanceof Error ? e.message : String(e), host_seconds: (now() - t0) / 1e3 };
    }
    const dev = expected.cycles === 0 ? (actual.cycles === 0 ? 0 : Infinity) : (actual.cycles - expected.cycles) / expected.cycles;
    const cyclesOk = Math.abs(dev) <= tolerance;
    const names = new Set([...Object.keys(expected.outputs), ...Object.keys(actual.outputs)]);
    const differing = [...names].filter((n) => expected.outputs[n]?.sha256 !== actual.outputs[n]?.sha256 || expected.outputs[n]?.bytes !== actual.outputs[n]?.bytes);
    const status: CheckStatus = !cyclesOk && differing.length ? 'cycles+output' : !cyclesOk ? 'cycles' : differing.length ? 'output' : 'ok';
    return { name, machine: expected.machine, expected, actual, status, cycles_deviation: dev, differing_outputs: differing, host_seconds: (now() - t0) / 1e3 };
  });
}

const xml = (s: string): string => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
  // XML 1.0 forbids most control characters, even escaped.
  .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

export function failureText(r: CheckResult): string {
  if (r.status === 'error') return r.error ?? 'error';
  const parts: string[] = [];
  if (r.status === 'cycles' || r.status === 'cycles+output') {
    parts.push(`cycles: expected ${r.expected.cycles}, actual ${r.actual!.cycles} (${formatDeviation(r.cycles_deviation)})`);
  }
  for (const n of r.differing_outputs) {
    const e = r.expected.outputs[n], a = r.actual?.outputs[n];
    parts.push(`output ${n}: expected sha256 ${e ? `${e.sha256} (${e.bytes} bytes)` : '(none)'}, actual ${a ? `${a.sha256} (${a.bytes} bytes)` : '(none)'}`);
  }
  return parts.join('\n');
}

export function formatDeviation(d: number | null): string {
  if (d === null) return '-';
  if (!Number.isFinite(d)) return 'from 0';
  return `${d > 0 ? '+' : ''}${(d * 100).toFixed(2)} %`;
}

/** JUnit XML (the Ant/Surefire dialect Jenkins, GitLab and GitHub reporters read): one testcase per entry. */
export function junitXml(results: readonly CheckResult[], suite: string): string {
  const failures = results.filter((r) => r.status !== 'ok' && r.status !== 'error').length;
  const errors = results.filter((r) => r.status === 'error').length;
  const time = results.reduce((t, r) => t + r.host_seconds, 0);
  const cases = results.map((r) => {
    const open = `    <testcase classname="intnpu.golden.${xml(r.machine)}" name="${xml(r.name)}" time="${r.host_seconds.toFixed(3)}"`;
    if (r.status === 'ok') return `${open}/>`;
    const tag = r.status === 'error' ? 'error' : 'failure';
    const text = failureText(r);
    return `${open}>\n      <${tag} type="${r.status}" message="${xml(text.split('\n')[0]!)}">${xml(text)}</${tag}>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="intnpu golden" tests="${results.length}" failures="${failures}" errors="${errors}" time="${time.toFixed(3)}">`,
    `  <testsuite name="${xml(suite)}" tests="${results.length}" failures="${failures}" errors="${errors}" skipped="0" time="${time.toFixed(3)}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function goldenBase(path: string): string {
  return dirname(resolve(path));
}
