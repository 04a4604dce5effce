/**
 * Whole-connector tests of `model_analytics` (GET /v1/models/analytics) against the fal emulator: it asks only for
 * endpoints the account used, at most 50 a call; per UTC day and endpoint, successful requests equal the billed
 * requests (billing events), and requests add up; the README's cost-per-successful-request needs both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, records, runCli, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

const ACCOUNT = 'acme-ml';
type Row = Record<string, unknown>;

describe('given 20 days of fal usage in the emulator', () => {
  let emu: Emulator;
  let run: CliResult;
  const dir = tempDir();
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 20 });
    const config = writeJson(
      dir,
      'c.json',
      configFor(emu.url, { start_date: '2026-11-10', endpoint_ids: ['fal-ai/catalog/model-001'] }),
    );
    run = await runCli(
      ['read', '--config', config, '--catalog', writeJson(dir, 'k.json', catalogFor(['model_analytics']))],
      {
        env: cliEnv(FIXED_NOW),
      },
    );
  });
  afterAll(async () => {
    await emu.close();
  });

  it('then it asks for the used endpoints and the configured ones, 50 at most a call, in UTC days', () => {
    expect(run.code, run.stderr).toBe(0);
    const asked = emu.requests.filter((r) => r.path === '/v1/models/analytics');
    expect(asked.length).toBeGreaterThan(0);
    for (const r of asked) {
      expect(r.query.timezone?.[0]).toBe('UTC');
      expect(r.query.timeframe?.[0]).toBe('day');
      const ids = (r.query.endpoint_id ?? []).flatMap((v) => v.split(','));
      expect(ids.length).toBeGreaterThan(0);
      expect(ids.length).toBeLessThanOrEqual(50);
      expect(ids).toContain('fal-ai/catalog/model-001');
    }
  });

  it('then per UTC day and endpoint successful requests equal the billed requests, and requests add up', () => {
    const rows = records(run, 'model_analytics');
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    const billed = new Map<string, number>();
    for (const e of emu.truth.events(ACCOUNT, new Date('2026-11-10T00:00:00Z'), new Date(FIXED_NOW))) {
      const key = `${e.timestamp.slice(0, 10)}|${e.endpoint_id}`;
      billed.set(key, (billed.get(key) ?? 0) + 1);
    }
    const success = new Map(
      rows.map((r: Row) => [`${String(r.bucket).slice(0, 10)}|${String(r.endpoint_id)}`, Number(r.success_count)]),
    );
    expect(new Map([...success].sort())).toEqual(new Map([...billed].sort()));
    for (const r of rows)
      expect(r.request_count).toBe(Number(r.success_count) + Number(r.user_error_count) + Number(r.error_count));
    expect(rows.some((r) => Number(r.user_error_count) > 0)).toBe(true);
    expect(rows.every((r) => Number(r.total_billable_duration) > 0)).toBe(true);
  });
});
