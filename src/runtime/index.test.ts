import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import {
  DEFAULT_ENV_PREFIX,
  DEFAULT_SECRETS_DIR,
  SecretNotFoundError,
  getSecret,
  getSecretsEnvVar,
  getSecretsFile,
  secretsRuntimeConfig,
  type SecretRef,
} from './index.js';

interface Vectors {
  envVarNames: { ref: SecretRef; env?: Record<string, string>; name: string }[];
  files: { ref: SecretRef; env?: Record<string, string>; file: string }[];
  lookups: {
    name: string;
    ref: SecretRef;
    env?: Record<string, string>;
    files?: Record<string, string>;
    local?: boolean;
    value?: string;
    notFound?: { envVars: string[]; files: string[] };
  }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/runtime.json', import.meta.url), 'utf8')) as Vectors;

/** The vectors' default dir; an in-memory file map stands in for the disk. */
const VECTOR_DIR = '/tmp/secrets-test';
const withDir = (env: Record<string, string> = {}): Record<string, string> => ({ FLYTE_SECRETS_DEFAULT_DIR: VECTOR_DIR, ...env });
const memFiles =
  (files: Record<string, string> = {}) =>
  (path: string): Uint8Array | undefined => {
    for (const [rel, content] of Object.entries(files)) if (path === `${VECTOR_DIR}/${rel}`) return new TextEncoder().encode(content);
    return undefined;
  };

describe('flytekit naming (flytekit: `flytekit/core/context_manager.py`)', () => {
  it('defaults: prefix _FSEC_, dir /etc/secrets, no file prefix', () => {
    expect(secretsRuntimeConfig({})).toEqual({ envPrefix: DEFAULT_ENV_PREFIX, defaultDir: DEFAULT_SECRETS_DIR, filePrefix: '' });
    expect(DEFAULT_ENV_PREFIX).toBe('_FSEC_');
    expect(DEFAULT_SECRETS_DIR).toBe('/etc/secrets');
  });

  it.each(vectors.envVarNames)('get_secrets_env_var($ref) = $name', (row) => {
    expect(getSecretsEnvVar(row.ref, { env: withDir(row.env) })).toBe(row.name);
  });

  it.each(vectors.files)('get_secrets_file($ref) = $file', (row) => {
    expect(getSecretsFile(row.ref, { env: withDir(row.env) })).toBe(row.file);
  });

  it('needs at least one of group, groupVersion, key', () => {
    let caught: unknown;
    try {
      getSecret({ group: '', key: '' }, { env: {} });
    } catch (err) {
      caught = err;
    }
    expect(isFlyteSecretsError(caught, 'InvalidInput')).toBe(true);
  });

  it.each([{ group: '/etc', key: 'passwd' }, { group: 'g', key: '../../etc/passwd' }, { group: 'a/../..', key: 'k' }])(
    'refuses parts that would leave the secrets directory: %j',
    (ref) => {
      expect(() => getSecretsFile(ref, { env: {} })).toThrow(/absolute path or contain "\.\."/);
    },
  );
});

describe('getSecret resolution (flytekit: `flytekit/core/context_manager.py`)', () => {
  it.each(vectors.lookups)('$name', (row) => {
    const options = { env: withDir(row.env), readFile: memFiles(row.files), local: row.local === true };
    if (row.notFound !== undefined) {
      let caught: unknown;
      try {
        getSecret(row.ref, options);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SecretNotFoundError);
      expect(isFlyteSecretsError(caught, 'SecretNotFound')).toBe(true);
      const e = caught as SecretNotFoundError;
      expect(e.envVars).toEqual(row.notFound.envVars);
      expect(e.files).toEqual(row.notFound.files);
      for (const name of [...row.notFound.envVars, ...row.notFound.files]) expect(e.message).toContain(name);
    } else {
      expect(getSecret(row.ref, options)).toBe(row.value);
    }
  });

  it('uses flytekit’s message shape and never includes a value', () => {
    let caught: unknown;
    try {
      getSecret({ group: 'group', key: 'test' }, { env: { FLYTE_SECRETS_DEFAULT_DIR: VECTOR_DIR, OTHER: 'hunter2' }, readFile: memFiles() });
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).toBe(
      'Please make sure to add secret_requests=[Secret(group=group, key=test)] in @task. Unable to find secret for key test in group group in Env Var:_FSEC_GROUP_TEST and FilePath: /tmp/secrets-test/group/test',
    );
    expect((caught as Error).message).not.toContain('hunter2');
  });

  it('returns an env value as bytes with encoding "bytes"', () => {
    const v = getSecret({ group: 'g', key: 'k', encoding: 'bytes' }, { env: { _FSEC_G_K: ' é ' } });
    expect(v).toEqual(new TextEncoder().encode('é'));
  });

  it('strips like Python str.strip(): \\x1c–\\x1f and NEL are whitespace, a BOM is not', () => {
    expect(getSecret({ key: 'k' }, { env: { _FSEC_K: '\x1c\u0085 v \u3000\n' } })).toBe('v');
    expect(getSecret({ key: 'k' }, { env: { _FSEC_K: '\ufeffv' } })).toBe('\ufeffv');
  });

  it('returns an empty env value as set (flytekit checks "is not None")', () => {
    expect(getSecret({ group: 'g', key: 'k' }, { env: { _FSEC_G_K: '' }, readFile: () => new TextEncoder().encode('file') })).toBe('');
  });
});

describe('getSecret against real files (FLYTE_SECRETS_DEFAULT_DIR=<tmp>)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flyte-secrets-runtime-'));
    mkdirSync(join(dir, 'group', 'v1'), { recursive: true });
    writeFileSync(join(dir, 'group', 'test'), 'my-password\n');
    writeFileSync(join(dir, 'group', 'v1', 'test'), 'versioned');
    writeFileSync(join(dir, 'group', 'bin'), Buffer.from([0x00, 0xff, 0x20, 0x0a]));
    writeFileSync(join(dir, 'group', 'crlf'), 'a\r\nb\r\n');
    mkdirSync(join(dir, 'group', 'adir'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const env = (): Record<string, string> => ({ FLYTE_SECRETS_DEFAULT_DIR: dir });

  it('reads and strips a text file', () => {
    expect(getSecret({ group: 'group', key: 'test' }, { env: env() })).toBe('my-password');
    expect(getSecret({ group: 'GROUP', groupVersion: 'V1', key: 'TEST' }, { env: env() })).toBe('versioned');
  });

  it('reads bytes with encoding "bytes" (Python "rb", stripped of ASCII whitespace)', () => {
    expect(getSecret({ group: 'group', key: 'bin', encoding: 'bytes' }, { env: env() })).toEqual(Uint8Array.from([0x00, 0xff]));
  });

  it('applies universal newlines in text mode', () => {
    expect(getSecret({ group: 'group', key: 'crlf' }, { env: env() })).toBe('a\nb');
  });

  it('refuses non-UTF-8 content in text mode with SecretReadFailure', () => {
    expect(() => getSecret({ group: 'group', key: 'bin' }, { env: env() })).toThrow(/not valid UTF-8/);
  });

  it('reports a directory in the way as SecretReadFailure, and a missing file as not found', () => {
    let caught: unknown;
    try {
      getSecret({ group: 'group', key: 'adir' }, { env: env() });
    } catch (err) {
      caught = err;
    }
    expect(isFlyteSecretsError(caught, 'SecretReadFailure')).toBe(true);
    expect(() => getSecret({ group: 'group', key: 'missing' }, { env: env() })).toThrow(SecretNotFoundError);
    expect(() => getSecret({ group: 'test', key: 'under-a-file' }, { env: { FLYTE_SECRETS_DEFAULT_DIR: join(dir, 'group') } })).toThrow(
      SecretNotFoundError,
    );
  });
});
