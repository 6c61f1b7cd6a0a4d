/**
 * The Redis connection of the shared cache tier, built from `cache.redis.options` (Flyte's keys) and
 * `flyteSecrets.redis` (ours) with the official client, node-redis:
 *
 * - one command connection and one pub/sub connection (a duplicate), both reconnecting with jittered exponential
 *   back-off between `MinRetryBackoff` and `MaxRetryBackoff` (default 100 ms … 5 s), for as long as the process runs;
 * - commands fail at once while disconnected (no offline queue) and after the operation timeout, so a Redis outage
 *   costs an admission a few milliseconds, never its budget;
 * - password or ACL user (`Username`, `Password`, or `PasswordSecretName` read as Flyte reads it), TLS, and
 *   Microsoft Entra ID tokens (`@redis/entraid` over `DefaultAzureCredential`: workload identity in AKS).
 *
 * {@link RedisPort} is the small surface the cache uses, so its logic reads without the client's generics.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisClientOptions } from 'redis';
import type { Config } from '../config/schema.js';
import { FlyteSecretsError, errorMessage } from '../errors.js';

/** What the shared cache needs from Redis. Every command rejects when Redis is down or slow. */
export interface RedisPort {
  /** True while the command connection is up. */
  readonly ready: boolean;
  get(key: string): Promise<string | null>;
  /** SET key value PX ttl. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** SET key value NX PX ttl: true when set. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** SET key value PX ttl only while `generationKey` still holds `generation` (or is absent and `generation` is "0"). */
  setIfGeneration(key: string, value: string, ttlMs: number, generationKey: string, generation: string): Promise<boolean>;
  /** DEL key only while it holds `value` (releasing a lease). */
  deleteIf(key: string, value: string): Promise<void>;
  /** DEL `keys`, INCR `generationKeys` (kept `generationTtlMs`), in one transaction. */
  invalidate(keys: string[], generationKeys: string[], generationTtlMs: number): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  /** Receive messages of `channels`; `onResubscribed` runs when the pub/sub connection came back after a loss. */
  subscribe(channels: string[], onMessage: (channel: string, message: string) => void, onResubscribed: () => void): Promise<void>;
  /** Connection events: `up` true/false as the command connection comes and goes; errors as they happen. */
  onState(listener: (up: boolean) => void): void;
  onError(listener: (operation: string, err: unknown) => void): void;
  /** Wait up to `ms` for the first connection. */
  waitReady(ms: number): Promise<boolean>;
  close(): Promise<void>;
}

/** A random token (a lease holder's name). */
export function randomToken(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * `PasswordSecretName`, read as Flyte's file/env secret manager reads it: env `<secrets.env-prefix><name>`, else the
 * file `<secrets.secrets-prefix>/<name>`.
 */
export function readPasswordSecret(config: Config, env: NodeJS.ProcessEnv, name: string): string {
  const fromEnv = env[`${config.secrets['env-prefix']}${name}`];
  if (fromEnv !== undefined) return fromEnv;
  const file = join(config.secrets['secrets-prefix'], name);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlyteSecretsError(
      'InvalidConfig',
      `cache.redis.options.PasswordSecretName: secret ${name} not found - file [${file}], Env [${config.secrets['env-prefix']}${name}] (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
}

/** The node-redis options of `config` (without the Entra credentials provider). */
export function redisClientOptions(config: Config, env: NodeJS.ProcessEnv): RedisClientOptions {
  const o = config.cache.redis.options;
  const ours = config.flyteSecrets.redis;
  if (o.Addr === '' && o.Network !== 'unix') {
    throw new FlyteSecretsError('InvalidConfig', 'cache.type is Redis but cache.redis.options.Addr is empty; set it to the Redis host:port (e.g. my-redis.redis.cache.windows.net:6380)');
  }
  const minBackoff = o.MinRetryBackoff > 0 ? o.MinRetryBackoff : 100;
  const maxBackoff = Math.max(minBackoff, o.MaxRetryBackoff > 0 ? o.MaxRetryBackoff : 5000);
  const reconnectStrategy = (retries: number): number => Math.round(Math.min(maxBackoff, minBackoff * 2 ** Math.min(retries, 20)) * (0.5 + Math.random() / 2));
  const common = { connectTimeout: o.DialTimeout > 0 ? o.DialTimeout : 5000, reconnectStrategy };
  const tlsOn = ours.tls.enabled || o.TLSConfig !== null;
  let socket: NonNullable<RedisClientOptions['socket']>;
  if (o.Network === 'unix') {
    socket = { ...common, path: o.Addr, tls: false };
  } else {
    const at = o.Addr.lastIndexOf(':');
    const host = (at > 0 ? o.Addr.slice(0, at) : o.Addr).replace(/^\[(.*)\]$/, '$1');
    const port = at > 0 ? Number(o.Addr.slice(at + 1)) : 6379;
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new FlyteSecretsError('InvalidConfig', `cache.redis.options.Addr "${o.Addr}" is not host:port`);
    }
    if (tlsOn) {
      const goTls = o.TLSConfig ?? {};
      const serverName = ours.tls.serverName || (typeof goTls.ServerName === 'string' ? goTls.ServerName : '');
      const insecure = ours.tls.insecureSkipVerify || goTls.InsecureSkipVerify === true;
      let ca: string | undefined;
      if (ours.tls.caFile !== '') {
        try {
          ca = readFileSync(ours.tls.caFile, 'utf8');
        } catch (err) {
          throw new FlyteSecretsError('InvalidConfig', `flyteSecrets.redis.tls.caFile ${ours.tls.caFile} cannot be read: ${errorMessage(err)}`);
        }
      }
      socket = { ...common, host, port, tls: true, ...(serverName ? { servername: serverName } : {}), ...(insecure ? { rejectUnauthorized: false } : {}), ...(ca ? { ca } : {}) };
    } else {
      socket = { ...common, host, port };
    }
  }
  const password = o.PasswordSecretName !== '' ? readPasswordSecret(config, env, o.PasswordSecretName) : o.Password;
  return {
    socket,
    disableOfflineQueue: true,
    ...(o.Username ? { username: o.Username } : {}),
    ...(password ? { password } : {}),
    ...(o.DB ? { database: o.DB } : {}),
    ...(o.ClientName ? { name: o.ClientName } : {}),
    // The commands used here (GET, SET, EVAL with integer replies, PUBLISH) reply alike in RESP2 and RESP3.
    ...(o.Protocol === 2 || o.Protocol === 3 ? { RESP: o.Protocol as 3 } : {}),
    ...(o.DisableIndentity ? { disableClientInfo: true } : {}),
  };
}

/** Time one command may take: `ReadTimeout` when set, else `flyteSecrets.redis.operationTimeout`. */
export function redisOperationTimeout(config: Config): number {
  const read = config.cache.redis.options.ReadTimeout;
  return read > 0 ? read : config.flyteSecrets.redis.operationTimeout;
}

const SET_IF_GENERATION = `if (redis.call('GET', KEYS[2]) or '0') == ARGV[3] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0`;
const DELETE_IF = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Connect to the Redis of `config`. Never throws for an unreachable Redis (the port reports it and reconnects); throws
 * `InvalidConfig` for settings that cannot work (no address, unreadable password secret or CA).
 */
export async function connectRedis(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<RedisPort> {
  const options = redisClientOptions(config, env);
  const timeout = redisOperationTimeout(config);
  const { createClient } = await import('redis');
  if (config.flyteSecrets.redis.entraId.enabled) {
    const [{ EntraIdCredentialsProviderFactory, REDIS_SCOPE_DEFAULT }, { DefaultAzureCredential }] = await Promise.all([import('@redis/entraid'), import('@azure/identity')]);
    const clientId = config.flyteSecrets.redis.entraId.clientId || env.AZURE_CLIENT_ID || '';
    const credential = new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId, workloadIdentityClientId: clientId } : {});
    options.credentialsProvider = EntraIdCredentialsProviderFactory.createForDefaultAzureCredential({
      credential,
      scopes: REDIS_SCOPE_DEFAULT,
      tokenManagerConfig: { expirationRefreshRatio: 0.8 },
    });
    // Re-authentication on a pub/sub connection needs RESP3.
    options.RESP = 3;
  }
  const client = createClient(options);
  const subscriber = client.duplicate();
  const errorListeners: ((operation: string, err: unknown) => void)[] = [];
  const stateListeners: ((up: boolean) => void)[] = [];
  // Errors before the first listener (a refused TLS handshake while the caller waits for the first connection) are
  // kept, at most 100, and given to it: a misconfigured connection shows in the metrics from the start.
  const early: [string, unknown][] = [];
  const report = (operation: string, err: unknown): void => {
    if (errorListeners.length === 0 && early.length < 100) early.push([operation, err]);
    for (const l of errorListeners) l(operation, err);
  };
  client.on('error', (err: unknown) => report('connection', err));
  subscriber.on('error', (err: unknown) => report('subscriber', err));
  client.on('ready', () => stateListeners.forEach((l) => l(true)));
  client.on('reconnecting', () => stateListeners.forEach((l) => l(false)));
  client.on('end', () => stateListeners.forEach((l) => l(false)));
  let closed = false;
  const connected = client.connect().then(
    () => true,
    (err: unknown) => {
      report('connect', err);
      return false;
    },
  );
  const subscriberConnected = subscriber.connect().then(
    () => true,
    (err: unknown) => {
      report('connect', err);
      return false;
    },
  );
  const bounded = client.withCommandOptions({ timeout });
  const run = async <T>(operation: string, command: () => Promise<T>): Promise<T> => {
    try {
      return await command();
    } catch (err) {
      report(operation, err);
      throw new FlyteSecretsError('Internal', `redis ${operation} failed: ${errorMessage(err)}`, { cause: err });
    }
  };
  return {
    get ready() {
      return client.isReady;
    },
    get: (key) => run('get', () => bounded.get(key)),
    set: async (key, value, ttlMs) => {
      await run('set', () => bounded.set(key, value, { expiration: { type: 'PX', value: Math.max(1, Math.round(ttlMs)) } }));
    },
    setIfAbsent: async (key, value, ttlMs) => (await run('lease', () => bounded.set(key, value, { expiration: { type: 'PX', value: Math.max(1, Math.round(ttlMs)) }, condition: 'NX' }))) !== null,
    setIfGeneration: async (key, value, ttlMs, generationKey, generation) =>
      Number(await run('set', () => bounded.eval(SET_IF_GENERATION, { keys: [key, generationKey], arguments: [value, String(Math.max(1, Math.round(ttlMs))), generation] }))) === 1,
    deleteIf: async (key, value) => {
      await run('release', () => bounded.eval(DELETE_IF, { keys: [key], arguments: [value] }));
    },
    invalidate: async (keys, generationKeys, generationTtlMs) => {
      await run('invalidate', async () => {
        const multi = bounded.multi().del(keys);
        for (const g of generationKeys) multi.incr(g).pExpire(g, Math.max(1, Math.round(generationTtlMs)));
        await multi.exec();
      });
    },
    publish: async (channel, message) => {
      await run('publish', () => bounded.publish(channel, message));
    },
    subscribe: async (channels, onMessage, onResubscribed) => {
      // Subscribed once the pub/sub connection is up (now or later); node-redis restores the subscription after a
      // reconnect, and messages published meanwhile are lost: `onResubscribed` lets the cache forget what it holds.
      let subscribed = false;
      const attempt = async (): Promise<void> => {
        if (subscribed || closed || !subscriber.isReady) return;
        subscribed = true;
        try {
          await subscriber.subscribe(channels, (message: string, channel: string) => onMessage(channel, message));
        } catch (err) {
          subscribed = false;
          report('subscribe', err);
        }
      };
      subscriber.on('ready', () => {
        if (subscribed) onResubscribed();
        else void attempt();
      });
      await subscriberConnected;
      await attempt();
    },
    onState: (l) => void stateListeners.push(l),
    onError: (l) => {
      errorListeners.push(l);
      for (const [operation, err] of early.splice(0)) l(operation, err);
    },
    waitReady: async (ms) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeoutP = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
      const up = await Promise.race([Promise.all([connected, subscriberConnected]).then(([a, b]) => a && b), timeoutP]);
      clearTimeout(timer);
      return up && client.isReady;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const c of [client, subscriber]) {
        try {
          if (c.isOpen) await c.close();
          else c.destroy();
        } catch {
          c.destroy();
        }
      }
    },
  };
}
