/**
 * The 0.4.0 streams under the same faults and kills as the older ones, against the fal emulator:
 * - two 503s and a connection reset on the stream's endpoint is retried, and the records equal a clean run;
 * - a SIGKILL after the stream's first STATE, resumed from the last STATE the killed run emitted, gives (upserted by
 *   primary key) exactly the records of the clean run: nothing lost, nothing duplicated.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ORG_ADMIN_KEY } from '../../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../../source-fal/emulator/server.js';
import { findStream } from '../../source-fal/streams/index.js';
import { type CliResult, finalStateFile, type Message, records, runCli, tempDir, writeJson } from '../helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from '../helpers/fixtures.js';

/** Stream, its endpoint path, and the key that can read it. */
const STREAMS = [
  ['usage_by_tag', '/v1/models/usage', undefined],
  ['focus_estimates', '/v1/account/focus', undefined],
  ['model_analytics', '/v1/models/analytics', undefined],
  ['serverless_analytics', '/v1/serverless/analytics', undefined],
  ['org_focus', '/v1/organization/focus', ORG_ADMIN_KEY],
] as const;

type Row = Record<string, unknown>;

/** Records upserted by primary key, as a destination holds them, in a stable order. */
function upserted(name: string, ...runs: readonly CliResult[]): Row[] {
  const key = findStream(name)?.primaryKey[0] ?? 'id';
  const rows = new Map<string, Row>();
  for (const run of runs) for (const row of records(run, name)) rows.set(String(row[key]), row);
  return [...rows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, row]) => row);
}

describe('given the fal emulator and each of the streams added in 0.4.0', () => {
  let emu: Emulator;
  const dir = tempDir();
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 100 });
  });
  afterAll(async () => {
    await emu.close();
  });
  const read = (
    name: string,
    key: string | undefined,
    options: { state?: unknown; killAfterStates?: number } = {},
  ): Promise<CliResult> => {
    const tag = Math.random().toString(36).slice(2);
    const config = configFor(emu.url, {
      start_date: '2026-09-01',
      max_concurrent_requests: 1,
      max_retry_seconds: 60,
      ...(key === undefined ? {} : { api_key: key }),
    });
    const states = (messages: readonly Message[]) => messages.filter((m) => m.type === 'STATE').length;
    return runCli(
      [
        'read',
        '--config',
        writeJson(dir, `c-${tag}.json`, config),
        '--catalog',
        writeJson(dir, `k-${tag}.json`, catalogFor([name])),
        ...(options.state === undefined ? [] : ['--state', writeJson(dir, `s-${tag}.json`, options.state)]),
      ],
      {
        env: cliEnv(FIXED_NOW),
        ...(options.killAfterStates === undefined
          ? {}
          : { killWhen: { signal: 'SIGKILL', when: (m) => states(m) >= (options.killAfterStates ?? 0) } }),
      },
    );
  };

  describe.each(STREAMS)('when %s is read', (name, path, key) => {
    let clean: CliResult;
    beforeAll(async () => {
      emu.faults.clear();
      clean = await read(name, key);
    });

    it('then two 503s and a connection reset are retried, and the records equal a clean run', async () => {
      expect(clean.code, clean.stderr).toBe(0);
      expect(records(clean, name).length).toBeGreaterThan(0);
      emu.faults.add({ path, kind: 'status', status: 503, times: 2, headers: { 'retry-after': '0' } });
      emu.faults.add({ path, kind: 'reset', after: 1, times: 1 });
      const faulty = await read(name, key);
      emu.faults.clear();
      expect(faulty.code, JSON.stringify(faulty.messages.filter((m) => m.type === 'TRACE'))).toBe(0);
      expect(upserted(name, faulty)).toEqual(upserted(name, clean));
    });

    it('then a SIGKILL after the first checkpoint, resumed from the last STATE, loses and duplicates nothing', async () => {
      const killed = await read(name, key, { killAfterStates: 1 });
      expect(killed.signal).toBe('SIGKILL');
      const resumed = await read(name, key, { state: finalStateFile(killed) });
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(upserted(name, killed, resumed)).toEqual(upserted(name, clean));
    });
  });
});
