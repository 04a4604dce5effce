/**
 * Programmatic fault injection for the fal emulator.
 *
 * Rules are checked in the order they were added. A rule matches a request by path (and, if given, by query
 * parameters):
 *  - no `path`: every request;
 *  - a string: the request's pathname (query excluded) equals it, or equals `/v1` + it
 *    (so `'/models/usage'` and `'/v1/models/usage'` are the same rule);
 *  - a RegExp: tested against the pathname (query excluded).
 * Every matching request advances the counter of every rule it matches. A rule fires on a matching
 * request once `after` matching requests have gone through, and at most `times` times (default 1,
 * Infinity allowed). Only the first rule able to fire handles a request; the others still count it.
 */

export type FaultAction =
  /** Answer with this status instead of the real response. Without `body`, a 429 sends fal's
   * `rate_limited` JSON envelope, 502/503/504 send a gateway HTML page, others a JSON envelope. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string; contentType?: string }
  /** Destroy the socket without any response. */
  | { kind: 'reset' }
  /** Send the real response headers (with the full content-length), then half the body, then close. */
  | { kind: 'truncate' }
  /** Delay, then respond normally. */
  | { kind: 'latency'; ms: number }
  /** Answer with this body (default status 200, content type application/json). */
  | { kind: 'body'; status?: number; body: string; contentType?: string }
  /** Rewrite the real JSON body (the status and headers stay). */
  | { kind: 'transform'; fn: (json: unknown) => unknown };

export type FaultRule = {
  path?: string | RegExp;
  /** Only requests whose query has each of these parameters with exactly this value (e.g. one window's `start`). */
  query?: Record<string, string>;
  /** Let this many matching requests through before firing. Default 0. */
  after?: number;
  /** How many times to fire. Default 1; Infinity allowed. */
  times?: number;
} & FaultAction;

export interface Faults {
  add(rule: FaultRule): void;
  clear(): void;
}

interface RuleState {
  readonly rule: FaultRule;
  seen: number;
  fired: number;
}

export class FaultSet implements Faults {
  private rules: RuleState[] = [];

  add(rule: FaultRule): void {
    if (rule.kind === 'latency' && !(rule.ms >= 0)) throw new Error('latency fault needs ms >= 0');
    if (rule.kind === 'status' && !(Number.isInteger(rule.status) && rule.status >= 100 && rule.status <= 599)) {
      throw new Error(`status fault needs an HTTP status, got ${String(rule.status)}`);
    }
    this.rules.push({ rule, seen: 0, fired: 0 });
  }

  clear(): void {
    this.rules = [];
  }

  /** Number of rules that can still fire. */
  get pending(): number {
    return this.rules.filter((r) => r.fired < (r.rule.times ?? 1)).length;
  }

  /** Decide which action (if any) applies to a request with this pathname, updating counters. */
  take(pathname: string, query: URLSearchParams = new URLSearchParams()): FaultAction | null {
    let chosen: FaultAction | null = null;
    for (const st of this.rules) {
      if (!pathMatches(st.rule.path, pathname) || !queryMatches(st.rule.query, query)) continue;
      st.seen++;
      if (chosen !== null) continue;
      const after = st.rule.after ?? 0;
      const times = st.rule.times ?? 1;
      if (st.seen > after && st.fired < times) {
        st.fired++;
        chosen = st.rule;
      }
    }
    return chosen;
  }
}

function queryMatches(wanted: Record<string, string> | undefined, query: URLSearchParams): boolean {
  return wanted === undefined || Object.entries(wanted).every(([name, value]) => query.get(name) === value);
}

function pathMatches(p: string | RegExp | undefined, pathname: string): boolean {
  if (p === undefined) return true;
  if (typeof p === 'string') return pathname === p || pathname === `/v1${p.startsWith('/') ? '' : '/'}${p}`;
  p.lastIndex = 0;
  return p.test(pathname);
}

/** A gateway error page like the ones load balancers send. */
export function gatewayHtml(status: number): string {
  const reason: Record<number, string> = { 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Time-out' };
  const r = reason[status] ?? 'Error';
  return `<html>\r\n<head><title>${status} ${r}</title></head>\r\n<body>\r\n<center><h1>${status} ${r}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}
