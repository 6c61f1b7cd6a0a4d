/**
 * The one small interface every secret manager implements (spec §4), and the outcome type it returns.
 *
 * An injector takes one {@link Secret} request and a pod and answers with either a **new** pod carrying that secret
 * (volumes, mounts, env, init containers or annotations) or the reason it cannot deliver it. It never mutates its
 * inputs and does no I/O of its own (the Global provider's env/file lookup goes through injected functions; the
 * Embedded injector's fetches go through its fetcher).
 *
 * @module
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { SecretManagerType } from '../config/schema.js';
import type { ErrorCode } from '../errors.js';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import type { Secret } from '../secret/model.js';

/** Per-admission context passed to every injector. */
export interface InjectContext {
  /** Namespace of the pod being admitted. */
  namespace: string;
  /** Name of the pod (or its `generateName`, or `''` when neither is set yet). */
  podName: string;
  /** Admission warnings: push human-readable, value-free sentences here; they reach the client creating the pod. */
  warnings: string[];
  /** True for a dry-run admission: injectors with side effects (none of the built-in ones) must skip them. */
  dryRun?: boolean;
}

/**
 * What {@link SecretInjector.inject} answers: the new pod, or why this manager does not deliver the secret.
 * `reason` never contains a secret value; `code` is what callers branch on.
 */
export type InjectOutcome = { injected: true; pod: Pod } | { injected: false; reason: string; code: ErrorCode };

/**
 * One secret manager (Global, K8s, AWS, GCP, Vault, Azure, Embedded).
 *
 * @example
 * ```ts
 * const out = await injector.inject(secret, pod, { namespace: 'ns', podName: 'p', warnings: [] });
 * if (out.injected) pod = out.pod; else console.log(out.code, out.reason);
 * ```
 */
export interface SecretInjector {
  /** The manager type, as spelled in `webhook.secretManagerTypes`. */
  readonly type: SecretManagerType;
  /** Deliver `secret` into a copy of `pod`. Never mutates `secret` or `pod`. */
  inject(secret: Secret, pod: Pod, ctx: InjectContext): Promise<InjectOutcome>;
  /** Drop cached values of a Flyte-native secret (Embedded only). */
  invalidate?(id: FlyteSecretId): void;
}

/** A refusal outcome. */
export function refused(reason: string, code: ErrorCode): InjectOutcome {
  return { injected: false, reason, code };
}

/** A success outcome. */
export function injected(pod: Pod): InjectOutcome {
  return { injected: true, pod };
}
