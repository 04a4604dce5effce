/** Reconciliation vocabulary: records upserted by primary key, then exact nano-USD sums per UTC day. */

/** The last record per primary key, as a warehouse upsert keeps it. */
export function upsert(rows: readonly Record<string, unknown>[], key: string): Record<string, unknown>[] {
  const latest = new Map<string, Record<string, unknown>>();
  for (const row of rows) latest.set(String(row[key]), row);
  return [...latest.values()];
}

/** Sum of an integer nano-USD column per UTC day of a timestamp column (first 10 characters of RFC 3339). */
export function nanoByDay(
  rows: readonly Record<string, unknown>[],
  dayField: string,
  nanoField: string,
): Map<string, bigint> {
  const days = new Map<string, bigint>();
  for (const row of rows) {
    const nano = row[nanoField];
    if (typeof nano !== 'number' || !Number.isInteger(nano))
      throw new Error(`${nanoField} is not an integer: ${JSON.stringify(row)}`);
    const day = String(row[dayField]).slice(0, 10);
    days.set(day, (days.get(day) ?? 0n) + BigInt(nano));
  }
  return days;
}

/** A map as sorted [day, amount] pairs, for readable equality failures. */
export const sortedDays = (m: ReadonlyMap<string, bigint>): [string, string][] =>
  [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.toString()]);

export const total = (m: ReadonlyMap<string, bigint>): bigint => [...m.values()].reduce((a, b) => a + b, 0n);
