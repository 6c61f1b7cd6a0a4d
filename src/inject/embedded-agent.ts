/**
 * The Embedded manager's agent delivery (`flyteSecrets.embedded.delivery: agent`): the secret was found at admission
 * as in inline mode, but no value goes into the pod. Instead the pod's one agent init container (src/inject/agent.ts)
 * lists `embedded:<i>` (the index of the pod's annotation `flyte.secrets/s<i>`) and fetches it from the broker at
 * pod start with a projected service-account token that only it mounts.
 *
 * - FILE, and ANY without env files: `--file embedded:<i>=/etc/flyte/secrets/<key>` (where Flyte's Embedded init
 *   container writes it); a FILE secret's `env_var` is set to the file's path, as inline.
 * - ENV_VAR, and ANY with `flyteSecrets.envFiles`: `--env embedded:<i>=<NAME>` into the agent's env file, and
 *   `env[].valueFrom.fileKeyRef` on the containers after the agent. ENV_VAR without env files is denied, naming
 *   what to enable.
 * - Once per pod: `--broker <url>`, `--token-file <path>`, the projected token volume (audience
 *   `flyteSecrets.broker.audience`, 600 s), and the broker's CA as the literal env `FLYTE_SECRETS_BROKER_CA`.
 *
 * Pure: no I/O.
 *
 * @module
 */
import type { EnvVar, Pod, Volume } from 'kubernetes-types/core/v1.js';
import { BROKER_CA_ENV, BROKER_TOKEN_DIR, BROKER_TOKEN_EXPIRATION_SECONDS, BROKER_TOKEN_FILE, BROKER_TOKEN_VOLUME, embeddedSource } from '../broker/protocol.js';
import type { Config } from '../config/schema.js';
import { SECRET_ANNOTATION_PREFIX, decodeSecretAnnotation } from '../secret/annotations.js';
import { MountRequirement, type Secret } from '../secret/model.js';
import { ENV_SECRETS_ENV_PREFIX, secretFilePath } from '../secret/paths.js';
import { addAgentDelivery, ensureAgentOption, findAgentContainer, type AgentSettings } from './agent.js';
import type { InjectContext } from './injector.js';
import { appendVolumeIfNotExists, setSharedEnv, specOf, type Problem } from './pod-edit.js';

/** What agent delivery needs besides the pod and the secret. */
export interface EmbeddedAgentParams {
  agent: AgentSettings;
  /** `flyteSecrets.envFiles`. */
  envFiles: boolean;
  /** The broker's URL as pods reach it (`brokerUrl`). */
  brokerUrl: string;
  /** PEM of the CA that signed the webhook's serving certificate. */
  brokerCaPem: string;
  /** `flyteSecrets.broker.audience`. */
  audience: string;
  /** `webhook.secretEnvVarPrefix`. */
  prefix: string;
}

/** `flyteSecrets.envFiles`. */
export function envFilesOf(config: Config): boolean {
  return config.flyteSecrets.envFiles;
}

/** True when `mount` is delivered as a file in agent mode (FILE, and ANY without env files). */
export function agentDeliversAsFile(mount: number, envFiles: boolean): boolean {
  return mount === MountRequirement.FILE || (mount === MountRequirement.ANY && !envFiles);
}

/** The message of an ENV_VAR secret denied in agent mode without env files. */
export function envFilesNeededMessage(key: string): string {
  return `Embedded: secret ${JSON.stringify(key)} is requested as an environment variable, but with flyteSecrets.embedded.delivery: agent its value may not be written into the pod spec, and env vars come through Kubernetes env files: set flyteSecrets.envFiles: true (Kubernetes 1.35+, or 1.34 with the EnvFiles feature gate), or request the secret as a file (mount_requirement FILE)`;
}

/**
 * The index of the pod's annotation `flyte.secrets/s<i>` that requests `secret` (the first such annotation in index
 * order), or undefined when no numbered annotation does.
 */
export function annotationIndexOf(pod: Pod, secret: Secret): number | undefined {
  const annotations = pod.metadata?.annotations ?? {};
  let best: number | undefined;
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(SECRET_ANNOTATION_PREFIX)) continue;
    const suffix = key.slice(SECRET_ANNOTATION_PREFIX.length);
    if (!/^(0|[1-9][0-9]{0,8})$/.test(suffix)) continue;
    const index = Number(suffix);
    if (best !== undefined && index >= best) continue;
    let s: Secret;
    try {
      s = decodeSecretAnnotation(key, value);
    } catch {
      continue;
    }
    if (s.key === secret.key && s.group === secret.group && s.groupVersion === secret.groupVersion && s.mountRequirement === secret.mountRequirement && s.envVar === secret.envVar) best = index;
  }
  return best;
}

/** The projected token volume only the agent mounts. */
export function brokerTokenVolume(audience: string): Volume {
  return { name: BROKER_TOKEN_VOLUME, projected: { sources: [{ serviceAccountToken: { audience, expirationSeconds: BROKER_TOKEN_EXPIRATION_SECONDS, path: BROKER_TOKEN_FILE } }] } };
}

/** Give the agent the broker's address, token and CA (once per pod). */
function connectAgentToBroker(pod: Pod, p: EmbeddedAgentParams): void {
  ensureAgentOption(pod, '--broker', p.brokerUrl, p.agent);
  ensureAgentOption(pod, '--token-file', `${BROKER_TOKEN_DIR}/${BROKER_TOKEN_FILE}`, p.agent);
  appendVolumeIfNotExists(pod, brokerTokenVolume(p.audience));
  const agent = findAgentContainer(pod)?.container;
  if (agent === undefined) return;
  if (!(agent.volumeMounts ?? []).some((m) => m.name === BROKER_TOKEN_VOLUME)) {
    agent.volumeMounts = [...(agent.volumeMounts ?? []), { name: BROKER_TOKEN_VOLUME, mountPath: BROKER_TOKEN_DIR, readOnly: true }];
  }
  const env = agent.env ?? [];
  const ca = env.find((e) => e.name === BROKER_CA_ENV);
  if (ca === undefined) agent.env = [...env, { name: BROKER_CA_ENV, value: p.brokerCaPem }];
}

/**
 * Deliver `secret` (found at admission; `text` is its value as UTF-8 when it has one) through the agent. Edits `pod`
 * (an editable copy) in place; returns a problem, changing nothing the caller keeps, when it cannot.
 *
 * @example
 * ```ts
 * const problem = deliverEmbeddedThroughAgent(out, secret, { isText: true }, '_UNION_DB', params, ctx);
 * ```
 */
export function deliverEmbeddedThroughAgent(
  pod: Pod,
  secret: Secret,
  value: { isText: boolean },
  envName: string,
  p: EmbeddedAgentParams,
  ctx: Pick<InjectContext, 'settledInitContainers' | 'envSet'>,
): Problem | undefined {
  const index = annotationIndexOf(pod, secret);
  if (index === undefined) {
    return { reason: `Embedded: secret ${JSON.stringify(secret.key)} is not requested by a numbered annotation ${SECRET_ANNOTATION_PREFIX}<i>, which agent delivery needs to name it`, code: 'InvalidAnnotation' };
  }
  const source = embeddedSource(index);
  const mount = secret.mountRequirement;
  if (mount === MountRequirement.ENV_VAR && !p.envFiles) return { reason: envFilesNeededMessage(secret.key), code: 'InjectionRefused' };
  specOf(pod);
  if (!agentDeliversAsFile(mount, p.envFiles)) {
    if (!value.isText) {
      return { reason: `secret "${secret.key}" is attempted to be mounted as an environment variable, but has a binary value that is not a valid UTF-8 string; mount as a file instead`, code: 'InvalidSecret' };
    }
    const problem = addAgentDelivery(pod, { kind: 'env', source, key: envName, names: [envName] }, p.agent, ctx);
    if (problem !== undefined) return problem;
    setSharedEnv(pod, [{ name: ENV_SECRETS_ENV_PREFIX, value: p.prefix }], ctx);
  } else {
    const path = secretFilePath(secret.key);
    const problem = addAgentDelivery(pod, { kind: 'file', source, path }, p.agent, ctx);
    if (problem !== undefined) return problem;
    if (secret.envVar !== '') {
      const vars: EnvVar[] = [{ name: secret.envVar, value: path }];
      setSharedEnv(pod, vars, ctx);
    }
  }
  connectAgentToBroker(pod, p);
  return undefined;
}
