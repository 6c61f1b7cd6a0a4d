/**
 * The K8s injector (Flyte: `secret/k8s_secrets.go`): a Kubernetes Secret in the pod's namespace, referenced by the pod.
 *
 * `group` is the Secret's name (`md5hex(key)` when empty), `key` the key inside it. FILE/ANY mounts the Secret as a
 * volume at `/etc/flyte/secrets/<lower(group)>` with the item `<key>` → `<lower(key)>`; ENV_VAR sets
 * `UPPER(<secretEnvVarPrefix><group>_<key>)` from a `secretKeyRef`. Secrets are marked `optional`, so a missing Secret
 * or key is tolerated at runtime, as in Flyte.
 *
 * Better than Flyte: the md5 fallback is local (the caller's Secret is not changed); two versions of one group share
 * one volume and one mount (a valid pod); a volume name longer than 63 characters is replaced by a hashed name; an
 * item already present is not added twice; keys Kubernetes would refuse are refused with a clear message, and so is a
 * group that cannot be a Secret name (a Key Vault URI or an ARN that reached K8s down the chain, for instance), for
 * the file volume and the env `secretKeyRef` alike; upper-case letters only get an admission warning (Flyte's vectors
 * use `grOUP`).
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
import { injected, notMine, refused, type InjectContext, type InjectOutcome, synchronousInjector, warnOnce, type SecretInjector } from './injector.js';
import {
  allContainers,
  receivingContainers,
  setSharedEnv,
  appendVolumeMounts,
  editablePod,
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

/** Longest Secret name Kubernetes accepts (a DNS-1123 subdomain). */
export const MAX_SECRET_NAME_LENGTH = 253;

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

/**
 * True when `name` can be the name of a Kubernetes Secret: an RFC 1123 subdomain (letters, digits, `-` and `.`,
 * dot-separated parts starting and ending with a letter or digit, at most 253 characters). Upper-case letters are
 * let through, as in Flyte's own vectors (`grOUP`), although the API server refuses them ({@link k8sSecretNameWarning}).
 *
 * @example
 * ```ts
 * isK8sSecretName('db-creds') // true
 * isK8sSecretName('https://v.vault.azure.net/secrets/db') // false
 * ```
 */
export function isK8sSecretName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_SECRET_NAME_LENGTH && SUBDOMAIN.test(name);
}

/** The admission warning for a Secret name with upper-case letters (the API server refuses such a pod). */
export function k8sSecretNameWarning(name: string): string {
  return `K8s: the Secret name ${quote(name)} has upper-case letters, which Kubernetes does not allow in a Secret name, so the API server will refuse this pod; use the Secret's (lower-case) name as the group`;
}

/** Kubernetes' rule for a key of a Secret (`IsConfigMapKey`). */
function isSecretKey(key: string): boolean {
  return key.length > 0 && key.length <= 253 && /^[-._a-zA-Z0-9]+$/.test(key) && key !== '.' && !key.startsWith('..');
}

/** A refusal when `group` cannot be the name of the Secret that the volume or the `secretKeyRef` points at. */
function secretNameProblem(group: string): InjectOutcome | undefined {
  if (isK8sSecretName(group)) return undefined;
  return notMine(
    `K8s: the secret's group ${quote(group)} cannot be the name of a Kubernetes Secret (lower-case letters, digits, "-" and ".", each dot-separated part starting and ending with a letter or digit, at most ${MAX_SECRET_NAME_LENGTH} characters), so the API server would refuse the pod; use the name of a Secret in the pod's namespace`,
    'InvalidInput',
  );
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

  function injectFile(secret: Secret, group: string, pod: Pod, ctx: InjectContext): InjectOutcome {
    const dir = secretPath('K8s', [goToLower(group)]);
    if ('problem' in dir) return refused(dir.problem.reason, dir.problem.code);
    const file = secretPath('K8s', [goToLower(group), goToLower(secret.key)]);
    if ('problem' in file) return refused(file.problem.reason, file.problem.code);
    const badName = secretNameProblem(group);
    if (badName !== undefined) return badName;
    const out = editablePod(pod);
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
      if (samePath === undefined) {
        // Copy-on-write: the volume is shared with the input pod (editablePod), so it is replaced, not edited.
        const edited: Volume = { ...ours, secret: { ...ours.secret, items: [...items, item] } };
        spec.volumes = volumes.map((v) => (v === ours ? edited : v));
      }
    } else {
      if (volumes.some((v) => v.name === wanted)) {
        return refused(`K8s: the pod already has a volume named ${quote(wanted)} that is not Secret ${quote(group)}; rename that volume`, 'InjectionRefused');
      }
      volumeName = wanted;
      spec.volumes = [...volumes, { name: wanted, secret: { secretName: group, items: [item], optional: true } }];
    }
    appendVolumeMounts(receivingContainers(out, ctx), { name: volumeName, readOnly: true, mountPath: dir.path });
    const env: EnvVar[] = fileModeEnvVars();
    if (secret.envVar !== '') env.push({ name: secret.envVar, value: file.path });
    setSharedEnv(out, env, ctx);
    return injected(out);
  }

  function injectEnv(secret: Secret, group: string, pod: Pod, ctx: InjectContext): InjectOutcome {
    const badName = secretNameProblem(group);
    if (badName !== undefined) return badName;
    const name = envVarName(prefix, group, secret.key);
    const bad = envVarNameProblem('K8s', name, 'the secret');
    if (bad !== undefined) return refused(bad.reason, bad.code);
    const valueFrom = { secretKeyRef: { name: group, key: secret.key, optional: true } };
    const vars: EnvVar[] = [{ name, valueFrom }];
    if (secret.envVar !== '') vars.push({ name: secret.envVar, valueFrom });
    vars.push({ name: ENV_SECRETS_ENV_PREFIX, value: prefix });
    const out = editablePod(pod);
    setSharedEnv(out, vars, ctx);
    return injected(out);
  }

  function injectK8s(secret: Secret, pod: Pod, ctx: InjectContext): InjectOutcome {
    if (secret.key === '') return notMine(`k8s Secrets Webhook require key to be set. Secret: [${secretToString(secret)}]`, 'InvalidSecret');
    const group = secret.group === '' ? md5Hex(secret.key) : secret.group;
    const bad = checkFields(secret, group);
    if (bad !== undefined) return refused(bad.reason, bad.code);
    let outcome: InjectOutcome;
    switch (secret.mountRequirement) {
      case MountRequirement.ANY:
      case MountRequirement.FILE:
        outcome = injectFile(secret, group, pod, ctx);
        break;
      case MountRequirement.ENV_VAR:
        outcome = injectEnv(secret, group, pod, ctx);
        break;
      default: {
        const p = unrecognizedMountRequirement(secret);
        return notMine(p.reason, p.code);
      }
    }
    if (outcome.injected && group !== group.toLowerCase()) {
      warnOnce(ctx.warnings, k8sSecretNameWarning(group));
    }
    return outcome;
  }

  return synchronousInjector('K8s', injectK8s);
}
