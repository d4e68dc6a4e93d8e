// Chrome trace-event export (viewable in Perfetto / chrome://tracing): one track per unit, one complete
// event per executed instruction from start to end, with dispatch, completion and the stall it suffered.
// Time unit: one trace microsecond is one cycle. `ts` and `dur` are integer cycles, so events never
// overlap by rounding (a float cycles/1000 did); the viewer's "us" reads as cycles, and
// `otherData.clock_ghz` converts them to real time.
import { UNITS } from '../isa/table.js';
import type { MachineConfig } from './config.js';
import { instrText, type LoadedProgram } from './run.js';
import { STALL_CAUSES, type TraceEvent } from './timing.js';

export function chromeTrace(events: readonly TraceEvent[], prog: LoadedProgram, cfg: MachineConfig): unknown {
  const meta = UNITS.map((u, i) => ({ name: 'thread_name', ph: 'M', pid: 1, tid: i, args: { name: u } }));
  const lines = prog.source?.lines;
  const texts = new Map<number, string>();
  const text = (pc: number): string => {
    let t = texts.get(pc);
    if (t === undefined) texts.set(pc, (t = instrText(prog, pc)));
    return t;
  };
  const out = events.map((ev) => ({
    name: text(ev.pc),
    cat: UNITS[ev.unit],
    ph: 'X',
    pid: 1,
    tid: ev.unit,
    ts: ev.start,
    dur: Math.max(ev.end - ev.start, 1),
    args: {
      pc: ev.pc,
      line: lines?.[ev.pc],
      dispatch_cycle: ev.dispatch,
      start_cycle: ev.start,
      end_cycle: ev.end,
      done_cycle: ev.done,
      stall: ev.cause >= 0 ? STALL_CAUSES[ev.cause] : undefined,
      waited_on_pc: ev.waitedOn >= 0 ? ev.waitedOn : undefined,
      waited_on: ev.waitedOn >= 0 ? text(ev.waitedOn) : undefined,
    },
  }));
  return {
    traceEvents: [{ name: 'process_name', ph: 'M', pid: 1, args: { name: `intnpu ${cfg.name} (1 us on the time axis = 1 cycle)` } }, ...meta, ...out],
    displayTimeUnit: 'ms',
    otherData: { time_unit: 'cycle (ts and dur are integer cycles, shown as microseconds)', clock_ghz: cfg.clockGHz, machine: cfg.name },
  };
}
