import { describe, expect, it } from 'vitest';

import { formatSummary, rowsText, type StreamSummary } from './progress.js';

const summary = (over: Partial<StreamSummary>): StreamSummary => ({
  stream: 'usage',
  kind: 'incremental',
  outcome: 'complete',
  windows: 1,
  inserted: 1,
  updated: 0,
  deleted: 0,
  costNano: 1_500_000_000n,
  minCursorMs: Date.UTC(2026, 10, 20),
  maxCursorMs: Date.UTC(2026, 10, 21),
  elapsedMs: 1200,
  error: undefined,
  ...over,
});

describe('the sync summary', () => {
  it('given one row when counted then it says 1 row, and 2 rows for two', () => {
    expect(rowsText(1)).toBe('1 row');
    expect(rowsText(2)).toBe('2 rows');
    expect(rowsText(1024)).toBe('1,024 rows');
  });

  it('given a cost stream and a snapshot without a charge when summarised then cost shows only for the cost stream, with a note that re-read rows count', () => {
    const text = formatSummary('DuckDB ./fal.duckdb', [
      summary({}),
      summary({
        stream: 'credits',
        kind: 'snapshot',
        costNano: undefined,
        minCursorMs: undefined,
        maxCursorMs: undefined,
      }),
    ]);
    const [usageLine, creditsLine] = text.split('\n').filter((l) => /^(usage|credits)\s/.test(l));
    expect(usageLine).toMatch(/\s1\.50\s+1\.2$/);
    expect(creditsLine).toMatch(/–\s+1\.2$/);
    expect(text).toMatch(
      /cost USD: what fal charges for the rows read in this run, re-read \(lookback\) rows included/,
    );
  });
});
