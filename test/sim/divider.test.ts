// The divider's initiation interval (divider.divIntervalCycles / sqrtIntervalCycles): absent, the iterative divider
// is busy until its result (docs/TIMING.md); set, it accepts the next division after the interval while each result
// still arrives after the full latency. Also: an interval above the latency is refused, naming the field.
import { describe, expect, it } from 'vitest';
import { assemble } from '../../isa/asm.js';
import { ConfigError, parseMachine, type MachineConfig } from '../../sim/config.js';
import { Machine } from '../../sim/machine.js';
import { loadProgram, simulate } from '../../sim/run.js';

function cyclesOf(src: string, cfg: MachineConfig): number {
  const prog = assemble(src, { file: 'div.s' });
  return simulate(loadProgram(prog.words, prog), cfg, { machine: new Machine(cfg) }).stats.cycles ?? 0;
}

// eight independent divisions (distinct destinations), then a use of the last one
const SRC = ['    li r1, 1000', '    li r2, 7', ...Array.from({ length: 8 }, (_, i) => `    div r${10 + i}, r1, r2, floor`), '    add r20, r17, r17', '    halt'].join('\n') + '\n';

describe('divider initiation interval', () => {
  it('iterative by default: eight divisions take eight latencies; pipelined (interval 1): one latency plus eight issues', () => {
    const iterative = cyclesOf(SRC, parseMachine({ divider: { divLatencyCycles: 34 } }));
    const pipelined = cyclesOf(SRC, parseMachine({ divider: { divLatencyCycles: 34, divIntervalCycles: 1 } }));
    const half = cyclesOf(SRC, parseMachine({ divider: { divLatencyCycles: 34, divIntervalCycles: 4 } }));
    expect(iterative).toBeGreaterThanOrEqual(8 * 34);
    expect(iterative).toBeLessThan(8 * 34 + 10);
    expect(pipelined).toBeGreaterThanOrEqual(34 + 7);
    expect(pipelined).toBeLessThan(34 + 7 + 10);
    expect(half).toBeGreaterThanOrEqual(34 + 7 * 4);
    expect(half).toBeLessThan(34 + 7 * 4 + 10);
  });
  it('edge keeps the iterative divider; server pipelines it (one division or square root per cycle, same latency)', () => {
    expect(parseMachine({}).divider.divIntervalCycles).toBeUndefined();
    const server = parseMachine({ preset: 'server' }).divider;
    expect([server.divIntervalCycles, server.sqrtIntervalCycles, server.divLatencyCycles]).toEqual([1, 1, 34]);
  });
  it('an interval longer than the latency is refused', () => {
    expect(() => parseMachine({ divider: { divLatencyCycles: 10, divIntervalCycles: 11 } })).toThrow(ConfigError);
    expect(() => parseMachine({ divider: { divLatencyCycles: 10, divIntervalCycles: 11 } })).toThrow(/divIntervalCycles/);
  });
});
