/**
 * Whole-connector tests of `serverless_analytics` (GET /v1/serverless/analytics) against the fal emulator: it asks
 * only for the caller's own app endpoints (`<username>/<app>`; fal answers 403 for any other); per UTC day and app
 * the billable seconds equal the machine-seconds of serverless_usage, and requests add up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, records, runCli, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

type Row = Record<string, unknown>;

describe('given 20 days of fal serverless usage of the apps acme-ml owns', () => {
  let emu: Emulator;
  let run: CliResult;
  const dir = tempDir();
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 20 });
    const config = writeJson(dir, 'c.json', configFor(emu.url, { start_date: '2026-11-10' }));
    run = await runCli(
      [
        'read',
        '--config',
        config,
        '--catalog',
        writeJson(dir, 'k.json', catalogFor(['serverless_analytics', 'serverless_usage'])),
      ],
      { env: cliEnv(FIXED_NOW) },
    );
  });
  afterAll(async () => {
    await emu.close();
  });

  it('then it asks only for its own app endpoints, and gets no 403', () => {
    expect(run.code, run.stderr).toBe(0);
    const asked = emu.requests.filter((r) => r.path === '/v1/serverless/analytics');
    expect(asked.length).toBeGreaterThan(0);
    const ids = new Set(asked.flatMap((r) => (r.query.endpoint_id ?? []).flatMap((v) => v.split(','))));
    expect(ids).toEqual(new Set(['acme-ml/img-pipeline-prod', 'acme-ml/img-pipeline-dev', 'acme-ml/whisper-batch-v2']));
    expect(asked.every((r) => r.status === 200)).toBe(true);
  });

  it('then per UTC day and app the billable seconds equal serverless_usage’s machine-seconds, and requests add up', () => {
    const seconds = (rows: readonly Row[], key: (r: Row) => string, value: (r: Row) => number) => {
      const out = new Map<string, number>();
      for (const r of rows) out.set(key(r), Math.round(((out.get(key(r)) ?? 0) + value(r)) * 10) / 10);
      return new Map([...out].sort());
    };
    const analytics = records(run, 'serverless_analytics');
    expect(new Set(analytics.map((r) => r.id)).size).toBe(analytics.length);
    const usage = records(run, 'serverless_usage').filter((r) => r.app !== null);
    expect(
      seconds(
        analytics,
        (r) => `${String(r.bucket).slice(0, 10)}|${String(r.endpoint_id)}`,
        (r) => Number(r.total_billable_duration),
      ),
    ).toEqual(
      seconds(
        usage,
        (r) => `${String(r.bucket).slice(0, 10)}|acme-ml/${String(r.app)}`,
        (r) => Number(r.quantity),
      ),
    );
    for (const r of analytics)
      expect(r.request_count).toBe(Number(r.success_count) + Number(r.user_error_count) + Number(r.error_count));
  });

  it('when a key asks the emulator for an endpoint it does not own then the whole call is 403, as fal documents', async () => {
    const url = new URL(`${emu.url}/serverless/analytics`);
    url.searchParams.set('endpoint_id', 'acme-ml/img-pipeline-prod,someone-else/app');
    const res = await fetch(url, { headers: { authorization: `Key ${String(configFor(emu.url).api_key)}` } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('You must own all requested endpoints');
  });
});
