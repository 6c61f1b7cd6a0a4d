/**
 * The pod mutator (Flyte: `secret/secrets_pod_mutator.go`): decode the pod's `flyte.secrets/s<i>` annotations, hand each secret to the
 * chain of secret managers (Global first, then `webhook.secretManagerTypes`) until one delivers it, and answer with
 * the mutated pod and the RFC 6902 patch from the pod received. The usual pod, whose secrets all go to one sidecar
 * manager (AWS, GCP, Azure), is done in one pass that writes the patch directly (`sidecarsInOnePass`); the chain,
 * secret by secret, is the reference it is tested against (`createMutator(…, { onePass: false })`).
 *
 * Differences from Flyte (see docs/compatibility.md, "Injectors and the mutator"):
 * - secrets are processed in annotation-index order (s0, s1, …, s10), so identical pods get identical patches;
 * - a refusal keeps Flyte's prefix, then gives the reasons of the managers that could have served the secret, the
 *   decisive one first ({@link denialMessage}); its code is the most specific one ({@link denialCode}: the first
 *   manager that claimed the secret), not the last manager's;
 * - an injection that would mount a second volume at a path where another one is already mounted (e.g. AWS and
 *   Azure both at `/etc/flyte/secrets`, Flyte's `secret/secrets_pod_mutator.go`), or redefine an env var that an earlier secret of the pod set
 *   (two secrets with one `env_var`; Flyte lets the last one win, and a second pass would reorder them), counts as
 *   that manager refusing, with a clear reason;
 * - re-admitting a mutated pod changes nothing (empty patch), while a container added in between gets its share: the
 *   init containers injected by the first pass (sidecars, the Embedded file writer) are left exactly as that pass
 *   left them, wherever their secret stood in the annotation order (`receivingContainers` in pod-edit.ts).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Container, EnvVar, Pod } from 'kubernetes-types/core/v1.js';
import { enabledManagers, type Config, type SecretManagerType } from '../config/schema.js';
import { FlyteSecretsError, isFlyteSecretsError, type ErrorCode } from '../errors.js';
import { decodeSecretAnnotations, secretToString, type DecodedSecret } from '../secret/annotations.js';
import { SECRETS_MOUNT_ROOT } from '../secret/paths.js';
import { AGENT_CONTAINER_NAME, AGENT_ENV_VOLUME_NAME } from './agent.js';
import { AWS_VOLUME_NAME, createAwsInjector } from './aws.js';
import { AZURE_VOLUME_NAME, createAzureInjector } from './azure.js';
import { EMBEDDED_VOLUME_NAME } from './embedded.js';
import { createGcpInjector, GCP_VOLUME_NAME } from './gcp.js';
import { createGlobalInjector } from './global.js';
import { warnOnce, type InjectContext, type InjectOutcome, type SecretInjector, type SidecarPlan } from './injector.js';
import { createK8sInjector } from './k8s.js';
import { createPatch, type JsonPatchOp } from './patch.js';
import { addSidecars, injectedInitContainers, quote, sameEnvVar, type SidecarSpec } from './pod-edit.js';
import { createVaultInjector, VAULT_ANNOTATION_PREFIX } from './vault.js';

/** Flyte's prefix of the message given when no manager delivers a secret (exported in Flyte for matching). */
export const NONE_INJECTED_PREFIX = 'none of the secret managers injected secret';

/** The result of {@link PodMutator.mutate}. */
export type MutationOutcome =
  /** The pod asks for no secrets: admit it as is. */
  | { kind: 'unchanged'; secrets: 0 }
  /** Every secret was delivered; `patch` turns the received pod into `pod` (empty when it already had them all). */
  | {
      kind: 'mutated';
      pod: Pod;
      patch: JsonPatchOp[];
      /** `JSON.stringify(patch)`, when the mutator wrote it with the patch (the one pass for sidecar managers). */
      patchJson?: string;
      warnings: string[];
      managers: SecretManagerType[];
      secrets: number;
    }
  /** Refuse the pod: `message` says which secret and why (never a secret value). */
  | { kind: 'denied'; message: string; code: ErrorCode; warnings: string[]; secrets: number };

/** Options of {@link createMutator}. */
export interface MutatorOptions {
  /**
   * Add all of a pod's sidecars in one pass when every secret goes to one sidecar manager (default true). False
   * decides every pod secret by secret, the reference the one pass is tested against.
   */
  onePass?: boolean;
}

/** Turns an admitted pod into the pod with its secrets. */
export interface PodMutator {
  /** Mutate one pod. Never throws for bad input: a bad request is a `denied` outcome. */
  mutate(pod: Pod, ctx: { namespace: string; dryRun: boolean }): Promise<MutationOutcome>;
  /** The chain, in order (Global first). */
  readonly managers: readonly SecretManagerType[];
}

/** What {@link buildInjectors} needs besides the config. */
export interface InjectorDeps {
  /** Environment of the webhook process, for the Global provider (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** File reader for the Global provider (default `fs.promises.readFile`). */
  readFile?: (path: string) => Promise<Uint8Array>;
  /** The Embedded injector (required when `Embedded` is in the chain). */
  embedded?: SecretInjector;
}

/**
 * One injector per manager of the chain (`enabledManagers(config.webhook)`). Throws {@link FlyteSecretsError}
 * `InvalidConfig` when Embedded is enabled but `deps.embedded` is not given.
 *
 * @example
 * ```ts
 * const mutator = createMutator(config, buildInjectors(config, { embedded: createEmbeddedInjector(…) }));
 * ```
 */
export function buildInjectors(config: Config, deps: InjectorDeps = {}): Map<SecretManagerType, SecretInjector> {
  const out = new Map<SecretManagerType, SecretInjector>();
  for (const type of enabledManagers(config.webhook)) {
    switch (type) {
      case 'Global':
        out.set(type, createGlobalInjector(config, { env: deps.env ?? process.env, readFile: deps.readFile ?? ((p) => readFile(p)) }));
        break;
      case 'K8s':
        out.set(type, createK8sInjector(config));
        break;
      case 'AWS':
        out.set(type, createAwsInjector(config));
        break;
      case 'GCP':
        out.set(type, createGcpInjector(config));
        break;
      case 'Vault':
        out.set(type, createVaultInjector(config));
        break;
      case 'Azure':
        out.set(type, createAzureInjector(config));
        break;
      case 'Embedded':
        if (deps.embedded === undefined) {
          throw new FlyteSecretsError(
            'InvalidConfig',
            'the Embedded secret manager is enabled (webhook.secretManagerTypes, or webhook.secretManagerType whose default is Embedded) but no Embedded injector was built; pass deps.embedded to buildInjectors, or list only other managers in webhook.secretManagerTypes',
          );
        }
        out.set(type, deps.embedded);
        break;
    }
  }
  return out;
}

const VAULT_VOLUME = '(Vault Agent secrets volume)';

/** The volumes that injected init containers mount read-write (AWS, GCP, Azure sidecars; the Embedded file writer; the agent). */
const INJECTED_INIT_VOLUMES: ReadonlySet<string> = new Set([AWS_VOLUME_NAME, GCP_VOLUME_NAME, AZURE_VOLUME_NAME, EMBEDDED_VOLUME_NAME, AGENT_ENV_VOLUME_NAME]);

/** mountPath → volume names, per container name; Vault Agent's future volume counted at its path. */
function mountsByContainer(pod: Pod): Map<string, Map<string, Set<string>>> {
  const a = pod.metadata?.annotations ?? {};
  const vaultPath = a[`${VAULT_ANNOTATION_PREFIX}agent-inject`] === 'true' ? a[`${VAULT_ANNOTATION_PREFIX}secret-volume-path`] : undefined;
  const out = new Map<string, Map<string, Set<string>>>();
  const add = (c: Container, isMain: boolean): void => {
    const byPath = new Map<string, Set<string>>();
    for (const m of c.volumeMounts ?? []) byPath.set(m.mountPath, (byPath.get(m.mountPath) ?? new Set()).add(m.name));
    if (isMain && vaultPath !== undefined) byPath.set(vaultPath, (byPath.get(vaultPath) ?? new Set()).add(VAULT_VOLUME));
    out.set(c.name, byPath);
  };
  for (const c of pod.spec?.initContainers ?? []) add(c, false);
  for (const c of pod.spec?.containers ?? []) add(c, true);
  return out;
}

/**
 * True when some container of `pod` has two different volumes at one path (counting Vault Agent's future volume in
 * the main containers), the only case where {@link mountConflict} can find a conflict. Cheap: no allocation for a
 * container with fewer than two mounts.
 */
function hasSharedMountPath(pod: Pod): boolean {
  const a = pod.metadata?.annotations;
  const vaultPath = a !== undefined && a[`${VAULT_ANNOTATION_PREFIX}agent-inject`] === 'true' ? a[`${VAULT_ANNOTATION_PREFIX}secret-volume-path`] : undefined;
  const check = (c: Container, isMain: boolean): boolean => {
    const mounts = c.volumeMounts;
    // Fewer than two mounts (Vault's counted) cannot share a path.
    if ((mounts?.length ?? 0) + (isMain && vaultPath !== undefined ? 1 : 0) < 2) return false;
    const byPath = new Map<string, string>();
    if (isMain && vaultPath !== undefined) byPath.set(vaultPath, VAULT_VOLUME);
    const list = mounts ?? [];
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      const seen = byPath.get(m.mountPath);
      if (seen === undefined) byPath.set(m.mountPath, m.name);
      else if (seen !== m.name) return true;
    }
    return false;
  };
  // Indexed loops: a for-of loop that can return early keeps an iterator object per call.
  const inits = pod.spec?.initContainers ?? [];
  for (let i = 0; i < inits.length; i++) if (check(inits[i]!, false)) return true;
  const mains = pod.spec?.containers ?? [];
  for (let i = 0; i < mains.length; i++) if (check(mains[i]!, true)) return true;
  return false;
}

/** A reason when `after` has two volumes at one path in a container where `before` did not (Flyte: `secret/secrets_pod_mutator.go`). */
function mountConflict(before: Pod, after: Pod, owners: ReadonlyMap<string, string>, manager: SecretManagerType): string | undefined {
  if (!hasSharedMountPath(after)) return undefined;
  const old = mountsByContainer(before);
  for (const [container, byPath] of mountsByContainer(after)) {
    for (const [path, names] of byPath) {
      if (names.size < 2) continue;
      const was = old.get(container)?.get(path);
      if (was !== undefined && [...names].every((n) => was.has(n))) continue;
      const added = new Set((after.spec?.volumes ?? []).map((v) => v.name));
      for (const v of before.spec?.volumes ?? []) added.delete(v.name);
      const owner = (n: string): string => owners.get(n) ?? (added.has(n) ? manager : 'in the pod');
      const listed = [...names].map((n) => `${n === VAULT_VOLUME ? n : quote(n)} (${owner(n)})`);
      const head = `delivering this secret would mount ${listed.join(' and ')} at ${path} in container ${quote(container)}, and Kubernetes refuses two volumes at one path`;
      if (path === SECRETS_MOUNT_ROOT) {
        return `${head} (AWS, GCP, Azure, Vault and Embedded each put their own volume there for file secrets); request all of this pod's file secrets from one of them (K8s secrets mount per group and combine with any of them)`;
      }
      return `${head}; request secrets that land in different directories (groups that differ only in case share one)`;
    }
  }
  return undefined;
}

/** A reason when `vars` (set by this injection) define an env var differently from an earlier secret of the pod. */
function envConflict(vars: readonly EnvVar[], earlier: ReadonlyMap<string, EnvVar>): string | undefined {
  for (let i = 0; i < vars.length; i++) {
    const v = vars[i]!;
    const prev = earlier.get(v.name);
    if (prev !== undefined && !sameEnvVar(prev, v)) {
      return `delivering this secret would set the environment variable ${quote(v.name)}, which another secret of this pod sets differently; give each secret its own env_var (or request the secret once)`;
    }
  }
  return undefined;
}

type Refusal = { type: SecretManagerType; outcome: Extract<InjectOutcome, { injected: false }> };

/**
 * The code of a denial (the `reason` of the log line and the metric): the most specific refusal's. In order: the first
 * manager after Global that claimed the secret (its refusal is not {@link InjectOutcome}'s `notMine`: e.g. Azure for
 * an `https://` group it cannot parse, Embedded for a key it cannot find); else Global if it claimed it (it holds the
 * secret but cannot deliver it so); else the first manager after Global; else Global.
 */
function denialCode(reasons: readonly Refusal[]): ErrorCode {
  const others = reasons.filter((r) => r.type !== 'Global');
  const pick =
    others.find((r) => r.outcome.notMine !== true) ??
    reasons.find((r) => r.type === 'Global' && r.outcome.notMine !== true) ??
    others[0] ??
    reasons[0];
  return pick?.outcome.code ?? 'InjectionRefused';
}

/**
 * The message of a denial: Flyte's prefix and the secret, then the reasons of the managers that could have served it
 * (their refusal is not `notMine`), the decisive one first (the one {@link denialCode} picks), then the chain. When no
 * manager claimed the secret, every manager says why it is not for it. Flyte's own sentence («failed to inject secret
 * […] using any of the enabled secret managers: […]. Possible reasons: …») carries no information beyond the chain,
 * so only the chain is kept, at the end.
 */
function denialMessage(s: string, managers: readonly SecretManagerType[], reasons: readonly Refusal[]): string {
  const claimed = reasons.filter((r) => r.outcome.notMine !== true);
  const shown =
    claimed.length > 0
      ? [...claimed.filter((r) => r.type !== 'Global'), ...claimed.filter((r) => r.type === 'Global')]
      : [...reasons.filter((r) => r.type !== 'Global'), ...reasons.filter((r) => r.type === 'Global')];
  const text = shown.map(({ type, outcome: { reason } }) => (reason.startsWith(`${type}: `) ? reason : `${type}: ${reason}`)).join('; ');
  const lead = claimed.length > 0 ? '' : 'no enabled secret manager serves this kind of secret: ';
  return `${NONE_INJECTED_PREFIX} [${s}]: ${lead}${text} (secret managers tried: [${managers.join(' ')}])`;
}

/** The pod's name, or its `generateName` while the API server has not named it yet. */
function podNameOf(pod: Pod): string {
  const name = pod.metadata?.name;
  if (name !== undefined && name !== '') return name;
  return pod.metadata?.generateName ?? '';
}

/** `list` without repeats, in first-seen order (the list itself when it has fewer than two items). */
function distinct(list: string[]): string[] {
  return list.length < 2 ? list : [...new Set(list)];
}

function notInjected(err: unknown): InjectOutcome {
  if (isFlyteSecretsError(err)) return { injected: false, reason: err.message, code: err.code };
  return { injected: false, reason: `internal error (${err instanceof Error ? err.name : typeof err})`, code: 'Internal' };
}

/**
 * Create the pod mutator over `injectors` (one per manager of the chain). Throws {@link FlyteSecretsError}
 * `InvalidConfig` when a manager of the chain has no injector.
 *
 * @example
 * ```ts
 * const out = await createMutator(config, buildInjectors(config, deps)).mutate(pod, { namespace: 'ns', dryRun: false });
 * if (out.kind === 'mutated') respondWith(out.patch);
 * ```
 */
export function createMutator(config: Config, injectors: ReadonlyMap<SecretManagerType, SecretInjector>, options: MutatorOptions = {}): PodMutator {
  const onePass = options.onePass ?? true;
  const managers = enabledManagers(config.webhook);
  const chain = managers.map((type) => {
    const injector = injectors.get(type);
    if (injector?.type !== type) {
      throw new FlyteSecretsError('InvalidConfig', `the ${type} secret manager is enabled but no ${type} injector was given to the mutator (use buildInjectors)`);
    }
    return injector;
  });

  /**
   * The admission where every secret is delivered by an init-container sidecar of one manager, each manager before
   * it in the chain refusing the secret whatever the pod (Global for a secret without group or key, another sidecar
   * manager): all sidecars are added in one pass (`addSidecars`), with no pod copy, conflict check or env and mount
   * pass per secret. The outcome is the one the secret-by-secret loop gives (a property test in one-pass.test.ts
   * holds them equal). `undefined` when the loop must decide: a manager needs the pod or a backend to decide, no
   * manager takes a secret (the loop words the denial), or `addSidecars` does not take the pod.
   */
  function sidecarsInOnePass(pod: Pod, decoded: readonly DecodedSecret[], ctx: InjectContext): MutationOutcome | undefined {
    const plans = new Array<SidecarPlan>(decoded.length);
    const sidecars = new Array<SidecarSpec>(decoded.length);
    let manager: SecretManagerType | undefined;
    for (let d = 0; d < decoded.length; d++) {
      const { secret } = decoded[d]!;
      let plan: SidecarPlan | undefined;
      for (let c = 0; c < chain.length && plan === undefined; c++) {
        const injector = chain[c]!;
        const decision = injector.planWithoutPod?.(secret);
        if (decision === undefined) return undefined;
        if (!('sidecar' in decision)) continue;
        if (manager !== undefined && manager !== injector.type) return undefined;
        manager = injector.type;
        plan = decision;
      }
      if (plan === undefined) return undefined;
      plans[d] = plan;
      sidecars[d] = plan.sidecar;
    }
    if (manager === undefined) return undefined;
    const added = addSidecars(pod, sidecars, ctx);
    if (added === undefined) return undefined;
    for (let i = 0; i < plans.length; i++) warnOnce(ctx.warnings, plans[i]!.warning?.(added.pod));
    return { kind: 'mutated', pod: added.pod, patch: added.patch, patchJson: added.patchJson, warnings: distinct(ctx.warnings), managers: [manager], secrets: decoded.length };
  }

  async function mutate(pod: Pod, opts: { namespace: string; dryRun: boolean }): Promise<MutationOutcome> {
    let decoded: DecodedSecret[];
    try {
      decoded = decodeSecretAnnotations(pod.metadata?.annotations);
    } catch (err) {
      if (isFlyteSecretsError(err)) return { kind: 'denied', message: err.message, code: err.code, warnings: [], secrets: 0 };
      return { kind: 'denied', message: 'failed to unmarshal secrets from pod annotations: internal error', code: 'Internal', warnings: [], secrets: 0 };
    }
    if (decoded.length === 0) return { kind: 'unchanged', secrets: 0 };

    const warnings: string[] = [];
    const ctx: InjectContext = { namespace: opts.namespace, podName: podNameOf(pod), warnings, dryRun: opts.dryRun };
    // Re-admission: init containers a first pass injected keep exactly what that pass gave them (pod-edit.ts).
    const settled = injectedInitContainers(pod, INJECTED_INIT_VOLUMES);
    // The agent init container gets only what the agent builder gives it, from any manager (even on a first pass).
    settled.add(AGENT_CONTAINER_NAME);
    ctx.settledInitContainers = settled;
    if (onePass) {
      const direct = sidecarsInOnePass(pod, decoded, ctx);
      if (direct !== undefined) return direct;
    }
    const owners = new Map<string, string>([[VAULT_VOLUME, 'Vault']]);
    // Env vars set by the secrets delivered so far (reported by the injectors): a later secret may not redefine one.
    const envDefs = new Map<string, EnvVar>();
    // Reused for every injector tried (emptied, not replaced).
    const envSet: EnvVar[] = [];
    ctx.envSet = (vars) => {
      for (let i = 0; i < vars.length; i++) envSet.push(vars[i]!);
    };
    const used: SecretManagerType[] = [];
    let working = pod;
    for (let d = 0; d < decoded.length; d++) {
      const { secret } = decoded[d]!;
      // Refusals are kept whole: a reason is read (and, for a lazy one, written) only if the pod is denied.
      const reasons: Refusal[] = [];
      let delivered = false;
      for (let c = 0; c < chain.length; c++) {
        const injector = chain[c]!;
        const mark = warnings.length;
        envSet.length = 0;
        let outcome: InjectOutcome;
        try {
          outcome = injector.injectNow?.(secret, working, ctx) ?? (await injector.inject(secret, working, ctx));
        } catch (err) {
          outcome = notInjected(err);
        }
        if (outcome.injected) {
          const conflict = mountConflict(working, outcome.pod, owners, injector.type) ?? envConflict(envSet, envDefs);
          if (conflict === undefined) {
            for (let i = 0; i < envSet.length; i++) envDefs.set(envSet[i]!.name, envSet[i]!);
            const before = working.spec?.volumes;
            const after = outcome.pod.spec?.volumes;
            // Injectors replace the volume list only when they add to it.
            if (after !== undefined && after !== before) {
              const had = new Set((before ?? []).map((v) => v.name));
              for (const v of after) if (!had.has(v.name)) owners.set(v.name, injector.type);
            }
            working = outcome.pod;
            if (!used.includes(injector.type)) used.push(injector.type);
            delivered = true;
            break;
          }
          outcome = { injected: false, reason: conflict, code: 'InjectionRefused' };
        }
        warnings.length = mark;
        reasons.push({ type: injector.type, outcome });
      }
      if (!delivered) {
        const message = denialMessage(secretToString(secret), managers, reasons);
        return { kind: 'denied', message, code: denialCode(reasons), warnings: distinct(warnings), secrets: decoded.length };
      }
    }
    return { kind: 'mutated', pod: working, patch: createPatch(pod, working), warnings: distinct(warnings), managers: used, secrets: decoded.length };
  }

  return { mutate, managers };
}
