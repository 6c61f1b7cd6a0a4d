/**
 * The GCP injector (Flyte: `secret/gcp_secret_manager.go`): an init container running the Cloud SDK image, which downloads one secret version
 * with `gcloud secrets versions access` into a shared in-memory volume mounted read-only at `/etc/flyte/secrets`.
 * The file is `/etc/flyte/secrets/<lower(group)>/<lower(group_version)>`, as in Flyte.
 *
 * Better than Flyte: the init container runs a FIXED script ({@link GCP_SCRIPT}); the request reaches it only as
 * env vars (`FLYTE_SECRET_NAME`, `FLYTE_SECRET_VERSION`, `FLYTE_SECRET_PATH`) that the script quotes, so no request
 * text is ever parsed as shell code. Group and version must look like GCP names (which rules out option injection
 * such as a leading `-`), the file must stay inside `/etc/flyte/secrets`, and re-admission adds nothing.
 *
 * @module
 */
import type { Config } from '../config/schema.js';
import { secretToString } from '../secret/annotations.js';
import { MountRequirement, type Secret } from '../secret/model.js';
import { goToLower, SECRETS_MOUNT_ROOT } from '../secret/paths.js';
import { notMine, refused, type SecretInjector } from './injector.js';
import { quote, secretPath, jsonConstant, toResources, unrecognizedMountRequirement, type SidecarSpec } from './pod-edit.js';
import { sidecarInjector, type SidecarDecision } from './sidecar.js';

/** Name of the shared volume. */
export const GCP_VOLUME_NAME = 'gcp-secret-vol';
/** Init container name prefix; the name is this + N, N = number of init containers before it. */
export const GCP_CONTAINER_PREFIX = 'gcp-pull-secret-';

/**
 * The init container's script (run as `sh -ec <script>`). Same two `gcloud` calls, same file and same `chmod` as
 * Flyte's, with every request value read from a quoted env var.
 */
export const GCP_SCRIPT = [
  'mkdir -p "${FLYTE_SECRET_PATH%/*}"',
  'gcloud secrets versions access "$FLYTE_SECRET_NAME/versions/$FLYTE_SECRET_VERSION" --out-file="$FLYTE_SECRET_PATH" || gcloud secrets versions access "$FLYTE_SECRET_VERSION" --secret="$FLYTE_SECRET_NAME" --out-file="$FLYTE_SECRET_PATH"',
  'chmod +rX "${FLYTE_SECRET_PATH%/*}" "$FLYTE_SECRET_PATH"',
  '',
].join('\n');

const NAME_PART = /^[\p{L}\p{N}_][\p{L}\p{N}_-]*$/u;

/** A GCP secret id, or a resource name `projects/<p>/secrets/<s>`: parts of letters, digits, `_`, `-` joined by `/`. */
function isGcpSecretName(group: string): boolean {
  return group.split('/').every((part) => NAME_PART.test(part));
}

/**
 * Create the GCP injector.
 *
 * @example
 * ```ts
 * await createGcpInjector(config).inject(makeSecret({ group: 'TestSecret', groupVersion: '2' }), pod, ctx);
 * // file /etc/flyte/secrets/testsecret/2
 * ```
 */
export function createGcpInjector(config: Config): SecretInjector {
  const cfg = config.webhook.gcpSecretManager;
  // Per-config constants, computed once (each pod gets copies).
  const resources = jsonConstant(toResources(cfg.resources));
  const command = jsonConstant(['sh', '-ec', GCP_SCRIPT]);
  function planGcp(secret: Secret): SidecarDecision {
    if (secret.group === '' || secret.groupVersion === '') {
      return notMine(`GCP Secrets Webhook require both group and group version to be set. Secret: [${secretToString(secret)}]`, 'InvalidSecret');
    }
    if (secret.mountRequirement !== MountRequirement.ANY && secret.mountRequirement !== MountRequirement.FILE) {
      const p = unrecognizedMountRequirement(secret);
      return notMine(p.reason, p.code);
    }
    if (!isGcpSecretName(secret.group)) {
      return notMine(
        `GCP: the secret's group ${quote(secret.group)} is not a GCP secret name (letters, digits, "_" and "-", not starting with "-") or resource name (projects/<project>/secrets/<name>)`,
        'InvalidInput',
      );
    }
    if (!NAME_PART.test(secret.groupVersion)) {
      return refused(`GCP: the secret's group_version ${quote(secret.groupVersion)} is not a GCP secret version (a number, "latest" or an alias: letters, digits, "_" and "-", not starting with "-")`, 'InvalidInput');
    }
    const file = secretPath('GCP', [goToLower(secret.group), goToLower(secret.groupVersion)]);
    if ('problem' in file) return refused(file.problem.reason, file.problem.code);
    const sidecar: SidecarSpec = {
      manager: 'GCP',
      volumeName: GCP_VOLUME_NAME,
      namePrefix: GCP_CONTAINER_PREFIX,
      image: cfg.sidecarImage,
      resources,
      command,
      env: [
        { name: 'FLYTE_SECRET_NAME', value: secret.group },
        { name: 'FLYTE_SECRET_VERSION', value: secret.groupVersion },
        { name: 'FLYTE_SECRET_PATH', value: file.path },
      ],
      ownMountPath: SECRETS_MOUNT_ROOT,
      pathEnv: 'FLYTE_SECRET_PATH',
    };
    return { sidecar };
  }
  return sidecarInjector('GCP', planGcp);
}
