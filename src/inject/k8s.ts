/**
 * The K8s injector (spec §4.2): a Kubernetes Secret in the pod's namespace, referenced by the pod.
 *
 * `group` is the Secret's name (`md5hex(key)` when empty), `key` the key inside it. FILE/ANY mounts the Secret as a
 * volume at `/etc/flyte/secrets/<lower(group)>` with the item `<key>` → `<lower(key)>`; ENV_VAR sets
 * `UPPER(<secretEnvVarPrefix><group>_<key>)` from a `secretKeyRef`. Secrets are marked `optional`, so a missing Secret
 * or key is tolerated at runtime, as in Flyte.
 *
 * Better than Flyte: the md5 fallback is local (the caller's Secret is not changed); two versions of one group share
 * one volume and one mount (a valid pod); a volume name longer than 63 characters is replaced by a hashed name; an
 * item already present is not added twice; keys Kubernetes would refuse are refused with a clear message.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { EnvVar, Pod, Volume } from 'kubernetes-types/core/v1.js';
import type { Config } from '../config/schema.js';
import { secretToString } from '../secret/annotations.js';
import { encodeFlyteBase32 } from '../secret/base32.js';
import { md5Hex } from '../secret/flyte-id.js';
import { MountRequirement, type Secret } from '../secret/model.js';
import { ENV_SECRETS_ENV_PREFIX, envVarName, goToLower } from '../secret/paths.js';
import { injected, refused, type InjectOutcome, type SecretInjector } from './injector.js';
import {
  allContainers,
  appendEnvVars,
  appendVolumeMounts,
  clonePod,
  controlCharProblem,
  envVarNameProblem,
  fileModeEnvVars,
  quote,
  secretPath,
  specOf,
  unrecognizedMountRequirement,
  type Problem,
} from './pod-edit.js';

/** Longest volume name Kubernetes accepts (a DNS-1123 label). */
export const MAX_VOLUME_NAME_LENGTH = 63;

/**
 * The volume name of a K8s secret: Flyte's `CustomBase32(group + "_" + groupVersion)`; when that is longer than 63
 * characters (Flyte then produces a pod the API server refuses), `flyte-secret-` + the first 40 hex digits of
 * SHA-256 of the same text.
 *
 * @example
 * ```ts
 * k8sVolumeName('grOUP', '') // 'm4ze5vkql3'
 * ```
 */
export function k8sVolumeName(group: string, groupVersion: string): string {
  const text = `${group}_${groupVersion}`;
  const name = encodeFlyteBase32(new TextEncoder().encode(text));
  if (name.length <= MAX_VOLUME_NAME_LENGTH) return name;
  return `flyte-secret-${createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 40)}`;
}

/** Kubernetes' rule for a key of a Secret (`IsConfigMapKey`). */
function isSecretKey(key: string): boolean {
  return key.length > 0 && key.length <= 253 && /^[-._a-zA-Z0-9]+$/.test(key) && key !== '.' && !key.startsWith('..');
}

function checkFields(secret: Secret, group: string): Problem | undefined {
  for (const [field, value] of [['group', group], ['key', secret.key], ['env_var', secret.envVar]] as const) {
    const p = controlCharProblem('K8s', field, value);
    if (p !== undefined) return p;
  }
  if (!isSecretKey(secret.key)) {
    return {
      reason: `K8s: the key ${quote(secret.key)} is not a valid key of a Kubernetes Secret (use letters, digits, "-", "_" and "."; not "." or a name starting with "..")`,
      code: 'InvalidInput',
    };
  }
  if (secret.envVar !== '') return envVarNameProblem('K8s', secret.envVar, 'env_var');
  return undefined;
}

/**
 * Create the K8s injector.
 *
 * @example
 * ```ts
 * const k8s = createK8sInjector(config);
 * await k8s.inject(makeSecret({ group: 'db', key: 'password', mountRequirement: MountRequirement.FILE }), pod, ctx);
 * ```
 */
export function createK8sInjector(config: Config): SecretInjector {
  const prefix = config.webhook.secretEnvVarPrefix;

  function injectFile(secret: Secret, group: string, pod: Pod): InjectOutcome {
    const dir = secretPath('K8s', [goToLower(group)]);
    if ('problem' in dir) return refused(dir.problem.reason, dir.problem.code);
    const file = secretPath('K8s', [goToLower(group), goToLower(secret.key)]);
    if ('problem' in file) return refused(file.problem.reason, file.problem.code);
    const out = clonePod(pod);
    const spec = specOf(out);
    const volumes = spec.volumes ?? [];
    const wanted = k8sVolumeName(group, secret.groupVersion);
    const item = { key: secret.key, path: goToLower(secret.key) };
    const mountedAt = (v: Volume): boolean => allContainers(out).some((c) => (c.volumeMounts ?? []).some((m) => m.name === v.name && m.mountPath === dir.path));
    const ours = volumes.find((v) => v.secret?.secretName === group && (v.name === wanted || mountedAt(v)));
    let volumeName: string;
    if (ours?.secret !== undefined) {
      volumeName = ours.name;
      const items = ours.secret.items ?? [];
      const samePath = items.find((i) => i.path === item.path);
      if (samePath !== undefined && samePath.key !== item.key) {
        return refused(`K8s: keys ${quote(samePath.key)} and ${quote(item.key)} of Secret ${quote(group)} would both be written at ${file.path}; request only one of them as a file`, 'InjectionRefused');
      }
      if (samePath === undefined) ours.secret.items = [...items, item];
    } else {
      if (volumes.some((v) => v.name === wanted)) {
        return refused(`K8s: the pod already has a volume named ${quote(wanted)} that is not Secret ${quote(group)}; rename that volume`, 'InjectionRefused');
      }
      volumeName = wanted;
      spec.volumes = [...volumes, { name: wanted, secret: { secretName: group, items: [item], optional: true } }];
    }
    appendVolumeMounts(allContainers(out), { name: volumeName, readOnly: true, mountPath: dir.path });
    const env: EnvVar[] = fileModeEnvVars();
    if (secret.envVar !== '') env.push({ name: secret.envVar, value: file.path });
    appendEnvVars(allContainers(out), env);
    return injected(out);
  }

  function injectEnv(secret: Secret, group: string, pod: Pod): InjectOutcome {
    const name = envVarName(prefix, group, secret.key);
    const bad = envVarNameProblem('K8s', name, 'the secret');
    if (bad !== undefined) return refused(bad.reason, bad.code);
    const valueFrom = { secretKeyRef: { name: group, key: secret.key, optional: true } };
    const vars: EnvVar[] = [{ name, valueFrom }];
    if (secret.envVar !== '') vars.push({ name: secret.envVar, valueFrom });
    vars.push({ name: ENV_SECRETS_ENV_PREFIX, value: prefix });
    const out = clonePod(pod);
    appendEnvVars(allContainers(out), vars);
    return injected(out);
  }

  return {
    type: 'K8s',
    inject(secret, pod): Promise<InjectOutcome> {
      if (secret.key === '') return Promise.resolve(refused(`k8s Secrets Webhook require key to be set. Secret: [${secretToString(secret)}]`, 'InvalidSecret'));
      const group = secret.group === '' ? md5Hex(secret.key) : secret.group;
      const bad = checkFields(secret, group);
      if (bad !== undefined) return Promise.resolve(refused(bad.reason, bad.code));
      switch (secret.mountRequirement) {
        case MountRequirement.ANY:
        case MountRequirement.FILE:
          return Promise.resolve(injectFile(secret, group, pod));
        case MountRequirement.ENV_VAR:
          return Promise.resolve(injectEnv(secret, group, pod));
        default: {
          const p = unrecognizedMountRequirement(secret);
          return Promise.resolve(refused(p.reason, p.code));
        }
      }
    },
  };
}
