import { describe, expect, it } from 'vitest';

import { useFalMock } from '../integration_tests/helpers/fal-mock.js';
import { probeCapabilities } from './capabilities.js';

const NOW = Date.UTC(2026, 6, 27, 15, 30);
const { context, reply } = useFalMock({ now: NOW, startDate: '2026-07-01' });

const billing = (): void =>
  reply('/v1/account/billing', { body: { username: 'acme-ml', credits: { current_balance: 1 } } });
const envelope = (type: string): unknown => ({ error: { type, message: 'no', request_id: 'r-1' } });

describe('probeCapabilities', () => {
  it.for([400, 402, 403, 404, 405, 409, 410, 422] as const)(
    'given fal answers HTTP %i to the organization probe when probed then the organization streams are absent and the probe does not fail',
    async (status) => {
      billing();
      reply('/v1/organization/teams', { status, body: envelope('validation_error') });

      const { username, available } = await probeCapabilities(context(), new Set(['admin', 'org_admin'] as const));

      expect(username).toBe('acme-ml');
      expect(available.get('org_admin')).toEqual({ ok: false, reason: expect.stringMatching(/organization/) });
    },
  );
});
