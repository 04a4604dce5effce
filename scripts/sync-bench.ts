/**
 * Loader throughput and memory: pushes N synthetic usage-shaped rows (default 1,000,000) through the real core
 * `read()` and the sync loader into a DuckDB file (and PostgreSQL when a URL is given), in windows of 100,000 rows
 * and pages of 10,000, then once more to measure the update path (every key re-read). Reports rows/s and peak RSS.
 *
 *   npm run build && node dist/scripts/sync-bench.js [rows] [postgres://…]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseConfig } from '../source-fal/config.js';
import type { FalClient } from '../source-fal/http/client.js';
import { loadStreamSchema } from '../source-fal/schemas.js';
import { read } from '../source-fal/source.js';
import type { IncrementalStream, StreamRecord } from '../source-fal/streams/stream.js';
import { planTable } from '../source-fal/sync/columns.js';
import type { Destination } from '../source-fal/sync/destination.js';
import { openDuckDb } from '../source-fal/sync/duckdb.js';
import { WarehouseLoader } from '../source-fal/sync/loader.js';
import { createProgress } from '../source-fal/sync/progress.js';
import { formatInstant } from '../source-fal/time.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const PG_URL = process.argv[3];
const WINDOW_ROWS = 100_000;
const PAGE_ROWS = 10_000;
const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const ENDPOINTS = [
  'fal-ai/flux/dev',
  'fal-ai/veo3',
  'fal-ai/fast-sdxl',
  'fal-ai/whisper',
  'fal-ai/kling-video/v2/master',
];

function record(i: number, pass: number): StreamRecord {
  const day = Math.floor(i / WINDOW_ROWS);
  const quantity = (i % 97) + 1;
  const unitPrice = [0.025, 0.4, 0.0025, 0.0015, 0.28][i % 5] as number;
  const total = Math.round(quantity * unitPrice * 1e9 + pass);
  return {
    id: `row-${i}`,
    bucket: formatInstant(T0 + day * DAY),
    timeframe: 'day',
    endpoint_id: ENDPOINTS[i % 5],
    unit: 'image',
    quantity,
    unit_price: unitPrice,
    percent_discount: null,
    cost_subtotal: total / 1e9,
    cost_discount: 0,
    cost_total: total / 1e9,
    cost: total / 1e9,
    cost_total_nano_usd: total,
    currency: 'USD',
    auth_method: 'Production Key',
    api_key_id: '3b0a5126-1a02-47c7-971e-bf20fd7aa5e4',
    login_username: null,
  };
}

function syntheticUsage(pass: number): IncrementalStream {
  const windows = Math.ceil(ROWS / WINDOW_ROWS);
  return {
    kind: 'incremental',
    name: 'usage',
    primaryKey: ['id'],
    cursorField: 'bucket',
    requires: 'admin',
    docsUrl: '',
    windows: () => Array.from({ length: windows }, (_, w) => ({ start: T0 + w * DAY, end: T0 + (w + 1) * DAY })),
    cursorAfter: (_ctx, window) => window.end,
    async *readWindow(_ctx, window) {
      const first = ((window.start - T0) / DAY) * WINDOW_ROWS;
      const last = Math.min(first + WINDOW_ROWS, ROWS);
      for (let start = first; start < last; start += PAGE_ROWS) {
        const page: StreamRecord[] = [];
        for (let i = start; i < Math.min(start + PAGE_ROWS, last); i++) page.push(record(i, pass));
        yield page;
      }
    },
  };
}

async function bench(label: string, open: () => Promise<Destination>): Promise<void> {
  for (const pass of [0, 1]) {
    const destination = await open();
    const stream = syntheticUsage(pass);
    const plan = planTable(stream, loadStreamSchema('usage'));
    await destination.prepare([plan]);
    const quiet = createProgress({ write: () => true }, { tty: false, debug: false });
    const loader = new WarehouseLoader(destination, new Map([['usage', plan]]), quiet, quiet);
    const ctx = {
      config: parseConfig({ api_key: 'bench-key:0123456789abcdef', start_date: '2026-01-01' }, T0 + 400 * DAY),
      client: {} as FalClient,
      log: quiet,
      signal: new AbortController().signal,
    };
    let peak = process.memoryUsage().rss;
    let peakHeap = process.memoryUsage().heapUsed;
    const sampler = setInterval(() => {
      const memory = process.memoryUsage();
      peak = Math.max(peak, memory.rss);
      peakHeap = Math.max(peakHeap, memory.heapUsed);
    }, 50);
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    const failed = await read(ctx, [{ stream, mode: 'full_refresh' }], new Map(), loader);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuUsed = process.cpuUsage(cpu);
    const cpuSeconds = (cpuUsed.user + cpuUsed.system) / 1e6;
    clearInterval(sampler);
    const summary = loader.results()[0];
    await destination.close();
    if (failed.length > 0) throw new Error(`${label}: ${summary?.error}`);
    console.log(
      `${label.padEnd(10)} ${pass === 0 ? 'insert' : 'update'}  ${ROWS.toLocaleString('en-US')} rows  ${seconds.toFixed(1)} s  ${Math.round(ROWS / seconds).toLocaleString('en-US')} rows/s (CPU ${cpuSeconds.toFixed(1)} s)  inserted ${summary?.inserted.toLocaleString('en-US')} updated ${summary?.updated.toLocaleString('en-US')}  peak RSS ${Math.round(peak / 2 ** 20)} MiB, JS heap ${Math.round(peakHeap / 2 ** 20)} MiB`,
    );
  }
}

const dir = mkdtempSync(join(tmpdir(), 'source-fal-bench-'));
try {
  await bench('duckdb', () => openDuckDb(join(dir, 'bench.duckdb'), { log: () => undefined }));
  if (PG_URL) {
    const { openPostgres } = await import('../source-fal/sync/postgres.js');
    await bench('postgres', () => openPostgres(PG_URL, { log: () => undefined }));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
