// The proof of issue 5's "main job on its embedded default": `npm start`'s command (`node bin/flyte-secrets.js dev`)
// runs as a child process on free ports; once its banner says it is ready, the command the banner prints is run as
// printed (it sends the example pods through the webhook); the Embedded ENV and FILE secrets and the Azure init
// container must be in what it shows; then SIGINT must end the process with exit code 0 within 5 s.
// Also: the committed example pods carry exactly the annotations our codec writes for the documented requests, and
// the seed file holds what they ask for.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { keyVaultNameForId } from '../src/azure/secret-name.js';
import { sendPodForAdmission } from '../src/dev/send.js';
import { parseSeedText } from '../src/emulator/seed.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE, SECRET_ANNOTATION_PREFIX, decodeSecretAnnotations, secretsToAnnotations } from '../src/secret/annotations.js';
import { MountRequirement, makeSecret, type Secret } from '../src/secret/model.js';
import { CLI_BIN as BIN, PACKAGE_ROOT as ROOT } from './support/cli.js';

const EXAMPLES = join(ROOT, 'examples');

/** What the README says the example pods ask for (see "Try it locally" in the README and examples/README.md). */
const EXPECTED: Record<string, Secret[]> = {
  'pod.yaml': [
    makeSecret({ key: 'api-token', mountRequirement: MountRequirement.ENV_VAR, envVar: 'API_TOKEN' }),
    makeSecret({ key: 'db-password', mountRequirement: MountRequirement.FILE }),
  ],
  'pod-azure.yaml': [
    makeSecret({ group: 'https://flyte-dev.vault.azure.net/secrets/example-db-password', mountRequirement: MountRequirement.FILE }),
    makeSecret({ key: 'api-token', mountRequirement: MountRequirement.ENV_VAR, envVar: 'API_TOKEN' }),
  ],
};

function examplePod(file: string): Pod {
  return parseYaml(readFileSync(join(EXAMPLES, file), 'utf8')) as Pod;
}

describe('examples', () => {
  it.each(Object.keys(EXPECTED))('%s opts in, carries its scope labels and exactly the annotations our codec writes', (file) => {
    const pod = examplePod(file);
    const labels = pod.metadata?.labels ?? {};
    expect(labels[INJECT_LABEL]).toBe(INJECT_LABEL_VALUE);
    expect(labels).toMatchObject({ organization: 'flyte', project: 'flytesnacks', domain: 'development' });
    const annotations = Object.fromEntries(Object.entries(pod.metadata?.annotations ?? {}).filter(([k]) => k.startsWith(SECRET_ANNOTATION_PREFIX)));
    const expected = EXPECTED[file] ?? [];
    expect(decodeSecretAnnotations(annotations).map((d) => d.secret)).toEqual(expected);
    expect(annotations).toEqual(secretsToAnnotations(expected));
  });

  it('seeds what the example pods ask for: api-token at project and domain scope, db-password at org scope, one plain secret', () => {
    const names = parseSeedText(readFileSync(join(EXAMPLES, 'seed.yaml'), 'utf8'), 'seed.yaml').map((s) => s.name);
    expect(names).toEqual([
      keyVaultNameForId({ org: 'flyte', domain: 'development', project: 'flytesnacks', name: 'api-token' }),
      keyVaultNameForId({ org: 'flyte', domain: 'development', project: '', name: 'api-token' }),
      keyVaultNameForId({ org: 'flyte', domain: '', project: '', name: 'db-password' }),
      'example-db-password',
    ]);
  });
});

describe('flyte-secrets dev (npm start)', () => {
  const state = mkdtempSync(join(tmpdir(), 'dev-test-'));
  let child: ChildProcessWithoutNullStreams | undefined;
  let stdout = '';
  let stderr = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  // Run with a plain environment: no AZURE_*, no NODE_EXTRA_CA_CERTS, no INIT_CWD (paths print relative to cwd).
  const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: state };
  // What a new terminal gets after the banner's first line (export PATH="$PWD/node_modules/.bin:$PATH").
  const terminalEnv = { ...env, PATH: `${join(ROOT, 'node_modules', '.bin')}:${env.PATH}` };

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')) || !existsSync(join(ROOT, 'dist', 'dev', 'index.js'))) {
      throw new Error('dist/ is missing or predates `flyte-secrets dev`: run `npm run build` first (`npm test` builds before testing)');
    }
    // The start script is what `npm start` runs: check it is the command under test.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['start']).toBe('exec node bin/flyte-secrets.js dev');
    // `npm install` links flyte-secrets into node_modules/.bin (the prepare script); make sure it is, as after install.
    expect(spawnSync(process.execPath, [join(ROOT, 'scripts', 'link-bin.mjs')]).status).toBe(0);
    child = spawn(process.execPath, [BIN, 'dev', '--port', '0', '--emulator-port', '0', '--state-dir', join(state, 'dev')], { cwd: ROOT, env });
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    exited = new Promise((resolve) => child?.on('exit', (code, signal) => resolve({ code, signal })));
    const until = Date.now() + 15_000;
    while (!stdout.includes('Press Ctrl-C to stop.')) {
      if (child.exitCode !== null) throw new Error(`dev exited early with ${child.exitCode}: ${stderr}`);
      if (Date.now() > until) throw new Error(`dev did not become ready in 15 s; stdout: ${stdout}\nstderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 20_000);

  afterAll(() => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(state, { recursive: true, force: true });
  });

  function printedCommand(): string {
    const line = stdout.split('\n').find((l) => l.includes(' dev send '));
    expect(line, 'the banner prints a send command').toBeDefined();
    return (line ?? '').trim();
  }

  it('prints what runs where', () => {
    const webhook = /webhook\s+(https:\/\/127\.0\.0\.1:(\d+))\/mutate--v1-pod\s+secret managers: Global, Azure, Embedded/.exec(stdout);
    expect(webhook?.[2]).not.toBe('0');
    expect(stdout).toMatch(/vault\s+https:\/\/127\.0\.0\.1:\d+\s+Key Vault emulator, 4 example secrets from examples\/seed\.yaml/);
    const ca = join(state, 'dev', 'webhook', 'ca.crt');
    expect(stdout).toContain(`CA          ${ca}`);
    expect(readFileSync(ca, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(stdout).toContain('config      examples/dev-config.yaml');
    expect(stdout).toContain('\n  export PATH="$PWD/node_modules/.bin:$PATH"    # Node 24 and flyte-secrets from this checkout\n');
    expect(printedCommand()).toBe(`flyte-secrets dev send examples/pod.yaml examples/pod-azure.yaml --url ${webhook?.[1] ?? ''} --ca ${ca} --show-values`);
  });

  it('the printed command sends the example pods and shows the injected secrets', () => {
    const run = spawnSync('sh', ['-c', printedCommand()], { cwd: ROOT, env: terminalEnv, encoding: 'utf8', timeout: 15_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const [embedded, azure] = run.stdout.split(/\n(?=pod )/);
    // Embedded ENV: the project-scope value wins over the domain-scope one.
    expect(embedded).toMatch(/^pod flytesnacks-development\/example-embedded: mutated/);
    expect(embedded).toMatch(/ {2}container main:\n(?: {4}.*\n)*? {4}env API_TOKEN=project-api-token-1234\n/);
    // Embedded FILE: written by the init container, found at org scope.
    expect(embedded).toContain('  init container init-embedded-secret (image public.ecr.aws/docker/library/busybox:latest), added:\n    writes /etc/flyte/secrets/db-password: org-db-password-9012\n');
    expect(embedded).toContain('    mounts volume embedded-secret-vol at /etc/flyte/secrets, read-only\n');
    // Azure sidecar: an init container fetching the Key Vault URI into the file; Embedded ENV alongside.
    expect(azure).toMatch(/^pod flytesnacks-development\/example-azure: mutated/);
    expect(azure).toContain(
      '  init container azure-pull-secret-0 (image mcr.microsoft.com/azure-cli:cbl-mariner2.0), added:\n' +
        '    fetches https://flyte-dev.vault.azure.net/secrets/example-db-password\n' +
        '    writes /etc/flyte/secrets/example-db-password\n',
    );
    expect(azure).toMatch(/ {2}container main:\n(?: {4}.*\n)*? {4}env API_TOKEN=project-api-token-1234\n/);
    expect(azure).not.toContain('warning:');
  });

  it('what the command shows is what the webhook put in the pods', () => {
    const run = spawnSync('sh', ['-c', `${printedCommand()} -o yaml`], { cwd: ROOT, env: terminalEnv, encoding: 'utf8', timeout: 15_000 });
    expect(run.status).toBe(0);
    const [embedded, azure] = parseAllDocuments(run.stdout).map((d) => d.toJS() as Pod);
    const main = embedded?.spec?.containers?.find((c) => c.name === 'main');
    expect(main?.env?.find((e) => e.name === 'API_TOKEN')?.value).toBe('project-api-token-1234');
    const init = embedded?.spec?.initContainers?.find((c) => c.name === 'init-embedded-secret');
    expect(init?.env?.find((e) => e.name === 'SECRETS')?.value).toBe(`db-password=${Buffer.from('org-db-password-9012').toString('base64')}\n`);
    const pull = azure?.spec?.initContainers?.find((c) => c.name === 'azure-pull-secret-0');
    expect(pull?.env?.find((e) => e.name === 'FLYTE_SECRET_ID')?.value).toBe('https://flyte-dev.vault.azure.net/secrets/example-db-password');
  });

  it('hides values without --show-values, and never logs them', async () => {
    const run = spawnSync('sh', ['-c', printedCommand().replace(/ --show-values$/, '')], { cwd: ROOT, env: terminalEnv, encoding: 'utf8', timeout: 15_000 });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('env API_TOKEN=<22 bytes, hidden; --show-values prints it>');
    expect(run.stdout).not.toContain('project-api-token-1234');
    expect(run.stdout).not.toContain('org-db-password-9012');
    // The child's admission log lines reach us once the event loop runs (spawnSync above held it).
    const logged = /admission .*pod=example-azure .*managers=Azure,Embedded outcome=mutated/;
    for (let i = 0; i < 60 && !logged.test(stderr); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toMatch(logged);
    for (const value of ['project-api-token-1234', 'domain-api-token-5678', 'org-db-password-9012', 'plain-db-password-3456']) expect(stderr).not.toContain(value);
  });

  it('keeps the strict Key Vault URI check: an emulator (loopback) URI is refused, not special-cased', async () => {
    const url = /webhook\s+(https:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1] ?? '';
    const vault = /vault\s+(https:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1] ?? '';
    const pod = examplePod('pod-azure.yaml');
    pod.metadata = { ...pod.metadata, annotations: secretsToAnnotations([makeSecret({ group: `${vault}/secrets/example-db-password`, mountRequirement: MountRequirement.FILE })]) };
    const r = await sendPodForAdmission(pod, { url, ca: readFileSync(join(state, 'dev', 'webhook', 'ca.crt'), 'utf8') });
    expect(r.allowed).toBe(false);
    expect(r.message).toMatch(/is a loopback address, which is only accepted for local testing/);
  });

  it('stops on SIGINT with exit code 0 (no hang), also when Ctrl-C arrives twice (terminal + npm’s forwarded copy)', async () => {
    child?.kill('SIGINT');
    child?.kill('SIGINT');
    // No speed is assumed: a process that hangs never exits; 30 s only turns such a hang into a clear failure.
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
    const result = await Promise.race([exited, timeout]);
    expect(result).toEqual({ code: 0, signal: null });
  }, 45_000);
});

describe('flyte-secrets dev --json', () => {
  it('prints one JSON line once ready, and stops on SIGTERM with exit code 0', async () => {
    const state = mkdtempSync(join(tmpdir(), 'dev-json-'));
    const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: state };
    const child = spawn(process.execPath, [BIN, 'dev', '--json', '--port', '0', '--state-dir', state], { cwd: ROOT, env });
    try {
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      for (let i = 0; i < 300 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
      const info = JSON.parse(out.split('\n')[0] ?? '') as Record<string, unknown>;
      expect(info).toMatchObject({ caFile: join(state, 'webhook', 'ca.crt'), stateDir: state, managers: ['Global', 'Azure', 'Embedded'] });
      expect(info['webhookUrl']).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(info['pathCommand']).toBe('export PATH="$PWD/node_modules/.bin:$PATH"');
      expect(info['sendCommand']).toBe(`flyte-secrets dev send examples/pod.yaml examples/pod-azure.yaml --url ${String(info['webhookUrl'])} --ca ${join(state, 'webhook', 'ca.crt')} --show-values`);
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref())]);
      expect(code).toBe(0);
      expect(out.trim().split('\n')).toHaveLength(1);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(state, { recursive: true, force: true });
    }
  }, 25_000);
});

describe('npm start stopped with Ctrl-C, as a terminal does it (SIGINT to the whole process group)', () => {
  it('the whole group stops, npm exits 0, nothing is left running', async () => {
    const state = mkdtempSync(join(tmpdir(), 'dev-npm-'));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: state };
    // detached: a new session and process group, led by npm (what a terminal's foreground job is).
    const npm = spawn('npm', ['start', '--silent', '--', '--port', '0', '--emulator-port', '0', '--state-dir', join(state, 'dev')], { cwd: ROOT, env, detached: true });
    const group = npm.pid ?? 0;
    let out = '';
    let err = '';
    npm.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    npm.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => npm.on('exit', (code, signal) => resolve({ code, signal })));
    const alive = (): boolean => {
      try {
        process.kill(-group, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      for (let i = 0; i < 600 && !out.includes('Press Ctrl-C to stop.') && npm.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      expect(out, err).toContain('Press Ctrl-C to stop.');
      process.kill(-group, 'SIGINT');
      expect(await exited).toEqual({ code: 0, signal: null });
      for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(alive()).toBe(false);
      expect(err).toContain('flyte-secrets dev: SIGINT, stopping the webhook and the emulator');
      expect(err).not.toContain('again, stopping at once');
    } finally {
      if (alive()) process.kill(-group, 'SIGKILL');
      rmSync(state, { recursive: true, force: true });
    }
  }, 60_000);
});
