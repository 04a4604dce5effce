/**
 * Secret scrubbing. The API key is registered once when the config is parsed; every message that leaves the
 * process through a log, a trace or an error passes through `redact`. Records never contain the key, so the
 * hot record path is not scrubbed.
 */
const secrets = new Set<string>();

/** fal keys look like `<key id>:<secret>`; the secret half alone is still a secret, the id half is not. */
export function registerSecret(value: string): void {
  const trimmed = value.trim();
  if (trimmed.length < 4) return;
  secrets.add(trimmed);
  const colon = trimmed.indexOf(':');
  if (colon >= 0 && trimmed.length - colon - 1 >= 8) secrets.add(trimmed.slice(colon + 1));
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join('****');
  }
  return out;
}

/** For tests only: forget registered secrets. */
export function clearSecretsForTest(): void {
  secrets.clear();
}
