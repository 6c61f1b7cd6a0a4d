/**
 * The pod-annotation wire format of secret requests (Flyte: `utils/secrets/marshaler.go`): annotation `flyte.secrets/s<i>` holds
 * `CustomBase32(ProtoText(secret))`, and the label `inject-flyte-secrets: "true"` opts the pod into the webhook.
 *
 * Byte-compatible with flyteplugins `utils/secrets/marshaler.go`, with one deliberate difference: decoded secrets
 * come back in annotation-index order (s0, s1, …, s10 numerically) instead of Go's random map order.
 *
 * @module
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { FlyteSecretsError, isFlyteSecretsError } from '../errors.js';
import { decodeFlyteBase32, encodeFlyteBase32 } from './base32.js';
import { mountRequirementName, type Secret } from './model.js';
import { marshalSecretText, unmarshalSecretText } from './prototext.js';

export { marshalSecretText, unmarshalSecretText, secretToString } from './prototext.js';

/** Prefix of every secret-request annotation key; the i-th secret is `flyte.secrets/s<i>` (no zero padding). */
export const SECRET_ANNOTATION_PREFIX = 'flyte.secrets/s';

/** The opt-in label the webhook's objectSelector matches. */
export const INJECT_LABEL = 'inject-flyte-secrets';

/** Value of {@link INJECT_LABEL}. */
export const INJECT_LABEL_VALUE = 'true';

/** Longest allowed annotation value, in characters (Kubernetes' 256 KiB annotation limit, checked per value by Flyte). */
export const MAX_SECRET_ANNOTATION_LENGTH = 262144;

/** Prefix of every decode error, as the Flyte webhook reports it (admission is denied with HTTP 400). */
const UNMARSHAL_PREFIX = 'failed to unmarshal secrets from pod annotations: ';

/**
 * Encode one secret as an annotation value. Mirrors the executor's checks (Flyte: `utils/secrets/marshaler.go`): an unknown mount requirement
 * fails with «invalid mount requirement [<v>]», a value longer than 262144 characters with «secret descriptor cannot
 * exceed [262144]» (both code `InvalidSecret`).
 *
 * @example
 * ```ts
 * encodeSecretAnnotation(makeSecret({ key: 'my_key' })) // 'nnsxsoraejwxsx2lmv3secq'
 * ```
 */
export function encodeSecretAnnotation(s: Secret): string {
  if (s.mountRequirement !== 0 && s.mountRequirement !== 1 && s.mountRequirement !== 2) {
    throw new FlyteSecretsError('InvalidSecret', `invalid mount requirement [${mountRequirementName(s.mountRequirement)}]`);
  }
  const value = encodeFlyteBase32(marshalSecretText(s));
  if (value.length > MAX_SECRET_ANNOTATION_LENGTH) {
    throw new FlyteSecretsError('InvalidSecret', `secret descriptor cannot exceed [${MAX_SECRET_ANNOTATION_LENGTH}]`);
  }
  return value;
}

/**
 * Decode one annotation value. `key` is only used in the error text, which is Flyte's: «failed to unmarshal secrets
 * from pod annotations: error unmarshaling secret [<key>]. Error: <cause>» (code `InvalidAnnotation`), where the
 * cause is Go's base32 or text-format error (e.g. «illegal base32 data at input byte 3»).
 *
 * @example
 * ```ts
 * decodeSecretAnnotation('flyte.secrets/s0', 'nnsxsoraejwxsx2lmv3secq').key // 'my_key'
 * ```
 */
export function decodeSecretAnnotation(key: string, value: string): Secret {
  try {
    if (typeof value !== 'string') throw new FlyteSecretsError('InvalidAnnotation', 'annotation value is not a string');
    return unmarshalSecretText(decodeFlyteBase32(value));
  } catch (err) {
    const cause = isFlyteSecretsError(err) ? err.message : 'unexpected decoding failure';
    throw new FlyteSecretsError('InvalidAnnotation', `${UNMARSHAL_PREFIX}error unmarshaling secret [${key}]. Error: ${cause}`, {
      cause: err,
    });
  }
}

/**
 * The annotations for a task's secrets: `{ 'flyte.secrets/s0': …, 'flyte.secrets/s1': … }` (`{}` for none).
 * Throws like {@link encodeSecretAnnotation}.
 *
 * @example
 * ```ts
 * secretsToAnnotations([makeSecret({ key: 'my_key' })]) // { 'flyte.secrets/s0': 'nnsxsoraejwxsx2lmv3secq' }
 * ```
 */
export function secretsToAnnotations(secrets: readonly Secret[]): Record<string, string> {
  const out: Record<string, string> = {};
  secrets.forEach((s, i) => {
    out[`${SECRET_ANNOTATION_PREFIX}${i}`] = encodeSecretAnnotation(s);
  });
  return out;
}

/** A secret request decoded from a pod annotation. */
export interface DecodedSecret {
  /** The annotation key, e.g. `flyte.secrets/s3`. */
  annotationKey: string;
  /** The decimal suffix (3 for `flyte.secrets/s3`); `Infinity` for a non-numeric suffix (`flyte.secrets/sX`). */
  index: number;
  /** The request. */
  secret: Secret;
}

/** Annotation-index order: numerically by suffix, then non-numeric suffixes, ties broken by key. */
function byIndex(a: { key: string; index: number }, b: { key: string; index: number }): number {
  if (a.index !== b.index) return a.index < b.index ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function annotationIndex(key: string): number {
  const suffix = key.slice(SECRET_ANNOTATION_PREFIX.length);
  return /^[0-9]+$/.test(suffix) ? Number(suffix) : Number.POSITIVE_INFINITY;
}

/**
 * Decode every annotation whose key starts with `flyte.secrets/s` (other annotations are ignored), in annotation-index
 * order: numerically by suffix (s0, s1, s2, …, s10), then non-numeric suffixes, ties broken by key. Throws the first
 * failure in that order, as {@link decodeSecretAnnotation} does.
 *
 * @example
 * ```ts
 * decodeSecretAnnotations(pod.metadata?.annotations).map((d) => d.secret)
 * ```
 */
export function decodeSecretAnnotations(annotations: Record<string, string> | undefined): DecodedSecret[] {
  if (annotations === undefined || annotations === null) return [];
  const keys: { key: string; index: number }[] = [];
  let ordered = true;
  for (const key in annotations) {
    if (!Object.hasOwn(annotations, key) || !key.startsWith(SECRET_ANNOTATION_PREFIX)) continue;
    const entry = { key, index: annotationIndex(key) };
    const last = keys[keys.length - 1];
    if (last !== undefined && byIndex(last, entry) > 0) ordered = false;
    keys.push(entry);
  }
  // Pods usually list s0, s1, … in order: sort only when they do not.
  if (!ordered) keys.sort(byIndex);
  return keys.map(({ key, index }) => ({
    annotationKey: key,
    index,
    secret: decodeSecretAnnotation(key, annotations[key]!),
  }));
}

/**
 * What the Flyte executor does to a task pod with secrets (pure; the input is not modified): merge the
 * `flyte.secrets/s<i>` annotations over the pod's own annotations (ours win on a key collision) and add the label
 * `inject-flyte-secrets: "true"`; everything else is kept. With no secrets the pod is returned as is (no label).
 * Stale `flyte.secrets/s<j>` annotations beyond the new list are kept, as Flyte's map union does.
 *
 * @example
 * ```ts
 * annotatePod({ metadata: { name: 'p' } }, [makeSecret({ key: 'k', mountRequirement: MountRequirement.FILE })])
 * ```
 */
export function annotatePod(pod: Pod, secrets: readonly Secret[]): Pod {
  if (secrets.length === 0) return pod;
  const annotations = secretsToAnnotations(secrets);
  const metadata = pod.metadata ?? {};
  return {
    ...pod,
    metadata: {
      ...metadata,
      annotations: { ...(metadata.annotations ?? {}), ...annotations },
      labels: { ...(metadata.labels ?? {}), [INJECT_LABEL]: INJECT_LABEL_VALUE },
    },
  };
}
