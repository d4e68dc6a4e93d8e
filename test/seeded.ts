// Seeded tests: each test's RNG is seeded from its own name, and a failure prints the seed and a
// one-line reproduction command.
import seedrandom from 'seedrandom';
import { it } from 'vitest';

export type Rng = () => number;

/** `it` with an RNG seeded from the test's name, for the test file `file`. */
export function seededIt(file: string) {
  return (name: string, body: (rng: Rng) => void, timeout?: number): void => {
    it(name, () => {
      const rng = seedrandom.alea(name);
      try {
        body(rng);
      } catch (err) {
        const hint = `\n  seed: ${JSON.stringify(name)}\n  reproduce: npx vitest run ${file} -t ${JSON.stringify(name)}`;
        if (err instanceof Error) {
          err.message += hint;
          throw err;
        }
        throw new Error(String(err) + hint);
      }
    }, timeout);
  };
}
