/**
 * Whole-connector tests of the `org_focus` stream with an organization root key against the fal emulator: each
 * billing month's organization invoice totals, per team and in all, to the teams' own invoices to the nano-dollar;
 * an invoice issued after a run is read by the next incremental run and re-read while it settles without duplicate
 * rows; keys that are no organization root leave it out of discover (key_scopes.test.ts covers the read).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_KEY, NOFOCUS_ADMIN_KEY, ORG_ADMIN_KEY } from '../source-fal/emulator/keys.js';
import { type Emulator, startEmulator } from '../source-fal/emulator/server.js';
import { type CliResult, discovered, finalStateFile, logLines, records, states, tempDir } from './helpers/cli.js';
import { type EmulatorRun, FIXED_NOW, runAgainst } from './helpers/fixtures.js';
import { upsert } from './helpers/totals.js';

const ORG_ROOT = 'acme';
const DAY = 86_400_000;
const now = Date.parse(FIXED_NOW);

type Row = Record<string, unknown>;
const sum = (rows: readonly Row[]): bigint => rows.reduce((acc, r) => acc + BigInt(Number(r.billed_cost_nano_usd)), 0n);

describe('given an organization with three teams and 130 days of usage in the emulator', () => {
  let emu: Emulator;
  let dir: string;
  const startDate = new Date(now - 120 * DAY).toISOString().slice(0, 10);

  beforeAll(async () => {
    emu = await startEmulator({ now: FIXED_NOW, historyDays: 130 });
    dir = tempDir();
  });
  afterAll(async () => {
    await emu.close();
  });

  const run = (args: EmulatorRun & { apiKey?: string } = {}): Promise<CliResult> =>
    runAgainst(dir, emu.url, {
      streams: ['org_focus'],
      ...args,
      config: { start_date: startDate, api_key: args.apiKey ?? ORG_ADMIN_KEY },
    });

  /** Every team's own invoice of a billing month, as the emulator issued it by `asOf`. */
  const teamInvoices = (billingMonth: string, asOf?: string) =>
    emu.truth.teams(ORG_ROOT).map((team) => ({
      team,
      invoice: emu.truth.invoice(team.username, billingMonth, asOf ? new Date(asOf) : undefined),
    }));

  describe('when org_focus is read from start_date to now', () => {
    let first: CliResult;
    let lines: Row[];
    beforeAll(async () => {
      emu.requests.length = 0;
      first = await run();
      lines = records(first, 'org_focus');
    });

    it('then it reads the organization invoices of billing months 2026-08 to 2026-11, skipping the month with none', () => {
      expect(first.code, first.stderr).toBe(0);
      expect([...new Set(lines.map((l) => l.billing_month))]).toEqual(['2026-08', '2026-09', '2026-10', '2026-11']);
      const asked = emu.requests
        .filter((r) => r.path === '/v1/organization/focus')
        .map((r) => `${r.query.source?.[0]} ${r.query.billing_month?.[0]} ${r.status}`)
        .sort();
      expect(asked).toEqual([
        'invoice 2026-07 404',
        'invoice 2026-08 200',
        'invoice 2026-09 200',
        'invoice 2026-10 200',
        'invoice 2026-11 200',
      ]);
      expect(states(first, 'org_focus').at(-1)?.stream.stream_state).toEqual({
        BillingPeriodStart: '2026-10-01T00:00:00Z',
      });
    });

    it('then each invoice totals, per team and in all, to the teams’ own invoices to the nano-dollar', () => {
      for (const billingMonth of ['2026-08', '2026-09', '2026-10', '2026-11']) {
        const month = lines.filter((l) => l.billing_month === billingMonth);
        let orgTotal = 0n;
        for (const { team, invoice } of teamInvoices(billingMonth)) {
          const own = month.filter((l) => l.SubAccountId === team.username);
          expect(own.length, `${billingMonth} ${team.username}`).toBe(invoice?.rows.length ?? 0);
          expect(sum(own), `${billingMonth} ${team.username}`).toBe(invoice?.totalNano ?? 0n);
          expect(new Set(own.map((l) => l.SubAccountName))).toEqual(new Set(own.length > 0 ? [team.name] : []));
          orgTotal += invoice?.totalNano ?? 0n;
        }
        expect(orgTotal).toBeGreaterThan(0n);
        expect(sum(month), billingMonth).toBe(orgTotal);
      }
      expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
      expect(new Set(lines.map((l) => l.SubAccountId))).toEqual(new Set(['acme', 'acme-ml', 'acme-infra']));
    });
  });

  describe('when the clock moves past the issue of the December invoices', () => {
    afterAll(() => {
      emu.setNow(FIXED_NOW);
    });

    it('then the next incremental run reads them, re-reads them while they settle with the same ids, and then moves on', async () => {
      const state = [
        {
          type: 'STREAM',
          stream: {
            stream_descriptor: { name: 'org_focus' },
            stream_state: { BillingPeriodStart: '2026-10-01T00:00:00Z' },
          },
        },
      ];
      const issuedAt = '2026-12-04T06:00:01Z';
      emu.setNow(issuedAt);
      const issued = await run({ clock: issuedAt, state });
      expect(issued.code, issued.stderr).toBe(0);
      const december = records(issued, 'org_focus');
      expect(new Set(december.map((l) => l.billing_month))).toEqual(new Set(['2026-12']));
      const truth = teamInvoices('2026-12').reduce((acc, { invoice }) => acc + (invoice?.totalNano ?? 0n), 0n);
      expect(sum(december)).toBe(truth);
      expect(states(issued, 'org_focus').at(-1)?.stream.stream_state).toEqual({
        BillingPeriodStart: '2026-10-01T00:00:00Z',
      });

      emu.setNow('2026-12-10T00:00:00Z');
      const settled = await run({ clock: '2026-12-10T00:00:00Z', state: finalStateFile(issued) });
      const again = records(settled, 'org_focus');
      expect(again.map((l) => l.id)).toEqual(december.map((l) => l.id));
      const merged = upsert([...december, ...again], 'id');
      expect(merged.length).toBe(december.length);
      expect(sum(merged)).toBe(truth);
      expect(states(settled, 'org_focus').at(-1)?.stream.stream_state).toEqual({
        BillingPeriodStart: '2026-11-01T00:00:00Z',
      });
    });
  });

  describe('when the key is not an organization root', () => {
    it.each([
      ['a team’s ADMIN key', ADMIN_KEY],
      ['a personal ADMIN key without FOCUS reports', NOFOCUS_ADMIN_KEY],
    ])('then discover with %s leaves org_focus out, naming the organization root key it needs', async (_label, key) => {
      const d = await run({ command: 'discover', apiKey: key });
      expect(d.code).toBe(0);
      const names = discovered(d);
      expect(names).toContain('usage');
      expect(names).not.toContain('org_focus');
      const warnings = logLines(d, 'WARN');
      expect(warnings.filter((w) => w.startsWith('Stream org_focus'))).toEqual([
        expect.stringMatching(
          /^Stream org_focus is left out of the catalog: the key is not an ADMIN key on an organization root team/,
        ),
      ]);
    });
  });
});
