// Regenerates schemas/spec.json from the zod ConfigSchema (via the built `spec()`); the drift test fails until you do.
import { writeFileSync } from 'node:fs';

import { spec } from '../dist/source-fal/source.js';

writeFileSync(new URL('../schemas/spec.json', import.meta.url), `${JSON.stringify(spec(), null, 2)}\n`);
console.log('wrote schemas/spec.json');
