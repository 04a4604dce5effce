/**
 * Query-parameter parsing and the fal error envelope.
 */

export type ErrorType =
  'authorization_error' | 'validation_error' | 'not_found' | 'rate_limited' | 'server_error' | 'not_implemented';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly docsUrl?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const DOCS_BASE = 'https://fal.ai/docs/platform-apis/v1';

export function errorEnvelope(type: ErrorType, message: string, docsUrl: string, requestId: string): string {
  return JSON.stringify({ error: { type, message, docs_url: docsUrl, request_id: requestId } });
}

export function errorTypeForStatus(status: number): ErrorType {
  if (status === 401 || status === 403) return 'authorization_error';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status === 501) return 'not_implemented';
  if (status >= 400 && status < 500) return 'validation_error';
  return 'server_error';
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:?\d{2})$/;

function validYmd(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** Parse `YYYY-MM-DD` (UTC midnight) or an ISO-8601 date-time with `Z` or an offset; ms since epoch or null. */
function parseInstant(s: string): number | null {
  const dm = DATE_ONLY.exec(s);
  if (dm) {
    const y = Number(dm[1]);
    const m = Number(dm[2]);
    const d = Number(dm[3]);
    return validYmd(y, m, d) ? Date.UTC(y, m - 1, d) : null;
  }
  const t = DATE_TIME.exec(s);
  if (!t) return null;
  const y = Number(t[1]);
  const mo = Number(t[2]);
  const d = Number(t[3]);
  const h = Number(t[4]);
  const mi = Number(t[5]);
  const sec = t[6] === undefined ? 0 : Number(t[6]);
  const ms = t[7] === undefined ? 0 : Math.floor(Number(`0.${t[7]}`) * 1000);
  if (!validYmd(y, mo, d) || h > 23 || mi > 59 || sec > 59) return null;
  let offsetMin = 0;
  const tz = t[8] as string;
  if (tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2, 4));
    if (oh > 23 || om > 59) return null;
    offsetMin = sign * (oh * 60 + om);
  }
  return Date.UTC(y, mo - 1, d, h, mi, sec, ms) - offsetMin * 60_000;
}

export class Params {
  constructor(
    private readonly sp: URLSearchParams,
    private readonly docsUrl: string,
  ) {}

  private bad(message: string): ApiError {
    return new ApiError(400, 'validation_error', message, this.docsUrl);
  }

  has(name: string): boolean {
    return this.sp.has(name);
  }

  /** A single-valued parameter (the last one wins if repeated). */
  single(name: string): string | undefined {
    const all = this.sp.getAll(name);
    return all.length === 0 ? undefined : all[all.length - 1];
  }

  /** A multi-valued parameter: comma-separated and/or repeated; undefined when absent. */
  multi(name: string, max = 50): string[] | undefined {
    const raw = this.sp.getAll(name);
    if (raw.length === 0) return undefined;
    const values = raw
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter((v) => v.length > 0);
    if (values.length === 0) throw this.bad(`${name} must contain at least 1 value`);
    if (values.length > max) throw this.bad(`${name} accepts at most ${max} values, got ${values.length}`);
    return values;
  }

  /** A multi-valued enum parameter. */
  enumMulti<T extends string>(name: string, allowed: readonly T[]): T[] | undefined {
    const values = this.multi(name);
    if (values === undefined) return undefined;
    for (const v of values) {
      if (!(allowed as readonly string[]).includes(v)) {
        throw this.bad(`Invalid value '${v}' for ${name}; allowed values: ${allowed.join(', ')}`);
      }
    }
    return values as T[];
  }

  enumSingle<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = this.single(name);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) {
      throw this.bad(`Invalid value '${v}' for ${name}; allowed values: ${allowed.join(', ')}`);
    }
    return v as T;
  }

  limit(def: number, max: number): number {
    const v = this.single('limit');
    if (v === undefined) return def;
    if (!/^\d+$/.test(v)) throw this.bad(`limit must be an integer, got '${v}'`);
    const n = Number(v);
    if (n < 1) throw this.bad('limit must be greater than or equal to 1');
    if (n > max) throw this.bad(`limit must be less than or equal to ${max}`);
    return n;
  }

  /** Page number encoded by `cursor` (base64 of the decimal page number); 1 when absent. */
  page(): number {
    const c = this.single('cursor');
    if (c === undefined || c === '') return 1;
    const page = decodeCursor(c);
    if (page === null) throw this.bad(`Invalid cursor '${c}'`);
    return page;
  }

  /** `start`/`end` as ms since epoch. */
  instant(name: string): number | undefined {
    const v = this.single(name);
    if (v === undefined) return undefined;
    const ms = parseInstant(v);
    if (ms === null) {
      const hint = / \d{2}:?\d{2}$/.test(v) ? " (a '+' in a query string must be percent-encoded as %2B)" : '';
      throw this.bad(`Invalid ${name} '${v}': expected YYYY-MM-DD or an ISO 8601 date-time with a timezone${hint}`);
    }
    return ms;
  }
}

export function encodeCursor(page: number): string {
  return Buffer.from(String(page), 'utf8').toString('base64');
}

function decodeCursor(c: string): number | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(c)) return null;
  const text = Buffer.from(c, 'base64').toString('utf8');
  if (!/^[1-9]\d{0,8}$/.test(text)) return null;
  if (encodeCursor(Number(text)) !== c) return null;
  return Number(text);
}
