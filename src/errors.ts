/**
 * The project's error classes. Every error we raise on purpose is a {@link FlyteSecretsError} with a stable
 * `code`; callers branch on `code`, never on message text. Messages never contain secret values.
 *
 * @module
 */

/** Stable error codes. Flyte's own codes (`SecretNotFound`, …) keep Flyte's spelling. */
export type ErrorCode =
  | 'InvalidAnnotation'
  | 'InvalidSecret'
  | 'InvalidFlyteId'
  | 'InvalidKeyVaultName'
  | 'InvalidKeyVaultUri'
  | 'InvalidEnvelope'
  | 'InvalidPath'
  | 'InvalidConfig'
  | 'InvalidInput'
  | 'InjectionRefused'
  | 'SecretNotFound'
  | 'SecretReadFailure'
  | 'SecretNil'
  | 'SecretNotFoundAcrossAllScopes'
  | 'SecretRequirementsError'
  | 'KubernetesApi'
  | 'BrokerRefused'
  | 'Usage'
  | 'Internal';

/** Options shared by every error class: an optional cause, kept for logs and `caused by` chains. */
export interface ErrorOptions {
  cause?: unknown;
}

/**
 * Base class of every error this project raises on purpose.
 *
 * @example
 * ```ts
 * try { decodeAnnotations(pod) } catch (e) { if (isFlyteSecretsError(e, 'InvalidAnnotation')) … }
 * ```
 */
export class FlyteSecretsError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `err` is one of our errors, optionally with the given code. */
export function isFlyteSecretsError(err: unknown, code?: ErrorCode): err is FlyteSecretsError {
  return err instanceof FlyteSecretsError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for places that must print something (never includes a stack). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
