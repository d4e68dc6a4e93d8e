// Reports on a run: the stall hotspots (which instruction waited on what, by source line) and a
// human-readable summary of the stats. The numbers are those of SimStats; docs/TIMING.md defines them.
import type { MachineConfig } from './config.js';
import { instrText, type LoadedProgram, type SimResult, type SimStats } from './run.js';
import { STALL_CAUSES } from './timing.js';

export interface Hotspot {
  pc: number;
  line: number | null;
  instruction: string;
  stall_cycles: number;
  by_cause: Record<string, number>;
  waited_on_pc: number | null;
  waited_on: string | null;
}

export function hotspots(res: SimResult, prog: LoadedProgram, top = 10): Hotspot[] {
  const t = res.timing;
  if (!t) return [];
  const nc = STALL_CAUSES.length;
  // Rank the stalled pcs by their stall cycles first; only the top ones get their texts (a tiled program has
  // tens of thousands of stalled pcs, and disassembling them all cost more than the rest of the report).
  const ranked: { pc: number; sum: number }[] = [];
  for (let pc = 0; pc < prog.n; pc++) {
    let sum = 0;
    for (let c = 0; c < nc; c++) sum += t.pcStalls[pc * nc + c]!;
    if (sum > 0) ranked.push({ pc, sum });
  }
  ranked.sort((a, b) => b.sum - a.sum || a.pc - b.pc);
  return ranked.slice(0, top).map(({ pc, sum }) => {
    const by: Record<string, number> = {};
    for (let c = 0; c < nc; c++) {
      const v = t.pcStalls[pc * nc + c]!;
      if (v > 0) by[STALL_CAUSES[c]!] = v;
    }
    const w = t.pcWaitedOn[pc]!;
    return {
      pc,
      line: prog.source ? prog.source.lines[pc]! : null,
      instruction: instrText(prog, pc),
      stall_cycles: sum,
      by_cause: by,
      waited_on_pc: w >= 0 ? w : null,
      waited_on: w >= 0 ? instrText(prog, w) : null,
    };
  });
}

const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${(v * 100).toFixed(1)} %`);
const num = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : Math.round(v).toLocaleString('en-US'));

export function formatStats(res: SimResult, cfg: MachineConfig, modelCycles?: number): string {
  const s = res.stats;
  const lines: string[] = [];
  lines.push(`machine            ${cfg.name}: ${cfg.mxu.rows}x${cfg.mxu.cols} MXU, ${cfg.vpu.lanes} lanes, ${cfg.dram.bytesPerCycle} B/cycle DRAM, ${cfg.clockGHz} GHz`);
  lines.push(`cycles             ${num(s.cycles)}${s.seconds !== null ? `  (${(s.seconds * 1e6).toFixed(2)} us)` : ''}`);
  if (modelCycles !== undefined && s.cycles !== null) {
    lines.push(`model cycles       ${num(modelCycles)}  (sim/model ${(s.cycles / modelCycles).toFixed(4)})`);
  }
  lines.push(`instructions       ${num(s.instructions)}`);
  lines.push(`MACs               ${num(s.macs)}   MXU utilization ${pct(s.mxu_utilization)}`);
  lines.push(`DRAM bytes         ${num(s.dram_bytes)} (read ${num(s.dram_read_bytes)}, written ${num(s.dram_write_bytes)})   channel busy ${pct(s.dram_channel_utilization)}`);
  lines.push(`energy (estimate)  ${(s.energy_pj.total / 1e6).toFixed(3)} uJ (MAC ${(s.energy_pj.mac / 1e6).toFixed(3)}, DRAM ${(s.energy_pj.dram / 1e6).toFixed(3)}, SRAM ${(s.energy_pj.sram / 1e6).toFixed(3)}, VPU ${(s.energy_pj.vpu / 1e6).toFixed(3)})`);
  if (s.busy_cycles && s.utilization) {
    lines.push('unit busy cycles   ' + Object.entries(s.busy_cycles).map(([u, v]) => `${u} ${num(v)} (${pct(s.utilization![u])})`).join(', '));
  }
  if (s.stall_cycles) {
    lines.push('stall cycles       ' + Object.entries(s.stall_cycles).filter(([, v]) => v > 0).map(([c, v]) => `${c} ${num(v)}`).join(', '));
  }
  return lines.join('\n');
}

export function formatHotspots(hs: readonly Hotspot[]): string {
  if (hs.length === 0) return '';
  const rows = hs.map((h) => {
    const causes = Object.entries(h.by_cause).map(([c, v]) => `${c} ${v.toLocaleString('en-US')}`).join(', ');
    const on = h.waited_on ? `  <- waited on pc ${h.waited_on_pc}: ${h.waited_on}` : '';
    return `  pc ${String(h.pc).padStart(5)}${h.line !== null ? ` line ${String(h.line).padStart(5)}` : ''}  ${h.instruction}\n      ${causes}${on}`;
  });
  return 'stall hotspots (stall cycles charged to the instruction that waited)\n' + rows.join('\n');
}

/** Busy cycles per unit of a run, plus `dram`: the DRAM channel's busy cycles (its utilization times the run's cycles). */
export function busyCycles(s: SimStats): Record<string, number> {
  const busy: Record<string, number> = { ...(s.busy_cycles ?? {}) };
  if (s.dram_channel_utilization !== null && s.cycles !== null) busy['dram'] = Math.round(s.dram_channel_utilization * s.cycles);
  return busy;
}

/** The stall causes a run actually hit (cycles > 0). */
export function stallsHit(s: SimStats): Record<string, number> {
  return Object.fromEntries(Object.entries(s.stall_cycles ?? {}).filter(([, v]) => v > 0));
}
