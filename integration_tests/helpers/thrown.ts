/** The ConfigError that `fn` throws; any other outcome fails the test. */
import { ConfigError } from '../../source-fal/errors.js';

export function thrownConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
