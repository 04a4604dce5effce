#!/usr/bin/env node
/**
 * The Singer front end, `tap-fal` (also `source-fal --singer …`): the same core as the Airbyte CLI, speaking the
 * Singer spec (singer-io/getting-started SPEC.md, DISCOVERY_MODE.md, SYNC_MODE.md) for
 * Meltano and other Singer runners.
 *
 *   tap-fal --config c.json --discover                        the catalog (raw JSON) on stdout
 *   tap-fal --config c.json [--catalog cat.json] [--state s.json]   SCHEMA, RECORD and STATE lines on stdout
 *   tap-fal --about [--format json|markdown]                  Meltano-SDK-style description; --version
 *
 * Streams are chosen by the catalog's `selected` metadata and read INCREMENTAL or FULL_TABLE as its
 * `replication-method` says; fields deselected in the catalog are left out of SCHEMA and RECORD. State is
 * `{"bookmarks": {"<stream>": {"<cursor>": "<instant>"}}}`, emitted whole after every checkpoint; the `--state`
 * file is the last STATE value. Logs and errors go to stderr; the exit code is 0 on success, 1 on a failure,
 * 2 on bad usage, 130/143 when interrupted.
 */

import { z } from 'zod';

import { parseFlags, usageError } from './cli-args.js';
import { readJsonFile, runIfEntryPoint } from './cli-io.js';
import { connectionSpecification } from './config.js';
import { asSourceFalError, ConfigError, InterruptedError, type SourceFalError } from './errors.js';
import type { Logger, LogLevel } from './log.js';
import { LineWriter } from './output.js';
import { redact } from './redact.js';
import { interruptedExitCode, openRun, readExitCode } from './run-context.js';
import { loadStreamSchema, packageVersion } from './schemas.js';
import { discover, read, type ReadSink, type Selection, type StreamStatus, type SyncMode } from './source.js';
import type { RawStreamStates } from './state.js';
import { ALL_STREAMS, findStream } from './streams/index.js';
import type { Stream, StreamContext, StreamRecord } from './streams/stream.js';

export const TAP_NAME = 'tap-fal';
export const SINGER_CAPABILITIES = ['catalog', 'discover', 'state', 'about'] as const;

const USAGE = `Usage:
  ${TAP_NAME} --config <config.json> --discover
  ${TAP_NAME} --config <config.json> [--catalog <catalog.json>] [--state <state.json>]
  ${TAP_NAME} --about [--format json|markdown]
  ${TAP_NAME} --version | --help
(--properties <catalog.json> is accepted in place of --catalog; source-fal --singer <args> runs the same.)`;

// ---------------------------------------------------------------------------------------------------------------
// Discovery: our streams as a Singer catalog.

export interface SingerMetadata {
  breadcrumb: string[];
  metadata: Record<string, unknown>;
}

export interface SingerCatalogEntry {
  tap_stream_id: string;
  stream: string;
  schema: Record<string, unknown>;
  key_properties: string[];
  replication_method: 'INCREMENTAL' | 'FULL_TABLE';
  replication_key?: string;
  metadata: SingerMetadata[];
}

/** Fields that are always sent: the primary key and the cursor (Singer `inclusion: automatic`). */
function automaticFields(stream: Stream): Set<string> {
  return new Set([...stream.primaryKey, ...(stream.kind === 'incremental' ? [stream.cursorField] : [])]);
}

export function singerCatalogEntry(stream: Stream): SingerCatalogEntry {
  const schema = loadStreamSchema(stream.name);
  const incremental = stream.kind === 'incremental';
  const automatic = automaticFields(stream);
  const properties = Object.keys(schema.properties);
  return {
    tap_stream_id: stream.name,
    stream: stream.name,
    schema,
    key_properties: [...stream.primaryKey],
    replication_method: incremental ? 'INCREMENTAL' : 'FULL_TABLE',
    ...(incremental ? { replication_key: stream.cursorField } : {}),
    metadata: [
      {
        breadcrumb: [],
        metadata: {
          inclusion: 'available',
          selected: true,
          'selected-by-default': true,
          'table-key-properties': [...stream.primaryKey],
          'valid-replication-keys': incremental ? [stream.cursorField] : [],
          // A stream without a cursor can only be copied whole; an incremental stream may also be read FULL_TABLE.
          ...(incremental
            ? { 'replication-method': 'INCREMENTAL', 'replication-key': stream.cursorField }
            : { 'forced-replication-method': 'FULL_TABLE', 'replication-method': 'FULL_TABLE' }),
        },
      },
      ...properties.map((name) => ({
        breadcrumb: ['properties', name],
        metadata: { inclusion: automatic.has(name) ? 'automatic' : 'available', 'selected-by-default': true },
      })),
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Selection: which streams and fields a Singer catalog asks for, and how.

export interface SingerSelection extends Selection {
  /** Fields to send; undefined means every field. */
  fields: ReadonlySet<string> | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function metadataAt(
  entry: Record<string, unknown>,
  breadcrumb: readonly string[],
): Record<string, unknown> | undefined {
  const list = Array.isArray(entry.metadata) ? entry.metadata : [];
  const found = list.find(
    (m) =>
      isObject(m) &&
      Array.isArray(m.breadcrumb) &&
      m.breadcrumb.length === breadcrumb.length &&
      m.breadcrumb.every((b, i) => b === breadcrumb[i]),
  );
  return isObject(found) && isObject(found.metadata) ? found.metadata : undefined;
}

/** The selected streams of a Singer catalog (`--catalog` / `--properties`), in registry order. */
export function parseSingerCatalog(json: unknown): SingerSelection[] {
  if (!isObject(json) || !Array.isArray(json.streams)) {
    throw new ConfigError(
      'invalid_catalog',
      `The catalog is not a Singer catalog: expected {"streams":[{"tap_stream_id":"usage","schema":{...},"metadata":[...]}]}. Generate it with \`${TAP_NAME} --config <config.json> --discover\`.`,
    );
  }
  const problems: string[] = [];
  const selections: SingerSelection[] = [];
  const seen = new Set<string>();
  for (const entry of json.streams) {
    if (!isObject(entry)) {
      problems.push('a stream entry is not an object');
      continue;
    }
    const id =
      typeof entry.tap_stream_id === 'string'
        ? entry.tap_stream_id
        : typeof entry.stream === 'string'
          ? entry.stream
          : undefined;
    const top = metadataAt(entry, []) ?? {};
    const selected = (top.selected ?? entry.selected ?? top['selected-by-default'] ?? false) === true;
    if (id === undefined) {
      problems.push('a stream entry has no tap_stream_id');
      continue;
    }
    const stream = findStream(id);
    if (!stream) {
      // An unselected stream we do not know (e.g. from an older catalog) does no harm.
      if (selected)
        problems.push(
          `unknown stream ${JSON.stringify(id)} is selected (known streams: ${ALL_STREAMS.map((s) => s.name).join(', ')})`,
        );
      continue;
    }
    if (seen.has(id)) {
      problems.push(`stream ${id} is listed twice`);
      continue;
    }
    seen.add(id);
    if (!selected) continue;
    const method =
      top['replication-method'] ??
      entry.replication_method ??
      top['forced-replication-method'] ??
      (stream.kind === 'incremental' ? 'INCREMENTAL' : 'FULL_TABLE');
    let mode: SyncMode;
    if (method === 'FULL_TABLE') mode = 'full_refresh';
    else if (method === 'INCREMENTAL' && stream.kind === 'incremental') mode = 'incremental';
    else {
      problems.push(
        `stream ${id} has replication-method ${JSON.stringify(method)}; use ${stream.kind === 'incremental' ? 'INCREMENTAL or FULL_TABLE' : 'FULL_TABLE'}`,
      );
      continue;
    }
    const key = top['replication-key'] ?? entry.replication_key;
    if (
      mode === 'incremental' &&
      stream.kind === 'incremental' &&
      key !== undefined &&
      key !== null &&
      key !== stream.cursorField
    ) {
      problems.push(
        `stream ${id} has replication-key ${JSON.stringify(key)}; its only replication key is ${stream.cursorField}`,
      );
      continue;
    }
    selections.push({ stream, mode, fields: selectedFields(entry, stream) });
  }
  if (problems.length > 0)
    throw new ConfigError(
      'invalid_catalog',
      `The catalog has ${problems.length === 1 ? 'a problem' : `${problems.length} problems`}: ${problems.join('; ')}.`,
    );
  return ALL_STREAMS.flatMap((stream) => selections.filter((s) => s.stream === stream));
}

/** Fields the catalog deselects (`selected: false`) are left out, except the always-sent key and cursor. */
function selectedFields(entry: Record<string, unknown>, stream: Stream): ReadonlySet<string> | undefined {
  const automatic = automaticFields(stream);
  const properties = Object.keys(loadStreamSchema(stream.name).properties);
  const dropped = properties.filter((name) => {
    if (automatic.has(name)) return false;
    const md = metadataAt(entry, ['properties', name]);
    return md?.selected === false || md?.inclusion === 'unsupported';
  });
  return dropped.length === 0 ? undefined : new Set(properties.filter((name) => !dropped.includes(name)));
}

// ---------------------------------------------------------------------------------------------------------------
// State: `{"bookmarks": {...}}` in and out.

export interface SingerState {
  bookmarks: Record<string, Record<string, unknown>>;
  states: RawStreamStates;
}

/** The `--state` file: the value of the last STATE message (Meltano's `{"singer_state": …}` wrapper is accepted too). */
export function parseSingerState(json: unknown): SingerState {
  const bookmarks: Record<string, Record<string, unknown>> = {};
  const states: RawStreamStates = new Map();
  let value = json;
  if (isObject(value) && isObject(value.singer_state)) value = value.singer_state;
  if (value === null || value === undefined || (isObject(value) && Object.keys(value).length === 0))
    return { bookmarks, states };
  if (!isObject(value) || !('bookmarks' in value) || !isObject(value.bookmarks)) {
    throw new ConfigError(
      'invalid_state',
      'The state file is not Singer state: expected the value of the last STATE message, {"bookmarks":{"usage":{"bucket":"2026-01-01T00:00:00Z"}}}. Pass the state a previous run emitted, or omit --state to start from start_date.',
    );
  }
  for (const [name, bookmark] of Object.entries(value.bookmarks)) {
    if (!isObject(bookmark))
      throw new ConfigError(
        'invalid_state',
        `The bookmark of stream ${name} is not an object. Fix or remove it in the state file.`,
        { stream: name },
      );
    bookmarks[name] = bookmark;
    states.set(name, bookmark);
  }
  return { bookmarks, states };
}

// ---------------------------------------------------------------------------------------------------------------
// Output: the core's events as Singer messages.

/** The schema a SCHEMA message carries: the stream's JSON Schema narrowed to the selected fields. */
export function selectedSchema(stream: Stream, fields: ReadonlySet<string> | undefined): Record<string, unknown> {
  const schema = loadStreamSchema(stream.name);
  if (!fields) return schema;
  const properties = Object.fromEntries(Object.entries(schema.properties).filter(([name]) => fields.has(name)));
  const required = Array.isArray(schema.required)
    ? schema.required.filter((name) => fields.has(String(name)))
    : undefined;
  return { ...schema, properties, ...(required ? { required } : {}) };
}

export class SingerOutput implements ReadSink {
  private readonly plans: Map<string, SingerSelection>;
  private readonly schemaSent = new Set<string>();
  private readonly bookmarks: Record<string, Record<string, unknown>>;

  constructor(
    private readonly writer: LineWriter,
    selections: readonly SingerSelection[],
    initialBookmarks: Record<string, Record<string, unknown>>,
    private readonly logger: Logger,
  ) {
    this.plans = new Map(selections.map((s) => [s.stream.name, s]));
    // Bookmarks of streams not read this run are carried over: a STATE is always the whole tap state.
    this.bookmarks = { ...initialBookmarks };
  }

  private async schema(name: string): Promise<void> {
    if (this.schemaSent.has(name)) return;
    const plan = this.plans.get(name);
    if (!plan) throw new Error(`no selection for stream ${name}`);
    const { stream, mode, fields } = plan;
    this.schemaSent.add(name);
    await this.send({
      type: 'SCHEMA',
      stream: name,
      schema: selectedSchema(stream, fields),
      key_properties: [...stream.primaryKey],
      ...(mode === 'incremental' && stream.kind === 'incremental' ? { bookmark_properties: [stream.cursorField] } : {}),
    });
  }

  private async send(message: Record<string, unknown>): Promise<void> {
    await this.writer.write(`${JSON.stringify(message)}\n`);
  }

  async status(stream: string, status: StreamStatus): Promise<void> {
    // SCHEMA goes out when a stream starts, so even an empty stream tells the target its table.
    if (status === 'STARTED') await this.schema(stream);
  }

  /** RECORD lines for a page, built as text like the Airbyte writer; time_extracted is RFC 3339 UTC. */
  async records(stream: string, records: readonly StreamRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.schema(stream);
    const fields = this.plans.get(stream)?.fields;
    const head = `{"type":"RECORD","stream":${JSON.stringify(stream)},"time_extracted":"${new Date().toISOString()}","record":`;
    let text = '';
    for (const record of records) text += `${head}${JSON.stringify(fields ? pick(record, fields) : record)}}\n`;
    await this.writer.write(text);
  }

  async checkpoint(stream: string, state: Record<string, unknown>, _recordCount: number): Promise<void> {
    // Airbyte's no-cursor marker of full-refresh-only streams means nothing to Singer: no bookmark for them.
    if (!('__ab_no_cursor_state_message' in state)) this.bookmarks[stream] = state;
    await this.send({ type: 'STATE', value: { bookmarks: { ...this.bookmarks } } });
    await this.writer.flush();
  }

  async streamError(stream: string, error: SourceFalError): Promise<void> {
    this.logger.log('ERROR', `Stream ${stream} failed (${error.failureType}): ${error.describe()}`);
  }
}

function pick(record: StreamRecord, fields: ReadonlySet<string>): StreamRecord {
  const out: StreamRecord = {};
  for (const key of Object.keys(record)) if (fields.has(key)) out[key] = record[key];
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The command line.

export interface SingerIo {
  stdout: import('node:stream').Writable;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

/** Singer taps log plain text to stderr; DEBUG only with --debug. */
export function stderrLogger(stderr: NodeJS.WritableStream, debug = false): Logger {
  return {
    log(level: LogLevel, message: string): void {
      if (level === 'DEBUG' && !debug) return;
      stderr.write(`${new Date().toISOString()} ${TAP_NAME} ${level} ${redact(message)}\n`);
    },
  };
}

export function about(): Record<string, unknown> {
  return {
    name: TAP_NAME,
    description: 'Singer tap for fal.ai usage, cost and invoice data (the Singer face of source-fal).',
    version: packageVersion(),
    capabilities: [...SINGER_CAPABILITIES],
    streams: ALL_STREAMS.map((s) => s.name),
    settings: connectionSpecification(),
  };
}

/** The connector specification as --about --format=markdown reads it. */
const SettingsZ = z.object({
  properties: z.record(z.string(), z.object({ description: z.string().optional(), default: z.unknown() })),
  required: z.array(z.string()).optional(),
});

function aboutMarkdown(): string {
  const info = about();
  const settings = SettingsZ.parse(info.settings);
  const rows = Object.entries(settings.properties).map(
    ([name, p]) =>
      `| ${name} | ${settings.required?.includes(name) ? 'True' : 'False'} | ${p.default === undefined ? 'None' : JSON.stringify(p.default)} | ${(p.description ?? '').replace(/\|/g, '\\|')} |`,
  );
  return [
    `# ${TAP_NAME} ${String(info.version)}`,
    '',
    String(info.description),
    '',
    '## Capabilities',
    '',
    ...SINGER_CAPABILITIES.map((c) => `- \`${c}\``),
    '',
    '## Settings',
    '',
    '| Setting | Required | Default | Description |',
    '|:--|:--|:--|:--|',
    ...rows,
    '',
  ].join('\n');
}

function openContext(config: unknown, io: SingerIo, logger: Logger, purpose: 'discover' | 'sync'): StreamContext {
  return openRun(config, io, logger, purpose === 'sync' ? 'read' : 'discover');
}

export async function singerMain(argv: readonly string[], io: SingerIo): Promise<number> {
  const command = { name: TAP_NAME, usage: USAGE, stdout: io.stdout, stderr: io.stderr };
  const values = parseFlags(
    argv,
    {
      config: { type: 'string', short: 'c' },
      discover: { type: 'boolean', short: 'd' },
      catalog: { type: 'string' },
      properties: { type: 'string', short: 'p' },
      state: { type: 'string', short: 's' },
      about: { type: 'boolean' },
      format: { type: 'string' },
      version: { type: 'boolean' },
      debug: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    command,
  );
  if (typeof values === 'number') return values;
  if (values.version) {
    io.stdout.write(`${TAP_NAME} ${packageVersion()}\n`);
    return 0;
  }
  if (values.about) {
    if (values.format !== undefined && values.format !== 'json' && values.format !== 'markdown')
      return usageError(command, `--format must be json or markdown, not ${JSON.stringify(values.format)}`);
    io.stdout.write(values.format === 'json' ? `${JSON.stringify(about(), null, 2)}\n` : aboutMarkdown());
    return 0;
  }
  if (!values.config) return usageError(command, 'needs --config <file>');
  if (values.catalog && values.properties) return usageError(command, 'give --catalog or --properties, not both');
  if (values.discover && (values.catalog || values.properties || values.state))
    return usageError(command, '--discover takes only --config');

  const logger = stderrLogger(io.stderr, values.debug);
  const writer = new LineWriter(io.stdout);
  try {
    const ctx = openContext(
      await readJsonFile(values.config, '--config'),
      io,
      logger,
      values.discover ? 'discover' : 'sync',
    );
    try {
      if (values.discover) {
        const streams = (await discover(ctx))
          .map((entry) => findStream(entry.name))
          .filter((s): s is Stream => s !== undefined);
        await writer.write(`${JSON.stringify({ streams: streams.map(singerCatalogEntry) }, null, 2)}\n`);
        return 0;
      }
      const catalogPath = values.catalog ?? values.properties;
      let selections: SingerSelection[];
      if (catalogPath) {
        selections = parseSingerCatalog(await readJsonFile(catalogPath, values.catalog ? '--catalog' : '--properties'));
      } else {
        // No catalog: every stream this key can read, each in its default replication method.
        const streams = (await discover(ctx))
          .map((entry) => findStream(entry.name))
          .filter((s): s is Stream => s !== undefined);
        selections = streams.map((stream) => ({
          stream,
          mode: stream.kind === 'incremental' ? 'incremental' : 'full_refresh',
          fields: undefined,
        }));
        logger.log(
          'INFO',
          `No --catalog given: syncing every stream this key can read (${streams.map((s) => s.name).join(', ')}).`,
        );
      }
      const { bookmarks, states } = parseSingerState(
        values.state ? await readJsonFile(values.state, '--state', { emptyAs: null }) : null,
      );
      if (selections.length === 0) {
        logger.log(
          'WARN',
          'No stream is selected in the catalog; nothing to sync. Set "selected": true in a stream\'s metadata (breadcrumb []).',
        );
        return 0;
      }
      logger.log(
        'INFO',
        `Syncing ${selections.map((s) => `${s.stream.name} (${s.mode === 'incremental' ? 'INCREMENTAL' : 'FULL_TABLE'})`).join(', ')}.`,
      );
      return readExitCode(
        await read(ctx, selections, states, new SingerOutput(writer, selections, bookmarks, logger)),
        io.signal,
        logger,
      );
    } finally {
      await ctx.client.close();
    }
  } catch (caught) {
    const error = asSourceFalError(caught);
    logger.log('ERROR', `${error.describe()} (${error.failureType})`);
    return error instanceof InterruptedError ? interruptedExitCode(io.signal) : 1;
  } finally {
    await writer.end().catch(() => undefined);
  }
}

// Run only when executed as the bin, not when imported (by main.ts's --singer dispatch or by tests).
runIfEntryPoint(import.meta.url, TAP_NAME, singerMain);
