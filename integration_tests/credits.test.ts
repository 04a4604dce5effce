/**
 * Whole-connector tests of the `credits` stream: one balance row per account, exact in nano-USD, stamped with the
 * run's clock; a later read updates the same key with a later read_at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY, ORG_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, records, runCli, tempDir, writeJson } from './helpers/cli.js';
import { catalogFor, cliEnv, configFor, FIXED_NOW } from './helpers/fixtures.js';

describe('given accounts with credit balances in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 10 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const read = (apiKey: string, clock: string): Promise<CliResult> =>
    runCli(
      [
        'read',
        '--config',
        writeJson(dir, 'config.json', configFor(emu.url, { api_key: apiKey })),
        '--catalog',
        writeJson(dir, 'catalog.json', catalogFor(['credits'])),
      ],
      { env: cliEnv(clock) },
    );

  describe('when credits is read', () => {
    it.each([
      ['acme-ml', ADMIN_KEY],
      ['acme', ORG_ADMIN_KEY],
    ])(
      'then %s gets one row: its balance, the exact nano value, USD and the run’s clock as read_at',
      async (account, apiKey) => {
        const run = await read(apiKey, FIXED_NOW);
        expect(run.code, run.stderr).toBe(0);
        const balance = emu.truth.creditBalance(account);
        expect(records(run, 'credits')).toEqual([
          {
            username: account,
            current_balance: balance,
            currency: 'USD',
            current_balance_nano_usd: Math.round(balance * 100) * 10_000_000,
            read_at: FIXED_NOW,
          },
        ]);
        expect(emu.requests.at(-1)?.query).toEqual({ expand: ['credits'] });
      },
    );
  });

  describe('when credits is read again an hour later', () => {
    it('then the primary key is the same and only read_at moves', async () => {
      const first = records(await read(ADMIN_KEY, FIXED_NOW), 'credits');
      const later = new Date(Date.parse(FIXED_NOW) + 3_600_000).toISOString().replace('.000Z', 'Z');
      const second = records(await read(ADMIN_KEY, later), 'credits');
      expect(second.map((r) => r.username)).toEqual(first.map((r) => r.username));
      expect(second[0]?.read_at).toBe(later);
      expect({ ...second[0], read_at: null }).toEqual({ ...first[0], read_at: null });
    });
  });
});
