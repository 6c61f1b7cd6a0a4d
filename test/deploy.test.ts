/**
 * The deployment manifests: every kustomize target under deploy/ is rendered with `kubectl kustomize` (offline),
 * each object is validated against the Kubernetes schemas (kubernetes-models), and the invariants the webhook relies
 * on are checked across objects: config ↔ Service ↔ ports ↔ probes ↔ RBAC resourceNames ↔ mounts ↔ Dockerfile.
 *
 * kubectl (with its built-in kustomize) is required: without it these tests fail, they never skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import type { Deployment as DeploymentT } from 'kubernetes-types/apps/v1.js';
import type { Container, ContainerPort, Namespace as NamespaceT, Service as ServiceT, ServiceAccount as ServiceAccountT, ConfigMap as ConfigMapT } from 'kubernetes-types/core/v1.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { PodDisruptionBudget as PodDisruptionBudgetT } from 'kubernetes-types/policy/v1.js';
import type { ClusterRole as ClusterRoleT, PolicyRule, Role as RoleT, RoleBinding as RoleBindingT } from 'kubernetes-types/rbac/v1.js';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseConfigText } from '../src/config/load.js';
import { enabledManagers, type Config, type SecretManagerType } from '../src/config/schema.js';
import { buildProgram } from '../src/cli/main.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEPLOY = join(ROOT, 'deploy');
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const NAMESPACE = 'flyte-secrets';
const RUN_AS_USER = 65532;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** Schema validators by apiVersion/kind. A kind missing here fails the test: add its model. */
const VALIDATORS: Record<string, (o: K8sObject) => void> = {
  'v1/Namespace': (o) => new Namespace(o).validate(),
  'v1/ServiceAccount': (o) => new ServiceAccount(o).validate(),
  'v1/ConfigMap': (o) => new ConfigMap(o).validate(),
  'v1/Service': (o) => new Service(o).validate(),
  'apps/v1/Deployment': (o) => new Deployment(o).validate(),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o).validate(),
  'rbac.authorization.k8s.io/v1/Role': (o) => new Role(o).validate(),
  'rbac.authorization.k8s.io/v1/RoleBinding': (o) => new RoleBinding(o as never).validate(),
  'rbac.authorization.k8s.io/v1/ClusterRole': (o) => new ClusterRole(o).validate(),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': (o) => new ClusterRoleBinding(o as never).validate(),
};

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

/** What one kustomize target is meant to deploy. */
interface Target {
  name: string;
  /** Directory of the kustomization, relative to deploy/ (or absolute, for generated ones). */
  dir: string;
  managers: SecretManagerType[];
  embeddedType?: Config['webhook']['embeddedSecretManagerConfig']['type'];
  /** Namespace (besides flyte-secrets) where the target may grant access to Secrets: `get` only. */
  secretsNamespace?: string;
  /** Cluster-wide verbs on Secrets the target grants (image-pull mirroring). */
  clusterSecretVerbs?: string[];
  workloadIdentity?: boolean;
}

const TARGETS: Target[] = [
  { name: 'base', dir: 'base', managers: ['Global', 'K8s'] },
  { name: 'overlays/azure', dir: 'overlays/azure', managers: ['Global', 'Azure', 'Embedded'], embeddedType: 'Azure', workloadIdentity: true },
  { name: 'overlays/kubernetes', dir: 'overlays/kubernetes', managers: ['Global', 'Embedded', 'K8s'], embeddedType: 'K8s', secretsNamespace: 'flyte' },
];

function kubectl(args: string[]): string {
  const run = spawnSync(KUBECTL, args, { encoding: 'utf8', timeout: 20_000 });
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `kubectl not found (looked for "${KUBECTL}" on PATH). The deployment tests render deploy/ with ` +
            '`kubectl kustomize` (kubectl >= 1.27, kustomize built in); install kubectl or set KUBECTL to its path.'
        : `running ${KUBECTL} ${args.join(' ')} failed: ${run.error.message}`,
    );
  }
  if (run.status !== 0) throw new Error(`${KUBECTL} ${args.join(' ')} exited with ${run.status}:\n${run.stderr}`);
  return run.stdout;
}

function render(dir: string): K8sObject[] {
  const text = kubectl(['kustomize', dir]);
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir} printed invalid YAML: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}

/** Does a Kubernetes label selector select these labels? (An empty selector selects everything.) */
function selects(selector: LabelSelector | null | undefined, labels: Record<string, string>): boolean {
  if (selector === null || selector === undefined) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const values = e.values ?? [];
    const ok =
      e.operator === 'In' ? has && values.includes(value!)
      : e.operator === 'NotIn' ? !has || !values.includes(value!)
      : e.operator === 'Exists' ? has
      : e.operator === 'DoesNotExist' ? !has
      : false;
    if (!ok) return false;
  }
  return true;
}

function only<T>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}${name ? ` named ${name}` : ''}, found ${found.length}`);
  return found[0] as unknown as T;
}

function allOf<T>(objects: K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as unknown as T[];
}

interface Rendered {
  target: Target;
  objects: K8sObject[];
  config: Config;
  configMap: ConfigMapT;
  deployment: DeploymentT;
}

const rendered = new Map<string, Rendered>();
const renderError = new Map<string, unknown>();

function load(target: Target): Rendered {
  const objects = render(target.dir.startsWith('/') ? target.dir : join(DEPLOY, target.dir));
  const deployment = only<DeploymentT>(objects, 'Deployment', 'flyte-secrets');
  const configMap = only<ConfigMapT>(objects, 'ConfigMap');
  const text = configMap.data?.['config.yaml'];
  if (text === undefined) throw new Error(`${target.name}: the ConfigMap has no config.yaml`);
  const config = parseConfigText(text, `${target.name} config.yaml`, {});
  return { target, objects, config, configMap, deployment };
}

const COMPONENT_TARGET: Target = {
  name: 'overlays/kubernetes + components/image-pull-mirroring',
  dir: '', // a generated kustomization in a scratch directory, made on first use
  managers: ['Global', 'Embedded', 'K8s'],
  embeddedType: 'K8s',
  secretsNamespace: 'flyte',
  clusterSecretVerbs: ['create', 'get'],
};

const REDIS_TARGET: Target = {
  name: 'overlays/azure + components/redis-cache',
  dir: '',
  managers: ['Global', 'Azure', 'Embedded'],
  embeddedType: 'Azure',
  workloadIdentity: true,
};

/** The azure overlay plus the broker's RBAC (delivery: agent). */
const BROKER_TARGET: Target = {
  name: 'overlays/azure + components/embedded-agent-broker',
  dir: '',
  managers: ['Global', 'Azure', 'Embedded'],
  embeddedType: 'Azure',
  workloadIdentity: true,
};

const scratches: string[] = [];

/** A kustomization in a scratch directory: an overlay plus a component. */
function componentKustomization(overlay = 'overlays/kubernetes', component = 'components/image-pull-mirroring'): string {
  const dir = mkdtempSync(join(tmpdir(), 'flyte-secrets-deploy-'));
  scratches.push(dir);
  // kustomize refuses absolute paths to other kustomizations: refer to deploy/ relatively from the scratch dir.
  const rel = (p: string) => relative(dir, join(DEPLOY, p)).split('\\').join('/');
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'resources:', `  - ${rel(overlay)}`, 'components:', `  - ${rel(component)}`, ''].join('\n'),
  );
  return dir;
}

afterAll(() => {
  for (const dir of scratches) rmSync(dir, { recursive: true, force: true });
});

/**
 * Render a target once (lazily, so that a missing kubectl fails every test with its message instead of skipping
 * them, as a failing beforeAll would).
 */
function get(name: string): Rendered {
  let r = rendered.get(name);
  if (r === undefined) {
    if (renderError.has(name)) throw renderError.get(name);
    const target = [...TARGETS, COMPONENT_TARGET, REDIS_TARGET, BROKER_TARGET].find((t) => t.name === name);
    if (target === undefined) throw new Error(`unknown target ${name}`);
    try {
      if (target === COMPONENT_TARGET && target.dir === '') target.dir = componentKustomization();
      if (target === REDIS_TARGET && target.dir === '') target.dir = componentKustomization('overlays/azure', 'components/redis-cache');
      if (target === BROKER_TARGET && target.dir === '') target.dir = componentKustomization('overlays/azure', 'components/embedded-agent-broker');
      r = load(target);
    } catch (err) {
      renderError.set(name, err);
      throw err;
    }
    rendered.set(name, r);
  }
  return r;
}

function podContainers(d: DeploymentT): { init: Container[]; main: Container[]; all: Container[] } {
  const spec = d.spec!.template.spec!;
  const init = spec.initContainers ?? [];
  const main = spec.containers;
  return { init, main, all: [...init, ...main] };
}

function containerPort(d: DeploymentT, port: number | string | undefined): ContainerPort | undefined {
  const ports = podContainers(d).main.flatMap((c) => c.ports ?? []);
  return typeof port === 'number' ? ports.find((p) => p.containerPort === port) : ports.find((p) => p.name === port);
}

function mountOf(c: Container, path: string) {
  return (c.volumeMounts ?? []).find((m) => m.mountPath === path);
}

function rulesOf(objects: K8sObject[]): { scope: string; rule: PolicyRule }[] {
  const out: { scope: string; rule: PolicyRule }[] = [];
  for (const r of allOf<RoleT>(objects, 'Role')) for (const rule of r.rules ?? []) out.push({ scope: r.metadata!.namespace!, rule });
  for (const r of allOf<ClusterRoleT>(objects, 'ClusterRole')) for (const rule of r.rules ?? []) out.push({ scope: '(cluster)', rule });
  return out;
}

/** Verbs on Secrets granted without resourceNames, as "scope:verb" strings, sorted. */
function unrestrictedSecretGrants(objects: K8sObject[]): string[] {
  const grants = new Set<string>();
  for (const { scope, rule } of rulesOf(objects)) {
    if (!(rule.apiGroups ?? []).includes('') || !(rule.resources ?? []).includes('secrets')) continue;
    if ((rule.resourceNames ?? []).length > 0) continue;
    for (const v of rule.verbs) grants.add(`${scope}:${v}`);
  }
  return [...grants].sort();
}

describe('kustomize targets', () => {
  it('kubectl with built-in kustomize is available', () => {
    expect(kubectl(['version', '--client'])).toMatch(/Kustomize Version: v\d+/);
  });

  it('covers every overlay under deploy/overlays', () => {
    const overlays = readdirSync(join(DEPLOY, 'overlays'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `overlays/${e.name}`);
    expect(overlays.sort()).toEqual(TARGETS.filter((t) => t.dir.startsWith('overlays/')).map((t) => t.dir).sort());
  });

  it('the schema validation used below really rejects a broken object', () => {
    const d = structuredClone(get('base').deployment) as unknown as K8sObject & { spec: { replicas: unknown } };
    d.spec.replicas = 'two';
    expect(() => VALIDATORS['apps/v1/Deployment']!(d)).toThrow(/replicas/);
  });
});

describe.each([...TARGETS.map((t) => t.name), COMPONENT_TARGET.name, REDIS_TARGET.name, BROKER_TARGET.name])('%s', (name) => {
  it('renders objects that all pass the Kubernetes schema', () => {
    const { objects } = get(name);
    expect(objects.length).toBeGreaterThan(5);
    for (const o of objects) {
      const validate = VALIDATORS[`${o.apiVersion}/${o.kind}`];
      if (validate === undefined) throw new Error(`no schema for ${o.apiVersion} ${o.kind} (${o.metadata.name}): add it to VALIDATORS`);
      try {
        validate(o);
      } catch (err) {
        throw new Error(`${o.kind} ${o.metadata.name} is invalid: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    const keys = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('puts everything in the flyte-secrets namespace, enforcing the restricted Pod Security level', () => {
    const { objects, target } = get(name);
    const ns = only<NamespaceT>(objects, 'Namespace', NAMESPACE);
    expect(ns.metadata!.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    for (const o of objects) {
      if (CLUSTER_SCOPED.has(o.kind)) {
        expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBeUndefined();
        continue;
      }
      if (o.metadata.namespace !== NAMESPACE) {
        // Only the Role/RoleBinding that let the webhook read Flyte secrets may live elsewhere.
        expect(target.secretsNamespace, `${o.kind} ${o.metadata.name} in ${o.metadata.namespace}`).toBe(o.metadata.namespace);
        expect(['Role', 'RoleBinding']).toContain(o.kind);
      }
    }
  });

  it('ships a config that passes our validation and selects the intended managers', () => {
    const { config, target } = get(name);
    expect(enabledManagers(config.webhook)).toEqual(target.managers);
    if (target.embeddedType !== undefined) expect(config.webhook.embeddedSecretManagerConfig.type).toBe(target.embeddedType);
    expect(config.webhook.localCert).toBe(true);
    expect(config.flyteSecrets.registration.failurePolicy).toBe('Fail');
    // The server must finish draining before the kubelet kills the pod.
    expect(config.flyteSecrets.server.shutdownGrace).toBeLessThan(get(name).deployment.spec!.template.spec!.terminationGracePeriodSeconds! * 1000);
    // The fetch budget must end before the API server gives up on the webhook.
    expect(config.flyteSecrets.fetch.admissionBudget).toBeLessThan(config.webhook.webhookTimeout * 1000);
    // A pod reads only its own namespace's Flyte-native secrets, said explicitly in the shipped file.
    expect(config.flyteSecrets.embedded).toMatchObject({ enforceNamespaceScope: true, namespaceTemplate: '{project}-{domain}', organization: 'flyte' });
    const raw = parseYaml(get(name).configMap.data!['config.yaml']!) as { flyteSecrets?: { embedded?: { enforceNamespaceScope?: unknown } } };
    expect(raw.flyteSecrets?.embedded?.enforceNamespaceScope).toBe(true);
  });

  it('never sends the webhook its own namespace or its own pods, yet sees Flyte task namespaces', () => {
    const { config, objects, deployment } = get(name);
    const ns = only<NamespaceT>(objects, 'Namespace', NAMESPACE);
    const nsLabels = { ...ns.metadata!.labels, 'kubernetes.io/metadata.name': NAMESPACE };
    expect(selects(config.webhook.namespaceSelector as LabelSelector | null, nsLabels)).toBe(false);
    for (const system of ['kube-system', 'kube-public', 'kube-node-lease']) {
      expect(selects(config.webhook.namespaceSelector as LabelSelector | null, { 'kubernetes.io/metadata.name': system })).toBe(false);
    }
    expect(selects(config.webhook.namespaceSelector as LabelSelector | null, { 'kubernetes.io/metadata.name': 'flytesnacks-development' })).toBe(true);
    expect(deployment.spec!.template.metadata!.labels?.['inject-flyte-secrets']).toBeUndefined();
  });

  it('runs two replicas, rolls without losing capacity, spreads across nodes', () => {
    const { deployment } = get(name);
    expect(deployment.spec!.replicas).toBe(2);
    expect(deployment.spec!.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const spec = deployment.spec!.template.spec!;
    const podLabels = deployment.spec!.template.metadata!.labels!;
    expect(selects(deployment.spec!.selector, podLabels)).toBe(true);
    const spread = (spec.topologySpreadConstraints ?? []).find((t) => t.topologyKey === 'kubernetes.io/hostname');
    expect(spread).toBeDefined();
    expect(selects(spread!.labelSelector, podLabels)).toBe(true);
    const anti = spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm;
    expect(anti?.topologyKey).toBe('kubernetes.io/hostname');
    expect(selects(anti!.labelSelector, podLabels)).toBe(true);
  });

  it('runs certs init, then register, then serve, each with the mounted config and the pod identity', () => {
    const { deployment, configMap, objects } = get(name);
    const spec = deployment.spec!.template.spec!;
    const { init, main } = podContainers(deployment);
    const commands = [...init, ...main].map((c) => (c.args ?? []).slice(0, (c.args ?? []).indexOf('--config')).join(' '));
    expect(commands).toEqual(['certs init', 'register', 'serve']);
    expect(main).toHaveLength(1);
    const configVolume = spec.volumes!.find((v) => v.configMap !== undefined)!;
    // The Deployment mounts the generated (hash-suffixed) ConfigMap, so a config change rolls the pods.
    expect(configVolume.configMap!.name).toBe(configMap.metadata!.name);
    expect(configMap.metadata!.name).toMatch(/^flyte-secrets-config-[a-z0-9]{10}$/);
    expect(spec.serviceAccountName).toBe(only<ServiceAccountT>(objects, 'ServiceAccount').metadata!.name);
    for (const c of [...init, ...main]) {
      const args = c.args!;
      const file = args[args.indexOf('--config') + 1]!;
      const mount = (c.volumeMounts ?? []).find((m) => m.name === configVolume.name);
      expect(mount, `${c.name} mounts the config`).toBeDefined();
      expect(posix.join(mount!.mountPath, 'config.yaml')).toBe(file);
      expect(c.image).toBe(main[0]!.image);
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
      expect(env, c.name).toMatchObject({ POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
    }
  });

  it('keeps the certificates in an in-memory emptyDir at certDir, writable by certs init and by serve (renewal), read-only for register', () => {
    const { deployment, config } = get(name);
    const spec = deployment.spec!.template.spec!;
    const { init, main } = podContainers(deployment);
    const certsMount = mountOf(init[0]!, config.webhook.certDir);
    expect(certsMount, 'certs-init mounts certDir').toBeDefined();
    expect(certsMount!.readOnly ?? false).toBe(false);
    const volume = spec.volumes!.find((v) => v.name === certsMount!.name)!;
    expect(volume.emptyDir?.medium).toBe('Memory');
    expect(volume.secret).toBeUndefined();
    const registerMount = mountOf(init[1]!, config.webhook.certDir);
    expect(registerMount?.name, 'register mounts certDir').toBe(certsMount!.name);
    expect(registerMount!.readOnly).toBe(true);
    // serve renews in-process when localCert is on and certDir is writable (src/webhook/certs.ts startCertificateRenewal).
    expect(config.webhook.localCert).toBe(true);
    const serveMount = mountOf(main[0]!, config.webhook.certDir);
    expect(serveMount?.name, 'serve mounts certDir').toBe(certsMount!.name);
    expect(serveMount!.readOnly ?? false).toBe(false);
  });

  it('drains gracefully: a preStop pause, then shutdownGrace, all inside terminationGracePeriodSeconds', () => {
    const { deployment, config } = get(name);
    const spec = deployment.spec!.template.spec!;
    const c = podContainers(deployment).main[0]!;
    const pause = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(pause).toBeGreaterThan(0);
    expect(pause + config.flyteSecrets.server.shutdownGrace / 1000).toBeLessThan(spec.terminationGracePeriodSeconds ?? 30);
  });

  it('probes /readyz and /healthz over HTTPS on the listen port', () => {
    const { deployment, config } = get(name);
    const c = podContainers(deployment).main[0]!;
    const listen = containerPort(deployment, config.webhook.listenPort);
    expect(listen?.name).toBeDefined();
    for (const [probe, path] of [[c.readinessProbe, '/readyz'], [c.livenessProbe, '/healthz']] as const) {
      expect(probe?.httpGet?.path).toBe(path);
      expect(probe!.httpGet!.scheme).toBe('HTTPS');
      expect(containerPort(deployment, probe!.httpGet!.port)?.containerPort).toBe(config.webhook.listenPort);
    }
    expect(containerPort(deployment, config.webhook.cacheInvalidationPort)).toBeDefined();
  });

  it('runs every container non-root, read-only, unprivileged, with no capabilities, RuntimeDefault seccomp, resources set', () => {
    const { deployment } = get(name);
    const pod = deployment.spec!.template.spec!.securityContext!;
    expect(pod.runAsNonRoot).toBe(true);
    expect(pod.runAsUser).toBe(RUN_AS_USER);
    expect(pod.seccompProfile?.type).toBe('RuntimeDefault');
    for (const c of podContainers(deployment).all) {
      const sc = c.securityContext!;
      expect(sc.runAsNonRoot ?? pod.runAsNonRoot, c.name).toBe(true);
      expect(sc.readOnlyRootFilesystem, c.name).toBe(true);
      expect(sc.allowPrivilegeEscalation, c.name).toBe(false);
      expect(sc.privileged ?? false, c.name).toBe(false);
      expect(sc.capabilities?.drop, c.name).toEqual(['ALL']);
      expect(sc.capabilities?.add ?? [], c.name).toEqual([]);
      expect((sc.seccompProfile ?? pod.seccompProfile)?.type, c.name).toBe('RuntimeDefault');
      for (const kind of ['requests', 'limits'] as const) {
        expect(c.resources?.[kind]?.cpu, `${c.name} ${kind}.cpu`).toBeDefined();
        expect(c.resources?.[kind]?.memory, `${c.name} ${kind}.memory`).toBeDefined();
      }
    }
  });

  it('exposes the webhook Service 443 → listen port under webhook.serviceName, and a headless Service for invalidation', () => {
    const { objects, config, deployment } = get(name);
    const podLabels = deployment.spec!.template.metadata!.labels!;
    const svc = only<ServiceT>(objects, 'Service', config.webhook.serviceName);
    expect(config.webhook.servicePort).toBe(443);
    const port = svc.spec!.ports!.find((p) => p.port === config.webhook.servicePort);
    expect(port?.name).toBe('https');
    expect(typeof port!.targetPort).toBe('string'); // named: follows the container port if it ever moves
    expect(containerPort(deployment, port!.targetPort)?.containerPort).toBe(config.webhook.listenPort);
    expect(selects({ matchLabels: svc.spec!.selector! }, podLabels)).toBe(true);
    const headless = only<ServiceT>(objects, 'Service', `${config.webhook.serviceName}-headless`);
    expect(headless.spec!.clusterIP).toBe('None');
    const hp = headless.spec!.ports![0]!;
    expect(containerPort(deployment, hp.targetPort)?.containerPort).toBe(config.webhook.cacheInvalidationPort);
    expect(hp.port).toBe(config.webhook.cacheInvalidationPort);
    expect(selects({ matchLabels: headless.spec!.selector! }, podLabels)).toBe(true);
  });

  it('keeps one replica through voluntary disruptions', () => {
    const { objects, deployment } = get(name);
    const pdb = only<PodDisruptionBudgetT>(objects, 'PodDisruptionBudget');
    expect(pdb.spec!.minAvailable).toBe(1);
    expect(pdb.spec!.minAvailable as number).toBeLessThan(deployment.spec!.replicas!);
    expect(selects(pdb.spec!.selector, deployment.spec!.template.metadata!.labels!)).toBe(true);
  });

  it('grants least privilege: the cert Secret and the webhook configuration by name, create alone, no wildcards', () => {
    const { objects, config, target } = get(name);
    for (const { rule } of rulesOf(objects)) {
      expect([...(rule.verbs ?? []), ...(rule.resources ?? []), ...(rule.apiGroups ?? [])]).not.toContain('*');
      // A create rule must not carry resourceNames (Kubernetes would then deny every create).
      if ((rule.resourceNames ?? []).length > 0) expect(rule.verbs).not.toContain('create');
    }
    const role = only<RoleT>(objects, 'Role', 'flyte-secrets');
    expect(role.metadata!.namespace).toBe(NAMESPACE);
    const certRule = role.rules!.find((r) => r.resources?.includes('secrets') && (r.resourceNames ?? []).length > 0)!;
    expect(certRule.resourceNames).toEqual([config.webhook.secretName]);
    expect([...certRule.verbs].sort()).toEqual(['get', 'update']);
    const podRules = role.rules!.filter((r) => r.resources?.includes('pods'));
    expect(podRules.map((r) => r.verbs)).toEqual([['get']]);
    const reg = only<ClusterRoleT>(objects, 'ClusterRole', 'flyte-secrets-webhook-registration');
    const mwcRules = reg.rules!.filter((r) => r.apiGroups?.includes('admissionregistration.k8s.io'));
    expect(mwcRules.every((r) => r.resources?.length === 1 && r.resources[0] === 'mutatingwebhookconfigurations')).toBe(true);
    const named = mwcRules.filter((r) => (r.resourceNames ?? []).length > 0);
    expect(named.map((r) => r.resourceNames)).toEqual([[config.webhook.serviceName]]);
    expect([...named[0]!.verbs].sort()).toEqual(['get', 'update']);
    expect(mwcRules.filter((r) => (r.resourceNames ?? []).length === 0).map((r) => r.verbs)).toEqual([['create']]);
    expect(reg.rules).toHaveLength(mwcRules.length);
    // Secrets reachable without a resourceName: exactly what the target needs, nothing more (no list/watch ever).
    const expected = [`${NAMESPACE}:create`];
    if (target.secretsNamespace !== undefined) expected.push(`${target.secretsNamespace}:get`);
    for (const v of target.clusterSecretVerbs ?? []) expected.push(`(cluster):${v}`);
    expect(unrestrictedSecretGrants(objects)).toEqual(expected.sort());
    if (target.secretsNamespace !== undefined) expect(config.webhook.embeddedSecretManagerConfig.k8sConfig.namespace).toBe(target.secretsNamespace);
  });

  it('binds every role to the webhook ServiceAccount and to nothing else', () => {
    const { objects } = get(name);
    const sa = only<ServiceAccountT>(objects, 'ServiceAccount');
    const bindings = [...allOf<RoleBindingT>(objects, 'RoleBinding'), ...allOf<RoleBindingT>(objects, 'ClusterRoleBinding')];
    const roles = [...allOf<RoleT>(objects, 'Role'), ...allOf<ClusterRoleT>(objects, 'ClusterRole')];
    expect(bindings).toHaveLength(roles.length);
    for (const b of bindings) {
      const ref = b.roleRef;
      const role = objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name && (ref.kind === 'ClusterRole' || o.metadata.namespace === b.metadata!.namespace));
      expect(role, `${b.kind} ${b.metadata!.name} → ${ref.kind} ${ref.name}`).toBeDefined();
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata!.name, namespace: NAMESPACE }]);
    }
  });
});

describe('the broker component (delivery: agent)', () => {
  it('grants create tokenreviews and get pods, nothing more, to the webhook ServiceAccount only', () => {
    const { objects } = get(BROKER_TARGET.name);
    const role = only<ClusterRoleT>(objects, 'ClusterRole', 'flyte-secrets-broker');
    expect(role.rules).toEqual([
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    ]);
    const binding = only<RoleBindingT>(objects, 'ClusterRoleBinding', 'flyte-secrets-broker');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flyte-secrets-broker' });
    // Without the component, nothing grants TokenReviews.
    for (const name of ['base', 'overlays/azure', 'overlays/kubernetes']) {
      expect(rulesOf(get(name).objects).some(({ rule }) => rule.resources?.includes('tokenreviews'))).toBe(false);
    }
  });
});

describe('overlay specifics', () => {
  it('azure: workload identity on the ServiceAccount and the pod (not the selector), Key Vault as Embedded backend', () => {
    const { objects, deployment, config } = get('overlays/azure');
    const sa = only<ServiceAccountT>(objects, 'ServiceAccount');
    expect(sa.metadata!.annotations?.['azure.workload.identity/client-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(deployment.spec!.template.metadata!.labels?.['azure.workload.identity/use']).toBe('true');
    expect(deployment.spec!.selector.matchLabels?.['azure.workload.identity/use']).toBeUndefined();
    const uri = new URL(config.webhook.embeddedSecretManagerConfig.azureConfig.vaultURI);
    expect(uri.protocol).toBe('https:');
    expect(uri.hostname).toMatch(/\.vault\.azure\.net$/);
    expect(config.flyteSecrets.registration.reinvocationPolicy).toBe('IfNeeded');
    // Placeholders are marked where the user must edit.
    const dir = join(DEPLOY, 'overlays/azure');
    expect(readFileSync(join(dir, 'config.yaml'), 'utf8')).toMatch(/# REPLACE:[^\n]*\n\s*vaultURI:/);
    expect(readFileSync(join(dir, 'serviceaccount-workload-identity.yaml'), 'utf8')).toMatch(/# REPLACE:[^\n]*\n\s*azure\.workload\.identity\/client-id:/);
  });

  it('base and kubernetes overlays carry no workload identity', () => {
    for (const name of ['base', 'overlays/kubernetes']) {
      const { objects, deployment } = get(name);
      expect(only<ServiceAccountT>(objects, 'ServiceAccount').metadata!.annotations?.['azure.workload.identity/client-id']).toBeUndefined();
      expect(deployment.spec!.template.metadata!.labels?.['azure.workload.identity/use']).toBeUndefined();
    }
  });

  it('kubernetes: Flyte secrets read from the flyte namespace; image-pull mirroring off unless the component is added', () => {
    expect(get('overlays/kubernetes').config.webhook.embeddedSecretManagerConfig.imagePullSecrets.enabled).toBe(false);
    expect(unrestrictedSecretGrants(get('overlays/kubernetes').objects).filter((g) => g.startsWith('(cluster)'))).toEqual([]);
    const withComponent = get(COMPONENT_TARGET.name);
    expect(withComponent.objects.some((o) => o.kind === 'ClusterRole' && o.metadata.name === 'flyte-secrets-image-pull-mirroring')).toBe(true);
  });
});

describe('components/redis-cache', () => {
  it('turns the shared Redis cache on over TLS with Entra ID, the key from the Secret flyte-secrets-redis', () => {
    const { config, deployment } = get(REDIS_TARGET.name);
    expect(config.cache.type).toBe('Redis');
    expect(config.cache.redis.options.Addr).toMatch(/^REPLACE-[A-Z-]+\.redis\.cache\.windows\.net:6380$/);
    expect(config.flyteSecrets.redis.tls.enabled).toBe(true);
    expect(config.flyteSecrets.redis.entraId.enabled).toBe(true);
    expect(deployment.spec!.template.metadata!.labels?.['azure.workload.identity/use']).toBe('true');
    const env = podContainers(deployment).main[0]!.env ?? [];
    const key = env.find((e) => e.name === 'FLYTE_SECRETS_CACHE_KEY');
    expect(key?.valueFrom?.secretKeyRef).toEqual({ name: 'flyte-secrets-redis', key: 'cache-key' });
    const password = env.find((e) => e.name === 'FLYTE_SECRET_REDIS_PASSWORD');
    expect(password?.valueFrom?.secretKeyRef).toEqual({ name: 'flyte-secrets-redis', key: 'password', optional: true });
    // The overlay's own env is kept.
    expect(env.map((e) => e.name)).toEqual(expect.arrayContaining(['POD_NAME', 'POD_NAMESPACE', 'FLYTE_SECRETS_INVALIDATION_TOKEN']));
    expect(readFileSync(join(DEPLOY, 'components/redis-cache/config.yaml'), 'utf8')).toMatch(/# REPLACE:[^\n]*\n(?:\s*#[^\n]*\n)*\s*Addr:/);
  });

  it('its config is the Azure overlay’s config plus the cache section, nothing else', () => {
    const withRedis = structuredClone(get(REDIS_TARGET.name).config) as unknown as Record<string, Record<string, unknown>>;
    const azure = structuredClone(get('overlays/azure').config) as unknown as Record<string, Record<string, unknown>>;
    for (const c of [withRedis, azure]) {
      delete c.cache;
      delete c.flyteSecrets!.redis;
    }
    expect(withRedis).toEqual(azure);
  });
});

describe('image and CLI agree with the manifests', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const lines = dockerfile.split('\n').filter((l) => !l.trimStart().startsWith('#'));
  const stages = lines.join('\n').split(/^FROM /m).slice(1);

  it('the Dockerfile builds in its own stage and runs production deps only, as the Deployment user, with its command', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/RUN npm ci\b[^\n]*\n(?:[^\n]*\n)*?RUN npm run build/);
    expect(dockerfile).toMatch(/npm ci --omit=dev --ignore-scripts/);
    const runtime = stages.at(-1)!;
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(runtime);
    expect(user, 'the runtime stage sets a numeric USER').not.toBeNull();
    for (const t of TARGETS) {
      const pod = get(t.name).deployment.spec!.template.spec!.securityContext!;
      expect(Number(user![1]), t.name).toBe(pod.runAsUser);
      if (user![2] !== undefined) expect(Number(user![2]), t.name).toBe(pod.runAsGroup);
    }
    expect(runtime).toMatch(/^ENTRYPOINT \["[^"]*node", "bin\/flyte-secrets\.js"\]$/m);
    const cmd = /^CMD (\[.*\])$/m.exec(runtime);
    expect(cmd).not.toBeNull();
    const defaultArgs = JSON.parse(cmd![1]!) as string[];
    const main = podContainers(get('base').deployment).main[0]!;
    expect(defaultArgs).toEqual(main.args);
  });

  it('everything the Dockerfile copies from the context exists and is allowed by .dockerignore', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore[0]).toBe('*'); // an allow-list
    const allowed = new Set(ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, '')));
    const copies = lines.filter((l) => /^COPY /.test(l) && !/--from=/.test(l));
    expect(copies.length).toBeGreaterThan(0);
    for (const l of copies) {
      const parts = l.replace(/^COPY /, '').split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        expect(allowed.has(src.replace(/\/$/, '')), `${src} is allowed by .dockerignore`).toBe(true);
        expect(existsSync(join(ROOT, src)), `${src} exists`).toBe(true);
      }
    }
    for (const a of allowed) expect(existsSync(join(ROOT, a)), `${a} (allowed by .dockerignore) exists`).toBe(true);
  });

  it('the CLI has the commands the containers run, each taking --config', () => {
    const program = buildProgram();
    for (const c of podContainers(get('base').deployment).all) {
      const args = c.args!;
      const words = args.slice(0, args.indexOf('--config'));
      let cmd = program;
      for (const w of words) {
        const sub = cmd.commands.find((s) => s.name() === w || s.aliases().includes(w));
        if (sub === undefined) throw new Error(`container ${c.name} runs \`flyte-secrets ${words.join(' ')}\`, but the CLI has no command "${w}"`);
        cmd = sub;
      }
      expect(cmd.options.some((o) => o.long === '--config'), `\`${words.join(' ')}\` takes --config`).toBe(true);
    }
  });
});
