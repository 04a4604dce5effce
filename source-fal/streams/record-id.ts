/**
 * Deterministic primary keys for grains that have no natural key or have nullable parts (docs/design.md: a composite
 * key with a null part never matches in a warehouse MERGE, so re-reads duplicate). The digest covers every grain
 * part, with null kept distinct from "", and is stable across runs, machines and Node versions.
 */
import { createHash } from 'node:crypto';

export function digestId(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}
