/**
 * Service-account tokens for the fake API server, as the real one issues and reviews them: ES256-signed JWTs with
 * `iss`, `aud`, `exp`/`iat`/`nbf`, `jti`, `sub` (`system:serviceaccount:<ns>:<sa>`) and the private
 * `kubernetes.io` claim (namespace, serviceaccount name/uid, the bound pod's name/uid, the node). A TokenReview
 * checks the signature, the issuer, the expiry and not-before (with the API server's one-minute leeway), the
 * audiences (`spec.audiences`, else the server's own), and that the service account and the bound pod still exist
 * with the uids in the token; it answers `user.extra` with `authentication.kubernetes.io/pod-name`, `pod-uid`,
 * `node-name`, `node-uid` and `credential-id`, as Kubernetes 1.30+ does.
 *
 * @module
 */
import { createHash, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';

/** The issuer of tokens (`--service-account-issuer`). */
export const FAKE_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** What a token is bound to and for whom it is. */
export interface TokenClaimsInput {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  pod?: { name: string; uid: string };
  node?: { name: string; uid: string };
  audiences: string[];
  /** Seconds; default 3600. */
  expirationSeconds?: number;
  /** Issue time (ms since the epoch); default now. */
  issuedAt?: number;
}

/** A `TokenReview.status`, as the API server answers it. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username: string; uid: string; groups: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

/** Looks up live objects for the bound-object check: the uid of a service account or pod, or undefined when gone. */
export interface BoundObjects {
  serviceAccountUid(namespace: string, name: string): string | undefined;
  /** The pod's uid and whether it is being deleted. */
  pod(namespace: string, name: string): { uid: string; deleting: boolean } | undefined;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** An issuer: a signing key, `issue` and `review`. */
export interface TokenIssuer {
  readonly issuer: string;
  readonly publicKey: KeyObject;
  issue(input: TokenClaimsInput): string;
  review(token: string, audiences: readonly string[], objects: BoundObjects): TokenReviewStatus;
}

/**
 * Create an issuer with a fresh P-256 key.
 *
 * @param apiAudiences the server's own audiences, used when a review names none.
 * @param now clock (ms), for expiry.
 */
export function createTokenIssuer(options: { issuer?: string; apiAudiences?: string[]; now?: () => number } = {}): TokenIssuer {
  const issuer = options.issuer ?? FAKE_ISSUER;
  const apiAudiences = options.apiAudiences ?? [issuer];
  const now = options.now ?? Date.now;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = b64url(createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest().subarray(0, 16));

  function issue(input: TokenClaimsInput): string {
    const iat = Math.floor((input.issuedAt ?? now()) / 1000);
    const claims = {
      aud: input.audiences,
      exp: iat + (input.expirationSeconds ?? 3600),
      iat,
      iss: issuer,
      jti: randomUUID(),
      'kubernetes.io': {
        namespace: input.namespace,
        ...(input.node === undefined ? {} : { node: input.node }),
        ...(input.pod === undefined ? {} : { pod: input.pod }),
        serviceaccount: input.serviceAccount,
      },
      nbf: iat,
      sub: `system:serviceaccount:${input.namespace}:${input.serviceAccount.name}`,
    };
    const head = b64url(JSON.stringify({ alg: 'ES256', kid }));
    const body = b64url(JSON.stringify(claims));
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${head}.${body}.${b64url(sig)}`;
  }

  function review(token: string, requested: readonly string[], objects: BoundObjects): TokenReviewStatus {
    const fail = (why: string): TokenReviewStatus => ({ authenticated: false, error: `[invalid bearer token, ${why}]` });
    const parts = token.split('.');
    if (parts.length !== 3) return { authenticated: false, error: '[invalid bearer token, token lookup failed]' };
    let header: { alg?: string };
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as { alg?: string };
      claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return { authenticated: false, error: '[invalid bearer token, token lookup failed]' };
    }
    if (claims.iss !== issuer) return { authenticated: false, error: '[invalid bearer token, token lookup failed]' }; // not ours: no authenticator claims it
    if (header.alg !== 'ES256') return fail('unexpected signature algorithm');
    const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2] as string, 'base64url'));
    if (!ok) return fail('square/go-jose: error in cryptographic primitive');
    const t = Math.floor(now() / 1000);
    const leeway = 60;
    if (typeof claims.exp !== 'number' || t > claims.exp + leeway) return fail('service account token has expired');
    if (typeof claims.nbf === 'number' && t < claims.nbf - leeway) return fail('service account token is not valid yet');
    const aud = Array.isArray(claims.aud) ? (claims.aud as string[]) : typeof claims.aud === 'string' ? [claims.aud] : [];
    const wanted = requested.length > 0 ? [...requested] : apiAudiences;
    const common = wanted.filter((a) => aud.includes(a));
    if (common.length === 0) return fail(`token audiences ${JSON.stringify(aud)} is invalid for the target audiences ${JSON.stringify(wanted)}`);
    const k8s = claims['kubernetes.io'] as
      | { namespace?: string; serviceaccount?: { name?: string; uid?: string }; pod?: { name?: string; uid?: string }; node?: { name?: string; uid?: string } }
      | undefined;
    const ns = k8s?.namespace ?? '';
    const sa = k8s?.serviceaccount;
    if (ns === '' || sa?.name === undefined || sa.uid === undefined) return fail('service account token claims are missing');
    if (objects.serviceAccountUid(ns, sa.name) !== sa.uid) return fail('service account token has been invalidated');
    if (k8s?.pod !== undefined) {
      const pod = objects.pod(ns, k8s.pod.name ?? '');
      if (pod === undefined || pod.uid !== k8s.pod.uid || pod.deleting) return fail('service account token has been invalidated');
    }
    const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${String(claims.jti)}`] };
    if (k8s?.pod !== undefined) {
      extra['authentication.kubernetes.io/pod-name'] = [k8s.pod.name ?? ''];
      extra['authentication.kubernetes.io/pod-uid'] = [k8s.pod.uid ?? ''];
    }
    if (k8s?.node !== undefined) {
      extra['authentication.kubernetes.io/node-name'] = [k8s.node.name ?? ''];
      extra['authentication.kubernetes.io/node-uid'] = [k8s.node.uid ?? ''];
    }
    return {
      authenticated: true,
      user: { username: `system:serviceaccount:${ns}:${sa.name}`, uid: sa.uid, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'], extra },
      audiences: common,
    };
  }

  return { issuer, publicKey, issue, review };
}

/** A token signed by a key the API server does not know (for the signature check). */
export function forgeToken(input: TokenClaimsInput, issuer = FAKE_ISSUER): string {
  const other = createTokenIssuer({ issuer });
  return other.issue(input);
}
