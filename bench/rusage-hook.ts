// Preloaded (`node --import`) into the CLI processes the end-to-end benchmark spawns: at exit, writes the
// process's CPU time, peak resident memory and wall time since start to the file INTNPU_RUSAGE_FILE names.
import { writeFileSync } from 'node:fs';

const out = process.env['INTNPU_RUSAGE_FILE'];
if (out) {
  process.on('exit', () => {
    const r = process.resourceUsage();
    writeFileSync(out, JSON.stringify({ cpu_ms: (r.userCPUTime + r.systemCPUTime) / 1000, peak_rss_mb: r.maxRSS / 1024, wall_ms: performance.now() }));
  });
}
