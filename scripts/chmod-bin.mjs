// npm links `bin` entries with their file mode as built; tsc writes 0644, so make the CLIs executable.
import { chmodSync } from 'node:fs';
for (const bin of ['main.js', 'singer.js']) chmodSync(new URL(`../dist/source-fal/${bin}`, import.meta.url), 0o755);
