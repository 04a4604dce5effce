/** The loader scenarios (integration_tests/helpers/loader-scenarios.ts) on the Parquet directory destination. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { tempDir } from '../../integration_tests/helpers/cli.js';
import { loaderScenarios } from '../../integration_tests/helpers/loader-scenarios.js';
import { openParquet, PARQUET_STATE_FILE } from './parquet.js';

const root = tempDir('source-fal-parquet-loader-');
let n = 0;
const current = (): string => join(root, `run-${n}`);

loaderScenarios('a Parquet directory', () => openParquet(join(root, `run-${++n}`)), {
  // The state is a file: forgetting it is deleting the file.
  clearState: async () => rmSync(join(current(), PARQUET_STATE_FILE), { force: true }),
  sqlTables: false,
});
