// `intnpu run <file.s|file.bin>`: run a program on a machine; load buffers from tensor files, dump
// buffers, print stats and stall hotspots (or JSON), write a Chrome trace.
import type { CommandModule } from 'yargs';
import { assemble, programWarnings, type Program } from '../../isa/asm.js';
import { loadMachine, type MachineConfig } from '../../sim/config.js';
import { Machine } from '../../sim/machine.js';
import { formatHotspots, formatStats, hotspots } from '../../sim/report.js';
import { loadProgram, simulate, type SimMode } from '../../sim/run.js';
import { chromeTrace } from '../../sim/trace.js';
import { bufferOf, DTYPES, setBuffers } from '../buffers.js';
import { handler, printJson, readText, UsageError } from '../common.js';
import { readBinary, writeOutputFile } from '../files.js';

export function parseParams(list: readonly string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of list ?? []) {
    const m = /^([A-Za-z_.$][\w.$]*)=(-?)(0x[0-9a-fA-F]+|\d+)$/.exec(p);
    if (!m) throw new UsageError(`--param ${p}: expected NAME=integer`);
    const v = Number(m[3]) * (m[2] ? -1 : 1);
    if (!Number.isSafeInteger(v)) throw new UsageError(`--param ${p}: the value is beyond 2^53 (not a safe integer)`);
    out[m[1]!] = v;
  }
  return out;
}

/** --max-cycles / --max-instructions: positive integers that replace the machine's runaway limits. */
export function withLimits(cfg: MachineConfig, a: { 'max-cycles'?: number | undefined; 'max-instructions'?: number | undefined }): MachineConfig {
  const limit = (flag: string, v: number | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (!Number.isSafeInteger(v) || v < 1) throw new UsageError(`--${flag} ${v}: expected a positive integer`);
    return v;
  };
  const maxCycles = limit('max-cycles', a['max-cycles']) ?? cfg.limits.maxCycles;
  const maxInstructions = limit('max-instructions', a['max-instructions']) ?? cfg.limits.maxInstructions;
  return { ...cfg, limits: { ...cfg.limits, maxCycles, maxInstructions } };
}

interface Args {
  file: string;
  machine: string;
  param?: string[] | undefined;
  set?: string[] | undefined;
  dump?: string[] | undefined;
  mode: string;
  json?: boolean | undefined;
  trace?: string | undefined;
  'max-cycles'?: number | undefined;
  'max-instructions'?: number | undefined;
  'check-buffers'?: boolean | undefined;
}


export const runCommand: CommandModule<object, Args> = {
  command: 'run <file>',
  describe: 'Run a program (.s or .bin) on a machine and report cycles, utilization and stalls',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true })
      .option('machine', { alias: 'm', type: 'string', default: 'edge', describe: 'preset or JSON file' })
      .option('param', { type: 'string', array: true, describe: 'NAME=value for a .param' })
      .option('set', { type: 'string', array: true, describe: 'BUFFER=FILE[:int8|int16|int32]: fill a buffer from {"dtype":"int8|int16|int32","data":[...]}, a bare JSON array (int8 unless :int16/:int32), or a NumPy integer .npy' })
      .option('dump', { type: 'string', array: true, describe: 'BUFFER[:int8|int16|int32]: print a buffer after the run' })
      .option('mode', { type: 'string', choices: ['full', 'timing', 'functional'], default: 'full' })
      .option('json', { type: 'boolean' })
      .option('trace', { type: 'string', describe: 'write a Chrome trace-event JSON here (open in Perfetto)' })
      .option('max-cycles', { type: 'number', describe: 'stop with a fault past this many cycles (overrides limits.maxCycles)' })
      .option('check-buffers', { type: 'boolean', describe: 'fault when a DMA, MXU or vector access leaves the .buffer it started in' })
      .option('max-instructions', { type: 'number', describe: 'stop with a fault after this many instructions (overrides limits.maxInstructions)' }),
  handler: handler((a: Args) => {
    const cfg = withLimits(loadMachine(a.machine), a);
    let prog: Program | undefined;
    let words: Uint32Array;
    if (a.file.endsWith('.bin')) {
      words = readBinary(a.file);
    } else {
      prog = assemble(readText(a.file), {
        file: a.file,
        params: parseParams(a.param),
        capacity: { dram: cfg.dram.sizeBytes, spad: cfg.spad.sizeBytes, acc: cfg.acc.sizeBytes / 4 },
      });
      words = prog.words;
      for (const w of programWarnings(prog)) process.stderr.write(`${w}\n`);
    }
    const m = new Machine(cfg);
    const buf = (name: string) => bufferOf(prog, name, a.file);
    for (const w of setBuffers(a.set, prog, a.file, m)) process.stderr.write(`${w}\n`);
    const loaded = loadProgram(words, prog);
    const res = simulate(loaded, cfg, { machine: m, mode: a.mode as SimMode, trace: a.trace !== undefined, checkBuffers: a['check-buffers'] === true });
    const dumps: Record<string, number[]> = {};
    for (const d of a.dump ?? []) {
      const [name, type] = d.split(':');
      const b = buf(name!);
      const dtype = (type ?? (b.space === 'acc' ? 'int32' : 'int8')) as keyof typeof DTYPES;
      if (!Object.hasOwn(DTYPES, dtype)) throw new UsageError(`--dump ${d}: type must be int8, int16 or int32`);
      const bytes = m.readBytes(b);
      const T = DTYPES[dtype];
      dumps[name!] = Array.from(new T(bytes.buffer as ArrayBuffer, bytes.byteOffset, Math.floor(bytes.byteLength / T.BYTES_PER_ELEMENT)));
    }
    if (a.trace && res.trace) writeOutputFile(a.trace, JSON.stringify(chromeTrace(res.trace, loaded, cfg)), 'trace');
    const hs = hotspots(res, loaded);
    if (a.json) {
      printJson({ program: a.file, cycles: res.stats.cycles, stats: res.stats, hotspots: hs, buffers: dumps, machine: cfg });
    } else {
      process.stdout.write(formatStats(res, cfg) + '\n');
      const h = formatHotspots(hs);
      if (h) process.stdout.write(h + '\n');
      for (const [k, v] of Object.entries(dumps)) process.stdout.write(`${k}: ${JSON.stringify(v)}\n`);
      if (a.trace) process.stdout.write(`trace written to ${a.trace}\n`);
    }
  }),
};
