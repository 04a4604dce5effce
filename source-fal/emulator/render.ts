/**
 * Byte-level JSON rendering of billing events. Pages hold up to 10,000 events, so the text is written
 * straight into one Buffer from pre-encoded pieces rather than built from many small strings:
 *   {"request_id":"<36 bytes>","endpoint_id":"…","timestamp":"YYYY-MM-DDT  (per endpoint and day)
 *   HH:MM:SS                                                                 (table of 86,400)
 *   Z","output_units":…,"cost_estimate_nano_usd":…,"unit"…,"tags"…[,"auth_method"…]}  (per price/units/discount/auth)
 * The output is byte-for-byte what JSON.stringify would give for the same object.
 */
import {
  type AccountModel,
  DAY_SEC,
  type DayData,
  ENDPOINTS,
  eventTags,
  hms,
  MAX_K,
  RID_LEN,
  type World,
} from './data.js';

const OPEN = Buffer.from('{"request_id":"', 'latin1');
const OPEN_LEN = OPEN.length;

let HMS_BYTES: Uint8Array | null = null;
function hmsBytes(): Uint8Array {
  if (HMS_BYTES === null) {
    const t = new Uint8Array(DAY_SEC * 8);
    for (let x = 0; x < DAY_SEC; x++) t.set(Buffer.from(hms(x), 'latin1'), x * 8);
    HMS_BYTES = t;
  }
  return HMS_BYTES;
}

/** Which auth fields to add: bit 1 = auth_method, bit 2 = auth_method_structured. */
export type AuthMode = 0 | 1 | 2 | 3;

export interface Chunk {
  readonly dd: DayData;
  readonly idx: readonly number[];
}

export class BillingEventRenderer {
  /** Per account: tail bytes indexed by tailIndex(). */
  private readonly tails = new Map<string, (Buffer | undefined)[]>();

  /** Reusable output buffers: fresh multi-megabyte allocations per page cost more in page faults than the rendering. */
  private readonly pool: Buffer[] = [];

  /** `legacy`: fal's older shape, whose events had no `unit`, `quantity` or `tags` (EmulatorOptions.legacyShapes). */
  constructor(
    private readonly world: World,
    private readonly legacy = false,
  ) {}

  private acquire(size: number): Buffer {
    const i = this.pool.findIndex((b) => b.length >= size);
    if (i >= 0) return this.pool.splice(i, 1)[0]!;
    return Buffer.allocUnsafeSlow(Math.max(size, 1 << 20));
  }

  /** Give back a buffer from render() once the response using it has been fully written. */
  release(backing: Buffer): void {
    if (this.pool.length < 4 && backing.length <= 64 << 20 && !this.pool.includes(backing)) this.pool.push(backing);
  }

  private tailTable(acct: AccountModel): (Buffer | undefined)[] {
    let table = this.tails.get(acct.username);
    if (!table) {
      table = new Array<Buffer | undefined>(ENDPOINTS.length * 2 * MAX_K * acct.identities.length * 4).fill(undefined);
      this.tails.set(acct.username, table);
    }
    return table;
  }

  /** The text after the timestamp's HH:MM:SS: `Z"`, the cost fields, the auth fields, `}`. */
  private buildTail(
    acct: AccountModel,
    ep: number,
    pv: number,
    k: number,
    pct: number,
    auth: number,
    mode: AuthMode,
  ): Buffer {
    let s = 'Z"' + this.world.costFragment(ep, pv, k, pct);
    const id = acct.identities[auth]!;
    if (!this.legacy) {
      const def = ENDPOINTS[ep]!;
      s += `,"unit":${JSON.stringify(def.unit)},"quantity":${k / def.unitDenominator},"tags":${JSON.stringify(eventTags(def, id.kind === 'key'))}`;
    }
    if (mode & 1) s += ',"auth_method":' + id.authMethodJson;
    if (mode & 2) s += ',"auth_method_structured":' + id.structuredJson;
    return Buffer.from(s + '}', 'utf8');
  }

  /**
   * `head` + events joined by commas + `tail`. `body` is a view of `backing`; pass `backing` to
   * release() when the body is no longer needed, or drop it.
   */
  render(
    acct: AccountModel,
    chunks: readonly Chunk[],
    mode: AuthMode,
    head: string,
    tail: string,
  ): { body: Buffer; backing: Buffer } {
    let total = 0;
    for (const c of chunks) total += c.idx.length;
    const headB = Buffer.from(head, 'utf8');
    const tailB = Buffer.from(tail, 'utf8');
    let buf = this.acquire(headB.length + tailB.length + total * 400 + 64);
    let pos = buf.write(head, 0, 'utf8');
    const HMS = hmsBytes();
    const table = this.tailTable(acct);
    const nAuth = acct.identities.length;
    let first = true;
    for (const { dd, idx } of chunks) {
      const mids = this.world.endpointJson.map((e) =>
        Buffer.from(`","endpoint_id":${e},"timestamp":"${dd.datePrefix}`, 'utf8'),
      );
      const { ts, ep, k, pv, pct, auth, ridBytes, dayStartSec } = dd;
      for (const i of idx) {
        const e = ep[i]!;
        const mid = mids[e]!;
        // pct is a function of (endpoint, auth), so it needs no place in the index
        const ti = (((e * 2 + pv[i]!) * MAX_K + k[i]!) * nAuth + auth[i]!) * 4 + mode;
        let t = table[ti];
        if (t === undefined) {
          t = this.buildTail(acct, e, pv[i]!, k[i]!, pct[i]!, auth[i]!, mode);
          table[ti] = t;
        }
        const need = 1 + OPEN.length + RID_LEN + mid.length + 8 + t.length;
        if (pos + need + tailB.length > buf.length) {
          const bigger = this.acquire(Math.max(buf.length * 2, pos + need + tailB.length + 1024));
          buf.copy(bigger, 0, 0, pos);
          this.release(buf);
          buf = bigger;
        }
        if (first) first = false;
        else buf[pos++] = 44; // ,
        for (let j = 0; j < OPEN_LEN; j++) buf[pos + j] = OPEN[j]!;
        pos += OPEN_LEN;
        const r = i * RID_LEN;
        for (let j = 0; j < RID_LEN; j++) buf[pos + j] = ridBytes[r + j]!;
        pos += RID_LEN;
        pos += mid.copy(buf, pos);
        const h = (ts[i]! - dayStartSec) * 8;
        for (let j = 0; j < 8; j++) buf[pos + j] = HMS[h + j]!;
        pos += 8;
        pos += t.copy(buf, pos);
      }
    }
    buf.set(tailB, pos);
    pos += tailB.length;
    return { body: buf.subarray(0, pos), backing: buf };
  }
}
