/** The registry: the only list of streams. Order is the read order. */
import { billingEvents } from './billing_events.js';
import { invoices } from './invoices.js';
import type { Stream } from './stream.js';
import { usage } from './usage.js';

export const ALL_STREAMS: readonly Stream[] = [
  usage,
  billingEvents,
  invoices,
];

export function findStream(name: string): Stream | undefined {
  return ALL_STREAMS.find((stream) => stream.name === name);
}
