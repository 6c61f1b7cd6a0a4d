/**
 * Mount paths and env-var names, computed the way Flyte's Go code computes them (Flyte: `secret/secrets_pod_mutator.go`):
 * Go's simple Unicode case mapping (`strings.ToUpper/ToLower`) and Go's `path.Clean`.
 *
 * @module
 */
import { FlyteSecretsError } from '../errors.js';

/** Where every injector mounts secret files (`K8sSecretPathPrefix`). */
export const SECRETS_MOUNT_ROOT = '/etc/flyte/secrets';

/** Env var telling the runtime where secret files are (set to {@link SECRETS_MOUNT_ROOT} by file injectors). */
export const ENV_SECRETS_DEFAULT_DIR = 'FLYTE_SECRETS_DEFAULT_DIR';

/** Env var with the file-name prefix the runtime adds to the last path part (set to `""` by file injectors). */
export const ENV_SECRETS_FILE_PREFIX = 'FLYTE_SECRETS_FILE_PREFIX';

/** Env var with the prefix of secret env-var names (set to `secretEnvVarPrefix` by env injectors). */
export const ENV_SECRETS_ENV_PREFIX = 'FLYTE_SECRETS_ENV_PREFIX';

/*
 * Case-mapping rule. Go maps each code point on its own with the *simple* mappings of UnicodeData.txt; JavaScript's
 * toUpperCase/toLowerCase apply the *full* mappings of SpecialCasing.txt ("ß" → "SS"). Per code point we take JS's
 * result when it is a single code point (where the two agree) and otherwise keep the code point unchanged — except
 * for the few code points whose full mapping has several code points but whose simple mapping exists; those come
 * from the table below (checked against Go's unicode tables for every code point). Lone UTF-16 surrogates become
 * U+FFFD, as Go sees them after UTF-8 encoding. Code points added to Unicode after Go's tables follow Node's ICU.
 */
const SIMPLE_UPPER_EXCEPTIONS: ReadonlyMap<number, number> = (() => {
  const m = new Map<number, number>();
  for (const start of [0x1f80, 0x1f90, 0x1fa0]) for (let i = 0; i < 8; i++) m.set(start + i, start + i + 8);
  m.set(0x1fb3, 0x1fbc);
  m.set(0x1fc3, 0x1fcc);
  m.set(0x1ff3, 0x1ffc);
  return m;
})();
const SIMPLE_LOWER_EXCEPTIONS: ReadonlyMap<number, number> = new Map([[0x130, 0x69]]);

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

function mapSimple(s: string, full: (c: string) => string, exceptions: ReadonlyMap<number, number>): string {
  let out = '';
  for (const ch of s) {
    let cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    const exception = exceptions.get(cp);
    if (exception !== undefined) {
      out += String.fromCodePoint(exception);
      continue;
    }
    if (cp < 0x80) {
      out += full(String.fromCharCode(cp));
      continue;
    }
    const c = String.fromCodePoint(cp);
    const mapped = full(c);
    const first = mapped.codePointAt(0);
    out += first !== undefined && mapped.length === String.fromCodePoint(first).length ? mapped : c;
  }
  return out;
}

/**
 * Go's `strings.ToUpper` (simple case mapping): `goToUpper('ß') === 'ß'` where JS gives `'SS'`.
 *
 * @example
 * ```ts
 * goToUpper('my-group_ß') // 'MY-GROUP_ß'
 * ```
 */
export function goToUpper(s: string): string {
  // ASCII maps one character to one in both Go and JS, and no exception is ASCII: skip the walk.
  if (ASCII.test(s)) return s.toUpperCase();
  return mapSimple(s, (c) => c.toUpperCase(), SIMPLE_UPPER_EXCEPTIONS);
}

/**
 * Go's `strings.ToLower` (simple case mapping): `goToLower('İ') === 'i'` where JS gives `'i̇'`.
 *
 * @example
 * ```ts
 * goToLower('HELLO') // 'hello'
 * ```
 */
export function goToLower(s: string): string {
  if (ASCII.test(s)) return s.toLowerCase();
  return mapSimple(s, (c) => c.toLowerCase(), SIMPLE_LOWER_EXCEPTIONS);
}

/**
 * True when {@link cleanPath} would return `p` unchanged: no empty, `.` or `..` element, and no trailing slash
 * (the root `/` alone is clean).
 */
function isClean(p: string): boolean {
  if (p === '/') return true;
  let start = 0;
  if (p.charCodeAt(0) === 0x2f) start = 1;
  for (let i = start; i <= p.length; i++) {
    if (i < p.length && p.charCodeAt(i) !== 0x2f) continue;
    const len = i - start;
    // An empty element (a doubled or trailing slash), "." or "..".
    if (len === 0) return false;
    if (p.charCodeAt(start) === 0x2e && (len === 1 || (len === 2 && p.charCodeAt(start + 1) === 0x2e))) return false;
    start = i + 1;
  }
  return true;
}

/**
 * Go's `path.Clean`: collapse duplicate slashes, drop `.` elements, resolve `..` against the preceding element
 * (never above the root of a rooted path), drop a trailing slash; `''` becomes `'.'`.
 *
 * @example
 * ```ts
 * cleanPath('/etc/flyte/secrets//a/../b/') // '/etc/flyte/secrets/b'
 * ```
 */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  if (isClean(p)) return p;
  const rooted = p.startsWith('/');
  const out: string[] = [];
  let leadingDotDots = 0;
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0) out.pop();
      else if (!rooted) leadingDotDots++;
      continue;
    }
    out.push(part);
  }
  const body = [...Array<string>(leadingDotDots).fill('..'), ...out].join('/');
  if (rooted) return `/${body}`;
  return body === '' ? '.' : body;
}

/**
 * `path.Join(SECRETS_MOUNT_ROOT, ...components)` (joined with `/`, then cleaned), refusing any result that is not
 * strictly inside {@link SECRETS_MOUNT_ROOT}: a `..` component that climbs out, or components that resolve to the root
 * itself, throw {@link FlyteSecretsError} code `InvalidPath`. Flyte would write such paths as given.
 *
 * @example
 * ```ts
 * secretFilePath('group', 'hello') // '/etc/flyte/secrets/group/hello'
 * secretFilePath('testsecret', '../../x') // throws InvalidPath
 * ```
 */
export function secretFilePath(...components: string[]): string {
  let raw = SECRETS_MOUNT_ROOT;
  for (const c of components) if (c !== '') raw += `/${c}`;
  const joined = cleanPath(raw);
  if (!joined.startsWith(`${SECRETS_MOUNT_ROOT}/`)) {
    const shown = components.map((c) => JSON.stringify(c)).join(', ');
    throw new FlyteSecretsError(
      'InvalidPath',
      `secret file path for [${shown}] resolves to ${joined}, which is not inside ${SECRETS_MOUNT_ROOT}; ` +
        'a secret group, version or key must not contain ".." path elements or be empty',
    );
  }
  return joined;
}

/**
 * An injected env-var name: `goToUpper(prefix + parts.join('_'))` (characters such as `-` are kept, as in Flyte).
 *
 * @example
 * ```ts
 * envVarName('_UNION_', 'grOUP', 'HELLO') // '_UNION_GROUP_HELLO'
 * ```
 */
export function envVarName(prefix: string, ...parts: string[]): string {
  return goToUpper(prefix + parts.join('_'));
}
