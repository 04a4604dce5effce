import { describe, expect, it } from 'vitest';

import { usdTextToNano, usdToNano } from './money.js';

/** Largest USD amount whose 9th decimal a double still carries: above 2^23 USD one ulp exceeds 1 nano-USD. */
const NANO_EXACT_LIMIT = 2 ** 23 * 1e9;

/** A seeded generator (mulberry32), so a failing case is reproducible from the seed. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('usdToNano', () => {
  it.each([
    // Decimals a double cannot hold exactly: multiplying by 1e9 would give 100000000.00000001 and friends.
    [0.1, 100_000_000],
    [0.045, 45_000_000],
    [0.0675, 67_500_000],
    [0.29, 290_000_000],
    [1.005, 1_005_000_000],
    // String(1e-7) is exponent notation; the digits must still land on the right decimal place.
    [1e-7, 100],
    [2.5e-8, 25],
    [123456.123456789, 123_456_123_456_789],
    [-0.045, -45_000_000],
    [-123.000000001, -123_000_000_001],
    [0, 0],
    [7, 7_000_000_000],
    [-3, -3_000_000_000],
    [8_388_607, 8_388_607_000_000_000],
  ])('given %s USD when converted then it is exactly %s nano-USD', (usd, nano) => {
    expect(usdToNano(usd)).toBe(nano);
  });

  it.each([
    // 10th decimal rounds half away from zero, on the decimal text, not on the binary value.
    [0.1234567894, 123_456_789],
    [0.1234567895, 123_456_790],
    [-0.1234567895, -123_456_790],
    [0.9999999995, 1_000_000_000],
    [1.5e-9, 2],
    [2.5e-9, 3],
    [4e-10, 0],
  ])('given %s USD with more than 9 decimals when converted then the 10th decimal rounds to %s', (usd, nano) => {
    expect(usdToNano(usd)).toBe(nano);
  });

  it.each([null, undefined, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'given %s when converted then null',
    (value) => {
      expect(usdToNano(value)).toBeNull();
    },
  );

  it('given many random nano amounts when the USD double is converted back then the integer is recovered exactly', () => {
    // Guards the text-based derivation: Math.round(usd * 1e9) is off by one nano on ~1% of amounts near 2^23 USD.
    const random = seededRandom(20260726);
    const failures: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      // Mix magnitudes so small amounts (exponent notation below 1e-6 USD) are exercised as often as large ones.
      const digits = 1 + Math.floor(random() * 16);
      const n = Math.floor(random() * Math.min(10 ** digits, NANO_EXACT_LIMIT));
      const sign = random() < 0.2 ? -1 : 1;
      if (usdToNano((sign * n) / 1e9) !== sign * n && failures.length < 5) failures.push(sign * n);
    }
    expect(failures).toEqual([]);
  });

  it.each([
    [4337503.251450446, 4337503251450446],
    [4447574.931950092, 4447574931950092],
    [4249701.985257506, 4249701985257506],
    [4359651.571632981, 4359651571632981],
  ])(
    'given %d USD, where multiplying the double by 1e9 is off by one nano, when converted then it is exactly %i nano-USD',
    (usd, nano) => {
      // Pins the decimal-text conversion: Math.round(usd * 1e9) gives nano + 1 for each of these.
      expect(Math.round(usd * 1e9)).not.toBe(nano);
      expect(usdToNano(usd)).toBe(nano);
    },
  );

  it('given an amount above 2^23 USD when converted then it reflects the nearest double, not the decimal intended', () => {
    // Documents the limit: no double is 8,700,000.000000001; the nearest prints as ...002, before usdToNano runs.
    // The literals are imprecise on purpose: they are what a JSON parser hands over for fal's text.
    // eslint-disable-next-line no-loss-of-precision
    expect(String(8_700_000.000000001)).toBe('8700000.000000002');
    // eslint-disable-next-line no-loss-of-precision
    expect(usdToNano(8_700_000.000000001)).toBe(8_700_000_000_000_002);
  });
});

describe('usdTextToNano', () => {
  it.each([
    ['12.345678901', 12_345_678_901],
    ['-25.00', -25_000_000_000],
    ['+0.5', 500_000_000],
    ['0', 0],
    ['-0.00', 0],
    ['.25', 250_000_000],
    ['1e-7', 100],
    ['2.5E-8', 25],
    [' 7.1 ', 7_100_000_000],
    // More significant digits than a double holds: the text is still exact.
    ['8700000.000000001', 8_700_000_000_000_001],
    // The 10th decimal rounds half away from zero.
    ['0.1234567895', 123_456_790],
    ['-0.1234567895', -123_456_790],
  ])('given the CSV text %j when converted then it is exactly %s nano-USD', (text, nano) => {
    expect(usdTextToNano(text)).toBe(nano);
  });

  it.each(['', 'abc', '1,234.50', '$5', '1.2.3', 'NaN', 'Infinity', '1e400', '99999999999'])(
    'given %j when converted then undefined',
    (text) => {
      expect(usdTextToNano(text)).toBeUndefined();
    },
  );
});
