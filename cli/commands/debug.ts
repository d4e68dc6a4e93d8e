// `intnpu debug <file.s>`: a line-oriented stepper for kernel authors. Commands come from standard input
// (a terminal or a piped script): step, continue to a breakpoint, inspect registers and memories, and
// see for each executed instruction when it dispatched, started and finished and what it waited on.
import { createInterface } from 'node:readline';
import type { CommandModule } from 'yargs';
import { assemble, type Program } from '../../isa/asm.js';
import { loadMachine } from '../../sim/config.js';
import { Machine } from '../../sim/machine.js';
import { formatStats } from '../../sim/report.js';
import { instrText, loadProgram, SimFault, Simulation } from '../../sim/run.js';
import { STALL_CAUSES, type TraceEvent } from '../../sim/timing.js';
import { UNITS } from '../../isa/table.js';
import { setBuffers } from '../buffers.js';
import { handler, readText, UsageError } from '../common.js';
import { parseParams } from './run.js';

interface Args {
  file: string;
  machine: string;
  param?: string[] | undefined;
  set?: string[] | undefined;
}

const HELP = `commands:
  s [n]              step n instructions (default 1), printing each with its timing
  c                  continue to a breakpoint or the end
  b <label|line:N|pc>  set a breakpoint (before the instruction executes); 'b' alone lists them
  d <label|line:N|pc>  delete a breakpoint
  r                  scalar registers
  v <n>              vector register vN (active lanes)
  m <dram|spad|acc> <addr|buffer> [count] [i8|i16|i32]   memory
  l                  where we are (source line)
  stats              counters so far
  q                  quit`;

/** Resolve a breakpoint spec to a pc: a label, `line:N` (first instruction on or after line N) or a pc. */
function resolvePc(spec: string, prog: Program): number {
  const label = prog.labels.get(spec);
  if (label !== undefined) return label;
  const line = /^line:(\d+)$/.exec(spec);
  if (line) {
    const want = Number(line[1]);
    const pc = prog.lines.findIndex((l) => l >= want);
    if (pc < 0) throw new UsageError(`no instruction on or after line ${want}`);
    return pc;
  }
  if (/^\d+$/.test(spec) && Number(spec) < prog.lines.length) return Number(spec);
  throw new UsageError(`'${spec}' is not a label, line:N or a pc of this program`);
}

function describe(ev: TraceEvent | undefined, prog: ReturnType<typeof loadProgram>): string {
  if (!ev) return '';
  const wait = ev.cause >= 0 ? `  waited: ${STALL_CAUSES[ev.cause]}${ev.waitedOn >= 0 ? ` on pc ${ev.waitedOn} (${instrText(prog, ev.waitedOn)})` : ''}` : '';
  return `  [${UNITS[ev.unit]}: dispatch ${ev.dispatch}, start ${ev.start}, end ${ev.end}, done ${ev.done}]${wait}`;
}

export const debugCommand: CommandModule<object, Args> = {
  command: 'debug <file>',
  describe: 'Step a program: breakpoints, registers, memories, and per-instruction timing (commands on stdin)',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true })
      .option('machine', { alias: 'm', type: 'string', default: 'edge' })
      .option('param', { type: 'string', array: true, describe: 'NAME=value for a .param' })
      .option('set', { type: 'string', array: true, describe: 'BUFFER=FILE[:int8|int16|int32]: fill a buffer before the run (tensor JSON, bare JSON array, or .npy; as for run)' }),
  handler: handler(async (a: Args) => {
    const cfg = loadMachine(a.machine);
    const prog = assemble(readText(a.file), {
      file: a.file, params: parseParams(a.param),
      capacity: { dram: cfg.dram.sizeBytes, spad: cfg.spad.sizeBytes, acc: cfg.acc.sizeBytes / 4 },
    });
    const loaded = loadProgram(prog.words, prog);
    const machine = new Machine(cfg);
    for (const w of setBuffers(a.set, prog, a.file, machine)) process.stderr.write(`${w}\n`);
    const sim = new Simulation(loaded, cfg, { machine, trace: true });
    const breaks = new Set<number>();
    const out = (s: string): void => void process.stdout.write(s + '\n');
    const where = (): string => {
      if (sim.finished) return 'program ended';
      const line = prog.lines[sim.pc];
      return `pc ${sim.pc}  ${a.file}:${line}  ${(prog.sourceLines[(line ?? 1) - 1] ?? '').trim()}`;
    };
    // One instruction; false when the program ended or faulted.
    const stepOne = (): boolean => {
      const pc = sim.pc;
      try {
        const more = sim.step();
        const ev = sim.timing?.trace?.at(-1);
        out(`${String(pc).padStart(5)}  ${instrText(loaded, pc)}${ev && ev.pc === pc ? describe(ev, loaded) : ''}`);
        if (!more) out(`program ended at cycle ${sim.result().stats.cycles}`);
        return more;
      } catch (e) {
        if (e instanceof SimFault) {
          out(e.message);
          sim.finished = true;
          return false;
        }
        throw e;
      }
    };
    out(`${a.file}: ${loaded.n} instructions on ${cfg.name}; 'h' for help`);
    out(where());
    const rl = createInterface({ input: process.stdin, terminal: false });
    for await (const raw of rl) {
      const [cmd, ...args] = raw.trim().split(/\s+/);
      try {
        switch (cmd) {
          case undefined:
          case '':
            break;
          case 'h':
          case 'help':
            out(HELP);
            break;
          case 's': {
            const n = args[0] ? Number(args[0]) : 1;
            if (!Number.isInteger(n) || n < 1) throw new UsageError(`s: '${args[0]}' is not a positive count`);
            for (let i = 0; i < n && stepOne(); i++);
            break;
          }
          case 'c': {
            if (sim.finished) {
              out('program ended');
              break;
            }
            let count = 0;
            while (stepOne()) {
              count++;
              if (breaks.has(sim.pc)) {
                out(`breakpoint at ${where()}`);
                break;
              }
            }
            void count;
            break;
          }
          case 'b':
            if (!args[0]) out(breaks.size ? [...breaks].map((pc) => `pc ${pc} (line ${prog.lines[pc]})`).join(', ') : 'no breakpoints');
            else {
              const pc = resolvePc(args[0], prog);
              breaks.add(pc);
              out(`breakpoint at pc ${pc} (line ${prog.lines[pc]})`);
            }
            break;
          case 'd':
            breaks.delete(resolvePc(args[0] ?? '', prog));
            break;
          case 'r':
            out(Array.from(sim.machine.sregs, (v, i) => `r${i}=${v}`).join(' '));
            break;
          case 'v': {
            const n = Number(args[0]);
            if (!Number.isInteger(n) || n < 0 || n > 31) throw new UsageError(`v: expected a register 0..31`);
            const L = sim.machine.lanes;
            out(`v${n} (vl ${sim.machine.vl}): ${JSON.stringify(Array.from(sim.machine.vregs.subarray(n * L, n * L + sim.machine.vl)))}`);
            break;
          }
          case 'm': {
            const [space, at, countText, type] = args;
            if (space !== 'dram' && space !== 'spad' && space !== 'acc') throw new UsageError('m: space must be dram, spad or acc');
            const buf = at !== undefined ? prog.buffers.get(at) : undefined;
            const addr = buf ? buf.address : Number(at);
            if (!Number.isInteger(addr) || addr < 0) throw new UsageError(`m: '${at}' is not an address or a buffer`);
            const count = countText ? Number(countText) : 16;
            const m = sim.machine;
            const kind = type ?? (space === 'acc' ? 'i32' : 'i8');
            let vals: number[];
            if (space === 'acc') vals = Array.from(m.acc.subarray(addr, addr + count));
            else {
              const bytes = space === 'dram' ? m.dram : m.spadU8;
              const dv = new DataView(bytes.buffer, bytes.byteOffset);
              const w = kind === 'i32' ? 4 : kind === 'i16' ? 2 : 1;
              if (addr + count * w > bytes.length) throw new UsageError(`m: ${space} holds ${bytes.length} bytes`);
              vals = Array.from({ length: count }, (_, i) => (w === 4 ? dv.getInt32(addr + 4 * i, true) : w === 2 ? dv.getInt16(addr + 2 * i, true) : dv.getInt8(addr + i)));
            }
            out(`${space}[${addr}..] ${kind}: ${JSON.stringify(vals)}`);
            break;
          }
          case 'l':
            out(where());
            break;
          case 'stats':
            out(formatStats(sim.result(), cfg));
            break;
          case 'q':
            rl.close();
            return 0;
          default:
            out(`unknown command '${cmd}' ('h' for help)`);
        }
      } catch (e) {
        if (e instanceof UsageError) out(e.message);
        else throw e;
      }
    }
    return 0;
  }),
};
