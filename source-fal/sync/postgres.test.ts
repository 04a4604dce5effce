import { describe, expect, it } from 'vitest';

import { copyText } from './postgres.js';

describe('given a cell for COPY text format', () => {
  it('when it holds backslashes, tabs, newlines or carriage returns then each is escaped, and nothing else changes', () => {
    expect(copyText('plain, "quoted" é')).toBe('plain, "quoted" é');
    expect(copyText('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(copyText('\\N')).toBe('\\\\N');
    expect(copyText('')).toBe('');
  });
});
