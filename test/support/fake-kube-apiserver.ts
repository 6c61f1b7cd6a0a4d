/**
 * A fake Kubernetes API server for tests: HTTPS with its own CA, enough of the REST API for
 * `@kubernetes/client-node` ~1.4, state in memory.
 *
 * - Kinds (generic; add more with `kinds`): core/v1 `secrets`, `configmaps`, `pods`, `serviceaccounts`, `namespaces`,
 *   and admissionregistration.k8s.io/v1 `mutatingwebhookconfigurations`.
 * - Verbs: GET (object, list in a namespace or across namespaces, `labelSelector`, `fieldSelector` on
 *   `metadata.name`/`metadata.namespace`, `watch=true` with `resourceVersion` replay), POST (create, `generateName`),
 *   PUT (update; a stale `metadata.resourceVersion` is a 409 Conflict), PATCH (JSON Patch, merge patch; strategic merge
 *   is treated as a merge patch), DELETE (with `preconditions`). `dryRun=All` is honoured.
 * - Every object gets a `uid`, a `creationTimestamp` and a `resourceVersion` from one global counter.
 * - Errors are real `Status` objects: 404 NotFound «secrets "x" not found», 409 AlreadyExists, 409 Conflict, 422
 *   Invalid (bad names, changing an immutable Secret/ConfigMap), 401 Unauthorized (wrong bearer token).
 * - Secrets: `stringData` is folded into base64 `data`, and `type` defaults to `Opaque`, as the real server does.
 * - Every request is recorded in `requests`; `onRequest` can delay a request or answer it (fault injection).
 * - `kubeconfigPath` is a kubeconfig trusting the server's CA, with a bearer token.
 * - Service-account tokens (fake-sa-tokens.ts): `POST …/serviceaccounts/<sa>/token` (TokenRequest, bound to a pod,
 *   `expirationSeconds` ≥ 600 as the real server requires) issues signed JWTs, `POST
 *   /apis/authentication.k8s.io/v1/tokenreviews` reviews them (signature, issuer, expiry, audiences, the bound pod and
 *   service account still there with the same uids) and answers the pod claims in `user.extra`. `issuePodToken` does
 *   what the kubelet does for a projected token volume.
 *
 * @example
 * ```ts
 * const kube = await startFakeKubeApiServer();
 * const kc = new KubeConfig(); kc.loadFromFile(kube.kubeconfigPath);
 * await kc.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace: 'flyte', body: { metadata: { name: 's' }, stringData: { a: 'b' } } });
 * kube.store.get('secrets', 'flyte', 's')?.data // { a: 'Yg==' }
 * await kube.close();
 * ```
 *
 * @module
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, randomUUID, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { trackConnections } from '../../src/net-close.js';
import { createTokenIssuer, type TokenIssuer } from './fake-sa-tokens.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A resource type the fake serves. */
export interface FakeKind {
  /** API group; '' for core. */
  group: string;
  version: string;
  /** Lower-case plural used in URLs, e.g. `secrets`. */
  plural: string;
  /** `kind`, e.g. `Secret`. */
  kind: string;
  namespaced: boolean;
}

/** The kinds served by default. */
export const DEFAULT_KINDS: readonly FakeKind[] = [
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingwebhookconfigurations', kind: 'MutatingWebhookConfiguration', namespaced: false },
];

/** A stored Kubernetes object (loosely typed: the fake is generic). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** One request as the fake saw it. */
export interface RecordedRequest {
  method: string;
  /** URL path without the query. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, when there was one. */
  body: unknown;
  /** Status code answered (set once the answer is sent). */
  status?: number;
}

/** An answer a test forces through {@link FakeKubeApiServer.onRequest}. */
export interface FakeResponse {
  status: number;
  body: unknown;
}

/** A watch event, as sent on the wire. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  /** Resource version of the change. */
  rv: number;
  kind: FakeKind;
}

/** Build a Kubernetes `Status` failure object. */
export function kubeStatus(code: number, reason: string, message: string, details?: Record<string, unknown>): FakeResponse {
  return {
    status: code,
    body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code },
  };
}

/** Decode a Secret's base64 `data` into UTF-8 strings (test convenience). */
export function decodeSecretData(secret: KubeObject | undefined): Record<string, string> {
  const data = (secret?.data ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

const clone = <T>(v: T): T => structuredClone(v);

/** The in-memory object store behind the fake. Tests may seed and inspect it directly. */
export class FakeKubeStore {
  readonly kinds: FakeKind[];
  private readonly objects = new Map<string, KubeObject>();
  private rv = 1;
  /** Recent changes (bounded), for watch replay. */
  readonly events: WatchEvent[] = [];
  private readonly listeners = new Set<(e: WatchEvent) => void>();
  private static readonly MAX_EVENTS = 1000;

  constructor(kinds: readonly FakeKind[]) {
    this.kinds = [...kinds];
  }

  /** The current (latest) resource version. */
  get resourceVersion(): number {
    return this.rv;
  }

  /** Find a kind by plural (and group, when ambiguous). */
  kindOf(plural: string, group?: string): FakeKind | undefined {
    return this.kinds.find((k) => k.plural === plural && (group === undefined || k.group === group));
  }

  /** Find the kind of an object from its `apiVersion` and `kind`. */
  kindOfObject(obj: KubeObject): FakeKind | undefined {
    const [group, version] = (obj.apiVersion ?? 'v1').includes('/') ? (obj.apiVersion as string).split('/') : ['', obj.apiVersion ?? 'v1'];
    return this.kinds.find((k) => k.kind === obj.kind && k.group === group && k.version === version);
  }

  private key(kind: FakeKind, namespace: string, name: string): string {
    return `${kind.group}/${kind.plural}/${kind.namespaced ? namespace : ''}/${name}`;
  }

  /** A copy of an object, or undefined. `namespace` is ignored for cluster-scoped kinds. */
  get(plural: string, namespace: string, name: string, group?: string): KubeObject | undefined {
    const kind = this.kindOf(plural, group);
    if (!kind) return undefined;
    const o = this.objects.get(this.key(kind, namespace, name));
    return o ? clone(o) : undefined;
  }

  /** Copies of all objects of a kind, optionally in one namespace, sorted by namespace then name. */
  list(plural: string, namespace?: string, group?: string): KubeObject[] {
    const kind = this.kindOf(plural, group);
    if (!kind) return [];
    const prefix = `${kind.group}/${kind.plural}/`;
    return [...this.objects.entries()]
      .filter(([k, o]) => k.startsWith(prefix) && (namespace === undefined || !kind.namespaced || o.metadata?.namespace === namespace))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => clone(o));
  }

  /**
   * Store `obj` as is (seeding, bypassing validation and conflicts), filling in `uid`, `creationTimestamp` and a new
   * `resourceVersion`. Its kind comes from `apiVersion`/`kind`. Returns the stored copy.
   */
  put(obj: KubeObject): KubeObject {
    const kind = this.kindOfObject(obj);
    if (!kind) throw new Error(`fake kube store: unknown kind ${obj.apiVersion ?? ''}/${obj.kind ?? ''}`);
    const name = obj.metadata?.name;
    if (!name) throw new Error('fake kube store: metadata.name is required');
    const namespace = kind.namespaced ? (obj.metadata?.namespace ?? 'default') : '';
    const prev = this.objects.get(this.key(kind, namespace, name));
    return this.write(kind, namespace, { ...clone(obj), metadata: { ...clone(obj.metadata), name, ...(kind.namespaced ? { namespace } : {}) } }, prev);
  }

  /** Remove an object; true when it existed. */
  delete(plural: string, namespace: string, name: string, group?: string): boolean {
    const kind = this.kindOf(plural, group);
    if (!kind) return false;
    const key = this.key(kind, namespace, name);
    const prev = this.objects.get(key);
    if (!prev) return false;
    this.objects.delete(key);
    this.rv++;
    this.emit({ type: 'DELETED', object: { ...clone(prev), metadata: { ...prev.metadata, resourceVersion: String(this.rv) } }, rv: this.rv, kind });
    return true;
  }

  /** @internal Write with new metadata; used by the server after validation. */
  write(kind: FakeKind, namespace: string, obj: KubeObject, prev: KubeObject | undefined): KubeObject {
    this.rv++;
    const meta = { ...obj.metadata };
    if (!kind.namespaced) delete meta.namespace;
    meta.uid = prev?.metadata?.uid ?? meta.uid ?? randomUUID();
    meta.creationTimestamp = prev?.metadata?.creationTimestamp ?? meta.creationTimestamp ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    meta.resourceVersion = String(this.rv);
    const stored: KubeObject = { ...obj, apiVersion: kind.group === '' ? kind.version : `${kind.group}/${kind.version}`, kind: kind.kind, metadata: meta };
    if (kind.plural === 'secrets') normalizeSecret(stored);
    this.objects.set(this.key(kind, namespace, meta.name as string), stored);
    this.emit({ type: prev ? 'MODIFIED' : 'ADDED', object: clone(stored), rv: this.rv, kind });
    return clone(stored);
  }

  private emit(e: WatchEvent): void {
    this.events.push(e);
    if (this.events.length > FakeKubeStore.MAX_EVENTS) this.events.splice(0, this.events.length - FakeKubeStore.MAX_EVENTS);
    for (const l of this.listeners) l(e);
  }

  /** @internal Subscribe to changes; returns the unsubscribe function. */
  subscribe(listener: (e: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

function normalizeSecret(secret: KubeObject): void {
  const stringData = secret.stringData as Record<string, string> | undefined;
  if (stringData) {
    const data = { ...((secret.data as Record<string, string> | undefined) ?? {}) };
    for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v, 'utf8').toString('base64');
    secret.data = data;
    delete secret.stringData;
  }
  secret.type ??= 'Opaque';
}

/** Options of {@link startFakeKubeApiServer}. */
export interface FakeKubeApiServerOptions {
  /** Extra kinds to serve besides {@link DEFAULT_KINDS}. */
  kinds?: FakeKind[];
  /** Bearer token required from clients (and written into the kubeconfig). Default: a random one. */
  token?: string;
  /** Namespace of the kubeconfig's context. Default `default`. */
  contextNamespace?: string;
  /** Clock (ms) of token issuance and review. Default `Date.now`. */
  now?: () => number;
}

/** Options of {@link FakeKubeApiServer.issuePodToken}. */
export interface PodTokenOptions {
  audiences: string[];
  /** Default 600 (the shortest the API server allows). */
  expirationSeconds?: number;
  /** Issue time (ms); default now. */
  issuedAt?: number;
  /** Claim this service account instead of the pod's (a token the real TokenRequest would refuse to issue). */
  serviceAccount?: string;
}

/** A running fake API server. */
export interface FakeKubeApiServer {
  /** `https://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** PEM of the CA that signed the server's certificate. */
  caPem: string;
  /** A file holding {@link caPem}. */
  caPath: string;
  /** A kubeconfig file (current context `fake`) trusting the CA, with the bearer token. */
  kubeconfigPath: string;
  /** The bearer token the server requires. */
  token: string;
  store: FakeKubeStore;
  /** The service-account token issuer (signing key, issue, review). */
  tokens: TokenIssuer;
  /**
   * A projected service-account token for a stored pod, as the kubelet gets it (TokenRequest bound to the pod, with
   * the pod's service account, which must exist). Throws when the pod or the service account is missing.
   */
  issuePodToken(namespace: string, podName: string, options: PodTokenOptions): string;
  requests: RecordedRequest[];
  /**
   * Called before each request is handled (after it is recorded). Return a {@link FakeResponse} to answer it
   * instead (e.g. `kubeStatus(403, 'Forbidden', …)`), or nothing to go on; may be async (to delay or to line
   * requests up). Set it to `undefined` to remove it.
   */
  onRequest: ((req: RecordedRequest) => FakeResponse | undefined | Promise<FakeResponse | undefined>) | undefined;
  /** Stop the server, end open watches, remove the temporary files. */
  close(): Promise<void>;
}

async function makeServerCertificate(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const caKeys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=fake-kube-apiserver-ca',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: alg,
    keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true)],
  });
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=kube-apiserver',
    issuer: ca.subjectName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: alg,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return { caPem: ca.toString('pem'), certPem: cert.toString('pem'), keyPem };
}

/** Start a fake API server on 127.0.0.1 (a free port). Close it in `afterAll`. */
export async function startFakeKubeApiServer(options: FakeKubeApiServerOptions = {}): Promise<FakeKubeApiServer> {
  const { caPem, certPem, keyPem } = await makeServerCertificate();
  const store = new FakeKubeStore([...DEFAULT_KINDS, ...(options.kinds ?? [])]);
  const token = options.token ?? randomBytes(16).toString('hex');
  const requests: RecordedRequest[] = [];
  const watches = new Set<ServerResponse>();
  const dir = mkdtempSync(join(tmpdir(), 'fake-kube-'));
  const tokens = createTokenIssuer(options.now === undefined ? {} : { now: options.now });
  const boundObjects = {
    serviceAccountUid: (ns: string, name: string) => store.get('serviceaccounts', ns, name)?.metadata?.uid,
    pod: (ns: string, name: string) => {
      const p = store.get('pods', ns, name);
      return p?.metadata?.uid === undefined ? undefined : { uid: p.metadata.uid, deleting: p.metadata.deletionTimestamp !== undefined };
    },
  };
  function podToken(namespace: string, podName: string, o: PodTokenOptions): { token: string } | { error: FakeResponse } {
    const pod = store.get('pods', namespace, podName);
    if (pod?.metadata?.uid === undefined) return { error: kubeStatus(404, 'NotFound', `pods "${podName}" not found`, { name: podName, kind: 'pods' }) };
    const podSa = ((pod.spec ?? {}) as { serviceAccountName?: string }).serviceAccountName ?? 'default';
    const saName = o.serviceAccount ?? podSa;
    const sa = store.get('serviceaccounts', namespace, saName);
    if (sa?.metadata?.uid === undefined) return { error: kubeStatus(404, 'NotFound', `serviceaccounts "${saName}" not found`, { name: saName, kind: 'serviceaccounts' }) };
    const expirationSeconds = o.expirationSeconds ?? 600;
    if (expirationSeconds < 600) return { error: kubeStatus(422, 'Invalid', `TokenRequest.authentication.k8s.io "${saName}" is invalid: spec.expirationSeconds: Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`) };
    const nodeName = ((pod.spec ?? {}) as { nodeName?: string }).nodeName;
    return {
      token: tokens.issue({
        namespace,
        serviceAccount: { name: saName, uid: sa.metadata.uid },
        pod: { name: podName, uid: pod.metadata.uid },
        ...(nodeName === undefined ? {} : { node: { name: nodeName, uid: `node-${nodeName}` } }),
        audiences: o.audiences,
        expirationSeconds,
        ...(o.issuedAt === undefined ? {} : { issuedAt: o.issuedAt }),
      }),
    };
  }

  const fake: FakeKubeApiServer = {
    url: '',
    port: 0,
    caPem,
    caPath: join(dir, 'ca.crt'),
    kubeconfigPath: join(dir, 'kubeconfig'),
    token,
    store,
    tokens,
    issuePodToken(namespace, podName, o) {
      const r = podToken(namespace, podName, o);
      if ('error' in r) throw new Error(`fake kube-apiserver: cannot issue a token: ${JSON.stringify((r.error.body as { message?: string }).message)}`);
      return r.token;
    },
    requests,
    onRequest: undefined,
    close: async () => {
      for (const w of watches) w.end();
      watches.clear();
      await closeServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  const server: Server = createServer({ cert: certPem, key: keyPem }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, kubeStatus(500, 'InternalError', `fake kube-apiserver: ${String(err)}`));
      else res.end();
    });
  });
  const closeServer = trackConnections(server);

  function send(res: ServerResponse, r: FakeResponse, rec?: RecordedRequest): void {
    if (rec) rec.status = r.status;
    const text = JSON.stringify(r.body);
    res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake');
    const raw = await readBody(req);
    let body: unknown;
    let badJson = false;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8')) as unknown;
      } catch {
        badJson = true;
      }
    }
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams.entries()),
      headers: req.headers,
      body,
    };
    requests.push(rec);
    if (req.headers.authorization !== `Bearer ${token}`) {
      send(res, kubeStatus(401, 'Unauthorized', 'Unauthorized'), rec);
      return;
    }
    if (fake.onRequest) {
      const forced = await fake.onRequest(rec);
      if (forced) {
        send(res, forced, rec);
        return;
      }
    }
    if (badJson) {
      send(res, kubeStatus(400, 'BadRequest', 'the request body is not valid JSON'), rec);
      return;
    }
    const auth = authenticationRoute(rec);
    if (auth !== undefined) {
      send(res, auth, rec);
      return;
    }
    const answer = route(rec, req.headers['content-type'] ?? '');
    if (answer === 'watch') {
      startWatch(rec, res);
      return;
    }
    send(res, answer, rec);
  }

  /** TokenReview (create) and TokenRequest (`serviceaccounts/<sa>/token`), or undefined for other paths. */
  function authenticationRoute(rec: RecordedRequest): FakeResponse | undefined {
    const body = (rec.body ?? {}) as { spec?: Record<string, unknown> };
    if (rec.path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      if (rec.method !== 'POST') return kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      const spec = body.spec ?? {};
      if (typeof spec.token !== 'string') return kubeStatus(422, 'Invalid', 'TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value');
      const audiences = Array.isArray(spec.audiences) ? (spec.audiences as string[]) : [];
      const status = tokens.review(spec.token, audiences, boundObjects);
      return { status: 201, body: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: { ...status, user: status.user ?? {} } } };
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/.exec(rec.path);
    if (m === null) return undefined;
    if (rec.method !== 'POST') return kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    const spec = body.spec ?? {};
    const bound = spec.boundObjectRef as { kind?: string; name?: string; uid?: string } | undefined;
    if (bound?.kind !== 'Pod' || bound.name === undefined) return kubeStatus(400, 'BadRequest', 'the fake supports only tokens bound to a Pod');
    const [, namespace, sa] = m as unknown as [string, string, string];
    const pod = store.get('pods', namespace, bound.name);
    if (pod === undefined || (bound.uid !== undefined && pod.metadata?.uid !== bound.uid)) return kubeStatus(404, 'NotFound', `pods "${bound.name}" not found`);
    const podSa = ((pod.spec ?? {}) as { serviceAccountName?: string }).serviceAccountName ?? 'default';
    if (podSa !== sa) return kubeStatus(400, 'BadRequest', `cannot bind token for serviceaccount "${sa}" to pod running with different serviceaccount name.`);
    const expirationSeconds = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : 3600;
    const audiences = Array.isArray(spec.audiences) ? (spec.audiences as string[]) : [];
    const r = podToken(namespace, bound.name, { audiences, expirationSeconds });
    if ('error' in r) return r.error;
    const expirationTimestamp = new Date(Math.floor(((options.now ?? Date.now)() / 1000) + expirationSeconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { status: 201, body: { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', metadata: { name: sa, namespace }, spec, status: { token: r.token, expirationTimestamp } } };
  }

  interface Target {
    kind: FakeKind;
    namespace: string | undefined;
    name: string | undefined;
  }

  function parsePath(path: string): Target | FakeResponse {
    const parts = path.split('/').filter((p) => p !== '');
    let group: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1] === 'v1') {
      group = '';
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      group = parts[1] as string;
      rest = parts.slice(3);
    } else {
      return kubeStatus(404, 'NotFound', 'the server could not find the requested resource');
    }
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, sub] = rest;
    const kind = plural === undefined ? undefined : store.kindOf(plural, group);
    if (!kind || (namespace !== undefined && !kind.namespaced) || (sub !== undefined && sub !== 'status') || rest.length > 3) {
      return kubeStatus(404, 'NotFound', 'the server could not find the requested resource');
    }
    return { kind, namespace: kind.namespaced ? namespace : '', name };
  }

  const resourceName = (kind: FakeKind): string => (kind.group === '' ? kind.plural : `${kind.plural}.${kind.group}`);
  const details = (kind: FakeKind, name: string): Record<string, unknown> => ({ name, ...(kind.group !== '' ? { group: kind.group } : {}), kind: kind.plural });
  const notFound = (kind: FakeKind, name: string): FakeResponse => kubeStatus(404, 'NotFound', `${resourceName(kind)} "${name}" not found`, details(kind, name));
  const conflict = (kind: FakeKind, name: string, why: string): FakeResponse =>
    kubeStatus(409, 'Conflict', `Operation cannot be fulfilled on ${resourceName(kind)} "${name}": ${why}`, details(kind, name));
  const invalid = (kind: FakeKind, name: string, field: string, what: string): FakeResponse =>
    kubeStatus(422, 'Invalid', `${kind.kind} "${name}" is invalid: ${field}: ${what}`, {
      name,
      ...(kind.group !== '' ? { group: kind.group } : {}),
      kind: kind.kind,
      causes: [{ reason: 'FieldValueInvalid', message: what, field }],
    });
  const withType = (kind: FakeKind, o: KubeObject): KubeObject => ({ ...o, apiVersion: kind.group === '' ? kind.version : `${kind.group}/${kind.version}`, kind: kind.kind });

  function route(rec: RecordedRequest, contentType: string): FakeResponse | 'watch' {
    const target = parsePath(rec.path);
    if ('status' in target) return target;
    const { kind, namespace, name } = target;
    const dryRun = rec.query.dryRun === 'All';
    switch (rec.method) {
      case 'GET': {
        if (name !== undefined) {
          const o = store.get(kind.plural, namespace ?? '', name, kind.group);
          return o ? { status: 200, body: o } : notFound(kind, name);
        }
        if (rec.query.watch === 'true' || rec.query.watch === '1') return 'watch';
        const items = store.list(kind.plural, namespace, kind.group).filter((o) => matchesSelectors(o, rec.query));
        return {
          status: 200,
          body: {
            apiVersion: kind.group === '' ? kind.version : `${kind.group}/${kind.version}`,
            kind: `${kind.kind}List`,
            metadata: { resourceVersion: String(store.resourceVersion) },
            items: items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
          },
        };
      }
      case 'POST': {
        if (name !== undefined || namespace === undefined) return kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        return create(kind, namespace, rec.body, dryRun);
      }
      case 'PUT': {
        if (name === undefined) return kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        return update(kind, namespace ?? '', name, rec.body, dryRun);
      }
      case 'PATCH': {
        if (name === undefined) return kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        const current = store.get(kind.plural, namespace ?? '', name, kind.group);
        if (!current) return notFound(kind, name);
        let patched: KubeObject;
        const ct = contentType.split(';')[0]?.trim() ?? '';
        try {
          if (ct === 'application/json-patch+json') {
            patched = fastJsonPatch.applyPatch(clone(current), rec.body as fastJsonPatch.Operation[], true, false).newDocument;
          } else if (ct === 'application/merge-patch+json' || ct === 'application/strategic-merge-patch+json') {
            patched = mergePatch(current, rec.body) as KubeObject;
          } else {
            return kubeStatus(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
          }
        } catch (err) {
          return kubeStatus(422, 'Invalid', `the patch could not be applied: ${String(err)}`);
        }
        return update(kind, namespace ?? '', name, patched, dryRun);
      }
      case 'DELETE': {
        if (name === undefined) return kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        const current = store.get(kind.plural, namespace ?? '', name, kind.group);
        if (!current) return notFound(kind, name);
        const pre = ((rec.body ?? {}) as { preconditions?: { uid?: string; resourceVersion?: string } }).preconditions;
        if (pre?.uid !== undefined && pre.uid !== current.metadata?.uid) {
          return conflict(kind, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata?.uid ?? ''}`);
        }
        if (pre?.resourceVersion !== undefined && pre.resourceVersion !== current.metadata?.resourceVersion) {
          return conflict(kind, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata?.resourceVersion ?? ''}`);
        }
        if (!dryRun) store.delete(kind.plural, namespace ?? '', name, kind.group);
        return {
          status: 200,
          body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { ...details(kind, name), uid: current.metadata?.uid } },
        };
      }
      default:
        return kubeStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
  }

  function checkBody(kind: FakeKind, namespace: string, body: unknown): { obj: KubeObject } | { error: FakeResponse } {
    const fail = (r: FakeResponse): { error: FakeResponse } => ({ error: r });
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail(kubeStatus(400, 'BadRequest', 'the request body must be a JSON object'));
    const obj = clone(body) as KubeObject;
    if (obj.kind !== undefined && obj.kind !== kind.kind) {
      return fail(kubeStatus(400, 'BadRequest', `the kind of the provided object (${obj.kind}) does not match the kind of the resource (${kind.kind})`));
    }
    const ns = obj.metadata?.namespace;
    if (kind.namespaced && ns !== undefined && ns !== '' && ns !== namespace) {
      return fail(kubeStatus(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    }
    if (kind.plural === 'secrets') {
      for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, unknown>)) {
        if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
          return fail(kubeStatus(400, 'BadRequest', `Secret in version "v1" cannot be handled as a Secret: illegal base64 data in data[${JSON.stringify(k)}]`));
        }
      }
    }
    return { obj };
  }

  const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

  function create(kind: FakeKind, namespace: string, body: unknown, dryRun: boolean): FakeResponse {
    const checked = checkBody(kind, namespace, body);
    if ('error' in checked) return checked.error;
    const o = checked.obj;
    const meta = { ...o.metadata };
    let name = meta.name ?? '';
    if (name === '' && meta.generateName) name = `${meta.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
    if (name === '') return invalid(kind, '', 'metadata.name', 'Required value: name or generateName is required');
    if (name.length > 253 || !NAME_RE.test(name)) {
      return invalid(kind, name, 'metadata.name', `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`);
    }
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
      return kubeStatus(500, 'InternalError', 'resourceVersion should not be set on objects to be created');
    }
    if (store.get(kind.plural, namespace, name, kind.group)) {
      return kubeStatus(409, 'AlreadyExists', `${resourceName(kind)} "${name}" already exists`, details(kind, name));
    }
    meta.name = name;
    if (kind.namespaced) meta.namespace = namespace;
    const toStore: KubeObject = { ...o, metadata: meta };
    if (dryRun) {
      const preview = withType(kind, { ...toStore, metadata: { ...meta, uid: randomUUID(), creationTimestamp: new Date().toISOString() } });
      if (kind.plural === 'secrets') normalizeSecret(preview);
      return { status: 201, body: preview };
    }
    return { status: 201, body: store.write(kind, namespace, toStore, undefined) };
  }

  function update(kind: FakeKind, namespace: string, name: string, body: unknown, dryRun: boolean): FakeResponse {
    const checked = checkBody(kind, namespace, body);
    if ('error' in checked) return checked.error;
    const o = checked.obj;
    const bodyName = o.metadata?.name;
    if (bodyName !== undefined && bodyName !== name) {
      return kubeStatus(400, 'BadRequest', `the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    }
    const current = store.get(kind.plural, namespace, name, kind.group);
    if (!current) return notFound(kind, name);
    const rv = o.metadata?.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== current.metadata?.resourceVersion) {
      return conflict(kind, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const uid = o.metadata?.uid;
    if (uid !== undefined && uid !== '' && uid !== current.metadata?.uid) {
      return conflict(kind, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${current.metadata?.uid ?? ''}`);
    }
    const next: KubeObject = { ...o, metadata: { ...o.metadata, name, ...(kind.namespaced ? { namespace } : {}) } };
    if (kind.plural === 'secrets') normalizeSecret(next);
    if ((kind.plural === 'secrets' || kind.plural === 'configmaps') && current.immutable === true) {
      for (const field of ['data', 'binaryData', 'immutable']) {
        if (JSON.stringify(next[field] ?? null) !== JSON.stringify(current[field] ?? null)) {
          return invalid(kind, name, field, 'Forbidden: field is immutable when `immutable` is set');
        }
      }
    }
    if (dryRun) return { status: 200, body: withType(kind, { ...next, metadata: { ...next.metadata, uid: current.metadata?.uid ?? '', resourceVersion: current.metadata?.resourceVersion ?? '' } }) };
    return { status: 200, body: store.write(kind, namespace, next, current) };
  }

  function startWatch(rec: RecordedRequest, res: ServerResponse): void {
    const target = parsePath(rec.path) as Target;
    const inScope = (e: WatchEvent): boolean =>
      e.kind === target.kind && (!target.kind.namespaced || target.namespace === undefined || e.object.metadata?.namespace === target.namespace) && matchesSelectors(e.object, rec.query);
    rec.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    watches.add(res);
    const write = (type: string, object: unknown): void => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const from = rec.query.resourceVersion;
    if (from === undefined || from === '' || from === '0') {
      for (const o of store.list(target.kind.plural, target.namespace, target.kind.group)) if (matchesSelectors(o, rec.query)) write('ADDED', o);
    } else {
      const since = Number(from);
      const oldest = store.events[0]?.rv ?? store.resourceVersion + 1;
      if (!Number.isFinite(since) || since < oldest - 1) {
        write('ERROR', kubeStatus(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`).body);
        res.end();
        watches.delete(res);
        return;
      }
      for (const e of store.events) if (e.rv > since && inScope(e)) write(e.type, e.object);
    }
    const unsubscribe = store.subscribe((e) => {
      if (inScope(e)) write(e.type, e.object);
    });
    const timeout = Number(rec.query.timeoutSeconds ?? '0');
    const timer = timeout > 0 ? setTimeout(() => res.end(), Math.min(timeout, 600) * 1000) : undefined;
    res.on('close', () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      watches.delete(res);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  fake.port = typeof address === 'object' && address !== null ? address.port : 0;
  fake.url = `https://127.0.0.1:${fake.port}`;
  writeFileSync(fake.caPath, caPem);
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: fake.url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'fake', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: options.contextNamespace ?? 'default' } }],
    'current-context': 'fake',
  };
  writeFileSync(fake.kubeconfigPath, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });
  return fake;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** `labelSelector` (`k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`) and `fieldSelector` on name/namespace. */
function matchesSelectors(obj: KubeObject, query: Record<string, string>): boolean {
  const labels = obj.metadata?.labels ?? {};
  const ls = query.labelSelector;
  if (ls !== undefined && ls !== '') {
    for (const term of splitSelector(ls)) {
      const set = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
      if (set) {
        const values = (set[3] ?? '').split(',').map((v) => v.trim());
        const has = (set[1] as string) in labels && values.includes(labels[set[1] as string] as string);
        if (set[2] === 'in' ? !has : has) return false;
        continue;
      }
      const ne = /^([^!=]+)!=(.*)$/.exec(term);
      if (ne) {
        if (labels[(ne[1] as string).trim()] === (ne[2] as string).trim()) return false;
        continue;
      }
      const eq = /^([^!=]+)==?(.*)$/.exec(term);
      if (eq) {
        if (labels[(eq[1] as string).trim()] !== (eq[2] as string).trim()) return false;
        continue;
      }
      if (term.startsWith('!')) {
        if (term.slice(1).trim() in labels) return false;
        continue;
      }
      if (!(term.trim() in labels)) return false;
    }
  }
  const fs = query.fieldSelector;
  if (fs !== undefined && fs !== '') {
    for (const term of fs.split(',')) {
      const m = /^([^!=]+)(!=|==?)(.*)$/.exec(term);
      if (!m) return false;
      const field = (m[1] as string).trim();
      const actual = field === 'metadata.name' ? obj.metadata?.name : field === 'metadata.namespace' ? obj.metadata?.namespace : undefined;
      const equal = actual === (m[3] as string).trim();
      if (m[2] === '!=' ? equal : !equal) return false;
    }
  }
  return true;
}

function splitSelector(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}
