import fc from 'fast-check';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import type { Config, SecretManagerType } from '../config/schema.js';
import { FlyteSecretsError, isFlyteSecretsError } from '../errors.js';
import { annotatePod, secretToString } from '../secret/annotations.js';
import { makeSecret, MountRequirement, type Secret } from '../secret/model.js';
import { deepFreeze } from '../../test/support/injector-vectors.js';
import { podProblems } from '../../test/support/pod-schema.js';
import { AZURE_NO_WORKLOAD_IDENTITY_WARNING } from './azure.js';
import type { InjectContext, InjectOutcome, SecretInjector } from './injector.js';
import { buildInjectors, createMutator, NONE_INJECTED_PREFIX, type MutationOutcome } from './mutator.js';
import { createEmbeddedInjector } from './embedded.js';
import { applyPatch } from './patch.js';
import { SecretValue } from '../secret/value.js';

const noFiles = (): Promise<Uint8Array> => Promise.reject(new Error('ENOENT'));

function setup(managers: SecretManagerType[], env: NodeJS.ProcessEnv = {}, extra: Record<string, unknown> = {}, embedded?: SecretInjector) {
  const config = parseConfig({ webhook: { secretManagerTypes: managers, ...extra } }, '(test)', {});
  const deps = embedded === undefined ? { env, readFile: noFiles } : { env, readFile: noFiles, embedded };
  return { config, mutator: createMutator(config, buildInjectors(config, deps)) };
}

function taskPod(secrets: Secret[], spec: Pod['spec'] = { containers: [{ name: 'main', image: 'python:3.12' }] }): Pod {
  return annotatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'task-1', namespace: 'ns', labels: { 'azure.workload.identity/use': 'true' } }, spec }, secrets);
}

const URI = 'https://myvault.vault.azure.net/secrets/db-password';
const opts = { namespace: 'ns', dryRun: false };

function mutated(out: MutationOutcome): Extract<MutationOutcome, { kind: 'mutated' }> {
  if (out.kind !== 'mutated') throw new Error(`expected mutated, got ${JSON.stringify(out)}`);
  return out;
}

function fake(type: SecretManagerType, behaviour: 'refuse' | 'inject' | 'throw', seen?: InjectContext[]): SecretInjector {
  return {
    type,
    inject(_secret, pod, ctx) {
      seen?.push(ctx);
      if (behaviour === 'throw') return Promise.reject(new Error('boom: hunter2'));
      if (behaviour === 'refuse') return Promise.resolve({ injected: false, reason: `${type} says no`, code: 'SecretNotFound' });
      const out = structuredClone(pod);
      out.metadata = { ...out.metadata, labels: { ...out.metadata?.labels, [`by-${type.toLowerCase()}`]: 'yes' } };
      return Promise.resolve({ injected: true, pod: out });
    },
  };
}

describe('mutator: Flyte vectors (Flyte: `utils/secrets/marshaler_test.go`)', () => {
  const config = parseConfig({ webhook: { secretManagerTypes: ['Global'] } }, '(test)', {});
  const corrupted: Pod = { metadata: { annotations: { 'flyte.secrets/s0': 'nnsxsorcnv4v623fperca' } }, spec: { containers: [] } };

  it('no injectors, empty pod → unchanged', async () => {
    const m = createMutator(config, new Map([['Global', fake('Global', 'refuse')]]));
    expect(await m.mutate({ spec: { containers: [] } }, opts)).toEqual({ kind: 'unchanged', secrets: 0 });
  });

  it('first (only) injector fails → denied', async () => {
    const m = createMutator(config, new Map([['Global', fake('Global', 'refuse')]]));
    const out = await m.mutate(corrupted, opts);
    expect(out.kind).toBe('denied');
    if (out.kind === 'denied') {
      expect(out.message.startsWith(NONE_INJECTED_PREFIX)).toBe(true);
      expect(out.message).toMatch(/^none of the secret managers injected secret \[.*\]: Global: Global says no \(secret managers tried: \[Global\]\)$/s);
      expect(out.code).toBe('SecretNotFound');
    }
  });

  it('injector injects → mutated', async () => {
    const m = createMutator(config, new Map([['Global', fake('Global', 'inject')]]));
    const out = mutated(await m.mutate(corrupted, opts));
    expect(out.managers).toEqual(['Global']);
    expect(out.secrets).toBe(1);
    expect(out.patch).toEqual([{ op: 'add', path: '/metadata/labels', value: { 'by-global': 'yes' } }]);
  });
});

describe('mutator: copy-on-write injectors agree with deep-copying ones', () => {
  const managerTypes = ['K8s', 'AWS', 'GCP', 'Vault', 'Azure'] as const;
  const secretArb = fc.constantFrom(
    makeSecret({ group: URI }),
    makeSecret({ group: `${URI}/abc`, mountRequirement: MountRequirement.FILE }),
    makeSecret({ group: 'https://other.vault.azure.net/secrets/api-key', groupVersion: 'v2' }),
    makeSecret({ group: 'db-creds', key: 'password', mountRequirement: MountRequirement.FILE }),
    makeSecret({ group: 'db-creds', key: 'user', mountRequirement: MountRequirement.FILE }),
    makeSecret({ group: 'db-creds', key: 'user', mountRequirement: MountRequirement.ENV_VAR, envVar: 'DB_USER' }),
    makeSecret({ group: 'arn:aws:secretsmanager:us-east-1:1:secret', key: 'name' }),
    makeSecret({ group: 'TestSecret', groupVersion: '2' }),
    makeSecret({ group: 'secret/db', key: 'pw', groupVersion: 'kv2' }),
    makeSecret({ group: 'global', key: 'token' }),
    makeSecret({ group: 'bad..', key: '../x', mountRequirement: MountRequirement.FILE }),
  );
  const specArb = fc.record({
    init: fc.boolean(),
    sidecar: fc.boolean(),
    env: fc.subarray([{ name: 'FLYTE_SECRETS_DEFAULT_DIR', value: '/etc/flyte/secrets' }, { name: 'USER_VAR', value: 'x' }, { name: 'AZURE_CLIENT_ID', value: 'id' }]),
    volume: fc.boolean(),
  });
  const podOf = (secrets: Secret[], s: { init: boolean; sidecar: boolean; env: { name: string; value: string }[]; volume: boolean }): Pod =>
    taskPod(secrets, {
      ...(s.init ? { initContainers: [{ name: 'setup', image: 'busybox', volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }] } : {}),
      containers: [
        { name: 'main', image: 'python:3.12', env: s.env, ...(s.volume ? { volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] } : {}) },
        ...(s.sidecar ? [{ name: 'proxy', image: 'envoy' }] : []),
      ],
      ...(s.volume ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}),
    });

  it('same outcome and byte-identical patch, also on re-admission; the frozen input is untouched; the patch rebuilds the pod (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.subarray([...managerTypes], { minLength: 1 }), fc.array(secretArb, { minLength: 1, maxLength: 4 }), specArb, async (managers, secrets, shape) => {
        const env = { FLYTE_SECRET_GLOBAL_TOKEN: 'value' };
        const { config, mutator } = setup([...managers], env);
        // The reference: every injector is handed a deep copy, as when each one deep-copied the pod itself.
        const deepCopying = (inj: SecretInjector): SecretInjector => ({ type: inj.type, inject: (secret, pod, ctx) => inj.inject(secret, structuredClone(pod), ctx) });
        const deep = new Map([...buildInjectors(config, { env, readFile: noFiles })].map(([type, inj]) => [type, deepCopying(inj)]));
        const reference = createMutator(config, deep);
        const pod = deepFreeze(podOf(secrets, shape));
        const copy = structuredClone(pod);
        const fast = await mutator.mutate(pod, opts);
        const slow = await reference.mutate(structuredClone(pod), opts);
        expect(pod).toEqual(copy);
        // The one pass for sidecar managers also writes the patch's JSON text, which must be JSON.stringify's.
        const { patchJson, ...rest } = fast.kind === 'mutated' ? fast : { ...fast, patchJson: undefined };
        if (patchJson !== undefined) expect(patchJson).toBe(JSON.stringify(fast.kind === 'mutated' ? fast.patch : []));
        expect(JSON.stringify(rest)).toBe(JSON.stringify(slow));
        if (fast.kind !== 'mutated') return;
        const admitted = applyPatch(pod, fast.patch);
        expect(admitted).toEqual(JSON.parse(JSON.stringify(fast.pod)));
        // Re-admission (a reinvocation) answers the same in both, with an empty patch.
        const again = await mutator.mutate(deepFreeze(admitted), opts);
        expect(JSON.stringify(again)).toBe(JSON.stringify(await reference.mutate(structuredClone(admitted), opts)));
        expect(mutated(again).patch).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

describe('mutator: re-admission adds nothing, whatever the mix of managers and secrets (property)', () => {
  const name = fc.constantFrom('db', 'api-key', 'Token');
  const mount = fc.constantFrom(MountRequirement.ANY, MountRequirement.FILE, MountRequirement.ENV_VAR);
  const envVar = fc.constantFrom('', 'MY_FILE', 'OTHER');
  const secretArb = fc.oneof(
    // Azure: a Key Vault URI, optional version.
    fc.record({ n: name, v: fc.constantFrom('', 'v1'), m: mount }).map(({ n, v, m }) => makeSecret({ group: `https://kv.vault.azure.net/secrets/${n}`, groupVersion: v, mountRequirement: m })),
    // K8s (or AWS / Vault, which take group + key): a Secret name and key, or only a key (md5 group).
    fc.record({ g: fc.constantFrom('', 'db-creds', 'cache'), k: fc.constantFrom('password', 'user'), m: mount, e: envVar }).map(({ g, k, m, e }) => makeSecret({ group: g, key: k, mountRequirement: m, envVar: e })),
    // AWS.
    fc.record({ k: name, m: mount }).map(({ k, m }) => makeSecret({ group: 'arn:aws:secretsmanager:us-east-1:1:secret', key: k, mountRequirement: m })),
    // GCP.
    fc.record({ g: name, v: fc.constantFrom('1', 'latest'), m: mount }).map(({ g, v, m }) => makeSecret({ group: g.replace('-', '_'), groupVersion: v, mountRequirement: m })),
    // Vault.
    fc.record({ k: name, v: fc.constantFrom('kv1', 'kv2', 'db') }).map(({ k, v }) => makeSecret({ group: 'secret/app', key: k, groupVersion: v })),
    // Embedded (or K8s): a key only.
    fc.record({ k: name, m: mount, e: envVar }).map(({ k, m, e }) => makeSecret({ key: k, mountRequirement: m, envVar: e })),
    // Global, from the webhook's env.
    fc.constant(makeSecret({ group: 'global', key: 'token' })),
  );
  const managersArb = fc.shuffledSubarray(['K8s', 'AWS', 'GCP', 'Vault', 'Azure', 'Embedded'] as SecretManagerType[], { minLength: 1 });
  const env = { FLYTE_SECRET_GLOBAL_TOKEN: 'global-value' };
  const fetcher = { kind: 'test', fetch: (id: { name: string }) => Promise.resolve(SecretValue.fromString(`value-of-${id.name}`)) };

  it('mutate(mutate(pod)) gives an empty patch, and both pods are valid', async () => {
    await fc.assert(
      fc.asyncProperty(managersArb, fc.array(secretArb, { minLength: 1, maxLength: 5 }), fc.boolean(), async (managers, secrets, userInit) => {
        const config = parseConfig({ webhook: { secretManagerTypes: managers } }, '(test)', {});
        const embedded = managers.includes('Embedded') ? createEmbeddedInjector({ config, fetcher }) : undefined;
        const mutator = createMutator(config, buildInjectors(config, { env, readFile: noFiles, ...(embedded === undefined ? {} : { embedded }) }));
        const pod = taskPod(secrets, {
          ...(userInit ? { initContainers: [{ name: 'setup', image: 'busybox' }] } : {}),
          containers: [{ name: 'main', image: 'python:3.12' }, { name: 'proxy', image: 'envoy' }],
        });
        pod.metadata!.labels = { ...pod.metadata!.labels, organization: 'flyte', project: 'proj', domain: 'dev' };
        const inNamespace = { ...opts, namespace: 'proj-dev' };
        const first = await mutator.mutate(pod, inNamespace);
        if (first.kind !== 'mutated') return;
        expect(podProblems(first.pod)).toEqual([]);
        const admitted = applyPatch(pod, first.patch);
        const again = mutated(await mutator.mutate(deepFreeze(admitted), inNamespace));
        expect(again.patch).toEqual([]);
        expect(podProblems(again.pod)).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});

describe('mutator', () => {
  it('a pod without secret annotations is unchanged', async () => {
    const { mutator } = setup(['Azure']);
    expect(await mutator.mutate({ metadata: { annotations: { other: 'x' } }, spec: { containers: [] } }, opts)).toEqual({ kind: 'unchanged', secrets: 0 });
  });

  it('a malformed annotation is denied with its key and the problem (Flyte’s text)', async () => {
    const { mutator } = setup(['Azure']);
    const pod = taskPod([makeSecret({ group: URI })]);
    pod.metadata!.annotations!['flyte.secrets/s1'] = 'NOT-BASE32!';
    const out = await mutator.mutate(pod, opts);
    expect(out).toMatchObject({ kind: 'denied', code: 'InvalidAnnotation' });
    if (out.kind === 'denied') expect(out.message).toMatch(/^failed to unmarshal secrets from pod annotations: error unmarshaling secret \[flyte\.secrets\/s1\]\. Error: .+/);
  });

  it('a secret no manager could serve: Flyte’s prefix, then every manager’s reason (Global last), then the chain', async () => {
    const { mutator } = setup(['Azure']);
    const secret = makeSecret({ group: 'plainname', key: 'k', mountRequirement: MountRequirement.FILE });
    const out = await mutator.mutate(taskPod([secret]), opts);
    expect(out.kind).toBe('denied');
    if (out.kind !== 'denied') return;
    const s = secretToString(secret);
    expect(out.message.startsWith(`${NONE_INJECTED_PREFIX} [${s}]: no enabled secret manager serves this kind of secret: Azure: `)).toBe(true);
    expect(out.message.endsWith('; Global: secrets not found - Env [FLYTE_SECRET_PLAINNAME_K], file [/etc/secrets/plainname/k] (secret managers tried: [Global Azure])')).toBe(true);
    expect(out.code).toBe('InvalidKeyVaultUri');
    expect(out.secrets).toBe(1);
  });

  describe('the denial code is the most specific refusal’s (the first manager after Global that claimed the secret)', () => {
    const embeddedNotFound = createEmbeddedInjector({
      config: parseConfig({ webhook: { secretManagerTypes: ['Embedded'] } }, '(test)', {}),
      fetcher: { kind: 'test', fetch: () => Promise.reject(new FlyteSecretsError('SecretNotFound', 'not found')) },
    });
    const labelled = (secrets: Secret[]): Pod => {
      const pod = taskPod(secrets);
      pod.metadata!.labels = { ...pod.metadata!.labels, organization: 'flyte', project: 'p', domain: 'd' };
      return pod;
    };
    const typo = makeSecret({ group: 'https://myvault.vault.azure.net/secret/db-password', mountRequirement: MountRequirement.FILE });

    it.each([
      ['[Azure, Embedded]: a URI typo is Azure’s (not Embedded’s “requires key”)', ['Azure', 'Embedded'], typo, 'InvalidKeyVaultUri', '', 'Azure: ', 'EmbeddedSecretManager requires key to be set'],
      ['[Azure, Embedded]: a Flyte-native secret not found is Embedded’s (not Azure’s “require group”)', ['Azure', 'Embedded'], makeSecret({ key: 'db-password' }), 'SecretNotFoundAcrossAllScopes', '', 'Embedded: [SecretNotFoundAcrossAllScopes] ', 'azure Secrets Webhook require both group'],
      ['[Azure, K8s]: a URI typo is Azure’s; K8s (not a Secret name) is not for it', ['Azure', 'K8s'], makeSecret({ group: typo.group, key: 'pw', mountRequirement: MountRequirement.FILE }), 'InvalidKeyVaultUri', '', 'Azure: the secret\'s group must be a Key Vault secret URI', 'cannot be the name of a Kubernetes Secret'],
      ['[K8s, Azure]: the same, whatever the order', ['K8s', 'Azure'], makeSecret({ group: typo.group, key: 'pw', mountRequirement: MountRequirement.FILE }), 'InvalidKeyVaultUri', '', 'Azure: the secret\'s group must be a Key Vault secret URI', 'cannot be the name of a Kubernetes Secret'],
      ['[Azure, AWS]: nobody claims an ENV_VAR key → every manager says why, after Global', ['Azure', 'AWS'], makeSecret({ key: 'k', mountRequirement: MountRequirement.ENV_VAR }), 'InvalidSecret', 'AWS Secrets Webhook require both key and group', 'no enabled secret manager serves this kind of secret: Azure: ', ''],
      ['[GCP]: Global holds the secret but not as a file → Global’s', ['GCP'], makeSecret({ group: 'db', key: 'pw', mountRequirement: MountRequirement.FILE }), 'InjectionRefused', '', 'Global: global secrets can only be injected as environment variables', 'GCP Secrets Webhook require'],
    ] as const)('%s', async (_name, managers, secret, code, text, lead, absent) => {
      const { mutator } = setup([...managers], { FLYTE_SECRET_DB_PW: 'v' }, {}, managers.includes('Embedded' as never) ? embeddedNotFound : undefined);
      const out = await mutator.mutate(labelled([secret]), { ...opts, namespace: 'p-d' });
      expect(out).toMatchObject({ kind: 'denied', code });
      if (out.kind !== 'denied') return;
      const s = secretToString(secret);
      expect(out.message.startsWith(`${NONE_INJECTED_PREFIX} [${s}]: ${lead}`)).toBe(true);
      expect(out.message.endsWith(` (secret managers tried: [Global ${managers.join(' ')}])`)).toBe(true);
      if (absent === '') expect(out.message).toContain(text);
      else expect(out.message).not.toContain(absent);
    });
  });

  it('never puts a secret value in a message', async () => {
    const { mutator } = setup(['Azure'], { FLYTE_SECRET_DB_PW: 'hunter2-value' });
    const out = await mutator.mutate(taskPod([makeSecret({ group: 'db', key: 'pw', mountRequirement: MountRequirement.FILE })]), opts);
    expect(out.kind).toBe('denied');
    expect(JSON.stringify(out)).not.toContain('hunter2');
  });

  it('processes secrets in annotation-index order (s0, s1, s2, …, s10)', async () => {
    const { mutator } = setup(['Azure']);
    const secrets = Array.from({ length: 11 }, (_, i) => makeSecret({ group: `${URI}-${i}` }));
    const pod = taskPod(secrets);
    const out = mutated(await mutator.mutate(pod, opts));
    const order = out.pod.spec?.initContainers?.map((c) => c.env?.find((e) => e.name === 'FLYTE_SECRET_ID')?.value);
    expect(order).toEqual(secrets.map((s) => s.group));
    expect(out.pod.spec?.initContainers?.map((c) => c.name)).toEqual(secrets.map((_, i) => `azure-pull-secret-${i}`));
  });

  it('the patch applied to the received pod gives the mutated pod, a valid one; identical pods give identical patches', async () => {
    const { mutator } = setup(['Azure', 'K8s']);
    const secrets = [
      makeSecret({ group: URI, groupVersion: 'v1' }),
      makeSecret({ group: 'db-creds', key: 'password', mountRequirement: MountRequirement.FILE }),
      makeSecret({ group: 'db-creds', key: 'user', mountRequirement: MountRequirement.ENV_VAR }),
    ];
    const pod = deepFreeze(taskPod(secrets));
    const copy = structuredClone(pod);
    const a = mutated(await mutator.mutate(pod, opts));
    const b = mutated(await mutator.mutate(structuredClone(pod), opts));
    expect(pod).toEqual(copy);
    expect(a.patch).toEqual(b.patch);
    expect(applyPatch(pod, a.patch)).toEqual(JSON.parse(JSON.stringify(a.pod)));
    expect(podProblems(a.pod)).toEqual([]);
    expect(a.managers).toEqual(['Azure', 'K8s']);
  });

  it('is idempotent, and a container added between passes gets its env and mounts', async () => {
    const { mutator } = setup(['AWS', 'K8s', 'Vault']);
    const secrets = [
      makeSecret({ group: 'arn', key: 'name' }),
      makeSecret({ group: 'db-creds', key: 'password', mountRequirement: MountRequirement.ENV_VAR }),
    ];
    const first = mutated(await mutator.mutate(taskPod(secrets), opts));
    const admitted = applyPatch(taskPod(secrets), first.patch);
    const again = mutated(await mutator.mutate(admitted, opts));
    expect(again.patch).toEqual([]);

    const withProxy = structuredClone(admitted);
    withProxy.spec!.containers.push({ name: 'proxy', image: 'envoy' });
    const third = mutated(await mutator.mutate(withProxy, opts));
    expect(third.patch.length).toBeGreaterThan(0);
    expect(third.patch.every((op) => op.path.startsWith('/spec/containers/1/'))).toBe(true);
    const proxy = applyPatch(withProxy, third.patch).spec!.containers[1]!;
    expect(proxy.env?.map((e) => e.name)).toEqual(['FLYTE_SECRETS_ENV_PREFIX', '_UNION_DB-CREDS_PASSWORD', 'FLYTE_SECRETS_FILE_PREFIX', 'FLYTE_SECRETS_DEFAULT_DIR']);
    expect(proxy.volumeMounts).toEqual([{ name: 'aws-secret-vol', readOnly: true, mountPath: '/etc/flyte/secrets' }]);
  });

  describe('re-admission of a pod with injected init containers (Flyte: `secret/utils.go`)', () => {
    // No group (md5 fallback) and ENV_VAR: only K8s takes these, whatever the order of the chain.
    const k8sFile = makeSecret({ key: 'password', mountRequirement: MountRequirement.FILE, envVar: 'DB_PASSWORD_FILE' });
    const k8sEnv = makeSecret({ group: 'db-creds', key: 'user', mountRequirement: MountRequirement.ENV_VAR });
    it.each([
      ['Azure', makeSecret({ group: URI }), 'azure-pull-secret-0'],
      ['AWS', makeSecret({ group: 'arn', key: 'name' }), 'aws-pull-secret-0'],
      ['GCP', makeSecret({ group: 'TestSecret', groupVersion: '2' }), 'gcp-pull-secret-0'],
    ] as const)('K8s secrets handled before a %s secret: the second pass adds nothing, the sidecar is as Flyte makes it', async (manager, sidecarSecret, sidecar) => {
      const { mutator } = setup([manager, 'K8s']);
      const pod = taskPod([k8sFile, k8sEnv, sidecarSecret], { initContainers: [{ name: 'setup', image: 'busybox' }], containers: [{ name: 'main', image: 'python:3.12' }] });
      const first = mutated(await mutator.mutate(pod, opts));
      expect(podProblems(first.pod)).toEqual([]);
      const init = first.pod.spec!.initContainers!.find((c) => c.name === sidecar.replace(/0$/, '1'))!;
      // Flyte's first pass: the sidecar is added after the K8s secrets, so it has only its own volume and its env.
      expect(init.volumeMounts?.map((m) => m.name)).toEqual([`${manager.toLowerCase()}-secret-vol`]);
      expect(init.volumeMounts?.[0]?.readOnly).toBeUndefined();
      const admitted = applyPatch(pod, first.patch);
      const again = mutated(await mutator.mutate(deepFreeze(admitted), opts));
      expect(again.patch).toEqual([]);
      expect(podProblems(again.pod)).toEqual([]);
    });

    it('a sidecar added before a K8s secret gets its mount and env (as in Flyte), and keeps them on the second pass', async () => {
      const { mutator } = setup(['Azure', 'K8s']);
      const pod = taskPod([makeSecret({ group: URI }), k8sFile]);
      const first = mutated(await mutator.mutate(pod, opts));
      const init = first.pod.spec!.initContainers![0]!;
      expect(init.volumeMounts?.map((m) => m.name)).toEqual(['azure-secret-vol', first.pod.spec!.volumes![1]!.name]);
      expect(init.env?.map((e) => e.name)).toContain('DB_PASSWORD_FILE');
      const again = mutated(await mutator.mutate(applyPatch(pod, first.patch), opts));
      expect(again.patch).toEqual([]);
    });
  });

  it('refuses a secret that would redefine an env var another secret of the pod sets (two secrets, one env_var), on every pass alike', async () => {
    const { mutator } = setup(['K8s']);
    const pod = taskPod([
      makeSecret({ key: 'password', mountRequirement: MountRequirement.FILE, envVar: 'DB' }),
      makeSecret({ group: 'cache', key: 'password', mountRequirement: MountRequirement.ENV_VAR, envVar: 'DB' }),
    ]);
    const out = await mutator.mutate(pod, opts);
    expect(out).toMatchObject({ kind: 'denied', code: 'InjectionRefused' });
    if (out.kind === 'denied') expect(out.message).toContain(']: K8s: delivering this secret would set the environment variable "DB", which another secret of this pod sets differently; give each secret its own env_var');
    // The same request twice, or two secrets agreeing on the definition, is fine.
    const same = makeSecret({ group: 'cache', key: 'password', mountRequirement: MountRequirement.ENV_VAR, envVar: 'DB' });
    const twice = mutated(await mutator.mutate(taskPod([same, same]), opts));
    expect(twice.pod.spec!.containers[0]!.env!.filter((e) => e.name === 'DB')).toHaveLength(1);
  });

  describe('two managers with their own volume at /etc/flyte/secrets (Flyte: `secret/secrets_pod_mutator.go`)', () => {
    it.each([
      [['AWS', 'Azure'], makeSecret({ group: 'arn', key: 'name' }), 'aws-secret-vol'],
      [['GCP', 'Azure'], makeSecret({ group: 'TestSecret', groupVersion: '2' }), 'gcp-secret-vol'],
      [['Vault', 'Azure'], makeSecret({ group: 'secret/db', key: 'pw' }), 'Vault Agent'],
    ] as const)('%j: refused with a clear message', async (managers, first, volume) => {
      const { mutator } = setup([...managers]);
      const out = await mutator.mutate(taskPod([first, makeSecret({ group: URI })]), opts);
      expect(out.kind).toBe('denied');
      if (out.kind !== 'denied') return;
      expect(out.code).toBe('InjectionRefused');
      expect(out.message).toContain(`]: Azure: delivering this secret would mount`);
      expect(out.message).toContain(volume);
      expect(out.message).toContain('"azure-secret-vol" (Azure)');
      expect(out.message).toContain('Kubernetes refuses two volumes at one path');
    });

    it('K8s file secrets combine with a sidecar manager', async () => {
      const { mutator } = setup(['Azure', 'K8s']);
      const out = mutated(await mutator.mutate(taskPod([makeSecret({ group: URI }), makeSecret({ group: 'db', key: 'pw', mountRequirement: MountRequirement.FILE })]), opts));
      expect(podProblems(out.pod)).toEqual([]);
    });

    it('a refused attempt falls through to the next manager', async () => {
      const { mutator } = setup(['Azure', 'Vault', 'K8s']);
      // s1 would go to Vault (group + key), whose volume would clash with Azure's: K8s takes it instead.
      const out = mutated(await mutator.mutate(taskPod([makeSecret({ group: URI }), makeSecret({ group: 'db', key: 'pw' })]), opts));
      expect(out.managers).toEqual(['Azure', 'K8s']);
      expect(out.pod.metadata?.annotations?.['vault.hashicorp.com/agent-inject']).toBeUndefined();
      expect(podProblems(out.pod)).toEqual([]);
    });

    it('two K8s groups that map to one directory are refused', async () => {
      const { mutator } = setup(['K8s']);
      const out = await mutator.mutate(taskPod([makeSecret({ group: 'grOUP', key: 'a', mountRequirement: MountRequirement.FILE }), makeSecret({ group: 'group', key: 'b', mountRequirement: MountRequirement.FILE })]), opts);
      expect(out).toMatchObject({ kind: 'denied', code: 'InjectionRefused' });
    });
  });

  it('collects warnings, and drops those of an attempt that was not used', async () => {
    const { mutator } = setup(['Azure']);
    const pod = taskPod([makeSecret({ group: URI })]);
    delete pod.metadata!.labels!['azure.workload.identity/use'];
    expect(mutated(await mutator.mutate(pod, opts)).warnings).toEqual([AZURE_NO_WORKLOAD_IDENTITY_WARNING]);

    const clash = setup(['AWS', 'Azure']).mutator;
    const both = taskPod([makeSecret({ group: 'arn', key: 'name' }), makeSecret({ group: URI })]);
    delete both.metadata!.labels!['azure.workload.identity/use'];
    const out = await clash.mutate(both, opts);
    expect(out).toMatchObject({ kind: 'denied', warnings: [] });
  });

  it('takes an injector\'s synchronous answer when it gives one, awaits inject when it gives none, and counts a throw from either as a refusal', async () => {
    const config = parseConfig({ webhook: { secretManagerTypes: ['Embedded'] } }, '(test)', {});
    const calls: string[] = [];
    const answering = fake('Embedded', 'inject');
    const viaInject = answering.inject.bind(answering);
    answering.inject = (...args) => {
      calls.push('inject');
      return viaInject(...args);
    };
    for (const [now, expected, wanted] of [
      [(): undefined => undefined, 'mutated', ['now', 'inject']],
      [(): InjectOutcome => ({ injected: false, reason: 'Embedded says no now', code: 'SecretNotFound' }), 'denied', ['now']],
      [(): never => { throw new Error('boom: hunter2'); }, 'denied', ['now']],
    ] as const) {
      calls.length = 0;
      answering.injectNow = (): InjectOutcome | undefined => {
        calls.push('now');
        return now();
      };
      const mutator = createMutator(config, buildInjectors(config, { env: {}, readFile: noFiles, embedded: answering }));
      const out = await mutator.mutate(taskPod([makeSecret({ key: 'x' })]), opts);
      expect(out.kind).toBe(expected);
      expect(calls).toEqual(wanted);
      if (out.kind === 'denied') expect(out.message).not.toContain('hunter2');
    }
  });

  it('an injector that throws counts as a refusal; only our own error messages are shown', async () => {
    const config = parseConfig({ webhook: { secretManagerTypes: ['Embedded'] } }, '(test)', {});
    const own = fake('Embedded', 'refuse');
    own.inject = () => Promise.reject(new FlyteSecretsError('SecretReadFailure', '[SecretReadFailure] secret x failed to be read from secret manager'));
    for (const [embedded, text, code] of [
      [fake('Embedded', 'throw'), 'Embedded: internal error (Error)', 'Internal'],
      [own, 'Embedded: [SecretReadFailure] secret x failed to be read from secret manager', 'SecretReadFailure'],
    ] as const) {
      const mutator = createMutator(config, buildInjectors(config, { env: {}, readFile: noFiles, embedded }));
      const out = await mutator.mutate(taskPod([makeSecret({ key: 'x' })]), opts);
      expect(out).toMatchObject({ kind: 'denied', code });
      if (out.kind === 'denied') {
        expect(out.message).toContain(`]: ${text} (secret managers tried: [Global Embedded])`);
        expect(out.message).not.toContain('hunter2');
      }
    }
  });

  it('passes namespace, pod name and dryRun to the injectors', async () => {
    const seen: InjectContext[] = [];
    const { mutator } = setup(['Embedded'], {}, {}, fake('Embedded', 'inject', seen));
    await mutator.mutate(taskPod([makeSecret({ key: 'x' })]), { namespace: 'team-a', dryRun: true });
    expect(seen.map((c) => [c.namespace, c.podName, c.dryRun])).toEqual([['team-a', 'task-1', true]]);
  });
});

describe('buildInjectors and createMutator', () => {
  const withTypes = (t: unknown): Config => parseConfig({ webhook: { secretManagerTypes: t } }, '(test)', {});

  it('builds one injector per manager of the chain, Global first', () => {
    const config = withTypes(['Azure', 'K8s', 'AWS', 'GCP', 'Vault']);
    const m = buildInjectors(config, { env: {} });
    expect([...m.keys()]).toEqual(['Global', 'Azure', 'K8s', 'AWS', 'GCP', 'Vault']);
    for (const [type, injector] of m) expect(injector.type).toBe(type);
    expect(createMutator(config, m).managers).toEqual(['Global', 'Azure', 'K8s', 'AWS', 'GCP', 'Vault']);
  });

  it('refuses to build Embedded (the default manager) without an Embedded injector', () => {
    let caught: unknown;
    try {
      buildInjectors(parseConfig({}, '(test)', {}), {});
    } catch (err) {
      caught = err;
    }
    expect(isFlyteSecretsError(caught, 'InvalidConfig')).toBe(true);
    expect((caught as Error).message).toContain('deps.embedded');
  });

  it('createMutator refuses a chain with a missing injector', () => {
    expect(() => createMutator(withTypes(['Azure']), new Map())).toThrow(/Global secret manager is enabled but no Global injector/);
  });
});
