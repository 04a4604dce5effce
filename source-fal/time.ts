/**
 * UTC time helpers. Everything here works on epoch milliseconds in UTC; fal's `timezone` is always sent as UTC.
 * Windows are half-open [start, end), matching fal's exclusive `end`.
 */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export type Granularity = 'hour' | 'day';

export const GRANULARITY_MS: Record<Granularity, number> = { hour: HOUR_MS, day: DAY_MS };

export interface Window {
  start: number;
  end: number;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
// RFC 3339 with a mandatory zone (Z or ±hh:mm); fractional seconds optional.
const RFC3339 = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
// A date-time with no zone at all; fal is always asked for UTC, so such a label is UTC (never the host's zone).
const ZONELESS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** UTC midnight of a real calendar date `YYYY-MM-DD`; Date.parse alone rolls 2026-02-30 over to March 2. */
function calendarDate(text: string): number | undefined {
  const ms = Date.parse(`${text}T00:00:00Z`);
  return Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text ? undefined : ms;
}

/** Parses `YYYY-MM-DD` (UTC midnight) or an RFC 3339 timestamp with a zone; returns undefined when neither. */
export function parseInstant(text: string): number | undefined {
  if (DATE_ONLY.test(text)) return calendarDate(text);
  const match = RFC3339.exec(text);
  // V8 also accepts hour 24 (as the next midnight); RFC 3339 does not.
  if (!match || calendarDate(match[1] ?? '') === undefined || Number(match[2]) > 23) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

export function isDateOnly(text: string): boolean {
  return DATE_ONLY.test(text);
}

/** `2026-07-26T00:00:00Z`; milliseconds are written only when non-zero. */
export function formatInstant(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, 19)}Z` : iso;
}

/**
 * Normalises a timestamp fal sent (maybe with an offset such as `+00:00` or `-05:00`) to RFC 3339 UTC.
 * The fast path keeps an already-UTC `...Z` string as it is, so the per-record cost of event streams stays small.
 */
export function normalizeTimestamp(text: string): string {
  if (text.length === 20 && text.charCodeAt(19) === 90 /* Z */ && text.charCodeAt(10) === 84 /* T */) return text;
  const ms = Date.parse(ZONELESS.test(text) ? `${text}Z` : text);
  if (Number.isNaN(ms)) throw new RangeError(`not a timestamp: ${JSON.stringify(text)}`);
  return formatInstant(ms);
}

export function floorTo(ms: number, unitMs: number): number {
  return Math.floor(ms / unitMs) * unitMs;
}

/**
 * Cuts [start, end) into consecutive windows of at most `stepMs`, each starting on a multiple of `alignMs`
 * (the first one included, so a partial bucket is never read under a full bucket's label).
 */
export function sliceWindows(start: number, end: number, stepMs: number, alignMs: number): Window[] {
  // Either way every window boundary stays on the alignment grid (whole days, or quarters of a day from midnight).
  if (stepMs % alignMs !== 0 && alignMs % stepMs !== 0)
    throw new RangeError('window step and alignment must divide one another');
  const windows: Window[] = [];
  for (let cursor = floorTo(start, alignMs); cursor < end;) {
    const next = Math.min(cursor + stepMs, end);
    windows.push({ start: cursor, end: next });
    cursor = next;
  }
  return windows;
}

export function formatWindow(window: Window): string {
  return `${formatInstant(window.start)}/${formatInstant(window.end)}`;
}

/** UTC calendar month start for the month containing `ms`, shifted by `deltaMonths`. */
export function monthStart(ms: number, deltaMonths = 0): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + deltaMonths, 1);
}

/** `YYYY-MM` of the UTC month containing `ms`. */
export function formatMonth(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}
