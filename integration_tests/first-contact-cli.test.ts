/**
 * First contact through the Airbyte commands: `check` when fal cannot be reached at all, and a saved config that
 * carries a field this version does not know (Airbyte keeps old fields across connector upgrades).
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { CLI, type CliResult, records, runCli, tempDir, traces, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';
import { runSync } from './helpers/sync.js';

const dir = tempDir('source-fal-first-cli-');
const connection = (r: CliResult): { status: string; message: string } | undefined =>
  r.messages.find((m) => m.type === 'CONNECTION_STATUS')?.connectionStatus as
    { status: string; message: string } | undefined;
const logs = (r: CliResult, level: string): string[] =>
  r.messages
    .filter((m) => m.type === 'LOG' && (m.log as { level: string }).level === level)
    .map((m) => String((m.log as { message: string }).message));

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

describe('given fal cannot be reached', () => {
  it.for([
    [
      'the connection is refused',
      async (): Promise<string> => `http://127.0.0.1:${await closedPort()}/v1`,
      /connection refused|ECONNREFUSED/i,
    ],
    [
      'the host name does not resolve',
      async (): Promise<string> => 'http://no-such-host.invalid/v1',
      /no-such-host\.invalid.*does not resolve/,
    ],
  ] as const)(
    'when check runs and %s then it answers one CONNECTION_STATUS FAILED about checking, exit 0, within 30 s',
    { timeout: 60_000 },
    async ([, baseUrl, reason]) => {
      const config = writeJson(dir, `unreachable-${Math.random().toString(36).slice(2)}.json`, {
        api_key: ADMIN_KEY,
        base_url: await baseUrl(),
        max_retry_seconds: 600,
      });
      const started = Date.now();
      const r = await runCli(['check', '--config', config], { env: cliEnv() });
      expect(Date.now() - started).toBeLessThan(35_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.messages.filter((m) => m.type === 'CONNECTION_STATUS')).toHaveLength(1);
      expect(traces(r, 'ERROR')).toEqual([]);
      const status = connection(r);
      expect(status?.status).toBe('FAILED');
      expect(status?.message).toMatch(reason);
      expect(status?.message).toMatch(/base_url/);
      expect(status?.message).not.toMatch(/run the sync again|max_retry_seconds/);
    },
  );

  it(
    'when read meets a host name that does not resolve then the stream fails at once with config_error naming base_url, without retrying',
    { timeout: 60_000 },
    async () => {
      const config = writeJson(dir, 'unresolvable-read.json', {
        api_key: ADMIN_KEY,
        base_url: 'http://no-such-host.invalid/v1',
        start_date: '2026-11-20',
      });
      const started = Date.now();
      const r = await runCli(
        ['read', '--config', config, '--catalog', writeJson(dir, 'catalog-usage.json', catalogFor(['usage']))],
        { env: cliEnv() },
      );
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(r.code).toBe(1);
      const [trace] = traces(r, 'ERROR');
      expect((trace?.error as { failure_type: string }).failure_type).toBe('config_error');
      expect((trace?.error as { message: string }).message).toMatch(
        /no-such-host\.invalid.*does not resolve.*base_url/,
      );
      expect(logs(r, 'WARN').filter((m) => m.startsWith('Retrying'))).toEqual([]);
    },
  );
});

describe('given a saved config with a field this version does not know', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });
  const config = (): string =>
    writeJson(dir, `old-fields-${Math.random().toString(36).slice(2)}.json`, {
      ...configFor(emu.url, { start_date: '2026-11-20' }),
      start: '2026-01-01',
      old_setting: true,
    });

  it.for(['check', 'discover', 'read'] as const)(
    'when %s runs then it works, with one WARN naming each unknown field and the closest known one',
    { timeout: 60_000 },
    async (command) => {
      const catalog =
        command === 'read' ? ['--catalog', writeJson(dir, 'catalog-usage-2.json', catalogFor(['usage']))] : [];
      const r = await runCli([command, '--config', config(), ...catalog], { env: cliEnv() });
      expect(r.code, r.stderr).toBe(0);
      const warnings = logs(r, 'WARN').filter((m) => m.includes('source-fal config field'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/"start" .*did you mean start_date\?/);
      expect(warnings[0]).toMatch(/"old_setting"/);
      if (command === 'check') expect(connection(r)?.status).toBe('SUCCEEDED');
      if (command === 'read') expect(records(r, 'usage').length).toBeGreaterThan(0);
    },
  );

  it('when tap-fal and sync run with it then they work too', { timeout: 60_000 }, async () => {
    // tap-fal prints a Singer catalog (pretty JSON), not protocol lines: run it plainly (and asynchronously: the
    // emulator answers from this process).
    const tap = await promisify(execFile)(process.execPath, [CLI, '--singer', '--config', config(), '--discover'], {
      env: { PATH: process.env.PATH ?? '', ...cliEnv() },
    });
    expect(tap.stderr).toMatch(/"start" .*did you mean start_date\?/);
    const sync = await runSync(
      ['--config', config(), '--destination', `${dir}/old-fields.duckdb`, '--streams', 'usage'],
      { env: cliEnv() },
    );
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stderr).toMatch(/"old_setting"/);
  });
});
