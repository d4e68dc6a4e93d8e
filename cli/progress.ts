// Progress of long runs on stderr (layer, report, sweep, fidelity): one line rewritten in place with the step or
// point, the count, the elapsed time and an estimate of the time left. Only when stderr is a terminal and the
// output is not --json, so pipes, files and CI logs get nothing extra.
import { performance } from 'node:perf_hooks';

export interface ProgressOptions {
  /** force on or off (tests); default: stderr is a TTY */
  readonly enabled?: boolean;
}

function secs(ms: number): string {
  const s = ms / 1e3;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export class Progress {
  private readonly t0 = performance.now();
  private done = 0;
  private readonly on: boolean;
  private readonly label: string;
  private readonly total: number | undefined;
  private readonly out: NodeJS.WriteStream;

  constructor(label: string, total: number | undefined, json: boolean | undefined, opts: ProgressOptions = {}, out: NodeJS.WriteStream = process.stderr) {
    this.label = label;
    this.total = total;
    this.out = out;
    this.on = opts.enabled ?? (!json && out.isTTY === true);
  }

  /** One more unit finished; `what` says which and how (`point 3 done`, `step 7 query done`). */
  tick(what: string): void {
    this.done++;
    this.show(what);
  }

  /** A unit starts (for slow units, so the line does not sit still): shows it without counting it. */
  begin(what: string): void {
    this.show(`running ${what}`);
  }

  private show(what: string): void {
    if (!this.on) return;
    const el = performance.now() - this.t0;
    const count = this.total !== undefined ? `${this.done}/${this.total}` : `${this.done}`;
    const left = this.total !== undefined && this.done > 0 && this.done < this.total ? `, ~${secs((el / this.done) * (this.total - this.done))} left` : '';
    const line = `${this.label}: ${count}, ${what} | ${secs(el)} elapsed${left}`;
    const width = this.out.columns ?? 100;
    this.out.write(`\r\x1b[K${line.length >= width ? line.slice(0, width - 1) : line}`);
  }

  /** Clears the line (the final figures go to stdout). */
  end(): void {
    if (this.on) this.out.write('\r\x1b[K');
  }
}
