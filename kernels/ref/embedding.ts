// QuantEmbedding lookup (docs/IBERT.md section 5): per-tensor 8-bit tables; a lookup copies table_int[id].

import { KernelInputError } from './errors.js';

/** Rows of `table` ([vocab, dim] row-major int8) for each id: [ids.length, dim]. */
export function embeddingLookup(table: Int8Array, dim: number, ids: ArrayLike<number>): Int8Array {
  const vocab = table.length / dim;
  if (!Number.isInteger(vocab)) throw new KernelInputError(`embedding table length ${table.length} is not a multiple of ${dim}`);
  const out = new Int8Array(ids.length * dim);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new KernelInputError(`ids[${t}]: ${id} is not in [0, ${vocab})`);
    out.set(table.subarray(id * dim, (id + 1) * dim), t * dim);
  }
  return out;
}
