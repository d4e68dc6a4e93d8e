// Tensors the CLI writes for the user (`--out y.npy`, `--dump DIR`): .npy files (kernels/ref/npy.ts encodeNpy)
// that NumPy and PyTorch read, so a run can be compared with the user's own framework.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from '../kernels/ref/npy.js';
import { UsageError } from './common.js';
import { writeOutputFile } from './files.js';

/** Collects step tensors (batched: one slot per sequence) and writes them as DIR/<name>.npy. */
export class TensorSink {
  private readonly steps = new Map<string, { shape: readonly number[]; batch: number; parts: Int32Array[] }>();

  private readonly dir: string | undefined;

  constructor(dir: string | undefined) {
    this.dir = dir;
  }

  /** Records the output of step `name` for sequence `b` of `batch` (no-op without a dump folder). */
  add(name: string, b: number, batch: number, shape: readonly number[], y: Int32Array): void {
    if (this.dir === undefined) return;
    let e = this.steps.get(name);
    if (e === undefined) {
      e = { shape, batch, parts: [] };
      this.steps.set(name, e);
    }
    e.parts[b] = Int32Array.from(y);
  }

  /** Writes every recorded step as DIR/<name>.npy (int32; shape [B, ...] for a batch). */
  flush(): void {
    if (this.dir === undefined) return;
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw new UsageError(`--dump: cannot create ${this.dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    for (const [name, e] of this.steps) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      const all = new Int32Array(n * e.batch);
      e.parts.forEach((p, b) => all.set(p, b * n));
      this.writeFile(join(this.dir, `${name}.npy`), all, e.batch > 1 ? [e.batch, ...e.shape] : e.shape);
    }
  }

  writeFile(path: string, data: Int8Array | Int32Array, shape: readonly number[]): void {
    writeOutputFile(path, encodeNpy(data, shape), 'tensor');
  }
}
