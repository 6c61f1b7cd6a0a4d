/**
 * The one small interface every secret manager implements (Flyte: `secret/`), and the outcome type it returns.
 *
 * An injector takes one {@link Secret} request and a pod and answers with either a **new** pod carrying that secret
 * (volumes, mounts, env, init containers or annotations) or the reason it cannot deliver it. It never mutates its
 * inputs and does no I/O of its own (the Global provider's env/file lookup goes through injected functions; the
 * Embedded injector's fetches go through its fetcher).
 *
 * @module
 */
import type { EnvVar, Pod } from 'kubernetes-types/core/v1.js';
import type { SecretManagerType } from '../config/schema.js';
import type { ErrorCode } from '../errors.js';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import type { Secret } from '../secret/model.js';
import type { SidecarSpec } from './pod-edit.js';

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
  /**
   * Names of the init containers an earlier admission of this pod injected (sidecars, the Embedded file writer):
   * they receive no mounts or env from any manager, so re-admitting a mutated pod changes nothing (the mutator sets
   * it from the pod received; see `receivingContainers`). Absent: every container receives them, as in Flyte.
   */
  settledInitContainers?: ReadonlySet<string>;
  /**
   * Told every env var an injector sets on the pod's containers (`setSharedEnv` in pod-edit.ts calls it), including
   * one already present with the same definition. The mutator uses it to refuse a secret that would redefine an env
   * var an earlier secret of the pod set (two secrets with one `env_var`).
   */
  envSet?: (vars: readonly EnvVar[]) => void;
}

/**
 * What {@link SecretInjector.inject} answers: the new pod, or why this manager does not deliver the secret.
 * `reason` never contains a secret value; `code` is what callers branch on. `notMine` marks a refusal saying only
 * "this request is not for me" (fields this manager needs are empty, a mount requirement it does not support, a
 * group that is not its kind of name): the mutator then takes a denial's code from a manager that did claim the
 * secret (see `denialCode` in mutator.ts).
 */
export type InjectOutcome = { injected: true; pod: Pod } | Refusal;

/** An {@link InjectOutcome} that does not deliver the secret. */
export type Refusal = { injected: false; reason: string; code: ErrorCode; notMine?: boolean };

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
  /**
   * The same decision as {@link inject}, made without waiting when the injector needs no I/O for it: the outcome,
   * or `undefined` when only `inject` can decide (a backend must be read). The mutator calls this first, so the
   * usual admission (file and sidecar managers, Global refusing a secret that is not its own) runs without a
   * promise per manager and secret. Optional: an injector without it is always awaited.
   */
  injectNow?(secret: Secret, pod: Pod, ctx: InjectContext): InjectOutcome | undefined;
  /**
   * The decision for `secret` when the pod has no part in it: a refusal, or the one init-container sidecar that
   * delivers it (AWS, GCP, Azure); `undefined` when only the pod (or a backend) can decide. Pushes no warnings. The
   * mutator uses it to add all of a pod's sidecars in one pass (`addSidecars` in pod-edit.ts), and falls back to
   * {@link inject} secret by secret whenever a manager answers `undefined` or the pod is not one that pass handles;
   * `inject` stays the reference, and a property test holds the two paths equal. Optional.
   */
  planWithoutPod?(secret: Secret): SidecarPlan | Refusal | undefined;
  /** Drop cached values of a Flyte-native secret (Embedded only). */
  invalidate?(id: FlyteSecretId): void;
}

/** How an injector delivers one secret with an init-container sidecar ({@link SecretInjector.planWithoutPod}). */
export interface SidecarPlan {
  sidecar: SidecarSpec;
  /** The admission warning to give for the pod that got the sidecar (Azure without workload identity), if any. */
  warning?: ((pod: Pod) => string | undefined) | undefined;
}

/**
 * Add `warning` to an admission's warnings, unless it is undefined or there already (one line per kind of warning).
 *
 * @example
 * ```ts
 * warnOnce(ctx.warnings, k8sSecretNameWarning(group));
 * ```
 */
export function warnOnce(warnings: string[], warning: string | undefined): void {
  if (warning !== undefined && !warnings.includes(warning)) warnings.push(warning);
}

/** A refusal outcome. */
export function refused(reason: string, code: ErrorCode): Refusal {
  return { injected: false, reason, code };
}

/**
 * A refusal saying only that the request is not for this manager (see {@link InjectOutcome}'s `notMine`).
 *
 * @example
 * ```ts
 * if (secret.key === '') return notMine(`k8s Secrets Webhook require key to be set. Secret: [${secretToString(secret)}]`, 'InvalidSecret');
 * ```
 */
export function notMine(reason: string, code: ErrorCode): Refusal {
  return { injected: false, reason, code, notMine: true };
}

/**
 * A refusal whose reason is written only when read (once, then kept). For a manager that refuses most requests as a
 * matter of course (Global, first in every chain), so the sentence is not built for nothing: the mutator reads a
 * reason only when no manager delivers the secret. Reads exactly like {@link refused} (an enumerable `reason`).
 *
 * @example
 * ```ts
 * return refusedLazily(() => `… Secret: [${secretToString(secret)}]`, 'InvalidSecret');
 * ```
 */
export function refusedLazily(reason: () => string, code: ErrorCode, options: { notMine?: boolean } = {}): Refusal {
  return new LazyRefusal(reason, code, options.notMine === true);
}

/**
 * The object {@link refusedLazily} returns. `reason` is an own, enumerable accessor (so spreading, JSON and equality
 * see it as they see {@link refused}'s), defined with one getter shared by every instance: an object literal with
 * `get reason()` makes a new closure and accessor pair per object, costs ~10× more to build, and V8 keeps such
 * objects past the young-generation collections (measured: about 1 KB per admission promoted to the old generation).
 * The thunk and the text live in private fields, which no copy or comparison sees.
 */
class LazyRefusal {
  readonly injected = false;
  declare readonly reason: string;
  declare readonly code: ErrorCode;
  declare readonly notMine?: true;
  #make: (() => string) | undefined;
  #text: string | undefined;

  constructor(make: () => string, code: ErrorCode, notMine: boolean) {
    Object.defineProperty(this, 'reason', REASON);
    (this as { code: ErrorCode }).code = code;
    if (notMine) (this as { notMine?: true }).notMine = true;
    this.#make = make;
  }

  static reasonOf(r: LazyRefusal): string {
    let text = r.#text;
    if (text === undefined) {
      text = r.#make?.() ?? '';
      r.#text = text;
      r.#make = undefined;
    }
    return text;
  }
}

const REASON: PropertyDescriptor = {
  get(this: LazyRefusal): string {
    return LazyRefusal.reasonOf(this);
  },
  enumerable: true,
  configurable: true,
};

/**
 * An injector that never needs I/O: `decide` answers both {@link SecretInjector.injectNow} and, wrapped in a promise,
 * {@link SecretInjector.inject}, so the two can never disagree.
 *
 * @example
 * ```ts
 * return synchronousInjector('AWS', injectAws);
 * ```
 */
export function synchronousInjector(type: SecretManagerType, decide: (secret: Secret, pod: Pod, ctx: InjectContext) => InjectOutcome): SecretInjector {
  return {
    type,
    inject: (secret, pod, ctx) => Promise.resolve(decide(secret, pod, ctx)),
    injectNow: decide,
  };
}

/** A success outcome. */
export function injected(pod: Pod): InjectOutcome {
  return { injected: true, pod };
}
