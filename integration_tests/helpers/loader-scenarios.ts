/**
 * The loader behind `sync`, driven by the real core `read()` over fake streams, against any destination
 * (source-fal/sync/duckdb.test.ts runs it on DuckDB, sync.postgres.test.ts on PostgreSQL, parquet.test.ts on
 * Parquet; repository.test.ts fails for a registered destination without it): whole windows or nothing,
 * last-wins dedup inside a window, updates on re-read, atomic snapshot replacement, additive migrations, and
 * nothing silently dropped.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { parseConfig } from '../../source-fal/config.js';
import type { FalClient } from '../../source-fal/http/client.js';
import type { LogLevel } from '../../source-fal/log.js';
import type { StreamSchema } from '../../source-fal/schemas.js';
import { read, type Selection } from '../../source-fal/source.js';
import type {
  IncrementalStream,
  SnapshotStream,
  StreamContext,
  StreamRecord,
} from '../../source-fal/streams/stream.js';
import { planTable, type TablePlan } from '../../source-fal/sync/columns.js';
import type { Destination } from '../../source-fal/sync/destination.js';
import { WarehouseLoader } from '../../source-fal/sync/loader.js';
import { createProgress } from '../../source-fal/sync/progress.js';
import { formatInstant, type Window } from '../../source-fal/time.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-11-01T00:00:00Z');
const SCHEMA: StreamSchema = {
  properties: {
    id: { type: 'string' },
    day: { type: 'string', format: 'date-time' },
    amount: { type: ['null', 'number'] },
    cost_nano_usd: { type: ['null', 'integer'] },
  },
};

/** Windows of one day from the saved cursor (or T0) to T0 + `days`; each window's pages come from `pages(window)`. */
function dailyStream(days: number, pages: (window: Window) => StreamRecord[][] | Error): IncrementalStream {
  return {
    kind: 'incremental',
    name: 'ledger',
    primaryKey: ['id'],
    cursorField: 'day',
    requires: 'admin',
    docsUrl: '',
    windows: (_ctx, saved) =>
      Array.from({ length: days }, (_, i) => ({ start: T0 + i * DAY, end: T0 + (i + 1) * DAY })).filter(
        (w) => saved === undefined || w.start >= saved,
      ),
    cursorAfter: (_ctx, window) => window.end,
    async *readWindow(_ctx, window) {
      const result = pages(window);
      if (result instanceof Error) throw result;
      for (const page of result) {
        if (page.length === 1 && page[0]?.throw) throw new Error(String(page[0].throw));
        yield page;
      }
    },
  };
}

function snapshotStream(rows: () => StreamRecord[]): SnapshotStream {
  return {
    kind: 'snapshot',
    name: 'keys',
    primaryKey: ['id'],
    requires: 'admin',
    docsUrl: '',
    async *read() {
      yield rows();
    },
  };
}

const row = (
  id: string,
  dayOffset: number,
  amount: number | string | null,
  extra: StreamRecord = {},
): StreamRecord => ({
  id,
  day: formatInstant(T0 + dayOffset * DAY),
  amount,
  cost_nano_usd: typeof amount === 'number' ? Math.round(amount * 1e9) : null,
  ...extra,
});

export type LogSink = (level: LogLevel, message: string) => void;

export interface LoaderScenarioOptions {
  /** Forgets every saved state (default: DELETE FROM fal._source_fal_state). */
  clearState?: (db: Destination) => Promise<void>;
  /**
   * false for a destination without SQL tables (Parquet files): leaves out the scenarios that edit the state row with
   * SQL or expect ALTER TABLE; its own tests cover those cases.
   */
  sqlTables?: boolean;
}

/** `open` makes a new, empty destination that logs to the given sink. */
export function loaderScenarios(
  label: string,
  open: (log: LogSink) => Promise<Destination>,
  options: LoaderScenarioOptions = {},
): void {
  const clearState =
    options.clearState ?? (async (db: Destination) => void (await db.query(`DELETE FROM fal._source_fal_state`)));
  const tables = options.sqlTables !== false;
  describe(`given the sync loader over ${label}`, () => {
    let db: Destination;
    let logs: { level: LogLevel; message: string }[];
    const progress = () => {
      const p = createProgress({ write: () => true }, { tty: false, debug: false });
      return { ...p, log: (level: LogLevel, message: string) => void logs.push({ level, message }) };
    };
    const ctx = (): StreamContext => ({
      // The loader's scenarios order reads and commits by hand: one window at a time from the source.
      config: parseConfig(
        { api_key: 'test-key:0123456789abcdef', start_date: '2026-11-01', max_concurrent_requests: 1 },
        T0 + 30 * DAY,
      ),
      client: {} as FalClient,
      log: { log: () => undefined },
      signal: new AbortController().signal,
    });

    async function sync(
      stream: IncrementalStream | SnapshotStream,
      schema: StreamSchema = SCHEMA,
      into: Destination = db,
      maxHeldRows?: number,
    ) {
      const plan: TablePlan = planTable(stream, schema);
      await into.prepare([plan]);
      const states = await into.readStates();
      const p = progress();
      const loader = new WarehouseLoader(into, new Map([[plan.stream, plan]]), p, p, maxHeldRows);
      const selections: Selection[] = [
        { stream, mode: stream.kind === 'incremental' ? 'incremental' : 'full_refresh' },
      ];
      const failed = await read(ctx(), selections, states, loader);
      return { failed, summary: loader.results()[0] };
    }
    const rows = async (table: string) =>
      (
        await db.query(
          `SELECT id, CAST(amount AS VARCHAR) AS amount, CAST(_extra AS VARCHAR) AS extra FROM fal.${table} ORDER BY id`,
        )
      ).map((r) => ({
        id: r.id,
        amount: r.amount,
        extra: r.extra === null ? null : (JSON.parse(String(r.extra)) as unknown),
      }));

    beforeEach(async () => {
      logs = [];
      db = await open((level, message) => void logs.push({ level, message }));
    });
    afterEach(async () => {
      await db.close();
    });

    describe('when the second window fails after its first page was staged', () => {
      it('then the first window and its state landed and nothing of the second did', async () => {
        const stream = dailyStream(3, (w) =>
          w.start === T0
            ? [[row('a', 0, 1.5)]]
            : w.start === T0 + DAY
              ? [[row('b', 1, 2)], [{ throw: 'boom' }]]
              : [[row('c', 2, 3)]],
        );
        const { failed, summary } = await sync(stream);
        expect(failed).toEqual(['ledger']);
        expect(summary?.outcome).toBe('failed');
        expect(summary?.error).toContain('boom');
        expect((await rows('ledger')).map((r) => r.id)).toEqual(['a']);
        expect(await db.readStates()).toEqual(new Map([['ledger', { day: '2026-11-02T00:00:00Z' }]]));
      });
    });

    describe('when a window fails to commit while the next one is already being read', () => {
      it('then the stream fails with the database error, the window before it and its state stay, and nothing after it lands', async () => {
        // A null key passes staging but breaks the insert's NOT NULL constraint, at commit time.
        const stream = dailyStream(3, (w) => [
          [row(w.start === T0 + DAY ? (null as unknown as string) : `k${(w.start - T0) / DAY}`, 0, 1)],
        ]);
        const { failed, summary } = await sync(stream);
        expect(failed).toEqual(['ledger']);
        expect(summary).toMatchObject({ outcome: 'failed', windows: 1, inserted: 1 });
        expect(summary?.error).toMatch(/null|NOT NULL/i);
        expect((await rows('ledger')).map((r) => r.id)).toEqual(['k0']);
        expect(await db.readStates()).toEqual(new Map([['ledger', { day: '2026-11-02T00:00:00Z' }]]));
        // The destination is usable afterwards: nothing staged or open was left behind.
        const next = await sync(dailyStream(4, (w) => [[row(`k${(w.start - T0) / DAY}`, 0, 2)]]));
        expect(next.summary).toMatchObject({ outcome: 'complete', windows: 3, inserted: 3 });
        expect((await rows('ledger')).map((r) => r.id)).toEqual(['k0', 'k1', 'k2', 'k3']);
      });
    });

    describe("when a window's commit is slow", () => {
      it('then the next window is read meanwhile, up to the held-rows bound, and every row lands once', async () => {
        const events: string[] = [];
        let release: () => void = () => undefined;
        const released = new Promise<void>((resolve) => (release = resolve));
        // The real destination, with the first commit held until the second window's third page is reached: a loader
        // that waited for its commits before reading on would never get there.
        let commits = 0;
        const gated: Destination = {
          dialect: db.dialect,
          description: db.description,
          namespace: db.namespace,
          prepare: (plans) => db.prepare(plans),
          readStates: () => db.readStates(),
          claimAccount: (username) => db.claimAccount(username),
          begin: (plan) => db.begin(plan),
          append: (plan, cells) => db.append(plan, cells),
          commit: async (plan, state) => {
            const n = ++commits;
            if (n === 1) await released;
            const result = await db.commit(plan, state);
            events.push(`commit ${n}`);
            return result;
          },
          rollback: () => db.rollback(),
          replaceViews: (views) => db.replaceViews(views),
          query: (sql) => db.query(sql),
          close: () => db.close(),
        };
        const stream = dailyStream(2, (w) =>
          w.start === T0 ? [[row('a', 0, 1)]] : [[row('b', 1, 2)], [row('c', 1, 3)], [row('d', 1, 4)]],
        );
        const inner = stream.readWindow;
        stream.readWindow = async function* (ctx, window) {
          let page = 0;
          for await (const records of inner(ctx, window)) {
            if (window.start !== T0 && ++page === 3) setTimeout(release, 0);
            yield records;
            if (window.start !== T0) events.push(`page ${page} taken`);
          }
        };
        const { summary } = await sync(stream, SCHEMA, gated, 2);
        // Pages 1 and 2 (2 rows, the bound) were held during the first commit; page 3 waited for it.
        expect(events).toEqual(['page 1 taken', 'page 2 taken', 'commit 1', 'page 3 taken', 'commit 2']);
        expect(summary).toMatchObject({ outcome: 'complete', windows: 2, inserted: 4, updated: 0 });
        expect((await rows('ledger')).map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
      });
    });

    describe('when one window carries the same key twice', () => {
      it('then the last one wins, once', async () => {
        const { summary } = await sync(dailyStream(1, () => [[row('a', 0, 1)], [row('a', 0, 2)]]));
        expect(summary).toMatchObject({ outcome: 'complete', inserted: 1, updated: 0 });
        expect(await rows('ledger')).toEqual([{ id: 'a', amount: '2.000000000', extra: null }]);
      });
    });

    describe('when a window is read again with changed amounts (the lookback)', () => {
      it('then existing keys are updated, new keys inserted, and the summary counts each', async () => {
        let amount = 1;
        const stream = dailyStream(2, (w) =>
          w.start === T0 ? [[row('a', 0, amount), ...(amount > 1 ? [row('b', 0, 9)] : [])]] : [],
        );
        await sync(stream);
        amount = 5;
        await clearState(db);
        const { summary } = await sync(stream);
        expect(summary).toMatchObject({ inserted: 1, updated: 1, costNano: 14_000_000_000n });
        expect((await rows('ledger')).map((r) => [r.id, r.amount])).toEqual([
          ['a', '5.000000000'],
          ['b', '9.000000000'],
        ]);
      });
    });

    describe('when a window has no rows', () => {
      it('then its state is still saved', async () => {
        const { summary } = await sync(dailyStream(2, () => []));
        expect(summary).toMatchObject({ outcome: 'complete', windows: 2, inserted: 0 });
        expect(await db.readStates()).toEqual(new Map([['ledger', { day: '2026-11-03T00:00:00Z' }]]));
      });
    });

    describe.skipIf(!tables)('when a saved state row was broken by hand', () => {
      it('then reading the states names the stream and the fix', async () => {
        await sync(dailyStream(1, () => []));
        await db.query(
          `UPDATE fal._source_fal_state SET state = CAST('[1]' AS ${db.dialect === 'duckdb' ? 'JSON' : 'JSONB'}) WHERE stream = 'ledger'`,
        );
        await expect(db.readStates()).rejects.toThrow(
          /saved state of stream ledger in fal\._source_fal_state is not a JSON object .* Delete that row/,
        );
      });
    });

    describe('when a snapshot stream is synced twice and a row disappeared upstream', () => {
      it('then the table is replaced by the new snapshot in one commit', async () => {
        let snapshot = [row('k1', 0, 1), row('k2', 0, 2)];
        await sync(snapshotStream(() => snapshot));
        snapshot = [row('k2', 0, 3), row('k3', 0, 4)];
        const { summary } = await sync(snapshotStream(() => snapshot));
        expect(summary).toMatchObject({ outcome: 'complete', inserted: 1, updated: 1, deleted: 1 });
        expect((await rows('keys')).map((r) => [r.id, r.amount])).toEqual([
          ['k2', '3.000000000'],
          ['k3', '4.000000000'],
        ]);
      });

      it('then a failing snapshot read leaves the previous table whole', async () => {
        await sync(snapshotStream(() => [row('k1', 0, 1)]));
        const { failed } = await sync(
          snapshotStream(() => {
            throw new Error('fal is down');
          }),
        );
        expect(failed).toEqual(['keys']);
        expect((await rows('keys')).map((r) => r.id)).toEqual(['k1']);
      });
    });

    describe('when text holds tabs, newlines, carriage returns, backslashes, a literal \\N and empty strings', () => {
      it('then every value lands exactly as read, and an empty string stays distinct from null', async () => {
        const notes = ['tab\there', 'line\nbreak', 'cr\rhere', 'back\\slash\\', '\\N', '', null, 'ünï "quoted", ok'];
        const texty = { properties: { ...SCHEMA.properties, note: { type: ['null', 'string'] } } };
        await sync(
          dailyStream(1, () => [notes.map((note, i) => row(`n${i}`, 0, i, { note }))]),
          texty,
        );
        const result = await db.query(`SELECT id, note FROM ${db.namespace.sql}."ledger" ORDER BY id`);
        expect(result).toEqual(notes.map((note, i) => ({ id: `n${i}`, note })));
      });
    });

    describe.skipIf(!tables)('when the schema gains a column after the table was created', () => {
      it('then the column is added with ALTER TABLE and the old rows stay', async () => {
        await sync(dailyStream(1, () => [[row('a', 0, 1)]]));
        const wider = { properties: { ...SCHEMA.properties, note: { type: ['null', 'string'] } } };
        await db.query(`DELETE FROM fal._source_fal_state`);
        await sync(
          dailyStream(2, (w) => (w.start === T0 ? [] : [[row('b', 1, 2, { note: 'new' })]])),
          wider,
        );
        const result = await db.query(`SELECT id, note FROM fal.ledger ORDER BY id`);
        expect(result).toEqual([
          { id: 'a', note: null },
          { id: 'b', note: 'new' },
        ]);
        expect(logs.some((l) => /Added column note (VARCHAR|TEXT) to fal\.ledger/.test(l.message))).toBe(true);
      });
    });

    describe.skipIf(!tables)('when a column changed type in the schema', () => {
      it('then the column keeps its type, a warning says so, and values are still loaded', async () => {
        await sync(dailyStream(1, () => [[row('a', 0, 1)]]));
        const retyped = { properties: { ...SCHEMA.properties, amount: { type: ['null', 'string'] } } };
        await db.query(`DELETE FROM fal._source_fal_state`);
        const { summary } = await sync(
          dailyStream(1, () => [[row('a', 0, '7.25')]]),
          retyped,
        );
        expect(summary?.outcome).toBe('complete');
        expect(
          logs.some(
            (l) =>
              l.level === 'WARN' &&
              /fal\.ledger\.amount is (DECIMAL|numeric)\(38,9\) but the schema says (VARCHAR|TEXT)/.test(l.message),
          ),
        ).toBe(true);
        expect((await rows('ledger'))[0]?.amount).toBe('7.250000000');
      });
    });

    describe('when records carry undeclared fields and values that do not fit', () => {
      it('then they are kept in _extra and one warning names the field', async () => {
        await sync(dailyStream(1, () => [[row('a', 0, 'n/a', { surprise: [1, 2] }), row('b', 0, 'n/a')]]));
        const result = await rows('ledger');
        expect(result[0]).toEqual({ id: 'a', amount: null, extra: { amount: 'n/a', surprise: [1, 2] } });
        expect(logs.filter((l) => l.message.includes('field amount has a value that does not fit'))).toHaveLength(1);
      });
    });
  });
}
