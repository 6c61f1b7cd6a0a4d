/**
 * A local Microsoft Entra ID (Azure AD) stand-in, enough for MSAL's client-credentials flow as used by
 * `ClientSecretCredential`, `WorkloadIdentityCredential` and `DefaultAzureCredential` (docs/emulator.md lists what MSAL sends):
 * `GET /<tenant>/v2.0/.well-known/openid-configuration` and `POST /<tenant>/oauth2/v2.0/token`.
 *
 * Tokens are random opaque strings; the vault accepts only tokens this issuer handed out and that have not expired.
 * Client assertions (workload identity) are NOT verified as JWTs: any non-empty assertion is accepted, or, when
 * `allowedAssertions` is set, exactly those strings. This is a test tool, not an identity provider.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The audience (resource) Key Vault tokens are for. */
export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Options of {@link TokenIssuer}. */
export interface TokenIssuerOptions {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Token lifetime in seconds. Default 3599 (what Entra answers). */
  tokenLifetimeSeconds?: number;
  /** When set, only these client assertions (federated tokens) are accepted. Default: any non-empty assertion. */
  allowedAssertions?: readonly string[];
  /** Clock in ms, for tests. */
  now?: () => number;
  /**
   * Key that signs the tokens (at least 32 bytes). Tokens are checked by signature, not looked up, so an emulator
   * restarted with the same key (the same `stateDir`) accepts the tokens it issued before, as Key Vault keeps
   * accepting Entra tokens across its own restarts. Default: random, so another emulator's tokens are refused.
   */
  signingKey?: Uint8Array;
}

/** An HTTP answer of the Entra endpoints (JSON body). */
export interface EntraResponse {
  status: number;
  body: unknown;
  /** Counter to bump: `token`, `tokenRejected`, `openidConfiguration`, `instanceDiscovery`. */
  counter: string;
}

/** What a token carries (signed): boot id, sequence number, expiry (ms) and scope. */
interface TokenClaims {
  b: string;
  n: number;
  e: number;
  s: string;
}

function oauthError(status: number, error: string, description: string): { status: number; body: unknown } {
  return {
    status,
    body: { error, error_description: description, error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)], timestamp: new Date().toISOString() },
  };
}

/**
 * Issues and checks access tokens (opaque to clients; signed, so they need no per-token state), and answers the
 * Entra endpoints.
 *
 * @example
 * ```ts
 * const issuer = new TokenIssuer({ tenantId: 't', clientId: 'c', clientSecret: 's' });
 * const res = issuer.token('t', new URLSearchParams({ grant_type: 'client_credentials', client_id: 'c', client_secret: 's', scope: 'https://vault.azure.net/.default' }));
 * issuer.verify((res.body as { access_token: string }).access_token); // true
 * ```
 */
export class TokenIssuer {
  readonly #opts: TokenIssuerOptions;
  readonly #now: () => number;
  readonly #key: Uint8Array;
  /** Tells this run's tokens from those of an earlier run with the same key. */
  readonly #boot = randomBytes(6).toString('base64url');
  #issued = 0;
  /** Tokens of this run up to this sequence number are revoked; -1: none. */
  #revokedUpTo = -1;
  /** After {@link revokeAll}, tokens of earlier runs are revoked too. */
  #revokedEarlierRuns = false;

  constructor(options: TokenIssuerOptions) {
    this.#opts = options;
    this.#now = options.now ?? Date.now;
    if (options.signingKey !== undefined && options.signingKey.length < 32) throw new Error('TokenIssuer: signingKey must be at least 32 bytes');
    this.#key = options.signingKey ?? randomBytes(32);
  }

  /** True when `tenant` is the emulated tenant (case-insensitive). */
  isTenant(tenant: string): boolean {
    return tenant.toLowerCase() === this.#opts.tenantId.toLowerCase();
  }

  /** True when `token` was issued here (or by an earlier run with the same key) for Key Vault, and is still valid. */
  verify(token: string): boolean {
    const dot = token.indexOf('.');
    if (dot <= 0) return false;
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = this.#sign(body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return false;
    }
    if (typeof claims.e !== 'number' || claims.e <= this.#now()) return false;
    const revoked = claims.b === this.#boot ? claims.n <= this.#revokedUpTo : this.#revokedEarlierRuns;
    if (revoked) return false;
    return typeof claims.s === 'string' && claims.s.split(' ').some((x) => x.toLowerCase().startsWith(KEY_VAULT_RESOURCE));
  }

  /** Revoke every token issued so far, by this run or an earlier one (clients must fetch new ones). */
  revokeAll(): void {
    this.#revokedUpTo = this.#issued;
    this.#revokedEarlierRuns = true;
  }

  #sign(body: string): Buffer {
    return createHmac('sha256', this.#key).update(body).digest();
  }

  /** `GET /<tenant>/v2.0/.well-known/openid-configuration`, with endpoints on `base` (`https://host:port`). */
  openidConfiguration(tenant: string, base: string): EntraResponse {
    if (!this.isTenant(tenant)) return { ...this.#unknownTenant(tenant), counter: 'tokenRejected' };
    const t = this.#opts.tenantId;
    return {
      status: 200,
      counter: 'openidConfiguration',
      body: {
        token_endpoint: `${base}/${t}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `${base}/${t}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${base}/${t}/v2.0`,
        request_uri_parameter_supported: false,
        authorization_endpoint: `${base}/${t}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/${t}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${base}/${t}/oauth2/v2.0/logout`,
        tenant_region_scope: null,
        cloud_instance_name: 'emulator.local',
      },
    };
  }

  /**
   * Instance discovery (`GET /common/discovery/instance`): MSAL only calls it when `disableInstanceDiscovery` is
   * off *and* it was pointed here; answered so such a client does not fail.
   */
  instanceDiscovery(base: string): EntraResponse {
    const host = new URL(base).host;
    return {
      status: 200,
      counter: 'instanceDiscovery',
      body: {
        tenant_discovery_endpoint: `${base}/${this.#opts.tenantId}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
      },
    };
  }

  /** `POST /<tenant>/oauth2/v2.0/token` with the form-decoded body. Only `client_credentials` is supported. */
  token(tenant: string, form: URLSearchParams): EntraResponse {
    const reject = (r: { status: number; body: unknown }): EntraResponse => ({ ...r, counter: 'tokenRejected' });
    if (!this.isTenant(tenant)) return reject(this.#unknownTenant(tenant));
    const grant = form.get('grant_type');
    if (grant !== 'client_credentials') {
      return reject(oauthError(400, 'unsupported_grant_type', `AADSTS70003: The emulator supports only the client_credentials grant, not '${grant ?? ''}'.`));
    }
    const clientId = form.get('client_id') ?? '';
    if (clientId !== this.#opts.clientId) {
      return reject(oauthError(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${this.#opts.tenantId}'.`));
    }
    const scope = form.get('scope') ?? '';
    if (scope.trim() === '') return reject(oauthError(400, 'invalid_scope', "AADSTS1002012: The provided value for scope  is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (secret !== this.#opts.clientSecret) {
        return reject(oauthError(401, 'invalid_client', `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`));
      }
    } else if (assertion !== null) {
      if (form.get('client_assertion_type') !== JWT_BEARER) {
        return reject(oauthError(400, 'invalid_request', `AADSTS50027: client_assertion_type must be '${JWT_BEARER}'.`));
      }
      const allowed = this.#opts.allowedAssertions;
      if (assertion.trim() === '' || (allowed !== undefined && !allowed.includes(assertion))) {
        return reject(oauthError(401, 'invalid_client', 'AADSTS700211: No matching federated identity record found for presented assertion.'));
      }
    } else {
      return reject(oauthError(401, 'invalid_client', "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."));
    }
    const lifetime = this.#opts.tokenLifetimeSeconds ?? 3599;
    this.#issued += 1;
    const claims: TokenClaims = { b: this.#boot, n: this.#issued, e: this.#now() + lifetime * 1000, s: scope };
    const body = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
    const accessToken = `${body}.${this.#sign(body).toString('base64url')}`;
    return {
      status: 200,
      counter: 'token',
      body: { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken },
    };
  }

  #unknownTenant(tenant: string): { status: number; body: unknown } {
    return oauthError(400, 'invalid_request', `AADSTS90002: Tenant '${tenant}' not found. This emulator serves tenant '${this.#opts.tenantId}' only.`);
  }
}
