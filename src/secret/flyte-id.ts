/**
 * Flyte-native secret identities (Flyte: `secret/utils.go`) and the Kubernetes names derived from them (Flyte: `secret/imagepull_kubernetes_utils.go`).
 *
 * The canonical id string is `u__org__<org>__domain__<domain>__project__<project>__key__<name>`; empty components stay
 * empty. Org, domain and project must not contain `__` nor start or end with `_` (Flyte does not check this on encode;
 * decoding would then split them differently), while the name may contain anything.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { FlyteSecretsError } from '../errors.js';

/** A Flyte-native secret: its name and the scope it lives in (empty domain/project = a broader scope). */
export interface FlyteSecretId {
  org: string;
  domain: string;
  project: string;
  name: string;
}

/** The organisation of Flyte OSS (its only one): the default `--org` of every command. */
export const DEFAULT_ORG = 'flyte';

const SEP = '__';
const NOT_ENOUGH_PARTS = 'secret name has an invalid format: not enough parts';
const UNEXPECTED_PARTS = 'secret name has an invalid format: unexpected parts';

/**
 * Flyte's `EncodeSecretName`.
 *
 * @example
 * ```ts
 * encodeSecretName({ org: 'flyte', domain: '', project: '', name: 'x' }) // 'u__org__flyte__domain____project____key__x'
 * ```
 */
export function encodeSecretName(id: FlyteSecretId): string {
  return `u__org__${id.org}__domain__${id.domain}__project__${id.project}__key__${id.name}`;
}

/**
 * Flyte's `EncodeSecretNamePrefix` (for listing): up to the project value when `project` is set, else up to the
 * domain value when `domain` is set, else `u__org__<org>`.
 *
 * @example
 * ```ts
 * encodeSecretNamePrefix('o', 'd', '') // 'u__org__o__domain__d'
 * ```
 */
export function encodeSecretNamePrefix(org: string, domain: string, project: string): string {
  if (project !== '') return `u__org__${org}__domain__${domain}__project__${project}`;
  if (domain !== '') return `u__org__${org}__domain__${domain}`;
  return `u__org__${org}`;
}

/**
 * Flyte's `DecodeSecretName`: split on every `__`; the name is everything after `__key__` (so it may contain `__`).
 * Errors (code `InvalidFlyteId`) carry Flyte's texts «secret name has an invalid format: not enough parts» and
 * «secret name has an invalid format: unexpected parts».
 *
 * @example
 * ```ts
 * decodeSecretName('u__org__o__domain__d__project__p__key__a__b') // { org: 'o', domain: 'd', project: 'p', name: 'a__b' }
 * ```
 */
export function decodeSecretName(s: string): FlyteSecretId {
  const parts = s.split(SEP);
  if (parts.length < 9) throw new FlyteSecretsError('InvalidFlyteId', NOT_ENOUGH_PARTS);
  if (parts[0] !== 'u' || parts[1] !== 'org' || parts[3] !== 'domain' || parts[5] !== 'project' || parts[7] !== 'key') {
    throw new FlyteSecretsError('InvalidFlyteId', UNEXPECTED_PARTS);
  }
  return { org: parts[2]!, domain: parts[4]!, project: parts[6]!, name: parts.slice(8).join(SEP) };
}

/**
 * The scopes the Embedded lookup tries, most specific first: (org, domain, project), (org, domain, ""),
 * (org, "", ""). Always three entries, like Flyte (a duplicate scope is looked up again).
 *
 * @example
 * ```ts
 * scopeCascade({ org: 'o', domain: 'd', project: 'p', name: 'n' }).map(encodeSecretName)
 * ```
 */
export function scopeCascade(id: FlyteSecretId): FlyteSecretId[] {
  return [
    { org: id.org, domain: id.domain, project: id.project, name: id.name },
    { org: id.org, domain: id.domain, project: '', name: id.name },
    { org: id.org, domain: '', project: '', name: id.name },
  ];
}

/**
 * Lowercase hex MD5 of the UTF-8 of `s` (K8s Secret names: the K8s injector's group fallback and the Embedded K8s
 * fetcher's `md5hex(<Flyte id>)`).
 *
 * @example
 * ```ts
 * md5Hex('hello') // '5d41402abc4b2a76b9719d911017c592'
 * ```
 */
export function md5Hex(s: string): string {
  return createHash('md5').update(s, 'utf8').digest('hex');
}

/**
 * Flyte's `ToImagePullK8sName`: `img-pull-` + the first 16 hex chars of SHA-256(`<org>:<domain>:<project>:<name>`).
 *
 * @example
 * ```ts
 * imagePullSecretName({ org: 'myorg', domain: 'development', project: 'myproject', name: 'docker-registry' })
 * // 'img-pull-93ec8baf1e7d7e87'
 * ```
 */
export function imagePullSecretName(id: FlyteSecretId): string {
  const hash = createHash('sha256').update(`${id.org}:${id.domain}:${id.project}:${id.name}`, 'utf8').digest('hex');
  return `img-pull-${hash.slice(0, 16)}`;
}

const ALNUM = /^[a-zA-Z0-9]$/;

/**
 * Flyte's label-value sanitiser (Flyte: `secret/imagepull_kubernetes_utils.go`): empty → `none`; every character outside `[a-zA-Z0-9._-]` → `-`; a
 * non-alphanumeric first or last character → `x`; longer than 63 → cut to 63, and a non-alphanumeric last character
 * → `x` again. Characters are Unicode code points (Go's regexp works on runes).
 *
 * @example
 * ```ts
 * sanitizeLabelValue('-invalid-start') // 'xinvalid-start'
 * ```
 */
export function sanitizeLabelValue(s: string): string {
  if (s === '') return 'none';
  let out = Array.from(s, (c) => (/^[a-zA-Z0-9._-]$/.test(c) ? c : '-')).join('');
  if (!ALNUM.test(out[0]!)) out = `x${out.slice(1)}`;
  if (!ALNUM.test(out[out.length - 1]!)) out = `${out.slice(0, -1)}x`;
  if (out.length > 63) {
    out = out.slice(0, 63);
    if (!ALNUM.test(out[out.length - 1]!)) out = `${out.slice(0, -1)}x`;
  }
  return out;
}

/**
 * Flyte's `ToImagePullK8sLabels`: the labels a writer puts on an image-pull Secret (values sanitised).
 *
 * @example
 * ```ts
 * imagePullSecretLabels({ org: 'my@org', domain: 'd', project: 'p', name: 'n' })['union.ai/org'] // 'my-org'
 * ```
 */
export function imagePullSecretLabels(id: FlyteSecretId): Record<string, string> {
  return {
    'union.ai/secret-type': 'image-pull-secret',
    'union.ai/org': sanitizeLabelValue(id.org),
    'union.ai/project': sanitizeLabelValue(id.project),
    'union.ai/domain': sanitizeLabelValue(id.domain),
    'union.ai/secret-name': sanitizeLabelValue(id.name),
  };
}
