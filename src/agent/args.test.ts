import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { parseAgentArgs, parseAgentSource } from './args.js';

const URI = 'https://kv-e2e.vault.azure.net/secrets/db-password';

function usageError(argv: string[]): string {
  try {
    parseAgentArgs(argv);
  } catch (err) {
    if (isFlyteSecretsError(err, 'Usage')) return err.message;
    throw err;
  }
  throw new Error(`no error for ${JSON.stringify(argv)}`);
}

describe('parseAgentSource', () => {
  it('reads a Key Vault secret URI with and without a version', () => {
    expect(parseAgentSource(URI)).toEqual({ kind: 'keyvault', uri: URI, vaultUrl: 'https://kv-e2e.vault.azure.net', name: 'db-password', version: '' });
    expect(parseAgentSource(`https://v.vault.azure.net:8443/secrets/x/0123abcd0123abcd0123abcd0123abcd`)).toMatchObject({
      vaultUrl: 'https://v.vault.azure.net:8443',
      name: 'x',
      version: '0123abcd0123abcd0123abcd0123abcd',
    });
  });

  it('reads embedded:<i>', () => {
    expect(parseAgentSource('embedded:0')).toEqual({ kind: 'embedded', uri: 'embedded:0', index: 0 });
    expect(parseAgentSource('embedded:12')).toMatchObject({ index: 12 });
  });

  it.each(['embedded:', 'embedded:-1', 'embedded:01', 'embedded:x', 'http://v.vault.azure.net/secrets/x', 'https://v.vault.azure.net/keys/x', 'https://v.vault.azure.net/secrets/', 'https://v.vault.azure.net/secrets/a_b', 'https://v.vault.azure.net/secrets/x?api-version=1', 'https://u:p@v.vault.azure.net/secrets/x', 'https://v.vault.azure.net/secrets/x/y/z', 'not a uri'])(
    'refuses %j',
    (text) => {
      expect(() => parseAgentSource(text)).toThrow(/source/);
    },
  );
});

describe('parseAgentArgs', () => {
  it('parses files, env items, the env file and the deadline, splitting at the first "="', () => {
    const args = parseAgentArgs(['--deadline', '30s', '--file', `${URI}=/etc/flyte/secrets/db-password`, '--env-file', '/var/run/flyte-secrets/env/secrets.env', '--env', 'embedded:2=_UNION_A', '--env=https://v.vault.azure.net/secrets/x=KEY']);
    expect(args.deadlineMs).toBe(30_000);
    expect(args.files).toEqual([{ source: parseAgentSource(URI), path: '/etc/flyte/secrets/db-password' }]);
    expect(args.envFile).toBe('/var/run/flyte-secrets/env/secrets.env');
    expect(args.envs.map((e) => [e.source.uri, e.key])).toEqual([
      ['embedded:2', '_UNION_A'],
      ['https://v.vault.azure.net/secrets/x', 'KEY'],
    ]);
  });

  it('keeps every "=" after the first in the target', () => {
    expect(parseAgentArgs(['--file', `${URI}=/etc/a=b`]).files[0]?.path).toBe('/etc/a=b');
  });

  it('skips a leading "--" (what the webhook writes), refuses one elsewhere', () => {
    expect(parseAgentArgs(['--', '--file', `${URI}=/x`]).files).toHaveLength(1);
    expect(usageError(['--file', `${URI}=/x`, '--'])).toMatch(/allowed only first/);
  });

  it('defaults the deadline to 2 minutes and accepts --help alone', () => {
    expect(parseAgentArgs(['--file', `${URI}=/x`]).deadlineMs).toBe(120_000);
    expect(parseAgentArgs(['--help']).help).toBe(true);
  });

  it.each([
    [[], /nothing to deliver/],
    [['--bogus'], /unknown argument "--bogus"/],
    [['--file'], /--file needs a value/],
    [['--file', URI], /is not SOURCE=PATH/],
    [['--file', `${URI}=relative/path`], /absolute path/],
    [['--file', `${URI}=/etc/flyte/secrets/../x`], /absolute path/],
    [['--env', `${URI}=K`], /--env needs --env-file/],
    [['--env-file', '/e', '--env', `${URI}=A B`], /cannot be an env-file key/],
    [['--env-file', '/e', '--env', `${URI}=#A`], /cannot be an env-file key/],
    [['--env-file', '/e', '--env', `${URI}=A'`], /cannot be an env-file key/],
    [['--env-file', '/e', '--env', `${URI}=K`, '--env', `${URI}-2=K`], /key "K" is given for two different sources/],
    [['--file', `${URI}=/s/a`, '--file', `${URI}-2=/s/a/b`], /collide/],
    [['--file', `${URI}=/s/a`, '--deadline', '0s'], /positive duration/],
    [['--file', `${URI}=/s/a`, '--deadline', 'soon'], /positive duration/],
  ])('refuses %j', (argv, message) => {
    const text = usageError(argv);
    expect(text).toMatch(message);
    expect(text).toMatch(/flyte-secrets agent --help/);
  });
});

describe('--broker and --token-file', () => {
  it('reads the broker URL and the token path', () => {
    const args = parseAgentArgs(['--', '--deadline', '30s', '--file', 'embedded:0=/etc/flyte/secrets/a', '--broker', 'https://flyte-pod-webhook.flyte.svc:443/broker/v1/secrets', '--token-file', '/var/run/secrets/flyte-secrets/broker/token']);
    expect(args.broker).toBe('https://flyte-pod-webhook.flyte.svc:443/broker/v1/secrets');
    expect(args.tokenFile).toBe('/var/run/secrets/flyte-secrets/broker/token');
  });
  it.each([
    [['--broker', 'http://x.svc/b'], /https:\/\/ URL/],
    [['--broker', 'https://u:p@x.svc/b'], /https:\/\/ URL/],
    [['--broker', 'not a url'], /https:\/\/ URL/],
    [['--token-file', 'relative/token'], /absolute path/],
  ])('%j is refused', (extra, message) => {
    expect(() => parseAgentArgs(['--file', 'embedded:0=/etc/flyte/secrets/a', ...extra])).toThrow(message);
  });
});
