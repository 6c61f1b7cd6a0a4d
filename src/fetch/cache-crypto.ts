/**
 * Sealed cache entries: what the shared (Redis) cache tier stores, encrypted and authenticated, so that Redis, its
 * backups and anyone who can read its keys never see a secret value.
 *
 * - **Keys**: 32 random bytes each, base64, from env `FLYTE_SECRETS_CACHE_KEY` or a file; several keys separated by
 *   commas (or whitespace) while rotating: the first one seals, every one opens. A key's id is the first 8 hex digits
 *   of its SHA-256, so an entry names the key that sealed it without revealing anything about it.
 * - **Entries**: `v1.<key id>.<base64url(iv ‖ ciphertext ‖ tag)>`, AES-256-GCM with a random 96-bit IV; the Redis key
 *   is the additional authenticated data, so an entry moved to another key does not open.
 * - **Records** (the plaintext): a value (its bytes and kind) or a not-found answer (the message and status), with
 *   the time it was stored.
 *
 * Pure: no I/O besides the random IV. Error messages never contain key material or values.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { FlyteSecretsError } from '../errors.js';
import { SecretValue } from '../secret/value.js';

/** The environment variable holding the cache encryption key(s). */
export const CACHE_KEY_ENV = 'FLYTE_SECRETS_CACHE_KEY';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The keys of the shared cache: the first seals, all open. */
export interface CacheKeyRing {
  /** Key ids, sealing key first. */
  readonly ids: readonly string[];
  /** Seal `plaintext` for the Redis key `aad`. */
  seal(aad: string, plaintext: Uint8Array): string;
  /** Open an entry sealed for `aad`; undefined when it is not ours (unknown key id, tampered, malformed). */
  open(aad: string, entry: string): Uint8Array | undefined;
}

/**
 * Parse the cache key text (`FLYTE_SECRETS_CACHE_KEY` or the key file): base64 keys of 32 bytes separated by commas
 * or whitespace. `origin` names where the text came from, for the error message.
 *
 * @example
 * ```ts
 * const ring = parseCacheKeys(process.env.FLYTE_SECRETS_CACHE_KEY ?? '', 'FLYTE_SECRETS_CACHE_KEY');
 * ```
 */
export function parseCacheKeys(text: string, origin: string): CacheKeyRing {
  const parts = text.split(/[\s,]+/).filter((p) => p !== '');
  if (parts.length === 0) {
    throw new FlyteSecretsError('InvalidConfig', `${origin} holds no key: set it to 32 random bytes in base64 (e.g. the output of \`openssl rand -base64 32\`)`);
  }
  const keys = parts.map((p, i) => {
    const bytes = /^[A-Za-z0-9+/_-]+={0,2}$/.test(p) ? Buffer.from(p, 'base64') : Buffer.alloc(0);
    if (bytes.length !== 32) {
      throw new FlyteSecretsError(
        'InvalidConfig',
        `${origin}: key ${i + 1} of ${parts.length} is not 32 bytes of base64 (it decodes to ${bytes.length} bytes); make one with \`openssl rand -base64 32\``,
      );
    }
    return { id: createHash('sha256').update(bytes).digest('hex').slice(0, 8), key: bytes };
  });
  const byId = new Map(keys.map((k) => [k.id, k.key]));
  const sealing = keys[0]!;
  return {
    ids: keys.map((k) => k.id),
    seal(aad, plaintext) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', sealing.key, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const body = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${sealing.id}.${body.toString('base64url')}`;
    },
    open(aad, entry) {
      const [version, id, data, extra] = entry.split('.');
      if (version !== VERSION || id === undefined || data === undefined || extra !== undefined) return undefined;
      const key = byId.get(id);
      if (key === undefined) return undefined;
      const body = Buffer.from(data, 'base64url');
      if (body.length < IV_BYTES + TAG_BYTES) return undefined;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        return new Uint8Array(Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]));
      } catch {
        return undefined;
      }
    },
  };
}

/** What one shared-cache entry says. */
export type CacheRecord = { kind: 'value'; value: SecretValue; storedAt: number } | { kind: 'notFound'; message: string; status?: number; storedAt: number };

/** The plaintext of a record (sealed before it leaves the process). */
export function encodeRecord(r: CacheRecord): Uint8Array {
  const body =
    r.kind === 'value'
      ? r.value.kind === 'string'
        ? { k: 's', v: r.value.text(), t: r.storedAt }
        : { k: 'b', v: Buffer.from(r.value.bytes()).toString('base64'), t: r.storedAt }
      : { k: 'n', m: r.message, t: r.storedAt, ...(r.status === undefined ? {} : { s: r.status }) };
  return new TextEncoder().encode(JSON.stringify(body));
}

/** The record in `plaintext`, or undefined when it is not one this version writes. */
export function decodeRecord(plaintext: Uint8Array): CacheRecord | undefined {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const { k, v, m, s, t } = body as Record<string, unknown>;
  if (typeof t !== 'number') return undefined;
  if (k === 's' && typeof v === 'string') return { kind: 'value', value: SecretValue.fromString(v), storedAt: t };
  if (k === 'b' && typeof v === 'string') return { kind: 'value', value: SecretValue.fromBytes(new Uint8Array(Buffer.from(v, 'base64'))), storedAt: t };
  if (k === 'n' && typeof m === 'string') return { kind: 'notFound', message: m, storedAt: t, ...(typeof s === 'number' ? { status: s } : {}) };
  return undefined;
}
