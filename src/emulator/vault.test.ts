import { describe, expect, it } from 'vitest';
import { executeVaultRequest, KeyVaultError, MAX_SECRET_VALUE_BYTES, routeVaultRequest, VaultState, type VaultResponse } from './vault.js';

const BASE = 'https://127.0.0.1:8443';

function call(state: VaultState, method: string, path: string, body: unknown = undefined): VaultResponse {
  const url = new URL(path, BASE);
  const route = routeVaultRequest(method, url.pathname);
  if (!route) throw new Error(`no route for ${method} ${path}`);
  return executeVaultRequest(state, { route, query: url.searchParams, body: body === undefined ? '' : JSON.stringify(body), baseUrl: BASE });
}

function errorOf(r: VaultResponse): { code: string; message: string; innererror?: { code: string } } {
  return (r.body as { error: { code: string; message: string; innererror?: { code: string } } }).error;
}

function thrown(fn: () => unknown): KeyVaultError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KeyVaultError) return e;
    throw e;
  }
  throw new Error('expected a KeyVaultError');
}

describe('routeVaultRequest', () => {
  it.each([
    ['GET', '/secrets/db/', { op: 'get', name: 'db', version: '' }],
    ['GET', '/secrets/db', { op: 'get', name: 'db', version: '' }],
    ['GET', '/secrets/db/0123456789abcdef0123456789abcdef', { op: 'get', name: 'db', version: '0123456789abcdef0123456789abcdef' }],
    ['PUT', '/secrets/db', { op: 'set', name: 'db', version: '' }],
    ['PATCH', '/secrets/db/abc', { op: 'update', name: 'db', version: 'abc' }],
    ['GET', '/secrets', { op: 'list', name: '', version: '' }],
    ['GET', '/secrets/db/versions', { op: 'listVersions', name: 'db', version: '' }],
    ['DELETE', '/secrets/db', { op: 'delete', name: 'db', version: '' }],
    ['GET', '/deletedsecrets', { op: 'listDeleted', name: '', version: '' }],
    ['GET', '/deletedsecrets/db', { op: 'getDeleted', name: 'db', version: '' }],
    ['DELETE', '/deletedsecrets/db', { op: 'purge', name: 'db', version: '' }],
    ['POST', '/deletedsecrets/db/recover', { op: 'recover', name: 'db', version: '' }],
    ['GET', '/secrets/my%5Fsecret/', { op: 'get', name: 'my_secret', version: '' }],
  ])('%s %s', (method, path, expected) => {
    expect(routeVaultRequest(method, path)).toEqual(expected);
  });

  it('answers unknown methods with 405 and ignores paths outside the vault', () => {
    expect(routeVaultRequest('POST', '/secrets/db')?.error?.status).toBe(405);
    expect(routeVaultRequest('GET', '/keys/k')).toBeUndefined();
    expect(routeVaultRequest('GET', '/secrets/%E0%A4%A')?.error?.kvCode).toBe('BadParameter');
  });
});

describe('VaultState and the REST layer', () => {
  it('sets a new 32-hex version each time and gets the latest, case-insensitively', () => {
    const s = new VaultState();
    const r1 = call(s, 'PUT', '/secrets/Db-Password?api-version=2025-07-01', { value: 'one', contentType: 'text/plain', tags: { a: 'b' } });
    const r2 = call(s, 'PUT', '/secrets/db-password', { value: 'two', attributes: { enabled: true } });
    expect(r1.status).toBe(200);
    const b1 = r1.body as { id: string; value: string; contentType: string; tags: object; attributes: Record<string, unknown> };
    const b2 = r2.body as { id: string };
    expect(b1.id).toMatch(/^https:\/\/127\.0\.0\.1:8443\/secrets\/Db-Password\/[0-9a-f]{32}$/);
    expect(b2.id).not.toBe(b1.id);
    expect(b1).toMatchObject({ value: 'one', contentType: 'text/plain', tags: { a: 'b' } });
    expect(b1.attributes).toMatchObject({ enabled: true, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 });
    expect(typeof b1.attributes.created).toBe('number');
    expect(call(s, 'GET', '/secrets/DB-PASSWORD/').body).toMatchObject({ value: 'two', id: b2.id });
    const v1 = b1.id.split('/').pop()!;
    expect(call(s, 'GET', `/secrets/db-password/${v1}`).body).toMatchObject({ value: 'one' });
  });

  it('404 SecretNotFound with the real wording, for names and versions', () => {
    const s = new VaultState();
    const r = call(s, 'GET', '/secrets/missing/');
    expect(r.status).toBe(404);
    expect(errorOf(r).code).toBe('SecretNotFound');
    expect(errorOf(r).message).toMatch(/^A secret with \(name\/id\) missing was not found in this key vault\. If you recently deleted this secret/);
    call(s, 'PUT', '/secrets/x', { value: 'v' });
    expect(errorOf(call(s, 'GET', '/secrets/x/ffffffffffffffffffffffffffffffff')).message).toContain('(name/id) x/ffffffffffffffffffffffffffffffff was not');
  });

  it.each([
    ['a', true],
    ['A-1-b', true],
    ['-', true],
    ['x'.repeat(127), true],
    ['x'.repeat(128), false],
    ['my_secret', false],
    ['my.secret', false],
    ['naïve', false],
    ['with space', false],
  ])('name %j valid=%s', (name, valid) => {
    const s = new VaultState();
    const r = call(s, 'PUT', `/secrets/${encodeURIComponent(name)}`, { value: 'v' });
    if (valid) {
      expect(r.status).toBe(200);
    } else {
      expect(r.status).toBe(400);
      expect(errorOf(r)).toEqual({ code: 'BadParameter', message: `The request URI contains an invalid name: ${name}` });
    }
  });

  it('accepts a value of exactly 25,600 bytes and refuses one byte more (UTF-8 bytes, not characters)', () => {
    const s = new VaultState();
    expect(call(s, 'PUT', '/secrets/big', { value: 'x'.repeat(MAX_SECRET_VALUE_BYTES) }).status).toBe(200);
    const r = call(s, 'PUT', '/secrets/big', { value: 'x'.repeat(MAX_SECRET_VALUE_BYTES + 1) });
    expect(r.status).toBe(400);
    expect(errorOf(r).code).toBe('BadParameter');
    // 12,801 two-byte characters = 25,602 bytes
    expect(call(s, 'PUT', '/secrets/big', { value: 'é'.repeat(12_801) }).status).toBe(400);
    expect(errorOf(r).message).not.toContain('xxxx');
  });

  it('refuses bodies that are not a secret', () => {
    const s = new VaultState();
    expect(call(s, 'PUT', '/secrets/a', { contentType: 'x' }).status).toBe(400);
    expect(call(s, 'PUT', '/secrets/a', { value: 1 }).status).toBe(400);
    expect(call(s, 'PUT', '/secrets/a', { value: 'v', attributes: { nbf: 'soon' } }).status).toBe(400);
    expect(call(s, 'PUT', '/secrets/a', { value: 'v', tags: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v'])) }).status).toBe(400);
    const route = routeVaultRequest('PUT', '/secrets/a')!;
    expect(executeVaultRequest(s, { route, query: new URLSearchParams(), body: '{not json', baseUrl: BASE }).status).toBe(400);
  });

  it('disabled versions answer 403 Forbidden «Operation get is not allowed on a disabled secret.»', () => {
    const s = new VaultState();
    call(s, 'PUT', '/secrets/off', { value: 'v', attributes: { enabled: false } });
    const r = call(s, 'GET', '/secrets/off/');
    expect(r.status).toBe(403);
    expect(errorOf(r)).toEqual({ code: 'Forbidden', message: 'Operation get is not allowed on a disabled secret.', innererror: { code: 'SecretDisabled' } });
    // still listed, with enabled: false
    expect((call(s, 'GET', '/secrets').body as { value: { attributes: { enabled: boolean } }[] }).value[0]?.attributes.enabled).toBe(false);
    // enabling the version through PATCH makes it readable again
    const version = (call(s, 'GET', '/secrets/off/versions').body as { value: { id: string }[] }).value[0]!.id.split('/').pop()!;
    expect(call(s, 'PATCH', `/secrets/off/${version}`, { attributes: { enabled: true } }).status).toBe(200);
    expect(call(s, 'GET', '/secrets/off/').status).toBe(200);
  });

  it('gets not-yet-valid and expired secrets (Key Vault documents nbf/exp of secrets as informational)', () => {
    const s = new VaultState();
    const now = Math.floor(Date.now() / 1000);
    call(s, 'PUT', '/secrets/future', { value: 'f', attributes: { nbf: now + 3600 } });
    call(s, 'PUT', '/secrets/past', { value: 'p', attributes: { exp: now - 3600 } });
    expect(call(s, 'GET', '/secrets/future/').body).toMatchObject({ value: 'f', attributes: { nbf: now + 3600 } });
    expect(call(s, 'GET', '/secrets/past/').body).toMatchObject({ value: 'p', attributes: { exp: now - 3600 } });
  });

  it('soft delete: delete → getDeleted → 409 on set → recover; delete → purge → gone', () => {
    let clock = 1_700_000_000_000;
    const s = new VaultState({ now: () => clock });
    call(s, 'PUT', '/secrets/gone', { value: 'v' });
    const del = call(s, 'DELETE', '/secrets/gone');
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ recoveryId: `${BASE}/deletedsecrets/gone`, deletedDate: 1_700_000_000, scheduledPurgeDate: 1_700_000_000 + 90 * 86_400 });
    expect(del.body).not.toHaveProperty('value');
    expect(call(s, 'GET', '/secrets/gone/').status).toBe(404);
    expect(call(s, 'GET', '/deletedsecrets/GONE').status).toBe(200);
    const conflict = call(s, 'PUT', '/secrets/gone', { value: 'again' });
    expect(conflict.status).toBe(409);
    expect(errorOf(conflict)).toMatchObject({ code: 'Conflict', innererror: { code: 'ObjectIsDeletedButRecoverable' } });
    expect(errorOf(conflict).message).toMatch(/currently in a deleted but recoverable state/);
    expect((call(s, 'GET', '/deletedsecrets').body as { value: unknown[] }).value).toHaveLength(1);
    clock += 1000;
    expect(call(s, 'POST', '/deletedsecrets/gone/recover').status).toBe(200);
    expect(call(s, 'GET', '/secrets/gone/').body).toMatchObject({ value: 'v' });
    expect(errorOf(call(s, 'GET', '/deletedsecrets/gone'))).toEqual({ code: 'SecretNotFound', message: 'Deleted Secret not found: gone' });
    call(s, 'DELETE', '/secrets/gone');
    expect(call(s, 'DELETE', '/deletedsecrets/gone')).toEqual({ status: 204 });
    expect(call(s, 'GET', '/deletedsecrets/gone').status).toBe(404);
    expect(call(s, 'PUT', '/secrets/gone', { value: 'new' }).status).toBe(200);
    expect(call(s, 'DELETE', '/deletedsecrets/gone').status).toBe(404); // purge of a live secret
  });

  it('without soft delete, delete removes at once and answers no recoveryId', () => {
    const s = new VaultState({ softDelete: false });
    call(s, 'PUT', '/secrets/x', { value: 'v' });
    const del = call(s, 'DELETE', '/secrets/x');
    expect(del.body).not.toHaveProperty('recoveryId');
    expect(call(s, 'PUT', '/secrets/x', { value: 'v' }).status).toBe(200);
  });

  it('pages lists with maxresults and an absolute nextLink that keeps the api-version', () => {
    const s = new VaultState();
    for (const n of ['c', 'a', 'E', 'b', 'd']) call(s, 'PUT', `/secrets/${n}`, { value: n });
    const names: string[] = [];
    let path: string | null = '/secrets?api-version=7.5&maxresults=2';
    for (let i = 0; path !== null && i < 10; i++) {
      const r = call(s, 'GET', path);
      const body = r.body as { value: { id: string }[]; nextLink: string | null };
      expect(body.value.length).toBeLessThanOrEqual(2);
      names.push(...body.value.map((v) => v.id.split('/').pop()!));
      if (body.nextLink !== null) {
        expect(body.nextLink.startsWith(`${BASE}/secrets?`)).toBe(true);
        expect(new URL(body.nextLink).searchParams.get('api-version')).toBe('7.5');
        path = body.nextLink;
      } else path = null;
    }
    expect(names).toEqual(['a', 'b', 'c', 'd', 'E']);
    expect(call(s, 'GET', '/secrets?maxresults=26').status).toBe(400);
    expect(call(s, 'GET', '/secrets?$skiptoken=garbage').status).toBe(400);
  });

  it('lists versions oldest first with versioned ids', () => {
    const s = new VaultState();
    const ids = [1, 2, 3].map((i) => (call(s, 'PUT', '/secrets/v', { value: String(i) }).body as { id: string }).id);
    const r1 = call(s, 'GET', '/secrets/v/versions?maxresults=2');
    const b1 = r1.body as { value: { id: string }[]; nextLink: string };
    const b2 = call(s, 'GET', b1.nextLink).body as { value: { id: string }[]; nextLink: string | null };
    expect([...b1.value, ...b2.value].map((x) => x.id)).toEqual(ids);
    expect(b2.nextLink).toBeNull();
    expect(b1.value[0]).not.toHaveProperty('value');
    expect(call(s, 'GET', '/secrets/none/versions').status).toBe(404);
  });

  it('errors are FlyteSecretsErrors with a code (404 → SecretNotFound)', () => {
    const s = new VaultState();
    const e = thrown(() => s.get('nope'));
    expect(e.code).toBe('SecretNotFound');
    expect(e.status).toBe(404);
    expect(thrown(() => s.set('bad name', { value: 'v' })).code).toBe('InvalidInput');
  });
});
