/**
 * Fixture API keys known to the fal emulator.
 *
 * A fal key looks like `<key_id>:<secret>` where key_id is a UUID and the secret is 32 hex characters.
 * The key id (the part before the colon) is what /v1/keys lists and what billing events carry in
 * `auth_method_structured.api_key_id`.
 *
 * These keys are fake and only ever accepted by the local emulator.
 */

export type KeyScope = 'ADMIN' | 'API';

export interface FixtureKey {
  /** The full secret, as sent in `Authorization: Key <key>`. */
  readonly key: string;
  /** The public key id (the UUID before the colon). */
  readonly keyId: string;
  /** Account (team or personal username) that owns the key. */
  readonly account: string;
  readonly scope: KeyScope;
  readonly alias: string;
  readonly createdAt: string;
  readonly creatorNickname: string;
  readonly creatorEmail: string;
}

/** ADMIN scope on account `acme-ml` (a team of org "Acme Inc", not its root); FOCUS reports enabled. */
export const ADMIN_KEY = 'c157a751-27ca-4bda-ae7b-0b95db35cd23:8430d1afcf5cc0b2b3e823f8fdf325cf';
/** API scope on account `acme-ml`; used by the "Production Key" traffic in the event stream. ADMIN endpoints answer 403. */
export const API_KEY = '3b0a5126-1a02-47c7-971e-bf20fd7aa5e4:8d4cf37bee65ddd028859524f32df916';
/** ADMIN scope on personal account `solo-dev`; FOCUS reports disabled, no organization. */
export const NOFOCUS_ADMIN_KEY = '659efd79-c186-4bb5-9851-d16653cb09f4:56f0fe60e3f952c16c8eba9eb31f942e';
/** ADMIN scope on account `acme`, the root team of organization "Acme Inc" (teams acme, acme-ml, acme-infra); FOCUS enabled. */
export const ORG_ADMIN_KEY = '152dddd7-5e4c-450a-848c-09376631c575:686d82cb6a1597dc56c20385128bb19f';
/** Well-formed but unknown to the emulator: every request answers 401. */
export const UNKNOWN_KEY = 'fad6046a-3ecd-46be-bdea-664e1899ef61:859bab8082a784e7de9fd1b07b560e09';

function fixture(
  key: string,
  account: string,
  scope: KeyScope,
  alias: string,
  createdAt: string,
  creatorNickname: string,
): FixtureKey {
  const keyId = key.slice(0, key.indexOf(':'));
  return {
    key,
    keyId,
    account,
    scope,
    alias,
    createdAt,
    creatorNickname,
    creatorEmail: `${creatorNickname}@example.com`,
  };
}

/** Every key the emulator accepts, in /v1/keys listing order per account (created_at, then key_id). */
export const FIXTURE_KEYS: readonly FixtureKey[] = [
  // acme-ml
  fixture(ADMIN_KEY, 'acme-ml', 'ADMIN', 'Warehouse Sync', '2025-01-10T09:00:00Z', 'alice'),
  fixture(API_KEY, 'acme-ml', 'API', 'Production Key', '2025-01-12T10:30:00Z', 'alice'),
  fixture(
    '851a5d27-cc65-4e00-b45c-73fd68538e11:25ae478ab5f38969b271334d682423e9',
    'acme-ml',
    'API',
    'Batch Jobs',
    '2025-02-03T14:05:00Z',
    'bob',
  ),
  fixture(
    '81052ab2-6259-441d-aa66-2ac807f38907:fd74e7dbe146aca00bd2e2b57b623487',
    'acme-ml',
    'API',
    'Staging',
    '2025-03-21T08:45:00Z',
    'bob',
  ),
  // solo-dev
  fixture(NOFOCUS_ADMIN_KEY, 'solo-dev', 'ADMIN', 'Admin', '2025-02-01T12:00:00Z', 'sam'),
  fixture(
    'f041d10b-da87-4821-8b37-9afa195ab198:e1f857dc8637cd7eb650ce46ac244bb5',
    'solo-dev',
    'API',
    'Default Key',
    '2025-02-01T12:05:00Z',
    'sam',
  ),
  fixture(
    '5e36115d-ec74-428d-8800-f014dc51408e:8fa120891f9356a56bde37c3118f48c2',
    'solo-dev',
    'API',
    'Laptop',
    '2025-04-18T19:20:00Z',
    'sam',
  ),
  // acme (organization root team)
  fixture(ORG_ADMIN_KEY, 'acme', 'ADMIN', 'Org Admin', '2025-01-05T09:00:00Z', 'carol'),
  fixture(
    '1661732a-6d8f-4b10-b82a-41438742d8f8:e5f88e68d5ee2d8f7049657c5f91e3fc',
    'acme',
    'API',
    'Org Production',
    '2025-01-06T11:00:00Z',
    'carol',
  ),
  fixture(
    'b5e852d4-4908-4c6c-927f-75b1b508f7f5:57f246825c5feecf6a83936aa6008738',
    'acme',
    'API',
    'Org Research',
    '2025-02-14T16:40:00Z',
    'alice',
  ),
  // acme-infra
  fixture(
    'ed50e1f1-810d-4354-b583-645934d32545:cf3561e6e6b821cffdb66e390df0f9b3',
    'acme-infra',
    'ADMIN',
    'Infra Admin',
    '2025-01-08T09:30:00Z',
    'dave',
  ),
  fixture(
    '10ea4ed9-1c5f-4ad5-84b0-440d0ac40b44:cd64f15a27ba693744278921b49304a9',
    'acme-infra',
    'API',
    'Infra Key',
    '2025-01-08T09:35:00Z',
    'dave',
  ),
  fixture(
    'acfd06fe-ca40-4936-b49e-f43764c3a098:e4dd547fb289cc775527287923c7ba05',
    'acme-infra',
    'API',
    'CI Key',
    '2025-05-02T07:15:00Z',
    'dave',
  ),
];

const BY_SECRET = new Map<string, FixtureKey>(FIXTURE_KEYS.map((k) => [k.key, k]));

/** Look up a full key string; undefined when the emulator does not know it. */
export function findKey(key: string): FixtureKey | undefined {
  return BY_SECRET.get(key);
}

/** Keys of one account, in listing order. */
export function keysOfAccount(account: string): FixtureKey[] {
  return FIXTURE_KEYS.filter((k) => k.account === account);
}
