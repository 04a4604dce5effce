/**
 * The benchmark's yardstick: the least work that moves fal billing events to stdout as Airbyte RECORD lines.
 * Same requests as the connector (one UTC day per window, limit 10,000, expand=auth_method_structured, the same
 * undici keep-alive agent), real JSON.parse of every page, one real RECORD line per event, written in batches with
 * backpressure. No validation, no normalisation, no state, no statuses: what the connector costs above this is
 * its overhead.
 *
 *   BENCH_API_KEY=… node dist/bench/minimal-reader.js <base_url> <start ISO> <end ISO>
 */
import { once } from 'node:events';

import { Agent, request } from 'undici';

const DAY_MS = 86_400_000;

async function main(): Promise<void> {
  const [baseUrl, startText, endText] = process.argv.slice(2);
  const apiKey = process.env.BENCH_API_KEY;
  if (!baseUrl || !startText || !endText || !apiKey)
    throw new Error('usage: BENCH_API_KEY=… minimal-reader <base_url> <start> <end>');
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 4 });
  const end = Date.parse(endText);
  const head = '{"type":"RECORD","record":{"stream":"billing_events","emitted_at":';
  for (let start = Date.parse(startText); start < end; start += DAY_MS) {
    const windowEnd = Math.min(start + DAY_MS, end);
    let cursor: string | undefined;
    do {
      const params = new URLSearchParams({
        start: new Date(start).toISOString(),
        end: new Date(windowEnd).toISOString(),
        limit: '10000',
        expand: 'auth_method_structured',
      });
      if (cursor) params.set('cursor', cursor);
      const response = await request(`${baseUrl}/models/billing-events?${params.toString()}`, {
        dispatcher: agent,
        headers: { authorization: `Key ${apiKey}`, accept: 'application/json' },
      });
      const page = JSON.parse(await response.body.text()) as {
        billing_events: unknown[];
        next_cursor: string | null;
        has_more: boolean;
      };
      const prefix = `${head}${Date.now()},"data":`;
      let text = '';
      for (const event of page.billing_events) text += `${prefix}${JSON.stringify(event)}}}\n`;
      if (!process.stdout.write(text)) await once(process.stdout, 'drain');
      cursor = page.has_more && page.next_cursor ? page.next_cursor : undefined;
    } while (cursor);
  }
  await agent.close();
}

main().catch((error: unknown) => {
  process.stderr.write(`minimal-reader: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
