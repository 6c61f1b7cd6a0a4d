/**
 * The AWS injector (Flyte: `secret/aws_secret_manager.go`): an init container running the AWS Secrets Manager sidecar image, which reads
 * `SECRET_ARN` and writes the value to `/tmp` + `SECRET_FILENAME` in a shared in-memory volume. Task containers see
 * the volume read-only at `/etc/flyte/secrets`, so the file is `/etc/flyte/secrets/<lower(group)>/<lower(key)>`.
 *
 * `SECRET_ARN` = `trimRight(group, ":") + ":" + trimLeft(key, ":")`. FILE and ANY only; ENV_VAR is refused.
 * No shell is involved (the image's own entrypoint reads the env). Stricter than Flyte: a group/key whose file
 * would land outside `/etc/flyte/secrets` is refused; re-admission does not add a second init container.
 *
 * @module
 */
import type { Config } from '../config/schema.js';
import { secretToString } from '../secret/annotations.js';
import { MountRequirement, type Secret } from '../secret/model.js';
import { goToLower, SECRETS_MOUNT_ROOT } from '../secret/paths.js';
import { notMine, refused, type SecretInjector } from './injector.js';
import { controlCharProblem, secretPath, jsonConstant, toResources, unrecognizedMountRequirement, type SidecarSpec } from './pod-edit.js';
import { sidecarInjector, type SidecarDecision } from './sidecar.js';

/** Name of the shared volume. */
export const AWS_VOLUME_NAME = 'aws-secret-vol';
/** Init container name prefix; the name is this + N, N = number of init containers before it. */
export const AWS_CONTAINER_PREFIX = 'aws-pull-secret-';
/** Where the sidecar mounts the shared volume. */
export const AWS_SIDECAR_MOUNT_PATH = '/tmp';

/**
 * Create the AWS injector.
 *
 * @example
 * ```ts
 * await createAwsInjector(config).inject(makeSecret({ group: 'arn', key: 'name' }), pod, ctx);
 * // init container aws-pull-secret-0 with SECRET_ARN=arn:name, SECRET_FILENAME=/arn/name
 * ```
 */
export function createAwsInjector(config: Config): SecretInjector {
  const cfg = config.webhook.awsSecretManager;
  // Per-config constants, computed once (each pod gets copies).
  const resources = jsonConstant(toResources(cfg.resources));
  function planAws(secret: Secret): SidecarDecision {
    if (secret.group === '' || secret.key === '') {
      return notMine(`AWS Secrets Webhook require both key and group to be set. Secret: [${secretToString(secret)}]`, 'InvalidSecret');
    }
    if (secret.mountRequirement !== MountRequirement.ANY && secret.mountRequirement !== MountRequirement.FILE) {
      const p = unrecognizedMountRequirement(secret);
      return notMine(p.reason, p.code);
    }
    for (const [field, value] of [['group', secret.group], ['key', secret.key]] as const) {
      const p = controlCharProblem('AWS', field, value);
      if (p !== undefined) return refused(p.reason, p.code);
    }
    const file = secretPath('AWS', [goToLower(secret.group), goToLower(secret.key)]);
    if ('problem' in file) return refused(file.problem.reason, file.problem.code);
    const arn = `${secret.group.replace(/:+$/, '')}:${secret.key.replace(/^:+/, '')}`;
    const sidecar: SidecarSpec = {
      manager: 'AWS',
      volumeName: AWS_VOLUME_NAME,
      namePrefix: AWS_CONTAINER_PREFIX,
      image: cfg.sidecarImage,
      resources,
      env: [
        { name: 'SECRET_ARN', value: arn },
        { name: 'SECRET_FILENAME', value: file.path.slice(SECRETS_MOUNT_ROOT.length) },
      ],
      ownMountPath: AWS_SIDECAR_MOUNT_PATH,
      pathEnv: 'SECRET_FILENAME',
    };
    return { sidecar };
  }
  return sidecarInjector('AWS', planAws);
}
