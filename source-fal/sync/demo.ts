/**
 * `sync --demo`: the bundled fal emulator (source-fal/emulator, part of the product) serves seeded,
 * made-up fal data on localhost, and sync loads it exactly as it would load a real account. No key, no network.
 */
import { ADMIN_KEY, startEmulator } from '../emulator/server.js';
import { DAY_MS, formatInstant } from '../time.js';
import type { Destination } from './destination.js';
import { howToQuery, type Target } from './destinations.js';
import { formatRows } from './table-text.js';

const DEMO_SEED = 42;
const DEMO_DAYS = 90;

export interface Demo {
  url: string;
  days: number;
  config: Record<string, unknown>;
  sampleQuery(destination: Destination, target: Target): Promise<string>;
  close(): Promise<void>;
}

/**
 * Cost per UTC day and endpoint over the last 7 days of data; the same SQL runs in DuckDB and PostgreSQL. `AT TIME
 * ZONE 'UTC'` makes the day a UTC day in any session time zone (a plain CAST to DATE follows the session's zone),
 * and the 7 days are counted on UTC dates: an INTERVAL on a timestamp with time zone is added in the session's zone,
 * which across a daylight-saving change moves the cut-off by an hour.
 */
export const SAMPLE_QUERY = `SELECT CAST(bucket AT TIME ZONE 'UTC' AS DATE) AS day, endpoint_id, SUM(quantity) AS quantity, SUM(cost_total) AS cost_usd
FROM fal.usage
WHERE CAST(bucket AT TIME ZONE 'UTC' AS DATE) > (SELECT max(CAST(bucket AT TIME ZONE 'UTC' AS DATE)) FROM fal.usage) - 7
GROUP BY 1, 2
ORDER BY day DESC, cost_usd DESC`;

/** The sample query for tables in another schema (--schema). */
function sampleQueryFor(schema: string): string {
  return SAMPLE_QUERY.replaceAll('fal.usage', `${schema}.usage`);
}

export async function startDemo(nowMs: number): Promise<Demo> {
  const now = Math.floor(nowMs / 1000) * 1000;
  const emulator = await startEmulator({ now: new Date(now), seed: DEMO_SEED, historyDays: DEMO_DAYS + 10 });
  return {
    url: emulator.url,
    days: DEMO_DAYS,
    config: {
      api_key: ADMIN_KEY,
      base_url: emulator.url,
      start_date: formatInstant(Math.floor((now - DEMO_DAYS * DAY_MS) / DAY_MS) * DAY_MS).slice(0, 10),
      max_retry_seconds: 10,
    },
    async sampleQuery(destination, target) {
      const query = sampleQueryFor(destination.namespace.name);
      const rows = await destination.query(query);
      const how = howToQuery(target);
      return `\n${how}\n\n${query};\n\n${formatRows(rows)}\nThe tables are in schema ${destination.namespace.name}: usage (and the other streams), plus _source_fal_state, and the views focus_costs (FOCUS 1.2 rows) and invoice_reconciliation (run: source-fal reconcile${target.dialect === 'duckdb' ? ` --destination ${target.path}` : ''}). Next: sync your own account with\n  FAL_ADMIN_KEY=<key id>:<secret> npx source-fal sync\n`;
    },
    close: () => emulator.close(),
  };
}
