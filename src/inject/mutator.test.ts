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
import type { InjectContext, SecretInjector } from './injector.js';
import { buildInjectors, createMutator, NONE_INJECTED_PREFIX, type MutationOutcome } from './mutator.js';
import { applyPatch } from './patch.js';

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

describe('mutator: Flyte vectors (spec §7.1)', () => {
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
      expect(out.message).toContain('using any of the enabled secret managers: [Global]. Possible reasons: the secret cannot be found or an internal error occurred; Global: Global says no');
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

  it('a secret no manager accepts: Flyte’s message, then each manager’s reason, in chain order', async () => {
    const { mutator } = setup(['Azure']);
    const secret = makeSecret({ group: 'plainname', key: 'k', mountRequirement: MountRequirement.FILE });
    const out = await mutator.mutate(taskPod([secret]), opts);
    expect(out.kind).toBe('denied');
    if (out.kind !== 'denied') return;
    const s = secretToString(secret);
    const head = `${NONE_INJECTED_PREFIX} [${s}]: failed to inject secret [${s}] using any of the enabled secret managers: [Global Azure]. Possible reasons: the secret cannot be found or an internal error occurred; Global: secrets not found - Env [FLYTE_SECRET_PLAINNAME_K], file [/etc/secrets/plainname/k]; Azure: `;
    expect(out.message.startsWith(head)).toBe(true);
    expect(out.code).toBe('InvalidKeyVaultUri');
    expect(out.secrets).toBe(1);
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

  describe('two managers with their own volume at /etc/flyte/secrets (spec §4.8)', () => {
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
      expect(out.message).toContain(`; Azure: delivering this secret would mount`);
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
        expect(out.message.endsWith(text)).toBe(true);
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
