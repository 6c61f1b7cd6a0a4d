// Asserting that a call throws one of the project's own errors, and getting it for further checks.
import { expect } from 'vitest';
import { FlyteSecretsError } from '../../src/errors.js';

/** Run `fn`; it must throw a FlyteSecretsError, which is returned. */
export function errorOf(fn: () => unknown): FlyteSecretsError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FlyteSecretsError);
    return e as FlyteSecretsError;
  }
  throw new Error('expected an error');
}
