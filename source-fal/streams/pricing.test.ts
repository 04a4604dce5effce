import { describe, expect, it } from 'vitest';

import { collect, FAL_ORIGIN, type FalAnswer, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ApiError, ResponseShapeError } from '../errors.js';
import { endpointIdsSeenInUsage, pricesOf, pricing } from './pricing.js';
import type { StreamContext, StreamRecord } from './stream.js';

const NOW = Date.UTC(2026, 6, 27, 15, 30);

const { context, paths, logs, reply } = useFalMock({ now: NOW, startDate: '2026-07-01' });

/** Answers every request to `path` with `answer(query)`, recording the request path. */
function serve(path: string, answer: (query: URLSearchParams) => FalAnswer): void {
  reply(`/v1${path}?`, answer, { persist: true });
}

const price = (id: string): Record<string, unknown> => ({
  endpoint_id: id,
  unit_price: 0.025,
  unit: 'image',
  currency: 'USD',
});
const idsOf = (query: URLSearchParams): string[] => (query.get('endpoint_id') ?? '').split(',');
const pricingCalls = (): string[][] =>
  paths.filter((p) => p.startsWith('/v1/models/pricing?')).map((p) => idsOf(new URL(p, FAL_ORIGIN).searchParams));

const readAll = (ctx: StreamContext): Promise<StreamRecord[]> => collect(pricing.read(ctx));

describe('pricing.read', () => {
  it('given 120 ids from usage and config when read then three calls of at most 50 sorted ids price each id once', async () => {
    // Regression: fal refuses more than 50 endpoint ids a call (400), which would fail the whole stream.
    const fromUsage = Array.from({ length: 100 }, (_, i) => `fal-ai/used-${String(i).padStart(3, '0')}`);
    const fromConfig = [
      ...Array.from({ length: 20 }, (_, i) => `fal-ai/extra-${String(i).padStart(2, '0')}`),
      'fal-ai/used-000',
    ];
    serve('/models/usage', () => ({
      status: 200,
      body: { summary: fromUsage.map((endpoint_id) => ({ endpoint_id })), next_cursor: null, has_more: false },
    }));
    serve('/models/pricing', (q) => ({
      status: 200,
      body: { prices: idsOf(q).map(price), next_cursor: null, has_more: false },
    }));

    const rows = await readAll(context({ endpoint_ids: fromConfig }));

    expect(pricingCalls().map((ids) => ids.length)).toEqual([50, 50, 20]);
    const all = [...fromUsage, ...fromConfig.slice(0, 20)].sort();
    expect(pricingCalls().flat()).toEqual(all);
    expect(rows.map((r) => r.endpoint_id)).toEqual(all);
    expect(rows[0]).toEqual({ ...price(all[0] ?? ''), unit_price_nano_usd: 25_000_000 });
  });

  it('given no usage and no endpoint_ids when read then nothing is priced and no pricing call is made', async () => {
    serve('/models/usage', () => ({ status: 200, body: { summary: [], next_cursor: null, has_more: false } }));

    expect(await readAll(context())).toEqual([]);
    expect(pricingCalls()).toEqual([]);
  });
});

describe('pricesOf', () => {
  it('given a batch with two ids fal does not know when priced then the known ids survive and each unknown id is logged', async () => {
    // Regression: one unknown id made fal answer 404 for the whole call and every price of the batch was lost.
    const ids = Array.from({ length: 50 }, (_, i) => `fal-ai/m-${String(i).padStart(2, '0')}`);
    const unknown = new Set(['fal-ai/m-07', 'fal-ai/m-41']);
    serve('/models/pricing', (q) => {
      const asked = idsOf(q);
      const missing = asked.filter((id) => unknown.has(id));
      return missing.length > 0
        ? { status: 404, body: { error: { type: 'not_found', message: `Endpoint not found: ${missing.join(', ')}` } } }
        : { status: 200, body: { prices: asked.map(price), next_cursor: null, has_more: false } };
    });

    const prices = await pricesOf(context(), ids);

    expect(prices.map((p) => p.endpoint_id)).toEqual(ids.filter((id) => !unknown.has(id)));
    expect(logs.filter((l) => l.startsWith('WARN')).map((l) => /endpoint (\S+)/.exec(l)?.[1])).toEqual([
      'fal-ai/m-07',
      'fal-ai/m-41',
    ]);
    // Halving: far fewer calls than one per id.
    expect(pricingCalls().length).toBeLessThan(25);
  });

  it('given a price response that spans two pages when priced then both pages are kept, with the same ids on each call', async () => {
    serve('/models/pricing', (q) =>
      q.get('cursor') === null
        ? { status: 200, body: { prices: [price('a/1')], next_cursor: 'Mg==', has_more: true } }
        : { status: 200, body: { prices: [price('a/2')], next_cursor: null, has_more: false } },
    );

    const prices = await pricesOf(context(), ['a/1', 'a/2']);

    expect(prices.map((p) => p.endpoint_id)).toEqual(['a/1', 'a/2']);
    expect(pricingCalls()).toEqual([
      ['a/1', 'a/2'],
      ['a/1', 'a/2'],
    ]);
  });

  it('given fal repeating a price cursor when priced then a ResponseShapeError instead of a loop', async () => {
    serve('/models/pricing', () => ({ status: 200, body: { prices: [], next_cursor: 'Mg==', has_more: true } }));

    await expect(pricesOf(context(), ['a/1'])).rejects.toBeInstanceOf(ResponseShapeError);
  });
});

describe('endpointIdsSeenInUsage', () => {
  it('given a 200-day range when discovered then usage summaries are read in UTC steps of at most 90 days with summary only', async () => {
    serve('/models/usage', (q) => ({
      status: 200,
      body: {
        summary: [{ endpoint_id: `fal-ai/${q.get('start')?.slice(0, 10)}` }],
        next_cursor: null,
        has_more: false,
      },
    }));

    const ids = await endpointIdsSeenInUsage(context({ start_date: '2026-01-08' }));

    const queries = paths.map((p) => Object.fromEntries(new URL(p, FAL_ORIGIN).searchParams));
    expect(queries.map((q) => [q.start, q.end])).toEqual([
      ['2026-01-08T00:00:00Z', '2026-04-08T00:00:00Z'],
      ['2026-04-08T00:00:00Z', '2026-07-07T00:00:00Z'],
      ['2026-07-07T00:00:00Z', '2026-07-27T15:30:00Z'],
    ]);
    for (const q of queries)
      expect(q).toMatchObject({
        expand: 'summary',
        timeframe: 'day',
        bound_to_timeframe: 'false',
        timezone: 'UTC',
        limit: '100',
      });
    expect([...ids].sort()).toEqual(['fal-ai/2026-01-08', 'fal-ai/2026-04-08', 'fal-ai/2026-07-07']);
  });
});

describe('pricesOf when a 404 or the envelope is not what fal sends', () => {
  it("given a 404 that is not fal's error envelope (a proxy page) when priced then it fails naming base_url instead of dropping the ids as unknown", async () => {
    serve('/models/pricing', () => ({ status: 404, body: '<html>Not Found</html>', contentType: 'text/html' }));

    const error = await pricesOf(context(), ['fal-ai/flux/dev', 'fal-ai/veo3']).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toMatch(/404 that is not fal's error envelope; check base_url/);
    expect(pricingCalls()).toHaveLength(1);
  });

  it('given a page that says has_more without a next_cursor when priced then it fails instead of stopping silently', async () => {
    serve('/models/pricing', (q) => ({
      status: 200,
      body: { prices: idsOf(q).map(price), next_cursor: null, has_more: true },
    }));

    const error = await pricesOf(context(), ['fal-ai/flux/dev']).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ResponseShapeError);
    expect((error as ResponseShapeError).message).toMatch(
      /has_more: true but sent no next_cursor for GET \/models\/pricing/,
    );
  });

  it('given a batch split over two pages when priced then the second page is fetched with the cursor and the same ids', async () => {
    serve('/models/pricing', (q) =>
      q.get('cursor') === null
        ? { status: 200, body: { prices: [price('fal-ai/a')], next_cursor: 'c2', has_more: true } }
        : { status: 200, body: { prices: [price('fal-ai/b')], next_cursor: null, has_more: false } },
    );

    const prices = await pricesOf(context(), ['fal-ai/a', 'fal-ai/b']);

    expect(prices.map((p) => p.endpoint_id)).toEqual(['fal-ai/a', 'fal-ai/b']);
    expect(
      paths
        .filter((p) => p.startsWith('/v1/models/pricing?'))
        .map((p) => new URL(p, FAL_ORIGIN).searchParams.get('cursor')),
    ).toEqual([null, 'c2']);
  });
});
