/**
 * The Embedded secret manager (Flyte: `secret/embedded_secret_manager.go`): Flyte-native secrets, read by the webhook at admission time.
 *
 * The secret's name is `Secret.key`; its scope comes from the pod labels `organization`, `project`, `domain`. The
 * lookup walks project → domain → org and moves on only on "not found" (Flyte: `secret/embedded_secret_manager.go`); any other failure denies the
 * admission at once (a throttled project-scope read never falls back to a broader value). Every lookup goes through
 * the cache (TTL, single-flight, negative cache, stale-if-error) and the request budget (rate, retries, time bounds).
 *
 * Delivery (Flyte: `secret/embedded_secret_manager.go`): ANY and ENV_VAR → an env var on every init and main container (`env_var`, else
 * `<secretEnvVarPrefix><UPPER(key)>`) plus `FLYTE_SECRETS_ENV_PREFIX`; FILE → one shared init container
 * (`init-embedded-secret`) that writes `/etc/flyte/secrets/<key>` into an in-memory volume mounted read-only
 * everywhere else. Image-pull secrets are mirrored when enabled (Flyte: `secret/imagepull_kubernetes_utils.go`).
 *
 * Where we differ from Flyte (docs/compatibility.md, "Embedded secret manager"):
 * - every FILE secret's `env_var` is set (Flyte sets only the first one's), and it names the file actually
 *   written: the key's case is kept in both (Flyte writes `<key>` but points `env_var` at `<lower(key)>`);
 * - keys used as file names are validated, and the init container's script never interpolates a key into shell
 *   code: it reads `SECRETS` line by line and writes each file with a quoted redirection under `set -eu`, so a bad
 *   line fails the init container instead of being skipped;
 * - re-admission is idempotent: a key already in `SECRETS` is replaced, never appended twice;
 * - a pod whose organization/project/domain labels do not match its namespace is refused (on by default;
 *   `flyteSecrets.embedded.enforceNamespaceScope: false` trusts labels as Flyte does), so labels cannot be used to
 *   read another project's secrets;
 * - image-pull mirroring creates nothing in a dry-run admission.
 *
 * @module
 */
import type { Container, EnvVar, Pod } from 'kubernetes-types/core/v1.js';
import type { Config } from '../config/schema.js';
import { errorMessage, isFlyteSecretsError, type ErrorCode } from '../errors.js';
import { createSecretCache, parseCacheSize, type CachedValue, type SecretCache } from '../fetch/cache.js';
import { isNotFound, type SecretFetcher } from '../fetch/fetcher.js';
import type { BoundedFetcher, CallBounds } from '../fetch/budget.js';
import type { ImagePullSecretStore } from '../fetch/k8s.js';
import { withDeadline } from '../fetch/deadline.js';
import { noopFetchMetrics, type FetchMetrics } from '../fetch/metrics.js';
import { secretToString } from '../secret/annotations.js';
import { imagePullSecretName, scopeCascade, type FlyteSecretId } from '../secret/flyte-id.js';
import { MountRequirement, type Secret } from '../secret/model.js';
import { ENV_SECRETS_ENV_PREFIX, SECRETS_MOUNT_ROOT, envVarName, secretFilePath } from '../secret/paths.js';
import type { SecretValue } from '../secret/value.js';
import { AGENT_SECRETS_VOLUME_NAME } from './agent.js';
import { agentSettings } from './azure.js';
import { agentDeliversAsFile, deliverEmbeddedThroughAgent, envFilesOf, type EmbeddedAgentParams } from './embedded-agent.js';
import { injected, notMine, refused, type InjectContext, type InjectOutcome, type SecretInjector } from './injector.js';
import {
  allContainers,
  appendVolumeIfNotExists,
  clonePod,
  appendVolumeMounts,
  controlCharProblem,
  editablePod,
  envVarNameProblem,
  fileModeEnvVars,
  memoryVolume,
  quote,
  receivingContainers,
  setSharedEnv,
  specOf,
  toResources,
  unrecognizedMountRequirement,
} from './pod-edit.js';

/** Name of the in-memory volume the FILE init container writes into (Flyte's). */
export const EMBEDDED_VOLUME_NAME = 'embedded-secret-vol';

/** Env var of the FILE init container holding `<key>=<base64>` lines (Flyte's). */
export const SECRETS_ENV = 'SECRETS';

/** Pod labels that carry the scope (checked in this order, as Flyte does). */
export const SCOPE_LABELS = ['organization', 'project', 'domain'] as const;

/**
 * The FILE init container's script (run as `sh -c`). It reads `$SECRETS` line by line (`<key>=<base64>`), refuses a
 * name that is not a plain file name, and writes each value with a quoted redirection under `set -eu`. No secret
 * name is ever part of the script text. Tested with busybox sh and Debian's dash, with busybox and coreutils base64.
 */
export const FILE_MOUNT_SCRIPT = [
  'set -eu',
  `root=${SECRETS_MOUNT_ROOT}`,
  'printf \'%s\' "${SECRETS:-}" | while IFS= read -r line || [ -n "$line" ]; do',
  '  case "$line" in *=*) ;; *) continue ;; esac',
  '  name=${line%%=*}',
  '  case "$name" in',
  "    ''|.|..|-*|*/*|*..*) echo 'init-embedded-secret: refusing an unsafe secret file name' >&2; exit 1 ;;",
  '  esac',
  '  printf \'%s\' "${line#*=}" | base64 -d > "$root/$name"',
  'done',
  '',
].join('\n');

/** Longest key accepted as a file name, in UTF-8 bytes (Linux NAME_MAX). */
export const MAX_FILE_NAME_BYTES = 255;

/**
 * Why `key` cannot be the name of a file under `/etc/flyte/secrets`, or undefined when it can: it must be non-empty,
 * hold no `/`, no `..`, no control character, no `=` (the `SECRETS` separator), not start with `-`, and fit in
 * 255 bytes.
 *
 * @example
 * ```ts
 * fileKeyProblem('db-password') // undefined
 * fileKeyProblem('../etc/passwd') // 'contains "/"'
 * ```
 */
export function fileKeyProblem(key: string): string | undefined {
  if (key === '') return 'is empty';
  if (key.includes('/')) return 'contains "/"';
  if (key.includes('..')) return 'contains ".."';
  if (key === '.') return 'is "."';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(key)) return 'contains a control character';
  if (key.includes('=')) return 'contains "="';
  if (key.startsWith('-')) return 'starts with "-"';
  if (Buffer.byteLength(key, 'utf8') > MAX_FILE_NAME_BYTES) return `is longer than ${MAX_FILE_NAME_BYTES} bytes`;
  return undefined;
}

/** One `SECRETS` line: `<key>=<standard padded base64 of the bytes>\n` (Flyte's format). */
export function secretsLine(key: string, bytes: Uint8Array): string {
  return `${key}=${Buffer.from(bytes).toString('base64')}\n`;
}

/** Parse `SECRETS` into ordered (key, line) pairs; lines without `=` are dropped. */
function parseSecretsEnv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    out.set(line.slice(0, i), `${line}\n`);
  }
  return out;
}

/**
 * The namespace a (project, domain) pair must run in under `namespaceTemplate` (`{project}`, `{domain}`, `{org}`
 * replaced).
 *
 * @example
 * ```ts
 * expectedNamespace('{project}-{domain}', { org: 'flyte', project: 'flytesnacks', domain: 'development' })
 * // 'flytesnacks-development'
 * ```
 */
export function expectedNamespace(template: string, scope: { org: string; project: string; domain: string }): string {
  return template.replaceAll('{project}', scope.project).replaceAll('{domain}', scope.domain).replaceAll('{org}', scope.org);
}

/**
 * Why a pod in `namespace` whose labels name `scope` may not read that scope's secrets, or undefined when it may.
 * The namespace is the trust boundary: the labels must name the (organization, project, domain) whose namespace,
 * per `namespaceTemplate`, is the pod's own. A template without `{org}` pins the organization label to
 * `organization` instead, so no label is left for a pod to choose freely.
 *
 * @example
 * ```ts
 * namespaceScopeProblem({ namespaceTemplate: '{project}-{domain}', organization: 'flyte' },
 *   { org: 'flyte', project: 'team-a', domain: 'development' }, 'team-b') // 'Embedded: … label project "team-a" …'
 * ```
 */
export function namespaceScopeProblem(
  settings: { namespaceTemplate: string; organization: string },
  scope: { org: string; project: string; domain: string },
  namespace: string,
): string | undefined {
  const template = settings.namespaceTemplate;
  if (!template.includes('{org}') && scope.org !== settings.organization) {
    return `Embedded: the pod's label organization ${quote(scope.org)} is not this deployment's organization ${quote(settings.organization)} (flyteSecrets.embedded.organization; namespaceTemplate ${quote(template)} has no {org}), so it may not read that organization's secrets; label the pod organization=${settings.organization}, or put {org} in namespaceTemplate if your namespaces are per organization`;
  }
  const expected = expectedNamespace(template, scope);
  if (namespace === expected) return undefined;
  const used = [
    ['organization', scope.org, '{org}'],
    ['project', scope.project, '{project}'],
    ['domain', scope.domain, '{domain}'],
  ]
    .filter(([, , placeholder]) => template.includes(placeholder!))
    .map(([label, value]) => `${label} ${quote(value!)}`)
    .join(' and ');
  return `Embedded: the pod's labels ${used} select namespace ${quote(expected)} under namespaceTemplate ${quote(template)}, but the pod is in namespace ${quote(namespace)}; a pod may only read the secrets of its own namespace's project and domain (flyteSecrets.embedded.enforceNamespaceScope); fix the pod's labels, or set flyteSecrets.embedded.namespaceTemplate to how your namespaces are named, e.g. "{project}" or "flyte-{project}-{domain}"`;
}

/** Options of {@link createEmbeddedInjector}. */
export interface EmbeddedInjectorOptions {
  /** The validated config: `webhook.secretEnvVarPrefix`, `webhook.embeddedSecretManagerConfig`, `cache`, `flyteSecrets`. */
  config: Config;
  /** The backend, ideally wrapped by `budgetedFetcher` (then the admission deadline bounds every call). */
  fetcher: SecretFetcher | BoundedFetcher;
  /** The cache; default one built from `cache.inMemoryFixedSize` and `flyteSecrets.fetch`. Pass `uncachedSecretCache()` to turn caching off. */
  cache?: SecretCache;
  /** Kubernetes access for image-pull mirroring; required when `embeddedSecretManagerConfig.imagePullSecrets.enabled`. */
  imagePull?: ImagePullSecretStore;
  metrics?: FetchMetrics;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * The broker as pods reach it; required with `flyteSecrets.embedded.delivery: agent`. `caPem` answers the PEM of
   * the CA beside the serving certificate (`<certDir>/ca.crt`), read again when it changes.
   */
  broker?: { url: string; caPem: () => string };
}

/** What {@link EmbeddedInjector.resolve} answers: the value, or why the admission rules give none. */
export type ResolveOutcome = { value: SecretValue; source: CachedValue['source'] } | { reason: string; code: ErrorCode };

/** The Embedded injector, with its cache exposed for diagnostics. */
export interface EmbeddedInjector extends SecretInjector {
  readonly type: 'Embedded';
  readonly cache: SecretCache;
  /**
   * Resolve `secret` for `pod` in `namespace` exactly as admission does (scope from the labels, the namespace check,
   * project → domain → org through the cache), without touching the pod. The broker serves what this answers.
   */
  resolve(secret: Secret, pod: Pod, namespace: string, bounds?: CallBounds): Promise<ResolveOutcome>;
  invalidate(id: FlyteSecretId): void;
}

/** Optional per-admission bounds a caller may put on the context (the mutator may add them). */
type BoundedContext = InjectContext & { signal?: AbortSignal; deadline?: number };

interface Found {
  value: SecretValue;
  scope: FlyteSecretId;
  cached: CachedValue;
}

type LookupResult = { found: Found } | { reason: string; code: ErrorCode };

function hasBounds(f: SecretFetcher | BoundedFetcher): f is BoundedFetcher {
  return typeof (f as BoundedFetcher).fetchWithin === 'function';
}

function formatAge(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 3_600_000)}h`;
}

/**
 * Create the Embedded injector. Pass it to `buildInjectors(config, { embedded })`.
 *
 * @example
 * ```ts
 * const fetcher = budgetedFetcher(createAzureFetcher({ vaultUrl }), createRequestBudget({ … }));
 * const embedded = createEmbeddedInjector({ config, fetcher });
 * const mutator = createMutator(config, buildInjectors(config, { embedded }));
 * ```
 */
export function createEmbeddedInjector(options: EmbeddedInjectorOptions): EmbeddedInjector {
  const { config, fetcher } = options;
  const now = options.now ?? Date.now;
  const metrics = options.metrics ?? noopFetchMetrics;
  const fetchConfig = config.flyteSecrets.fetch;
  const embeddedConfig = config.webhook.embeddedSecretManagerConfig;
  const scopeConfig = config.flyteSecrets.embedded;
  const prefix = config.webhook.secretEnvVarPrefix;
  const cache =
    options.cache ??
    createSecretCache({
      ttlMs: config.cache.inMemoryFixedSize.defaultExpiration,
      negativeTtlMs: fetchConfig.negativeCacheTtl,
      staleIfErrorMaxAgeMs: fetchConfig.staleIfErrorMaxAge,
      maxBytes: parseCacheSize(config.cache.inMemoryFixedSize.size) ?? 100_000_000,
      metrics,
      now,
    });
  if (embeddedConfig.imagePullSecrets.enabled && options.imagePull === undefined) {
    throw new Error('createEmbeddedInjector: webhook.embeddedSecretManagerConfig.imagePullSecrets.enabled needs an image-pull secret store (Kubernetes access)');
  }
  if (scopeConfig.delivery === 'agent' && options.broker === undefined) {
    throw new Error('createEmbeddedInjector: flyteSecrets.embedded.delivery agent needs the broker (its URL and CA)');
  }
  const broker = options.broker;
  const agentParams: EmbeddedAgentParams | undefined =
    broker === undefined || scopeConfig.delivery !== 'agent'
      ? undefined
      : {
          agent: agentSettings(config),
          envFiles: envFilesOf(config),
          get brokerUrl() {
            return broker.url;
          },
          get brokerCaPem() {
            return broker.caPem();
          },
          audience: config.flyteSecrets.broker.audience,
          prefix,
        };
  // One admission budget per admission: the context object (shared by all secrets of a pod) keys its deadline.
  const deadlines = new WeakMap<object, number>();

  function boundsOf(ctx: BoundedContext): CallBounds {
    let deadline = ctx.deadline;
    if (deadline === undefined) {
      const key: object = ctx.warnings;
      deadline = deadlines.get(key);
      if (deadline === undefined) {
        deadline = now() + fetchConfig.admissionBudget;
        deadlines.set(key, deadline);
      }
    }
    return ctx.signal === undefined ? { deadline } : { deadline, signal: ctx.signal };
  }

  function fetchOne(scope: FlyteSecretId, admission: CallBounds, hasStale: boolean): Promise<SecretValue> {
    // With a stale value to fall back on, a failing backend gets one call's time, not the whole admission budget.
    const cap = now() + fetchConfig.callTimeout;
    const bounds: CallBounds = hasStale
      ? {
          ...(admission.signal ? { signal: admission.signal } : {}),
          get deadline() {
            return Math.min(admission.deadline ?? Number.POSITIVE_INFINITY, cap);
          },
        }
      : admission;
    if (hasBounds(fetcher)) return fetcher.fetchWithin(scope, bounds);
    // A plain fetcher: one timer + controller held for the call's life (GC-proof, unlike AbortSignal.any).
    if (bounds.deadline === undefined && bounds.signal === undefined) return fetcher.fetch(scope);
    return withDeadline(bounds.deadline === undefined ? undefined : bounds.deadline - now(), bounds.signal, (signal) => fetcher.fetch(scope, signal));
  }

  /** Flyte's lookUpSecret: project → domain → org, on to the next scope only on not-found. */
  async function lookUp(id: FlyteSecretId, bounds: CallBounds): Promise<LookupResult> {
    for (const scope of scopeCascade(id)) {
      try {
        // The load is shared with other admissions: it runs within their common bounds, each keeps its own.
        const cached = await cache.get(scope, (load) => fetchOne(scope, load.bounds, load.hasStale), bounds);
        return { found: { value: cached.value, scope, cached } };
      } catch (err) {
        if (isNotFound(err)) continue;
        if (isFlyteSecretsError(err)) return { reason: err.message, code: err.code };
        return { reason: `[SecretReadFailure] ${errorMessage(err)}`, code: 'SecretReadFailure' };
      }
    }
    return { reason: `[SecretNotFoundAcrossAllScopes] secret not found across all scopes: ${triedScopes(id, fetcher)}`, code: 'SecretNotFoundAcrossAllScopes' };
  }

  /** The scope id of `secret` for a pod with these labels in `namespace`, or why the Embedded manager refuses it. */
  function scopeOf(secret: Secret, labels: Record<string, string>, namespace: string): { id: FlyteSecretId } | { outcome: InjectOutcome } {
    if (secret.key === '') return { outcome: notMine(`EmbeddedSecretManager requires key to be set. Secret: [${secretToString(secret)}]`, 'InvalidSecret') };
    const mount = secret.mountRequirement;
    if (mount !== MountRequirement.ANY && mount !== MountRequirement.ENV_VAR && mount !== MountRequirement.FILE) {
      const p = unrecognizedMountRequirement(secret);
      return { outcome: notMine(p.reason, p.code) };
    }
    for (const label of SCOPE_LABELS) {
      if ((labels[label] ?? '') === '') {
        return { outcome: refused(`[SecretRequirementsError] secret read requirements not met due to empty ${label} field in the pod labels`, 'SecretRequirementsError') };
      }
    }
    const id: FlyteSecretId = { org: labels.organization ?? '', project: labels.project ?? '', domain: labels.domain ?? '', name: secret.key };
    if (scopeConfig.enforceNamespaceScope) {
      const p = namespaceScopeProblem(scopeConfig, id, namespace);
      if (p !== undefined) return { outcome: refused(p, 'InjectionRefused') };
    }
    for (const [field, value] of [['key', secret.key], ['env_var', secret.envVar]] as const) {
      const p = controlCharProblem('Embedded', field, value);
      if (p !== undefined) return { outcome: refused(p.reason, p.code) };
    }
    return { id };
  }

  async function inject(secret: Secret, pod: Pod, ctx: InjectContext): Promise<InjectOutcome> {
    const scoped = scopeOf(secret, pod.metadata?.labels ?? {}, ctx.namespace);
    if ('outcome' in scoped) return scoped.outcome;
    const { id } = scoped;
    const mount = secret.mountRequirement;
    const agentMode = agentParams !== undefined;
    const asFile = agentMode ? agentDeliversAsFile(mount, agentParams.envFiles) : mount === MountRequirement.FILE;
    let filePath = '';
    if (asFile) {
      const why = fileKeyProblem(secret.key);
      if (why !== undefined) {
        return refused(`Embedded: the key ${quote(secret.key)} cannot be used as a file name under ${SECRETS_MOUNT_ROOT}: it ${why}; rename the secret or request it as an environment variable`, 'InvalidInput');
      }
      filePath = secretFilePath(secret.key);
      const clash = otherMountAtRoot(pod, agentMode ? AGENT_SECRETS_VOLUME_NAME : EMBEDDED_VOLUME_NAME);
      if (clash !== undefined) {
        return refused(`Embedded: cannot mount secrets at ${SECRETS_MOUNT_ROOT}: volume ${quote(clash)} of another secret manager is already mounted there; request this secret as an environment variable, or use one file-delivering manager per pod`, 'InjectionRefused');
      }
    }
    const envName = secret.envVar !== '' ? secret.envVar : envVarName(prefix, secret.key);
    if (!asFile || secret.envVar !== '') {
      const p = envVarNameProblem('Embedded', envName, secret.envVar !== '' ? 'env_var' : `the key (with prefix ${quote(prefix)})`);
      if (p !== undefined) return refused(p.reason, p.code);
    }

    const bounds = boundsOf(ctx);
    const result = await lookUp(id, bounds);
    if (!('found' in result)) return refused(result.reason, result.code);
    const { value, scope, cached } = result.found;
    if (cached.source === 'stale') {
      ctx.warnings.push(`secret ${quote(secret.key)}: the secret store could not be read, so a cached value ${formatAge(cached.ageMs)} old was used`);
    }

    // Inline: copy-on-write (editablePod), every edit below replaces what it changes instead of writing into the
    // input. Agent mode edits the agent container in place, so it works on a deep copy.
    const out = agentMode ? clonePod(pod) : editablePod(pod);
    if (agentMode) {
      const problem = deliverEmbeddedThroughAgent(out, secret, { isText: value.text() !== undefined }, envName, agentParams, ctx);
      if (problem !== undefined) return refused(problem.reason, problem.code);
    } else if (asFile) {
      injectFile(out, secret, value.bytes(), filePath, ctx);
    } else {
      const text = value.text();
      if (text === undefined) {
        return refused(`secret "${secret.key}" is attempted to be mounted as an environment variable, but has a binary value that is not a valid UTF-8 string; mount as a file instead`, 'InvalidSecret');
      }
      setSharedEnv(
        out,
        [
          { name: ENV_SECRETS_ENV_PREFIX, value: prefix },
          { name: envName, value: text },
        ],
        ctx,
      );
    }

    if (embeddedConfig.imagePullSecrets.enabled && options.imagePull !== undefined) {
      const name = imagePullSecretName(scope);
      let mirrored: boolean;
      try {
        mirrored = await options.imagePull.mirror(name, ctx.namespace, { dryRun: ctx.dryRun === true, ...(bounds.signal ? { signal: bounds.signal } : {}) });
      } catch (err) {
        return refused(errorMessage(err), isFlyteSecretsError(err) ? err.code : 'SecretReadFailure');
      }
      if (mirrored) addImagePullSecret(out, name);
    }
    return injected(out);
  }

  function injectFile(pod: Pod, secret: Secret, bytes: Uint8Array, filePath: string, ctx: InjectContext): void {
    const spec = specOf(pod);
    const name = embeddedConfig.fileMountInitContainer.containerName;
    const inits = spec.initContainers ?? [];
    let init = inits.find((c) => c.name === name);
    if (init === undefined) {
      init = {
        name,
        image: embeddedConfig.fileMountInitContainer.image,
        resources: toResources(embeddedConfig.fileMountInitContainer.resources),
        volumeMounts: [{ name: EMBEDDED_VOLUME_NAME, mountPath: SECRETS_MOUNT_ROOT, readOnly: false }],
      };
      spec.initContainers = [...inits, init];
    }
    init.command = ['sh', '-c', FILE_MOUNT_SCRIPT];
    setSecretsLine(init, secret.key, secretsLine(secret.key, bytes));
    appendVolumeIfNotExists(pod, memoryVolume(EMBEDDED_VOLUME_NAME));
    appendVolumeMounts(receivingContainers(pod, ctx), { name: EMBEDDED_VOLUME_NAME, readOnly: true, mountPath: SECRETS_MOUNT_ROOT });
    const vars: EnvVar[] = fileModeEnvVars();
    if (secret.envVar !== '') vars.push({ name: secret.envVar, value: filePath });
    setSharedEnv(pod, vars, ctx);
  }

  async function resolve(secret: Secret, pod: Pod, namespace: string, bounds: CallBounds = {}): Promise<ResolveOutcome> {
    const scoped = scopeOf(secret, pod.metadata?.labels ?? {}, namespace);
    if ('outcome' in scoped) {
      const o = scoped.outcome;
      return o.injected ? { reason: 'Embedded: internal error', code: 'Internal' } : { reason: o.reason, code: o.code };
    }
    const result = await lookUp(scoped.id, { deadline: bounds.deadline ?? now() + fetchConfig.admissionBudget, ...(bounds.signal === undefined ? {} : { signal: bounds.signal }) });
    return 'found' in result ? { value: result.found.value, source: result.found.cached.source } : result;
  }

  return {
    type: 'Embedded',
    cache,
    inject,
    resolve,
    invalidate(id: FlyteSecretId): void {
      cache.invalidate(id);
    },
  };
}

/** Replace (or add) the line of `key` in the init container's `SECRETS`, keeping other lines in order. */
function setSecretsLine(init: Container, key: string, line: string): void {
  const env = init.env ?? [];
  const existing = env.find((e) => e.name === SECRETS_ENV);
  const lines = parseSecretsEnv(existing?.value ?? '');
  lines.set(key, line);
  const value = [...lines.values()].join('');
  // A new list and entry (copy-on-write): the old entry may be the input pod's own.
  const entry: EnvVar = { name: SECRETS_ENV, value };
  init.env = existing === undefined ? [...env, entry] : env.map((e) => (e === existing ? entry : e));
}

/** Name of a volume other than `ours` mounted at /etc/flyte/secrets in any container, if any. */
function otherMountAtRoot(pod: Pod, ours: string): string | undefined {
  for (const c of allContainers(pod)) {
    for (const m of c.volumeMounts ?? []) {
      if (m.mountPath.replace(/\/+$/, '') === SECRETS_MOUNT_ROOT && m.name !== ours) return m.name;
    }
  }
  return undefined;
}

/** Add `{name}` to `imagePullSecrets` unless present, then stable-sort the list by name (byte order), as Flyte. */
function addImagePullSecret(pod: Pod, name: string): void {
  const spec = specOf(pod);
  const list = [...(spec.imagePullSecrets ?? [])];
  if (!list.some((s) => s.name === name)) list.push({ name });
  list.sort((a, b) => {
    const x = Buffer.from(a.name ?? '', 'utf8');
    const y = Buffer.from(b.name ?? '', 'utf8');
    return Buffer.compare(x, y);
  });
  spec.imagePullSecrets = list;
}

/**
 * The scopes a lookup of `id` tried, in order, each with the backend's name for it when it has one:
 * `project flyte/development/flytesnacks (Key Vault secret 1-…), domain flyte/development (…), org flyte (…)`.
 */
function triedScopes(id: FlyteSecretId, fetcher: SecretFetcher): string {
  const labels = ['project', 'domain', 'org'];
  return scopeCascade(id)
    .map((scope, i) => {
      const path = [scope.org, scope.domain, scope.project].filter((part) => part !== '').join('/');
      let name: string | undefined;
      try {
        name = fetcher.nameOf?.(scope);
      } catch {
        name = undefined; // a name the backend cannot form was reported as a read failure, not as not-found
      }
      return `${labels[i] ?? 'scope'} ${path}${name === undefined ? '' : ` (${name})`}`;
    })
    .join(', ');
}
