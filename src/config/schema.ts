/**
 * The configuration schema: one zod schema that is also the {@link Config} type (Flyte: `secret/config/config.go`).
 *
 * Sections `webhook`, `secrets` and `cache` use Flyte's exact keys and defaults, so a Flyte config file loads
 * unchanged. Everything flyte-secrets adds beyond Flyte lives in its own section, `flyteSecrets`, so the Flyte
 * sections never carry keys Flyte does not know. Other top-level sections (Flyte's `propeller`, `logger`, …) are
 * ignored; unknown keys inside the sections read here are errors, so a typo never silently falls back to a default.
 *
 * @module
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { redisOptionsSchema } from './redis-options.js';

/** Build a case-insensitive enum the way flytestdlib's enumer does: exact name first, then lower-cased name. */
function flyteEnum<const T extends readonly [string, ...string[]]>(typeName: string, values: T) {
  return z.unknown().transform((raw, ctx): T[number] => {
    if (typeof raw !== 'string') {
      ctx.addIssue({ code: 'custom', message: `${typeName} should be a string, got ${JSON.stringify(raw)}` });
      return z.NEVER;
    }
    const exact = values.find((v) => v === raw);
    if (exact !== undefined) return exact;
    const folded = values.find((v) => v.toLowerCase() === raw.toLowerCase());
    if (folded !== undefined) return folded;
    ctx.addIssue({ code: 'custom', message: `${raw} does not belong to ${typeName} values (${values.join(', ')})` });
    return z.NEVER;
  });
}

/** Secret manager types, in Flyte's enum order (`Global`=0 … `Azure`=6). */
export const SECRET_MANAGER_TYPES = ['Global', 'K8s', 'AWS', 'GCP', 'Vault', 'Embedded', 'Azure'] as const;
export type SecretManagerType = (typeof SECRET_MANAGER_TYPES)[number];

/** Backends of the Embedded secret manager. */
export const EMBEDDED_TYPES = ['AWS', 'GCP', 'Azure', 'K8s'] as const;
export type EmbeddedSecretManagerType = (typeof EMBEDDED_TYPES)[number];

const secretManagerType = flyteEnum('SecretManagerType', SECRET_MANAGER_TYPES);
const embeddedType = flyteEnum('EmbeddedSecretManagerType', EMBEDDED_TYPES);
const kvVersion = z
  .union([z.string(), z.number()])
  .transform((raw, ctx): '1' | '2' => {
    const s = String(raw);
    if (s === '1' || s === '2') return s;
    ctx.addIssue({ code: 'custom', message: `${s} does not belong to KVVersion values (1, 2)` });
    return z.NEVER;
  });

/** A Go duration string such as `30s`, `1h30m`, `24h`; parsed to milliseconds. */
const duration = z.union([z.string(), z.number()]).transform((raw, ctx): number => {
  if (typeof raw === 'number') {
    if (Number.isFinite(raw) && raw >= 0) return raw;
    ctx.addIssue({ code: 'custom', message: `a duration must be a non-negative number of milliseconds or a string like "30s", got ${raw}` });
    return z.NEVER;
  }
  const ms = parseDuration(raw);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a duration: write it like "30s", "5m" or "1h30m"` });
    return z.NEVER;
  }
  return ms;
});

/** A Kubernetes resource quantity ("200m", "500Mi", 1). */
const quantity = z.union([z.string().regex(/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[munkMGTPE])?$/, 'not a Kubernetes quantity (e.g. "200m", "500Mi")'), z.number()]);
const resourceList = z.record(z.string(), quantity);

/** Kubernetes `ResourceRequirements` JSON shape. */
const resources = (cpu: string, memory: string) =>
  z
    .strictObject({
      requests: resourceList.optional(),
      limits: resourceList.optional(),
    })
    .prefault({ requests: { cpu, memory }, limits: { cpu, memory } });

/** A Kubernetes `LabelSelector`, copied verbatim into the webhook configuration. */
const labelSelector = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string(),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

const port = z.number().int().min(0).max(65535);

const kubeClientConfig = (qps: number, burst: number, timeout: string) =>
  z
    .strictObject({
      qps: z.number().int().min(0).default(qps),
      burst: z.number().int().min(0).default(burst),
      timeout: duration.prefault(timeout),
    })
    .prefault({});

/** Section `webhook` (Flyte v2 `secret/config/config.go`). */
export const webhookSchema = z
  .strictObject({
    'metrics-prefix': z.string().default('flyte:'),
    certDir: z.string().default('/etc/webhook/certs'),
    localCert: z.boolean().default(false),
    listenPort: port.default(9443),
    cacheInvalidationPort: port.default(9444),
    serviceName: z.string().min(1).default('flyte-pod-webhook'),
    servicePort: port.default(443),
    secretName: z.string().min(1).default('flyte-pod-webhook'),
    /** Deprecated: used only when `secretManagerTypes` is empty. */
    secretManagerType: secretManagerType.prefault('Embedded'),
    secretManagerTypes: z.array(secretManagerType).default([]),
    awsSecretManager: z
      .strictObject({
        sidecarImage: z.string().min(1).default('docker.io/amazon/aws-secrets-manager-secret-sidecar:v0.1.4'),
        resources: resources('200m', '500Mi'),
      })
      .prefault({}),
    gcpSecretManager: z
      .strictObject({
        sidecarImage: z.string().min(1).default('gcr.io/google.com/cloudsdktool/cloud-sdk:alpine'),
        resources: resources('200m', '500Mi'),
      })
      .prefault({}),
    azureSecretManager: z
      .strictObject({
        sidecarImage: z.string().min(1).default('mcr.microsoft.com/azure-cli:cbl-mariner2.0'),
        resources: resources('200m', '500Mi'),
      })
      .prefault({}),
    vaultSecretManager: z
      .strictObject({
        role: z.string().default('flyte'),
        kvVersion: kvVersion.prefault('2'),
        annotations: z.record(z.string(), z.string()).default({}),
      })
      .prefault({}),
    embeddedSecretManagerConfig: z
      .strictObject({
        type: embeddedType.prefault('K8s'),
        awsConfig: z.strictObject({ region: z.string().default('') }).prefault({}),
        gcpConfig: z.strictObject({ project: z.string().default('') }).prefault({}),
        azureConfig: z.strictObject({ vaultURI: z.string().default('') }).prefault({}),
        k8sConfig: z
          .strictObject({
            namespace: z.string().default('flyte'),
            kubeClientConfig: kubeClientConfig(0, 0, '0s'),
          })
          .prefault({}),
        fileMountInitContainer: z
          .strictObject({
            image: z.string().min(1).default('public.ecr.aws/docker/library/busybox:latest'),
            resources: resources('100m', '100Mi'),
            containerName: z.string().min(1).default('init-embedded-secret'),
          })
          .prefault({}),
        imagePullSecrets: z.strictObject({ enabled: z.boolean().default(false) }).prefault({}),
      })
      .prefault({}),
    imageBuilderConfig: z
      .strictObject({
        enabled: z.boolean().default(false),
        hostnameReplacement: z
          .strictObject({
            existing: z.string().default(''),
            replacement: z.string().default(''),
            disableVerification: z.boolean().default(false),
          })
          .prefault({}),
        labelSelector: labelSelector.default({}),
        excludedContainerNames: z.array(z.string()).default(['init-embedded-secret']),
        excludedImagePrefixes: z.array(z.string()).default([]),
      })
      .prefault({}),
    /** Seconds. Flyte never applies it; flyte-secrets writes it into the webhook's `timeoutSeconds`. */
    webhookTimeout: z.number().int().min(1).max(30).default(30),
    disableCreateMutatingWebhookConfig: z.boolean().default(false),
    namespaceSelector: labelSelector.nullable().default(null),
    kubeClientConfig: kubeClientConfig(100, 25, '30s'),
    secretEnvVarPrefix: z.string().default('_UNION_'),
  })
  .prefault({});

/** Section `secrets`: the Global injector's provider (Flyte `secretmanager/config.go`). */
export const secretsSchema = z
  .strictObject({
    type: z.string().default('local'),
    'secrets-prefix': z.string().default('/etc/secrets'),
    'env-prefix': z.string().default('FLYTE_SECRET_'),
  })
  .prefault({});

/** Section `cache`: flytestdlib's cache, used for the Embedded manager's secret cache. */
export const cacheSchema = z
  .strictObject({
    type: z.enum(['InMemoryFixedSize', 'Redis']).default('InMemoryFixedSize'),
    inMemoryFixedSize: z
      .strictObject({
        size: z.union([z.string(), z.number()]).default('100M'),
        defaultExpiration: duration.prefault('24h'),
      })
      .prefault({}),
    redis: z
      .strictObject({
        defaultExpiration: duration.prefault('24h'),
        /** go-redis Options as Flyte copies them; field names match case-insensitively (src/config/redis-options.ts). */
        options: redisOptionsSchema,
      })
      .prefault({}),
  })
  .prefault({});

/** Section `flyteSecrets`: what flyte-secrets adds beyond Flyte. Every key is optional. */
export const extensionsSchema = z
  .strictObject({
    /** Webhook server hardening and behaviour. */
    server: z
      .strictObject({
        /** Address the HTTPS server binds to. */
        host: z.string().default('0.0.0.0'),
        /** Largest AdmissionReview body accepted, in bytes (Kubernetes sends at most 3 MiB). */
        maxBodyBytes: z.number().int().min(1024).default(3 * 1024 * 1024),
        /** Time allowed for a request's headers and body to arrive. */
        requestTimeout: duration.prefault('10s'),
        /** Time given to requests in flight after SIGTERM. */
        shutdownGrace: duration.prefault('25s'),
        /** Lowest TLS version accepted. */
        minTlsVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
        /** Log level (pino). Secret values are never logged at any level. */
        logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** Most admissions handled at once; more are answered 429 so the API server retries elsewhere. */
        maxConcurrentAdmissions: z.number().int().min(1).default(256),
      })
      .prefault({}),
    /** MutatingWebhookConfiguration fields Flyte does not set. */
    registration: z
      .strictObject({
        failurePolicy: z.enum(['Fail', 'Ignore']).default('Fail'),
        reinvocationPolicy: z.enum(['Never', 'IfNeeded']).default('IfNeeded'),
      })
      .prefault({}),
    /** Certificates made by `certs init`. */
    certs: z
      .strictObject({
        validity: duration.prefault('8760h'),
        renewBefore: duration.prefault('720h'),
      })
      .prefault({}),
    /** The Azure sidecar injector and the Key Vault client. */
    azure: z
      .strictObject({
        /** Key Vault DNS suffixes accepted in secret URIs, besides public, China and US Gov. */
        extraVaultDnsSuffixes: z.array(z.string().min(1)).default([]),
        /** Keep the SDK's challenge-resource check on even for loopback vaults (off only if set true here). */
        disableChallengeResourceVerification: z.boolean().default(false),
        /** How a Key Vault value that is not Flyte's JSON envelope is read: as a string, or refused as Flyte does. */
        plainValues: z.enum(['string', 'reject']).default('string'),
        /** Add a warning to the admission response when the pod shows no sign of Azure workload identity. */
        warnWithoutWorkloadIdentity: z.boolean().default(true),
        /** How Key Vault secrets reach the pod: `cli`, Flyte's Azure CLI init container per secret; `agent`, one `flyte-secrets agent` init container for all of them. */
        delivery: z.enum(['cli', 'agent']).default('cli'),
      })
      .prefault({}),
    /** The in-pod agent (`flyteSecrets.azure.delivery: agent`): one init container that fetches all of a pod's secrets. */
    agent: z
      .strictObject({
        /** The agent's image: this product's own image (the webhook's), whose entrypoint runs the CLI. */
        image: z.string().min(1).default('flyte-secrets:0.1.0'),
        /** The agent container's resources (measured: see docs/operations.md, "The in-pod agent"). */
        resources: z
          .strictObject({ requests: resourceList.optional(), limits: resourceList.optional() })
          .prefault({ requests: { cpu: '500m', memory: '80Mi' }, limits: { cpu: '1', memory: '128Mi' } }),
        /** The agent's overall deadline (`--deadline`), retries included; the init container fails after it. */
        deadline: duration.prefault('2m'),
      })
      .prefault({}),
    /** Deliver Azure ENV_VAR secrets as Kubernetes env files (`fileKeyRef`; needs delivery `agent` and Kubernetes 1.35, or 1.34 with the EnvFiles gate). */
    envFiles: z.boolean().default(false),
    /** The Embedded manager's scope checks. */
    embedded: z
      .strictObject({
        /** Refuse pods whose organization/project/domain labels do not match their namespace (off = trust labels, as Flyte). */
        enforceNamespaceScope: z.boolean().default(true),
        /** Namespace of a (project, domain) pair; `{project}`, `{domain}` and `{org}` are replaced. Must contain `{project}`. */
        namespaceTemplate: z
          .string()
          .default('{project}-{domain}')
          .refine((t) => t.includes('{project}'), 'must contain {project}, else every project could be used from one namespace'),
        /** The `organization` label every pod must carry when namespaceTemplate has no `{org}` (Flyte's OSS org is `flyte`). */
        organization: z.string().min(1).default('flyte'),
        /** inline: values in the pod spec, as Flyte. agent: the agent init container fetches them from the broker at pod start. */
        delivery: z.enum(['inline', 'agent']).default('inline'),
      })
      .prefault({}),
    /** The broker: the webhook's HTTPS endpoint that serves Embedded secrets to a pod's agent (delivery: agent). */
    broker: z
      .strictObject({
        /** Path of the endpoint on the webhook's HTTPS port. */
        path: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, 'a URL path such as "/broker/v1/secrets"').default('/broker/v1/secrets'),
        /** Audience of the agent's projected service-account token, checked by the TokenReview. */
        audience: z.string().min(1).default('flyte-secrets-broker'),
        /** Most broker requests one pod may make to one replica; more are answered 429. */
        maxRequestsPerPod: z.number().int().min(1).max(1000).default(5),
        /** Most pods whose request counts one replica keeps (the oldest are forgotten first). */
        trackedPods: z.number().int().min(100).default(20000),
      })
      .prefault({}),
    /** Cache and request budget in front of every secret fetcher. */
    fetch: z
      .strictObject({
        /** How long a not-found answer is remembered. */
        negativeCacheTtl: duration.prefault('10s'),
        /** Oldest cached value served when the backend throttles or fails. */
        staleIfErrorMaxAge: duration.prefault('1h'),
        /** Requests per 10 s allowed per vault (Key Vault's published limit is 4,000). */
        requestsPer10s: z.number().int().min(1).default(4000),
        /** Total time one admission may spend fetching, retries included (below the webhook timeout). */
        admissionBudget: duration.prefault('8s'),
        /** Time one backend call may take. */
        callTimeout: duration.prefault('3s'),
        /** Most attempts for one call, including the first. */
        maxAttempts: z.number().int().min(1).max(10).default(4),
        /** Bearer token required by the invalidation endpoint; empty = endpoint open (as in Flyte). */
        invalidationToken: z.string().default(''),
      })
      .prefault({}),
    /** The shared Redis tier (`cache.type: Redis`): what Flyte's `cache.redis.options` cannot say. */
    redis: z
      .strictObject({
        /** Prefix of every Redis key and channel this webhook uses. */
        keyPrefix: z.string().min(1).default('flyte-secrets:'),
        /** File with the cache encryption key(s), used when env FLYTE_SECRETS_CACHE_KEY is empty. */
        encryptionKeyFile: z.string().default(''),
        /** Lifetime of the in-process tier in front of Redis. */
        memoryTtl: duration.prefault('10s'),
        /** Longest time one replica holds the right to read a secret for all; a dead holder blocks no longer. */
        leaseTtl: duration.prefault('5s'),
        /** Time one Redis command may take before the replica reads the backend directly. */
        operationTimeout: duration.prefault('500ms'),
        tls: z
          .strictObject({
            enabled: z.boolean().default(false),
            caFile: z.string().default(''),
            serverName: z.string().default(''),
            insecureSkipVerify: z.boolean().default(false),
          })
          .prefault({}),
        /** Microsoft Entra ID (Azure Managed Redis, Azure Cache for Redis) through workload identity. */
        entraId: z
          .strictObject({
            enabled: z.boolean().default(false),
            clientId: z.string().default(''),
          })
          .prefault({}),
      })
      .prefault({}),
  })
  .prefault({});

/** The whole configuration. Unknown top-level sections are ignored (Flyte config files carry many). */
export const configSchema = z.looseObject({
  webhook: webhookSchema,
  secrets: secretsSchema,
  cache: cacheSchema,
  flyteSecrets: extensionsSchema,
});

/** The validated configuration, defaults filled in. Durations are milliseconds. */
export type Config = z.output<typeof configSchema>;
/** What a config file may contain. */
export type ConfigInput = z.input<typeof configSchema>;
export type WebhookConfig = Config['webhook'];

/**
 * The ordered secret-manager chain (Flyte: `secret/secrets_pod_mutator.go`): Global first, then `secretManagerTypes`, or the deprecated
 * single `secretManagerType` when the list is empty. Duplicates are dropped (Flyte runs them twice; see docs).
 */
export function enabledManagers(webhook: WebhookConfig): SecretManagerType[] {
  const configured = webhook.secretManagerTypes.length > 0 ? webhook.secretManagerTypes : [webhook.secretManagerType];
  const chain: SecretManagerType[] = ['Global'];
  for (const t of configured) if (!chain.includes(t)) chain.push(t);
  return chain;
}
