/**
 * Shared reading of fal's time-series endpoints (`/models/usage`, `/serverless/usage`, `/organization/usage`):
 * explicit UTC windows aligned to the bucket, an explicit `timeframe`, `bound_to_timeframe=false` so fal uses our
 * exact instants, cursor pagination to the end, one record per line of each bucket.
 */
import { createHash } from 'node:crypto';

import { z } from 'zod';

import { ResponseShapeError } from '../errors.js';
import type { Query } from '../http/client.js';
import { CursorEnvelope, cursorPages } from '../http/paginate.js';
import { usdToNano } from '../money.js';
import {
  DAY_MS,
  floorTo,
  formatInstant,
  formatWindow,
  GRANULARITY_MS,
  normalizeTimestamp,
  type Window,
} from '../time.js';
import { type IncrementalStream, lookbackWindows, type StreamContext, type StreamRecord } from './stream.js';

/**
 * Page size for the usage-type endpoints. fal does not document the maximum ("depends on query type and expansion
 * parameters"); 100 is the only cap anyone reports.
 */
export const USAGE_PAGE_LIMIT = 100;

/** Window length: a few days of daily buckets, or one day of hourly buckets, per checkpoint (docs/design.md). */
const WINDOW_DAYS = { day: 7, hour: 1 } as const;

export interface BucketedStreamOptions<L> {
  name: string;
  path: string;
  docsUrl: string;
  requires: IncrementalStream['requires'];
  expand: readonly string[];
  /** Schema of one line; strict on what the record needs, loose on the rest. */
  line: z.ZodType<L>;
  /** Builds the record for one line of one bucket; `bucket` is already RFC 3339 UTC. */
  toRecord(line: L, bucket: string, timeframe: string): StreamRecord;
  /** Query parameters besides the window's (e.g. `source`). */
  query?: Query;
  /** Days re-read at least, whatever lookback_days says: for an aggregate fal fills in late. */
  minLookbackDays?: number;
  /**
   * One request's worth of parameters each (e.g. batches of endpoint ids), read one after another for every window;
   * none means no request. Default: one request with nothing added.
   */
  batches?(ctx: StreamContext): Promise<readonly Query[]>;
}

/**
 * The money fields every usage-type line carries (`usage`, `serverless_usage`, `org_usage`): fal's current shape
 * (percent_discount, cost_subtotal, cost_discount, cost_total) and the older `cost` that cost_total replaced. A line
 * needs one of cost_total and cost: without either, spend would be lost.
 */
export function usageLine<S extends z.ZodRawShape>(what: string, fields: S) {
  return z
    .object({
      ...fields,
      unit: z.string(),
      quantity: z.number(),
      unit_price: z.number(),
      percent_discount: z.number().nullish(),
      cost_subtotal: z.number().nullish(),
      cost_discount: z.number().nullish(),
      cost_total: z.number().nullish(),
      // Deprecated by fal in favour of cost_total; older responses carry only this.
      cost: z.number().nullish(),
      currency: z.string().nullish(),
    })
    .loose()
    .refine((line) => typeof line.cost_total === 'number' || typeof line.cost === 'number', {
      message: `${what} has neither cost_total nor cost`,
    });
}

/** The money columns of a usage-type record: cost_total from fal's cost_total, else the older cost; USD by default. */
export function moneyColumns(line: {
  percent_discount?: number | null | undefined;
  cost_subtotal?: number | null | undefined;
  cost_discount?: number | null | undefined;
  cost_total?: number | null | undefined;
  cost?: number | null | undefined;
  currency?: string | null | undefined;
}) {
  const costTotal = line.cost_total ?? line.cost ?? null;
  return {
    percent_discount: line.percent_discount ?? null,
    cost_subtotal: line.cost_subtotal ?? null,
    cost_discount: line.cost_discount ?? null,
    cost_total: costTotal,
    cost_total_nano_usd: usdToNano(costTotal),
    currency: line.currency ?? 'USD',
  };
}

export function bucketedStream<L>(options: BucketedStreamOptions<L>): IncrementalStream {
  const Page = CursorEnvelope.extend({
    // fal documents time_series "when expand includes time_series"; a window with no usage may leave it out, which
    // means no buckets (https://fal.ai/docs/platform-apis/v1/models/usage). has_more and next_cursor stay required,
    // so a different envelope still fails; and a page with summary rows but no time_series is refused below.
    time_series: z.array(z.object({ bucket: z.string(), results: z.array(options.line) })).optional(),
    summary: z.array(z.unknown()).optional(),
  });
  return {
    kind: 'incremental',
    name: options.name,
    primaryKey: ['id'],
    cursorField: 'bucket',
    requires: options.requires,
    docsUrl: options.docsUrl,
    windows(ctx, saved) {
      const granularity = ctx.config.usageGranularity;
      const lookbackDays = Math.max(ctx.config.lookbackDays, options.minLookbackDays ?? 0);
      return lookbackWindows(
        { ...ctx, config: { ...ctx.config, lookbackDays } },
        saved,
        WINDOW_DAYS[granularity] * DAY_MS,
        GRANULARITY_MS[granularity],
      );
    },
    // The last window may end inside a bucket (at the run's now); its cursor stays at that bucket's start so the
    // next run reads the bucket whole again.
    cursorAfter(ctx, window) {
      return floorTo(window.end, GRANULARITY_MS[ctx.config.usageGranularity]);
    },
    async *readWindow(ctx: StreamContext, window: Window) {
      const timeframe = ctx.config.usageGranularity;
      const query: Query = {
        start: formatInstant(window.start),
        end: formatInstant(window.end),
        timeframe,
        bound_to_timeframe: 'false',
        timezone: 'UTC',
        expand: options.expand,
        ...options.query,
      };
      // Two different lines under one id would be one row after an upsert: spend lost without a word. That happens
      // when fal stops sending a grain part (auth_method_structured, percent_discount). The same line twice is
      // harmless (a page boundary that shifted while paging) and passes.
      const seen = new Map<unknown, string>();
      const fingerprint = (record: StreamRecord): string =>
        createHash('sha256').update(JSON.stringify(record)).digest('base64');
      const pages = async function* () {
        for (const batch of (await options.batches?.(ctx)) ?? [{}])
          yield* cursorPages({
            client: ctx.client,
            path: options.path,
            query: { ...query, ...batch },
            limit: USAGE_PAGE_LIMIT,
            schema: Page,
          });
      };
      for await (const page of pages()) {
        const records: StreamRecord[] = [];
        if (page.time_series === undefined && (page.summary?.length ?? 0) > 0) {
          // Usage exists in the window but not per bucket: reading it as "no usage" would checkpoint past real spend.
          throw new ResponseShapeError(
            `fal's response to GET ${options.path} has summary rows but no time_series, although expand asked for it.`,
            {
              endpoint: `GET ${options.path}`,
              window: formatWindow(window),
            },
          );
        }
        for (const bucket of page.time_series ?? []) {
          let label: string;
          try {
            label = normalizeTimestamp(bucket.bucket);
          } catch {
            throw new ResponseShapeError(
              `fal sent a bucket label that is not a timestamp: ${JSON.stringify(bucket.bucket)}.`,
              {
                endpoint: `GET ${options.path}`,
                window: formatWindow(window),
              },
            );
          }
          for (const line of bucket.results) {
            const record = options.toRecord(line, label, timeframe);
            const text = fingerprint(record);
            const before = seen.get(record.id);
            if (before !== undefined && before !== text) {
              throw new ResponseShapeError(
                `fal sent two different lines for the same ${options.name} grain in bucket ${label} (id ${String(record.id)}); loading both would keep only one and under-count. fal may have stopped sending a grain field such as auth_method_structured or percent_discount; upgrade source-fal or report this.`,
                { endpoint: `GET ${options.path}`, window: formatWindow(window) },
              );
            }
            seen.set(record.id, text);
            records.push(record);
          }
        }
        yield records;
      }
    },
  };
}

/** `auth_method_structured`: who spent it. */
export const AuthMethodStructured = z
  .object({
    detail: z.string(),
    api_key_id: z.string().nullish(),
    login_username: z.string().nullish(),
  })
  .loose();

/** The auth columns of a record and the auth part of its identity. */
export function authColumns(structured: z.infer<typeof AuthMethodStructured> | undefined, label: string | undefined) {
  const apiKeyId = structured?.api_key_id ?? null;
  const login = structured?.login_username ?? null;
  const detail = structured?.detail ?? label ?? null;
  return {
    columns: { auth_method: detail, api_key_id: apiKeyId, login_username: login },
    // A key id or a login identifies the spender; the detail text is a label that changes when a key is renamed,
    // so it joins the identity only when neither id is present (e.g. "None").
    identity: [apiKeyId, login, apiKeyId === null && login === null ? detail : null],
  };
}
