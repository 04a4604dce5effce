/**
 * `api_keys`: the account's API keys (id, alias, scope, creation time, creator), to name the `api_key_id` seen in
 * usage and billing rows. Endpoint: GET /v1/keys?expand=creator_info, https://fal.ai/docs/platform-apis/v1/keys/list.
 * fal's list carries no secrets; any field whose name says it might hold one is dropped anyway,
 * because a secret must never reach a warehouse (docs/design.md).
 */
import { z } from 'zod';

import { ResponseShapeError } from '../errors.js';
import { CursorEnvelope, cursorPages } from '../http/paginate.js';
import { normalizeTimestamp } from '../time.js';
import type { SnapshotStream, StreamRecord } from './stream.js';

/** Page size for /keys: 100 is the cap third parties report. */
const KEYS_PAGE_LIMIT = 100;

const Page = CursorEnvelope.extend({
  keys: z.array(z.object({ key_id: z.string().min(1), created_at: z.string().nullish() }).loose()),
});

/** Field names that could carry key material: `key`, `secret`, `key_secret`, `token`, `password`, `api_key`… */
const SECRET_FIELD = /(^|_)(key|api_key|secret|token|password|credentials?)$|secret|password|token/i;

export const apiKeys: SnapshotStream = {
  kind: 'snapshot',
  name: 'api_keys',
  primaryKey: ['key_id'],
  requires: 'admin',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/keys/list',
  async *read(ctx) {
    const dropped = new Set<string>();
    const pages = cursorPages({
      client: ctx.client,
      path: '/keys',
      query: { expand: ['creator_info'] },
      limit: KEYS_PAGE_LIMIT,
      schema: Page,
    });
    for await (const page of pages) yield page.keys.map((key) => keyRecord(key, dropped));
    if (dropped.size > 0) {
      ctx.log.log(
        'WARN',
        `api_keys: fal sent field(s) ${[...dropped].sort().join(', ')} that may hold secrets; they were left out of every record.`,
      );
    }
  },
};

function keyRecord(key: z.infer<typeof Page>['keys'][number], dropped: Set<string>): StreamRecord {
  const record: StreamRecord = {};
  for (const [field, value] of Object.entries(key)) {
    if (field !== 'key_id' && SECRET_FIELD.test(field)) dropped.add(field);
    else record[field] = value;
  }
  if (typeof key.created_at === 'string') {
    try {
      record.created_at = normalizeTimestamp(key.created_at);
    } catch {
      throw new ResponseShapeError(
        `fal sent key ${key.key_id} with a created_at that is not a timestamp: ${JSON.stringify(key.created_at)}.`,
        {
          endpoint: 'GET /keys',
        },
      );
    }
  } else record.created_at = null;
  return record;
}
