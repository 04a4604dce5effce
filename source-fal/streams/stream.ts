/**
 * What a stream is. A stream file declares its name, keys, cursor, what the key must be allowed to read, and how
 * one window (or, for snapshots, the whole thing) is read. Windows, lookback, checkpoints and statuses are the
 * same for every stream and live in source.ts; HTTP, retries and pagination live in http/.
 */
import type { Config } from '../config.js';
import type { FalClient } from '../http/client.js';
import type { Logger } from '../log.js';
import { DAY_MS, sliceWindows, type Window } from '../time.js';

export type StreamRecord = Record<string, unknown>;

/**
 * What a key must be allowed to do for a stream to be readable (probed by `discover` and `check`):
 * `admin` = any ADMIN-scope key; `org_admin` = ADMIN key on an organization's root team; `focus` = FOCUS reports enabled.
 */
export type Capability = 'admin' | 'org_admin' | 'focus';

export interface StreamContext {
  config: Config;
  client: FalClient;
  log: Logger;
  signal: AbortSignal;
}

interface StreamBase {
  /** snake_case; the same spelling as schemas/<name>.json, the catalog, the tests and the warehouse table. */
  readonly name: string;
  /** Top-level field names forming the primary key; never null in any record. */
  readonly primaryKey: readonly string[];
  readonly requires: Capability;
  /** fal documentation of the endpoint behind the stream. */
  readonly docsUrl: string;
}

export interface IncrementalStream extends StreamBase {
  readonly kind: 'incremental';
  /** Top-level RFC 3339 UTC timestamp field; the saved state is `{[cursorField]: <instant>}`. */
  readonly cursorField: string;
  /** The windows to read, given the saved cursor (undefined in full refresh or on a first run). */
  windows(ctx: StreamContext, savedCursorMs: number | undefined): Window[];
  /** Pages of records for one window, in order. */
  readWindow(ctx: StreamContext, window: Window): AsyncIterable<StreamRecord[]>;
  /** The cursor once `window` is fully read: nothing before it needs reading again (lookback aside). */
  cursorAfter(ctx: StreamContext, window: Window): number;
}

export interface SnapshotStream extends StreamBase {
  readonly kind: 'snapshot';
  read(ctx: StreamContext): AsyncIterable<StreamRecord[]>;
}

export type Stream = IncrementalStream | SnapshotStream;

/**
 * Windows for time-sliced streams: from the saved cursor minus the lookback (or start_date), up to the run's end,
 * each starting on an `alignMs` boundary (docs/design.md: a partial bucket would overwrite the full one) and at most
 * `stepMs` long. A saved cursor in the future yields no windows.
 */
export function lookbackWindows(
  ctx: StreamContext,
  savedCursorMs: number | undefined,
  stepMs: number,
  alignMs: number,
): Window[] {
  const { startMs, endMs, lookbackDays } = ctx.config;
  const from = savedCursorMs === undefined ? startMs : Math.max(startMs, savedCursorMs - lookbackDays * DAY_MS);
  return sliceWindows(from, endMs, stepMs, alignMs);
}
