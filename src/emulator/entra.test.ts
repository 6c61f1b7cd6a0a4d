import { describe, expect, it } from 'vitest';
import { TokenIssuer } from './entra.js';

const TENANT = 'tenant-1';
const form = (o: Record<string, string>): URLSearchParams =>
  new URLSearchParams({ grant_type: 'client_credentials', client_id: 'app', scope: 'https://vault.azure.net/.default', ...o });

function issuer(extra: Partial<ConstructorParameters<typeof TokenIssuer>[0]> = {}): TokenIssuer {
  return new TokenIssuer({ tenantId: TENANT, clientId: 'app', clientSecret: 's3cr3t', ...extra });
}

const tokenOf = (body: unknown): string => (body as { access_token: string }).access_token;
const errorOf = (body: unknown): string => (body as { error_description: string }).error_description;

describe('TokenIssuer', () => {
  it('issues opaque Bearer tokens for the right client secret, and the vault accepts only those', () => {
    const i = issuer();
    const r = i.token(TENANT, form({ client_secret: 's3cr3t' }));
    expect(r).toMatchObject({ status: 200, counter: 'token', body: { token_type: 'Bearer', expires_in: 3599 } });
    expect(i.verify(tokenOf(r.body))).toBe(true);
    expect(i.verify('not-a-token')).toBe(false);
    expect(issuer().verify(tokenOf(r.body))).toBe(false); // another emulator's token
    i.revokeAll();
    expect(i.verify(tokenOf(r.body))).toBe(false);
  });

  it('an issuer with the same signing key (a restart) accepts the earlier tokens until revokeAll', () => {
    const key = Buffer.alloc(32, 7);
    const first = issuer({ signingKey: key });
    const t = tokenOf(first.token(TENANT, form({ client_secret: 's3cr3t' })).body);
    const restarted = issuer({ signingKey: key });
    expect(restarted.verify(t)).toBe(true);
    expect(restarted.verify(`${t.slice(0, -2)}xx`)).toBe(false);
    const own = tokenOf(restarted.token(TENANT, form({ client_secret: 's3cr3t' })).body);
    restarted.revokeAll();
    expect(restarted.verify(t)).toBe(false);
    expect(restarted.verify(own)).toBe(false);
    expect(restarted.verify(tokenOf(restarted.token(TENANT, form({ client_secret: 's3cr3t' })).body))).toBe(true);
    expect(() => issuer({ signingKey: Buffer.alloc(8) })).toThrow(/at least 32 bytes/);
  });

  it('tokens expire', () => {
    let now = 1_000_000;
    const i = issuer({ now: () => now, tokenLifetimeSeconds: 60 });
    const t = tokenOf(i.token(TENANT, form({ client_secret: 's3cr3t' })).body);
    now += 59_000;
    expect(i.verify(t)).toBe(true);
    now += 1_000;
    expect(i.verify(t)).toBe(false);
  });

  it('tokens for another resource are not accepted by the vault', () => {
    const i = issuer();
    const t = tokenOf(i.token(TENANT, form({ client_secret: 's3cr3t', scope: 'https://storage.azure.com/.default' })).body);
    expect(i.verify(t)).toBe(false);
  });

  it.each([
    ['a wrong secret', TENANT, { client_secret: 'nope' }, 401, /AADSTS7000215/],
    ['an unknown client', TENANT, { client_id: 'other', client_secret: 's3cr3t' }, 400, /AADSTS700016/],
    ['another tenant', 'other-tenant', { client_secret: 's3cr3t' }, 400, /AADSTS90002: Tenant 'other-tenant' not found/],
    ['no credential', TENANT, {}, 401, /AADSTS7000216/],
    ['an empty assertion', TENANT, { client_assertion: ' ', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' }, 401, /AADSTS700211/],
    ['a wrong assertion type', TENANT, { client_assertion: 'x', client_assertion_type: 'other' }, 400, /client_assertion_type/],
    ['another grant', TENANT, { grant_type: 'password', client_secret: 's3cr3t' }, 400, /client_credentials/],
    ['no scope', TENANT, { client_secret: 's3cr3t', scope: '' }, 400, /scope/],
  ])('refuses %s', (_name, tenant, extra, status, message) => {
    const r = issuer().token(tenant, form(extra));
    expect(r.status).toBe(status);
    expect(r.counter).toBe('tokenRejected');
    expect(errorOf(r.body)).toMatch(message);
    expect(JSON.stringify(r.body)).not.toContain('s3cr3t');
  });

  it('accepts any non-empty assertion (no JWT verification), or only the allowed ones when configured', () => {
    const type = { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' };
    expect(issuer().token(TENANT, form({ client_assertion: 'anything', ...type })).status).toBe(200);
    const strict = issuer({ allowedAssertions: ['the-token'] });
    expect(strict.token(TENANT, form({ client_assertion: 'the-token', ...type })).status).toBe(200);
    expect(strict.token(TENANT, form({ client_assertion: 'other', ...type })).status).toBe(401);
  });

  it('serves OpenID configuration for its tenant (case-insensitive) and instance discovery', () => {
    const i = issuer();
    const r = i.openidConfiguration('TENANT-1', 'https://127.0.0.1:9');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      token_endpoint: 'https://127.0.0.1:9/tenant-1/oauth2/v2.0/token',
      issuer: 'https://127.0.0.1:9/tenant-1/v2.0',
      authorization_endpoint: 'https://127.0.0.1:9/tenant-1/oauth2/v2.0/authorize',
    });
    expect(i.openidConfiguration('nope', 'https://127.0.0.1:9').status).toBe(400);
    expect(i.instanceDiscovery('https://127.0.0.1:9').body).toMatchObject({
      tenant_discovery_endpoint: 'https://127.0.0.1:9/tenant-1/v2.0/.well-known/openid-configuration',
    });
  });
});
