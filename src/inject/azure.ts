/**
 * The Azure injector (Flyte: `secret/azure_secret_manager.go`): an init container running the Azure CLI image, which logs in with Azure
 * workload identity and writes one Key Vault secret (the raw value, as `az … -o tsv` prints it) into a shared
 * in-memory volume mounted read-only at `/etc/flyte/secrets`.
 *
 * `group` is the Key Vault secret URI (`https://<vault>.vault.azure.net/secrets/<name>[/<version>]`), `group_version`
 * an optional version. The file is `/etc/flyte/secrets/<lower(name)>/<lower(version)>`, or
 * `/etc/flyte/secrets/<lower(name)>` without a version — Flyte's paths.
 *
 * Better than Flyte: the URI goes through the strict parser (`parseKeyVaultSecretUri`), so a version inside the URI
 * is understood (Flyte names the file after the version) and a `group_version` that disagrees with it is refused;
 * the init container runs a FIXED script ({@link AZURE_SCRIPT}) that reads the request from quoted env vars
 * (`FLYTE_SECRET_ID`, `FLYTE_SECRET_PATH`), so no request text is ever parsed as shell code; re-admission adds no
 * second init container; and a pod with no sign of workload identity gets an admission warning.
 *
 * With `flyteSecrets.azure.delivery: agent`, the pod gets one `flyte-secrets-agent` init container for all its Key
 * Vault secrets instead (./agent.ts), same files at the same paths; with `flyteSecrets.envFiles: true` as well, an
 * ENV_VAR secret becomes `<secretEnvVarPrefix><UPPER(name)>` (and `env_var` when given) from the agent's env file
 * (`fileKeyRef`). Without that, ENV_VAR is refused as in Flyte, with a sentence naming the option.
 *
 * @module
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { parseKeyVaultSecretUri } from '../azure/secret-uri.js';
import type { Config } from '../config/schema.js';
import { errorMessage, isFlyteSecretsError } from '../errors.js';
import { secretToString } from '../secret/annotations.js';
import { MountRequirement, type Secret } from '../secret/model.js';
import { goToLower, SECRETS_MOUNT_ROOT } from '../secret/paths.js';
import { addAgentDelivery, type AgentSettings } from './agent.js';
import { injected, notMine, refused, type InjectContext, type InjectOutcome, type Refusal, synchronousInjector, warnOnce, type SecretInjector } from './injector.js';
import { allContainers, editablePod, controlCharProblem, envVarNameProblem, quote, secretPath, jsonConstant, toResources, unrecognizedMountRequirement, type SidecarSpec } from './pod-edit.js';
import { sidecarInjector } from './sidecar.js';
import { ENV_SECRETS_ENV_PREFIX, envVarName } from '../secret/paths.js';

/** Name of the shared volume. */
export const AZURE_VOLUME_NAME = 'azure-secret-vol';
/** Init container name prefix; the name is this + N, N = number of init containers before it. */
export const AZURE_CONTAINER_PREFIX = 'azure-pull-secret-';
/** The pod label the Azure Workload Identity webhook looks for. */
export const AZURE_WORKLOAD_IDENTITY_LABEL = 'azure.workload.identity/use';

/**
 * The init container's script (run as `sh -ec <script>`): Flyte's `az login` with a federated token, then
 * `az keyvault secret show --id … --query "value" -o tsv` into the file. Every value comes from a quoted env var.
 */
export const AZURE_SCRIPT = [
  'az login --service-principal -u "$AZURE_CLIENT_ID" -t "$AZURE_TENANT_ID" --federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")"',
  'mkdir -p "${FLYTE_SECRET_PATH%/*}"',
  'az keyvault secret show --id "$FLYTE_SECRET_ID" --query "value" -o tsv > "$FLYTE_SECRET_PATH"',
  '',
].join('\n');

/** The admission warning given when a pod with Azure secrets shows no sign of workload identity. */
export const AZURE_NO_WORKLOAD_IDENTITY_WARNING =
  'Azure secrets are fetched with workload identity, but this pod has no label azure.workload.identity/use=true and no AZURE_* env: add the label and use a service account annotated with azure.workload.identity/client-id';

const VERSION = /^[0-9A-Za-z-]{1,127}$/;
const NO_OPTIONS = {};

/** Where a Key Vault secret request lands: the canonical secret id and the file. */
export interface AzureSecretTarget {
  /** `https://<host>/secrets/<name>[/<version>]`, passed to `az keyvault secret show --id`. */
  id: string;
  /** `/etc/flyte/secrets/<lower(name)>[/<lower(version)>]`. */
  path: string;
}

/**
 * Resolve an Azure request (URI in `group`, optional `groupVersion`) to its secret id and file path, or a refusal
 * reason. Trailing `/` on the URI are ignored, as in Flyte.
 *
 * @example
 * ```ts
 * azureSecretTarget(makeSecret({ group: 'https://v.vault.azure.net/secrets/db', groupVersion: 'AbC' }))
 * // { id: 'https://v.vault.azure.net/secrets/db/AbC', path: '/etc/flyte/secrets/db/abc' }
 * ```
 */
export function azureSecretTarget(secret: Pick<Secret, 'group' | 'groupVersion'>, extraDnsSuffixes: readonly string[] = []): AzureSecretTarget | { reason: string; code: 'InvalidKeyVaultUri' | 'InvalidInput' | 'InvalidPath' } {
  const p = controlCharProblem('Azure', 'group', secret.group) ?? controlCharProblem('Azure', 'group_version', secret.groupVersion);
  if (p !== undefined) return { reason: p.reason, code: 'InvalidInput' };
  let ref;
  try {
    const group = secret.group.endsWith('/') ? secret.group.replace(/\/+$/, '') : secret.group;
    ref = parseKeyVaultSecretUri(group, extraDnsSuffixes.length === 0 ? NO_OPTIONS : { extraDnsSuffixes });
  } catch (err) {
    if (!isFlyteSecretsError(err)) throw err;
    return { reason: `Azure: the secret's group must be a Key Vault secret URI: ${errorMessage(err)}`, code: 'InvalidKeyVaultUri' };
  }
  if (secret.groupVersion !== '' && !VERSION.test(secret.groupVersion)) {
    return { reason: `Azure: the secret's group_version ${quote(secret.groupVersion)} is not a Key Vault secret version (letters, digits and "-")`, code: 'InvalidInput' };
  }
  if (ref.version !== '' && secret.groupVersion !== '' && ref.version.toLowerCase() !== secret.groupVersion.toLowerCase()) {
    return {
      reason: `Azure: the secret URI ${quote(secret.group)} names version ${quote(ref.version)} but group_version is ${quote(secret.groupVersion)}; give the version in one place`,
      code: 'InvalidInput',
    };
  }
  const version = ref.version !== '' ? ref.version : secret.groupVersion;
  const file = secretPath('Azure', version === '' ? [goToLower(ref.name)] : [goToLower(ref.name), goToLower(version)]);
  if ('problem' in file) return { reason: file.problem.reason, code: 'InvalidPath' };
  return { id: `${ref.vaultUrl}/secrets/${ref.name}${version === '' ? '' : `/${version}`}`, path: file.path };
}

/** What an ENV_VAR request for a Key Vault URI is told when it cannot be an env var here. */
export const AZURE_ENV_VAR_HINT =
  'a Key Vault secret can be an environment variable only through Kubernetes env files: set flyteSecrets.azure.delivery: agent and flyteSecrets.envFiles: true (Kubernetes 1.35 or later; 1.34 only with the EnvFiles feature gate on), or request it as a file';

/** `flyteSecrets.agent` as the agent builder takes it (the deadline as a Go duration). */
export function agentSettings(config: Config): AgentSettings {
  const a = config.flyteSecrets.agent;
  const ms = a.deadline;
  return { image: a.image, resources: toResources(a.resources), deadline: ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms` };
}

function hasWorkloadIdentity(pod: Pod): boolean {
  if (pod.metadata?.labels?.[AZURE_WORKLOAD_IDENTITY_LABEL] === 'true') return true;
  return allContainers(pod).some((c) => (c.env ?? []).some((e) => e.name.startsWith('AZURE_')));
}

/**
 * Create the Azure injector.
 *
 * @example
 * ```ts
 * const azure = createAzureInjector(config);
 * await azure.inject(makeSecret({ group: 'https://v.vault.azure.net/secrets/db', mountRequirement: MountRequirement.FILE }), pod, ctx);
 * ```
 */
export function createAzureInjector(config: Config): SecretInjector {
  const cfg = config.webhook.azureSecretManager;
  const ext = config.flyteSecrets.azure;
  // Per-config constants, computed once (each pod gets copies).
  const resources = jsonConstant(toResources(cfg.resources));
  const command = jsonConstant(['sh', '-ec', AZURE_SCRIPT]);
  const agentMode = ext.delivery === 'agent';
  const envFiles = agentMode && config.flyteSecrets.envFiles;
  const agent = agentMode ? agentSettings(config) : undefined;
  const prefix = config.webhook.secretEnvVarPrefix;
  const warning = ext.warnWithoutWorkloadIdentity ? (pod: Pod): string | undefined => (hasWorkloadIdentity(pod) ? undefined : AZURE_NO_WORKLOAD_IDENTITY_WARNING) : undefined;
  /** The secret's Key Vault target, or why this manager does not deliver it (the same for both deliveries). */
  function targetOf(secret: Secret): AzureSecretTarget | Refusal {
    if (secret.group === '') {
      return notMine(`azure Secrets Webhook require both group and group version to be set. Secret: [${secretToString(secret)}]`, 'InvalidSecret');
    }
    const asEnv = secret.mountRequirement === MountRequirement.ENV_VAR;
    if (secret.mountRequirement !== MountRequirement.ANY && secret.mountRequirement !== MountRequirement.FILE && !(asEnv && envFiles)) {
      const p = unrecognizedMountRequirement(secret);
      return notMine(asEnv && /^https:\/\//i.test(secret.group) ? `${p.reason}: ${AZURE_ENV_VAR_HINT}` : p.reason, p.code);
    }
    const target = azureSecretTarget(secret, ext.extraVaultDnsSuffixes);
    if (!('id' in target)) {
      // A group that does not even look like a URL is some other manager's (a K8s Secret name, an ARN…).
      return target.code === 'InvalidKeyVaultUri' && !/^https?:\/\//i.test(secret.group) ? notMine(target.reason, target.code) : refused(target.reason, target.code);
    }
    return target;
  }
  if (agent === undefined) {
    return sidecarInjector('Azure', (secret) => {
      const target = targetOf(secret);
      if (!('id' in target)) return target;
      const sidecar: SidecarSpec = {
        manager: 'Azure',
        volumeName: AZURE_VOLUME_NAME,
        namePrefix: AZURE_CONTAINER_PREFIX,
        image: cfg.sidecarImage,
        resources,
        command,
        env: [
          { name: 'FLYTE_SECRET_ID', value: target.id },
          { name: 'FLYTE_SECRET_PATH', value: target.path },
        ],
        ownMountPath: SECRETS_MOUNT_ROOT,
        pathEnv: 'FLYTE_SECRET_PATH',
      };
      return { sidecar, warning };
    });
  }
  const injectWithAgent = (secret: Secret, pod: Pod, ctx: InjectContext): InjectOutcome => {
    const target = targetOf(secret);
    if (!('id' in target)) return target;
    const out = editablePod(pod);
    let problem;
    if (secret.mountRequirement === MountRequirement.ENV_VAR) {
      const name = target.id.split('/')[4] ?? '';
      const names = [envVarName(prefix, name)];
      if (secret.envVar !== '' && secret.envVar !== names[0]) names.push(secret.envVar);
      for (const n of names) {
        const bad = envVarNameProblem('Azure', n, n === secret.envVar ? 'env_var' : `the secret name (with prefix ${quote(prefix)})`);
        if (bad !== undefined) return refused(bad.reason, bad.code);
        if (/[\s'=]/.test(n) || n.startsWith('#')) return refused(`Azure: the environment variable name ${quote(n)} cannot be a key of a Kubernetes env file (no spaces, "'" or "=", no leading "#"); change env_var`, 'InvalidInput');
      }
      const literal = [{ name: ENV_SECRETS_ENV_PREFIX, value: prefix }];
      problem = addAgentDelivery(out, { kind: 'env', source: target.id, key: names[0] ?? '', names, literal }, agent, ctx);
    } else {
      problem = addAgentDelivery(out, { kind: 'file', source: target.id, path: target.path }, agent, ctx);
    }
    if (problem !== undefined) return refused(`Azure: ${problem.reason}`, problem.code);
    warnOnce(ctx.warnings, warning?.(out));
    return injected(out);
  };
  return synchronousInjector('Azure', injectWithAgent);
}
