/** A parsed JSON value that is an object (not null, not an array): a type guard, so callers need no cast. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
