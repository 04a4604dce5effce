// npm links `bin` entries with their file mode as built; tsc writes 0644, so make the CLI executable.
import { chmodSync } from 'node:fs';
chmodSync(new URL('../dist/source-fal/main.js', import.meta.url), 0o755);
