/**
 * The request model: Flyte's `Secret` message (flyteidl2.core.Secret), Flyte's `flyteidl2/core/security.proto`
 *
 * proto3 semantics: every scalar has implicit presence, so an absent field is the empty string (or `ANY` = 0).
 *
 * @module
 */

/** Flyte's `Secret.MountType`: where the task wants the secret. Numeric values are the proto enum numbers. */
export const MountRequirement = {
  /** The client can tolerate either (the default). */
  ANY: 0,
  /** As an environment variable. */
  ENV_VAR: 1,
  /** As a file under `/etc/flyte/secrets`. */
  FILE: 2,
} as const;

/** The name of a known mount requirement. */
export type MountRequirementName = keyof typeof MountRequirement;

/**
 * A secret request, as carried in a `flyte.secrets/s<i>` annotation.
 *
 * `mountRequirement` is a number so that unknown enum values (which Flyte's text parser accepts) survive
 * decoding and are rejected by the injectors with Flyte's message.
 */
export interface Secret {
  /** Backend-specific: K8s Secret name, Key Vault secret URI, AWS ARN prefix, GCP secret, Vault path. */
  group: string;
  /** Backend-specific version (Azure/GCP version; Vault engine `kv1`/`kv2`/`db`). */
  groupVersion: string;
  /** The key inside the group, or (Embedded) the Flyte-native secret name. */
  key: string;
  /** A {@link MountRequirement} number; values other than 0, 1, 2 are kept as given. */
  mountRequirement: number;
  /** Custom env-var name (value for ENV_VAR mounts, file path for FILE mounts). */
  envVar: string;
}

/**
 * Build a {@link Secret}, filling absent fields with proto3 defaults.
 *
 * @example
 * ```ts
 * makeSecret({ key: 'api-key', mountRequirement: MountRequirement.ENV_VAR })
 * ```
 */
export function makeSecret(fields: Partial<Secret> = {}): Secret {
  return {
    group: fields.group ?? '',
    groupVersion: fields.groupVersion ?? '',
    key: fields.key ?? '',
    mountRequirement: fields.mountRequirement ?? MountRequirement.ANY,
    envVar: fields.envVar ?? '',
  };
}

/** The enum name of a mount requirement, or the bare number for unknown values (as Go renders it). */
export function mountRequirementName(value: number): string {
  switch (value) {
    case MountRequirement.ANY:
      return 'ANY';
    case MountRequirement.ENV_VAR:
      return 'ENV_VAR';
    case MountRequirement.FILE:
      return 'FILE';
    default:
      return String(value);
  }
}

/** Parse a mount requirement name (`ANY`, `ENV_VAR`, `FILE`, case-insensitive); undefined when unknown. */
export function parseMountRequirement(name: string): number | undefined {
  const upper = name.trim().toUpperCase();
  if (upper === 'ANY' || upper === 'ENV_VAR' || upper === 'FILE') return MountRequirement[upper];
  return undefined;
}
