/**
 * What each kind of fal key gets, through the whole connector: an organization root ADMIN key reads every stream;
 * a team's (non-root) ADMIN key reads the account streams, `check` says which group it cannot read and why,
 * `discover` leaves the organization streams out with a LOG naming the reason, and a configured organization
 * stream fails alone with config_error; an API-scope key fails `check`, because the connector needs ADMIN.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY, API_KEY, NOFOCUS_ADMIN_KEY, ORG_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { ALL_STREAMS } from '../source-fal/streams/index.js';
import { type CliResult, records, runCli, statuses, tempDir, traces, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

const ORG_STREAMS = ['teams', 'org_usage', 'org_billing_events'];
const ACCOUNT_STREAMS = ALL_STREAMS.map((s) => s.name).filter((n) => !ORG_STREAMS.includes(n));

describe('given the fal emulator and keys of every kind', () => {
  let emu: Emulator;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 10 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const cli = (command: string, apiKey: string, streams?: string[]): Promise<CliResult> => {
    const config = writeJson(
      dir,
      `config-${Math.random().toString(36).slice(2)}.json`,
      configFor(emu.url, { api_key: apiKey, start_date: '2026-11-22' }),
    );
    const catalog = streams
      ? ['--catalog', writeJson(dir, `catalog-${Math.random().toString(36).slice(2)}.json`, catalogFor(streams))]
      : [];
    return runCli([command, '--config', config, ...catalog], { env: cliEnv() });
  };
  const connection = (r: CliResult): { status: string; message: string } =>
    r.messages.find((m) => m.type === 'CONNECTION_STATUS')?.connectionStatus as { status: string; message: string };
  const discovered = (r: CliResult): string[] =>
    (r.messages.find((m) => m.type === 'CATALOG')?.catalog as { streams: { name: string }[] }).streams.map(
      (s) => s.name,
    );
  const logs = (r: CliResult): string[] =>
    r.messages.filter((m) => m.type === 'LOG').map((m) => String((m.log as { message: string }).message));

  describe('when the key is an ADMIN key of a team that is not the organization root', () => {
    it('then check succeeds, lists the readable streams, and names the organization streams it cannot read and why', async () => {
      const r = await cli('check', ADMIN_KEY);
      expect(r.code).toBe(0);
      const { status, message } = connection(r);
      expect(status).toBe('SUCCEEDED');
      expect(message).toContain(`Readable streams: ${ACCOUNT_STREAMS.join(', ')}.`);
      expect(message).toContain(
        `Not readable with this key: ${ORG_STREAMS.join(', ')} (the key is not an ADMIN key on an organization root team`,
      );
    });

    it('then discover lists no organization stream and a LOG names each one with the reason', async () => {
      const r = await cli('discover', ADMIN_KEY);
      expect(r.code).toBe(0);
      expect(discovered(r)).toEqual(ACCOUNT_STREAMS);
      for (const name of ORG_STREAMS) {
        expect(
          logs(r).some(
            (m) => m.includes(`Stream ${name} is left out of the catalog`) && m.includes('organization root team'),
          ),
        ).toBe(true);
      }
    });

    it('then a catalog that still selects the organization streams fails each of them alone with config_error, and the rest completes', async () => {
      const r = await cli('read', ADMIN_KEY, ['usage', 'credits', ...ORG_STREAMS]);
      expect(r.code).toBe(1);
      for (const name of ['usage', 'credits']) expect(statuses(r, name).at(-1), name).toBe('COMPLETE');
      expect(records(r, 'usage').length).toBeGreaterThan(0);
      const errors = traces(r, 'ERROR').map(
        (t) => t.error as { failure_type: string; message: string; stream_descriptor?: { name: string } },
      );
      for (const name of ORG_STREAMS) {
        expect(statuses(r, name).at(-1), name).toBe('INCOMPLETE');
        expect(records(r, name)).toEqual([]);
        const error = errors.find((e) => e.stream_descriptor?.name === name);
        expect(error?.failure_type, name).toBe('config_error');
        expect(error?.message).toContain("ADMIN key of the organization's root team");
      }
    });
  });

  describe('when the key is an ADMIN key of the organization root team', () => {
    it('then check lists every stream as readable and nothing as unreadable', async () => {
      const { status, message } = connection(await cli('check', ORG_ADMIN_KEY));
      expect(status).toBe('SUCCEEDED');
      expect(message).toContain(`Readable streams: ${ALL_STREAMS.map((s) => s.name).join(', ')}.`);
      expect(message).not.toContain('Not readable');
    });

    it('then discover lists every stream, organization streams included', async () => {
      expect(discovered(await cli('discover', ORG_ADMIN_KEY))).toEqual(ALL_STREAMS.map((s) => s.name));
    });
  });

  describe('when the key is an ADMIN key of a personal account outside any organization', () => {
    it('then its account streams read, serverless usage included, and the organization streams are left out', async () => {
      // solo-dev has no FOCUS reports either, so `invoices` and `focus_estimates` are left out as well.
      const readable = ACCOUNT_STREAMS.filter((n) => n !== 'invoices' && n !== 'focus_estimates');
      expect(discovered(await cli('discover', NOFOCUS_ADMIN_KEY))).toEqual(readable);
      const r = await cli('read', NOFOCUS_ADMIN_KEY, readable);
      expect(r.code, r.stderr).toBe(0);
      expect(records(r, 'serverless_usage').some((row) => row.app === 'my-comfy-dev')).toBe(true);
      expect(records(r, 'credits')).toEqual([expect.objectContaining({ username: 'solo-dev' })]);
    });
  });

  describe('when the key has only the API scope', () => {
    it('then check fails (exit 0) with a message asking for an ADMIN-scope key', async () => {
      const r = await cli('check', API_KEY);
      expect(r.code).toBe(0);
      const { status, message } = connection(r);
      expect(status).toBe('FAILED');
      expect(message).toContain('ADMIN-scope key');
    });

    it('then pricing, which fal would serve to an API key, still fails with config_error: it learns its ids from ADMIN usage', async () => {
      const r = await cli('read', API_KEY, ['pricing']);
      expect(r.code).toBe(1);
      const error = traces(r, 'ERROR').map(
        (t) => t.error as { failure_type: string; stream_descriptor?: { name: string } },
      );
      expect(error.find((e) => e.stream_descriptor?.name === 'pricing')?.failure_type).toBe('config_error');
    });
  });
});
