// The machine description: one zod schema gives the type, the validation, the defaults (which are the
// `edge` preset) and the JSON Schema for editors. Every timing constant says where its value comes from.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const KiB = 1024;
const MiB = 1024 * 1024;

export const MachineSchema = z
  .object({
    name: z.string().default('edge').describe('Label printed in reports.'),
    clockGHz: z
      .number()
      .min(1e-6)
      .max(10)
      .default(1)
      .describe('Clock used only to convert cycles to seconds in reports. 1 GHz: a typical edge NPU clock (e.g. 0.8-1.2 GHz for mobile NPUs).'),
    frontend: z
      .object({
        queueDepth: int(1, 4096)
          .default(8)
          .describe('Entries in each unit queue between the in-order dispatcher and the unit. 8: the depth of the instruction queues of Gemmini-style decoupled access/execute designs; dispatch stalls (queue_full) when the target queue is full.'),
        takenBranchPenaltyCycles: int(0, 64)
          .default(1)
          .describe('Bubble cycles after a taken branch: a simple in-order front end that resolves branches in its single dispatch stage refetches once.'),
      })
      .strict()
      .prefault({}),
    mxu: z
      .object({
        rows: int(1, 1024).default(32).describe('Systolic array rows = the reduction (K) depth of one weight tile.'),
        cols: int(1, 1024).default(32).describe('Systolic array columns = output channels (N) of one weight tile.'),
      })
      .strict()
      .prefault({})
      .describe('Weight-stationary int8 x int8 -> int32 array. Timing: one input row enters per cycle; results leave rows + cols cycles after their row entered (the diagonal wavefront of a systolic array: rows cycles down the reduction, cols across); weight preload shifts one array row per cycle into a shadow buffer (double buffering, as in the TPU v1 and Gemmini).'),
    vpu: z
      .object({
        lanes: int(1, 4096).default(32).describe('int32 lanes of the vector unit.'),
        aluLatencyCycles: int(1, 64).default(1).describe('add/sub/min/max/shift/clamp latency: one pipeline stage, as in a simple SIMD ALU.'),
        mulLatencyCycles: int(1, 64).default(3).describe('Latency of the 32x32 -> 64 widening multiply with rounding shift and saturation: 3 stages (multiply, 64-bit round/shift, saturate), a common pipelining of a 32-bit multiplier at NPU clocks.'),
        loadLatencyCycles: int(1, 64).default(2).describe('Scratchpad/accumulator read latency: one SRAM access cycle plus one register-file write cycle.'),
        reduceLatencyCycles: int(1, 64).default(6).describe('Lane reduction (sum, max, 64-bit sums) latency: a log2(lanes)-deep adder/max tree plus one write stage (5 + 1 for 32 lanes). The tree accumulates into its destination pair with forwarding, so back-to-back reductions into the same pair issue every cycle.'),
      })
      .strict()
      .prefault({}),
    divider: z
      .object({
        present: z.boolean().default(true).describe('Whether the machine has the scalar integer divider (div, div.w, isqrt.w). Without it those instructions fault and kernels use a reciprocal (Newton) program instead.'),
        divLatencyCycles: int(1, 1024).default(34).describe('Iterative radix-2 divider: one quotient bit per cycle for a 32-bit quotient plus 2 cycles of operand setup and correction (the classic non-restoring divider); not pipelined.'),
        sqrtLatencyCycles: int(1, 1024).default(34).describe('Digit-recurrence integer square root sharing the divider datapath: one root bit per cycle for a 31-bit root of a 62-bit radicand, plus setup and correction.'),
        divIntervalCycles: int(1, 1024)
          .optional()
          .describe('Initiation interval of div/div.w: cycles until the divider accepts the next division. Absent: the latency (the iterative divider above, busy until its result). 1: a fully pipelined array divider (one stage per quotient bit, as in FPGA divider IP cores with a latency of ~one cycle per bit and throughput of one per cycle); results still arrive divLatencyCycles after issue.'),
        sqrtIntervalCycles: int(1, 1024)
          .optional()
          .describe('Initiation interval of isqrt.w (absent: sqrtLatencyCycles, not pipelined). A divide and a square root share the datapath: either occupies it for its own interval.'),
      })
      .strict()
      .refine((d) => (d.divIntervalCycles ?? d.divLatencyCycles) <= d.divLatencyCycles && (d.sqrtIntervalCycles ?? d.sqrtLatencyCycles) <= d.sqrtLatencyCycles, {
        message: 'an initiation interval cannot exceed its latency (divIntervalCycles <= divLatencyCycles, sqrtIntervalCycles <= sqrtLatencyCycles)',
      })
      .prefault({}),
    dram: z
      .object({
        sizeBytes: int(4 * KiB, 2 ** 31).default(64 * MiB).describe('Simulated DRAM capacity.'),
        bytesPerCycle: z.number().min(1 / 1024, 'must be at least 1/1024 (one byte per 1024 cycles); smaller values make cycle counts overflow').max(65536).default(16).describe('Sustained DRAM bandwidth per NPU cycle. 16 B/cycle at 1 GHz = 16 GB/s: one LPDDR4x-4266 x32 channel (17 GB/s peak).'),
        latencyCycles: int(0, 100000).default(100).describe('Cycles from the end of a transfer on the channel until its data is usable: ~100 ns DRAM access latency at 1 GHz (typical LPDDR4 loaded latency).'),
      })
      .strict()
      .prefault({}),
    spad: z
      .object({
        sizeBytes: int(256, 2 ** 30).default(256 * KiB).describe('Scratchpad capacity (int8/int16 data, byte-addressed): Gemmini\'s default 256 KiB.'),
      })
      .strict()
      .prefault({}),
    acc: z
      .object({
        sizeBytes: int(256, 2 ** 30)
          .refine((v) => v % 4 === 0, 'must be a multiple of 4 (int32 words)')
          .default(64 * KiB)
          .describe('Accumulator memory capacity (int32 words, word-addressed): Gemmini\'s default 64 KiB.'),
      })
      .strict()
      .prefault({}),
    energy: z
      .object({
        pjPerMac: z.number().nonnegative().max(1e6).default(0.23).describe('int8 multiply (0.2 pJ) + int32 add (0.03 pJ) at 45 nm: Horowitz, "Computing\'s energy problem", ISSCC 2014.'),
        pjPerDramByte: z.number().nonnegative().max(1e6).default(20).describe('DRAM access energy per byte: 1.3-2.6 nJ per 64-bit access at 45 nm (Horowitz ISSCC 2014) is 160-320 pJ/B; modern LPDDR4x ~ 20 pJ/B (4-5 pJ/bit) is used.'),
        pjPerSramByte: z.number().nonnegative().max(1e6).default(1.25).describe('On-chip SRAM access per byte: 10 pJ per 64-bit read of an 8 KiB SRAM at 45 nm (Horowitz ISSCC 2014).'),
        pjPerVpuLaneOp: z.number().nonnegative().max(1e6).default(0.1).describe('One int32 lane operation (add 0.1 pJ at 45 nm; multiplies cost more and are counted as 3.1 pJ by vpuMulLaneOp).'),
        pjPerVpuMulLaneOp: z.number().nonnegative().max(1e6).default(3.1).describe('int32 multiply, 3.1 pJ at 45 nm (Horowitz ISSCC 2014).'),
      })
      .strict()
      .prefault({})
      .describe('Energy per event, for the estimate in reports. Figures are 45 nm numbers from Horowitz (ISSCC 2014) unless stated; scale them for your node.'),
    limits: z
      .object({
        maxCycles: int(1, Number.MAX_SAFE_INTEGER).default(2_000_000_000).describe('Runaway guard: the instruction that makes the run end past this cycle (a dispatch or a result) stops it with a fault.'),
        maxInstructions: int(1, Number.MAX_SAFE_INTEGER).default(500_000_000).describe('Runaway guard on executed instructions (also in functional-only mode).'),
        maxWorkPerInstruction: int(1, Number.MAX_SAFE_INTEGER)
          .default(2 ** 30)
          .describe('Host-time guard on one instruction: elements a DMA moves or multiply-accumulates an mxu.mm does (2^30, about a second of host time). Zero strides let a tiny program ask for billions; such an instruction faults before it runs.'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type MachineConfig = z.infer<typeof MachineSchema>;
export type MachineInput = z.input<typeof MachineSchema>;

/** Presets are overrides on the schema's defaults (which are `edge`). */
export const PRESETS: Readonly<Record<string, MachineInput>> = {
  edge: {},
  server: {
    name: 'server',
    mxu: { rows: 128, cols: 128 },
    vpu: { lanes: 128, reduceLatencyCycles: 8 },
    dram: { bytesPerCycle: 256, latencyCycles: 150, sizeBytes: 256 * MiB },
    spad: { sizeBytes: 8 * MiB },
    acc: { sizeBytes: 2 * MiB },
    frontend: { queueDepth: 16 },
    // Pipelined: one division (or square root) accepted per cycle, each result after the same 34 cycles. A divider of
    // this class is standard, small IP (the radix-2 datapath unrolled into one add/sub stage per quotient bit, about
    // 32 32-bit adders): Lattice's Divider IP "completes one integer division every clock", AMD/Xilinx's Divider
    // Generator (DS819) offers radix-2 with single-cycle throughput; server-class parts provide division throughput
    // so (GPU special-function units issue reciprocals every cycle; the ITA integer-softmax accelerator replicates its
    // dividers for utilization). Beside a 128x128 MXU its area is negligible. The edge preset keeps the iterative one.
    divider: { divIntervalCycles: 1, sqrtIntervalCycles: 1 },
  },
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly exitCode = 1;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** Validate a machine description (`preset` names the base it overrides; default edge). */
export function parseMachine(input: unknown, where = 'machine'): MachineConfig {
  let base: MachineInput = {};
  let body: unknown = input;
  if (isPlainObject(input) && 'preset' in input) {
    const { preset, ...rest } = input;
    if (typeof preset !== 'string' || !Object.hasOwn(PRESETS, preset)) {
      throw new ConfigError(`${where}: invalid config\n✖ unknown preset ${JSON.stringify(preset)} (one of ${Object.keys(PRESETS).join(', ')})\n  → at preset`);
    }
    base = PRESETS[preset]!;
    body = rest;
  }
  const r = MachineSchema.safeParse(deepMerge(base, body));
  if (!r.success) throw new ConfigError(`${where}: invalid config\n${z.prettifyError(r.error)}`);
  // A machine that changes a preset without naming itself gets a name saying what changed, so a report
  // never shows a modified machine under the preset's name.
  if (!(isPlainObject(body) && 'name' in body)) {
    const ref = MachineSchema.parse(base);
    const changed = diffPaths(ref, r.data);
    if (changed.length > 0) {
      const shown = changed.slice(0, 3).join(', ') + (changed.length > 3 ? `, +${changed.length - 3} more` : '');
      return { ...r.data, name: `${ref.name} (${shown})` };
    }
  }
  return r.data;
}

/** `path=value` of every leaf where `b` differs from `a`. */
function diffPaths(a: unknown, b: unknown, path = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    return Object.keys(b).flatMap((k) => (k === 'name' && path === '' ? [] : diffPaths(a[k], b[k], path ? `${path}.${k}` : k)));
  }
  return Object.is(a, b) ? [] : [`${path}=${JSON.stringify(b)}`];
}

/** A preset name, or a path to a JSON file (with optional "preset" base and any overrides). */
export function loadMachine(spec: string = 'edge'): MachineConfig {
  // Own keys only: `toString` or `__proto__` is not a preset.
  if (Object.hasOwn(PRESETS, spec)) return parseMachine(PRESETS[spec]!, spec);
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch {
    throw new ConfigError(`machine '${spec}' is neither a preset (${Object.keys(PRESETS).join(', ')}) nor a readable file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${spec}: not valid JSON: ${(e as Error).message}`);
  }
  return parseMachine(json, spec);
}

/** JSON Schema of machine files: the schema's input form plus the optional `preset` base. */
export function machineJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(MachineSchema, { io: 'input' }) as Record<string, unknown> & { properties?: Record<string, unknown> };
  schema['title'] = 'intnpu machine';
  schema.properties = {
    preset: { type: 'string', enum: Object.keys(PRESETS), description: 'Preset whose values the other fields override (default edge).' },
    ...schema.properties,
  };
  return schema;
}
