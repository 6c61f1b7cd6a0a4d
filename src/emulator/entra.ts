/**
 * A local Microsoft Entra ID (Azure AD) stand-in, enough for MSAL's client-credentials flow as used by
 * `ClientSecretCredential`, `WorkloadIdentityCredential` and `DefaultAzureCredential` (see keyvault-wire.md):
 * `GET /<tenant>/v2.0/.well-known/openid-configuration` and `POST /<tenant>/oauth2/v2.0/token`.
 *
 * Tokens are random opaque strings; the vault accepts only tokens this issuer handed out and that have not expired.
 * Client assertions (workload identity) are NOT verified as JWTs: any non-empty assertion is accepted, or, when
 * `allowedAssertions` is set, exactly those strings. This is a test tool, not an identity provider.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';

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
}

/** An HTTP answer of the Entra endpoints (JSON body). */
export interface EntraResponse {
  status: number;
  body: unknown;
  /** Counter to bump: `token`, `tokenRejected`, `openidConfiguration`, `instanceDiscovery`. */
  counter: string;
}

interface IssuedToken {
  expiresAt: number;
  scope: string;
}

function oauthError(status: number, error: string, description: string): { status: number; body: unknown } {
  return {
    status,
    body: { error, error_description: description, error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)], timestamp: new Date().toISOString() },
  };
}

/**
 * Issues and checks opaque access tokens, and answers the Entra endpoints.
 *
 * @example
 * ```ts
 * const issuer = new TokenIssuer({ tenantId: 't', clientId: 'c', clientSecret: 's' });
 * const res = issuer.token('t', new URLSearchParams({ grant_type: 'client_credentials', client_id: 'c', client_secret: 's', scope: 'https://vault.azure.net/.default' }));
 * issuer.verify((res.body as { access_token: string }).access_token); // true
 * ```
 */
export class TokenIssuer {
  readonly #tokens = new Map<string, IssuedToken>();
  readonly #opts: TokenIssuerOptions;
  readonly #now: () => number;

  constructor(options: TokenIssuerOptions) {
    this.#opts = options;
    this.#now = options.now ?? Date.now;
  }

  /** True when `tenant` is the emulated tenant (case-insensitive). */
  isTenant(tenant: string): boolean {
    return tenant.toLowerCase() === this.#opts.tenantId.toLowerCase();
  }

  /** True when `token` was issued here for Key Vault and has not expired. */
  verify(token: string): boolean {
    const t = this.#tokens.get(token);
    if (!t) return false;
    if (t.expiresAt <= this.#now()) {
      this.#tokens.delete(token);
      return false;
    }
    return t.scope.split(' ').some((s) => s.toLowerCase().startsWith(KEY_VAULT_RESOURCE));
  }

  /** Forget every issued token (clients must fetch new ones). */
  revokeAll(): void {
    this.#tokens.clear();
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
    const accessToken = randomBytes(32).toString('base64url');
    this.#sweep();
    this.#tokens.set(accessToken, { expiresAt: this.#now() + lifetime * 1000, scope });
    return {
      status: 200,
      counter: 'token',
      body: { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken },
    };
  }

  #unknownTenant(tenant: string): { status: number; body: unknown } {
    return oauthError(400, 'invalid_request', `AADSTS90002: Tenant '${tenant}' not found. This emulator serves tenant '${this.#opts.tenantId}' only.`);
  }

  /** Drop expired tokens once the map grows, so long benchmarks do not leak memory. */
  #sweep(): void {
    if (this.#tokens.size < 10_000) return;
    const now = this.#now();
    for (const [k, t] of this.#tokens) if (t.expiresAt <= now) this.#tokens.delete(k);
  }
}
