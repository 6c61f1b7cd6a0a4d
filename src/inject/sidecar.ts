/**
 * The injector of a manager that delivers each secret with one init-container sidecar (AWS, GCP, Azure; Flyte:
 * `secret/aws_secret_manager.go`, `secret/gcp_secret_manager.go`, `secret/azure_secret_manager.go`).
 *
 * Such a manager decides from the secret alone whether it takes it and what its sidecar is ({@link SidecarPlan});
 * the pod only comes in when the sidecar is added. So the injector is that decision plus `injectSidecar`, and it
 * offers the decision to the mutator too ({@link SecretInjector.planWithoutPod}), which adds all of a pod's sidecars
 * in one pass when it can (`addSidecars`).
 *
 * @module
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { SecretManagerType } from '../config/schema.js';
import type { Secret } from '../secret/model.js';
import { injected, refused, synchronousInjector, warnOnce, type InjectContext, type InjectOutcome, type Refusal, type SecretInjector, type SidecarPlan } from './injector.js';
import { editablePod, injectSidecar } from './pod-edit.js';

/** What a sidecar manager decides for one secret: its sidecar, or its refusal. */
export type SidecarDecision = SidecarPlan | Refusal;

/**
 * An injector whose `inject` adds the sidecar that `plan` gives for the secret (with `injectSidecar`, which may
 * still refuse: a destination that collides with another sidecar's), or answers `plan`'s refusal.
 *
 * @example
 * ```ts
 * return sidecarInjector('AWS', (secret) => (secret.key === '' ? notMine('…', 'InvalidSecret') : { sidecar: { … } }));
 * ```
 */
export function sidecarInjector(type: SecretManagerType, plan: (secret: Secret) => SidecarDecision): SecretInjector {
  function decide(secret: Secret, pod: Pod, ctx: InjectContext): InjectOutcome {
    const decision = plan(secret);
    if (!('sidecar' in decision)) return decision;
    const out = editablePod(pod);
    const problem = injectSidecar(out, decision.sidecar, ctx);
    if (problem !== undefined) return refused(problem.reason, problem.code);
    warnOnce(ctx.warnings, decision.warning?.(out));
    return injected(out);
  }
  return { ...synchronousInjector(type, decide), planWithoutPod: plan };
}
