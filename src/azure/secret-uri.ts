/**
 * Parse and validate Key Vault secret URIs such as `https://myvault.vault.azure.net/secrets/db-password`.
 *
 * Flyte does not validate these at all (Flyte: `secret/azure_secret_manager.go`): any non-empty text is accepted at admission time and
 * only fails later inside the init container. We are strict instead, so a typo is refused with a message that says
 * what is wrong and what a valid URI looks like:
 *
 * - scheme `https` only; no user information, query or fragment;
 * - host `<vault>.<suffix>`, suffix one of {@link KEY_VAULT_DNS_SUFFIXES} or a caller-supplied extra suffix; vault
 *   name 3–24 characters (`^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$`, no `--`);
 * - an explicit port only with an extra suffix or a loopback host (`allowLoopback`, for tests and the emulator);
 * - path `/secrets/<name>` or `/secrets/<name>/<version>`, an optional trailing `/`; the name 1–127 characters of
 *   `0-9 a-z A-Z -`, the version exactly 32 hexadecimal characters.
 *
 * @module
 */
import { FlyteSecretsError } from '../errors.js';

/**
 * Key Vault DNS suffixes of the Azure clouds: public, China, US Government, Germany (retired).
 * Managed HSM (`managedhsm.azure.net`) holds keys, not secrets, and is not included.
 */
export const KEY_VAULT_DNS_SUFFIXES: readonly string[] = Object.freeze([
  'vault.azure.net',
  'vault.azure.cn',
  'vault.usgovcloudapi.net',
  'vault.microsoftazure.de',
]);

/** A parsed Key Vault secret URI. */
export interface KeyVaultSecretRef {
  /** `https://<host>[:<port>]`, host lower-cased: what `SecretClient` takes. */
  vaultUrl: string;
  /** The host name, lower-cased, without the port. */
  host: string;
  /** The secret name, as written (Key Vault compares names case-insensitively). */
  name: string;
  /** The version (32 hexadecimal characters, as written), or `''` for the latest version. */
  version: string;
}

/** Options of {@link parseKeyVaultSecretUri}. */
export interface ParseKeyVaultSecretUriOptions {
  /** More DNS suffixes to accept besides {@link KEY_VAULT_DNS_SUFFIXES} (e.g. a private cloud). Default none. */
  extraDnsSuffixes?: readonly string[];
  /**
   * Also accept `https://127.0.0.1[:port]`, `https://localhost[:port]` and `https://[::1][:port]` (for tests and the
   * local Key Vault emulator). Default false.
   */
  allowLoopback?: boolean;
}

const KEY_VAULT_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/**
 * True when `name` is a valid Key Vault secret name: 1–127 characters of `0-9 a-z A-Z -`.
 *
 * @example
 * ```ts
 * isValidKeyVaultSecretName('1-flyte---NV4S243FMNZGK5A'); // true
 * isValidKeyVaultSecretName('my_secret');                 // false
 * ```
 */
export function isValidKeyVaultSecretName(name: string): boolean {
  return KEY_VAULT_NAME.test(name);
}

const VAULT_NAME = /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const VERSION = /^[0-9a-fA-F]{32}$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const EXAMPLE =
  'a valid one looks like https://myvault.vault.azure.net/secrets/db-password, optionally followed by ' +
  '/<version> (32 hexadecimal characters)';
const VAULT_NAME_RULE =
  '3–24 characters of letters, digits and "-", starting with a letter, ending with a letter or digit, no "--"';

/** True when `name` is a valid Key Vault vault name (the first label of the vault's host name). */
export function isValidKeyVaultVaultName(name: string): boolean {
  return VAULT_NAME.test(name) && !name.includes('--');
}

/** True when `version` is a Key Vault secret version: exactly 32 hexadecimal characters. */
export function isValidKeyVaultSecretVersion(version: string): boolean {
  return VERSION.test(version);
}

/**
 * `https://<vault>.<public-cloud suffix>/secrets/<name>[/<version>][/]` with a lower-case vault name and no port:
 * groups vault, suffix, name, version.
 */
const USUAL_URI = /^https:\/\/([a-z][a-z0-9-]{1,22}[a-z0-9])\.(vault\.azure\.net|vault\.azure\.cn|vault\.usgovcloudapi\.net|vault\.microsoftazure\.de)\/secrets\/([0-9a-zA-Z-]{1,127})(?:\/([0-9a-fA-F]{32}))?\/?$/;

const SPACE = /\s/;

/** Index of the first whitespace (JS `\s`) or control character, or -1. ASCII is checked by code, the rest by `\s`. */
function firstSpaceOrControl(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return i;
    if (c >= 0x80 && SPACE.test(s[i]!)) return i;
  }
  return -1;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}

const NO_SUFFIXES: readonly string[] = [];

function normaliseSuffixes(extra: readonly string[] | undefined): readonly string[] {
  const out: string[] = [];
  for (const raw of extra ?? []) {
    const s = raw.trim().toLowerCase().replace(/^\./, '').replace(/\.$/, '');
    if (s === '') continue;
    if (!/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/.test(s)) {
      throw new FlyteSecretsError(
        'InvalidConfig',
        `the extra Key Vault DNS suffix ${quote(raw)} is not a DNS name (expected something like vault.example.net)`,
      );
    }
    out.push(s);
  }
  return out;
}

/**
 * Parse a Key Vault secret URI strictly (see the module doc for the rules).
 *
 * Throws `FlyteSecretsError` code `InvalidKeyVaultUri` naming what is wrong (and `InvalidConfig` for a malformed
 * `extraDnsSuffixes` entry).
 *
 * @example
 * ```ts
 * parseKeyVaultSecretUri('https://MyVault.vault.azure.net/secrets/db-password/');
 * // { vaultUrl: 'https://myvault.vault.azure.net', host: 'myvault.vault.azure.net', name: 'db-password', version: '' }
 * parseKeyVaultSecretUri('https://127.0.0.1:8443/secrets/x', { allowLoopback: true }).vaultUrl; // 'https://127.0.0.1:8443'
 * ```
 */
export function parseKeyVaultSecretUri(text: string, options: ParseKeyVaultSecretUriOptions = {}): KeyVaultSecretRef {
  // The usual spelling, checked by one regular expression (what the rules below accept for it, property-tested
  // against them); anything else, including every URI they refuse, goes through the rules one by one.
  const usual = USUAL_URI.exec(text);
  if (usual !== null && !usual[1]!.includes('--')) {
    const host = `${usual[1]!}.${usual[2]!}`;
    return { vaultUrl: `https://${host}`, host, name: usual[3]!, version: usual[4] ?? '' };
  }
  const extra = options.extraDnsSuffixes === undefined || options.extraDnsSuffixes.length === 0 ? NO_SUFFIXES : normaliseSuffixes(options.extraDnsSuffixes);
  const fail = (what: string): FlyteSecretsError =>
    new FlyteSecretsError('InvalidKeyVaultUri', `invalid Key Vault secret URI ${quote(text)}: ${what}; ${EXAMPLE}`);

  if (text === '') throw fail('it is empty');
  const bad = firstSpaceOrControl(text);
  if (bad >= 0) throw fail(`it contains whitespace or a control character at position ${bad}`);

  let rest: string;
  if (text.startsWith('https://')) {
    // The usual spelling: what the general check below accepts, without a match array.
    rest = text.slice(8);
  } else {
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(text);
    if (scheme === null) throw fail('it does not start with https://');
    if ((scheme[1] ?? '').toLowerCase() !== 'https') throw fail(`the scheme must be https, not ${quote(scheme[1] ?? '')}`);
    const afterScheme = text.slice(scheme[0].length);
    if (!afterScheme.startsWith('//')) throw fail('it does not start with https://');
    rest = afterScheme.slice(2);
  }

  if (rest.includes('?')) throw fail('it must not have a query string ("?…")');
  if (rest.includes('#')) throw fail('it must not have a fragment ("#…")');
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (authority.includes('@')) throw fail('it must not contain user information (a "…@" before the host)');

  // Split host and port.
  let hostPart: string;
  let port: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw fail('the host has an unclosed "["');
    hostPart = authority.slice(0, close + 1);
    const after = authority.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw fail(`unexpected text after the host: ${quote(after)}`);
      port = after.slice(1);
    }
  } else {
    const colon = authority.indexOf(':');
    hostPart = colon < 0 ? authority : authority.slice(0, colon);
    if (colon >= 0) port = authority.slice(colon + 1);
  }
  const host = hostPart.toLowerCase();
  if (host === '') throw fail('it has no host');
  if (port !== undefined && !/^[0-9]{1,5}$/.test(port)) throw fail(`the port ${quote(port)} is not a number`);
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw fail(`the port ${port} is out of range (1–65535)`);
  const portSuffix = port === undefined ? '' : `:${Number(port)}`;

  const loopback = LOOPBACK_HOSTS.has(host);
  if (loopback) {
    if (options.allowLoopback !== true) {
      throw fail(`the host ${quote(host)} is a loopback address, which is only accepted for local testing`);
    }
  } else {
    if (!/^[a-z0-9.-]+$/.test(host)) {
      throw fail(`the host ${quote(host)} contains characters a DNS name cannot hold (allowed: a-z 0-9 . -)`);
    }
    const suffixes = extra.length === 0 ? KEY_VAULT_DNS_SUFFIXES : [...KEY_VAULT_DNS_SUFFIXES, ...extra];
    let badVault: string | undefined;
    let matched: string | undefined;
    for (let i = 0; i < suffixes.length; i++) {
      const suffix = suffixes[i]!;
      // host ends with "." + suffix
      const dot = host.length - suffix.length - 1;
      if (dot < 0 || host.charCodeAt(dot) !== 0x2e || !host.endsWith(suffix)) continue;
      const vault = host.slice(0, host.length - suffix.length - 1);
      if (vault.includes('.') || !isValidKeyVaultVaultName(vault)) {
        badVault ??= vault;
        continue;
      }
      matched = suffix;
      break;
    }
    if (matched === undefined) {
      if (badVault !== undefined) {
        throw fail(`the vault name ${quote(badVault)} is not valid (${VAULT_NAME_RULE})`);
      }
      const list = suffixes.map((s) => `.${s}`).join(', ');
      throw fail(`the host ${quote(host)} is not a Key Vault host (expected <vault-name> followed by one of ${list})`);
    }
    if (port !== undefined && KEY_VAULT_DNS_SUFFIXES.includes(matched)) {
      throw fail(`an explicit port is not allowed for a host under ${matched}`);
    }
  }

  // Path: /secrets/<name>[/<version>][/]
  if (path === '' || path === '/') throw fail('it names no secret (the path must be /secrets/<secret-name>)');
  if (!path.startsWith('/secrets/')) {
    throw fail(`the path must be /secrets/<secret-name> or /secrets/<secret-name>/<version>, not ${quote(path)}`);
  }
  const trimmed = path.endsWith('/') ? path.slice('/secrets/'.length, -1) : path.slice('/secrets/'.length);
  const segments = trimmed.split('/');
  if (segments.length > 2) {
    throw fail(`the path has too many segments (expected /secrets/<secret-name> or /secrets/<secret-name>/<version>)`);
  }
  const [name = '', version = ''] = segments;
  if (name === '') throw fail('the secret name is empty');
  if (!isValidKeyVaultSecretName(name)) {
    throw fail(`the secret name ${quote(name)} is not valid (1–127 characters of 0-9 a-z A-Z -)`);
  }
  if (segments.length === 2 && !isValidKeyVaultSecretVersion(version)) {
    throw fail(`the version ${quote(version)} is not valid (exactly 32 hexadecimal characters; leave it out for the latest version)`);
  }
  return { vaultUrl: `https://${host}${portSuffix}`, host, name, version };
}
