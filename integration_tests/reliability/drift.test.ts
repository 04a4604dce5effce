/**
 * Schema drift. fal changing a record (an optional field gone, a field added, the deprecated `cost` in place of
 * `cost_total`) must still read, to the nano-dollar; fal changing the envelope the connector relies on (the items
 * array, the cursor, has_more) must fail that stream with `system_error` naming the endpoint, at once (retrying
 * cannot fix it) and never as a "successful" read of zero rows past which the state moves on.
 */
import { describe, type ExpectStatic, it } from 'vitest';

import type { FaultRule } from '../../source-fal/emulator/faults.js';
import { statuses } from '../helpers/cli.js';
import { assertRecordMatchesSchema } from '../helpers/protocol.js';
import {
  errorTraces,
  lastCursor,
  nanoByDay,
  type Scenario,
  scenario,
  STACK_FRAME,
  STREAM,
  STREAM_PATH,
  streamRequests,
  usageRecords,
  windowInMessage,
  windowOf,
} from './harness.js';

type Json = Record<string, unknown>;
type Page = { time_series?: { bucket: string; results: Json[] }[] } & Json;

/** Rewrites every line of every usage page. */
const everyLine = (edit: (line: Json) => Json): FaultRule => ({
  path: STREAM_PATH,
  times: Infinity,
  kind: 'transform',
  fn: (json) => {
    const page = json as Page;
    return {
      ...page,
      time_series: page.time_series?.map((bucket) => ({ ...bucket, results: bucket.results.map(edit) })),
    };
  },
});

const without =
  (...fields: string[]) =>
  (line: Json): Json =>
    Object.fromEntries(Object.entries(line).filter(([key]) => !fields.includes(key)));

async function withScenario(body: (s: Scenario) => Promise<void>): Promise<void> {
  const s = await scenario();
  try {
    await body(s);
  } finally {
    await s.close();
  }
}

describe.concurrent('given fal changes the records', () => {
  it.for<[string, FaultRule, (rows: Json[], expect: ExpectStatic) => void]>([
    [
      'the optional fields outside the grain left out (subtotal, discount amount, currency, cost)',
      everyLine(without('cost_subtotal', 'cost_discount', 'currency', 'cost')),
      (rows, expect) => {
        for (const row of rows)
          expect(row).toMatchObject({ cost_subtotal: null, cost_discount: null, currency: 'USD' });
      },
    ],
    [
      'new fields on every line, bucket and page',
      {
        path: STREAM_PATH,
        times: Infinity,
        kind: 'transform',
        fn: (json) => {
          const page = json as Page;
          return {
            ...page,
            summary: [{ total: 1 }],
            time_series: page.time_series?.map((b) => ({
              ...b,
              label: 'x',
              results: b.results.map((l) => ({ ...l, region: 'eu-west', tags: { team: 'ml' } })),
            })),
          };
        },
      },
      (rows, expect) => {
        for (const row of rows) expect(row).toMatchObject({ region: 'eu-west', tags: { team: 'ml' } });
      },
    ],
    [
      'only the deprecated cost, no cost_total',
      everyLine(without('cost_total')),
      (rows, expect) => {
        for (const row of rows) expect(row.cost_total).toBe(row.cost);
      },
    ],
    [
      'only cost_total, no deprecated cost',
      everyLine(without('cost')),
      (rows, expect) => {
        for (const row of rows) expect(row).not.toHaveProperty('cost');
      },
    ],
  ])(
    'when a read meets %s then it still reads, every record fits the schema, and the days equal the truth to the nano-dollar',
    async ([, fault, check], { expect }) => {
      await withScenario(async (s) => {
        s.emu.faults.add(fault);
        const r = await s.read();

        expect(r.code, JSON.stringify(errorTraces(r))).toBe(0);
        const rows = usageRecords(r);
        expect(rows.length).toBeGreaterThan(100);
        for (const row of rows) assertRecordMatchesSchema(STREAM, row);
        check(rows, expect);
        expect(nanoByDay(rows)).toEqual(s.truth());
      });
    },
  );
});

// The envelope breaks from the first page of window 2 on; window 1 (requests #0-#2) reads normally.
const FROM_WINDOW_2 = { path: STREAM_PATH, after: 3, times: Infinity } as const;
const pageEdit = (edit: (page: Page) => unknown): FaultRule => ({
  ...FROM_WINDOW_2,
  kind: 'transform',
  fn: (json) => edit(json as Page),
});

const everyLineFromWindow2 = (edit: (line: Json) => Json): FaultRule => ({ ...everyLine(edit), ...FROM_WINDOW_2 });
const authAsLabelOnly = (line: Json): Json => {
  const { auth_method_structured: structured, ...rest } = line as {
    auth_method_structured?: { detail: string };
  } & Json;
  return { ...rest, auth_method: structured?.detail };
};
const SAME_GRAIN =
  /fal sent two different lines for the same usage grain in bucket \S+ \(id [0-9a-f]{32}\); loading both would keep only one and under-count/;

describe.concurrent('given fal changes the envelope, or drops a part of the grain', () => {
  it.for<[string, FaultRule, RegExp]>([
    [
      'a body with another items array ({"data": []})',
      { ...FROM_WINDOW_2, kind: 'body', body: '{"data":[]}' },
      /has_more: Invalid input: expected boolean/,
    ],
    [
      'time_series as an object',
      pageEdit((page) => ({ ...page, time_series: { buckets: page.time_series } })),
      /time_series: Invalid input: expected array/,
    ],
    [
      'a bucket without results',
      pageEdit((page) => ({ ...page, time_series: page.time_series?.map(({ bucket }) => ({ bucket })) })),
      /time_series\.0\.results/,
    ],
    [
      'next_cursor as a number',
      pageEdit((page) => ({ ...page, next_cursor: 2, has_more: true })),
      /next_cursor: Invalid input: expected string, received number/,
    ],
    [
      'has_more left out',
      pageEdit(({ has_more: _gone, ...rest }) => rest),
      /has_more: Invalid input: expected boolean/,
    ],
    [
      'has_more true without a next_cursor',
      pageEdit((page) => ({ ...page, next_cursor: null, has_more: true })),
      /has_more: true but sent no next_cursor for GET \/models\/usage/,
    ],
    [
      'a line with neither cost_total nor cost',
      pageEdit((page) => ({
        ...page,
        time_series: page.time_series?.map((b) => ({ ...b, results: b.results.map(without('cost_total', 'cost')) })),
      })),
      /a usage line has neither cost_total nor cost/,
    ],
    [
      'a bucket label that is not a timestamp',
      pageEdit((page) => ({ ...page, time_series: page.time_series?.map((b) => ({ ...b, bucket: 'yesterday' })) })),
      /bucket label that is not a timestamp: "yesterday"/,
    ],
    // A grain part gone: lines of different keys or logins become indistinguishable, and an upsert would keep one.
    [
      'lines without any auth field',
      everyLineFromWindow2(without('auth_method_structured', 'auth_method')),
      SAME_GRAIN,
    ],
    [
      'only the older schema\'s auth label (two logins both "User token")',
      everyLineFromWindow2(authAsLabelOnly),
      SAME_GRAIN,
    ],
  ])(
    'when window 2 answers with %s then the stream fails at once with system_error naming the endpoint; window 1 stays checkpointed, nothing past it',
    async ([, fault, detail], { expect }) => {
      await withScenario(async (s) => {
        s.emu.faults.add(fault);
        const r = await s.read();

        expect(r.code).toBe(1);
        expect(statuses(r, STREAM)).toEqual(['STARTED', 'RUNNING', 'INCOMPLETE']);
        const errors = errorTraces(r);
        expect(errors).toHaveLength(1);
        const [error] = errors;
        expect(error?.failure_type).toBe('system_error');
        expect(error?.stream_descriptor).toEqual({ name: STREAM });
        expect(error?.message).toContain('GET /models/usage');
        expect(error?.message).toMatch(detail);
        expect(windowInMessage(error?.message ?? '')).toBe('2026-11-18T00:00:00Z/2026-11-25T00:00:00Z');
        expect(error?.message).not.toMatch(STACK_FRAME);
        // Not retried: retrying cannot fix a changed API. (A bad cursor may be followed by one prefetched page.)
        const window2 = streamRequests(s.emu).filter(
          (q) => windowOf(q) === '2026-11-18T00:00:00Z/2026-11-25T00:00:00Z',
        );
        expect(window2.length).toBeLessThanOrEqual(2);
        expect(new Set(window2.map((q) => q.query.cursor?.[0])).size).toBe(window2.length);
        // The state never passes the broken window, so the next run reads it again.
        expect(lastCursor(r)).toBe('2026-11-18T00:00:00Z');
        expect(usageRecords(r).every((row) => String(row.bucket) < '2026-11-18')).toBe(true);
      });
    },
  );
});
