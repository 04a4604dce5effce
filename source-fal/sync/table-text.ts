/** Query results as a plain text table, for the demo and `source-fal reconcile`. */
/** A small text table; decimals are trimmed of trailing zeros for reading, never rounded. */
export function formatRows(rows: readonly Record<string, unknown>[], limit = 24): string {
  if (rows.length === 0) return '(no rows)\n';
  const headers = Object.keys(rows[0] ?? {});
  const shown = rows.slice(0, limit).map((row) => headers.map((h) => cellText(row[h])));
  const widths = headers.map((h, i) => Math.max(h.length, ...shown.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => shown.every((r) => /^-?[\d.,]*$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const lines = [line(headers), line(widths.map((w) => '-'.repeat(w))), ...shown.map(line)];
  if (rows.length > limit) lines.push(`… ${rows.length - limit} more rows`);
  return `${lines.join('\n')}\n`;
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /^-?\d+\.\d+$/.test(text) ? text.replace(/\.?0+$/, '') : text.replace(/ 00:00:00(\+00)?$/, '');
}
