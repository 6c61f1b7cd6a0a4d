import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretValue } from '../secret/value.js';
import { decodeRecord, encodeRecord, parseCacheKeys } from './cache-crypto.js';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const CANARY = 'canary-7f3a9c-value';

describe('sealed cache entries', () => {
  it('round-trips text, binary and not-found records, and the sealed text holds no plaintext', () => {
    const ring = parseCacheKeys(k1, 'FLYTE_SECRETS_CACHE_KEY');
    for (const r of [
      { kind: 'value', value: SecretValue.fromString(CANARY), storedAt: 5 },
      { kind: 'value', value: SecretValue.fromBytes(new Uint8Array([0, 255, 1])), storedAt: 6 },
      { kind: 'notFound', message: 'secret x not found', status: 404, storedAt: 7 },
    ] as const) {
      const sealed = ring.seal('k', encodeRecord(r));
      expect(sealed).toMatch(new RegExp(`^v1\\.${ring.ids[0]!}\\.[A-Za-z0-9_-]+$`));
      expect(sealed).not.toContain(CANARY);
      expect(Buffer.from(sealed.split('.')[2]!, 'base64url').toString('latin1')).not.toContain(CANARY);
      const back = decodeRecord(ring.open('k', sealed)!)!;
      expect(back.kind).toBe(r.kind);
      if (r.kind === 'value' && back.kind === 'value') {
        expect(back.value.equals(r.value)).toBe(true);
        expect(back.value.kind).toBe(r.value.kind);
      } else expect(back).toEqual(r);
    }
  });

  it('rotation: the first key seals, every key opens; a key no longer listed opens nothing', () => {
    const old = parseCacheKeys(k2, 'env');
    const rotating = parseCacheKeys(`${k1}, ${k2}`, 'env');
    const afterRotation = parseCacheKeys(k1, 'env');
    const byOld = old.seal('k', encodeRecord({ kind: 'notFound', message: 'm', storedAt: 1 }));
    expect(rotating.open('k', byOld)).toBeDefined();
    expect(rotating.seal('k', new Uint8Array([1])).split('.')[1]).toBe(afterRotation.ids[0]);
    expect(afterRotation.open('k', byOld)).toBeUndefined();
  });

  it('an entry moved to another Redis key, tampered with or malformed does not open', () => {
    const ring = parseCacheKeys(k1, 'env');
    const sealed = ring.seal('key-a', new Uint8Array([1, 2, 3]));
    expect(ring.open('key-b', sealed)).toBeUndefined();
    const body = Buffer.from(sealed.split('.')[2]!, 'base64url');
    body[body.length - 1]! ^= 1;
    expect(ring.open('key-a', `v1.${ring.ids[0]!}.${body.toString('base64url')}`)).toBeUndefined();
    for (const bad of ['', 'v1', `v2.${ring.ids[0]!}.AAAA`, `v1.${ring.ids[0]!}.AA`, 'v1.a.b.c']) expect(ring.open('key-a', bad)).toBeUndefined();
    expect(decodeRecord(new TextEncoder().encode('{"k":"x","t":1}'))).toBeUndefined();
    expect(decodeRecord(new Uint8Array([0xff]))).toBeUndefined();
  });

  it('refuses keys that are not 32 bytes of base64, naming which one and never echoing it', () => {
    expect(() => parseCacheKeys('', 'FLYTE_SECRETS_CACHE_KEY')).toThrow(/FLYTE_SECRETS_CACHE_KEY holds no key: set it to 32 random bytes in base64/);
    const short = randomBytes(16).toString('base64');
    let message = '';
    try {
      parseCacheKeys(`${k1},${short}`, 'FLYTE_SECRETS_CACHE_KEY');
    } catch (e) {
      message = (e as Error).message;
      expect(e).toMatchObject({ code: 'InvalidConfig' });
    }
    expect(message).toBe('FLYTE_SECRETS_CACHE_KEY: key 2 of 2 is not 32 bytes of base64 (it decodes to 16 bytes); make one with `openssl rand -base64 32`');
    expect(() => parseCacheKeys('not base64 at all!', 'file')).toThrow(/key 1 of 4/);
  });
});
