/**
 * Shared pod-editing helpers (Flyte: `secret/utils.go`) and the checks every injector applies to request text.
 *
 * Every helper here edits a pod that the caller has already copied, with {@link editablePod} (cheap: the pod, its
 * metadata, spec and containers are copied, everything deeper is shared) or {@link clonePod} (a deep copy);
 * injectors never edit the pod they were given. The helpers work copy-on-write: they never change an array or
 * object below a container in place, they put a new one in its place, so a shared sub-object of the input pod is
 * never touched. Semantics follow Flyte's helpers, with one deliberate change for idempotency:
 * {@link appendEnvVars} leaves a variable that is already present with the same definition where it is (Flyte
 * removes and re-prepends it), so re-admitting a mutated pod changes nothing.
 *
 * @module
 */
import { isDeepStrictEqual } from 'node:util';
import type { Container, EnvVar, Pod, ResourceRequirements, Volume, VolumeMount } from 'kubernetes-types/core/v1.js';
import { isFlyteSecretsError, type ErrorCode } from '../errors.js';
import { jsonString } from '../json-text.js';
import type { InjectContext } from './injector.js';
import type { JsonPatchOp } from './patch.js';
import { mountRequirementName, type Secret } from '../secret/model.js';
import { ENV_SECRETS_DEFAULT_DIR, ENV_SECRETS_FILE_PREFIX, SECRETS_MOUNT_ROOT, secretFilePath } from '../secret/paths.js';

/** A problem found in a request: the sentence to show and the error code to branch on. */
export interface Problem {
  reason: string;
  code: ErrorCode;
}

/** A deep copy of a pod (plain JSON data), to be edited freely. */
export function clonePod(pod: Pod): Pod {
  return structuredClone(pod);
}

/**
 * A deep copy of plain JSON-like data (objects, arrays, scalars; `undefined` members kept), much cheaper than
 * `structuredClone` for the small values the helpers insert (env vars, mounts, volumes, resources).
 *
 * @example
 * ```ts
 * const v = copyJson({ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } });
 * ```
 */
export function copyJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v: unknown) => copyJson(v)) as T;
  const out: Record<string, unknown> = {};
  // for-in over own keys (no keys array per object, which Object.keys would make); JSON-like data has no
  // inherited enumerable members.
  for (const k in value) if (Object.hasOwn(value, k)) out[k] = copyJson((value as Record<string, unknown>)[k]);
  return out as T;
}

/**
 * A copy of `pod` for the helpers of this module to edit, sharing everything they never edit in place: the pod,
 * `metadata`, `spec`, the `initContainers` and `containers` lists and each container are new objects; labels,
 * annotations, volumes, env lists, mounts and everything deeper are the input's own, to be replaced (never
 * edited) when they change. The input is never changed through the copy as long as edits follow that rule, which
 * every helper here does. Far cheaper than {@link clonePod} on a real pod; {@link createPatch} skips the shared
 * parts without walking them.
 *
 * @example
 * ```ts
 * const out = editablePod(pod);
 * appendEnvVars(allContainers(out), fileModeEnvVars()); // `pod` is unchanged
 * ```
 */
export function editablePod(pod: Pod): Pod {
  const out: Pod = { ...pod };
  if (pod.metadata !== undefined) out.metadata = { ...pod.metadata };
  const spec = pod.spec;
  if (spec !== undefined) {
    const copy = { ...spec };
    if (spec.initContainers !== undefined) copy.initContainers = spec.initContainers.map((c) => ({ ...c }));
    if (spec.containers !== undefined) copy.containers = spec.containers.map((c) => ({ ...c }));
    out.spec = copy;
  }
  return out;
}

/** The pod's init containers followed by its main containers (live references into `pod`). */
export function allContainers(pod: Pod): Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

/**
 * The containers that receive a manager's shared mounts and env (Flyte: `secret/utils.go`), less
 * the init containers an earlier admission injected (`ctx.settledInitContainers`).
 *
 * Why: Flyte applies mounts and env to the containers present at that moment, so an init container injected for
 * secret N has those of the secrets after N, not those before. A second pass over the result must reproduce exactly
 * that, and only the order of the first pass tells which were which; so on re-admission the injected init containers
 * are left as they are (they already have what the first pass gave them), while any other container, including one
 * added in between, gets its share.
 *
 * @example
 * ```ts
 * appendEnvVars(receivingContainers(out, ctx), fileModeEnvVars());
 * ```
 */
export function receivingContainers(pod: Pod, ctx?: Pick<InjectContext, 'settledInitContainers'>): Container[] {
  const settled = ctx?.settledInitContainers;
  if (settled === undefined || settled.size === 0) return allContainers(pod);
  const out: Container[] = [];
  const inits = pod.spec?.initContainers ?? [];
  for (let i = 0; i < inits.length; i++) if (!settled.has(inits[i]!.name)) out.push(inits[i]!);
  const mains = pod.spec?.containers ?? [];
  for (let i = 0; i < mains.length; i++) out.push(mains[i]!);
  return out;
}

/**
 * Set `vars` on the {@link receivingContainers} of `pod` with {@link appendEnvVars}, and report them to
 * `ctx.envSet`. What every injector uses for the env vars it puts on the pod's containers.
 *
 * @example
 * ```ts
 * setSharedEnv(out, fileModeEnvVars(), ctx);
 * ```
 */
export function setSharedEnv(pod: Pod, vars: readonly EnvVar[], ctx?: Pick<InjectContext, 'settledInitContainers' | 'envSet'>): void {
  appendEnvVars(receivingContainers(pod, ctx), vars);
  ctx?.envSet?.(vars);
}

/**
 * Names of the init containers of `pod` that a manager injected: those mounting one of `volumes` (the managers'
 * own volumes, e.g. `azure-secret-vol`) read-write. Every other container mounts these volumes read-only.
 *
 * @example
 * ```ts
 * injectedInitContainers(pod, new Set(['azure-secret-vol'])) // Set { 'azure-pull-secret-0' }
 * ```
 */
export function injectedInitContainers(pod: Pod, volumes: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  const inits = pod.spec?.initContainers ?? [];
  for (let i = 0; i < inits.length; i++) {
    const c = inits[i]!;
    const mounts = c.volumeMounts ?? [];
    for (let j = 0; j < mounts.length; j++) {
      if (volumes.has(mounts[j]!.name) && mounts[j]!.readOnly !== true) {
        out.add(c.name);
        break;
      }
    }
  }
  return out;
}

/** `pod.spec`, created (with an empty `containers` list) when absent. */
export function specOf(pod: Pod): NonNullable<Pod['spec']> {
  pod.spec ??= { containers: [] };
  return pod.spec;
}

/** Two env vars define the same thing (an empty value and an absent value are the same, as the API server stores them). */
export function sameEnvVar(a: EnvVar, b: EnvVar): boolean {
  return a.name === b.name && (a.value ?? '') === (b.value ?? '') && (a.valueFrom === b.valueFrom || isDeepStrictEqual(a.valueFrom, b.valueFrom));
}

/**
 * Flyte's AppendEnvVars: for every container and each var in argument order, a var of the same name is removed and
 * the new one **prepended** (so the last var given ends up first and webhook values override user values).
 * Difference: a var already present with the same definition is left untouched, so a second pass is a no-op.
 *
 * @example
 * ```ts
 * appendEnvVars(allContainers(pod), [{ name: 'B', value: '2' }, { name: 'A', value: '1' }]); // env = [A, B, …]
 * ```
 */
export function appendEnvVars(containers: readonly Container[], vars: readonly EnvVar[]): void {
  if (hasRepeatedName(vars)) {
    for (const c of containers) appendEnvVarsOneByOne(c, vars);
    return;
  }
  // With distinct names, whether a var is (re)added depends only on the container's env as received, so the new
  // list is built in one pass: the added vars, last first, then the old vars whose names were not added.
  for (let n = 0; n < containers.length; n++) {
    const c = containers[n]!;
    // The common re-application (every var already there, the same) allocates nothing.
    let added: EnvVar[] | undefined;
    for (let i = 0; i < vars.length; i++) if (!setOnceAs(c.env, vars[i]!)) (added ??= []).push(vars[i]!);
    if (added === undefined) continue;
    const env = c.env ?? [];
    let kept = 0;
    for (let i = 0; i < env.length; i++) if (!nameIn(added, env[i]!.name)) kept++;
    // Sized once: a list built by push is reallocated as it grows (twice for a 26-var container).
    const out = new Array<EnvVar>(added.length + kept);
    let at = 0;
    for (let i = added.length - 1; i >= 0; i--) out[at++] = copyJson(added[i]!);
    for (let i = 0; i < env.length; i++) if (!nameIn(added, env[i]!.name)) out[at++] = env[i]!;
    c.env = out;
  }
}

/** `env` holds exactly one var named like `v`, with the same definition: appending `v` leaves it where it is. */
function setOnceAs(env: readonly EnvVar[] | undefined, v: EnvVar): boolean {
  if (env === undefined) return false;
  let first: EnvVar | undefined;
  for (let i = 0; i < env.length; i++) {
    const e = env[i]!;
    if (e.name !== v.name) continue;
    if (first !== undefined) return false;
    first = e;
  }
  return first !== undefined && sameEnvVar(first, v);
}

// Hot loops here index their arrays: a for-of loop that can leave early kept its iterator object (measured: ~4 KB
// of garbage per appendEnvVars call on a 24-var container).
function nameIn(vars: readonly EnvVar[], name: string): boolean {
  for (let i = 0; i < vars.length; i++) if (vars[i]!.name === name) return true;
  return false;
}

function hasRepeatedName(vars: readonly EnvVar[]): boolean {
  for (let i = 1; i < vars.length; i++) for (let j = 0; j < i; j++) if (vars[i]!.name === vars[j]!.name) return true;
  return false;
}

/** {@link appendEnvVars} var by var, as Flyte does it: for `vars` that name one variable more than once. */
function appendEnvVarsOneByOne(c: Container, vars: readonly EnvVar[]): void {
  let env = c.env;
  for (const v of vars) {
    if (setOnceAs(env, v)) continue;
    env = [copyJson(v), ...(env ?? []).filter((e) => e.name !== v.name)];
  }
  if (env !== undefined && env !== c.env) c.env = env;
}

/** Flyte's AppendVolumeMounts: append `mount` to each container that has no mount of the same volume name. */
export function appendVolumeMounts(containers: readonly Container[], mount: VolumeMount): void {
  for (let i = 0; i < containers.length; i++) {
    const c = containers[i]!;
    const mounts = c.volumeMounts ?? [];
    let has = false;
    for (let j = 0; j < mounts.length && !has; j++) has = mounts[j]!.name === mount.name;
    if (has) continue;
    c.volumeMounts = [...mounts, copyJson(mount)];
  }
}

/** Flyte's appendVolumeIfNotExists: add `volume` unless a volume of the same name exists. */
export function appendVolumeIfNotExists(pod: Pod, volume: Volume): void {
  const spec = specOf(pod);
  if ((spec.volumes ?? []).some((v) => v.name === volume.name)) return;
  spec.volumes = [...(spec.volumes ?? []), copyJson(volume)];
}

/** The env vars every file-delivering injector sets, in application order (result: [FILE_PREFIX, DEFAULT_DIR, …]). */
export function fileModeEnvVars(): EnvVar[] {
  return [
    { name: ENV_SECRETS_DEFAULT_DIR, value: SECRETS_MOUNT_ROOT },
    { name: ENV_SECRETS_FILE_PREFIX, value: '' },
  ];
}

/** {@link fileModeEnvVars}, shared by the sidecars (appendEnvVars copies what it adds; nothing edits these). */
const FILE_MODE_ENV_VARS: readonly EnvVar[] = Object.freeze(fileModeEnvVars().map((v) => Object.freeze(v)));

/** An emptyDir volume in memory (Flyte's sidecar volumes). */
export function memoryVolume(name: string): Volume {
  return { name, emptyDir: { medium: 'Memory' } };
}

/** Config resources as Kubernetes `ResourceRequirements` (numbers written as quantity strings). */
export function toResources(r: { requests?: Record<string, string | number> | undefined; limits?: Record<string, string | number> | undefined }): ResourceRequirements {
  const conv = (m: Record<string, string | number>): Record<string, string> => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
  const out: ResourceRequirements = {};
  if (r.requests !== undefined) out.requests = conv(r.requests);
  if (r.limits !== undefined) out.limits = conv(r.limits);
  return out;
}

/** Quote request text for a message, so control characters and quotes are visible. */
export function quote(text: string): string {
  return JSON.stringify(text);
}

/** Flyte's text for a mount requirement an injector does not support: «unrecognized mount requirement [<v>] for secret [<key>]». */
export function unrecognizedMountRequirement(secret: Secret): Problem {
  return {
    reason: `unrecognized mount requirement [${mountRequirementName(secret.mountRequirement)}] for secret [${secret.key}]`,
    code: 'InvalidSecret',
  };
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** A problem when `value` (a request field) holds a control character such as a newline. */
export function controlCharProblem(manager: string, field: string, value: string): Problem | undefined {
  if (!CONTROL.test(value)) return undefined;
  return {
    reason: `${manager}: the secret's ${field} ${quote(value)} contains a control character (such as a newline); remove it`,
    code: 'InvalidInput',
  };
}

/**
 * A problem when `name` cannot be an environment variable name (Kubernetes accepts printable ASCII without `=`).
 */
export function envVarNameProblem(manager: string, name: string, origin: string): Problem | undefined {
  if (name !== '' && /^[\x20-\x3c\x3e-\x7e]+$/.test(name)) return undefined;
  return {
    reason: `${manager}: ${origin} gives the environment variable name ${quote(name)}, which Kubernetes refuses (it must be non-empty printable ASCII without "="); change the secret's group, key or env_var`,
    code: 'InvalidInput',
  };
}

/**
 * The file path of a secret under `/etc/flyte/secrets` (components joined and cleaned like Go's `filepath.Join`),
 * or the problem when it would land outside that directory (a `..` component, for instance).
 */
export function secretPath(manager: string, components: readonly string[]): { path: string } | { problem: Problem } {
  try {
    return { path: secretFilePath(...components) };
  } catch (err) {
    if (!isFlyteSecretsError(err)) throw err;
    return {
      problem: {
        reason: `${manager}: the secret would be written at ${quote(`${SECRETS_MOUNT_ROOT}/${components.join('/')}`)}, which is not inside ${SECRETS_MOUNT_ROOT}; remove ".." and empty parts from the secret's group, group_version and key`,
        code: 'InvalidPath',
      },
    };
  }
}

/** True when `a` and `b` cannot both be files: equal, or one is a directory holding the other. */
export function pathsOverlap(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/** Value of env var `name` in a container ('' when set without a value, undefined when absent). */
export function envValue(c: Container, name: string): string | undefined {
  const env = c.env ?? [];
  for (let i = 0; i < env.length; i++) if (env[i]!.name === name) return env[i]!.value ?? '';
  return undefined;
}

/** How an init-container sidecar (AWS, GCP, Azure) is described to {@link injectSidecar}. */
export interface SidecarSpec {
  /** Manager name for messages, e.g. `Azure`. */
  manager: string;
  /** Shared volume, e.g. `azure-secret-vol` (emptyDir in memory). */
  volumeName: string;
  /** Init container name prefix, e.g. `azure-pull-secret-`; the name is prefix + N (N = init containers before). */
  namePrefix: string;
  image: string;
  resources: ResourceRequirements;
  /** Fixed command (never holds request text); undefined = the image's default. */
  command?: string[];
  /** The request, as env vars of the init container (the only place request text goes). */
  env: EnvVar[];
  /** Where the sidecar mounts the shared volume (read-write). */
  ownMountPath: string;
  /** Name of the env var in {@link env} holding the destination, checked against other sidecars' destinations. */
  pathEnv?: string;
}

const digits = /^\d+$/;

/** True when an init container or a container of `spec` is called `name`. */
function nameTaken(spec: NonNullable<Pod['spec']>, name: string): boolean {
  const inits = spec.initContainers ?? [];
  for (let i = 0; i < inits.length; i++) if (inits[i]!.name === name) return true;
  const mains = spec.containers ?? [];
  for (let i = 0; i < mains.length; i++) if (mains[i]!.name === name) return true;
  return false;
}

/** The destination sidecar `s` writes (the value of its `pathEnv` var), or undefined when it names none. */
function sidecarPath(s: SidecarSpec): string | undefined {
  if (s.pathEnv === undefined) return undefined;
  for (let i = 0; i < s.env.length; i++) if (s.env[i]!.name === s.pathEnv) return s.env[i]!.value ?? '';
  return undefined;
}

/** The init container of sidecar `s`, called `name` (its env, resources and command are copies). */
function sidecarContainer(s: SidecarSpec, name: string, env: EnvVar[] = copyJson(s.env)): Container {
  const volumeMounts = [{ name: s.volumeName, mountPath: s.ownMountPath }];
  return s.command === undefined
    ? { name, image: s.image, env, resources: copyJson(s.resources), volumeMounts }
    : { name, image: s.image, command: [...s.command], env, resources: copyJson(s.resources), volumeMounts };
}

function isOwnSidecar(c: Container, s: SidecarSpec): boolean {
  if (!c.name.startsWith(s.namePrefix) || !digits.test(c.name.slice(s.namePrefix.length))) return false;
  for (let i = 0; i < s.env.length; i++) if (envValue(c, s.env[i]!.name) !== (s.env[i]!.value ?? '')) return false;
  return isDeepStrictEqual(c.command, s.command);
}

/**
 * Add an init-container sidecar that downloads one secret into a shared in-memory volume mounted read-only at
 * `/etc/flyte/secrets` everywhere else (Flyte: `secret/aws_secret_manager.go`), editing `pod` (a copy: {@link editablePod}) in place.
 * The sidecar's `env`, `resources` and `command` are copied, so `s` may hold constants shared between calls.
 *
 * Idempotent: an init container already in the pod with our name pattern, our command and the same request env is
 * recognised as ours and not added again; mounts and env go to {@link receivingContainers}. Refuses a second sidecar whose destination overlaps another one's.
 */
export function injectSidecar(pod: Pod, s: SidecarSpec, ctx?: Pick<InjectContext, 'settledInitContainers' | 'envSet'>): Problem | undefined {
  const spec = specOf(pod);
  const inits = spec.initContainers ?? [];
  let own = false;
  for (let i = 0; i < inits.length && !own; i++) own = isOwnSidecar(inits[i]!, s);
  if (!own) {
    if (s.pathEnv !== undefined) {
      const path = sidecarPath(s) ?? '';
      for (const c of inits) {
        if (!c.name.startsWith(s.namePrefix) || !digits.test(c.name.slice(s.namePrefix.length))) continue;
        const other = envValue(c, s.pathEnv);
        if (other !== undefined && pathsOverlap(other, path)) {
          return {
            reason: `${s.manager}: this secret would be written at ${path}, which collides with ${other} written by init container ${c.name} for another secret; request each secret once, and do not mix a secret with and without a version`,
            code: 'InjectionRefused',
          };
        }
      }
    }
    let n = inits.length;
    for (let guard = 0; nameTaken(spec, `${s.namePrefix}${n}`) && guard < 10_000; guard++) n++;
    spec.initContainers = [...inits, sidecarContainer(s, `${s.namePrefix}${n}`)];
  }
  appendVolumeIfNotExists(pod, memoryVolume(s.volumeName));
  appendVolumeMounts(receivingContainers(pod, ctx), { name: s.volumeName, readOnly: true, mountPath: SECRETS_MOUNT_ROOT });
  setSharedEnv(pod, FILE_MODE_ENV_VARS, ctx);
  return undefined;
}

/** True when `name` is one of {@link fileModeEnvVars}' names. */
function isFileModeName(name: string): boolean {
  return name === FILE_MODE_ENV_VARS[0]!.name || name === FILE_MODE_ENV_VARS[1]!.name;
}

/**
 * True when `c` has an env var named like one of {@link fileModeEnvVars}, a mount of `volume` or at `path`, or an
 * env or mount list that is neither absent nor a list (`null`).
 */
function touchesSidecarShare(c: Container, volume: string, path: string): boolean {
  const env = c.env;
  if (env !== undefined) {
    if (!Array.isArray(env)) return true;
    for (let i = 0; i < env.length; i++) if (isFileModeName(env[i]!.name)) return true;
  }
  const mounts = c.volumeMounts;
  if (mounts !== undefined) {
    if (!Array.isArray(mounts)) return true;
    for (let i = 0; i < mounts.length; i++) if (mounts[i]!.name === volume || mounts[i]!.mountPath === path) return true;
  }
  return false;
}

/** JSON text of the values made constant with {@link jsonConstant}. */
const CONSTANT_JSON = new WeakMap<object, string>();

function freezeDeep(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) freezeDeep(v);
}

/**
 * `value`, frozen all the way down, with its JSON text kept for the patch text of {@link addSidecars}: for the
 * per-config parts of a sidecar (its command and resources), which each pod gets copies of and nothing changes.
 *
 * @example
 * ```ts
 * const command = jsonConstant(['sh', '-ec', SCRIPT]);
 * ```
 */
export function jsonConstant<T extends object>(value: T): T {
  freezeDeep(value);
  CONSTANT_JSON.set(value, JSON.stringify(value));
  return value;
}

/** `JSON.stringify(value)`, read from {@link jsonConstant}'s store for a constant. */
function jsonOf(value: object): string {
  return CONSTANT_JSON.get(value) ?? JSON.stringify(value);
}

/**
 * {@link injectSidecar} for several sidecars of one manager at once, in a pod that no sidecar has touched: the same
 * pod that calling it once per sidecar, in order, gives, built with one copy of the pod and one env and mount pass
 * per container instead of one per sidecar, and with it the JSON Patch from `pod`, op for op what `createPatch`
 * would write (a property test in one-pass.test.ts holds both equal to the secret-by-secret path).
 *
 * Returns `undefined`, and leaves deciding to {@link injectSidecar}, whenever the one-by-one path could do anything
 * else than add every sidecar: the pod already has init containers injected by an earlier admission
 * (`ctx.settledInitContainers`), a container or init container named like one of these sidecars, the shared
 * volume, a mount of it or anything mounted at `/etc/flyte/secrets`, one of the file-mode env vars, or Vault Agent
 * injection; the sidecars are of different managers, or two of them write overlapping paths.
 *
 * @example
 * ```ts
 * const out = addSidecars(pod, [specA, specB], ctx); // { pod, patch }, or undefined: inject one by one
 * ```
 */
export function addSidecars(pod: Pod, sidecars: readonly SidecarSpec[], ctx?: Pick<InjectContext, 'settledInitContainers'>): { pod: Pod; patch: JsonPatchOp[]; patchJson: string } | undefined {
  const first = sidecars[0];
  const spec = pod.spec;
  if (first === undefined || spec === undefined || spec === null || !Array.isArray(spec.containers)) return undefined;
  const annotations = pod.metadata?.annotations;
  if (annotations !== undefined && annotations !== null && Object.hasOwn(annotations, 'vault.hashicorp.com/agent-inject')) return undefined;
  for (let i = 1; i < sidecars.length; i++) if (sidecars[i]!.volumeName !== first.volumeName || sidecars[i]!.namePrefix !== first.namePrefix) return undefined;
  // Destinations: every pair apart (the one-by-one path refuses an overlap, or takes a repeated request as done).
  const paths: string[] = [];
  if (first.pathEnv !== undefined) {
    for (let i = 0; i < sidecars.length; i++) {
      const path = sidecarPath(sidecars[i]!);
      if (path === undefined) return undefined;
      for (let j = 0; j < paths.length; j++) if (pathsOverlap(paths[j]!, path)) return undefined;
      paths.push(path);
    }
  } else if (sidecars.length > 1) return undefined;
  for (let i = 0; i < sidecars.length; i++) {
    const env = sidecars[i]!.env;
    for (let j = 0; j < env.length; j++) if (isFileModeName(env[j]!.name)) return undefined;
  }
  if ((spec.initContainers !== undefined && !Array.isArray(spec.initContainers)) || (spec.volumes !== undefined && !Array.isArray(spec.volumes))) return undefined;
  const inits = spec.initContainers ?? [];
  const mains = spec.containers;
  const settled = ctx?.settledInitContainers;
  const prefix = first.namePrefix;
  for (let i = 0; i < inits.length; i++) {
    const c = inits[i]!;
    if ((settled !== undefined && settled.has(c.name)) || c.name.startsWith(prefix) || touchesSidecarShare(c, first.volumeName, SECRETS_MOUNT_ROOT)) return undefined;
  }
  for (let i = 0; i < mains.length; i++) {
    const c = mains[i]!;
    if (c.name.startsWith(prefix) || touchesSidecarShare(c, first.volumeName, SECRETS_MOUNT_ROOT)) return undefined;
  }
  const volumes = spec.volumes ?? [];
  for (let i = 0; i < volumes.length; i++) if (volumes[i]!.name === first.volumeName) return undefined;

  // What each container gets, as injectSidecar's env and mount passes leave it: the two file-mode vars in front
  // (appendEnvVars puts the last one given first), the shared volume's read-only mount at the end.
  const shared = (c: Container): Container => {
    const out = { ...c };
    out.volumeMounts = [...(c.volumeMounts ?? []), { name: first.volumeName, readOnly: true, mountPath: SECRETS_MOUNT_ROOT }];
    out.env = withFileModeEnv(c.env ?? []);
    return out;
  };
  const mainsOut = new Array<Container>(mains.length);
  for (let i = 0; i < mains.length; i++) mainsOut[i] = shared(mains[i]!);
  const initsOut = new Array<Container>(inits.length + sidecars.length);
  for (let i = 0; i < inits.length; i++) initsOut[i] = shared(inits[i]!);
  for (let i = 0; i < sidecars.length; i++) {
    const s = sidecars[i]!;
    initsOut[inits.length + i] = sidecarContainer(s, `${prefix}${inits.length + i}`, withFileModeEnv(copyJson(s.env)));
  }
  const volume = memoryVolume(first.volumeName);
  const specOut = { ...spec, containers: mainsOut, initContainers: initsOut, volumes: [...volumes, volume] };
  const out: Pod = { ...pod, spec: specOut };
  if (pod.metadata !== undefined) out.metadata = { ...pod.metadata };

  // The patch, op for op what createPatch(pod, out) writes (the property test compares them): spec members in
  // their order, each changed container's members in theirs; a list that was absent is added whole, one that was
  // there gets the new elements at their indexes. With it, its JSON text (what JSON.stringify(patch) gives, also
  // compared by the test), written from the parts: the sidecars' fixed command and resources as kept by
  // jsonConstant, and the config's names, paths and image as quoted once (quotedConstant). The patch is most of the
  // answer, and those are most of the patch; only each sidecar's own env vars are serialised per admission.
  // The text is built by concatenation, not joined from a list: V8 then links the parts and copies them once, when
  // the answer encodes the text, where a join copies a patch's worth of text at each level (measured under load).
  const patch: JsonPatchOp[] = [];
  let text = '';
  const add = (path: string, value: unknown, json: string): void => {
    text += `${patch.length === 0 ? '[' : ','}{"op":"add","path":"${path}","value":${json}}`;
    patch.push({ op: 'add', path, value });
  };
  // The parts every pod of this manager gets alike (the file-mode env vars, the shared volume, its mounts, the
  // sidecars' name prefix and image) are config values: their JSON text is made once and kept.
  const volumeText = quotedConstant(first.volumeName);
  const sharedMountText = `{"name":${volumeText},"readOnly":true,"mountPath":${quotedConstant(SECRETS_MOUNT_ROOT)}}`;
  const containerOps = (before: Container, after: Container, path: string): void => {
    for (const k in after) {
      if (k === 'env') {
        if (before.env === undefined) add(`${path}/env`, after.env, `[${FILE_MODE_ENV_TEXT[0]},${FILE_MODE_ENV_TEXT[1]}]`);
        else {
          add(`${path}/env/0`, after.env![0], FILE_MODE_ENV_TEXT[0]);
          add(`${path}/env/1`, after.env![1], FILE_MODE_ENV_TEXT[1]);
        }
      } else if (k === 'volumeMounts') {
        const mounts = after.volumeMounts!;
        const had = before.volumeMounts;
        if (had === undefined) add(`${path}/volumeMounts`, mounts, `[${sharedMountText}]`);
        else add(`${path}/volumeMounts/${had.length}`, mounts[had.length], sharedMountText);
      }
    }
  };
  const namePrefixText = quotedConstant(prefix).slice(0, -1); // the name's opening quote and prefix; digits follow
  const sidecarJson = (i: number): string => {
    const s = sidecars[i]!;
    const command = s.command === undefined ? '' : `,"command":${jsonOf(s.command)}`;
    // The sidecar's env is the two file-mode vars, then its own (copies of `s.env`, which serialise alike).
    let own = '';
    for (let j = 0; j < s.env.length; j++) own += `,${envVarJson(s.env[j]!)}`;
    const mounts = `[{"name":${quotedConstant(s.volumeName)},"mountPath":${quotedConstant(s.ownMountPath)}}]`;
    return `{"name":${namePrefixText}${inits.length + i}","image":${quotedConstant(s.image)}${command},"env":[${FILE_MODE_ENV_TEXT[0]},${FILE_MODE_ENV_TEXT[1]}${own}],"resources":${jsonOf(s.resources)},"volumeMounts":${mounts}}`;
  };
  const volumeJson = `{"name":${volumeText},"emptyDir":{"medium":"Memory"}}`;
  for (const k in specOut) {
    if (k === 'containers') {
      for (let i = 0; i < mains.length; i++) containerOps(mains[i]!, mainsOut[i]!, `/spec/containers/${i}`);
    } else if (k === 'initContainers') {
      if (spec.initContainers === undefined) {
        let list = '';
        for (let i = 0; i < sidecars.length; i++) list += `${i === 0 ? '' : ','}${sidecarJson(i)}`;
        add('/spec/initContainers', initsOut, `[${list}]`);
      } else {
        for (let i = 0; i < inits.length; i++) containerOps(inits[i]!, initsOut[i]!, `/spec/initContainers/${i}`);
        for (let i = 0; i < sidecars.length; i++) add(`/spec/initContainers/${inits.length + i}`, initsOut[inits.length + i], sidecarJson(i));
      }
    } else if (k === 'volumes') {
      if (spec.volumes === undefined) add('/spec/volumes', specOut.volumes, `[${volumeJson}]`);
      else add(`/spec/volumes/${volumes.length}`, volume, volumeJson);
    }
  }
  return { pod: out, patch, patchJson: patch.length === 0 ? '[]' : `${text}]` };
}

/**
 * `env` after {@link appendEnvVars} of {@link FILE_MODE_ENV_VARS} on a container that has neither: copies of the two
 * in front, the last one given first, then `env` as it is.
 */
function withFileModeEnv(env: readonly EnvVar[]): EnvVar[] {
  const copy = (v: EnvVar): EnvVar => ({ name: v.name, value: v.value ?? '' });
  return [copy(FILE_MODE_ENV_VARS[1]!), copy(FILE_MODE_ENV_VARS[0]!), ...env];
}

/** JSON text of the two env vars {@link withFileModeEnv} puts in front, in its order. */
const FILE_MODE_ENV_TEXT: readonly [string, string] = (() => {
  const [a, b] = withFileModeEnv([]);
  return [JSON.stringify(a), JSON.stringify(b)];
})();

/** JSON strings of config values (names, paths, images), made once each; at most this many are kept. */
const QUOTED_CONSTANTS_MAX = 256;
const quotedConstants = new Map<string, string>();

/** `JSON.stringify(value)` for a config value: the same few strings on every admission, so each is kept. */
function quotedConstant(value: string): string {
  let text = quotedConstants.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    if (quotedConstants.size < QUOTED_CONSTANTS_MAX) quotedConstants.set(value, text);
  }
  return text;
}

/** `JSON.stringify(v)` for an env var; a `{ name, value }` of strings (a sidecar's) is written from its parts. */
function envVarJson(v: EnvVar): string {
  let keys = 0;
  for (const k in v) {
    if ((keys === 0 && k !== 'name') || (keys === 1 && k !== 'value') || keys > 1) return JSON.stringify(v);
    keys++;
  }
  return keys === 2 && typeof v.name === 'string' && typeof v.value === 'string' ? `{"name":${jsonString(v.name)},"value":${jsonString(v.value)}}` : JSON.stringify(v);
}
