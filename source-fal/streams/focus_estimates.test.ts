import { describe, expect, it } from 'vitest';

import { collect, FAL_ORIGIN, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ConfigError } from '../errors.js';
import type { Window } from '../time.js';
import { focusEstimates } from './focus_estimates.js';

const NOW = Date.UTC(2026, 10, 25, 12, 34, 56);
const DAY = 86_400_000;
const WINDOW: Window = { start: Date.UTC(2026, 10, 20), end: Date.UTC(2026, 10, 22) };
const HEADER =
  'BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ServiceName,SkuId,SkuPriceId,PricingQuantity,ListCost,EffectiveCost,BilledCost';
const line = (day: string, sku: string, quantity: number, cost: string): string =>
  `2026-11-01T00:00:00Z,${day}T00:00:00Z,${day}T23:59:59Z,Usage,fal Model APIs,${sku},${sku}|image|0.025,${quantity},${cost},${cost},${cost}`;
const csv = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;

const { context, paths, logs, reply } = useFalMock({ now: NOW, startDate: '2026-06-01' });
const focusReply = (status: number, body: string): void =>
  reply('/v1/account/focus?', { status, body, contentType: 'text/csv; charset=utf-8' });
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

describe('focus_estimates.windows', () => {
  it('given a first run from a start_date older than 90 days when planned then it starts 89 days back, says so once, in ≤ 30-day windows', () => {
    const windows = focusEstimates.windows(context(), undefined);
    expect(iso(windows[0]?.start ?? 0)).toBe('2026-08-28T00:00:00Z');
    expect(windows.every((w) => w.end - w.start <= 30 * DAY)).toBe(true);
    expect(iso(windows.at(-1)?.end ?? 0)).toBe(iso(NOW));
    expect(logs.filter((l) => /fal keeps estimates for 90 days/.test(l))).toHaveLength(1);
  });

  it('given a saved cursor when planned then it re-reads at least 7 days before it, however short lookback_days is', () => {
    const windows = focusEstimates.windows(context({ lookback_days: 1 }), Date.UTC(2026, 10, 24));
    expect(iso(windows[0]?.start ?? 0)).toBe('2026-11-17T00:00:00Z');
    expect(iso(focusEstimates.windows(context({ lookback_days: 10 }), Date.UTC(2026, 10, 24))[0]?.start ?? 0)).toBe(
      '2026-11-14T00:00:00Z',
    );
  });

  it('given a saved cursor far in the future when planned then there is nothing to read', () => {
    expect(focusEstimates.windows(context(), Date.UTC(2099, 0, 1))).toEqual([]);
  });
});

describe('focus_estimates.readWindow', () => {
  it('given a window when read then it asks for the estimate source of exactly that window, in UTC', async () => {
    focusReply(200, csv(HEADER));
    await collect(focusEstimates.readWindow(context(), WINDOW));
    expect(Object.fromEntries(new URL(paths[0] ?? '', FAL_ORIGIN).searchParams)).toEqual({
      source: 'estimate',
      start: '2026-11-20T00:00:00Z',
      end: '2026-11-22T00:00:00Z',
      timezone: 'UTC',
    });
  });

  it('given an estimate that grew between two reads when read again then its line keeps its id with the new amount', async () => {
    focusReply(
      200,
      csv(HEADER, line('2026-11-20', 'fal-ai/flux/dev', 10, '0.25'), line('2026-11-21', 'fal-ai/flux/dev', 4, '0.1')),
    );
    const first = await collect(focusEstimates.readWindow(context(), WINDOW));
    focusReply(
      200,
      csv(HEADER, line('2026-11-20', 'fal-ai/flux/dev', 12, '0.3'), line('2026-11-21', 'fal-ai/flux/dev', 4, '0.1')),
    );
    const second = await collect(focusEstimates.readWindow(context(), WINDOW));
    expect(second.map((r) => r.id)).toEqual(first.map((r) => r.id));
    expect(new Set(first.map((r) => r.id)).size).toBe(2);
    expect(second[0]).toMatchObject({ BilledCost: 0.3, billed_cost_nano_usd: 300_000_000, PricingQuantity: 12 });
  });

  it('given fal refuses FOCUS reports when read then the stream fails with a config error naming the feature', async () => {
    focusReply(
      403,
      JSON.stringify({ error: { type: 'authorization_error', message: 'FOCUS reports are not enabled' } }),
    );
    await expect(collect(focusEstimates.readWindow(context(), WINDOW))).rejects.toThrow(ConfigError);
  });
});
