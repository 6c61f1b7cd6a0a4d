/**
 * The configuration reference: one description per config key, and the generator of
 * `docs/configuration.md`. A test fails when a key of the schema has no description here, when a description names
 * a key the schema does not have, or when the committed document differs from what this generates.
 *
 * @module
 */
import { stringify } from 'yaml';
import { formatDuration } from './duration.js';
import { defaultConfig } from './load.js';
import type { Config } from './schema.js';

/** Keys whose values are durations (held as milliseconds, written as Go duration strings). */
export const DURATION_KEYS: ReadonlySet<string> = new Set([
  'timeout',
  'defaultExpiration',
  'requestTimeout',
  'shutdownGrace',
  'validity',
  'renewBefore',
  'negativeCacheTtl',
  'staleIfErrorMaxAge',
  'admissionBudget',
  'callTimeout',
  'memoryTtl',
  'leaseTtl',
  'operationTimeout',
]);

/** `value` (found under `key`) with its durations (milliseconds in memory) as Go duration strings, at any depth. */
function withDurationText(value: unknown, key: string): unknown {
  if (typeof value === 'number' && DURATION_KEYS.has(key)) return formatDuration(value);
  if (Array.isArray(value)) return value.map((v) => withDurationText(v, ''));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withDurationText(v, k)]));
  }
  return value;
}

/** The config as YAML; durations (milliseconds in memory) are written back as Go duration strings. */
export function configToYaml(config: Config): string {
  return stringify(withDurationText(config, ''), { lineWidth: 0 });
}

/**
 * The default config as `config defaults` prints it: every key with its default, and the chain spelled in
 * `webhook.secretManagerTypes` (what the deprecated single `secretManagerType` implies when the list is empty), so
 * the file it writes passes `config check` without a deprecation note and runs the same chain.
 */
export function defaultConfigYaml(): string {
  const config = defaultConfig();
  const { webhook } = config;
  const explicit = { ...config, webhook: { ...webhook, secretManagerTypes: webhook.secretManagerTypes.length > 0 ? webhook.secretManagerTypes : [webhook.secretManagerType] } };
  return configToYaml(explicit);
}

/** Maps whose keys are data (not config keys): their contents are documented as a whole. */
const OPAQUE = new Set([
  'webhook.awsSecretManager.resources',
  'webhook.gcpSecretManager.resources',
  'webhook.azureSecretManager.resources',
  'webhook.embeddedSecretManagerConfig.fileMountInitContainer.resources',
  'webhook.vaultSecretManager.annotations',
  'webhook.imageBuilderConfig.labelSelector',
  'webhook.namespaceSelector',
  'cache.redis.options',
]);

const FLYTE = 'Flyte';
const OURS = 'flyte-secrets';

/** [origin, description] per dot-path. */
export const CONFIG_DESCRIPTIONS: Readonly<Record<string, readonly [string, string]>> = {
  'webhook.metrics-prefix': [FLYTE, 'Metrics prefix of Flyte v1. Accepted and unused (our metrics are named `flyte_secrets_*`).'],
  'webhook.certDir': [FLYTE, 'Directory with `tls.crt` and `tls.key` for the HTTPS server (reloaded when they change) and `ca.crt` for registration. `$VAR`/`${VAR}` are expanded.'],
  'webhook.localCert': [FLYTE, '`certs init` also writes the generated `ca.crt`, `tls.crt`, `tls.key` into `certDir`.'],
  'webhook.listenPort': [FLYTE, 'Port of the HTTPS admission server (`/mutate--v1-pod`, `/healthz`, `/readyz`, `/metrics`).'],
  'webhook.cacheInvalidationPort': [FLYTE, 'Port of the plain-HTTP cache-invalidation server (`POST /invalidate-secret`); 0 disables it.'],
  'webhook.serviceName': [FLYTE, 'Name of the Service and of the MutatingWebhookConfiguration; the serving certificate carries its DNS names.'],
  'webhook.servicePort': [FLYTE, 'Service port written into the webhook configuration.'],
  'webhook.secretName': [FLYTE, 'Kubernetes Secret that holds the generated CA and serving certificate.'],
  'webhook.secretManagerType': [FLYTE, 'Deprecated single manager; used only when `secretManagerTypes` is empty. One of Global, K8s, AWS, GCP, Vault, Embedded, Azure (case-insensitive).'],
  'webhook.secretManagerTypes': [FLYTE, 'Ordered list of secret managers tried for each secret; Global is always tried first.'],
  'webhook.awsSecretManager.sidecarImage': [FLYTE, 'Image of the AWS init container `aws-pull-secret-<i>`.'],
  'webhook.awsSecretManager.resources': [FLYTE, 'Resources of the AWS init container (Kubernetes `ResourceRequirements`).'],
  'webhook.gcpSecretManager.sidecarImage': [FLYTE, 'Image of the GCP init container `gcp-pull-secret-<i>`.'],
  'webhook.gcpSecretManager.resources': [FLYTE, 'Resources of the GCP init container.'],
  'webhook.azureSecretManager.sidecarImage': [FLYTE, 'Image of the Azure init container `azure-pull-secret-<i>` (needs `az` and `sh`).'],
  'webhook.azureSecretManager.resources': [FLYTE, 'Resources of the Azure init container.'],
  'webhook.vaultSecretManager.role': [FLYTE, 'Value of the `vault.hashicorp.com/role` annotation.'],
  'webhook.vaultSecretManager.kvVersion': [FLYTE, 'KV engine version ("1" or "2") used when a secret\'s `group_version` is not kv1, kv2 or db.'],
  'webhook.vaultSecretManager.annotations': [FLYTE, 'Extra Vault Agent annotations; they override the defaults, and the pod\'s own annotations override them.'],
  'webhook.embeddedSecretManagerConfig.type': [FLYTE, 'Backend of the Embedded manager: AWS, GCP, Azure or K8s.'],
  'webhook.embeddedSecretManagerConfig.awsConfig.region': [FLYTE, 'AWS region of Secrets Manager (Embedded/AWS).'],
  'webhook.embeddedSecretManagerConfig.gcpConfig.project': [FLYTE, 'GCP project of Secret Manager (Embedded/GCP).'],
  'webhook.embeddedSecretManagerConfig.azureConfig.vaultURI': [FLYTE, 'Key Vault URL, e.g. `https://myvault.vault.azure.net/` (Embedded/Azure).'],
  'webhook.embeddedSecretManagerConfig.k8sConfig.namespace': [FLYTE, 'Namespace holding Flyte-native Kubernetes secrets (Embedded/K8s).'],
  'webhook.embeddedSecretManagerConfig.k8sConfig.kubeClientConfig.qps': [FLYTE, 'Kube client QPS for the Embedded/K8s backend; 0 = use `webhook.kubeClientConfig.qps`.'],
  'webhook.embeddedSecretManagerConfig.k8sConfig.kubeClientConfig.burst': [FLYTE, 'Kube client burst; 0 = use `webhook.kubeClientConfig.burst`.'],
  'webhook.embeddedSecretManagerConfig.k8sConfig.kubeClientConfig.timeout': [FLYTE, 'Kube client timeout; 0 = use `webhook.kubeClientConfig.timeout`.'],
  'webhook.embeddedSecretManagerConfig.fileMountInitContainer.image': [FLYTE, 'Image of the init container that writes Embedded FILE secrets (needs `sh`, `awk`, `base64`).'],
  'webhook.embeddedSecretManagerConfig.fileMountInitContainer.resources': [FLYTE, 'Resources of that init container.'],
  'webhook.embeddedSecretManagerConfig.fileMountInitContainer.containerName': [FLYTE, 'Name of that init container.'],
  'webhook.embeddedSecretManagerConfig.imagePullSecrets.enabled': [FLYTE, 'Mirror image-pull secrets found for a secret\'s scope into the pod\'s namespace and reference them.'],
  'webhook.imageBuilderConfig.enabled': [FLYTE, 'Accepted for compatibility; no open-source consumer.'],
  'webhook.imageBuilderConfig.hostnameReplacement.existing': [FLYTE, 'Accepted for compatibility; unused.'],
  'webhook.imageBuilderConfig.hostnameReplacement.replacement': [FLYTE, 'Accepted for compatibility; unused.'],
  'webhook.imageBuilderConfig.hostnameReplacement.disableVerification': [FLYTE, 'Accepted for compatibility; unused.'],
  'webhook.imageBuilderConfig.labelSelector': [FLYTE, 'Accepted for compatibility; unused.'],
  'webhook.imageBuilderConfig.excludedContainerNames': [FLYTE, 'Accepted for compatibility; unused.'],
  'webhook.imageBuilderConfig.excludedImagePrefixes': [FLYTE, 'Accepted for compatibility; unused.'],
  'webhook.webhookTimeout': [FLYTE, 'Seconds (1–30). Flyte ignores it; flyte-secrets writes it into the webhook\'s `timeoutSeconds`.'],
  'webhook.disableCreateMutatingWebhookConfig': [FLYTE, '`register` does nothing when true.'],
  'webhook.namespaceSelector': [FLYTE, 'Label selector copied verbatim into the webhook configuration; null = all namespaces.'],
  'webhook.kubeClientConfig.qps': [FLYTE, 'Kube client QPS.'],
  'webhook.kubeClientConfig.burst': [FLYTE, 'Kube client burst.'],
  'webhook.kubeClientConfig.timeout': [FLYTE, 'Kube client timeout.'],
  'webhook.secretEnvVarPrefix': [FLYTE, 'Prefix of env-var names made by Global, K8s and Embedded; also the value of `FLYTE_SECRETS_ENV_PREFIX`.'],
  'secrets.type': [FLYTE, 'Informational.'],
  'secrets.secrets-prefix': [FLYTE, 'Directory (in the webhook\'s own pod) where the Global manager looks for `<group>/<key>` files.'],
  'secrets.env-prefix': [FLYTE, 'Prefix of the webhook\'s own env vars read by the Global manager (`<prefix><GROUP>_<KEY>`).'],
  'cache.type': [FLYTE, '`InMemoryFixedSize` (one cache per replica) or `Redis` (shared by every replica: encrypted entries, one backend read across replicas, invalidation reaching every replica; see docs/redis.md).'],
  'cache.inMemoryFixedSize.size': [FLYTE, 'Accepted for compatibility; the cache is bounded by entry count instead.'],
  'cache.inMemoryFixedSize.defaultExpiration': [FLYTE, 'How long a fetched secret value is served from the cache (TTL).'],
  'cache.redis.defaultExpiration': [FLYTE, 'With `cache.type: Redis`: how long a value stays in Redis (a not-found answer: `flyteSecrets.fetch.negativeCacheTtl`).'],
  'cache.redis.options': [FLYTE, 'go-redis `Options` as Flyte copies them, names case-insensitive: `Addr` (host:port), `Network` (tcp or unix), `Username`, `Password`, `PasswordSecretName` (read like Flyte: env `<secrets.env-prefix><name>`, else file `<secrets.secrets-prefix>/<name>`), `DB`, `ClientName`, `Protocol` (2 or 3), `DialTimeout`, `ReadTimeout`/`WriteTimeout` (per command, else `flyteSecrets.redis.operationTimeout`), `MinRetryBackoff`/`MaxRetryBackoff` (reconnect back-off), `TLSConfig` (any map turns TLS on; `ServerName`, `InsecureSkipVerify` are read). Pool fields and `MaxRetries` are accepted and unused (one multiplexed connection; a failed command falls back to the backend).'],
  'flyteSecrets.server.host': [OURS, 'Address the HTTPS server binds to.'],
  'flyteSecrets.server.maxBodyBytes': [OURS, 'Largest AdmissionReview body accepted, in bytes.'],
  'flyteSecrets.server.requestTimeout': [OURS, 'Time allowed for a request\'s headers and body to arrive.'],
  'flyteSecrets.server.shutdownGrace': [OURS, 'Time given to requests in flight after SIGTERM.'],
  'flyteSecrets.server.minTlsVersion': [OURS, 'Lowest TLS version accepted (TLSv1.2 or TLSv1.3).'],
  'flyteSecrets.server.logLevel': [OURS, 'Log level. Secret values are never logged at any level.'],
  'flyteSecrets.server.maxConcurrentAdmissions': [OURS, 'Admissions handled at once; beyond it the server answers 429 and the API server retries.'],
  'flyteSecrets.registration.failurePolicy': [OURS, '`failurePolicy` of the webhook (Fail or Ignore).'],
  'flyteSecrets.registration.reinvocationPolicy': [OURS, '`reinvocationPolicy` of the webhook (Never or IfNeeded).'],
  'flyteSecrets.certs.validity': [OURS, 'Validity of certificates made by `certs init`.'],
  'flyteSecrets.certs.renewBefore': [OURS, '`certs init` renews a certificate with less than this left.'],
  'flyteSecrets.azure.extraVaultDnsSuffixes': [OURS, 'Key Vault DNS suffixes accepted in secret URIs besides vault.azure.net, vault.azure.cn, vault.usgovcloudapi.net and vault.microsoftazure.de.'],
  'flyteSecrets.azure.disableChallengeResourceVerification': [OURS, 'Turn off the Azure SDK\'s challenge-resource check for a non-loopback vault (it is relaxed automatically for loopback only).'],
  'flyteSecrets.azure.plainValues': [OURS, 'A Key Vault value that is not Flyte\'s JSON envelope: `string` reads it as text, `reject` refuses it as Flyte does.'],
  'flyteSecrets.azure.warnWithoutWorkloadIdentity': [OURS, 'Warn in the admission response when a pod gets an Azure init container but shows no sign of workload identity.'],
  'flyteSecrets.azure.delivery': [OURS, 'How Key Vault secrets reach the pod: `cli`, Flyte\'s Azure CLI init container per secret (byte for byte); `agent`, one `flyte-secrets agent` init container for all of them (docs/operations.md, "The in-pod agent").'],
  'flyteSecrets.agent.image': [OURS, 'Image of the agent init container: this product\'s own image (set it to where you pushed the webhook\'s image); its entrypoint runs the CLI.'],
  'flyteSecrets.agent.resources.requests.cpu': [OURS, 'CPU request of the agent init container (start-up is CPU-bound: see docs/operations.md).'],
  'flyteSecrets.agent.resources.requests.memory': [OURS, 'Memory request of the agent init container (measured peak RSS 70–75 MiB; at most a fifth of the 500Mi of an Azure CLI container).'],
  'flyteSecrets.agent.resources.limits.cpu': [OURS, 'CPU limit of the agent init container.'],
  'flyteSecrets.agent.resources.limits.memory': [OURS, 'Memory limit of the agent init container.'],
  'flyteSecrets.agent.deadline': [OURS, 'The agent\'s overall deadline (`--deadline`), retries included; after it the init container fails and writes nothing.'],
  'flyteSecrets.envFiles': [OURS, 'Azure ENV_VAR secrets as Kubernetes env files (`fileKeyRef`); needs `azure.delivery: agent` and Kubernetes 1.35 (1.34 with the EnvFiles gate).'],
  'flyteSecrets.embedded.enforceNamespaceScope': [OURS, 'Refuse pods whose organization/project/domain labels do not match their namespace.'],
  'flyteSecrets.embedded.namespaceTemplate': [OURS, 'Namespace of a (project, domain) pair; `{project}`, `{domain}` and `{org}` are replaced.'],
  'flyteSecrets.embedded.organization': [OURS, 'The `organization` label a pod must carry when `namespaceTemplate` has no `{org}`.'],
  'flyteSecrets.embedded.delivery': [OURS, '`inline` (Flyte): values are written into the pod spec. `agent`: no value in the pod; the agent init container fetches them from the broker at pod start (see docs/operations.md).'],
  'flyteSecrets.broker.path': [OURS, 'Path of the broker endpoint on the webhook\'s HTTPS port (`delivery: agent`).'],
  'flyteSecrets.broker.audience': [OURS, 'Audience of the agent\'s projected service-account token; the TokenReview must confirm it.'],
  'flyteSecrets.broker.maxRequestsPerPod': [OURS, 'Most broker requests one pod may make to one replica; more are answered 429.'],
  'flyteSecrets.broker.trackedPods': [OURS, 'Most pods whose request counts one replica remembers (bounded memory; the oldest are forgotten first).'],
  'flyteSecrets.fetch.negativeCacheTtl': [OURS, 'How long a not-found answer is remembered.'],
  'flyteSecrets.fetch.staleIfErrorMaxAge': [OURS, 'Oldest cached value served when the backend throttles or fails.'],
  'flyteSecrets.fetch.requestsPer10s': [OURS, 'Request budget per vault per 10 s (Key Vault allows 4,000).'],
  'flyteSecrets.fetch.admissionBudget': [OURS, 'Total time one admission may spend fetching, retries included; keep it below `webhookTimeout`.'],
  'flyteSecrets.fetch.callTimeout': [OURS, 'Time one backend call may take.'],
  'flyteSecrets.fetch.maxAttempts': [OURS, 'Most attempts for one backend call, the first included.'],
  'flyteSecrets.fetch.invalidationToken': [OURS, 'Bearer token required by `/invalidate-secret`; when empty, the `FLYTE_SECRETS_INVALIDATION_TOKEN` env var is used; both empty leave it open, as in Flyte (Flyte\'s secret service sends no token).'],
  'flyteSecrets.redis.keyPrefix': [OURS, 'Prefix of every Redis key and pub/sub channel of the shared cache.'],
  'flyteSecrets.redis.encryptionKeyFile': [OURS, 'File holding the cache encryption key(s) when env `FLYTE_SECRETS_CACHE_KEY` is empty: base64 32-byte keys, comma-separated; the first encrypts, all decrypt. With `cache.type: Redis` one of the two is required.'],
  'flyteSecrets.redis.memoryTtl': [OURS, 'Lifetime of the in-process tier in front of Redis.'],
  'flyteSecrets.redis.leaseTtl': [OURS, 'Lease of the replica reading a secret for all replicas; a replica that dies holding it blocks the others no longer than this.'],
  'flyteSecrets.redis.operationTimeout': [OURS, 'Time one Redis command may take (unless `ReadTimeout` is set); past it the replica reads the backend directly.'],
  'flyteSecrets.redis.tls.enabled': [OURS, 'Connect to Redis over TLS (Azure: port 6380 or 10000).'],
  'flyteSecrets.redis.tls.caFile': [OURS, 'Extra CA (PEM) to trust for Redis\'s certificate.'],
  'flyteSecrets.redis.tls.serverName': [OURS, 'Server name to verify, when it differs from the host of `Addr`.'],
  'flyteSecrets.redis.tls.insecureSkipVerify': [OURS, 'Skip certificate verification (tests only).'],
  'flyteSecrets.redis.entraId.enabled': [OURS, 'Authenticate to Redis with Microsoft Entra ID tokens (workload identity, managed identity or the Azure environment), refreshed before they expire.'],
  'flyteSecrets.redis.entraId.clientId': [OURS, 'Client id of the user-assigned or workload identity; default `AZURE_CLIENT_ID`.'],
};

/** Every documented leaf path of a config object, in order. */
export function configLeafPaths(value: unknown, prefix = ''): string[] {
  if (prefix !== '' && OPAQUE.has(prefix)) return [prefix];
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => configLeafPaths(v, prefix === '' ? k : `${prefix}.${k}`));
  }
  return [prefix];
}

function valueAt(root: unknown, path: string): unknown {
  let cur: unknown = root;
  for (const part of path.split('.')) cur = (cur as Record<string, unknown>)[part];
  return cur;
}

function renderDefault(path: string, value: unknown): string {
  const key = path.split('.').pop() ?? '';
  if (typeof value === 'number' && DURATION_KEYS.has(key)) return `\`${formatDuration(value)}\``;
  if (value === null) return '`null`';
  if (typeof value === 'string') return value === '' ? '`""`' : `\`${value}\``;
  const flow = stringify(withDurationText(value, key), { collectionStyle: 'flow', lineWidth: 0 }).trim();
  return `\`${flow.replace(/\|/g, '\\|')}\``;
}

/** How `serve` authenticates and whom it trusts: environment, not config keys, but looked for here. */
const CREDENTIALS_AND_TRUST = [
  '## Credentials and trust (environment, not config)',
  '',
  'No config key holds a credential. `serve` (and `secret …`, `inject`) read them from the environment, the way each',
  'cloud SDK does:',
  '',
  '- **Azure Key Vault** (`Embedded` with `embeddedSecretManagerConfig.type: Azure`, and `secret …`):',
  '  `DefaultAzureCredential`. In AKS, the Azure Workload Identity webhook sets `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,',
  '  `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_AUTHORITY_HOST` in the webhook pod (label the pod',
  '  `azure.workload.identity/use: "true"` and annotate its service account with the identity\'s client id; see',
  '  [operations.md](operations.md)). Elsewhere: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` (a',
  '  service principal), or `az login`. The identity needs the Key Vault Secrets User role on the vault',
  '  (`webhook.embeddedSecretManagerConfig.azureConfig.vaultURI`).',
  '- **AWS Secrets Manager**: the AWS SDK\'s default chain (`AWS_REGION` or `awsConfig.region`, IRSA\'s',
  '  `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, the instance role).',
  '- **GCP Secret Manager**: Application Default Credentials (GKE workload identity, `GOOGLE_APPLICATION_CREDENTIALS`).',
  '- **Kubernetes** (the `K8s` backend, image-pull mirroring, `certs init`, `register`): the in-cluster service',
  '  account, else `KUBECONFIG` or `~/.kube/config`.',
  '',
  'Trust: TLS to Key Vault, AWS, GCP and the API server uses the public CAs Node ships with. To trust a private CA',
  '(a TLS-inspecting proxy, a Key Vault emulator), set `NODE_EXTRA_CA_CERTS=/path/ca.pem` in the environment of the',
  '`serve` process: Node reads it once, at start-up. `secret …` also takes `--ca-file`. The local Key Vault',
  'emulator writes all of these for you: `flyte-secrets emulator --write-env-file FILE` (see [emulator.md](emulator.md)).',
  'The webhook\'s own serving certificate is `webhook.certDir` (below; see [certificates.md](certificates.md)).',
  '',
];

/** The Markdown of docs/configuration.md. */
export function renderConfigReference(): string {
  const defaults = defaultConfig();
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run docs:config` from src/config/reference.ts and the schema; a test fails when it is stale. -->',
    '',
    'A config file is YAML or JSON. Sections `webhook`, `secrets` and `cache` use Flyte\'s exact keys and defaults, so a',
    'Flyte config loads unchanged; other top-level sections (Flyte\'s `propeller`, `logger`, …) are ignored. What',
    'flyte-secrets adds lives in its own section, `flyteSecrets`. Unknown keys inside these four sections are errors, and',
    'every problem is reported at once with its dot-path. Enum values are case-insensitive. Durations are Go duration',
    'strings (`30s`, `5m`, `1h30m`).',
    '',
    'Check a file with `flyte-secrets config check FILE`; print all defaults with `flyte-secrets config defaults`.',
    '',
    ...CREDENTIALS_AND_TRUST,
  ];
  let section = '';
  for (const path of configLeafPaths(defaults)) {
    const top = path.split('.')[0] ?? '';
    if (top !== section) {
      section = top;
      lines.push(`## \`${top}\``, '', '| key | default | from | meaning |', '|---|---|---|---|');
    }
    const [origin, text] = CONFIG_DESCRIPTIONS[path] ?? ['?', 'UNDOCUMENTED'];
    lines.push(`| \`${path}\` | ${renderDefault(path, valueAt(defaults, path))} | ${origin} | ${text} |`);
  }
  lines.push('');
  return lines.join('\n');
}
