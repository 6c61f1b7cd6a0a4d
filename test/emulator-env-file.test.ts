// `flyte-secrets emulator --write-env-file FILE`: once ready, FILE holds what sh needs to point flyte-secrets at the
// emulator; with only that sourced (no --vault, no --ca-file), `secret create` and `secret get` work against it.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATOR_ENV_NAMES, emulatorEnvFile } from '../src/emulator/env-file.js';
import { CLI_BIN, PACKAGE_ROOT, runBinary } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fs-env-file-'));
const envFile = join(dir, 'kv.env');
let child: ChildProcessWithoutNullStreams;
let info: Record<string, string>;
let exited: Promise<number | null>;

beforeAll(async () => {
  // A clean environment, as a new terminal has (vitest's NODE_OPTIONS are not for this child).
  child = spawn(process.execPath, [CLI_BIN, 'emulator', '--port', '0', '--state-dir', join(dir, 'kv'), '--write-env-file', envFile], { cwd: PACKAGE_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  // The JSON line on stdout means ready; the env file is written before it.
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
    });
    child.on('exit', (code) => reject(new Error(`emulator exited ${code}: ${stderr}`)));
  });
  info = JSON.parse(line) as Record<string, string>;
});

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** The environment sh gets from `set -a; . FILE` (nothing else: env -i). */
function sourced(file: string): Record<string, string> {
  const out = spawnSync('env', ['-i', 'sh', '-c', 'set -a; . "$1"; env', 'sh', file], { encoding: 'utf8' });
  expect(out.status, out.stderr).toBe(0);
  return Object.fromEntries(out.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('emulator --write-env-file', () => {
  it('is written once ready, owner-only, with the emulator’s values', () => {
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    const env = sourced(envFile);
    expect(Object.fromEntries(EMULATOR_ENV_NAMES.map((n) => [n, env[n]]))).toEqual({
      AZURE_TENANT_ID: info.tenantId,
      AZURE_CLIENT_ID: info.clientId,
      AZURE_CLIENT_SECRET: info.clientSecret,
      AZURE_AUTHORITY_HOST: info.authorityHost,
      NODE_EXTRA_CA_CERTS: info.caFile,
      FLYTE_SECRETS_VAULT_URL: info.vaultUrl,
    });
  });

  it('is all `secret create` and `secret get` need', async () => {
    const env = { ...sourced(envFile), PATH: process.env.PATH ?? '', HOME: dir };
    const created = await runBinary(['secret', 'create', '--domain', 'development', '--project', 'flytesnacks', 'db-password', '--value', 'hunter2'], { env });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const got = await runBinary(['secret', 'get', '--domain', 'development', '--project', 'flytesnacks', 'db-password', '--reveal'], { env });
    expect(got.stderr).toBe('');
    expect(got.stdout.toString('utf8')).toBe('hunter2');
  });

  it('quotes values for sh, whatever they hold', () => {
    const odd = { vaultUrl: "https://x'; rm -rf /; echo '", authorityHost: 'a b', tenantId: '$HOME', clientId: '`id`', clientSecret: 'a\\nb"c', caFile: '/tmp/ca.pem', adminUrl: '' };
    const file = join(dir, 'odd.env');
    spawnSync('sh', ['-c', 'cat > "$1"', 'sh', file], { input: emulatorEnvFile(odd) });
    const env = sourced(file);
    expect([env.FLYTE_SECRETS_VAULT_URL, env.AZURE_AUTHORITY_HOST, env.AZURE_TENANT_ID, env.AZURE_CLIENT_ID, env.AZURE_CLIENT_SECRET]).toEqual([odd.vaultUrl, odd.authorityHost, odd.tenantId, odd.clientId, odd.clientSecret]);
  });

  it('is removed when the emulator stops (Ctrl-C), which exits 0', async () => {
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(existsSync(envFile)).toBe(false);
  });
});
