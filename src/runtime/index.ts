/**
 * What task code calls to read the secrets the webhook injected — flytekit's `SecretsManager` resolution
 * (flytekit: `flytekit/core/context_manager.py`), for Node:
 *
 * 1. parts = the non-empty ones of (group, groupVersion, key), in that order;
 * 2. env var `<env prefix><UPPER(parts) joined by "_">` (characters such as `-` are kept); in local mode also the
 *    same name without the prefix; the first that is set wins and its value is returned stripped;
 * 3. file `<default dir>/<lower(parts[0])>/…/<file prefix><lower(parts[-1])>`; if it exists, its content stripped;
 * 4. else {@link SecretNotFoundError}, listing every env name and file path tried (never a value).
 *
 * Configuration comes from the environment, like flytekit: `FLYTE_SECRETS_ENV_PREFIX` (default `_FSEC_`),
 * `FLYTE_SECRETS_DEFAULT_DIR` (default `/etc/secrets`; file injectors set `/etc/flyte/secrets`) and
 * `FLYTE_SECRETS_FILE_PREFIX` (default empty). An empty value counts as not set; values are whitespace-stripped.
 *
 * Case mapping: the names are first computed with Go's simple case mapping (what the webhook writes); when Python's
 * full mapping gives a different name (e.g. `ß`), that name is tried next, so both flytekit's and the webhook's
 * spellings are found.
 *
 * @example
 * ```ts
 * import { getSecret } from 'flyte-secrets/runtime';
 * const token = getSecret({ group: 'github', key: 'token' });
 * const keytab = getSecret({ group: 'kerberos', key: 'keytab', encoding: 'bytes' });
 * ```
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { FlyteSecretsError } from '../errors.js';
import { ENV_SECRETS_DEFAULT_DIR, ENV_SECRETS_ENV_PREFIX, ENV_SECRETS_FILE_PREFIX, goToLower, goToUpper } from '../secret/paths.js';

/** flytekit's default env-var prefix (`secrets.env_prefix`). The v2 webhook's default `_UNION_` is published in the pod. */
export const DEFAULT_ENV_PREFIX = '_FSEC_';

/** flytekit's default secrets directory (`secrets.default_dir`); note it is not `/etc/flyte/secrets`. */
export const DEFAULT_SECRETS_DIR = '/etc/secrets';

/** Which secret to read. At least one of `group`, `groupVersion`, `key` must be non-empty. */
export interface SecretRef {
  group?: string | undefined;
  groupVersion?: string | undefined;
  key?: string | undefined;
}

/** A {@link SecretRef} plus how to return the value: `'utf8'` (default, a string) or `'bytes'` (a `Uint8Array`). */
export interface GetSecretRequest extends SecretRef {
  encoding?: 'utf8' | 'bytes' | undefined;
}

/** Where the resolver looks. Every field is optional; the defaults read the real process environment and disk. */
export interface SecretsRuntimeOptions {
  /** Environment to read (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * Read a file's bytes, or return `undefined` when it does not exist (default: `fs.readFileSync`, with `ENOENT` and
   * `ENOTDIR` meaning "does not exist"; any other failure is a `SecretReadFailure` error).
   */
  readFile?: ((path: string) => Uint8Array | undefined) | undefined;
  /** Local execution (flytekit's local modes): also try env names without the prefix. Default false. */
  local?: boolean | undefined;
}

/** The resolver's configuration, as read from the environment. */
export interface SecretsRuntimeConfig {
  envPrefix: string;
  defaultDir: string;
  filePrefix: string;
}

/**
 * Raised when no env var and no file holds the secret (code `SecretNotFound`). `envVars` and `files` list what was
 * tried, in order.
 */
export class SecretNotFoundError extends FlyteSecretsError {
  readonly envVars: readonly string[];
  readonly files: readonly string[];

  constructor(ref: SecretRef, envVars: readonly string[], files: readonly string[]) {
    const g = ref.group === undefined || ref.group === '' ? 'None' : ref.group;
    const k = ref.key === undefined || ref.key === '' ? 'None' : ref.key;
    super(
      'SecretNotFound',
      `Please make sure to add secret_requests=[Secret(group=${g}, key=${k})] in @task. ` +
        `Unable to find secret for key ${k} in group ${g} in Env Var:${envVars.join(', ')} and FilePath: ${files.join(', ')}`,
    );
    this.envVars = envVars;
    this.files = files;
  }
}

/** Python's `str.isspace()` characters, which `str.strip()` removes. */
const PY_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** Python's `str.strip()`. */
function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && PY_SPACE.has(s.charCodeAt(start))) start++;
  while (end > start && PY_SPACE.has(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

/** Python's `bytes.strip()`: ASCII whitespace only. */
function pyStripBytes(b: Uint8Array): Uint8Array {
  const ws = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);
  let start = 0;
  let end = b.length;
  while (start < end && ws(b[start]!)) start++;
  while (end > start && ws(b[end - 1]!)) end--;
  return Uint8Array.from(b.subarray(start, end));
}

function configValue(env: Readonly<Record<string, string | undefined>>, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : pyStrip(v);
}

/**
 * The resolver's configuration from `env` (default `process.env`): `FLYTE_SECRETS_ENV_PREFIX` (default `_FSEC_`),
 * `FLYTE_SECRETS_DEFAULT_DIR` (default `/etc/secrets`), `FLYTE_SECRETS_FILE_PREFIX` (default `''`).
 */
export function secretsRuntimeConfig(env: Readonly<Record<string, string | undefined>> = process.env): SecretsRuntimeConfig {
  return {
    envPrefix: configValue(env, ENV_SECRETS_ENV_PREFIX, DEFAULT_ENV_PREFIX),
    defaultDir: configValue(env, ENV_SECRETS_DEFAULT_DIR, DEFAULT_SECRETS_DIR),
    filePrefix: configValue(env, ENV_SECRETS_FILE_PREFIX, ''),
  };
}

function partsOf(ref: SecretRef): string[] {
  const parts = [ref.group, ref.groupVersion, ref.key].filter((p): p is string => typeof p === 'string' && p !== '');
  if (parts.length === 0) {
    throw new FlyteSecretsError('InvalidInput', 'a secret needs at least one of group, groupVersion or key');
  }
  for (const p of parts) {
    if (p.startsWith('/') || p.split('/').includes('..')) {
      throw new FlyteSecretsError(
        'InvalidInput',
        `secret group, version or key ${JSON.stringify(p)} must not be an absolute path or contain ".." path elements`,
      );
    }
  }
  return parts;
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}

/** Python's `os.path.join` for relative parts. */
function joinPath(base: string, parts: readonly string[]): string {
  let out = base;
  for (const p of parts) out = out === '' || out.endsWith('/') ? out + p : `${out}/${p}`;
  return out;
}

function envCandidates(ref: SecretRef, config: SecretsRuntimeConfig, local: boolean): string[] {
  const parts = partsOf(ref);
  const goName = parts.map(goToUpper).join('_');
  const pyName = parts.map((p) => p.toUpperCase()).join('_');
  const names = [config.envPrefix + goName, config.envPrefix + pyName];
  if (local) names.push(goName, pyName);
  return unique(names);
}

function fileCandidates(ref: SecretRef, config: SecretsRuntimeConfig): string[] {
  const parts = partsOf(ref);
  const build = (lower: (s: string) => string): string => {
    const l = parts.map(lower);
    l[l.length - 1] = config.filePrefix + l[l.length - 1]!;
    return joinPath(config.defaultDir, l);
  };
  return unique([build(goToLower), build((s) => s.toLowerCase())]);
}

/**
 * flytekit's `get_secrets_env_var`: the (prefixed) env-var name the resolver checks first.
 *
 * @example
 * ```ts
 * getSecretsEnvVar({ group: 'group', groupVersion: 'v1', key: 'test' }) // '_FSEC_GROUP_V1_TEST'
 * ```
 */
export function getSecretsEnvVar(ref: SecretRef, options: SecretsRuntimeOptions = {}): string {
  return envCandidates(ref, secretsRuntimeConfig(options.env ?? process.env), false)[0]!;
}

/**
 * flytekit's `get_secrets_file`: the file path the resolver checks first.
 *
 * @example
 * ```ts
 * getSecretsFile({ group: 'group', key: 'test' }) // '/etc/secrets/group/test'
 * ```
 */
export function getSecretsFile(ref: SecretRef, options: SecretsRuntimeOptions = {}): string {
  return fileCandidates(ref, secretsRuntimeConfig(options.env ?? process.env))[0]!;
}

function defaultReadFile(path: string): Uint8Array | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new FlyteSecretsError('SecretReadFailure', `cannot read secret file ${path}: ${code ?? 'read error'}`, { cause: err });
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fileText(path: string, bytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8Strict.decode(bytes);
  } catch {
    throw new FlyteSecretsError('SecretReadFailure', `secret file ${path} is not valid UTF-8; read it with encoding: 'bytes'`);
  }
  // Python text mode: universal newlines.
  return pyStrip(text.replace(/\r\n?/g, '\n'));
}

/**
 * Read a secret: env var first, then file (see the module doc). Returns a string, or bytes with `encoding: 'bytes'`
 * (an env value is then returned as its UTF-8). Throws {@link SecretNotFoundError} when nothing is found,
 * `InvalidInput` for an empty request or a part that is an absolute path or contains `..`, and `SecretReadFailure`
 * when a file exists but cannot be read (or is not UTF-8 in text mode).
 *
 * @example
 * ```ts
 * getSecret({ group: 'my-group', groupVersion: 'v1', key: 'ABC' }) // reads _FSEC_MY-GROUP_V1_ABC, then /etc/secrets/my-group/v1/abc
 * ```
 */
export function getSecret(request: GetSecretRequest & { encoding: 'bytes' }, options?: SecretsRuntimeOptions): Uint8Array;
export function getSecret(request: GetSecretRequest & { encoding?: 'utf8' | undefined }, options?: SecretsRuntimeOptions): string;
export function getSecret(request: GetSecretRequest, options?: SecretsRuntimeOptions): string | Uint8Array;
export function getSecret(request: GetSecretRequest, options: SecretsRuntimeOptions = {}): string | Uint8Array {
  const env = options.env ?? process.env;
  const config = secretsRuntimeConfig(env);
  const bytesMode = request.encoding === 'bytes';
  const envNames = envCandidates(request, config, options.local === true);
  for (const name of envNames) {
    const v = env[name];
    if (v !== undefined) {
      const value = pyStrip(v);
      return bytesMode ? new TextEncoder().encode(value) : value;
    }
  }
  const read = options.readFile ?? defaultReadFile;
  const files = fileCandidates(request, config);
  for (const path of files) {
    const content = read(path);
    if (content !== undefined) return bytesMode ? pyStripBytes(content) : fileText(path, content);
  }
  throw new SecretNotFoundError(request, envNames, files);
}
