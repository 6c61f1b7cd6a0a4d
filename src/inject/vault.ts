/**
 * The Vault injector (Flyte: `secret/vault_secret_manager.go`): annotations for the HashiCorp Vault Agent injector, which renders each secret to
 * `/etc/flyte/secrets/<group>/<key>` (case kept). `group` is the Vault path, `key` the field, `group_version` the
 * engine: `kv1` → `.Data`, `kv2` → `.Data.data`, `db` → no template, anything else → `vaultSecretManager.kvVersion`.
 *
 * Annotations are merged with precedence (lowest → highest): per-secret < common < `vaultSecretManager.annotations`
 * < the pod's existing annotations (the user wins).
 *
 * Better than Flyte: the per-secret id is deterministic ({@link vaultSecretId}: a name-based UUID of the request),
 * so identical pods get identical patches and re-admission adds nothing; a key that is not a template identifier is
 * read with `index` (Flyte writes `.Data.my-key`, which Vault Agent cannot parse); request text that could break out
 * of the template (`"`, `\`, `{{`, `}}`, control characters) or out of `/etc/flyte/secrets` is refused.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Config } from '../config/schema.js';
import { secretToString } from '../secret/annotations.js';
import { MountRequirement, type Secret } from '../secret/model.js';
import { SECRETS_MOUNT_ROOT } from '../secret/paths.js';
import { injected, notMine, refused, type InjectContext, type InjectOutcome, synchronousInjector, type SecretInjector } from './injector.js';
import { editablePod, setSharedEnv, controlCharProblem, fileModeEnvVars, quote, secretPath, unrecognizedMountRequirement } from './pod-edit.js';

/** Prefix of every Vault Agent annotation. */
export const VAULT_ANNOTATION_PREFIX = 'vault.hashicorp.com/';

/** UUID namespace of {@link vaultSecretId} (fixed; changing it changes every id). */
export const VAULT_ID_NAMESPACE = '3d4e1c2a-6f0b-5a8e-9c1d-7b2f4e6a8c0d';

/**
 * The deterministic id of a Vault request: a UUID version 5 (SHA-1, RFC 9562) of `[group, groupVersion, key]` as
 * JSON in {@link VAULT_ID_NAMESPACE}. Same shape as Flyte's random UUID v4 (lowercase, hyphenated).
 *
 * @example
 * ```ts
 * vaultSecretId(makeSecret({ group: 'foo', key: 'bar', groupVersion: 'kv1' })) // always the same UUID
 * ```
 */
export function vaultSecretId(secret: Pick<Secret, 'group' | 'groupVersion' | 'key'>): string {
  const ns = Buffer.from(VAULT_ID_NAMESPACE.replace(/-/g, ''), 'hex');
  const name = Buffer.from(JSON.stringify([secret.group, secret.groupVersion, secret.key]), 'utf8');
  const h = createHash('sha1').update(ns).update(name).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The Vault Agent template of a request, or undefined for the `db` engine. */
export function vaultTemplate(secret: Pick<Secret, 'group' | 'groupVersion' | 'key'>, kvVersion: '1' | '2'): string | undefined {
  let q: string;
  switch (secret.groupVersion) {
    case 'kv1':
      q = '.Data';
      break;
    case 'kv2':
      q = '.Data.data';
      break;
    case 'db':
      return undefined;
    default:
      q = kvVersion === '1' ? '.Data' : '.Data.data';
  }
  const field = /^[A-Za-z_][A-Za-z0-9_]*$/.test(secret.key) ? `${q}.${secret.key}` : `index ${q} "${secret.key}"`;
  return `{{- with secret "${secret.group}" -}}{{ ${field} }}{{- end -}}`;
}

function unsafeProblem(field: string, value: string): string | undefined {
  const p = controlCharProblem('Vault', field, value);
  if (p !== undefined) return p.reason;
  if (/["\\]|\{\{|\}\}/.test(value)) {
    return `Vault: the secret's ${field} ${quote(value)} contains '"', '\\', '{{' or '}}', which would change the Vault Agent template; remove them`;
  }
  return undefined;
}

/**
 * Create the Vault injector.
 *
 * @example
 * ```ts
 * await createVaultInjector(config).inject(makeSecret({ group: 'foo', key: 'bar', groupVersion: 'kv2' }), pod, ctx);
 * ```
 */
export function createVaultInjector(config: Config): SecretInjector {
  const cfg = config.webhook.vaultSecretManager;
  function injectVault(secret: Secret, pod: Pod, ctx: InjectContext): InjectOutcome {
    if (secret.group === '' || secret.key === '') {
      return notMine(`vault Secrets Webhook requires both key and group to be set. Secret: [${secretToString(secret)}]`, 'InvalidSecret');
    }
    if (secret.mountRequirement === MountRequirement.ENV_VAR) {
      return notMine('Env_Var is not a supported mount requirement for Vault Secret Manager', 'InjectionRefused');
    }
    if (secret.mountRequirement !== MountRequirement.ANY && secret.mountRequirement !== MountRequirement.FILE) {
      const p = unrecognizedMountRequirement(secret);
      return notMine(p.reason, p.code);
    }
    for (const [field, value] of [['group', secret.group], ['key', secret.key]] as const) {
      const p = unsafeProblem(field, value);
      if (p !== undefined) return refused(p, 'InvalidInput');
    }
    const file = secretPath('Vault', [secret.group, secret.key]);
    if ('problem' in file) return refused(file.problem.reason, file.problem.code);
    const id = vaultSecretId(secret);
    const perSecret: Record<string, string> = {
      [`${VAULT_ANNOTATION_PREFIX}agent-inject-secret-${id}`]: secret.group,
      [`${VAULT_ANNOTATION_PREFIX}agent-inject-file-${id}`]: `${secret.group}/${secret.key}`,
    };
    const template = vaultTemplate(secret, cfg.kvVersion);
    if (template !== undefined) perSecret[`${VAULT_ANNOTATION_PREFIX}agent-inject-template-${id}`] = template;
    const common: Record<string, string> = {
      [`${VAULT_ANNOTATION_PREFIX}agent-inject`]: 'true',
      [`${VAULT_ANNOTATION_PREFIX}secret-volume-path`]: SECRETS_MOUNT_ROOT,
      [`${VAULT_ANNOTATION_PREFIX}role`]: cfg.role,
      [`${VAULT_ANNOTATION_PREFIX}agent-pre-populate-only`]: 'true',
    };
    const out = editablePod(pod);
    out.metadata ??= {};
    out.metadata.annotations = { ...perSecret, ...common, ...cfg.annotations, ...(out.metadata.annotations ?? {}) };
    setSharedEnv(out, fileModeEnvVars(), ctx);
    return injected(out);
  }
  return synchronousInjector('Vault', injectVault);
}
