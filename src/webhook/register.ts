/**
 * Registering the webhook with the API server: the MutatingWebhookConfiguration (Flyte's `executor/pkg/webhook/entrypoint.go`, plus the fields Flyte
 * leaves out), where its caBundle comes from, and create-or-update with optimistic concurrency.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { AdmissionregistrationV1Api, CoreV1Api, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import type { MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations } from 'kubernetes-types/admissionregistration/v1.js';
import type { LabelSelector, OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { Config } from '../config/schema.js';
import { FlyteSecretsError } from '../errors.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE } from '../secret/annotations.js';
import { CA_CERT_KEY, MANAGED_BY_LABEL } from './certs.js';
import { isKubeStatus, kubeApiError } from './kube.js';

/** The one webhook's name inside the configuration (Flyte's constant). */
export const WEBHOOK_NAME = 'flyte-pod-webhook.flyte.org';
/** Path the API server posts AdmissionReviews to («/mutate-» + core group "" + «-v1-pod»). */
export const MUTATE_POD_PATH = '/mutate--v1-pod';

/** kubernetes-types 1.30 leaves `resources` out of `RuleWithOperations` (the API has it). */
type RuleWithResources = RuleWithOperations & { resources: string[] };

/** Options of {@link buildMutatingWebhookConfiguration}. */
export interface BuildWebhookConfigurationOptions {
  /** Namespace of the webhook Service. */
  namespace: string;
  /** The CA certificate (PEM text or bytes) the API server uses to verify the webhook; written base64-encoded. */
  caBundle: string | Uint8Array;
  /** Owners of the configuration (Flyte copies the webhook pod's). Omitted when empty. */
  ownerReferences?: OwnerReference[];
}

/**
 * The MutatingWebhookConfiguration for this webhook. As Flyte: name = `webhook.serviceName`; one webhook
 * «flyte-pod-webhook.flyte.org» calling Service `<serviceName>` in `namespace` on `webhook.servicePort` at
 * «/mutate--v1-pod»; rule CREATE on v1 pods; objectSelector `inject-flyte-secrets: "true"`; `namespaceSelector`
 * copied verbatim from the config (null → omitted = all namespaces); admissionReviewVersions [v1, v1beta1].
 * Beyond Flyte: `timeoutSeconds` = `webhook.webhookTimeout` (default 30), `failurePolicy` and `reinvocationPolicy`
 * from `flyteSecrets.registration` (defaults Fail, IfNeeded), `sideEffects` None (NoneOnDryRun when image-pull
 * secrets are mirrored, since that writes Secrets), rule apiGroups [""] (core pods only), and a managed-by label.
 * Pure: no I/O.
 *
 * @example
 * ```ts
 * const mwc = buildMutatingWebhookConfiguration(config, { namespace: 'flyte', caBundle: caPem });
 * mwc.webhooks?.[0]?.clientConfig.service?.path // '/mutate--v1-pod'
 * ```
 */
export function buildMutatingWebhookConfiguration(config: Config, options: BuildWebhookConfigurationOptions): MutatingWebhookConfiguration {
  const { webhook } = config;
  const { registration } = config.flyteSecrets;
  const ca = typeof options.caBundle === 'string' ? Buffer.from(options.caBundle, 'utf8') : Buffer.from(options.caBundle);
  if (ca.length === 0) {
    throw new FlyteSecretsError('InvalidInput', 'cannot build the MutatingWebhookConfiguration: the CA bundle is empty');
  }
  const hook: MutatingWebhook = {
    name: WEBHOOK_NAME,
    admissionReviewVersions: ['v1', 'v1beta1'],
    clientConfig: {
      caBundle: ca.toString('base64'),
      service: { name: webhook.serviceName, namespace: options.namespace, path: MUTATE_POD_PATH, port: webhook.servicePort },
    },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] } as RuleWithResources],
    failurePolicy: registration.failurePolicy,
    sideEffects: webhook.embeddedSecretManagerConfig.imagePullSecrets.enabled ? 'NoneOnDryRun' : 'None',
    timeoutSeconds: webhook.webhookTimeout,
    reinvocationPolicy: registration.reinvocationPolicy,
    objectSelector: { matchLabels: { [INJECT_LABEL]: INJECT_LABEL_VALUE } },
    ...(webhook.namespaceSelector !== null ? { namespaceSelector: structuredClone(webhook.namespaceSelector) as LabelSelector } : {}),
  };
  const owners = options.ownerReferences ?? [];
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: webhook.serviceName,
      labels: { [MANAGED_BY_LABEL]: 'flyte-secrets' },
      ...(owners.length > 0 ? { ownerReferences: structuredClone(owners) } : {}),
    },
    webhooks: [hook],
  };
}

/** What {@link applyMutatingWebhookConfiguration} did. */
export interface ApplyWebhookConfigurationResult {
  action: 'created' | 'updated';
  /** Name of the configuration. */
  name: string;
  /** Write attempts made (1 unless another writer got in the way). */
  attempts: number;
}

/**
 * Create the configuration, or, when it already exists, replace its `webhooks` (and its `ownerReferences`, when
 * `desired` has some) and update it with the `resourceVersion` just read, keeping every other field (labels,
 * annotations, …). A 409 Conflict (someone else wrote in between) or a 404 (deleted in between) starts over, at
 * most `maxAttempts` times (default 5).
 *
 * Needs `create`, `get` and `update` on `mutatingwebhookconfigurations` (cluster-scoped).
 *
 * @example
 * ```ts
 * await applyMutatingWebhookConfiguration(kc.makeApiClient(AdmissionregistrationV1Api), mwc) // { action: 'created', … }
 * ```
 */
export async function applyMutatingWebhookConfiguration(
  api: AdmissionregistrationV1Api,
  desired: MutatingWebhookConfiguration,
  options: { maxAttempts?: number } = {},
): Promise<ApplyWebhookConfigurationResult> {
  const name = desired.metadata?.name ?? '';
  if (name === '') throw new FlyteSecretsError('InvalidInput', 'the MutatingWebhookConfiguration has no metadata.name');
  const maxAttempts = options.maxAttempts ?? 5;
  const what = `MutatingWebhookConfiguration ${name}`;
  const body = desired as unknown as V1MutatingWebhookConfiguration;
  let exists = false;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (!exists) {
      try {
        await api.createMutatingWebhookConfiguration({ body });
        return { action: 'created', name, attempts: attempt };
      } catch (err) {
        if (!isKubeStatus(err, 409)) throw kubeApiError(err, `create ${what}`);
        exists = true;
      }
    }
    let current: V1MutatingWebhookConfiguration;
    try {
      current = await api.readMutatingWebhookConfiguration({ name });
    } catch (err) {
      if (isKubeStatus(err, 404)) {
        exists = false;
        continue;
      }
      throw kubeApiError(err, `read ${what}`);
    }
    const owners = desired.metadata?.ownerReferences;
    const next: V1MutatingWebhookConfiguration = {
      ...current,
      metadata: { ...current.metadata, ...(owners !== undefined && owners.length > 0 ? { ownerReferences: owners } : {}) },
      webhooks: body.webhooks ?? [],
    };
    try {
      await api.replaceMutatingWebhookConfiguration({ name, body: next });
      return { action: 'updated', name, attempts: attempt };
    } catch (err) {
      if (isKubeStatus(err, 409)) continue;
      if (isKubeStatus(err, 404)) {
        exists = false;
        continue;
      }
      throw kubeApiError(err, `update ${what}`);
    }
  }
  throw new FlyteSecretsError('KubernetesApi', `gave up updating ${what} after ${maxAttempts} attempts: it kept changing (another writer?)`);
}

/**
 * The `ownerReferences` of the webhook's own pod, to copy onto the configuration (Flyte does this when `POD_NAME`
 * and `POD_NAMESPACE` are set). Note that Kubernetes ignores a namespaced owner (such as a ReplicaSet) on a
 * cluster-scoped object for garbage collection. Needs `get` on `pods` in `namespace`.
 */
export async function podOwnerReferences(core: CoreV1Api, namespace: string, podName: string): Promise<OwnerReference[]> {
  try {
    const pod = await core.readNamespacedPod({ name: podName, namespace });
    return (pod.metadata?.ownerReferences ?? []).map((o) => {
      const ref: OwnerReference = { apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid };
      if (o.controller !== undefined) ref.controller = o.controller;
      if (o.blockOwnerDeletion !== undefined) ref.blockOwnerDeletion = o.blockOwnerDeletion;
      return ref;
    });
  } catch (err) {
    throw kubeApiError(err, `read the webhook pod ${namespace}/${podName} (for ownerReferences)`);
  }
}

/** Where {@link resolveCaBundle} looks. */
export interface CaBundleSources {
  /** `--ca-file`: wins when given. */
  caFile?: string | undefined;
  /** `webhook.certDir`: `<certDir>/ca.crt` is used when it exists. */
  certDir: string;
  /** Last resort: the webhook Secret's `ca.crt`. */
  secret?: { core: CoreV1Api; namespace: string; name: string };
}

/**
 * Find the CA bundle for the configuration: `caFile`, else `<certDir>/ca.crt`, else the webhook Secret's `ca.crt`.
 * The result must be a PEM certificate. Unlike Flyte (which registers an empty caBundle when the file is
 * missing), finding nothing is an error that says what to do.
 */
export async function resolveCaBundle(sources: CaBundleSources): Promise<{ pem: string; source: string }> {
  let pem: string;
  let source: string;
  if (sources.caFile !== undefined && sources.caFile !== '') {
    source = sources.caFile;
    pem = readText(sources.caFile, '--ca-file');
  } else if (existsSync(join(sources.certDir, CA_CERT_KEY))) {
    source = join(sources.certDir, CA_CERT_KEY);
    pem = readText(source, 'certDir');
  } else if (sources.secret !== undefined) {
    const { core, namespace, name } = sources.secret;
    source = `Secret ${namespace}/${name}`;
    let data: Record<string, string> | undefined;
    try {
      data = (await core.readNamespacedSecret({ name, namespace })).data;
    } catch (err) {
      if (isKubeStatus(err, 404)) {
        throw new FlyteSecretsError(
          'InvalidInput',
          `no CA bundle: ${join(sources.certDir, CA_CERT_KEY)} does not exist and ${source} does not exist (run \`flyte-secrets certs init\` first, or pass --ca-file)`,
          { cause: err },
        );
      }
      throw kubeApiError(err, `read ${source}`);
    }
    const b64 = data?.[CA_CERT_KEY];
    if (b64 === undefined || b64 === '') {
      throw new FlyteSecretsError('InvalidInput', `no CA bundle: ${source} has no ${CA_CERT_KEY} (run \`flyte-secrets certs init\` first, or pass --ca-file)`);
    }
    pem = Buffer.from(b64, 'base64').toString('utf8');
  } else {
    throw new FlyteSecretsError('InvalidInput', `no CA bundle: ${join(sources.certDir, CA_CERT_KEY)} does not exist (pass --ca-file)`);
  }
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new FlyteSecretsError('InvalidInput', `the CA bundle from ${source} is not a PEM certificate`, { cause: err });
  }
  return { pem, source };
}

function readText(file: string, origin: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new FlyteSecretsError('InvalidInput', `cannot read the CA bundle ${file} (${origin}): ${code === 'ENOENT' ? 'no such file' : code}`, { cause: err });
  }
}

/** Options of {@link registerWebhook}. */
export interface RegisterWebhookOptions {
  core: CoreV1Api;
  admission: AdmissionregistrationV1Api;
  /** The webhook's namespace (Service and certificate Secret). */
  namespace: string;
  /** `POD_NAME`/`POD_NAMESPACE` are read from here. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** `--ca-file`. */
  caFile?: string | undefined;
}

/** What {@link registerWebhook} did. */
export type RegisterWebhookResult =
  | { action: 'disabled' }
  | (ApplyWebhookConfigurationResult & { caSource: string; ownerReferences: number; configuration: MutatingWebhookConfiguration });

/**
 * `register` as a library call: unless `webhook.disableCreateMutatingWebhookConfig`, find the CA bundle
 * ({@link resolveCaBundle}), copy the webhook pod's ownerReferences when `POD_NAME` and `POD_NAMESPACE` are both set
 * (a failed pod read aborts, as in Flyte v2), build the configuration and create or update it.
 *
 * @example
 * ```ts
 * const r = await registerWebhook(config, { core, admission, namespace: webhookNamespace() });
 * ```
 */
export async function registerWebhook(config: Config, options: RegisterWebhookOptions): Promise<RegisterWebhookResult> {
  const { webhook } = config;
  if (webhook.disableCreateMutatingWebhookConfig) return { action: 'disabled' };
  const env = options.env ?? process.env;
  const ca = await resolveCaBundle({
    caFile: options.caFile,
    certDir: webhook.certDir,
    secret: { core: options.core, namespace: options.namespace, name: webhook.secretName },
  });
  const podName = env.POD_NAME;
  const podNamespace = env.POD_NAMESPACE;
  const ownerReferences =
    podName !== undefined && podName !== '' && podNamespace !== undefined && podNamespace !== '' ? await podOwnerReferences(options.core, podNamespace, podName) : [];
  const configuration = buildMutatingWebhookConfiguration(config, { namespace: options.namespace, caBundle: ca.pem, ownerReferences });
  const applied = await applyMutatingWebhookConfiguration(options.admission, configuration);
  return { ...applied, caSource: ca.source, ownerReferences: ownerReferences.length, configuration };
}

/** The one-line summary `register` prints. */
export function describeRegisterWebhook(r: RegisterWebhookResult, config: Config, namespace: string): string {
  if (r.action === 'disabled') {
    return 'MutatingWebhookConfiguration creation is disabled (webhook.disableCreateMutatingWebhookConfig: true); nothing to do';
  }
  const { webhook } = config;
  return (
    `${r.action} MutatingWebhookConfiguration ${r.name}: ${WEBHOOK_NAME} → service ${namespace}/${webhook.serviceName}:${webhook.servicePort}${MUTATE_POD_PATH}, ` +
    `failurePolicy ${config.flyteSecrets.registration.failurePolicy}, timeout ${webhook.webhookTimeout}s, caBundle from ${r.caSource}` +
    (r.ownerReferences > 0 ? `, ${r.ownerReferences} owner reference(s)` : '')
  );
}
