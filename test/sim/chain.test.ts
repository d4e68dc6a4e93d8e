// Chained runs (sim/chain.ts): programs priced as one instruction stream on one machine, each DRAM buffer bound to
// a fresh region or to the bytes an earlier program wrote. What must hold: the consumer computes on the producer's
// bytes (not on what the host would write), its loads wait for the producer's stores of those bytes and no longer,
// a drained program starts after everything before it, and a relocated access that leaves its buffer faults.
import { describe, expect, it } from 'vitest';
import { assemble, type Program } from '../../isa/asm.js';
import { parseMachine } from '../../sim/config.js';
import { SimChain, type ChainLink } from '../../sim/chain.js';
import { Machine } from '../../sim/machine.js';
import { loadProgram, simulate, SimFault, type SimResult } from '../../sim/run.js';

const N = 4096;
/** y = x + add (int8, wrapping is avoided by the data): load x, add a constant on the VPU, store y. */
function addProgram(add: number, spadOffset = 0): Program {
  const lines = [
    `.buffer x, dram, ${N}`, `.buffer y, dram, ${N}`, `.buffer skip, spad, ${spadOffset}`, `.buffer sx, spad, ${N}`, `.buffer sy, spad, ${N}`,
    '    li r1, 1', `    li r2, ${N}`, '    li r3, sx', '    li r4, x', '    dma.ld spad, r3, r4, r1, r2, r2, r2',
    `    li r5, ${add}`, '    li r10, sx', '    li r12, sy', `    li r13, ${N}`,
    'loop:', '    vsetvl r16, r13', '    vld.s8 v1, r10, 0', '    vbcast v2, r5', '    vadd v3, v1, v2', '    vst.s8 v3, r12, 0',
    '    add r10, r10, r16', '    add r12, r12, r16', '    sub r13, r13, r16', '    blt zero, r13, loop',
    '    li r3, sy', '    li r4, y', '    dma.st spad, r3, r4, r1, r2, r2, r2', '    halt',
  ];
  return assemble(lines.join('\n') + '\n', { file: `add${add}.s` });
}

const cfg = parseMachine({});
const x = Int8Array.from({ length: N }, (_, i) => (i % 100) - 50);

function runOn(m: Machine, prog: Program, inputs: Record<string, Int8Array>): SimResult {
  for (const [name, data] of Object.entries(inputs)) m.writeBuffer(prog.buffers.get(name)!, data);
  return simulate(loadProgram(prog.words, prog), cfg, { machine: m });
}
function alone(prog: Program, inputs: Record<string, Int8Array>): SimResult {
  return runOn(new Machine(cfg), prog, inputs);
}
function chained(chain: SimChain, prog: Program, inputs: Record<string, Int8Array>, link: Omit<ChainLink, 'chain'>): SimResult {
  return runOn(chain.attach(prog, { chain, ...link }), prog, inputs);
}
const yOf = (r: SimResult, prog: Program): Int8Array => new Int8Array(r.machine.readBytes(prog.buffers.get('y')!).buffer);

describe('chained runs', () => {
  // p2 works in other scratchpad bytes than p1, so only DRAM bindings order them
  const p1 = addProgram(1), p2 = addProgram(2, 2 * N);

  it('the consumer reads the bytes its producer wrote: the host write of a bound input is skipped', () => {
    const chain = new SimChain(cfg);
    chained(chain, p1, { x }, { outputs: { y: 't' } });
    const garbage = new Int8Array(N).fill(99);
    const r = chained(chain, p2, { x: garbage }, { inputs: { x: 't' } });
    const want = Int8Array.from(x, (v) => v + 3);
    expect(Array.from(yOf(r, p2))).toEqual(Array.from(want));
  });

  it('overlapped: the chain ends before the two programs run apart, each step adds its cycles, its span covers them', () => {
    const a = alone(p1, { x }).stats.cycles!, b = alone(p2, { x }).stats.cycles!;
    const chain = new SimChain(cfg);
    const r1 = chained(chain, p1, { x }, { outputs: { y: 't' } });
    const r2 = chained(chain, p2, { x }, { outputs: { y: 'u' } }); // independent input: free to overlap
    expect(r1.stats.cycles).toBe(a);
    expect(chain.cycles).toBe(r1.stats.cycles! + r2.stats.cycles!);
    expect(chain.cycles).toBeLessThan(a + b);
    expect(r2.stats.span_cycles).toBeGreaterThan(r2.stats.cycles!);
    expect(r2.stats.span_cycles).toBeGreaterThanOrEqual(b - 1);
  });

  it('a bound input makes the consumer wait for the producer\'s store; an unbound one does not', () => {
    const free = new SimChain(cfg);
    chained(free, p1, { x }, { outputs: { y: 't' } });
    chained(free, p2, { x }, {});
    const bound = new SimChain(cfg);
    chained(bound, p1, { x }, { outputs: { y: 't' } });
    chained(bound, p2, { x }, { inputs: { x: 't' } });
    // unbound, the consumer's load follows the producer's store on the channel; bound, it also waits out the DRAM
    // latency of that store (its data is usable latencyCycles after the transfer)
    expect(bound.cycles).toBeGreaterThanOrEqual(free.cycles + cfg.dram.latencyCycles);
  });

  it('drain: the program starts after everything before it finished, so the chain is the sum of the programs apart', () => {
    const a = alone(p1, { x }).stats.cycles!, b = alone(p2, { x }).stats.cycles!;
    const chain = new SimChain(cfg);
    chained(chain, p1, { x }, {});
    const r2 = chained(chain, p2, { x }, { drain: true });
    expect(chain.cycles).toBe(a + b);
    expect(r2.stats.cycles).toBe(b);
  });

  it('a relocated access that leaves its buffer faults with pc and instruction; unknown tensors are refused', () => {
    // reads 2N bytes from x: inside the program's own DRAM it would reach into y; relocated, it leaves x
    const bad = assemble([`.buffer x, dram, ${N}`, `.buffer y, dram, ${N}`, `.buffer s, spad, ${2 * N}`, '    li r1, 1', `    li r2, ${2 * N}`, '    li r3, s', '    li r4, x', '    dma.ld spad, r3, r4, r1, r2, r2, r2', '    halt'].join('\n') + '\n', { file: 'bad.s' });
    const chain = new SimChain(cfg);
    const m = chain.attach(bad, { chain });
    let err: unknown;
    try {
      simulate(loadProgram(bad.words, bad), cfg, { machine: m });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SimFault);
    expect((err as SimFault).message).toMatch(/bad\.s:\d+: fault\[out-of-bounds\] at pc 4.*dma\.ld.*does not lie within one buffer/s);
    expect(() => chain.attach(p1, { chain, inputs: { x: 'nothing' } })).toThrow(/tensor 'nothing', which no earlier program of the chain wrote/);
  });
});
