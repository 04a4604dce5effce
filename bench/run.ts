/**
 * `npm run bench`: how fast source-fal moves fal billing events, next to a minimal reader doing the same HTTP and
 * JSON work in the same run (see docs/performance.md). Measures, each repeated and reported as the median:
 *   read        `source-fal read` of billing_events into a consumer that only counts lines
 *   minimal     bench/minimal-reader.ts, the same requests and RECORD lines with nothing else
 *   sync-duckdb `source-fal sync` of the same data into a fresh DuckDB file (and with SOURCE_FAL_DUCKDB_MEMORY_LIMIT=256MB)
 *   sync-pg     the same into PostgreSQL (when a server is available)
 *   read-slow   `read` into a consumer that takes ~1 MB/s for 10 s, then reads fast
 *   read-big    `read` of the whole (≥ 5M events) history, for memory that must not grow with volume
 *   read-latency-serial / read-latency-concurrent
 *               `read` from an emulator that answers like a remote API (250 ms + 20 ms per MiB a page), with
 *               max_concurrent_requests 1, 4 (the default) and 8
 * For each: records/s, MB/s, wall time, CPU time per record and peak RSS of the measured process (from
 * process.resourceUsage via a preloaded hook), and the HTTP requests the emulator served.
 * The emulator runs in its own process so its CPU is not charged to the connector.
 *
 *   npm run bench [-- --events 1000000 --big-events 5000000 --repeats 3 --smoke --pg-url postgres://…]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { ADMIN_KEY } from '../source-fal/emulator/keys.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const CLI = join(ROOT, 'dist', 'source-fal', 'main.js');
const MINIMAL = join(ROOT, 'dist', 'bench', 'minimal-reader.js');
const EMULATOR = join(ROOT, 'dist', 'source-fal', 'emulator', 'main.js');
const HOOK = join(ROOT, 'bench', 'rusage-hook.mjs');
const NOW = '2026-11-25T00:00:00Z';
const DAY_MS = 86_400_000;

interface Measurement {
  name: string;
  records: number;
  bytes: number;
  wallMs: number;
  cpuMs: number;
  maxRssMb: number;
  requests: number;
}

interface Row extends Measurement {
  runs: number;
  recordsPerSec: number;
  mbPerSec: number;
  cpuUsPerRecord: number;
}

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    'big-events': { type: 'string', default: '5000000' },
    repeats: { type: 'string', default: '3' },
    smoke: { type: 'boolean', default: false },
    'pg-url': { type: 'string' },
    out: { type: 'string' },
    only: { type: 'string' },
  },
});
const smoke = values.smoke ?? false;
const targetEvents = smoke ? 50_000 : Number(values.events);
const bigEvents = smoke ? 0 : Number(values['big-events']);
const repeats = smoke ? 1 : Number(values.repeats);
let pgUrl = values['pg-url'] ?? process.env.SOURCE_FAL_BENCH_PG_URL ?? process.env.SOURCE_FAL_TEST_PG_URL;
const only = values.only?.split(',');
const slowSeconds = smoke ? 1 : 10;
/** fal publishes no latency figures; a remote API building a 10,000-row page takes hundreds of ms. */
const LATENCY_MS = 250;
const LATENCY_PER_MIB_MS = 20;

// One emulator for everything: `days` of history at `perDay` events; the main read covers the last `mainDays`.
const mainDays = smoke ? 2 : 30;
const perDay = Math.ceil((targetEvents * 1.02) / mainDays);
const bigDays = bigEvents > 0 ? Math.ceil((bigEvents * 1.02) / perDay) : 0;
const historyDays = Math.max(mainDays, bigDays) + 1;

class EmulatorProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly lines: AsyncIterator<string>,
  ) {}

  static async start(extraArgs: string[] = []): Promise<EmulatorProcess> {
    const child = spawn(
      process.execPath,
      [
        EMULATOR,
        '--now',
        NOW,
        '--history-days',
        String(historyDays),
        '--events-per-day',
        String(perDay),
        '--seed',
        '7',
        ...extraArgs,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const lines = lineIterator(child);
    const first = await lines.next();
    const url = (JSON.parse(String(first.value)) as { url: string }).url;
    return new EmulatorProcess(child, url, lines);
  }

  /** Requests served so far (the emulator answers SIGUSR2 with a count). */
  async requests(): Promise<number> {
    this.child.kill('SIGUSR2');
    const line = await this.lines.next();
    if (line.done === true)
      throw new Error(
        `the emulator process ended (exit ${String(this.child.exitCode)}, signal ${String(this.child.signalCode)}) instead of answering SIGUSR2`,
      );
    return (JSON.parse(line.value) as { requests: number }).requests;
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}

async function* lineGenerator(child: ChildProcess): AsyncGenerator<string> {
  let buffer = '';
  for await (const chunk of child.stdout ?? []) {
    buffer += String(chunk);
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
}

function lineIterator(child: ChildProcess): AsyncIterator<string> {
  return lineGenerator(child)[Symbol.asyncIterator]();
}

interface Consumer {
  /** Reads the child's stdout; resolves with [record lines, bytes]. */
  (child: ChildProcess): Promise<[number, number]>;
}

const RECORD_MARK = Buffer.from('{"type":"RECORD"');

/**
 * Reads the child's stdout, counting RECORD lines (lines that start with the RECORD envelope) and bytes.
 * A line can straddle chunks, so the first bytes of the current line are carried over until there are enough to
 * compare. `pace` may delay after each chunk to play a slow reader.
 */
function recordCounter(pace?: (bytes: number, startedMs: number) => Promise<void>): Consumer {
  return async (child) => {
    const started = Date.now();
    let records = 0;
    let bytes = 0;
    let head = Buffer.alloc(0);
    let checked = false;
    for await (const chunk of child.stdout ?? []) {
      const buf = chunk as Buffer;
      bytes += buf.length;
      for (let pos = 0; pos < buf.length;) {
        if (!checked) {
          const take = Math.min(RECORD_MARK.length - head.length, buf.length - pos);
          head = Buffer.concat([head, buf.subarray(pos, pos + take)]);
          if (head.length === RECORD_MARK.length) {
            if (head.equals(RECORD_MARK)) records++;
            checked = true;
          }
        }
        const newline = buf.indexOf(10, pos);
        if (newline < 0) break;
        pos = newline + 1;
        head = Buffer.alloc(0);
        checked = false;
      }
      if (pace) await pace(buf.length, started);
    }
    return [records, bytes];
  };
}

/** Counts RECORD lines and bytes, as fast as it can. */
const countingConsumer: Consumer = recordCounter();

/** ~1 MB/s for `slowSeconds`, then fast: the connector must wait, not buffer. */
const slowConsumer: Consumer = recordCounter(async (bytes, startedMs) => {
  if (Date.now() - startedMs < slowSeconds * 1000) await new Promise((r) => setTimeout(r, bytes / 1000)); // 1 byte/µs ≈ 1 MB/s
});

/** A consumer for `sync`, which prints a summary, not records: records come from the emulator's side. */
const drainConsumer: Consumer = async (child) => {
  for await (const chunk of child.stdout ?? []) void chunk;
  return [0, 0];
};

async function measure(
  name: string,
  emu: EmulatorProcess,
  script: string,
  args: string[],
  env: Record<string, string>,
  consumer: Consumer,
  expectedRecords?: number,
): Promise<Measurement> {
  const usageFile = join(workDir, `rusage-${name}-${Date.now()}.json`);
  const before = await emu.requests();
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, ['--import', HOOK, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env, BENCH_RUSAGE_FILE: usageFile },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const [records, bytes] = await consumer(child);
  const code = await exited;
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (code !== 0) throw new Error(`${name} exited ${code}: ${stderr}`);
  const usage = JSON.parse(readFileSync(usageFile, 'utf8')) as {
    userCPUTime: number;
    systemCPUTime: number;
    maxRSS: number;
  };
  const requests = (await emu.requests()) - before;
  const count = expectedRecords ?? records;
  if (expectedRecords !== undefined && records !== 0 && records !== expectedRecords)
    throw new Error(`${name}: ${records} records, expected ${expectedRecords}`);
  return {
    name,
    records: count,
    bytes,
    wallMs,
    cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
    maxRssMb: usage.maxRSS / 1024,
    requests,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function summarise(runs: Measurement[]): Row {
  const first = runs[0];
  if (!first) throw new Error('no runs');
  const wallMs = median(runs.map((r) => r.wallMs));
  const cpuMs = median(runs.map((r) => r.cpuMs));
  const bytes = median(runs.map((r) => r.bytes));
  return {
    name: first.name,
    runs: runs.length,
    records: first.records,
    bytes,
    wallMs,
    cpuMs,
    maxRssMb: Math.max(...runs.map((r) => r.maxRssMb)),
    requests: first.requests,
    recordsPerSec: first.records / (wallMs / 1000),
    mbPerSec: bytes / 1e6 / (wallMs / 1000),
    cpuUsPerRecord: (cpuMs * 1000) / first.records,
  };
}

const workDir = mkdtempSync(join(tmpdir(), 'source-fal-bench-'));

/** What main() started (emulator, PostgreSQL), stopped at the end, also when the benchmark fails half-way. */
const cleanups: (() => unknown)[] = [];

async function cleanUp(): Promise<void> {
  for (const stop of cleanups.splice(0).reverse())
    await Promise.resolve()
      .then(stop)
      .catch(() => undefined);
}

async function main(): Promise<void> {
  // Without a URL, start a throwaway PostgreSQL the way the sync tests do (local server binaries or testcontainers).
  if (!pgUrl && (!only || only.includes('sync-pg'))) {
    try {
      const { startTestPostgres } = await import('../integration_tests/helpers/postgres.js');
      const server = await startTestPostgres();
      pgUrl = server.url;
      cleanups.push(() => server.stop());
    } catch (error) {
      process.stderr.write(`  no PostgreSQL for sync-pg: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  const emu = await EmulatorProcess.start();
  cleanups.push(() => emu.stop());
  const nowMs = Date.parse(NOW);
  const mainStart = new Date(nowMs - mainDays * DAY_MS).toISOString().slice(0, 10);
  const bigStart = new Date(nowMs - bigDays * DAY_MS).toISOString().slice(0, 10);
  const env = { SOURCE_FAL_NOW: NOW };
  const config = (start: string, extra: Record<string, unknown> = {}, baseUrl = emu.url): string => {
    const path = join(workDir, `config-${start}-${Object.values(extra).join('-')}-${baseUrl.length}.json`);
    writeFileSync(
      path,
      JSON.stringify({ api_key: ADMIN_KEY, base_url: baseUrl, start_date: start, max_retry_seconds: 60, ...extra }),
    );
    return path;
  };
  const catalog = join(workDir, 'catalog.json');
  writeFileSync(
    catalog,
    JSON.stringify({
      streams: [
        {
          stream: { name: 'billing_events', json_schema: {}, supported_sync_modes: ['full_refresh', 'incremental'] },
          sync_mode: 'full_refresh',
          destination_sync_mode: 'overwrite',
        },
      ],
    }),
  );
  const readArgs = (start: string): string[] => ['read', '--config', config(start), '--catalog', catalog];
  const want = (name: string): boolean => !only || only.includes(name);
  const rows: Row[] = [];
  const repeat = async (name: string, run: () => Promise<Measurement>, times = repeats): Promise<void> => {
    if (!want(name)) return;
    const runs: Measurement[] = [];
    for (let i = 0; i < times; i++) {
      const m = await run();
      runs.push(m);
      process.stderr.write(
        `  ${name} #${i + 1}: ${m.records} records in ${(m.wallMs / 1000).toFixed(2)} s, cpu ${(m.cpuMs / 1000).toFixed(2)} s, rss ${m.maxRssMb.toFixed(0)} MB\n`,
      );
    }
    rows.push(summarise(runs));
  };

  process.stderr.write(
    `bench: emulator ${emu.url}, ${perDay} events/day, ${historyDays} days; main read ${mainStart}..${NOW}\n`,
  );
  // Interleave read and minimal so drift in machine load hits both alike.
  const readRuns: Measurement[] = [];
  const minimalRuns: Measurement[] = [];
  for (let i = 0; i < repeats; i++) {
    if (want('read')) readRuns.push(await measure('read', emu, CLI, readArgs(mainStart), env, countingConsumer));
    if (want('minimal'))
      minimalRuns.push(
        await measure(
          'minimal',
          emu,
          MINIMAL,
          [emu.url, `${mainStart}T00:00:00Z`, NOW],
          { ...env, BENCH_API_KEY: ADMIN_KEY },
          countingConsumer,
        ),
      );
    process.stderr.write(
      `  round ${i + 1}: read ${readRuns.at(-1)?.wallMs.toFixed(0) ?? '-'} ms, minimal ${minimalRuns.at(-1)?.wallMs.toFixed(0) ?? '-'} ms\n`,
    );
  }
  if (readRuns.length) rows.push(summarise(readRuns));
  if (minimalRuns.length) rows.push(summarise(minimalRuns));
  const mainRecords = readRuns[0]?.records ?? minimalRuns[0]?.records;

  // DuckDB takes up to 80% of RAM unless capped; capped, its primary-key index must still fit (docs/performance.md).
  for (const [name, limit] of [
    ['sync-duckdb', undefined],
    ['sync-duckdb-256mb', '256MB'],
  ] as const) {
    await repeat(name, async () => {
      const db = join(workDir, `bench-${Date.now()}.duckdb`);
      const m = await measure(
        name,
        emu,
        CLI,
        ['sync', '--config', config(mainStart), '--destination', db, '--streams', 'billing_events', '--full-refresh'],
        limit === undefined ? env : { ...env, SOURCE_FAL_DUCKDB_MEMORY_LIMIT: limit },
        drainConsumer,
        mainRecords,
      );
      rmSync(db, { force: true });
      rmSync(`${db}.wal`, { force: true });
      return m;
    });
  }
  const databaseUrl = pgUrl;
  if (databaseUrl) {
    await repeat('sync-pg', async () => {
      await dropFalSchema(databaseUrl);
      return measure(
        'sync-pg',
        emu,
        CLI,
        [
          'sync',
          '--config',
          config(mainStart),
          '--destination',
          databaseUrl,
          '--streams',
          'billing_events',
          '--full-refresh',
        ],
        env,
        drainConsumer,
        mainRecords,
      );
    });
  } else {
    process.stderr.write(
      '  sync-pg skipped: no PostgreSQL URL (--pg-url, SOURCE_FAL_BENCH_PG_URL or SOURCE_FAL_TEST_PG_URL)\n',
    );
  }
  await repeat('read-slow', () => measure('read-slow', emu, CLI, readArgs(mainStart), env, slowConsumer));
  if (bigEvents > 0)
    await repeat('read-big', () => measure('read-big', emu, CLI, readArgs(bigStart), env, countingConsumer), 1);

  // fal is remote: every page costs a round trip and the time to build and send it. The same read against an
  // emulator that answers after LATENCY_MS plus LATENCY_PER_MIB_MS per MiB, one request at a time and concurrently.
  if (want('read-latency-serial') || want('read-latency-concurrent') || want('read-latency-concurrent-8')) {
    const slow = await EmulatorProcess.start([
      '--latency-ms',
      String(LATENCY_MS),
      '--latency-per-mib-ms',
      String(LATENCY_PER_MIB_MS),
    ]);
    cleanups.push(() => slow.stop());
    const latencyArgs = (concurrency: number): string[] => [
      'read',
      '--config',
      config(mainStart, { max_concurrent_requests: concurrency }, slow.url),
      '--catalog',
      catalog,
    ];
    await repeat('read-latency-serial', () =>
      measure('read-latency-serial', slow, CLI, latencyArgs(1), env, countingConsumer),
    );
    await repeat('read-latency-concurrent', () =>
      measure('read-latency-concurrent', slow, CLI, latencyArgs(4), env, countingConsumer),
    );
    await repeat('read-latency-concurrent-8', () =>
      measure('read-latency-concurrent-8', slow, CLI, latencyArgs(8), env, countingConsumer),
    );
  }
  await cleanUp();

  const byName = new Map(rows.map((r) => [r.name, r]));
  const ratio = (a: string, b: string, f: (r: Row) => number): number | undefined => {
    const x = byName.get(a);
    const y = byName.get(b);
    return x && y ? f(x) / f(y) : undefined;
  };
  const ratios = {
    read_vs_minimal_wall: ratio('read', 'minimal', (r) => r.recordsPerSec),
    read_vs_minimal_cpu_per_record: ratio('minimal', 'read', (r) => r.cpuUsPerRecord),
    sync_duckdb_vs_read_wall: ratio('sync-duckdb', 'read', (r) => r.recordsPerSec),
    sync_duckdb_256mb_vs_read_wall: ratio('sync-duckdb-256mb', 'read', (r) => r.recordsPerSec),
    sync_pg_vs_read_wall: ratio('sync-pg', 'read', (r) => r.recordsPerSec),
    latency_concurrent_vs_serial_wall: ratio('read-latency-concurrent', 'read-latency-serial', (r) => r.recordsPerSec),
    latency_concurrent_8_vs_serial_wall: ratio(
      'read-latency-concurrent-8',
      'read-latency-serial',
      (r) => r.recordsPerSec,
    ),
  };
  printTable(rows, ratios);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    machine: `${process.platform} ${process.arch}`,
    smoke,
    events_per_day: perDay,
    main_days: mainDays,
    repeats,
    rows,
    ratios,
  };
  const out = values.out ?? join(ROOT, 'bench', 'results', smoke ? 'smoke.json' : 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${out}\n`);
  rmSync(workDir, { recursive: true, force: true });
}

async function dropFalSchema(url: string): Promise<void> {
  const pg = await import('pg');
  const client = new pg.default.Client({ connectionString: url });
  await client.connect();
  await client.query('DROP SCHEMA IF EXISTS fal CASCADE');
  await client.end();
}

function printTable(rows: Row[], ratios: Record<string, number | undefined>): void {
  const header = [
    'measurement',
    'records',
    'records/s',
    'MB/s',
    'wall s',
    'cpu s',
    'cpu µs/rec',
    'peak RSS MB',
    'requests',
    'runs',
  ];
  const lines = rows.map((r) => [
    r.name,
    String(r.records),
    r.recordsPerSec.toFixed(0),
    r.mbPerSec.toFixed(1),
    (r.wallMs / 1000).toFixed(2),
    (r.cpuMs / 1000).toFixed(2),
    r.cpuUsPerRecord.toFixed(2),
    r.maxRssMb.toFixed(0),
    String(r.requests),
    String(r.runs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  process.stdout.write(`${fmt(header)}\n${lines.map(fmt).join('\n')}\n\n`);
  for (const [name, value] of Object.entries(ratios))
    if (value !== undefined) process.stdout.write(`${name.padEnd(34)} ${value.toFixed(2)}\n`);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
  await cleanUp();
});
