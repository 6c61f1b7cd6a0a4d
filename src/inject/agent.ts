/**
 * The pod's one agent init container (`flyte-secrets agent …`), shared by every manager that delivers through it
 * (Azure with `flyteSecrets.azure.delivery: agent`, and Embedded through a broker).
 *
 * {@link addAgentDelivery} adds one delivery item to the container, creating it first when the pod has none: name
 * {@link AGENT_CONTAINER_NAME}, placed first among the init containers, args `agent -- --deadline D`, then the items in
 * the order they were added (the mutator adds them in annotation-index order). Editing is append-only and an item
 * already present is not added again, so re-admitting a mutated pod changes nothing.
 *
 * - A file item (`--file SOURCE=PATH`) uses the secrets volume at `/etc/flyte/secrets` (the Azure manager's
 *   `azure-secret-vol`, in memory): the agent mounts it read-write, the other containers read-only, and they get
 *   `FLYTE_SECRETS_DEFAULT_DIR` / `FLYTE_SECRETS_FILE_PREFIX` as with every file-delivering manager.
 * - An env item (`--env SOURCE=KEY`) uses a second memory volume ({@link AGENT_ENV_VOLUME_NAME}) that only the agent
 *   mounts; it writes the env file there (`--env-file`), and every container after the agent gets
 *   `env[].valueFrom.fileKeyRef` (Kubernetes EnvFiles). Containers before the agent (an init container or native
 *   sidecar that a later webhook put first) start before the file exists, so they get no such entry.
 *
 * Pure: edits the pod given (a copy made with `editablePod`), no I/O.
 *
 * @module
 */
import type { Container, EnvVar, Pod, ResourceRequirements } from 'kubernetes-types/core/v1.js';
import { SECRETS_MOUNT_ROOT } from '../secret/paths.js';
import type { InjectContext } from './injector.js';
import { appendEnvVars, appendVolumeIfNotExists, appendVolumeMounts, copyJson, fileModeEnvVars, memoryVolume, pathsOverlap, receivingContainers, specOf, type Problem } from './pod-edit.js';

/** Name of the agent init container. */
export const AGENT_CONTAINER_NAME = 'flyte-secrets-agent';
/** The memory volume holding the env file; only the agent mounts it. */
export const AGENT_ENV_VOLUME_NAME = 'flyte-secrets-env';
/** Where the agent mounts {@link AGENT_ENV_VOLUME_NAME}. */
export const AGENT_ENV_MOUNT_PATH = '/var/run/flyte-secrets/env';
/** The env file's path inside {@link AGENT_ENV_VOLUME_NAME} (the `fileKeyRef.path`). */
export const AGENT_ENV_FILE = 'secrets.env';
/** The volume at `/etc/flyte/secrets` the agent writes file secrets into: the Azure manager's `AZURE_VOLUME_NAME`. */
export const AGENT_SECRETS_VOLUME_NAME = 'azure-secret-vol';

/** How the agent container is made (from `flyteSecrets.agent`). */
export interface AgentSettings {
  image: string;
  resources: ResourceRequirements;
  /** `--deadline`, a Go duration such as `2m`. */
  deadline: string;
}

/** One secret for the agent to deliver. */
export type AgentItem =
  /** Write SOURCE at `path` (under `/etc/flyte/secrets`). */
  | { kind: 'file'; source: string; path: string }
  /**
   * Put SOURCE under `key` in the env file; set env vars `names` from it on the containers after the agent, and the
   * `literal` env vars (e.g. `FLYTE_SECRETS_ENV_PREFIX`) on the same containers.
   */
  | { kind: 'env'; source: string; key: string; names: readonly string[]; literal?: readonly EnvVar[] };

/** `EnvVarSource.fileKeyRef` (Kubernetes 1.34+; not in the `kubernetes-types` version this project uses). */
export interface FileKeySelector {
  volumeName: string;
  path: string;
  key: string;
  optional?: boolean;
}

/** The pod's agent container and its index among the init containers, or undefined. */
export function findAgentContainer(pod: Pod): { container: Container; index: number } | undefined {
  const inits = pod.spec?.initContainers ?? [];
  const index = inits.findIndex((c) => c.name === AGENT_CONTAINER_NAME);
  const container = inits[index];
  return container === undefined ? undefined : { container, index };
}

/** The agent container of `pod`, created first among the init containers when absent. */
function ensureAgent(pod: Pod, settings: AgentSettings): Container {
  const found = findAgentContainer(pod);
  if (found !== undefined) return found.container;
  const spec = specOf(pod);
  const container: Container = {
    name: AGENT_CONTAINER_NAME,
    image: settings.image,
    // `--` first: Node itself reads a `--env-file` argument even after the script name unless a `--` comes before it
    // (nodejs/node#54232), and would exit before the agent starts.
    args: ['agent', '--', '--deadline', settings.deadline],
    resources: copyJson(settings.resources),
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
  };
  spec.initContainers = [container, ...(spec.initContainers ?? [])];
  return container;
}

/** True when the agent's args hold `flag value` (as two words). */
function hasArg(c: Container, flag: string, value: string): boolean {
  const args = c.args ?? [];
  for (let i = 0; i + 1 < args.length; i++) if (args[i] === flag && args[i + 1] === value) return true;
  return false;
}

/** The values of every `flag value` pair in the agent's args. */
export function agentArgValues(c: Container, flag: string): string[] {
  const args = c.args ?? [];
  const out: string[] = [];
  for (let i = 0; i + 1 < args.length; i++) if (args[i] === flag) out.push(args[i + 1] ?? '');
  return out;
}

/**
 * Give the agent container the option `flag value` unless it has it (append-only; for options such as `--broker`).
 * Creates the container when absent.
 *
 * @example
 * ```ts
 * ensureAgentOption(out, '--broker', 'https://flyte-secrets-broker.flyte.svc:8443', settings);
 * ```
 */
export function ensureAgentOption(pod: Pod, flag: string, value: string, settings: AgentSettings): void {
  const c = ensureAgent(pod, settings);
  if (!hasArg(c, flag, value)) c.args = [...(c.args ?? []), flag, value];
}

function ensureMount(c: Container, name: string, mountPath: string): void {
  if ((c.volumeMounts ?? []).some((m) => m.name === name)) return;
  c.volumeMounts = [...(c.volumeMounts ?? []), { name, mountPath }];
}

/** The containers after the agent (init containers after it, then main containers), less settled ones. */
function containersAfterAgent(pod: Pod, ctx?: Pick<InjectContext, 'settledInitContainers'>): Container[] {
  const inits = pod.spec?.initContainers ?? [];
  const agentIndex = inits.findIndex((c) => c.name === AGENT_CONTAINER_NAME);
  const before = new Set(inits.slice(0, agentIndex + 1));
  return receivingContainers(pod, ctx).filter((c) => !before.has(c));
}

/**
 * Add `item` to the pod's agent container (created when absent), with its volumes, mounts and env. Edits `pod` (an
 * `editablePod` copy) in place; returns a problem, and changes nothing, when the item's target collides with another
 * item's (two secrets at one path, or one env-file key for two sources).
 *
 * @example
 * ```ts
 * const out = editablePod(pod);
 * const problem = addAgentDelivery(out, { kind: 'file', source: 'https://v.vault.azure.net/secrets/db', path: '/etc/flyte/secrets/db' }, settings, ctx);
 * ```
 */
export function addAgentDelivery(pod: Pod, item: AgentItem, settings: AgentSettings, ctx?: Pick<InjectContext, 'settledInitContainers' | 'envSet'>): Problem | undefined {
  const existing = findAgentContainer(pod)?.container;
  if (item.kind === 'file') {
    const value = `${item.source}=${item.path}`;
    if (existing === undefined || !hasArg(existing, '--file', value)) {
      for (const other of existing === undefined ? [] : agentArgValues(existing, '--file')) {
        const path = other.slice(other.indexOf('=') + 1);
        if (pathsOverlap(path, item.path)) {
          return {
            reason: `this secret would be written at ${item.path}, which collides with ${path} written by init container ${AGENT_CONTAINER_NAME} for another secret; request each secret once, and do not mix a secret with and without a version`,
            code: 'InjectionRefused',
          };
        }
      }
      const c = ensureAgent(pod, settings);
      c.args = [...(c.args ?? []), '--file', value];
    }
    const agent = ensureAgent(pod, settings);
    appendVolumeIfNotExists(pod, memoryVolume(AGENT_SECRETS_VOLUME_NAME));
    ensureMount(agent, AGENT_SECRETS_VOLUME_NAME, SECRETS_MOUNT_ROOT);
    const others = receivingContainers(pod, ctx).filter((c) => c !== agent);
    appendVolumeMounts(others, { name: AGENT_SECRETS_VOLUME_NAME, readOnly: true, mountPath: SECRETS_MOUNT_ROOT });
    const vars = fileModeEnvVars();
    appendEnvVars(others, vars);
    ctx?.envSet?.(vars);
    return undefined;
  }
  const value = `${item.source}=${item.key}`;
  if (existing === undefined || !hasArg(existing, '--env', value)) {
    for (const other of existing === undefined ? [] : agentArgValues(existing, '--env')) {
      if (other.slice(other.indexOf('=') + 1) === item.key) {
        return {
          reason: `this secret would be the env-file key ${JSON.stringify(item.key)}, which init container ${AGENT_CONTAINER_NAME} already fills from another secret; give each secret its own env_var`,
          code: 'InjectionRefused',
        };
      }
    }
    const c = ensureAgent(pod, settings);
    if (!(c.args ?? []).includes('--env-file')) c.args = [...(c.args ?? []), '--env-file', `${AGENT_ENV_MOUNT_PATH}/${AGENT_ENV_FILE}`];
    c.args = [...(c.args ?? []), '--env', value];
  }
  const agent = ensureAgent(pod, settings);
  appendVolumeIfNotExists(pod, memoryVolume(AGENT_ENV_VOLUME_NAME));
  ensureMount(agent, AGENT_ENV_VOLUME_NAME, AGENT_ENV_MOUNT_PATH);
  const ref: FileKeySelector = { volumeName: AGENT_ENV_VOLUME_NAME, path: AGENT_ENV_FILE, key: item.key, optional: false };
  // kubernetes-types predates fileKeyRef: the cast adds the field the API server (1.34+) knows.
  const vars = [...item.names.map((name) => ({ name, valueFrom: { fileKeyRef: ref } }) as EnvVar), ...(item.literal ?? [])];
  appendEnvVars(containersAfterAgent(pod, ctx), vars);
  ctx?.envSet?.(vars);
  return undefined;
}
