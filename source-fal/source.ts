/**
 * The core: spec, check, discover and read, independent of any front end. `read` drives each selected stream
 * through its windows and reports to a `ReadSink` (the Airbyte writer, or the warehouse loader of `sync`):
 * STARTED → RUNNING → pages of records → a checkpoint after every completed window → COMPLETE, or INCOMPLETE and
 * an error for that stream alone while the others go on (docs/design.md).
 */
import { probeCapabilities } from './capabilities.js';
import { connectionSpecification } from './config.js';
import { asSourceFalError, type SourceFalError } from './errors.js';
import { readInOrder } from './in-order.js';
import { loadStreamSchema } from './schemas.js';
import { cursorFromState, NO_CURSOR_STATE, type RawStreamStates, STATE_FILE, type StateOrigin } from './state.js';
import { ALL_STREAMS } from './streams/index.js';
import type { Capability, Stream, StreamContext, StreamRecord } from './streams/stream.js';
import { formatInstant, formatWindow } from './time.js';

export const DOCUMENTATION_URL = 'https://github.com/source-fal/source-fal#readme';

export type StreamStatus = 'STARTED' | 'RUNNING' | 'COMPLETE' | 'INCOMPLETE';
export type SyncMode = 'full_refresh' | 'incremental';

export interface ReadSink {
  status(stream: string, status: StreamStatus): Promise<void>;
  records(stream: string, records: readonly StreamRecord[]): Promise<void>;
  /** Everything sent for `stream` since the previous checkpoint is covered by `state`. */
  checkpoint(stream: string, state: Record<string, unknown>, recordCount: number): Promise<void>;
  streamError(stream: string, error: SourceFalError): Promise<void>;
}

export interface Selection {
  stream: Stream;
  mode: SyncMode;
}

export function spec(): Record<string, unknown> {
  return {
    documentationUrl: DOCUMENTATION_URL,
    changelogUrl: `${DOCUMENTATION_URL.replace('#readme', '')}/blob/main/CHANGELOG.md`,
    connectionSpecification: connectionSpecification(),
    supportsIncremental: true,
    supported_destination_sync_modes: [],
  };
}

function neededCapabilities(streams: readonly Stream[]): Set<Capability> {
  return new Set(streams.map((stream) => stream.requires));
}

/**
 * Connects and reports which stream groups the key can read: the streams it can read, and per missing capability
 * the streams that need it and why they are out of reach. Config errors (401, 403) propagate.
 */
export async function check(ctx: StreamContext): Promise<string> {
  const { username, available } = await probeCapabilities(ctx, neededCapabilities(ALL_STREAMS));
  const readable = ALL_STREAMS.filter((stream) => available.get(stream.requires)?.ok).map((stream) => stream.name);
  const missing = [...available]
    .filter(([, a]) => !a.ok)
    .map(([capability, a]) => {
      const names = ALL_STREAMS.filter((stream) => stream.requires === capability).map((stream) => stream.name);
      return `${names.join(', ')} (${a.reason ?? 'unavailable'})`;
    });
  return `Connected to fal account "${username}". Readable streams: ${readable.join(', ')}.${missing.length > 0 ? ` Not readable with this key: ${missing.join('; ')}.` : ''}`;
}

export interface CatalogStream {
  name: string;
  json_schema: Record<string, unknown>;
  supported_sync_modes: SyncMode[];
  source_defined_cursor?: boolean;
  default_cursor_field?: string[];
  source_defined_primary_key: string[][];
  is_resumable: boolean;
}

export function catalogEntry(stream: Stream): CatalogStream {
  const base = {
    name: stream.name,
    json_schema: loadStreamSchema(stream.name),
    source_defined_primary_key: stream.primaryKey.map((field) => [field]),
  };
  return stream.kind === 'incremental'
    ? {
        ...base,
        supported_sync_modes: ['full_refresh', 'incremental'],
        source_defined_cursor: true,
        default_cursor_field: [stream.cursorField],
        is_resumable: true,
      }
    : { ...base, supported_sync_modes: ['full_refresh'], is_resumable: false };
}

/** The streams this key can read; the ones left out are logged with the reason. */
export async function discover(ctx: StreamContext): Promise<CatalogStream[]> {
  const { available } = await probeCapabilities(ctx, neededCapabilities(ALL_STREAMS));
  const streams: CatalogStream[] = [];
  for (const stream of ALL_STREAMS) {
    const availability = available.get(stream.requires);
    if (availability?.ok) streams.push(catalogEntry(stream));
    else
      ctx.log.log(
        'WARN',
        `Stream ${stream.name} is left out of the catalog: ${availability?.reason ?? 'not readable with this key'}.`,
      );
  }
  return streams;
}

/** Reads the selected streams in order. Returns the names of the streams that failed. */
export async function read(
  ctx: StreamContext,
  selections: readonly Selection[],
  states: RawStreamStates,
  sink: ReadSink,
  origin: StateOrigin = STATE_FILE,
): Promise<string[]> {
  const failed: string[] = [];
  // A bad saved cursor is the user's to fix: refuse it before anything is read or emitted.
  const saved = new Map(
    selections.map(({ stream, mode }) => [
      stream.name,
      stream.kind === 'incremental' && mode === 'incremental'
        ? cursorFromState(stream.name, stream.cursorField, states.get(stream.name), origin)
        : undefined,
    ]),
  );
  for (const { stream } of selections) {
    if (ctx.signal.aborted) break;
    await sink.status(stream.name, 'STARTED');
    try {
      if (stream.kind === 'incremental') {
        await readIncremental(ctx, stream, saved.get(stream.name), sink);
      } else {
        await readSnapshot(ctx, stream, sink);
      }
      await sink.status(stream.name, 'COMPLETE');
    } catch (caught) {
      const error = asSourceFalError(caught).withContext({ stream: stream.name });
      failed.push(stream.name);
      await sink.status(stream.name, 'INCOMPLETE');
      await sink.streamError(stream.name, error);
    }
  }
  return failed;
}

async function readIncremental(
  ctx: StreamContext,
  stream: Extract<Stream, { kind: 'incremental' }>,
  saved: number | undefined,
  sink: ReadSink,
): Promise<void> {
  const windows = stream.windows(ctx, saved);
  let cursor = saved;
  let running = false;
  const markRunning = async (): Promise<void> => {
    if (!running) {
      running = true;
      await sink.status(stream.name, 'RUNNING');
    }
  };
  // Windows are read up to max_concurrent_requests at once but reach the sink one after another, in order.
  for await (const [window, pages] of readInOrder(windows, ctx.config.maxConcurrentRequests, (w) =>
    stream.readWindow(ctx, w),
  )) {
    let count = 0;
    try {
      for await (const page of pages) {
        await markRunning();
        await sink.records(stream.name, page);
        count += page.length;
      }
    } catch (error) {
      throw asSourceFalError(error).withContext({ window: formatWindow(window) });
    }
    await markRunning();
    // Monotonic: a lookback window never pulls the saved cursor back.
    cursor = Math.max(cursor ?? -Infinity, stream.cursorAfter(ctx, window));
    await sink.checkpoint(stream.name, { [stream.cursorField]: formatInstant(cursor) }, count);
  }
  if (windows.length === 0) {
    // Nothing to read (e.g. a saved cursor in the future): still say where we stand, unchanged.
    await markRunning();
    await sink.checkpoint(stream.name, { [stream.cursorField]: formatInstant(cursor ?? ctx.config.startMs) }, 0);
  }
}

async function readSnapshot(
  ctx: StreamContext,
  stream: Extract<Stream, { kind: 'snapshot' }>,
  sink: ReadSink,
): Promise<void> {
  let count = 0;
  let running = false;
  for await (const page of stream.read(ctx)) {
    if (!running) {
      running = true;
      await sink.status(stream.name, 'RUNNING');
    }
    await sink.records(stream.name, page);
    count += page.length;
  }
  if (!running) await sink.status(stream.name, 'RUNNING');
  await sink.checkpoint(stream.name, { ...NO_CURSOR_STATE }, count);
}
