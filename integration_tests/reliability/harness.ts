/**
 * Shared vocabulary of the reliability suite: a small emulator per scenario, a `read` that runs the built CLI against
 * it, and the oracles every case ends in: "the records, upserted by primary key, equal the emulator's truth to the
 * nano-dollar" or "exactly this error, this exit code, nothing else".
 *
 * The suite targets the `usage` stream (the truth helpers of the emulator are per-day usage sums); keys come from the
 * stream registry, so nothing here hard-codes a grain.
 */
import { ADMIN_KEY } from '../../source-fal/emulator/keys.js';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../source-fal/emulator/server.js';
import { findStream } from '../../source-fal/streams/index.js';
import {
  type CliResult,
  records,
  runCli,
  type RunOptions,
  states,
  tempDir,
  traces,
  writeJson,
} from '../helpers/cli.js';
import { catalogFor, cliEnv, FIXED_NOW } from '../helpers/fixtures.js';

const ACCOUNT = 'acme-ml';
export const STREAM = 'usage';
const DAY_MS = 86_400_000;
const NOW_MS = Date.parse(FIXED_NOW);
/** The fal path the target stream reads, as the emulator logs it. */
export const STREAM_PATH = '/v1/models/usage';

const primaryKey = findStream(STREAM)?.primaryKey ?? ['id'];

export interface ScenarioOptions extends EmulatorOptions {
  /** First day read, YYYY-MM-DD; default 14 days before FIXED_NOW (3 windows of daily buckets). */
  startDate?: string;
  config?: Record<string, unknown>;
}

interface ReadOptions extends RunOptions {
  state?: unknown;
  config?: Record<string, unknown>;
  catalog?: unknown;
  /** Replaces the whole command line (default: read --config --catalog [--state] from the options). */
  args?: string[];
  /** Appended to the command line, e.g. ['--debug']. */
  extraArgs?: string[];
}

export interface TimedResult extends CliResult {
  /** From spawn to exit, start-up included. */
  elapsedMs: number;
  /** Date.now() when the process had exited, comparable with the emulator's `receivedAt`. */
  exitedAt: number;
}

export interface Scenario {
  emu: Emulator;
  dir: string;
  startDate: string;
  read(options?: ReadOptions): Promise<TimedResult>;
  /** Per-UTC-day nano-USD sums the emulator says are right for [startDate, now). */
  truth(): [string, string][];
  close(): Promise<void>;
}

let counter = 0;

export async function scenario(options: ScenarioOptions = {}): Promise<Scenario> {
  const { startDate = isoDay(NOW_MS - 14 * DAY_MS), config = {}, ...emuOptions } = options;
  const emu = await startEmulator({ now: FIXED_NOW, historyDays: 20, eventsPerDay: 120, ...emuOptions });
  const dir = tempDir('source-fal-reliability-');
  return {
    emu,
    dir,
    startDate,
    async read(opts = {}) {
      const n = ++counter;
      // One request at a time unless a scenario asks for more: the fault cases target requests by their position
      // ("the second window's first page"), which only a serial reader makes deterministic. concurrency.test.ts
      // runs the same oracles with windows read concurrently.
      const cfg = {
        api_key: ADMIN_KEY,
        base_url: emu.url,
        start_date: startDate,
        max_retry_seconds: 30,
        max_concurrent_requests: 1,
        ...config,
        ...opts.config,
      };
      const args = opts.args ?? [
        'read',
        '--config',
        writeJson(dir, `config-${n}.json`, cfg),
        '--catalog',
        writeJson(dir, `catalog-${n}.json`, opts.catalog ?? catalogFor([STREAM])),
        ...(opts.state === undefined ? [] : ['--state', writeJson(dir, `state-${n}.json`, opts.state)]),
        ...(opts.extraArgs ?? []),
      ];
      const started = Date.now();
      const result = await runCli(args, { ...opts, env: { ...cliEnv(), ...opts.env } });
      const exitedAt = Date.now();
      return { ...result, elapsedMs: exitedAt - started, exitedAt };
    },
    truth: () => sortedDays(emu.truth.usageNanoByDay(ACCOUNT, new Date(`${startDate}T00:00:00Z`), new Date(NOW_MS))),
    close: () => emu.close(),
  };
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export const keyOf = (row: Record<string, unknown>): string => JSON.stringify(primaryKey.map((field) => row[field]));

/** Upsert by primary key, later rows winning: what a warehouse holds after loading these rows in order. */
export function upsert(rows: Iterable<Record<string, unknown>>): Map<string, Record<string, unknown>> {
  const table = new Map<string, Record<string, unknown>>();
  for (const row of rows) table.set(keyOf(row), row);
  return table;
}

/** Sum of cost_total_nano_usd per UTC day of the upserted rows, sorted, as strings (exact). */
export function nanoByDay(rows: Iterable<Record<string, unknown>>): [string, string][] {
  const days = new Map<string, bigint>();
  for (const row of upsert(rows).values()) {
    const day = String(row.bucket).slice(0, 10);
    days.set(day, (days.get(day) ?? 0n) + BigInt(Number(row.cost_total_nano_usd)));
  }
  return sortedDays(days);
}

function sortedDays(days: Map<string, bigint>): [string, string][] {
  return [...days].sort(([a], [b]) => a.localeCompare(b)).map(([day, nano]) => [day, nano.toString()]);
}

export const usageRecords = (r: CliResult): Record<string, unknown>[] => records(r, STREAM);

export interface ErrorTrace {
  message: string;
  internal_message?: string;
  failure_type: string;
  stream_descriptor?: { name: string };
}

export const errorTraces = (r: CliResult): ErrorTrace[] => traces(r, 'ERROR').map((t) => t.error as ErrorTrace);

export const lastCursor = (r: CliResult): string | undefined => {
  const value = states(r, STREAM).at(-1)?.stream.stream_state.bucket;
  return typeof value === 'string' ? value : undefined;
};

/** The state file a rerun takes: the last STATE of the stream the run emitted (whole lines only). */
export function resumeState(r: CliResult): unknown {
  const last = states(r, STREAM).at(-1);
  return last ? [{ type: 'STREAM', stream: last.stream }] : undefined;
}

/** Requests the emulator saw for the target stream, in arrival order. */
export const streamRequests = (emu: Emulator): Emulator['requests'] =>
  emu.requests.filter((r) => r.path === STREAM_PATH);

/** `start/end` of a logged request, to tell retries of one page apart from the next page. */
export const windowOf = (request: Emulator['requests'][number]): string =>
  `${request.query.start?.[0]}/${request.query.end?.[0]}`;

/** The "window <start>/<end>" a TRACE message names. */
export const windowInMessage = (message: string): string | undefined => /window (\S+\/\S+?)[;\]]/.exec(message)?.[1];

/**
 * Upper bound on the time from fal's last answer to the process having exited. Generous on purpose: start-up and exit
 * of a Node process take seconds on a loaded CI machine, and the point is "exits" rather than "hangs" (a hang is
 * caught by the minute-long cases). The retry budget itself is checked on the emulator's clock, which is exact.
 */
export const EXIT_SLACK_MS = 15_000;

/** Timeout of a case that runs the CLI several times; CI machines shared with other jobs run it several times slower. */
export const LONG_TEST_MS = 180_000;

/** A JavaScript stack frame, as printed by V8 ("    at fn (file:line:col)"). */
export const STACK_FRAME = /\n\s+at \S+.*(\(|:\d+:\d+)/;

/** Every text a run showed anyone: stdout, stderr (protocol messages are on stdout). */
export const allOutput = (r: CliResult): string => `${r.stdout}\n${r.stderr}`;
