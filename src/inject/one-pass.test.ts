/**
 * The mutator's one pass for sidecar managers (`addSidecars`) against its reference, the secret-by-secret loop
 * (`createMutator(…, { onePass: false })`): same outcome, byte for byte, for pods shaped to hit every reason the one
 * pass has to step aside.
 */
import fc from 'fast-check';
import type { Container, EnvVar, Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import type { SecretManagerType } from '../config/schema.js';
import { annotatePod } from '../secret/annotations.js';
import { makeSecret, MountRequirement, type Secret } from '../secret/model.js';
import { deepFreeze } from '../../test/support/injector-vectors.js';
import type { SecretInjector } from './injector.js';
import { buildInjectors, createMutator, type MutationOutcome } from './mutator.js';
import { applyPatch } from './patch.js';
import { addSidecars, type SidecarSpec } from './pod-edit.js';

const opts = { namespace: 'ns', dryRun: false };

/** The outcome without the patch text only the one pass writes (the chain leaves it to the answer). */
function withoutPatchText(out: MutationOutcome): MutationOutcome {
  if (out.kind !== 'mutated') return out;
  const { patchJson: _text, ...rest } = out;
  return rest;
}
const noFiles = (): Promise<Uint8Array> => Promise.reject(new Error('ENOENT'));

/** `injectors`, counting the calls that decide with the pod (the loop's); planWithoutPod is left as it is. */
function counted(injectors: Map<SecretManagerType, SecretInjector>, calls: { n: number }): Map<SecretManagerType, SecretInjector> {
  const out = new Map<SecretManagerType, SecretInjector>();
  for (const [type, inj] of injectors) {
    const wrapped: SecretInjector = {
      type,
      inject: (secret, pod, ctx) => {
        calls.n++;
        return inj.inject(secret, pod, ctx);
      },
    };
    if (inj.injectNow !== undefined) {
      wrapped.injectNow = (secret, pod, ctx) => {
        calls.n++;
        return inj.injectNow?.(secret, pod, ctx);
      };
    }
    if (inj.planWithoutPod !== undefined) wrapped.planWithoutPod = (secret) => inj.planWithoutPod?.(secret);
    out.set(type, wrapped);
  }
  return out;
}

/** Mostly `usual`, now and then `rare` (the shapes that send the pod to the loop). */
const mostly = <T>(usual: fc.Arbitrary<T>, rare: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight: 12, arbitrary: usual }, { weight: 1, arbitrary: rare });

const name = mostly(fc.constantFrom('db', 'api-key', 'Token', 'cache', 'queue', 'blob-key'), fc.constant('db/x'));
const mount = mostly(fc.constantFrom(MountRequirement.ANY, MountRequirement.FILE), fc.constant(MountRequirement.ENV_VAR));
const azureArb = mostly(
  fc.record({ n: name, v: mostly(fc.constant(''), fc.constantFrom('v1', 'V1')), m: mount, vault: fc.constantFrom('kvault', 'other') }).map(({ n, v, m, vault }) => makeSecret({ group: `https://${vault}.vault.azure.net/secrets/${n}`, groupVersion: v, mountRequirement: m })),
  fc.constantFrom(makeSecret({ group: 'https://kvault.vault.azure.net/secrets/a/0123456789abcdef0123456789abcdef' }), makeSecret({ group: 'https://bad_host/secrets/a' }), makeSecret({ group: 'https://kvault.vault.azure.net/secrets/' })),
);
const awsArb = fc.record({ k: name, m: mount }).map(({ k, m }) => makeSecret({ group: 'arn:aws:secretsmanager:us-east-1:1:secret', key: k, mountRequirement: m }));
const gcpArb = fc.record({ g: fc.constantFrom('db', 'api_key'), v: fc.constantFrom('1', 'latest') }).map(({ g, v }) => makeSecret({ group: g, groupVersion: v }));
const otherArb = fc.oneof(
  fc.record({ g: fc.constantFrom('db-creds', ''), k: fc.constantFrom('password', 'user') }).map(({ g, k }) => makeSecret({ group: g, key: k, mountRequirement: MountRequirement.FILE })),
  fc.constant(makeSecret({ group: 'global', key: 'token' })),
);
/** The pod's secrets: mostly of one sidecar manager, sometimes a mix. */
const secretsArb: fc.Arbitrary<Secret[]> = fc.oneof(
  { weight: 4, arbitrary: fc.array(azureArb, { minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.array(awsArb, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(gcpArb, { minLength: 1, maxLength: 3 }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(azureArb, awsArb, gcpArb, otherArb), { minLength: 1, maxLength: 4 }) },
);
const envArb = fc.option(
  mostly(
    fc.subarray([{ name: 'USER_VAR', value: 'x' }, { name: 'AZURE_CLIENT_ID', value: 'id' }]),
    fc.subarray([{ name: 'USER_VAR', value: 'x' }, { name: 'FLYTE_SECRETS_DEFAULT_DIR', value: '/etc/flyte/secrets' }, { name: 'FLYTE_SECRETS_FILE_PREFIX', value: '' }], { minLength: 1 }),
  ),
  { nil: undefined, freq: 3 },
);
const mountsArb = fc.option(
  mostly(
    fc.subarray([{ name: 'scratch', mountPath: '/scratch' }]),
    fc.subarray([{ name: 'scratch', mountPath: '/scratch' }, { name: 'certs', mountPath: '/etc/flyte/secrets' }, { name: 'azure-secret-vol', mountPath: '/mnt/azure' }], { minLength: 1 }),
  ),
  { nil: undefined, freq: 3 },
);
const containerArb = (names: fc.Arbitrary<string>): fc.Arbitrary<Container> =>
  fc.record({ name: names, env: envArb, mounts: mountsArb }).map(({ name: n, env, mounts }) => {
    const c: Container = { name: n, image: 'busybox' };
    if (env !== undefined) c.env = env;
    if (mounts !== undefined) c.volumeMounts = mounts;
    return c;
  });
const podArb = fc.record({
  mains: fc.uniqueArray(containerArb(mostly(fc.constantFrom('main', 'proxy'), fc.constant('azure-pull-secret-1'))), { minLength: 1, maxLength: 2, selector: (c) => c.name }),
  inits: fc.option(fc.uniqueArray(containerArb(mostly(fc.constant('setup'), fc.constantFrom('azure-pull-secret-0', 'aws-pull-secret-0', 'flyte-secrets-agent'))), { maxLength: 2, selector: (c) => c.name }), { nil: undefined }),
  volumes: fc.option(mostly(fc.subarray([{ name: 'scratch', emptyDir: {} }]), fc.constant([{ name: 'azure-secret-vol', emptyDir: {} }]).map((v) => [...v])), { nil: undefined }),
  identity: fc.boolean(),
  vault: mostly(fc.constant(false), fc.constant(true)),
});
const configArb = fc.record({
  managers: mostly(
    fc.shuffledSubarray(['Azure', 'AWS', 'GCP'] as SecretManagerType[], { minLength: 3 }),
    fc.shuffledSubarray(['Azure', 'AWS', 'GCP', 'K8s'] as SecretManagerType[], { minLength: 1 }),
  ),
  warn: fc.boolean(),
  // The sidecars' image is config text: JSON must escape some of it (quotes, backslashes, lone surrogates).
  image: mostly(fc.constant(undefined), fc.constantFrom('registry.example/cli:"v1"\\x', 'cli\u2028\ud800:1')),
});

type PodShape = typeof podArb extends fc.Arbitrary<infer T> ? T : never;

function podOf(secrets: Secret[], p: PodShape): Pod {
  const spec: NonNullable<Pod['spec']> = { containers: p.mains };
  if (p.inits !== undefined) spec.initContainers = p.inits;
  if (p.volumes !== undefined) spec.volumes = p.volumes;
  const labels: Record<string, string> = p.identity ? { 'azure.workload.identity/use': 'true' } : {};
  const annotations: Record<string, string> = p.vault ? { 'vault.hashicorp.com/agent-inject': 'true', 'vault.hashicorp.com/secret-volume-path': '/etc/flyte/secrets' } : {};
  return annotatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'task-1', namespace: 'ns', labels, annotations }, spec }, secrets);
}

describe('mutator: the one pass for sidecar managers', () => {
  it('gives the outcome of the secret-by-secret loop, byte for byte, and its patch rebuilds its pod (property)', async () => {
    let onePass = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(configArb, secretsArb, podArb, async ({ managers, warn, image }, secrets, shape) => {
        const env = { FLYTE_SECRET_GLOBAL_TOKEN: 'value' };
        const images = image === undefined ? {} : { awsSecretManager: { sidecarImage: image }, gcpSecretManager: { sidecarImage: image }, azureSecretManager: { sidecarImage: image } };
        const config = parseConfig({ webhook: { secretManagerTypes: managers, ...images }, flyteSecrets: { azure: { warnWithoutWorkloadIdentity: warn } } }, '(test)', {});
        const injectors = buildInjectors(config, { env, readFile: noFiles });
        const calls = { n: 0 };
        const fast = createMutator(config, counted(injectors, calls));
        const loop = createMutator(config, injectors, { onePass: false });
        const pod = deepFreeze(podOf(secrets, shape));
        const a = await fast.mutate(pod, opts);
        const b = await loop.mutate(pod, opts);
        expect(JSON.stringify(withoutPatchText(a))).toBe(JSON.stringify(b));
        runs++;
        if (calls.n === 0) {
          onePass++;
          // The one pass writes the patch's JSON text too: exactly JSON.stringify's.
          expect(a.kind === 'mutated' && a.patchJson).toBe(JSON.stringify(a.kind === 'mutated' && a.patch));
        } else {
          expect(a.kind === 'mutated' && a.patchJson).toBeFalsy();
        }
        if (a.kind !== 'mutated') return;
        expect(applyPatch(pod, a.patch)).toEqual(JSON.parse(JSON.stringify(a.pod)));
        // Re-admission: the loop decides it (the sidecars are there), with an empty patch.
        const again = await fast.mutate(deepFreeze(JSON.parse(JSON.stringify(a.pod)) as Pod), opts);
        expect(again.kind === 'mutated' && again.patch).toEqual([]);
      }),
      { numRuns: 400 },
    );
    // The generator reaches both paths often enough for the comparison to mean something.
    expect(onePass).toBeGreaterThan(runs / 10);
    expect(onePass).toBeLessThan(runs);
  });

  it('takes a Flyte task pod with three Key Vault secrets without asking any injector to edit a pod', async () => {
    const config = parseConfig({ webhook: { secretManagerTypes: ['Azure'] } }, '(test)', {});
    const injectors = buildInjectors(config, { env: {}, readFile: noFiles });
    const calls = { n: 0 };
    const secrets = ['db-password', 'api-key', 'token'].map((n) => makeSecret({ group: `https://kvault.vault.azure.net/secrets/${n}`, mountRequirement: MountRequirement.FILE }));
    const pod = deepFreeze(podOf(secrets, { mains: [{ name: 'main', image: 'python:3.12', env: [{ name: 'A', value: '1' }] }], inits: undefined, volumes: undefined, identity: true, vault: false }));
    const out = await createMutator(config, counted(injectors, calls)).mutate(pod, opts);
    expect(calls.n).toBe(0);
    expect(JSON.stringify(withoutPatchText(out))).toBe(JSON.stringify(await createMutator(config, injectors, { onePass: false }).mutate(pod, opts)));
    expect(out.kind === 'mutated' && out.patchJson).toBe(JSON.stringify(out.kind === 'mutated' && out.patch));
    expect(out.kind === 'mutated' && out.patch.map((op) => `${op.op} ${op.path}`)).toEqual([
      'add /spec/containers/0/env/0',
      'add /spec/containers/0/env/1',
      'add /spec/containers/0/volumeMounts',
      'add /spec/initContainers',
      'add /spec/volumes',
    ]);
  });

  it('writes the patch text of a sidecar that brings no env vars of its own', () => {
    const spec: SidecarSpec = { manager: 'Test', volumeName: 'test-vol', namePrefix: 'test-pull-', image: 'img', resources: {}, env: [], ownMountPath: '/out' };
    const pod = deepFreeze<Pod>({ metadata: { name: 'p' }, spec: { containers: [{ name: 'main', image: 'busybox', volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }], volumes: [{ name: 'scratch', emptyDir: {} }] } });
    const out = addSidecars(pod, [spec]);
    expect(out).toBeDefined();
    expect(out?.patchJson).toBe(JSON.stringify(out?.patch));
    expect(out?.pod.spec?.initContainers?.[0]?.env?.map((v) => v.name)).toEqual(['FLYTE_SECRETS_FILE_PREFIX', 'FLYTE_SECRETS_DEFAULT_DIR']);
  });

  it('writes env vars JSON must escape, or of another shape, as JSON.stringify does', () => {
    const odd: EnvVar[] = [
      { name: 'QUOTED', value: 'a "b" \\ c\n\u2028\ud800' },
      { value: 'first', name: 'REORDERED' },
      { name: 'FROM', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
      { name: 'EMPTY', value: '' },
      { name: 'PLAIN', value: 'https://kv.vault.azure.net/secrets/x' },
    ];
    for (let i = 0; i < odd.length; i++) {
      const spec: SidecarSpec = { manager: 'Test', volumeName: 'test-vol', namePrefix: 'test-pull-', image: 'img', resources: {}, env: [odd[i]!, odd[(i + 1) % odd.length]!], ownMountPath: '/out' };
      const out = addSidecars(deepFreeze<Pod>({ spec: { containers: [{ name: 'main', image: 'busybox' }] } }), [spec]);
      expect(out?.patchJson).toBe(JSON.stringify(out?.patch));
    }
  });
});
