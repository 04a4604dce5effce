import { describe, expect, it } from 'vitest';

import { collect, FAL_ORIGIN, useFalMock } from '../../integration_tests/helpers/fal-mock.js';
import { ResponseShapeError } from '../errors.js';
import { credits } from './credits.js';
import type { StreamRecord } from './stream.js';

const NOW = Date.UTC(2026, 6, 27, 15, 30);

const { context, paths, reply } = useFalMock({ now: NOW });

function answer(body: unknown): void {
  reply('/v1/account/billing?', { body });
}

const readAll = (): Promise<StreamRecord[]> => collect(credits.read(context()));

describe('credits.read', () => {
  it('given the docs example when read then one row with the balance, its exact nano value and the run clock as read_at', async () => {
    answer({ username: 'my-team', credits: { current_balance: 24.5, currency: 'USD' } });

    expect(await readAll()).toEqual([
      {
        username: 'my-team',
        current_balance: 24.5,
        currency: 'USD',
        current_balance_nano_usd: 24_500_000_000,
        read_at: '2026-07-27T15:30:00Z',
      },
    ]);
    expect(new URL(paths[0] ?? '', FAL_ORIGIN).searchParams.get('expand')).toBe('credits');
  });

  it('given a response without credits when read then a ResponseShapeError, not a row without a balance', async () => {
    answer({ username: 'my-team' });

    await expect(readAll()).rejects.toBeInstanceOf(ResponseShapeError);
  });
});
