/**
 * A stand-in for the Kubernetes API server, for end-to-end tests of the webhook (no kube-apiserver can run here).
 *
 * It does what the API server does with a mutating webhook: it makes a CA and a serving certificate
 * (`generateCertificates`, as `certs init` would), writes `tls.crt`/`tls.key` into a temporary `certDir`, starts
 * the webhook on a free port, and posts AdmissionReviews over TLS trusting **only** that CA, with the SNI name the
 * Service would have (`<svc>.<ns>.svc`). It applies the returned JSONPatch, validates the resulting pod against the
 * Kubernetes schema (kubernetes-models), and re-admits the mutated pod to check that nothing changes (reinvocation).
 *
 * @module
 */
import 'reflect-metadata';
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pod as PodModel } from 'kubernetes-models/v1/Pod';
import { parseConfig } from '../../src/config/load.js';
import type { Config, SecretManagerType } from '../../src/config/schema.js';
import type { SecretInjector } from '../../src/inject/injector.js';
import { buildInjectors, createMutator, type InjectorDeps, type PodMutator } from '../../src/inject/mutator.js';
import { applyPatch, type JsonPatchOp } from '../../src/inject/patch.js';
import { generateCertificates, writeCertificateFiles } from '../../src/webhook/certs.js';
import type { Registry } from 'prom-client';
import type { Broker } from '../../src/webhook/broker.js';
import { createLogger, type Logger } from '../../src/webhook/logger.js';
import { createWebhookMetrics } from '../../src/webhook/metrics.js';
import type { AdmissionResponse, AdmissionReview } from '../../src/webhook/review.js';
import { MUTATE_PATH, startWebhookServer, type WebhookServer } from '../../src/webhook/server.js';

/** Options of {@link startApiServerHarness}. */
export interface HarnessOptions {
  /** Raw config (as in a file); `webhook.certDir` and `flyteSecrets.server.host` are filled in. */
  config?: Record<string, unknown>;
  /** Deps of `buildInjectors` (e.g. `env` for the Global injector). */
  deps?: InjectorDeps;
  /** Use this mutator instead of `createMutator(config, buildInjectors(config, deps))`. */
  mutator?: PodMutator;
  /** Default: captured lines, see {@link ApiServerHarness.logs}. */
  logger?: Logger;
  /** Service the certificate is made for (default `flyte-pod-webhook` in `flyte`). */
  serviceName?: string;
  namespace?: string;
  /** Passed to the server (default 200 ms so reload tests are quick). */
  tlsPollIntervalMs?: number;
  /** Start the invalidation server on a free port too. */
  invalidation?: boolean;
  /** Serve a broker (made from the parsed config) on the same port; its metrics go on the server's registry. */
  broker?: (ctx: { config: Config; logger: Logger; registry: Registry; mutator: PodMutator; injectors: ReadonlyMap<SecretManagerType, SecretInjector> | undefined }) => Broker;
}

/** An HTTP answer. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** ALPN protocol negotiated on the connection. */
  alpn: string | false | null;
}

/** Options of {@link ApiServerHarness.post}. */
export interface PostOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** Send with `transfer-encoding: chunked` (no content-length), in pieces of this size. */
  chunkSize?: number;
}

/** Options of {@link buildReview} / {@link ApiServerHarness.admit}. */
export interface ReviewOptions {
  apiVersion?: 'admission.k8s.io/v1' | 'admission.k8s.io/v1beta1';
  uid?: string;
  namespace?: string;
  operation?: string;
  dryRun?: boolean;
  kind?: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
}

/** The outcome of one admission, as the API server would see it. */
export interface Admission {
  review: AdmissionReview;
  response: AdmissionResponse;
  /** The decoded patch, `[]` when none. */
  patch: JsonPatchOp[];
  /** The pod after the patch (validated against the Pod schema when a patch was applied). */
  pod: Pod;
}

/** A running harness. */
export interface ApiServerHarness {
  readonly config: Config;
  readonly server: WebhookServer;
  readonly port: number;
  readonly mutator: PodMutator;
  readonly injectors: ReadonlyMap<SecretManagerType, SecretInjector> | undefined;
  readonly certDir: string;
  /** The CA the client trusts. */
  readonly caPem: string;
  /** The SNI / DNS name the client asks for. */
  readonly serverName: string;
  /** Log lines written by the server (when no logger was given). */
  readonly logs: Record<string, unknown>[];
  /** Raw request to the webhook over TLS. */
  post(body: string | Buffer | object | undefined, options?: PostOptions): Promise<HttpAnswer>;
  /**
   * Admit `pod` as the API server would: post the review, apply the patch, validate the pod, and (unless
   * `checkIdempotent` is false) admit the mutated pod again and fail if anything would change.
   */
  admit(pod: Pod, options?: ReviewOptions & { checkIdempotent?: boolean }): Promise<Admission>;
  /** SHA-256 fingerprint of the certificate a new TLS connection is served. */
  servedFingerprint(options?: Partial<ConnectionOptions>): Promise<string>;
  /** Write a new serving certificate signed by the same CA into certDir; returns its fingerprint. */
  rotateServingCertificate(): Promise<string>;
  close(): Promise<void>;
}

/** Build an AdmissionReview for a pod. */
export function buildReview(pod: unknown, options: ReviewOptions = {}): AdmissionReview {
  const request: Record<string, unknown> = {
    uid: options.uid ?? randomUUID(),
    kind: options.kind ?? { group: '', version: 'v1', kind: 'Pod' },
    resource: options.resource ?? { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    requestResource: { group: '', version: 'v1', resource: 'pods' },
    namespace: options.namespace ?? 'flytesnacks-development',
    operation: options.operation ?? 'CREATE',
    userInfo: { username: 'system:serviceaccount:flyte:flytepropeller', groups: ['system:serviceaccounts'] },
    object: pod,
    oldObject: null,
    dryRun: options.dryRun ?? false,
    options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
  };
  return { apiVersion: options.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', request } as unknown as AdmissionReview;
}

/** Validate a pod against the Kubernetes Pod schema; throws with the schema's message when invalid. */
export function validatePod(pod: Pod): void {
  new PodModel(pod as ConstructorParameters<typeof PodModel>[0]).validate();
}

/** Decode the base64 patch of a response (`[]` when none). */
export function decodePatch(response: AdmissionResponse): JsonPatchOp[] {
  if (response.patch === undefined) return [];
  if (response.patchType !== 'JSONPatch') throw new Error(`patch without patchType JSONPatch: ${String(response.patchType)}`);
  return JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as JsonPatchOp[];
}

/** Start the webhook and a client that plays the API server. Close it in `afterAll`. */
export async function startApiServerHarness(options: HarnessOptions = {}): Promise<ApiServerHarness> {
  const serviceName = options.serviceName ?? 'flyte-pod-webhook';
  const namespace = options.namespace ?? 'flyte';
  const serverName = `${serviceName}.${namespace}.svc`;
  const certDir = mkdtempSync(join(tmpdir(), 'flyte-secrets-harness-'));
  const validityMs = 24 * 3600_000;
  const bundle = await generateCertificates({ serviceName, namespace, validityMs });
  writeCertificateFiles(certDir, bundle);

  const raw = structuredClone(options.config ?? {}) as { webhook?: Record<string, unknown>; flyteSecrets?: { server?: Record<string, unknown> } & Record<string, unknown> };
  raw.webhook = { ...raw.webhook, certDir };
  raw.flyteSecrets = { ...raw.flyteSecrets, server: { host: '127.0.0.1', ...raw.flyteSecrets?.server } };
  const config = parseConfig(raw, '(harness)');

  const logs: Record<string, unknown>[] = [];
  const logger = options.logger ?? createLogger({ level: 'debug', destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } });
  let injectors: ReadonlyMap<SecretManagerType, SecretInjector> | undefined;
  let mutator = options.mutator;
  if (mutator === undefined) {
    injectors = buildInjectors(config, options.deps ?? {});
    mutator = createMutator(config, injectors);
  }
  const metrics = createWebhookMetrics();
  const broker = options.broker?.({ config, logger, registry: metrics.registry, mutator, injectors });
  let server: WebhookServer;
  try {
    server = await startWebhookServer({
      config,
      mutator,
      logger,
      metrics,
      ...(broker === undefined ? {} : { broker }),
      port: 0,
      tlsPollIntervalMs: options.tlsPollIntervalMs ?? 200,
      ...(options.invalidation === true && injectors !== undefined ? { injectors, invalidationPort: -1 } : {}),
    });
  } catch (err) {
    rmSync(certDir, { recursive: true, force: true });
    throw err;
  }
  const port = server.port;

  const post = (body: string | Buffer | object | undefined, opts: PostOptions = {}): Promise<HttpAnswer> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
      if (payload !== undefined && opts.chunkSize === undefined) headers['content-length'] = String(payload.length);
      let answered = false;
      const req = httpsRequest(
        // ALPNProtocols reaches tls.connect through the agent (not in @types/node's RequestOptions): offer h2 first, so
        // a server that would speak HTTP/2 shows it.
        { host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? MUTATE_PATH, headers, ca: bundle.caCert, servername: serverName, agent: false, ...({ ALPNProtocols: ['h2', 'http/1.1'] } as object) },
        (res) => {
          answered = true;
          const alpn = (res.socket as unknown as { alpnProtocol?: string | false | null }).alpnProtocol ?? null;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), alpn }));
          res.on('error', reject);
        },
      );
      // Once the server has answered (e.g. 413 before the whole body was read), a later write error is expected.
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      if (payload === undefined) {
        req.end();
      } else if (opts.chunkSize === undefined) {
        req.end(payload);
      } else {
        const size = opts.chunkSize;
        let offset = 0;
        const pump = (): void => {
          while (offset < payload.length && !answered && !req.destroyed) {
            const piece = payload.subarray(offset, offset + size);
            offset += piece.length;
            if (!req.write(piece)) {
              req.once('drain', pump);
              return;
            }
          }
          if (!answered && !req.destroyed) req.end();
        };
        pump();
      }
    });

  const admitOnce = async (pod: Pod, opts: ReviewOptions): Promise<Admission> => {
    const review = buildReview(pod, opts);
    const uid = (review.request as { uid: string }).uid;
    const answer = await post(review);
    if (answer.status !== 200) throw new Error(`webhook answered HTTP ${answer.status}: ${answer.text}`);
    const back = JSON.parse(answer.text) as AdmissionReview;
    if (back.apiVersion !== review.apiVersion || back.kind !== 'AdmissionReview') throw new Error(`answer is not an AdmissionReview ${review.apiVersion}: ${answer.text}`);
    const response = back.response;
    if (response === undefined) throw new Error('answer has no response');
    if (response.uid !== uid) throw new Error(`response uid ${response.uid} does not match request uid ${uid}`);
    const patch = decodePatch(response);
    const patched = patch.length > 0 ? applyPatch(pod, patch) : pod;
    if (patch.length > 0) validatePod(patched);
    return { review: back, response, patch, pod: patched };
  };

  const admit = async (pod: Pod, opts: ReviewOptions & { checkIdempotent?: boolean } = {}): Promise<Admission> => {
    const first = await admitOnce(pod, opts);
    if (first.response.allowed && first.patch.length > 0 && opts.checkIdempotent !== false) {
      const again = await admitOnce(first.pod, { ...opts, uid: randomUUID() });
      if (!again.response.allowed || again.patch.length > 0) {
        throw new Error(`re-admitting the mutated pod changed it again: ${JSON.stringify(again.response.status ?? again.patch)}`);
      }
    }
    return first;
  };

  const servedFingerprint = (extra: Partial<ConnectionOptions> = {}): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: bundle.caCert, servername: serverName, ...extra }, () => {
        const cert = socket.getPeerX509Certificate();
        socket.end();
        if (cert === undefined) reject(new Error('no peer certificate'));
        else resolve(cert.fingerprint256);
      });
      socket.on('error', reject);
    });

  const rotateServingCertificate = async (): Promise<string> => {
    const next = await generateCertificates({ serviceName, namespace, validityMs, ca: { cert: bundle.caCert, key: bundle.caKey } });
    writeCertificateFiles(certDir, next);
    return new X509Certificate(next.tlsCert).fingerprint256;
  };

  return {
    config,
    server,
    port,
    mutator,
    injectors,
    certDir,
    caPem: bundle.caCert,
    serverName,
    logs,
    post,
    admit,
    servedFingerprint,
    rotateServingCertificate,
    async close() {
      await server.close(1000);
      rmSync(certDir, { recursive: true, force: true });
    },
  };
}
