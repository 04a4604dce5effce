/**
 * `source-fal sync`: reads fal with the same core as `read` (in-process, no JSON round trip) and loads every
 * selected stream into a warehouse: an embedded DuckDB file by default, or PostgreSQL. The state lives in the
 * warehouse, so a cron line just runs the same command again.
 *
 *   source-fal sync [--config <file>] [--destination <path|duckdb://…|postgres://…>] [--streams a,b] [--full-refresh]
 *   source-fal sync --demo [--destination …]
 *
 * Exit codes: 0 every stream complete; 1 a stream failed or the run could not start; 2 bad arguments;
 * 130/143 interrupted. stdout carries only the summary (and the demo's query); logs and progress go to stderr.
 */

import { analyticsViews } from '../analytics/views.js';
import { probeCapabilities } from '../capabilities.js';
import { parseFlags, usageError } from '../cli-args.js';
import type { BinIo } from '../cli-io.js';
import { readJsonFile, runClock } from '../cli-io.js';
import { type Config } from '../config.js';
import { asSourceFalError, ConfigError, InterruptedError } from '../errors.js';
import { redact } from '../redact.js';
import { openRun } from '../run-context.js';
import { loadStreamSchema } from '../schemas.js';
import { read, type Selection } from '../source.js';
import { ALL_STREAMS, findStream } from '../streams/index.js';
import type { Stream, StreamContext } from '../streams/stream.js';
import { DAY_MS } from '../time.js';
import { planTable, STATE_TABLE, type TablePlan } from './columns.js';
import { type Destination, DestinationConfigError, parseSchemaName, SCHEMA } from './destination.js';
import { openDestination, parseTarget, type Target, viewsDialect } from './destinations.js';
import { WarehouseLoader } from './loader.js';
import { createProgress, formatSummary, type Progress } from './progress.js';

export const SYNC_USAGE = `Usage:
  source-fal sync [--config <config.json>] [--destination <target>] [--schema <name>] [--streams a,b] [--full-refresh]
  source-fal sync --demo [--destination <target>]

  --destination  a DuckDB file (default ./fal.duckdb; ./fal-demo.duckdb with --demo), duckdb://<path>,
                 postgres://user:password@host:5432/database, or parquet://<dir> (Hive-partitioned Parquet
                 files for BigQuery/Snowflake) (also from SOURCE_FAL_DESTINATION)
  --config       the connector config file; without it the config comes from FAL_ADMIN_KEY and
                 FAL_START_DATE, FAL_END_DATE, FAL_LOOKBACK_DAYS, FAL_USAGE_GRANULARITY, FAL_BASE_URL,
                 FAL_MAX_RETRY_SECONDS, FAL_MAX_CONCURRENT_REQUESTS
  --schema       the schema of the tables (default fal; also from SOURCE_FAL_SCHEMA): one per fal account,
                 e.g. --schema fal_acme
  --streams      comma-separated stream names (default: every stream the key can read)
  --full-refresh ignore the saved state and read everything from start_date again (rows are upserted)
  --demo         start the bundled fal emulator and sync its data: no fal key needed
  --debug        also print debug logs`;

export const DEFAULT_DUCKDB = './fal.duckdb';
export const DEFAULT_DEMO_DUCKDB = './fal-demo.duckdb';

/** Config fields that may come from the environment, so a cron line needs no file. */
const ENV_FIELDS: readonly { env: string; field: string; integer?: boolean }[] = [
  { env: 'FAL_ADMIN_KEY', field: 'api_key' },
  { env: 'FAL_START_DATE', field: 'start_date' },
  { env: 'FAL_END_DATE', field: 'end_date' },
  { env: 'FAL_LOOKBACK_DAYS', field: 'lookback_days', integer: true },
  { env: 'FAL_USAGE_GRANULARITY', field: 'usage_granularity' },
  { env: 'FAL_BASE_URL', field: 'base_url' },
  { env: 'FAL_MAX_RETRY_SECONDS', field: 'max_retry_seconds', integer: true },
  { env: 'FAL_MAX_CONCURRENT_REQUESTS', field: 'max_concurrent_requests', integer: true },
];

/** The raw config from FAL_* variables; throws a ConfigError naming what to set when there is no key. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const { env: name, field, integer } of ENV_FIELDS) {
    const value = env[name];
    if (value === undefined || value.trim() === '') continue;
    // A non-integer stays text, so the config's own message ("must be a whole number") reports it.
    raw[field] = integer && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value.trim();
  }
  if (raw.api_key === undefined) {
    throw new ConfigError(
      'missing_api_key',
      'No fal API key: set FAL_ADMIN_KEY=<key id>:<secret> (an ADMIN-scope key: fal dashboard → API Keys → Add key → scope Admin) or pass --config <file> with "api_key". To try sync without a key, run: source-fal sync --demo',
    );
  }
  return raw;
}

export async function runSync(argv: readonly string[], io: BinIo): Promise<number> {
  const command = { name: 'source-fal sync', usage: SYNC_USAGE, stdout: io.stdout, stderr: io.stderr };
  const args = parseFlags(
    argv,
    {
      config: { type: 'string' },
      destination: { type: 'string' },
      schema: { type: 'string' },
      streams: { type: 'string' },
      'full-refresh': { type: 'boolean' },
      demo: { type: 'boolean' },
      debug: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    command,
  );
  if (typeof args === 'number') return args;
  if (args.demo && args.config)
    return usageError(command, '--demo runs against the bundled emulator; leave out --config');

  const progress = createProgress(io.stderr, {
    tty: 'isTTY' in io.stderr && io.stderr.isTTY === true,
    debug: Boolean(args.debug),
  });
  const fail = (error: unknown): number => {
    progress.stop();
    const e = asSourceFalError(error);
    io.stderr.write(`source-fal sync: ${redact(e.describe())}\n`);
    // Stopped before reading began (e.g. while the destination opened): the same exit codes as a stop mid-read.
    if (e instanceof InterruptedError || io.signal.aborted) return io.signal.reason === 'SIGINT' ? 130 : 143;
    return 1;
  };

  let streams: Stream[] | undefined;
  let target: Target;
  let schema: string;
  try {
    streams = args.streams === undefined ? undefined : parseStreamList(args.streams);
    schema = parseSchemaName(args.schema ?? io.env.SOURCE_FAL_SCHEMA ?? SCHEMA);
    target = parseTarget(
      args.destination ?? io.env.SOURCE_FAL_DESTINATION ?? (args.demo ? DEFAULT_DEMO_DUCKDB : DEFAULT_DUCKDB),
    );
  } catch (error) {
    if (error instanceof DestinationConfigError || error instanceof ConfigError)
      return usageError(command, error.message);
    throw error;
  }

  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    const nowMs = runClock(io.env);
    let raw: unknown;
    let demo: import('./demo.js').Demo | undefined;
    if (args.demo) {
      const { startDemo } = await import('./demo.js');
      demo = await startDemo(nowMs);
      cleanups.push(() => demo?.close() ?? Promise.resolve());
      raw = demo.config;
      progress.log(
        'INFO',
        `Demo: the bundled fal emulator serves ${demo.days} days of made-up usage at ${demo.url}; no request leaves this machine.`,
      );
    } else {
      raw = args.config !== undefined ? await readJsonFile(args.config, '--config') : configFromEnv(io.env);
    }
    const ctx = openRun(raw, io, progress, 'read');
    const { config, client } = ctx;
    cleanups.push(() => client.close());

    const { username, selected } = await streamsToSync(ctx, streams, progress);
    const destination = await openDestination(target, { log: progress, schema, env: io.env });
    cleanups.push(() => destination.close());
    const plans = new Map<string, TablePlan>(selected.map((stream) => [stream.name, planFor(stream.name)]));
    const views = viewsDialect(target);
    const analytics =
      views === undefined
        ? undefined
        : analyticsViews({ dialect: views, prefix: destination.namespace.sql, account: username });
    // The views read tables of streams this key may not read (org_usage, invoices): those are created empty.
    const viewTables = (analytics?.sources ?? []).filter((name) => !plans.has(name)).map(planFor);
    await destination.prepare([...plans.values(), ...viewTables]);
    await destination.claimAccount(username);
    if (analytics)
      await destination.replaceViews(analytics.views).catch((error: unknown) => {
        progress.log('WARN', asSourceFalError(error).message);
      });
    const states = args['full-refresh'] ? new Map<string, Record<string, unknown>>() : await destination.readStates();
    const mode: Selection['mode'] = args['full-refresh'] ? 'full_refresh' : 'incremental';
    const selections: Selection[] = selected.map((stream) => ({
      stream,
      mode: stream.kind === 'incremental' ? mode : 'full_refresh',
    }));

    progress.log('INFO', describeRun(destination, selected, config, args['full-refresh'] === true, states));
    const loader = new WarehouseLoader(destination, plans, progress, progress);
    let failed: string[];
    try {
      failed = await read(ctx, selections, states, loader, {
        where: `${destination.namespace.name}.${STATE_TABLE} (${destination.description})`,
        fix: `Correct that stream's row in ${destination.namespace.name}.${STATE_TABLE}, or delete it to read the stream again from start_date.`,
      });
    } finally {
      await loader.closeOpenWindow().catch(() => undefined);
      progress.stop();
    }
    io.stdout.write(formatSummary(destination.description, loader.results()));
    if (demo && !io.signal.aborted && !failed.includes('usage') && plans.has('usage'))
      io.stdout.write(await demo.sampleQuery(destination, target));
    if (io.signal.aborted) {
      io.stderr.write(
        'source-fal sync: interrupted; every committed window is in the warehouse, the next run resumes from there.\n',
      );
      return io.signal.reason === 'SIGINT' ? 130 : 143;
    }
    if (failed.length > 0) {
      io.stderr.write(
        `source-fal sync: ${failed.length} stream${failed.length > 1 ? 's' : ''} failed: ${failed.join(', ')}. The others completed.\n`,
      );
      return 1;
    }
    return 0;
  } catch (error) {
    return fail(error);
  } finally {
    await cleanup();
  }
}

function planFor(name: string): TablePlan {
  const stream = findStream(name);
  if (stream === undefined) throw new Error(`source-fal: no stream named ${name}`);
  return planTable(stream, loadStreamSchema(name));
}

function parseStreamList(text: string): Stream[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((name) => !findStream(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new ConfigError(
      'invalid_streams',
      `${names.length === 0 ? '--streams names no stream' : `unknown stream${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`} (known streams: ${ALL_STREAMS.map((s) => s.name).join(', ')})`,
    );
  }
  // Registry order, each once.
  return ALL_STREAMS.filter((stream) => names.includes(stream.name));
}

/**
 * The account behind the key, and the streams to sync: the ones asked for, or without --streams every stream the
 * key can read. Streams left out are said once, in one line per reason (not a warning: a scheduled run of a key
 * without an organization would repeat it forever).
 */
async function streamsToSync(
  ctx: StreamContext,
  asked: Stream[] | undefined,
  progress: Progress,
): Promise<{ username: string; selected: Stream[] }> {
  const { username, available } = await probeCapabilities(
    ctx,
    new Set(asked === undefined ? ALL_STREAMS.map((s) => s.requires) : []),
  );
  if (asked !== undefined) return { username, selected: asked };
  const missing = new Map<string, string[]>();
  for (const stream of ALL_STREAMS) {
    const availability = available.get(stream.requires);
    if (availability?.ok) continue;
    const reason = availability?.reason ?? 'not readable with this key';
    missing.set(reason, [...(missing.get(reason) ?? []), stream.name]);
  }
  for (const [reason, names] of missing)
    progress.log('INFO', `Not synced with this key: ${names.join(', ')} (${reason}).`);
  return { username, selected: ALL_STREAMS.filter((stream) => available.get(stream.requires)?.ok) };
}

function describeRun(
  destination: Destination,
  streams: readonly Stream[],
  config: Config,
  fullRefresh: boolean,
  states: ReadonlyMap<string, Record<string, unknown>>,
): string {
  const from = new Date(config.startMs).toISOString().slice(0, 10);
  const resumed = streams.filter((s) => s.kind === 'incremental' && states.has(s.name)).map((s) => s.name);
  const how = fullRefresh
    ? `full refresh from ${from}`
    : resumed.length > 0
      ? `resuming ${resumed.join(', ')} from the saved state (minus ${config.lookbackDays} days lookback)${resumed.length < streams.length ? `, the rest from ${from}` : ''}`
      : `first sync, from ${from}`;
  const days = Math.max(0, Math.round((config.endMs - config.startMs) / DAY_MS));
  return `Syncing ${streams.map((s) => s.name).join(', ')} into ${destination.description} (schema fal): ${how}; history spans ${days} days.`;
}
