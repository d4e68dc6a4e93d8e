#!/usr/bin/env node
// The `intnpu` command line: yargs with one module per command (ESM yargs 18 has no commandDir).
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { setMemoStore } from '../programs/schedule.js';
import { COMMANDS, neededCommands } from './command-list.js';
import { cliMemoStore } from './memo-store.js';

// `intnpu ... | head`: the reader went away; stop quietly instead of dying with an EPIPE stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

/** This package's version (dist/cli/main.js -> ../../package.json), not the project that installed it. */
function ownVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

const args = hideBin(process.argv);
// the cycle models' plans and figures kept between runs (cli/memo-store.ts; INTNPU_CACHE=0 turns it off)
setMemoStore(cliMemoStore());
const modules = await Promise.all(neededCommands(args).map((name) => COMMANDS[name]!()));
let cli = yargs(args).version(ownVersion()).scriptName('intnpu');
for (const m of modules) cli = cli.command(m);
// yargs renders the whole help text after every handler of a named command, to cache it for a later failure
// message (100-200 ms of text wrapping at the end of `intnpu layer ...`); our failures print their own message,
// so the cache is never read: skip it. (An internal of the pinned yargs; if it moves, this is a no-op.)
const usage = (cli as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } })
  .getInternalMethods?.().getUsageInstance?.();
if (usage?.cacheHelpMessage) usage.cacheHelpMessage = (): void => {};
await cli
  .strict()
  .demandCommand(0)
  .help()
  .fail((msg, err) => {
    if (err) throw err;
    process.stderr.write(`intnpu: ${msg}\nRun 'intnpu --help' for usage.\n`);
    process.exit(1);
  })
  .parseAsync();
