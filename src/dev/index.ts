/**
 * `flyte-secrets dev` as a library: the whole local loop in one process, with nothing else installed. It starts the
 * Key Vault emulator seeded with example secrets, makes a local CA and a serving certificate for `127.0.0.1` and
 * `localhost`, and starts the admission webhook on HTTPS with the secret managers `[Azure, Embedded]`, the Embedded
 * manager reading Flyte-native secrets from that emulator (credentials and CA handed to the SDK directly, so no
 * `AZURE_*` or `NODE_EXTRA_CA_CERTS` environment is needed).
 *
 * For development only: the emulator has no real authentication and the webhook's CA key sits in the state
 * directory.
 *
 * @example
 * ```ts
 * const dev = await startDevEnvironment({ port: 0, emulatorPort: 0 });
 * const r = await sendPodForAdmission(pod, { url: dev.webhookUrl, ca: readFileSync(dev.caFile, 'utf8') });
 * await dev.close();
 * ```
 *
 * @module
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { Config, SecretManagerType } from '../config/schema.js';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import type { Logger } from '../webhook/logger.js';

/** The package's root directory (holds `bin/`, `examples/`). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The example files `dev` uses by default. */
export const EXAMPLES_DIR = join(PACKAGE_ROOT, 'examples');
/** Default seed file: example secrets for project `flytesnacks`, domain `development`. */
export const DEFAULT_SEED_FILE = join(EXAMPLES_DIR, 'seed.yaml');
/** Default base config: `[Azure, Embedded]`, Embedded backend Azure. */
export const DEFAULT_DEV_CONFIG_FILE = join(EXAMPLES_DIR, 'dev-config.yaml');
/** The example pods the printed command sends (Embedded ENV + FILE; Azure sidecar + Embedded ENV). */
export const EXAMPLE_POD_FILES = [join(EXAMPLES_DIR, 'pod.yaml'), join(EXAMPLES_DIR, 'pod-azure.yaml')] as const;
/** Default webhook port (Flyte's `webhook.listenPort`). */
export const DEFAULT_DEV_PORT = 9443;
/** Namespace written into the serving certificate's Service names (`<svc>.<ns>.svc`). */
const CERT_NAMESPACE = 'flyte';

/** Options of {@link startDevEnvironment}. Every field is optional. */
export interface DevOptions {
  /** Webhook HTTPS port. Default 9443; 0 picks a free one. */
  port?: number;
  /** Emulator port. Default 0 (a free one). */
  emulatorPort?: number;
  /** Address the webhook listens on. Default `127.0.0.1`. The emulator always listens on `127.0.0.1`. */
  host?: string;
  /** Seed file of the emulator (JSON or YAML, see docs/emulator.md). Default {@link DEFAULT_SEED_FILE}. */
  seedFile?: string;
  /** Base webhook config. Default {@link DEFAULT_DEV_CONFIG_FILE}; dev sets the keys listed in that file. */
  configFile?: string;
  /**
   * Where the CA, the serving certificate, the emulator's CA and the effective config are kept; reused across runs
   * (the CAs stay the same). Default {@link defaultDevStateDir}.
   */
  stateDir?: string;
  /** Where the webhook logs. Default: silent. */
  logger?: Logger;
}

/** A running dev environment. */
export interface DevEnvironment {
  /** `https://127.0.0.1:<port>`: the webhook (admission path {@link MUTATE_PATH_FOR_BANNER}). */
  readonly webhookUrl: string;
  readonly port: number;
  /** Flyte's cache-invalidation endpoint (`POST`), on a free port. */
  readonly invalidationUrl: string | undefined;
  /** The emulator's vault URL (= `embeddedSecretManagerConfig.azureConfig.vaultURI`). */
  readonly vaultUrl: string;
  /** The local CA that signed the webhook's certificate: what a client must trust. */
  readonly caFile: string;
  /** The emulator's CA. */
  readonly emulatorCaFile: string;
  readonly stateDir: string;
  /** The base config file given (or the default). */
  readonly configFile: string;
  /** The config as run, written into the state directory. */
  readonly effectiveConfigFile: string;
  readonly seedFile: string;
  /** Number of secret versions seeded. */
  readonly seeded: number;
  /** The secret-manager chain, Global first. */
  readonly managers: readonly SecretManagerType[];
  /** Names the serving certificate is valid for (DNS names and IPs). */
  readonly certificateNames: readonly string[];
  /** Stop the webhook (requests in flight get `shutdownGrace`) and the emulator. Safe to call twice. */
  close(): Promise<void>;
}

/** Admission path shown in the banner. */
export const MUTATE_PATH_FOR_BANNER = '/mutate--v1-pod';

/**
 * The default state directory: `<tmpdir>/flyte-secrets-dev-<user>`, one per user, so the CA (and the printed command)
 * stays the same across runs.
 */
export function defaultDevStateDir(): string {
  let user: string;
  try {
    user = userInfo().username.replace(/[^A-Za-z0-9_.-]/g, '_') || String(process.getuid?.() ?? 'user');
  } catch {
    user = String(process.getuid?.() ?? 'user');
  }
  return join(tmpdir(), `flyte-secrets-dev-${user}`);
}

function ensureStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (!st.isDirectory()) throw new FlyteSecretsError('InvalidInput', `state directory ${dir} is not a directory; pass another with --state-dir`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new FlyteSecretsError('InvalidInput', `state directory ${dir} belongs to another user; pass your own with --state-dir`);
    }
  } catch (err) {
    if (err instanceof FlyteSecretsError) throw err;
    throw new FlyteSecretsError('InvalidInput', `cannot use state directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}; pass another with --state-dir`, { cause: err });
  }
}

function readTextFile(file: string, what: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
    throw new FlyteSecretsError('InvalidInput', `cannot read ${what} ${file}: ${why}; pass another with ${flag}`, { cause: err });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function section(parent: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const v = parent[key];
  if (v === undefined || v === null) {
    const created: Record<string, unknown> = {};
    parent[key] = created;
    return created;
  }
  if (!isRecord(v)) throw new FlyteSecretsError('InvalidConfig', `${where}.${key} must be a mapping`);
  return v;
}

/** The URL host for a listen address: wildcards become 127.0.0.1, IPv6 is bracketed. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** Write `content` to `file` (mode) unless it already holds it; atomic rename. */
function writeFileIfChanged(file: string, content: string, mode: number): void {
  if (existsSync(file) && readFileSync(file, 'utf8') === content) return;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/**
 * Start the emulator and the webhook (see the module doc). Resolves once both listen. Throws `FlyteSecretsError`
 * (`InvalidInput`, `InvalidConfig`) naming the file, flag or port at fault; nothing is left running on failure.
 *
 * @example
 * ```ts
 * const dev = await startDevEnvironment({ port: 9443, logger: createDevLogger() });
 * process.once('SIGINT', () => void dev.close());
 * ```
 */
export async function startDevEnvironment(options: DevOptions = {}): Promise<DevEnvironment> {
  const port = options.port ?? DEFAULT_DEV_PORT;
  const host = options.host ?? '127.0.0.1';
  const seedFile = resolve(options.seedFile ?? DEFAULT_SEED_FILE);
  const configFile = resolve(options.configFile ?? DEFAULT_DEV_CONFIG_FILE);
  const stateDir = resolve(options.stateDir ?? defaultDevStateDir());

  // Check every input before loading the heavy modules and starting anything.
  const [{ parseSeedText }, { parseConfig }, { enabledManagers }] = await Promise.all([import('../emulator/seed.js'), import('../config/load.js'), import('../config/schema.js')]);
  const seeded = parseSeedText(readTextFile(seedFile, 'seed file', '--seed'), seedFile).length;
  let raw: unknown;
  try {
    raw = parseYaml(readTextFile(configFile, 'config file', '--config')) ?? {};
  } catch (err) {
    if (err instanceof FlyteSecretsError) throw err;
    throw new FlyteSecretsError('InvalidConfig', `${configFile}: not valid YAML (${errorMessage(err).split('\n')[0] ?? ''})`, { cause: err });
  }
  if (!isRecord(raw)) throw new FlyteSecretsError('InvalidConfig', `${configFile}: expected a mapping with a webhook section`);
  ensureStateDir(stateDir);
  const certDir = join(stateDir, 'webhook');
  const webhook = section(raw, 'webhook', configFile);
  webhook['certDir'] = certDir;
  webhook['localCert'] = false;
  webhook['listenPort'] = port;
  const embeddedSection = section(webhook, 'embeddedSecretManagerConfig', 'webhook');
  const azureConfig = section(embeddedSection, 'azureConfig', 'webhook.embeddedSecretManagerConfig');
  section(section(raw, 'flyteSecrets', configFile), 'server', 'flyteSecrets')['host'] = host;
  // Validate now (vaultURI is filled in once the emulator listens).
  azureConfig['vaultURI'] = 'https://127.0.0.1';
  parseConfig(raw, configFile);

  const [{ startEmulator }, certs, { startWebhookServer }, { createWebhookMetrics }, { createInjectorsFromConfig }, { ClientSecretCredential }] = await Promise.all([
    import('../emulator/index.js'),
    import('../webhook/certs.js'),
    import('../webhook/server.js'),
    import('../webhook/metrics.js'),
    import('../assemble/index.js'),
    import('@azure/identity'),
  ]);
  const emulator = await startEmulator({ port: options.emulatorPort ?? 0, host: '127.0.0.1', stateDir: join(stateDir, 'emulator'), seedFile });
  try {
    azureConfig['vaultURI'] = emulator.vaultUrl;
    const config: Config = parseConfig(raw, configFile);
    const effectiveConfigFile = join(stateDir, 'config.yaml');
    writeFileIfChanged(
      effectiveConfigFile,
      `# The config \`flyte-secrets dev\` runs with: ${configFile}, plus certDir, localCert, listenPort, vaultURI and\n# server.host set by dev. Written at every start.\n${stringifyYaml(raw)}`,
      0o644,
    );

    // The local CA (kept and reused) and a fresh serving certificate for the loopback names.
    mkdirSync(certDir, { recursive: true, mode: 0o700 });
    const caKeyFile = join(certDir, 'ca.key');
    const stored = {
      ...(existsSync(join(certDir, certs.CA_CERT_KEY)) ? { caCert: readFileSync(join(certDir, certs.CA_CERT_KEY), 'utf8') } : {}),
      ...(existsSync(caKeyFile) ? { caKey: readFileSync(caKeyFile, 'utf8') } : {}),
    };
    const validityMs = config.flyteSecrets.certs.validity;
    const ca = certs.reusableCa(stored, validityMs);
    const ipAddresses = ['127.0.0.1', '::1'];
    const dnsNames = ['localhost'];
    if (host !== '0.0.0.0' && host !== '::' && host !== '') {
      if (isIP(host) !== 0 && !ipAddresses.includes(host)) ipAddresses.push(host);
      else if (isIP(host) === 0 && !dnsNames.includes(host)) dnsNames.push(host);
    }
    const bundle = await certs.generateCertificates({
      serviceName: config.webhook.serviceName,
      namespace: CERT_NAMESPACE,
      validityMs,
      extraDnsNames: dnsNames,
      ipAddresses,
      ...(ca !== undefined ? { ca } : {}),
    });
    writeFileIfChanged(caKeyFile, bundle.caKey, 0o600);
    certs.writeCertificateFiles(certDir, bundle);

    const credential = new ClientSecretCredential(emulator.tenantId, emulator.clientId, emulator.clientSecret, {
      authorityHost: emulator.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: emulator.caPem },
    });
    const logger = options.logger;
    const metrics = createWebhookMetrics();
    const { injectors, mutator } = await createInjectorsFromConfig(config, { registry: metrics.registry, embedded: { azure: { credential, ca: emulator.caPem } } });
    let server;
    try {
      server = await startWebhookServer({ config, mutator, injectors, metrics, invalidationPort: -1, ...(logger !== undefined ? { logger } : {}) });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new FlyteSecretsError('InvalidInput', `port ${port} on ${host} is already in use: stop what uses it, or pick another port with --port`, { cause: err });
      if (code === 'EACCES') throw new FlyteSecretsError('InvalidInput', `not allowed to listen on ${host}:${port}: pick a port above 1024 with --port`, { cause: err });
      if (code === 'EADDRNOTAVAIL') throw new FlyteSecretsError('InvalidInput', `cannot listen on ${host}: not an address of this machine; check --host`, { cause: err });
      throw err;
    }
    const running = server;
    const shownHost = urlHost(host);
    let closed: Promise<void> | undefined;
    return {
      webhookUrl: `https://${shownHost}:${running.port}`,
      port: running.port,
      invalidationUrl: running.invalidationPort === undefined ? undefined : `http://${urlHost(config.flyteSecrets.server.host)}:${running.invalidationPort}/invalidate-secret`,
      vaultUrl: emulator.vaultUrl,
      caFile: join(certDir, certs.CA_CERT_KEY),
      emulatorCaFile: emulator.caFile,
      stateDir,
      configFile,
      effectiveConfigFile,
      seedFile,
      seeded,
      managers: enabledManagers(config.webhook),
      certificateNames: [...dnsNames, ...ipAddresses],
      close() {
        closed ??= (async () => {
          running.setReady(false);
          try {
            await running.close();
          } finally {
            await emulator.close();
          }
        })();
        return closed;
      },
    };
  } catch (err) {
    await emulator.close();
    throw err;
  }
}

/** How to print paths in a command for a terminal at `cwd`: relative when inside it, else absolute. */
function shownPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Quote one word for a POSIX shell (only when needed). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_/.:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Options of {@link devSendCommand} and {@link devBanner}. */
export interface DevCommandOptions {
  /** The CLI script to run with `node` (default `<package>/bin/flyte-secrets.js`). */
  bin?: string;
  /** The directory the command will be run from (paths inside it are shown relative). Default `process.cwd()`. */
  cwd?: string;
  /** Pod files to send. Default {@link EXAMPLE_POD_FILES}. */
  pods?: readonly string[];
  /**
   * The directory that holds Node 24 and a `flyte-secrets` link (a checkout's `node_modules/.bin`, linked by
   * `npm install`): the command is then `flyte-secrets …` after putting it first on PATH. Default: the package's own
   * `node_modules/.bin` when `flyte-secrets` is there; `null`: none, the command runs `node <bin> …`.
   */
  binDir?: string | null;
}

/** The `binDir` of {@link DevCommandOptions}: the option, else the package's `node_modules/.bin` if it is linked. */
function binDirOf(options: DevCommandOptions): string | undefined {
  if (options.binDir !== undefined) return options.binDir ?? undefined;
  const dir = join(PACKAGE_ROOT, 'node_modules', '.bin');
  return existsSync(join(dir, 'flyte-secrets')) ? dir : undefined;
}

/**
 * The line that puts Node 24 and `flyte-secrets` first on PATH (`export PATH="$PWD/node_modules/.bin:$PATH"` from the
 * checkout), or `undefined` when there is no such directory (see {@link DevCommandOptions.binDir}).
 */
export function devPathCommand(options: DevCommandOptions = {}): string | undefined {
  const dir = binDirOf(options);
  if (dir === undefined) return undefined;
  const cwd = options.cwd ?? process.cwd();
  if (dir === join(cwd, 'node_modules', '.bin')) return 'export PATH="$PWD/node_modules/.bin:$PATH"';
  return `export PATH=${shellQuote(dir)}:"$PATH"`;
}

/**
 * The command that sends the example pods through the running webhook and shows what was injected (values
 * included): `flyte-secrets dev send examples/pod.yaml examples/pod-azure.yaml --url … --ca … --show-values`, to run
 * after {@link devPathCommand}; without a linked `node_modules/.bin`, `node bin/flyte-secrets.js dev send …`.
 */
export function devSendCommand(env: Pick<DevEnvironment, 'webhookUrl' | 'caFile'>, options: DevCommandOptions = {}): string {
  const cwd = options.cwd ?? process.cwd();
  const bin = options.bin ?? join(PACKAGE_ROOT, 'bin', 'flyte-secrets.js');
  const pods = options.pods ?? EXAMPLE_POD_FILES;
  const cli = binDirOf(options) === undefined ? ['node', shownPath(bin, cwd)] : ['flyte-secrets'];
  const words = [...cli, 'dev', 'send', ...pods.map((p) => shownPath(p, cwd)), '--url', env.webhookUrl, '--ca', shownPath(env.caFile, cwd), '--show-values'];
  return words.map(shellQuote).join(' ');
}

/** The banner `flyte-secrets dev` prints once everything listens: what runs where, and the command to copy. */
export function devBanner(env: DevEnvironment, options: DevCommandOptions = {}): string {
  const cwd = options.cwd ?? process.cwd();
  const lines = [
    'flyte-secrets dev: a local admission webhook with a Key Vault emulator (for development only)',
    '',
    `  webhook     ${env.webhookUrl}${MUTATE_PATH_FOR_BANNER}   secret managers: ${env.managers.join(', ')}`,
    `  vault       ${env.vaultUrl}   Key Vault emulator, ${env.seeded} example secrets from ${shownPath(env.seedFile, cwd)}`,
    `  CA          ${env.caFile}   trust it to call the webhook (certificate for ${env.certificateNames.join(', ')})`,
    `  config      ${shownPath(env.configFile, cwd)}   as run: ${env.effectiveConfigFile}`,
    `  state dir   ${env.stateDir}`,
    ...(env.invalidationUrl !== undefined ? [`  invalidate  ${env.invalidationUrl}   (Flyte's cache-invalidation endpoint)`] : []),
    '',
    'Send the example pods through the webhook and show what was injected (copy this into another terminal):',
    '',
    ...((path) => (path === undefined ? [] : [`  ${path}    # Node 24 and flyte-secrets from this checkout`]))(devPathCommand(options)),
    `  ${devSendCommand(env, options)}`,
    '',
    'Admission logs follow on stderr. Press Ctrl-C to stop.',
  ];
  return `${lines.join('\n')}\n`;
}
