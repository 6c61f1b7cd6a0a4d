/**
 * Flyte's Key Vault secret-name codec, version 1 (Flyte: `secret/azure_utils.go`), with one deliberate tightening.
 *
 * A Flyte-native id `u__org__<org>__domain__<domain>__project__<project>__key__<name>` becomes
 * `1-<esc(org)>-<esc(domain)>-<esc(project)>-<BASE32(name)>`, where `esc` writes `0` as `00` and `-` as `01`, and
 * BASE32 is RFC 4648 (`A-Z2-7`) without padding. The result is at most 127 bytes. Error texts are Flyte's.
 *
 * Stricter than Flyte: Flyte lets `_`, `.` and any other character of org/domain/project pass through into names
 * Key Vault then rejects at read time. We refuse them when encoding (code `InvalidKeyVaultName`), naming the
 * component and the character. Decoding stays as lenient as Flyte's.
 *
 * Key Vault compares names case-insensitively, so ids that differ only in the case of org/domain/project (project
 * `Dev` vs `dev`) map to the same Key Vault secret; {@link keyVaultNameCollisionKey} lets callers detect that.
 *
 * @module
 */
import { FlyteSecretsError } from '../errors.js';
import { decodeBase32Std, encodeBase32Std } from '../secret/base32.js';
import { decodeSecretName, encodeSecretName, type FlyteSecretId } from '../secret/flyte-id.js';
import { isValidKeyVaultSecretName } from './secret-uri.js';

export { isValidKeyVaultSecretName };

/** Longest Key Vault secret name, in bytes (all names are ASCII). */
export const KEY_VAULT_MAX_NAME_LENGTH = 127;

const COMPONENT_CHAR = /[^0-9a-zA-Z-]/u;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * The key under which Key Vault itself tells names apart (names are case-insensitive): two names with the same key
 * are the same Key Vault secret.
 *
 * @example
 * ```ts
 * keyVaultNameCollisionKey('1-flyte-Dev--NM') === keyVaultNameCollisionKey('1-flyte-dev--NM'); // true
 * ```
 */
export function keyVaultNameCollisionKey(name: string): string {
  return name.toLowerCase();
}

function escapeComponent(s: string): string {
  return s.replaceAll('0', '00').replaceAll('-', '01');
}

function checkComponent(label: 'org' | 'domain' | 'project', value: string): void {
  const bad = COMPONENT_CHAR.exec(value);
  if (bad === null) return;
  throw new FlyteSecretsError(
    'InvalidKeyVaultName',
    `no Azure Key Vault name for this secret: the ${label} ${JSON.stringify(value)} contains ${JSON.stringify(bad[0])}, ` +
      'which Key Vault names cannot hold (allowed: 0-9 a-z A-Z -)',
  );
}

function encodeParts(id: FlyteSecretId): string {
  checkComponent('org', id.org);
  checkComponent('domain', id.domain);
  checkComponent('project', id.project);
  if (LONE_SURROGATE.test(id.name)) {
    throw new FlyteSecretsError(
      'InvalidKeyVaultName',
      'no Azure Key Vault name for this secret: the secret name contains an unpaired UTF-16 surrogate, which has no UTF-8 form',
    );
  }
  const encoded = [
    '1',
    escapeComponent(id.org),
    escapeComponent(id.domain),
    escapeComponent(id.project),
    encodeBase32Std(utf8.encode(id.name)),
  ].join('-');
  const length = utf8.encode(encoded).length;
  if (length > KEY_VAULT_MAX_NAME_LENGTH) {
    throw new FlyteSecretsError(
      'InvalidKeyVaultName',
      `encoded secret name with length ${length} exceeds maximum length: ${KEY_VAULT_MAX_NAME_LENGTH}`,
    );
  }
  return encoded;
}

/**
 * Encode a Flyte-native id string (Flyte: `secret/utils.go`) as a Key Vault secret name (Flyte's `EncodeAzureSecretName`).
 *
 * Errors: an id that does not parse → code `InvalidFlyteId`, «unable to decode original secret name: <cause>»;
 * a name over 127 bytes → `InvalidKeyVaultName`, «encoded secret name with length <n> exceeds maximum length: 127»;
 * org/domain/project with a character outside `0-9 a-z A-Z -` → `InvalidKeyVaultName` (stricter than Flyte).
 *
 * @example
 * ```ts
 * encodeAzureSecretName('u__org__flyte__domain__development__project__flytesnacks__key__my-secret');
 * // '1-flyte-development-flytesnacks-NV4S243FMNZGK5A'
 * ```
 */
export function encodeAzureSecretName(flyteId: string): string {
  let id: FlyteSecretId;
  try {
    id = decodeSecretName(flyteId);
  } catch (err) {
    const cause = err instanceof Error ? err.message : String(err);
    throw new FlyteSecretsError('InvalidFlyteId', `unable to decode original secret name: ${cause}`, { cause: err });
  }
  return encodeParts(id);
}

/**
 * The Key Vault secret name of a Flyte secret id, from its components (same result as
 * `encodeAzureSecretName(encodeSecretName(id))` for every id whose components hold no `__`).
 *
 * @example
 * ```ts
 * keyVaultNameForId({ org: 'flyte', domain: 'development', project: '', name: 'my-secret' });
 * // '1-flyte-development--NV4S243FMNZGK5A'
 * ```
 */
export function keyVaultNameForId(id: FlyteSecretId): string {
  return encodeParts(id);
}

function nameError(message: string, cause?: unknown): FlyteSecretsError {
  return new FlyteSecretsError('InvalidKeyVaultName', message, cause === undefined ? {} : { cause });
}

function unescapeComponent(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    const next = s[i + 1];
    if (c === '0' && next !== undefined) {
      if (next === '0') out += '0';
      else if (next === '1') out += '-';
      else throw new Error(`unexpected escape sequence: 0${String.fromCodePoint(s.codePointAt(i + 1) ?? 0)}`);
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * Decode a Key Vault secret name into the components of a Flyte secret id (the inverse of
 * {@link keyVaultNameForId}). Lenient like Flyte's decoder: characters Key Vault cannot hold are not checked, and
 * a lone trailing `0` in a component is kept.
 *
 * Throws `InvalidKeyVaultName` with Flyte's texts: «invalid secret name format or version»,
 * «error decoding name component: <cause>», «error decoding org|domain|project from stored secret <name>:
 * unexpected escape sequence: 0<c>»; and (our addition) «error decoding name component: not valid UTF-8» when the
 * name's bytes are not UTF-8 text.
 *
 * @example
 * ```ts
 * decodeKeyVaultName('1-flyte---NV4S243FMNZGK5A');
 * // { org: 'flyte', domain: '', project: '', name: 'my-secret' }
 * ```
 */
export function decodeKeyVaultName(name: string): FlyteSecretId {
  const parts = name.split('-');
  if (parts.length !== 5 || parts[0] !== '1') throw nameError('invalid secret name format or version');
  const [, orgPart = '', domainPart = '', projectPart = '', namePart = ''] = parts;

  let nameBytes: Uint8Array;
  try {
    nameBytes = decodeBase32Std(namePart);
  } catch (err) {
    const cause = err instanceof Error ? err.message : String(err);
    throw nameError(`error decoding name component: ${cause}`, err);
  }

  const component = (label: 'org' | 'domain' | 'project', part: string): string => {
    try {
      return unescapeComponent(part);
    } catch (err) {
      const cause = err instanceof Error ? err.message : String(err);
      throw nameError(`error decoding ${label} from stored secret ${name}: ${cause}`, err);
    }
  };
  const org = component('org', orgPart);
  const domain = component('domain', domainPart);
  const project = component('project', projectPart);
  let secretName: string;
  try {
    secretName = utf8Strict.decode(nameBytes);
  } catch (err) {
    throw nameError('error decoding name component: not valid UTF-8', err);
  }
  return { org, domain, project, name: secretName };
}

/**
 * Decode a Key Vault secret name into a Flyte-native id string (Flyte's `DecodeAzureSecretName`).
 * Errors as for {@link decodeKeyVaultName}.
 *
 * @example
 * ```ts
 * decodeAzureSecretName('1-testorg-testdomain-testproject-ORSXG5DTMVRXEZLU');
 * // 'u__org__testorg__domain__testdomain__project__testproject__key__testsecret'
 * ```
 */
export function decodeAzureSecretName(name: string): string {
  return encodeSecretName(decodeKeyVaultName(name));
}
