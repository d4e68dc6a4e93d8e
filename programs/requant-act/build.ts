// Program builder for `requant-act` (QuantAct in its general form: per-channel multipliers and shifts with
// vmulr.vv, the optional residual identity term, the clamp; docs/IBERT.md section 3), and the shared builder
// of the per-channel element-wise stream kernels that programs/gelu/build.ts also uses. The direct scalar form stays in
// programs/requant/build.ts.
//
// Why vectorise along the row (one channel per lane) and not across rows: the multipliers and shifts are
// per channel (the last dimension), so with channels on lanes they are loaded into vector registers once per
// column block and stay there while every row of the block streams through; across rows, every vector would
// need a broadcast of its own constants. Per-tensor constants use the flat view (any lane may take any element).
//
// Buffer plan (double-buffered tiles of tr rows x `lanes` columns; the next tile loads while this one computes,
// the previous one stores):
//   x  (dram, int32 [rows, cols])  ->  xa (acc, 2 tiles)          k (dram, int32 [K][channels]) -> ka (acc, 2 blocks)
//   w  (dram, identity)            ->  wa (spad int8 / acc int32, 2 tiles)
//   ys (spad int8/int16, or acc int32, 2 tiles)                   ->  y (dram, [rows, cols])
// Registers: r1..r6 DMA operands; r9 x (and constants) pointer, r13 identity pointer, r10 output pointer,
// r11 loop count, r12 vector length; v0.. per-row temporaries, v31 downwards the per-channel constants.
import type { Program } from '../../isa/asm.js';
import { constBuffer, streamModel, streamTiling, requantActKernel, type StreamKernel, type StreamTiling } from './model.js';
import { prepareRequantAct } from '../../kernels/npu/requant-act.js';
import type { MachineConfig } from '../../sim/config.js';
import { loadProgram, simulate } from '../../sim/run.js';
import { assembleBuilt, machineFor, programBuffer, type CaseRun, type RunOptions } from '../index.js';
import { storedProgram } from '../program-store.js';
import { emitted, opLi, type BuiltProgram } from '../linear/build.js';
import { ProgramEmitter, type Operand } from '../../isa/emit.js';

const NVREGS = 32;

/** Vector register of every temporary (per interleaved row) and constant of a micro-kernel. */
export function allocateRegisters(kernel: StreamKernel): { temp: (name: string, row: number) => string; konst: (name: string) => string } {
  const consts = [...kernel.consts, ...kernel.derived.map((d) => d.dst)];
  const T = kernel.temps.length, G = kernel.groupRows;
  if (G * T + consts.length > NVREGS) throw new Error(`${kernel.name}: ${G} rows x ${T} temporaries + ${consts.length} constants exceed ${NVREGS} vector registers`);
  return {
    temp: (name, row) => `v${row * T + kernel.temps.indexOf(name)}`,
    konst: (name) => `v${NVREGS - 1 - consts.indexOf(name)}`,
  };
}

/** One micro-op of a kernel's text form (`vmulr.vv %X, %X, $m, $e, rne, sat32`), parsed once for the emitter. */
interface OpTemplate {
  readonly mnemonic: string;
  /** per operand: a per-row temporary (%NAME), a constant's register ($name), or the operand as written */
  readonly operands: ReadonlyArray<{ readonly temp: string } | { readonly konst: string } | { readonly lit: Operand }>;
}

function parseOp(asm: string): OpTemplate {
  const [mnemonic, ...rest] = asm.trim().split(/[\s,]+/);
  return {
    mnemonic: mnemonic!,
    operands: rest.map((tok) => {
      if (tok.startsWith('%')) return { temp: tok.slice(1) };
      if (tok.startsWith('$')) return { konst: tok.slice(1) };
      if (/^[rv]\d+$/.test(tok)) return { lit: Number(tok.slice(1)) };
      return { lit: /^-?\d+$/.test(tok) ? Number(tok) : tok };
    }),
  };
}

/** Emits a parsed micro-op for interleaved row `row`, registers as allocateRegisters gives them. */
function emitOp(e: ProgramEmitter, op: OpTemplate, row: number, regs: ReturnType<typeof allocateRegisters>): void {
  const operands = op.operands.map((o) => ('temp' in o ? vregNumber(regs.temp(o.temp, row)) : 'konst' in o ? vregNumber(regs.konst(o.konst)) : o.lit));
  e.op(op.mnemonic, ...operands);
}

const vregNumber = (name: string): number => Number(name.slice(1));

export interface StreamBuild {
  readonly kernel: StreamKernel;
  readonly tiling: StreamTiling;
  /** values of kernel.scalars, by register */
  readonly scalarValues: Readonly<Record<string, number>>;
  /** header lines (what the kernel computes), without the leading '; ' */
  readonly header: readonly string[];
  readonly file: string;
}

/**
 * The program, as instruction words (isa/emit.ts; the listing is rendered only when read): per tile, the next
 * tile's loads, then the VPU work (constants when a new column block starts, a loop over groups of `groupRows`
 * rows with their ops interleaved op by op so each multiply has the other rows' ops to hide its latency, a
 * straight-line tail), then the store.
 */
export function buildStream(b: StreamBuild, mach: MachineConfig): BuiltProgram {
  const { kernel, tiling: t } = b;
  const L = mach.vpu.lanes;
  const K = kernel.consts.length;
  const G = kernel.groupRows;
  const regs = allocateRegisters(kernel);
  const n = t.rows * t.cols;
  const ob = kernel.outBytes;
  const wb = kernel.identityBytes;
  const e = new ProgramEmitter(b.file);
  for (const h of b.header) e.comment(h);
  if (n === 0 || t.tiles.length === 0) {
    e.comment('empty tensor: nothing to do');
    e.op('halt');
    return emitted(e.finish(), {});
  }
  const body = kernel.body.map((op) => ({ op: parseOp(op.asm), note: op.note }));
  const derived = kernel.derived.map((d) => ({ op: parseOp(d.asm), dst: d.dst, note: d.note }));
  const tileWords = t.tr * L;
  e.comment(`tiling: ${t.tiles.length} tile(s) of up to ${t.tr} rows x ${L} columns; ${t.perChannel ? `${t.regions.length} column block(s), per-channel constants` : 'flat view, per-tensor constants'}`);
  e.comment(
    `registers: ${kernel.temps.map((n0) => `%${n0}`).join(' ')} per row in v0..v${G * kernel.temps.length - 1} (${G} rows interleaved); ` +
      [...kernel.consts, ...kernel.derived.map((d) => d.dst)].map((c) => `$${c}=${regs.konst(c)}`).join(' '),
  );
  e.comment('r1..r6 DMA operands (chip, dram, rows, len, chip stride, dram stride); r9 x/constants pointer, r13 identity pointer,');
  e.comment('r10 output pointer, r11 loop count, r12 vector length');
  const bx = e.buffer('x', 'dram', n * 4);
  const bw = wb ? e.buffer('w', 'dram', n * wb) : 0;
  const bk = e.buffer('k', 'dram', K * t.constCols * 4, `constants [${kernel.consts.join(', ')}] x ${t.constCols}`);
  const by = e.buffer('y', 'dram', n * ob);
  const xa = e.buffer('xa', 'acc', 2 * tileWords);
  const wa = wb === 1 ? e.buffer('wa', 'spad', 2 * tileWords) : wb === 4 ? e.buffer('wa', 'acc', 2 * tileWords) : 0;
  const ka = e.buffer('ka', 'acc', 2 * K * L);
  const ys = ob === 4 ? e.buffer('ys', 'acc', 2 * tileWords) : e.buffer('ys', 'spad', 2 * tileWords * ob);
  for (const [r, why] of kernel.scalars) {
    const v = b.scalarValues[r];
    if (v === undefined) throw new Error(`${kernel.name}: no value for scalar ${r}`);
    e.comment(`${r}: ${why}`);
    e.li(Number(r.slice(1)), v);
  }
  const dma = (op: 'dma.ld' | 'dma.st', space: 'acc' | 'spad', ops: readonly [number, number, number, number, number, number]): void =>
    opLi(e, op, [space], ops.map((v, i) => [i + 1, v] as const));
  const load = (i: number): void => {
    const tile = t.tiles[i]!;
    const r = t.regions[tile.region]!;
    const buf = i % 2;
    const e0 = r.offset + tile.row0 * r.stride;
    e.comment(`load tile ${i}: rows ${tile.row0}..${tile.row0 + tile.rows - 1} of block ${tile.region} (${r.width} columns from element ${r.offset})`);
    if (tile.loadConsts) dma('dma.ld', 'acc', [ka + constBuffer(t, tile) * K * L, bk + r.constCol * 4, K, r.width, L, t.constCols * 4]);
    dma('dma.ld', 'acc', [xa + buf * tileWords, bx + e0 * 4, tile.rows, r.width, L, r.stride * 4]);
    if (wb === 1) dma('dma.ld', 'spad', [wa + buf * tileWords, bw + e0, tile.rows, r.width, L, r.stride]);
    if (wb === 4) dma('dma.ld', 'acc', [wa + buf * tileWords, bw + e0 * 4, tile.rows, r.width, L, r.stride * 4]);
  };
  const rowsBlock = (rows: number): void => {
    for (const { op, note } of body) {
      if (note) e.comment(note);
      for (let g = 0; g < rows; g++) emitOp(e, op, g, regs);
    }
  };
  load(0);
  let width = -1;
  for (let i = 0; i < t.tiles.length; i++) {
    const tile = t.tiles[i]!;
    const r = t.regions[tile.region]!;
    const buf = i % 2;
    if (i + 1 < t.tiles.length) load(i + 1);
    e.comment(`compute tile ${i}`);
    if (r.width !== width) {
      e.li(12, r.width);
      e.op('vsetvl', 12, 12);
      width = r.width;
    }
    if (tile.loadConsts) {
      e.comment(`constants of columns ${r.constCol}..${r.constCol + r.width - 1}`);
      e.li(9, ka + constBuffer(t, tile) * K * L);
      for (const c of kernel.consts) e.op('vld.acc', vregNumber(regs.konst(c)), 9, L);
      for (const d of derived) {
        if (d.note) e.comment(`$${d.dst} = ${d.note}`);
        emitOp(e, d.op, 0, regs);
      }
    }
    e.li(9, xa + buf * tileWords);
    if (wb) e.li(13, wa + buf * tileWords);
    e.li(10, ys + buf * tileWords * (ob === 4 ? 1 : ob));
    const groups = Math.floor(tile.rows / G), rem = tile.rows - groups * G;
    if (groups > 0) {
      e.li(11, groups);
      e.label(`t${i}_rows`);
      rowsBlock(G);
      e.op('dbnz', 11, `t${i}_rows`);
    }
    if (rem > 0) {
      e.comment(`last ${rem} row${rem > 1 ? 's' : ''}`);
      rowsBlock(rem);
    }
    const e0 = r.offset + tile.row0 * r.stride;
    e.comment(`store tile ${i}`);
    if (ob === 4) dma('dma.st', 'acc', [ys + buf * tileWords, by + e0 * 4, tile.rows, r.width, L, r.stride * 4]);
    else dma('dma.st', 'spad', [ys + buf * tileWords * ob, by + e0 * ob, tile.rows, r.width * ob, L * ob, r.stride * ob]);
  }
  e.op('halt');
  return emitted(e.finish(), {});
}

/** The constants table [K][constCols]: per-channel values, or a per-tensor value replicated over the lanes. */
export function constTable(rows: readonly (readonly number[])[], t: StreamTiling): Int32Array {
  const W = t.constCols;
  const out = new Int32Array(rows.length * W);
  rows.forEach((row, k) => {
    for (let c = 0; c < W; c++) out[k * W + c] = row.length === 1 ? row[0]! : row[c]!;
  });
  return out;
}

export interface StreamRunInputs {
  readonly x: Int32Array;
  readonly w?: Int8Array | Int32Array;
  readonly k: Int32Array;
}

/** Assemble, write the inputs, simulate, read the outputs (sign-extended), and put the model beside. */
export function runStream(b: StreamBuild, inputs: StreamRunInputs, shape: number[], cfg: MachineConfig, opts: RunOptions): CaseRun {
  // through the memo store (programs/program-store.ts); the build is named by all it is made from
  const program: Program = storedProgram(cfg, `stream ${JSON.stringify(b)}`, () => assembleBuilt(buildStream(b, cfg), cfg));
  const m = machineFor(program, cfg, opts);
  const n = inputs.x.length;
  const buf = (name: string) => programBuffer(program, name);
  if (n > 0) {
    m.writeBuffer(buf('x'), inputs.x);
    m.writeBuffer(buf('k'), inputs.k);
    if (inputs.w) m.writeBuffer(buf('w'), inputs.w);
  }
  const sim = simulate(loadProgram(program.words, program), cfg, { machine: m, mode: opts.mode ?? 'full', trace: opts.trace ?? false });
  const ob = b.kernel.outBytes;
  const y: number[] = new Array<number>(n);
  if (n > 0) {
    const bytes = sim.machine.readBytes(buf('y'), n * ob);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) y[i] = ob === 1 ? view.getInt8(i) : ob === 2 ? view.getInt16(2 * i, true) : view.getInt32(4 * i, true);
  }
  const model = streamModel(b.kernel, b.tiling, cfg);
  return {
    y_int: y, shape, cycles: sim.stats.cycles ?? 0, model_cycles: model.cycles, model_exact: model.exact, sim, program,
  };
}

/** Layer 3: the requant-act program for a QuantAct case on the simulator (outputs, cycles, model cycles). */
export function simCaseRequantAct(input: unknown, cfg: MachineConfig, opts: RunOptions = {}): CaseRun {
  const p = prepareRequantAct(input);
  const k = p.k;
  const shape = {
    perChannel: p.perChannel, bits: k.bits, clampX: k.clampX > 0, clampW: k.clampW > 0,
    ...(k.identity ? { identityBytes: k.identity.bytes } : {}),
  };
  const kernel = requantActKernel(shape, cfg.vpu.lanes);
  const tiling = streamTiling(kernel, p.rows, p.cols, p.perChannel, cfg);
  const scalarValues: Record<string, number> = { r22: -k.clampX, r23: k.clampX, r24: -k.clampW, r25: k.clampW, r26: k.lo, r27: k.hi };
  if (k.identity) {
    scalarValues['r20'] = k.identity.m;
    scalarValues['r21'] = k.identity.e;
  }
  const header = [
    `requant-act: y[${p.shape.join(', ')}] (int${k.bits}) = clamp(rne(x * m_c / 2^e_c)${k.identity ? " + rne(w * m' / 2^e')" : ''}, ${k.lo}, ${k.hi})`,
    `x int32${k.identity ? `, identity w int${k.identity.bytes * 8}` : ''}; ${p.perChannel ? `per-channel m_c, e_c (${p.cols} channels)` : 'per-tensor m, e'}` +
      (k.clampX || k.clampW ? `; terms clamped to +-${k.clampX || k.clampW} before the int32 add (exact: ${k.sumExact})` : ''),
  ];
  return runStream(
    { kernel, tiling, scalarValues, header, file: `requant_act_${p.shape.join('x')}_${k.bits}.s` },
    { x: p.x, k: constTable([k.m, k.e], tiling), ...(p.w ? { w: p.w } : {}) },
    p.shape, cfg, opts,
  );
}
