/** What the tap says about itself: `tap-fal --about` in the Meltano SDK's JSON or Markdown form, and its name. */
import { z } from 'zod';

import { connectionSpecification } from '../config.js';
import { packageVersion } from '../schemas.js';
import { ALL_STREAMS } from '../streams/index.js';

export const TAP_NAME = 'tap-fal';
const SINGER_CAPABILITIES = ['catalog', 'discover', 'state', 'about'] as const;

export function about(): Record<string, unknown> {
  return {
    name: TAP_NAME,
    description: 'Singer tap for fal.ai usage, cost and invoice data (the Singer face of source-fal).',
    version: packageVersion(),
    capabilities: [...SINGER_CAPABILITIES],
    streams: ALL_STREAMS.map((s) => s.name),
    settings: connectionSpecification(),
  };
}

/** The connector specification as --about --format=markdown reads it. */
const SettingsZ = z.object({
  properties: z.record(z.string(), z.object({ description: z.string().optional(), default: z.unknown().optional() })),
  required: z.array(z.string()).optional(),
});

export function aboutMarkdown(): string {
  const info = about();
  const settings = SettingsZ.parse(info.settings);
  const rows = Object.entries(settings.properties).map(
    ([name, p]) =>
      `| ${name} | ${settings.required?.includes(name) ? 'True' : 'False'} | ${p.default === undefined ? 'None' : JSON.stringify(p.default)} | ${(p.description ?? '').replace(/\|/g, '\\|')} |`,
  );
  return [
    `# ${TAP_NAME} ${String(info.version)}`,
    '',
    String(info.description),
    '',
    '## Capabilities',
    '',
    ...SINGER_CAPABILITIES.map((c) => `- \`${c}\``),
    '',
    '## Settings',
    '',
    '| Setting | Required | Default | Description |',
    '|:--|:--|:--|:--|',
    ...rows,
    '',
  ].join('\n');
}
