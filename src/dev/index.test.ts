import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { DEFAULT_DEV_CONFIG_FILE, DEFAULT_SEED_FILE, EXAMPLE_POD_FILES, PACKAGE_ROOT, devBanner, devPathCommand, devSendCommand, shellQuote, startDevEnvironment, type DevEnvironment } from './index.js';

const tmp = mkdtempSync(join(tmpdir(), 'dev-index-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the printed command', () => {
  const env = { webhookUrl: 'https://127.0.0.1:9443', caFile: '/tmp/state dir/webhook/ca.crt' };

  it('is relative to the working directory when it can be, and quoted for sh', () => {
    expect(devSendCommand(env, { cwd: PACKAGE_ROOT, binDir: null })).toBe(
      "node bin/flyte-secrets.js dev send examples/pod.yaml examples/pod-azure.yaml --url https://127.0.0.1:9443 --ca '/tmp/state dir/webhook/ca.crt' --show-values",
    );
    expect(devSendCommand(env, { cwd: '/somewhere/else', bin: '/usr/lib/node_modules/flyte-secrets/bin/flyte-secrets.js', pods: ['/x/p.yaml'], binDir: null })).toBe(
      "node /usr/lib/node_modules/flyte-secrets/bin/flyte-secrets.js dev send /x/p.yaml --url https://127.0.0.1:9443 --ca '/tmp/state dir/webhook/ca.crt' --show-values",
    );
  });

  it('in a checkout with node_modules/.bin linked: PATH first, then flyte-secrets itself (Node 24, no npx)', () => {
    const binDir = join(PACKAGE_ROOT, 'node_modules', '.bin');
    expect(devPathCommand({ cwd: PACKAGE_ROOT, binDir })).toBe('export PATH="$PWD/node_modules/.bin:$PATH"');
    expect(devPathCommand({ cwd: '/else where', binDir: '/co/it\'s/node_modules/.bin' })).toBe(`export PATH='/co/it'\\''s/node_modules/.bin':"$PATH"`);
    expect(devPathCommand({ binDir: null })).toBeUndefined();
    expect(devSendCommand(env, { cwd: PACKAGE_ROOT, binDir })).toBe(
      "flyte-secrets dev send examples/pod.yaml examples/pod-azure.yaml --url https://127.0.0.1:9443 --ca '/tmp/state dir/webhook/ca.crt' --show-values",
    );
  });

  it.each([
    ['plain/path-1.yaml', 'plain/path-1.yaml'],
    ["it's", `'it'\\''s'`],
    ['$HOME', `'$HOME'`],
  ])('shellQuote(%s) = %s', (word, quoted) => {
    expect(shellQuote(word)).toBe(quoted);
  });

  it('is in the banner, with what runs where', () => {
    const dev: DevEnvironment = {
      webhookUrl: 'https://127.0.0.1:9443',
      port: 9443,
      invalidationUrl: 'http://127.0.0.1:40000/invalidate-secret',
      vaultUrl: 'https://127.0.0.1:40001',
      caFile: '/s/webhook/ca.crt',
      emulatorCaFile: '/s/emulator/ca.pem',
      stateDir: '/s',
      configFile: DEFAULT_DEV_CONFIG_FILE,
      effectiveConfigFile: '/s/config.yaml',
      seedFile: DEFAULT_SEED_FILE,
      seeded: 4,
      managers: ['Global', 'Azure', 'Embedded'],
      certificateNames: ['localhost', '127.0.0.1', '::1'],
      close: () => Promise.resolve(),
    };
    expect(devBanner(dev, { cwd: PACKAGE_ROOT, binDir: join(PACKAGE_ROOT, 'node_modules', '.bin') })).toBe(
      [
        'flyte-secrets dev: a local admission webhook with a Key Vault emulator (for development only)',
        '',
        '  webhook     https://127.0.0.1:9443/mutate--v1-pod   secret managers: Global, Azure, Embedded',
        '  vault       https://127.0.0.1:40001   Key Vault emulator, 4 example secrets from examples/seed.yaml',
        '  CA          /s/webhook/ca.crt   trust it to call the webhook (certificate for localhost, 127.0.0.1, ::1)',
        '  config      examples/dev-config.yaml   as run: /s/config.yaml',
        '  state dir   /s',
        "  invalidate  http://127.0.0.1:40000/invalidate-secret   (Flyte's cache-invalidation endpoint)",
        '',
        'Send the example pods through the webhook and show what was injected (copy this into another terminal):',
        '',
        '  export PATH="$PWD/node_modules/.bin:$PATH"    # Node 24 and flyte-secrets from this checkout',
        `  ${devSendCommand(dev, { cwd: PACKAGE_ROOT, binDir: join(PACKAGE_ROOT, 'node_modules', '.bin') })}`,
        '',
        'Admission logs follow on stderr. Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    expect(EXAMPLE_POD_FILES.map((f) => f.slice(PACKAGE_ROOT.length))).toEqual(['examples/pod.yaml', 'examples/pod-azure.yaml']);
  });
});

describe('startDevEnvironment refuses bad input before leaving anything running', () => {
  async function failure(p: Promise<unknown>): Promise<Error> {
    const err: unknown = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFlyteSecretsError(err)).toBe(true);
    return err as Error;
  }

  it('names a missing seed file and the flag to change it', async () => {
    const err = await failure(startDevEnvironment({ seedFile: join(tmp, 'nope.yaml'), stateDir: join(tmp, 's1') }));
    expect(err.message).toBe(`cannot read seed file ${join(tmp, 'nope.yaml')}: no such file; pass another with --seed`);
  });

  it('names a config file that does not validate', async () => {
    const file = join(tmp, 'bad.yaml');
    writeFileSync(file, 'webhook:\n  secretManagerTypes: [Azur]\n');
    const err = await failure(startDevEnvironment({ configFile: file, stateDir: join(tmp, 's2') }));
    expect(err.message).toMatch(/Azur does not belong to SecretManagerType values/);
  });

  it('says which port is taken, and stops the emulator it had started', async () => {
    const listen = (port: number): Promise<Server> =>
      new Promise((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve(s));
      });
    const busy = await listen(0);
    const emu = await listen(0);
    const busyPort = (busy.address() as { port: number }).port;
    const emuPort = (emu.address() as { port: number }).port;
    await new Promise<void>((r) => emu.close(() => r()));
    try {
      const err = await failure(startDevEnvironment({ port: busyPort, emulatorPort: emuPort, stateDir: join(tmp, 's3') }));
      expect(err.message).toBe(`port ${busyPort} on 127.0.0.1 is already in use: stop what uses it, or pick another port with --port`);
      // The emulator's port is free again.
      const again = await listen(emuPort);
      await new Promise<void>((r) => again.close(() => r()));
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  }, 20_000);
});
