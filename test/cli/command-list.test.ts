// Lazy command loading (cli/command-list.ts): every command module is reachable under its own first word,
// and an invocation loads only the command it names.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, DEFAULT_COMMAND, neededCommands } from '../../cli/command-list.js';

const DIR = resolve(import.meta.dirname, '../../cli/commands');

describe('command list', () => {
  it('has one loader per command module, keyed by the command\'s first word', async () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
    const loaded = await Promise.all(Object.entries(COMMANDS).map(async ([k, load]) => [k, await load()] as const));
    for (const [key, mod] of loaded) {
      const names = (Array.isArray(mod.command) ? mod.command : [mod.command]).map((c) => String(c).split(' ')[0]);
      expect(names[0], key).toBe(key);
      // only the default command answers to no command word
      expect(names.includes('$0'), key).toBe(key === DEFAULT_COMMAND);
    }
    // every command module's top-level export is in the list (golden's subcommands live in its module)
    for (const f of files) {
      const src = readFileSync(join(DIR, f), 'utf8');
      const exported = [...src.matchAll(/export const (\w+Command)\b/g)].map((m) => m[1]!);
      expect(exported.length, f).toBeGreaterThan(0);
      expect(readFileSync(resolve(DIR, '../command-list.ts'), 'utf8'), f).toContain(`./commands/${f.replace(/\.ts$/, '.js')}`);
    }
  });

  it('loads only the named command; all of them for help, a typo or options before the command', () => {
    expect(neededCommands(['layer', '--size', 'small'])).toEqual(['layer']);
    expect(neededCommands(['kernel', 'linear', '-i', 'x.json'])).toEqual(['kernel']);
    expect(neededCommands([])).toEqual(['layer']);
    expect(neededCommands(['--json'])).toEqual(['layer']);
    expect(neededCommands(['demo'])).toEqual(['demo']);
    expect(neededCommands(['layer', '--help'])).toEqual(Object.keys(COMMANDS));
    expect(neededCommands(['nosuch'])).toEqual(Object.keys(COMMANDS));
    expect(neededCommands(['--machine', 'server'])).toEqual(Object.keys(COMMANDS));
  });
});
