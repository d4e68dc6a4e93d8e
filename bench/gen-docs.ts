// `npm run docs`: regenerate the generated references (docs/ISA.md, docs/machine.schema.json).
import { writeFileSync } from 'node:fs';
import { isaMarkdown } from '../isa/docs.js';
import { machineJsonSchema } from '../sim/config.js';

writeFileSync('docs/ISA.md', isaMarkdown());
writeFileSync('docs/machine.schema.json', JSON.stringify(machineJsonSchema(), null, 2) + '\n');
process.stdout.write('wrote docs/ISA.md and docs/machine.schema.json\n');
