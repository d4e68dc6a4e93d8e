// Preloaded (`node --import`) into the CLI processes the end-to-end benchmark spawns: at exit, writes the
// process's CPU time, peak resident memory and wall time since start to the file INTNPU_RUSAGE_FILE names.
// Peak memory is the process's own high-water mark (VmHWM of /proc/self/status on Linux): getrusage's ru_maxrss
// survives fork and exec, so a child of a large benchmark process would report at least the parent's size.
import { readFileSync, writeFileSync } from 'node:fs';

/** This process's peak resident set in MB: VmHWM where /proc has it, else ru_maxrss. */
function peakRssMb(r: NodeJS.ResourceUsage): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // no /proc: the rusage figure
  }
  return r.maxRSS / 1024;
}

const out = process.env['INTNPU_RUSAGE_FILE'];
if (out) {
  process.on('exit', () => {
    const r = process.resourceUsage();
    writeFileSync(out, JSON.stringify({ cpu_ms: (r.userCPUTime + r.systemCPUTime) / 1000, peak_rss_mb: peakRssMb(r), wall_ms: performance.now() }));
  });
}
