/**
 * A local Azure Key Vault (secrets) emulator with its own Entra token endpoint, over HTTPS with a private CA, so
 * the official `@azure/keyvault-secrets` + `@azure/identity` clients work against it unchanged. For development,
 * tests and benchmarks; see `docs/emulator.md` for what it implements and how it differs from the real service.
 *
 * One HTTPS port serves three things:
 * - the vault: `/secrets…`, `/deletedsecrets…` (bearer challenge, tokens from the Entra endpoint only);
 * - Entra: `/<tenant>/v2.0/.well-known/openid-configuration`, `/<tenant>/oauth2/v2.0/token`;
 * - the admin API, a test tool without auth that only answers loopback clients: `/_admin/stats`,
 *   `/_admin/reset-stats`, `/_admin/faults`, `/_admin/seed`, `/_admin/revoke-tokens`, `/_admin/healthz`.
 *
 * @example
 * ```ts
 * const emu = await startEmulator({ seed: [{ name: 'db', value: 'hunter2' }] });
 * const credential = new ClientSecretCredential(emu.tenantId, emu.clientId, emu.clientSecret, {
 *   authorityHost: emu.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: emu.caPem } });
 * const client = new SecretClient(emu.vaultUrl, credential, { disableChallengeResourceVerification: true, tlsOptions: { ca: emu.caPem } });
 * await client.getSecret('db');
 * await emu.close();
 * ```
 *
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import { trackConnections } from '../net-close.js';
import { KEY_VAULT_RESOURCE, TokenIssuer } from './entra.js';
import { FaultController, parseFaultSettings, type EmulatorStats, type FaultSettings, type RateLimitSettings } from './faults.js';
import { normaliseSeed, parseSeedText, type SeedEntry, type SeedSecret } from './seed.js';
import { DEFAULT_TLS_HOSTS, generateEmulatorTls, isUsableCa, type CaMaterial } from './tls.js';
import { apiVersionProblem, executeVaultRequest, routeVaultRequest, VaultState, type VaultResponse } from './vault.js';

export type { EmulatorStats, FaultSettings, RateLimitSettings } from './faults.js';
export type { SeedEntry, SeedSecret, PlainSeedEntry, FlyteSeedEntry } from './seed.js';
export { normaliseSeed, parseSeedText } from './seed.js';

/** Tenant id used when none is given. */
export const DEFAULT_TENANT_ID = '00000000-0000-4000-8000-00000000e7a1';
/** Client (application) id used when none is given. */
export const DEFAULT_CLIENT_ID = '00000000-0000-4000-8000-00000000c1d0';
/** Largest request body the emulator reads (a 25 KiB value, JSON-escaped, fits easily). */
const MAX_BODY_BYTES = 1024 * 1024;

/** Options of {@link startEmulator}. Every field is optional. */
export interface EmulatorOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`. URLs use `127.0.0.1` when this is a wildcard (`0.0.0.0`, `::`). */
  host?: string;
  /**
   * Directory for `ca.pem` (reported as `caFile`), `ca-key.pem`, `token-key` and `emulator.json` (the ready info).
   * A CA and a token key found there are reused, so `NODE_EXTRA_CA_CERTS` and the tokens clients hold stay valid
   * across restarts. Default: a fresh temporary directory, removed on close.
   */
  stateDir?: string;
  /** Tenant id the Entra endpoint serves and the vault's challenge names. Default {@link DEFAULT_TENANT_ID}. */
  tenantId?: string;
  /** The one client id the Entra endpoint knows. Default {@link DEFAULT_CLIENT_ID}. */
  clientId?: string;
  /** The client secret `client_credentials` must present. Default: random per start. */
  clientSecret?: string;
  /** Latency (ms) added to every vault request. Default 0. */
  latencyMs?: number;
  /** Vault requests allowed per window (Key Vault: 4000 per 10 s); beyond it `429 Throttled`. 0 = no limit. */
  rateLimit?: number;
  /** Rate-limit window in ms. Default 10 000. */
  rateLimitWindowMs?: number;
  /** Initial faults (see {@link FaultSettings}); changeable later through `POST /_admin/faults`. */
  faults?: FaultSettings;
  /** Secrets to add at start (plain or Flyte-native entries). */
  seed?: readonly SeedEntry[];
  /** A JSON or YAML seed file to add at start (after `seed`). */
  seedFile?: string;
  /** Soft delete (default true): deleted secrets can be recovered or purged; false: delete removes at once. */
  softDelete?: boolean;
  /** `recoverableDays` reported for deleted secrets. Default 90. Nothing is ever purged automatically. */
  recoverableDays?: number;
  /** Lifetime of issued tokens, seconds. Default 3599. */
  tokenLifetimeSeconds?: number;
  /** When set, only these federated tokens are accepted as `client_assertion`. Default: any non-empty assertion. */
  allowedAssertions?: readonly string[];
  /** Extra names/IPs for the serving certificate (besides localhost, 127.0.0.1, ::1 and `host`). */
  tlsHosts?: readonly string[];
  /**
   * Secret names (any case) the caller may not read: `get` answers 403 `Forbidden`/`ForbiddenByRbac`, as an RBAC vault
   * does for an identity without the role *Key Vault Secrets User*.
   */
  forbidden?: readonly string[];
}

/** The ready info: what the CLI prints as one JSON line, and what a client needs. */
export interface EmulatorInfo {
  vaultUrl: string;
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  caFile: string;
  adminUrl: string;
}

/** Vault requests parked by {@link Emulator.hold}. */
export interface VaultHold {
  /** Paths of the requests parked now, in arrival order. */
  readonly parked: readonly string[];
  /** Resolves once at least `n` requests are parked. */
  waitForParked(n: number): Promise<void>;
  /** Answer the parked requests (and every later one) normally. Idempotent. */
  release(): void;
}

/** A running emulator. */
export interface Emulator extends EmulatorInfo {
  /** The CA certificate (PEM) to trust, also in `caFile`. */
  readonly caPem: string;
  /** The port it listens on. */
  readonly port: number;
  /** The ready info as a plain object (the CLI's JSON line). */
  info(): EmulatorInfo;
  /** Request counters by operation (same as `GET /_admin/stats`). */
  stats(): EmulatorStats;
  /** Zero the counters. */
  resetStats(): void;
  /** Replace the runtime faults; change the rate limit when given. */
  setFaults(faults: FaultSettings, rateLimit?: Partial<RateLimitSettings>): void;
  /** Add secrets (plain or Flyte-native entries); returns how many versions were added. */
  seed(entries: readonly SeedEntry[]): number;
  /** Forget every issued token. */
  revokeTokens(): void;
  /**
   * Park every vault request from now on (after authentication, before it is answered) until `release()`: a test
   * holds requests open for as long as it needs instead of guessing how long a delay covers. One hold at a time.
   */
  hold(): VaultHold;
  /** Stop listening, drop open connections and remove a temporary state directory. Idempotent. */
  close(): Promise<void>;
}

function isLoopbackAddress(addr: string | undefined): boolean {
  if (addr === undefined) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return isIP(host) === 6 ? `[${host}]` : host;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-cache',
    'x-ms-request-id': randomUUID(),
    ...headers,
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new FlyteSecretsError('InvalidInput', `request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function loadCa(dir: string): CaMaterial | undefined {
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca-key.pem');
  if (!existsSync(certFile) || !existsSync(keyFile)) return undefined;
  try {
    const ca = { caCert: readFileSync(certFile, 'utf8'), caKey: readFileSync(keyFile, 'utf8') };
    return isUsableCa(ca) ? ca : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The key that signs access tokens, kept in `<stateDir>/token-key` (0600) so that an emulator restarted on the same
 * state directory accepts the tokens it issued before (clients cache tokens for an hour, as with Entra).
 */
function loadOrCreateTokenKey(dir: string): Buffer {
  const file = join(dir, 'token-key');
  try {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (key.length >= 32) return key;
  } catch {
    // absent or unreadable: make a new one
  }
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64url')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return key;
}

const ENTRA_OPENID = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/;
const ENTRA_TOKEN = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;
const ENTRA_DISCOVERY = /^\/[^/]+\/discovery\/instance$/;

/**
 * Start the emulator and resolve once it listens.
 *
 * @example
 * ```ts
 * const emu = await startEmulator({ port: 0, rateLimit: 100, latencyMs: 20 });
 * console.log(JSON.stringify(emu.info())); // {"vaultUrl":"https://127.0.0.1:…", …}
 * ```
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const host = options.host ?? '127.0.0.1';
  const tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
  const clientId = options.clientId ?? DEFAULT_CLIENT_ID;
  const clientSecret = options.clientSecret ?? randomBytes(24).toString('base64url');
  const baseLatencyMs = options.latencyMs ?? 0;
  const forbidden = new Set((options.forbidden ?? []).map((n) => n.toLowerCase()));
  if (!/^[0-9a-zA-Z.-]+$/.test(tenantId)) {
    throw new FlyteSecretsError('InvalidInput', `tenant id "${tenantId}" may only contain letters, digits, "." and "-"`);
  }

  // State: validate seeds before any I/O, so a bad seed file fails fast.
  const vault = new VaultState({
    ...(options.softDelete === undefined ? {} : { softDelete: options.softDelete }),
    ...(options.recoverableDays === undefined ? {} : { recoverableDays: options.recoverableDays }),
  });
  const seedEntries: SeedSecret[] = [...normaliseSeed(options.seed ?? [], 'seed')];
  if (options.seedFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.seedFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new FlyteSecretsError('InvalidInput', `cannot read seed file ${options.seedFile}: ${code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable')}`, { cause: err });
    }
    seedEntries.push(...parseSeedText(text, options.seedFile));
  }
  /** Add seed entries, all or none (entries are checked before any is stored). */
  const addSeed = (entries: readonly SeedSecret[]): number => {
    entries.forEach((e, i) => {
      try {
        const { name, ...input } = e;
        vault.validate(name, input);
      } catch (err) {
        throw new FlyteSecretsError('InvalidInput', `seed entry ${i + 1} (${e.name}): ${errorMessage(err)}`, { cause: err });
      }
    });
    for (const { name, ...input } of entries) vault.set(name, input);
    return entries.length;
  };
  addSeed(seedEntries);

  const faults = new FaultController({
    ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
    ...(options.rateLimitWindowMs === undefined ? {} : { rateLimitWindowMs: options.rateLimitWindowMs }),
  });
  if (options.faults) faults.setFaults(parseFaultSettings(options.faults).faults);
  // TLS + state directory.
  const tempDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'flyte-secrets-emulator-'));
  mkdirSync(stateDir, { recursive: true });
  const issuer = new TokenIssuer({
    tenantId,
    clientId,
    clientSecret,
    signingKey: loadOrCreateTokenKey(stateDir),
    ...(options.tokenLifetimeSeconds === undefined ? {} : { tokenLifetimeSeconds: options.tokenLifetimeSeconds }),
    ...(options.allowedAssertions === undefined ? {} : { allowedAssertions: options.allowedAssertions }),
  });

  const tlsHosts = [...new Set([...DEFAULT_TLS_HOSTS, ...(host === '0.0.0.0' || host === '::' ? [] : [host]), ...(options.tlsHosts ?? [])])];
  const existingCa = loadCa(stateDir);
  const tls = await generateEmulatorTls({ hosts: tlsHosts, ...(existingCa ? { ca: existingCa } : {}) });
  const caFile = join(stateDir, 'ca.pem');
  if (!existingCa) {
    writeFileSync(caFile, tls.caCert);
    writeFileSync(join(stateDir, 'ca-key.pem'), tls.caKey, { mode: 0o600 });
    chmodSync(join(stateDir, 'ca-key.pem'), 0o600);
  }

  const closing = new AbortController();
  const server: Server = createServer({ cert: tls.cert, key: tls.key });
  const closeServer = trackConnections(server);
  const listening: { origin?: string } = {};

  const baseOf = (req: IncomingMessage): string => {
    const h = req.headers.host;
    return h !== undefined && /^[0-9A-Za-z.\-:[\]]+$/.test(h) ? `https://${h}` : (listening.origin ?? 'https://127.0.0.1');
  };

  const challengeHeader = (base: string): string => `Bearer authorization="${base}/${tenantId}", resource="${KEY_VAULT_RESOURCE}"`;

  let gate: { park(path: string): Promise<void> } | undefined;
  function hold(): VaultHold {
    const parked: string[] = [];
    const waiters: { n: number; resolve: () => void }[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const onClose = (): void => handle.release();
    closing.signal.addEventListener('abort', onClose, { once: true });
    const handle: VaultHold = {
      parked,
      waitForParked: (n) => (parked.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
      release: () => {
        if (gate === current) gate = undefined;
        closing.signal.removeEventListener('abort', onClose);
        parked.length = 0;
        release();
      },
    };
    const current = {
      park: async (path: string): Promise<void> => {
        parked.push(path);
        for (const w of waiters.filter((x) => parked.length >= x.n)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
        await released;
      },
    };
    gate = current;
    return handle;
  }

  async function handleVault(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const base = baseOf(req);
    faults.count('requests');
    const latency = baseLatencyMs + faults.extraLatencyMs;
    if (latency > 0) await sleep(latency, undefined, { signal: closing.signal });
    const route = routeVaultRequest(req.method ?? 'GET', url.pathname);
    const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!auth) {
      faults.count('challenge');
      sendJson(res, 401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, { 'www-authenticate': challengeHeader(base) });
      return;
    }
    if (!issuer.verify(auth[1] ?? '')) {
      faults.count('unauthorized');
      sendJson(
        res,
        401,
        { error: { code: 'Unauthorized', message: 'AKV10032: The access token was not issued by this emulator, has expired or is not for Key Vault.' } },
        { 'www-authenticate': challengeHeader(base) },
      );
      return;
    }
    if (!route) {
      faults.count('notFound');
      sendJson(res, 404, { error: { code: 'NotFound', message: `The emulator has no resource at ${url.pathname}.` } });
      return;
    }
    const badVersion = apiVersionProblem(url.searchParams);
    if (badVersion !== undefined) {
      faults.count('badApiVersion');
      sendJson(res, badVersion.status, badVersion.toBody());
      return;
    }
    if (gate !== undefined) await gate.park(url.pathname);
    const decision = faults.decide(route.op, Date.now());
    switch (decision.action) {
      case 'throttle':
        sendJson(
          res,
          429,
          { error: { code: 'Throttled', message: 'Request was not processed because too many requests were received. Reason: A generic throttling rule has been triggered, see https://aka.ms/kv-throttling' } },
          { 'retry-after': String(decision.retryAfterSeconds) },
        );
        return;
      case 'drop':
        req.socket.destroy();
        return;
      case 'fail':
        sendJson(
          res,
          decision.status,
          decision.status === 500
            ? { error: { code: 'InternalServerError', message: 'Injected fault: internal server error.' } }
            : { error: { code: 'ServiceUnavailable', message: 'Injected fault: the service is unavailable.' } },
        );
        return;
      case 'pass':
        break;
    }
    if (route.op === 'get' && forbidden.has(route.name.toLowerCase())) {
      faults.count('forbidden');
      sendJson(res, 403, {
        error: {
          code: 'Forbidden',
          message: `Caller is not authorized to perform action on resource.\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nAssignment: (not found)\r\n`,
          innererror: { code: 'ForbiddenByRbac' },
        },
      });
      return;
    }
    const body = await readBody(req);
    faults.count(route.op);
    const answer: VaultResponse = executeVaultRequest(vault, { route, query: url.searchParams, body, baseUrl: base });
    sendJson(res, answer.status, answer.body, answer.headers);
  }

  async function handleEntra(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const base = baseOf(req);
    const openid = ENTRA_OPENID.exec(url.pathname);
    if (openid && req.method === 'GET') {
      const r = issuer.openidConfiguration(decodeURIComponent(openid[1] ?? ''), base);
      faults.count(r.counter);
      sendJson(res, r.status, r.body);
      return true;
    }
    const token = ENTRA_TOKEN.exec(url.pathname);
    if (token && req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const r = issuer.token(decodeURIComponent(token[1] ?? ''), form);
      faults.count(r.counter);
      sendJson(res, r.status, r.body);
      return true;
    }
    if (ENTRA_DISCOVERY.test(url.pathname) && req.method === 'GET') {
      const r = issuer.instanceDiscovery(base);
      faults.count(r.counter);
      sendJson(res, r.status, r.body);
      return true;
    }
    return false;
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (!isLoopbackAddress(req.socket.remoteAddress)) {
      sendJson(res, 403, { error: { code: 'Forbidden', message: 'The admin API only answers loopback clients.' } });
      return;
    }
    const path = url.pathname.replace(/\/+$/, '');
    const m = req.method ?? 'GET';
    const adminError = (status: number, message: string): void => sendJson(res, status, { error: { code: status === 404 ? 'NotFound' : 'BadParameter', message } });
    try {
      if (path === '/_admin/stats' && m === 'GET') return sendJson(res, 200, faults.stats());
      if (path === '/_admin/reset-stats' && m === 'POST') {
        faults.resetStats();
        return sendJson(res, 200, {});
      }
      if (path === '/_admin/faults' && m === 'GET') return sendJson(res, 200, faults.faults);
      if (path === '/_admin/faults' && m === 'POST') {
        const text = await readBody(req);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text === '' ? '{}' : text);
        } catch {
          return adminError(400, 'faults: the body is not valid JSON');
        }
        const f = parseFaultSettings(parsed);
        faults.setFaults(f.faults, f.rateLimit);
        return sendJson(res, 200, faults.faults);
      }
      if (path === '/_admin/seed' && m === 'POST') {
        const added = addSeed(parseSeedText(await readBody(req), 'seed'));
        return sendJson(res, 200, { added });
      }
      if (path === '/_admin/revoke-tokens' && m === 'POST') {
        issuer.revokeAll();
        return sendJson(res, 200, {});
      }
      if (path === '/_admin/healthz' && m === 'GET') return sendJson(res, 200, { status: 'ok' });
      return adminError(404, `no admin endpoint ${m} ${path}`);
    } catch (err) {
      if (err instanceof FlyteSecretsError) return adminError(400, err.message);
      throw err;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://emulator.invalid');
    if (url.pathname === '/_admin' || url.pathname.startsWith('/_admin/')) return handleAdmin(req, res, url);
    if (await handleEntra(req, res, url)) return;
    return handleVault(req, res, url);
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (closing.signal.aborted || res.headersSent || res.destroyed) {
        req.socket.destroy();
        return;
      }
      const status = err instanceof FlyteSecretsError ? 400 : 500;
      sendJson(res, status, { error: { code: status === 400 ? 'BadParameter' : 'InternalServerError', message: errorMessage(err) } });
    });
  });
  server.on('tlsClientError', () => {
    /* a client that does not trust the CA: nothing to do */
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `https://${urlHost(host)}:${port}`;
  listening.origin = origin;
  const readyInfo: EmulatorInfo = { vaultUrl: origin, authorityHost: origin, tenantId, clientId, clientSecret, caFile, adminUrl: `${origin}/_admin` };
  writeFileSync(join(stateDir, 'emulator.json'), `${JSON.stringify(readyInfo)}\n`, { mode: 0o600 });

  let closed: Promise<void> | undefined;
  return {
    ...readyInfo,
    caPem: tls.caCert,
    port,
    info: () => ({ ...readyInfo }),
    stats: () => faults.stats(),
    resetStats: () => faults.resetStats(),
    setFaults: (f, r) => {
      const parsed = parseFaultSettings({ ...f, ...(r ?? {}) });
      faults.setFaults(parsed.faults, parsed.rateLimit);
    },
    seed: (entries) => addSeed(normaliseSeed(entries, 'seed')),
    revokeTokens: () => issuer.revokeAll(),
    hold,
    close: () => {
      if (closed === undefined) {
        closing.abort();
        closed = closeServer().then(() => {
          if (tempDir) rmSync(stateDir, { recursive: true, force: true });
        });
      }
      return closed;
    },
  };
}
