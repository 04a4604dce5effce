import { afterEach, describe, expect, it } from 'vitest';

import { DAY_MS, HOUR_MS, normalizeTimestamp, parseInstant, sliceWindows } from './time.js';

const utc = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad fixture ${iso}`);
  return ms;
};

describe('parseInstant', () => {
  it.each([
    ['2026-07-26', Date.UTC(2026, 6, 26)],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
    ['2026-07-26T00:00:00Z', Date.UTC(2026, 6, 26)],
    ['2026-07-26T13:45:10.250Z', Date.UTC(2026, 6, 26, 13, 45, 10, 250)],
    ['2026-07-26T00:00:00+00:00', Date.UTC(2026, 6, 26)],
    ['2026-07-26T00:00:00-05:00', Date.UTC(2026, 6, 26, 5)],
    ['2026-07-26T01:30:00+02:00', Date.UTC(2026, 6, 25, 23, 30)],
  ])('given %s when parsed then it is that UTC instant', (text, ms) => {
    expect(parseInstant(text)).toBe(ms);
  });

  it.each([
    // Calendar-invalid dates: Date.parse rolls 2026-02-30 over to March 2 instead of refusing it.
    '2026-02-30',
    '2025-02-29',
    '2026-04-31',
    '2026-13-01',
    '2026-02-30T00:00:00Z',
    '2026-04-31T10:00:00+02:00',
    // Hour 24 is not RFC 3339 (V8 reads it as the next midnight).
    '2026-01-01T24:00:00Z',
    // A timestamp without a zone would be read in the host's time zone.
    '2026-07-26T00:00:00',
    '2026-07-26 00:00:00Z',
    '26/07/2026',
    'yesterday',
    '',
  ])('given %j when parsed then undefined', (text) => {
    expect(parseInstant(text)).toBeUndefined();
  });
});

describe('normalizeTimestamp', () => {
  const originalTz = process.env.TZ;
  afterEach(() => {
    if (originalTz === undefined) delete process.env.TZ;
    else process.env.TZ = originalTz;
  });

  it.each([
    ['2026-07-26T00:00:00+00:00', '2026-07-26T00:00:00Z'],
    ['2026-07-26T00:00:00-05:00', '2026-07-26T05:00:00Z'],
    ['2026-07-26T02:00:00+02:00', '2026-07-26T00:00:00Z'],
    ['2026-07-26T00:00:00.000Z', '2026-07-26T00:00:00Z'],
    ['2026-07-26T00:00:08.125+00:00', '2026-07-26T00:00:08.125Z'],
  ])('given fal label %s when normalised then %s', (text, expected) => {
    expect(normalizeTimestamp(text)).toBe(expected);
  });

  it('given an already-UTC second-precision label when normalised then the same string comes back', () => {
    const text = '2026-07-26T00:00:08Z';
    expect(normalizeTimestamp(text)).toBe(text);
  });

  it('given a label without a zone when normalised on a host outside UTC then it is still read as UTC', () => {
    // Regression: Date.parse reads a zoneless date-time in the host zone, so `sync` on a laptop shifted buckets.
    process.env.TZ = 'America/New_York';
    expect(normalizeTimestamp('2026-07-26T00:00:00')).toBe('2026-07-26T00:00:00Z');
  });

  it.each(['not a time', '', '2026-07-26T25:00:00+00:00'])('given %j when normalised then RangeError', (text) => {
    expect(() => normalizeTimestamp(text)).toThrow(RangeError);
  });
});

describe('sliceWindows', () => {
  it('given a mid-day start when sliced by days then the first window starts at that UTC midnight', () => {
    // Regression: a window starting mid-bucket returns a partial bucket under the full bucket's label.
    const windows = sliceWindows(utc('2026-07-01T06:30:00Z'), utc('2026-07-04T00:00:00Z'), DAY_MS, DAY_MS);
    expect(windows).toEqual([
      { start: utc('2026-07-01T00:00:00Z'), end: utc('2026-07-02T00:00:00Z') },
      { start: utc('2026-07-02T00:00:00Z'), end: utc('2026-07-03T00:00:00Z') },
      { start: utc('2026-07-03T00:00:00Z'), end: utc('2026-07-04T00:00:00Z') },
    ]);
  });

  it('given an end inside a window when sliced then the last window is partial and ends exactly at the end', () => {
    const windows = sliceWindows(utc('2026-07-01T00:00:00Z'), utc('2026-07-09T15:30:00Z'), 7 * DAY_MS, DAY_MS);
    expect(windows).toEqual([
      { start: utc('2026-07-01T00:00:00Z'), end: utc('2026-07-08T00:00:00Z') },
      { start: utc('2026-07-08T00:00:00Z'), end: utc('2026-07-09T15:30:00Z') },
    ]);
  });

  it('given hourly alignment when sliced then windows start on the hour and are one step long', () => {
    const windows = sliceWindows(utc('2026-07-01T10:59:59Z'), utc('2026-07-02T12:00:00Z'), DAY_MS, HOUR_MS);
    expect(windows).toEqual([
      { start: utc('2026-07-01T10:00:00Z'), end: utc('2026-07-02T10:00:00Z') },
      { start: utc('2026-07-02T10:00:00Z'), end: utc('2026-07-02T12:00:00Z') },
    ]);
  });

  it('given start equal to end when sliced then no windows', () => {
    expect(sliceWindows(utc('2026-07-01T00:00:00Z'), utc('2026-07-01T00:00:00Z'), DAY_MS, DAY_MS)).toEqual([]);
  });

  it('given a start after the end when sliced then no windows', () => {
    expect(sliceWindows(utc('2026-07-05T00:00:00Z'), utc('2026-07-01T00:00:00Z'), DAY_MS, DAY_MS)).toEqual([]);
  });

  it('given a step that is not a multiple of the alignment when sliced then it throws', () => {
    // Such a step would start the second window mid-bucket.
    expect(() => sliceWindows(0, 10 * DAY_MS, DAY_MS + HOUR_MS, DAY_MS)).toThrow(/divide one another/);
    expect(() => sliceWindows(0, 10 * DAY_MS, 5 * HOUR_MS, DAY_MS)).toThrow(/divide one another/);
  });

  it('given a step that divides the alignment when sliced then windows start on the aligned instant and stay on its grid', () => {
    expect(
      sliceWindows(utc('2026-07-01T13:00:00Z'), utc('2026-07-02T01:00:00Z'), 6 * HOUR_MS, DAY_MS).map((w) =>
        new Date(w.start).toISOString(),
      ),
    ).toEqual([
      '2026-07-01T00:00:00.000Z',
      '2026-07-01T06:00:00.000Z',
      '2026-07-01T12:00:00.000Z',
      '2026-07-01T18:00:00.000Z',
      '2026-07-02T00:00:00.000Z',
    ]);
  });
});
