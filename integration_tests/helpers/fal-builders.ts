/**
 * Request and response builders for the stream unit tests, in the style of Airbyte's source-stripe tests: a test
 * says which request it expects and what fal answers, not how a URL or a page is spelled.
 *
 *   reply(falRequest('/v1/models/usage').withWindow(start, end).withLimit(100), usagePage().withBucket(b, line))
 *
 * Builders are immutable: every `with…` returns a new builder, so a file can hold one base request and derive the
 * next page's from it (`REQUEST.withCursor('Mg==')`).
 */

/** An instant as fal's query wants it: RFC 3339 UTC with a Z, milliseconds only when there are any. */
function instant(value: number | string): string {
  if (typeof value === 'string') return value;
  const iso = new Date(value).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, 19)}Z` : iso;
}

/** A query's `name=value` pairs, sorted, so two queries compare as multisets. */
function pairs(params: Iterable<readonly [string, string]>): string[] {
  return [...params].map(([name, value]) => `${name}=${value}`).sort();
}

/** What `wanted` has that `have` has not, counting repeats (multiset difference). */
function minus(wanted: readonly string[], have: readonly string[]): string[] {
  const left = [...have];
  return wanted.filter((pair) => {
    const i = left.indexOf(pair);
    if (i === -1) return true;
    left.splice(i, 1);
    return false;
  });
}

/**
 * One GET the stream is expected to send. It matches a request exactly: the same path and the same query parameters
 * with the same values, none missing and none extra. Parameter order does not matter (the query is compared as a
 * multiset of decoded `name=value` pairs); a parameter given twice must be sent twice.
 */
export class FalRequest {
  private constructor(
    readonly path: string,
    private readonly params: ReadonlyArray<readonly [string, string]>,
  ) {}

  static of(path: string): FalRequest {
    return new FalRequest(path, []);
  }

  /** The window's bounds as `start` and `end`; numbers are epoch milliseconds. */
  withWindow(start: number | string, end: number | string): FalRequest {
    return this.set('start', instant(start)).set('end', instant(end));
  }

  withTimeframe(timeframe: string): FalRequest {
    return this.set('timeframe', timeframe);
  }

  /**
   * The grain as the usage-type streams pin it (bucketed.ts): `timeframe`, `bound_to_timeframe=false` (fal keeps the
   * exact instants) and `timezone=UTC`.
   */
  withPinnedTimeframe(timeframe: string): FalRequest {
    return this.withTimeframe(timeframe).set('bound_to_timeframe', 'false').set('timezone', 'UTC');
  }

  withLimit(limit: number): FalRequest {
    return this.set('limit', String(limit));
  }

  withCursor(cursor: string): FalRequest {
    return this.set('cursor', cursor);
  }

  /** `expand` as the client sends a list: one parameter, the values comma-separated, in this order. */
  withExpand(...values: string[]): FalRequest {
    return this.set('expand', values.join(','));
  }

  /** Any other parameter. Unlike the named setters it adds, so calling it twice expects the parameter twice. */
  withParam(name: string, value: string): FalRequest {
    return new FalRequest(this.path, [...this.params, [name, value]]);
  }

  /** The path and query, in the order the builder was told them. */
  get target(): string {
    const query = new URLSearchParams(this.params.map(([name, value]): [string, string] => [name, value])).toString();
    return query === '' ? this.path : `${this.path}?${query}`;
  }

  /** Whether `actual` (a request's path and query) is exactly this request. */
  matches(actual: string): boolean {
    return this.difference(actual) === undefined;
  }

  /** Why `actual` is not this request (missing and extra parameters), or undefined when it is. */
  difference(actual: string): string | undefined {
    const url = new URL(actual, 'http://fal.invalid');
    if (url.pathname !== this.path) return `path ${url.pathname}, not ${this.path}`;
    const expected = pairs(this.params);
    const sent = pairs(url.searchParams);
    const missing = minus(expected, sent);
    const extra = minus(sent, expected);
    if (missing.length === 0 && extra.length === 0) return undefined;
    return [
      missing.length > 0 ? `missing ${missing.join(', ')}` : '',
      extra.length > 0 ? `extra ${extra.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
  }

  private set(name: string, value: string): FalRequest {
    const at = this.params.findIndex(([n]) => n === name);
    if (at === -1) return this.withParam(name, value);
    return new FalRequest(
      this.path,
      this.params.map((param, i) => (i === at ? [name, value] : param)),
    );
  }
}

/** The request a stream sends to `path` (with its `/v1`), to be narrowed with `with…`. */
export function falRequest(path: string): FalRequest {
  return FalRequest.of(path);
}

/** A response builder: `reply` sends what `build()` returns as the JSON body. */
export interface FalPage {
  build(): unknown;
}

/** fal's cursor envelope: `has_more` is true exactly when there is a `next_cursor`. */
function envelope(next: string | null): { next_cursor: string | null; has_more: boolean } {
  return { next_cursor: next, has_more: next !== null };
}

/**
 * A page of a usage-type endpoint (/models/usage, /organization/usage, /serverless/usage):
 * `{ time_series: [{ bucket, results }], summary?, next_cursor, has_more }`.
 */
export class UsagePage implements FalPage {
  constructor(
    /** null: no time_series at all. */
    private readonly buckets: ReadonlyArray<{ bucket: string; results: unknown[] }> | null = [],
    private readonly summary: readonly unknown[] | undefined = undefined,
    private readonly next: string | null = null,
  ) {}

  /** One more bucket of the time series, with its lines. */
  withBucket(bucket: string, ...results: unknown[]): UsagePage {
    return new UsagePage([...(this.buckets ?? []), { bucket, results }], this.summary, this.next);
  }

  /** A page without time_series at all (fal leaves it out of an empty window). */
  withoutTimeSeries(): UsagePage {
    return new UsagePage(null, this.summary, this.next);
  }

  withSummary(...rows: unknown[]): UsagePage {
    return new UsagePage(this.buckets, rows, this.next);
  }

  /** More pages follow, asked for with `cursor`. */
  withNext(cursor: string): UsagePage {
    return new UsagePage(this.buckets, this.summary, cursor);
  }

  build(): unknown {
    return {
      ...(this.buckets === null ? {} : { time_series: this.buckets }),
      ...(this.summary === undefined ? {} : { summary: this.summary }),
      ...envelope(this.next),
    };
  }
}

export function usagePage(): UsagePage {
  return new UsagePage();
}

/** A page of a plain cursor-paged list: `{ [field]: items, next_cursor, has_more }`. */
export class ListPage implements FalPage {
  constructor(
    private readonly field: string,
    private readonly items: readonly unknown[],
    private readonly next: string | null = null,
  ) {}

  /** More pages follow, asked for with `cursor`. */
  withNext(cursor: string): ListPage {
    return new ListPage(this.field, this.items, cursor);
  }

  build(): unknown {
    return { [this.field]: this.items, ...envelope(this.next) };
  }
}

/** A page of /models/billing-events or /organization/billing-events: `{ billing_events, next_cursor, has_more }`. */
export function eventsPage(...events: unknown[]): ListPage {
  return new ListPage('billing_events', events);
}

/** A page of /keys: `{ keys, next_cursor, has_more }`. */
export function keysPage(...keys: unknown[]): ListPage {
  return new ListPage('keys', keys);
}
