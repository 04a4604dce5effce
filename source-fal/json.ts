/** A parsed JSON value that is an object (not null, not an array): a type guard, so callers need no cast. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The `code` property of a thrown value (Node system errors, PostgreSQL errors), if it has one. */
export function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object' || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
