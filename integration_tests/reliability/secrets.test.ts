/**
 * The API key never leaves the process: not on stdout (records, LOG, TRACE, STATE, CONNECTION_STATUS), not on stderr,
 * in no path: a read with --debug request logging, fal echoing the key back in errors of every kind, undici's own
 * errors (refused connection, reset, timeout), config mistakes around the key, and an interrupted run.
 */
import { describe, it } from 'vitest';

import type { FaultRule } from '../../source-fal/emulator/faults.js';
import { ADMIN_KEY } from '../../source-fal/emulator/keys.js';
import { runCli, writeJson } from '../helpers/cli.js';
import { catalogFor, cliEnv } from '../helpers/fixtures.js';
import { allOutput, errorTraces, type Scenario, scenario, STREAM_PATH, usageRecords } from './harness.js';

const SECRET_HALF = ADMIN_KEY.slice(ADMIN_KEY.indexOf(':') + 1);

/** Every form the key could take in text: as is, its secret half, JSON-escaped, URL-encoded. */
const FORMS = [ADMIN_KEY, SECRET_HALF, JSON.stringify(ADMIN_KEY).slice(1, -1), encodeURIComponent(ADMIN_KEY)];
const leaks = (text: string): string[] => FORMS.filter((form) => text.includes(form));

/** fal answering with its error envelope, its message quoting the key it was sent. */
const echo = (status: number, type: string): FaultRule => ({
  path: /^\/v1\//,
  times: Infinity,
  kind: 'status',
  status,
  body: JSON.stringify({
    error: { type, message: `Key ${ADMIN_KEY} was refused (secret ${SECRET_HALF})`, request_id: 'req-echo' },
  }),
});

async function withScenario(body: (s: Scenario) => Promise<void>, config: Record<string, unknown> = {}): Promise<void> {
  const s = await scenario({ config });
  try {
    await body(s);
  } finally {
    await s.close();
  }
}

describe.concurrent('given a read with --debug request logging', () => {
  it('when it reads, retries a page and finishes then no output carries the key, though the debug logs and records are there', async ({
    expect,
  }) => {
    await withScenario(async (s) => {
      s.emu.faults.add({ path: STREAM_PATH, after: 1, times: 1, kind: 'status', status: 503 });
      const r = await s.read({ extraArgs: ['--debug'] });

      expect(r.code, r.stderr).toBe(0);
      const logs = r.messages.filter((m) => m.type === 'LOG').map((m) => m.log as { level: string; message: string });
      expect(
        logs.filter(
          (l) =>
            l.level === 'DEBUG' &&
            /^GET \/models\/usage\?.* -> HTTP 200 in \d+ ms \(fal request id \S+\)$/.test(l.message),
        ).length,
      ).toBeGreaterThan(3);
      expect(logs.some((l) => l.level === 'DEBUG' && / -> HTTP 503 /.test(l.message))).toBe(true);
      expect(leaks(allOutput(r))).toEqual([]);
      // The warehouse: records carry the public key id (to join with api_keys), never the secret.
      const rows = usageRecords(r);
      expect(rows.some((row) => typeof row.api_key_id === 'string')).toBe(true);
      expect(leaks(JSON.stringify(rows))).toEqual([]);
    });
  });
});

describe.concurrent('given fal echoes the key back in its error message', () => {
  it.for([
    ['a 500, retried until the budget runs out', 500, 'server_error'],
    ['a 400', 400, 'validation_error'],
    ['a 401', 401, 'authorization_error'],
    ['a 429', 429, 'rate_limited'],
  ] as const)(
    'when a read meets %s then the TRACE, the retry warnings and stderr show **** instead',
    async ([, status, type], { expect }) => {
      await withScenario(
        async (s) => {
          s.emu.faults.add(echo(status, type));
          const r = await s.read({ extraArgs: ['--debug'] });

          expect(r.code).toBe(1);
          expect(leaks(allOutput(r))).toEqual([]);
          expect(errorTraces(r)[0]?.message).toContain('Key **** was refused (secret ****)');
        },
        { max_retry_seconds: 1 },
      );
    },
  );

  it('when check meets a 401 quoting the key then CONNECTION_STATUS FAILED shows **** instead', async ({ expect }) => {
    await withScenario(async (s) => {
      s.emu.faults.add(echo(401, 'authorization_error'));
      const config = writeJson(s.dir, 'check.json', { api_key: ADMIN_KEY, base_url: s.emu.url });
      const r = await runCli(['check', '--config', config, '--debug'], { env: cliEnv() });

      expect(r.code).toBe(0);
      const status = r.messages.find((m) => m.type === 'CONNECTION_STATUS')?.connectionStatus as {
        status: string;
        message: string;
      };
      expect(status.status).toBe('FAILED');
      expect(status.message).toContain('Key **** was refused');
      expect(leaks(allOutput(r))).toEqual([]);
    });
  });
});

describe.concurrent('given undici fails the request itself', () => {
  it.for([
    [
      'the connection is refused',
      (s: Scenario) => ({ base_url: `http://127.0.0.1:1/v1`, start_date: s.startDate }),
      undefined,
      /ECONNREFUSED/,
    ],
    [
      'every connection is reset',
      () => ({}),
      { path: STREAM_PATH, times: Infinity, kind: 'reset' } as FaultRule,
      /ECONNRESET|other side closed|socket/i,
    ],
    [
      'every response is cut off',
      () => ({}),
      { path: STREAM_PATH, times: Infinity, kind: 'truncate' } as FaultRule,
      /terminated|socket|content-length|not complete JSON/i,
    ],
    [
      'every request times out',
      () => ({}),
      { path: STREAM_PATH, times: Infinity, kind: 'latency', ms: 30_000 } as FaultRule,
      /UND_ERR_HEADERS_TIMEOUT/,
    ],
  ] as const)(
    'when %s then the transient_error and the warnings name the cause, never the key',
    async ([, config, fault, cause], { expect }) => {
      await withScenario(async (s) => {
        if (fault) s.emu.faults.add(fault);
        const r = await s.read({
          config: { max_retry_seconds: 1, ...config(s) },
          extraArgs: ['--debug'],
          env: { SOURCE_FAL_REQUEST_TIMEOUT_SECONDS: '0.5' },
        });

        expect(r.code).toBe(1);
        const errors = errorTraces(r);
        expect(errors.map((e) => e.failure_type)).toEqual(['transient_error']);
        expect(`${errors[0]?.message} ${errors[0]?.internal_message}`).toMatch(cause);
        expect(leaks(allOutput(r))).toEqual([]);
      });
    },
  );
});

describe.concurrent('given a config mistake around the key', () => {
  it.for([
    ['a misspelt api_key field', { apikey: ADMIN_KEY }],
    ['the key pasted into another field as well', { api_key: ADMIN_KEY, lookback_days: ADMIN_KEY }],
    ['the key pasted into start_date as well', { api_key: ADMIN_KEY, start_date: ADMIN_KEY }],
    ['the key with a line break in it', { api_key: ADMIN_KEY.replace(':', ':\n') }],
    ['a config file cut short after the key', `{"api_key": "${ADMIN_KEY}", "start_date": `],
  ] as const)('when read and check run with %s then the error never quotes the key', async ([, config], { expect }) => {
    await withScenario(async (s) => {
      const path = writeJson(s.dir, `mistake-${Math.random().toString(36).slice(2)}.json`, config);
      const read = await runCli(
        ['read', '--config', path, '--catalog', writeJson(s.dir, 'c.json', catalogFor(['usage'])), '--debug'],
        { env: cliEnv() },
      );
      const check = await runCli(['check', '--config', path, '--debug'], { env: cliEnv() });

      expect(read.code).toBe(1);
      expect(errorTraces(read).map((e) => e.failure_type)).toEqual(['config_error']);
      expect(check.code).toBe(0);
      expect(leaks(allOutput(read))).toEqual([]);
      expect(leaks(allOutput(check))).toEqual([]);
      expect(s.emu.requests).toEqual([]);
    });
  });
});

describe.concurrent('given a read stopped by SIGTERM', () => {
  it('when it stops mid-window with --debug on then stdout and stderr carry no key', async ({ expect }) => {
    await withScenario(async (s) => {
      s.emu.faults.add({ path: STREAM_PATH, times: Infinity, kind: 'latency', ms: 300 });
      const r = await s.read({
        extraArgs: ['--debug'],
        killWhen: { signal: 'SIGTERM', when: (messages) => messages.some((m) => m.type === 'STATE') },
      });

      expect(r.code).toBe(143);
      expect(leaks(allOutput(r))).toEqual([]);
    });
  });
});
