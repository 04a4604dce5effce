/** Shared test vocabulary: a pinned clock, config and catalog builders, an emulator per test file. */
import { ADMIN_KEY } from '../../source-fal/emulator/keys.js';
import { catalogEntry } from '../../source-fal/source.js';
import { ALL_STREAMS, findStream } from '../../source-fal/streams/index.js';
import { type CliResult, runCli, writeJson } from './cli.js';

/** Every whole-connector test runs at this instant, in the emulator and in the CLI (SOURCE_FAL_NOW). */
export const FIXED_NOW = '2026-11-25T12:34:56Z';

export interface ConfigOverrides {
  api_key?: string;
  start_date?: string;
  end_date?: string;
  lookback_days?: number;
  usage_granularity?: 'hour' | 'day';
  max_retry_seconds?: number;
  [key: string]: unknown;
}

export function configFor(baseUrl: string, overrides: ConfigOverrides = {}): Record<string, unknown> {
  return { api_key: ADMIN_KEY, base_url: baseUrl, start_date: '2026-11-01', max_retry_seconds: 5, ...overrides };
}

export type Mode = 'full_refresh' | 'incremental';

/** A ConfiguredAirbyteCatalog for the named streams (default: every registered stream). */
export function catalogFor(
  names: readonly string[] = ALL_STREAMS.map((s) => s.name),
  mode: Mode = 'incremental',
): Record<string, unknown> {
  return {
    streams: names.map((name) => {
      const stream = findStream(name);
      if (!stream) throw new Error(`unknown stream ${name}`);
      const entry = catalogEntry(stream);
      const syncMode = stream.kind === 'incremental' ? mode : 'full_refresh';
      return {
        stream: entry,
        sync_mode: syncMode,
        destination_sync_mode: syncMode === 'incremental' ? 'append_dedup' : 'overwrite',
        ...(stream.kind === 'incremental' ? { cursor_field: [stream.cursorField] } : {}),
        primary_key: entry.source_defined_primary_key,
      };
    }),
  };
}

export const cliEnv = (now: string = FIXED_NOW): Record<string, string> => ({ SOURCE_FAL_NOW: now });

/** One CLI command against an emulator: config from `configFor(baseUrl, config)`, a catalog of `streams` for `read`. */
export interface EmulatorRun {
  command?: string;
  streams?: readonly string[];
  config?: ConfigOverrides;
  state?: unknown;
  clock?: string;
}

/** Runs `source-fal <command>` on the built CLI, its input files written to `dir`. */
export function runAgainst(dir: string, baseUrl: string, run: EmulatorRun): Promise<CliResult> {
  const tag = Math.random().toString(36).slice(2);
  const command = run.command ?? 'read';
  return runCli(
    [
      command,
      '--config',
      writeJson(dir, `config-${tag}.json`, configFor(baseUrl, run.config)),
      ...(command === 'read' ? ['--catalog', writeJson(dir, `catalog-${tag}.json`, catalogFor(run.streams))] : []),
      ...(run.state === undefined ? [] : ['--state', writeJson(dir, `state-${tag}.json`, run.state)]),
    ],
    { env: cliEnv(run.clock) },
  );
}
