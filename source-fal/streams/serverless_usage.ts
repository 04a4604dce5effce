/**
 * `serverless_usage`: Serverless compute (machine-seconds) usage and cost per UTC bucket, app, environment,
 * machine type, surge flag, price and discount.
 * Endpoint: GET /v1/serverless/usage, https://fal.ai/docs/platform-apis/v1/serverless/usage.
 * `app` and `environment` may be null (unattributed usage), so the key is a digest `id`, never a composite of raw
 * columns. The endpoint has no auth expansion.
 */
import { z } from 'zod';

import { bucketedStream, moneyColumns, usageLine } from './bucketed.js';
import { digestId } from './record-id.js';

const ServerlessLine = usageLine('a serverless usage line', {
  app: z.string().nullish(),
  environment: z.string().nullish(),
  machine_type: z.string(),
  // Surge and non-surge usage come back as separate rows; a line without the flag could not be keyed.
  is_surge: z.boolean(),
});

export const serverlessUsage = bucketedStream({
  name: 'serverless_usage',
  path: '/serverless/usage',
  docsUrl: 'https://fal.ai/docs/platform-apis/v1/serverless/usage',
  requires: 'admin',
  expand: ['time_series'],
  line: ServerlessLine,
  toRecord(line, bucket, timeframe) {
    const app = line.app ?? null;
    const environment = line.environment ?? null;
    const money = moneyColumns(line);
    return {
      ...line,
      // null and 0 discount are one grain (as in usage); null app/environment stay distinct from "".
      id: digestId([
        timeframe,
        bucket,
        app,
        environment,
        line.machine_type,
        line.unit_price,
        money.percent_discount ?? 0,
        line.is_surge,
      ]),
      bucket,
      timeframe,
      app,
      environment,
      ...money,
    };
  },
});
