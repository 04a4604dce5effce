/** The loader scenarios (integration_tests/helpers/loader-scenarios.ts) on an in-memory DuckDB; PostgreSQL runs them in sync.postgres.test.ts. */
import { loaderScenarios } from '../../integration_tests/helpers/loader-scenarios.js';
import { openDuckDb } from './duckdb.js';

loaderScenarios('an in-memory DuckDB', (log) => openDuckDb(':memory:', { log }));
