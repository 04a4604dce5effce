/**
 * `source-fal reconcile`: prints the invoice_reconciliation view that `sync` keeps (fal's estimates against its
 * invoices per charge month), from the same destination sync loads. It reads only: it never creates a file, a
 * schema or a view.
 */
import { existsSync } from 'node:fs';

import { parseFlags, usageError } from '../cli-args.js';
import type { BinIo } from '../cli-io.js';
import { asSourceFalError, ConfigError } from '../errors.js';
import { redact } from '../redact.js';
import { DEFAULT_DUCKDB } from './command.js';
import { type Destination, DestinationConfigError, parseSchemaName, SCHEMA } from './destination.js';
import { openDestination, parseTarget } from './destinations.js';
import { formatRows } from './table-text.js';

export const RECONCILE_USAGE = `Usage:
  source-fal reconcile [--destination <duckdb file|postgres://…>] [--schema <name>]

  Prints fal's daily estimates against its invoices per charge month (the invoice_reconciliation view that
  source-fal sync keeps), with the difference in USD and %, Tax and Credit lines apart, and months not invoiced
  yet as pending.
  --destination  what sync loaded (default ./fal.duckdb; also from SOURCE_FAL_DESTINATION)
  --schema       the schema sync loaded (default fal; also from SOURCE_FAL_SCHEMA)`;

const QUERY = (
  schema: string,
): string => `SELECT substr(CAST(charge_month AS VARCHAR), 1, 7) AS month, charge_category AS category,
  service_name AS service, estimated_usd, invoiced_usd, difference_usd, difference_pct, status
FROM ${schema}.invoice_reconciliation
ORDER BY charge_month, CASE charge_category WHEN 'Usage' THEN 0 ELSE 1 END, charge_category, service_name`;

export async function runReconcile(argv: readonly string[], io: BinIo): Promise<number> {
  const command = { name: 'source-fal reconcile', usage: RECONCILE_USAGE, stdout: io.stdout, stderr: io.stderr };
  const values = parseFlags(
    argv,
    { destination: { type: 'string' }, schema: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    command,
  );
  if (typeof values === 'number') return values;
  let destination: Destination | undefined;
  try {
    const schema = parseSchemaName(values.schema ?? io.env.SOURCE_FAL_SCHEMA ?? SCHEMA);
    const target = parseTarget(values.destination ?? io.env.SOURCE_FAL_DESTINATION ?? DEFAULT_DUCKDB);
    if (target.dialect === 'parquet') {
      return usageError(
        command,
        'reconcile reads a DuckDB or PostgreSQL destination; for Parquet files, build invoice_reconciliation with the dbt package (dbt/) where you load them.',
      );
    }
    if (target.dialect === 'duckdb' && !existsSync(target.path)) {
      io.stderr.write(
        `source-fal reconcile: there is no DuckDB file at ${target.path}. Run source-fal sync first (it writes ./fal.duckdb by default), or pass --destination with the file sync wrote.\n`,
      );
      return 1;
    }
    destination = await openDestination(target, { log: { log: () => undefined }, schema, env: io.env });
    let rows: Record<string, unknown>[];
    try {
      rows = await destination.query(QUERY(destination.namespace.sql));
    } catch (error) {
      io.stderr.write(
        `source-fal reconcile: ${destination.description} has no view ${schema}.invoice_reconciliation (${redact(asSourceFalError(error).message.split('\n')[0] ?? '')}). Run source-fal sync (0.4.0 or later) into it first; sync creates the view.\n`,
      );
      return 1;
    }
    io.stdout.write(
      `fal estimates against invoices, per charge month (${destination.description}, schema ${schema}):\n\n`,
    );
    io.stdout.write(formatRows(rows, Number.POSITIVE_INFINITY));
    const differs = rows.filter((row) => row.status === 'differs').length;
    io.stdout.write(
      `\n${differs === 0 ? 'No invoiced month differs from its estimates.' : `${differs} usage line${differs > 1 ? 's' : ''} differ${differs > 1 ? '' : 's'} from the estimates: difference_usd = invoiced − estimated.`}\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof DestinationConfigError || error instanceof ConfigError)
      return usageError(command, error.message);
    io.stderr.write(`source-fal reconcile: ${redact(asSourceFalError(error).describe())}\n`);
    return 1;
  } finally {
    await destination?.close().catch(() => undefined);
  }
}
