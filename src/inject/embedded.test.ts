import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import fc from 'fast-check';
import { PassThroughClient } from 'google-auth-library';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startGcpStandIn, type GcpStandIn } from '../../test/support/gcp-stand-in.js';
import { parseConfig } from '../config/load.js';
import type { ConfigInput } from '../config/schema.js';
import { budgetedFetcher, createRequestBudget } from '../fetch/budget.js';
import { createSecretCache } from '../fetch/cache.js';
import { SecretNotFound, SecretReadFailure, type SecretFetcher } from '../fetch/fetcher.js';
import { createGcpFetcher } from '../fetch/gcp.js';
import type { ImagePullSecretStore } from '../fetch/k8s.js';
import { encodeSecretName, imagePullSecretName, type FlyteSecretId } from '../secret/flyte-id.js';
import { MountRequirement, makeSecret } from '../secret/model.js';
import { SecretValue } from '../secret/value.js';
import { EMBEDDED_VOLUME_NAME, FILE_MOUNT_SCRIPT, createEmbeddedInjector, expectedNamespace, fileKeyProblem, secretsLine, type EmbeddedInjectorOptions } from './embedded.js';
import type { InjectContext, InjectOutcome } from './injector.js';

const LABELS = { organization: 'organization', project: 'project', domain: 'domain' };

function pod(labels: Record<string, string> = LABELS, extra: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  return { metadata: { name: 'p', labels: { ...labels } }, spec: { containers: [{ name: 'container1' }], ...extra } };
}

function ctx(extra: Partial<InjectContext> = {}): InjectContext {
  return { namespace: 'project-domain', podName: 'p', warnings: [], ...extra };
}

/** A fetcher answering from a map of Flyte id → value; missing ids are not found. Records calls. */
function mapFetcher(values: Record<string, SecretValue | Error>): SecretFetcher & { calls: string[] } {
  const calls: string[] = [];
  return {
    kind: 'test',
    calls,
    fetch(id: FlyteSecretId) {
      const key = encodeSecretName(id);
      calls.push(key);
      const v = values[key];
      if (v === undefined) return Promise.reject(new SecretNotFound(key, new Error('404')));
      if (v instanceof Error) return Promise.reject(v);
      return Promise.resolve(v);
    },
  };
}

function scoped(name: string, scope: 'project' | 'domain' | 'org', labels = LABELS): string {
  return encodeSecretName({
    org: labels.organization,
    domain: scope === 'org' ? '' : labels.domain,
    project: scope === 'project' ? labels.project : '',
    name,
  });
}

/** The config the tests run with: `cfg`, with this file's organization label (`LABELS`) as the deployment's. */
function testConfig(cfg: ConfigInput = {}): ReturnType<typeof parseConfig> {
  const config = parseConfig(cfg);
  if (cfg.flyteSecrets?.embedded?.organization === undefined) config.flyteSecrets.embedded.organization = LABELS.organization;
  return config;
}

function injector(values: Record<string, SecretValue | Error>, cfg: ConfigInput = {}, extra: Partial<EmbeddedInjectorOptions> = {}) {
  const fetcher = mapFetcher(values);
  const inj = createEmbeddedInjector({ config: testConfig(cfg), fetcher, ...extra });
  return { inj, fetcher };
}

function ok(out: InjectOutcome): Pod {
  if (!out.injected) throw new Error(`expected injection, got ${out.code}: ${out.reason}`);
  return out.pod;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

const envOf = (p: Pod, i = 0) => p.spec!.containers[i]!.env;
/** The SECRETS env var of the FILE init container. */
const secretsOf = (p: Pod) => p.spec!.initContainers!.find((c) => c.name === 'init-embedded-secret')!.env!.filter((e) => e.name === 'SECRETS');

describe('Embedded injector: Flyte vectors (Flyte: `secret/embedded_secret_manager_test.go`)', () => {
  it.each([
    ['organization', {}],
    ['project', { organization: 'organization' }],
    ['domain', { organization: 'organization', project: 'project' }],
  ])('empty %s label → SecretRequirementsError, pod unchanged', async (label, labels) => {
    const { inj, fetcher } = injector({});
    const input = deepFreeze(pod(labels));
    const out = await inj.inject(makeSecret({ key: 'secretID' }), input, ctx());
    expect(out).toEqual({ injected: false, code: 'SecretRequirementsError', reason: `[SecretRequirementsError] secret read requirements not met due to empty ${label} field in the pod labels` });
    expect(fetcher.calls).toEqual([]);
  });

  describe('all labels, GCP fetcher against the REST stand-in', () => {
    let gcp: GcpStandIn;
    beforeAll(async () => {
      gcp = await startGcpStandIn();
    });
    afterAll(async () => {
      await gcp.close();
    });

    it('project and domain scopes not found, org value injected as _UNION_SECRETID; image-pull name of the org scope', async () => {
      gcp.secrets.set('projects/project/secrets/u__org__organization__domain____project____key__secretID', new TextEncoder().encode('secretValue'));
      const mirrored: string[] = [];
      const imagePull: ImagePullSecretStore = { mirror: (name) => (mirrored.push(name), Promise.resolve(false)) };
      const inj = createEmbeddedInjector({
        config: testConfig({ webhook: { embeddedSecretManagerConfig: { imagePullSecrets: { enabled: true } } } }),
        fetcher: createGcpFetcher({ project: 'project', apiEndpoint: '127.0.0.1', port: gcp.port, protocol: 'http', authClient: new PassThroughClient() }),
        imagePull,
      });
      const out = ok(await inj.inject(makeSecret({ key: 'secretID' }), pod(), ctx()));
      expect(envOf(out)).toEqual([
        { name: '_UNION_SECRETID', value: 'secretValue' },
        { name: 'FLYTE_SECRETS_ENV_PREFIX', value: '_UNION_' },
      ]);
      expect(out.spec!.initContainers ?? []).toEqual([]);
      expect(gcp.requests.map((r) => r.path)).toEqual([
        '/v1/projects/project/secrets/u__org__organization__domain__domain__project__project__key__secretID/versions/latest:access',
        '/v1/projects/project/secrets/u__org__organization__domain__domain__project____key__secretID/versions/latest:access',
        '/v1/projects/project/secrets/u__org__organization__domain____project____key__secretID/versions/latest:access',
      ]);
      expect(mirrored).toEqual([imagePullSecretName({ org: 'organization', domain: '', project: '', name: 'secretID' })]);
      expect(out.spec!.imagePullSecrets).toBeUndefined();
    });
  });

  it('InjectAsFile without env_var: one init container whose SECRETS is «secret1=YmFuYW5h\\n»', async () => {
    const { inj } = injector({ [scoped('secret1', 'project')]: SecretValue.fromBytes(new TextEncoder().encode('banana')) });
    const out = ok(await inj.inject(makeSecret({ key: 'secret1', mountRequirement: MountRequirement.FILE }), pod(), ctx()));
    const inits = out.spec!.initContainers!;
    expect(inits).toHaveLength(1);
    expect(inits[0]!.name).toBe('init-embedded-secret');
    expect(inits[0]!.image).toBe('public.ecr.aws/docker/library/busybox:latest');
    expect(secretsOf(out)).toEqual([{ name: 'SECRETS', value: 'secret1=YmFuYW5h\n' }]);
    // Like Flyte, the file-mode env vars reach every container, the init container included; SECRETS stays its own.
    expect(inits[0]!.env!.map((e) => e.name)).toEqual(['FLYTE_SECRETS_FILE_PREFIX', 'FLYTE_SECRETS_DEFAULT_DIR', 'SECRETS']);
    expect(inits[0]!.volumeMounts).toEqual([{ name: EMBEDDED_VOLUME_NAME, mountPath: '/etc/flyte/secrets', readOnly: false }]);
    expect(inits[0]!.resources).toEqual({ requests: { cpu: '100m', memory: '100Mi' }, limits: { cpu: '100m', memory: '100Mi' } });
    expect(out.spec!.volumes).toEqual([{ name: EMBEDDED_VOLUME_NAME, emptyDir: { medium: 'Memory' } }]);
    expect(out.spec!.containers[0]!.volumeMounts).toEqual([{ name: EMBEDDED_VOLUME_NAME, readOnly: true, mountPath: '/etc/flyte/secrets' }]);
    expect(envOf(out)).toEqual([
      { name: 'FLYTE_SECRETS_FILE_PREFIX', value: '' },
      { name: 'FLYTE_SECRETS_DEFAULT_DIR', value: '/etc/flyte/secrets' },
    ]);
  });

  it('InjectAsFile with env_var MY_ENV_VAR: the container also gets MY_ENV_VAR=/etc/flyte/secrets/secret1', async () => {
    const { inj } = injector({ [scoped('secret1', 'project')]: SecretValue.fromBytes(new TextEncoder().encode('banana')) });
    const out = ok(await inj.inject(makeSecret({ key: 'secret1', mountRequirement: MountRequirement.FILE, envVar: 'MY_ENV_VAR' }), pod(), ctx()));
    expect(secretsOf(out)).toEqual([{ name: 'SECRETS', value: 'secret1=YmFuYW5h\n' }]);
    expect(envOf(out)![0]).toEqual({ name: 'MY_ENV_VAR', value: '/etc/flyte/secrets/secret1' });
  });

  it.each([
    ['organization', { org: 'fruits' }, 'fruits'],
    ['domain', { org: 'fruits @ org', domain: 'fruits @ domain' }, 'fruits @ domain'],
    ['project', { org: 'fruits @ org', domain: 'fruits @ domain', project: 'fruits @ project' }, 'fruits @ project'],
  ])('scoped to %s', async (_scope, values, expected) => {
    const map: Record<string, SecretValue> = {};
    for (const [s, v] of Object.entries(values)) map[scoped('secret1', s as 'org' | 'domain' | 'project')] = SecretValue.fromString(v);
    for (const envVar of ['', 'MY_VAR']) {
      const { inj } = injector(map);
      const two: Pod = { ...pod(), spec: { containers: [{ name: 'c1' }, { name: 'c2' }] } };
      const out = ok(await inj.inject(makeSecret({ key: 'secret1', envVar }), two, ctx()));
      for (const c of out.spec!.containers) {
        expect(c.env).toEqual([
          { name: envVar || '_UNION_SECRET1', value: expected },
          { name: 'FLYTE_SECRETS_ENV_PREFIX', value: '_UNION_' },
        ]);
      }
    }
  });

  it('stale org cache: a cached org value does not shadow a project value in the backend', async () => {
    const cache = createSecretCache({ ttlMs: 3600_000, negativeTtlMs: 0, staleIfErrorMaxAgeMs: 0 });
    await cache.get({ org: 'organization', domain: '', project: '', name: 'secret1' }, () => Promise.resolve(SecretValue.fromString('stale org value')));
    const { inj } = injector({ [scoped('secret1', 'project')]: SecretValue.fromString('fresh project value') }, {}, { cache });
    const out = ok(await inj.inject(makeSecret({ key: 'secret1' }), pod(), ctx()));
    expect(envOf(out)![0]).toEqual({ name: '_UNION_SECRET1', value: 'fresh project value' });
  });

  describe('image-pull secrets', () => {
    const values = { [scoped('docker', 'project')]: SecretValue.fromString('{"auths":{}}') };
    const name = imagePullSecretName({ org: 'organization', domain: 'domain', project: 'project', name: 'docker' });
    const enabled = { webhook: { embeddedSecretManagerConfig: { imagePullSecrets: { enabled: true } } } };

    it('existing or newly created mirror → pod.imagePullSecrets == [{name}], sorted with the user’s', async () => {
      const calls: Array<[string, string, boolean]> = [];
      const imagePull: ImagePullSecretStore = { mirror: (n, ns, o) => (calls.push([n, ns, o.dryRun]), Promise.resolve(true)) };
      const { inj } = injector(values, enabled, { imagePull });
      const out = ok(await inj.inject(makeSecret({ key: 'docker' }), pod(), ctx()));
      expect(out.spec!.imagePullSecrets).toEqual([{ name }]);
      expect(calls).toEqual([[name, 'project-domain', false]]);
      const withUser = ok(await inj.inject(makeSecret({ key: 'docker' }), pod(LABELS, { imagePullSecrets: [{ name: 'zz-user' }, { name: 'aa-user' }] }), ctx({ dryRun: true })));
      expect(withUser.spec!.imagePullSecrets).toEqual([{ name: 'aa-user' }, { name }, { name: 'zz-user' }]);
      expect(calls[1]).toEqual([name, 'project-domain', true]);
      // Re-admission adds nothing.
      const again = ok(await inj.inject(makeSecret({ key: 'docker' }), out, ctx()));
      expect(again.spec!.imagePullSecrets).toEqual([{ name }]);
    });

    it('disabled → no imagePullSecrets and no Kubernetes calls', async () => {
      const calls: string[] = [];
      const { inj } = injector(values, {}, { imagePull: { mirror: (n) => (calls.push(n), Promise.resolve(true)) } });
      const out = ok(await inj.inject(makeSecret({ key: 'docker' }), pod(), ctx()));
      expect(out.spec!.imagePullSecrets).toBeUndefined();
      expect(calls).toEqual([]);
    });

    it('org-scoped value → the org-scoped image-pull name', async () => {
      const calls: string[] = [];
      const { inj } = injector({ [scoped('docker', 'org')]: SecretValue.fromString('x') }, enabled, { imagePull: { mirror: (n) => (calls.push(n), Promise.resolve(true)) } });
      ok(await inj.inject(makeSecret({ key: 'docker' }), pod(), ctx()));
      expect(calls).toEqual([imagePullSecretName({ org: 'organization', domain: '', project: '', name: 'docker' })]);
    });

    it('a mirror failure denies the pod with Flyte’s text', async () => {
      const imagePull: ImagePullSecretStore = { mirror: () => Promise.reject(new Error(`failed to create mirrored secret [${name}] in namespace [project-domain]: forbidden`)) };
      const { inj } = injector(values, enabled, { imagePull });
      const out = await inj.inject(makeSecret({ key: 'docker' }), pod(), ctx());
      expect(out).toMatchObject({ injected: false, reason: `failed to create mirrored secret [${name}] in namespace [project-domain]: forbidden` });
    });

    it('enabled without Kubernetes access is a start-up error', () => {
      expect(() => injector(values, enabled)).toThrow(/image-pull secret store/);
    });
  });

  it('InvalidateCache(o-apple, d-cherry, p-banana, secret1) drops exactly the three scope keys of that secret', async () => {
    const labels = { organization: 'o-apple', domain: 'd-cherry', project: 'p-banana' };
    const trustLabels = { flyteSecrets: { embedded: { enforceNamespaceScope: false } } }; // Flyte's vector, Flyte's behaviour
    const { inj, fetcher } = injector({ [scoped('secret1', 'org', labels)]: SecretValue.fromString('v1'), [scoped('secret2', 'project', labels)]: SecretValue.fromString('v2') }, trustLabels);
    const lookups = async (): Promise<void> => {
      ok(await inj.inject(makeSecret({ key: 'secret1' }), pod(labels), ctx()));
      ok(await inj.inject(makeSecret({ key: 'secret2' }), pod(labels), ctx()));
    };
    await lookups();
    expect(fetcher.calls).toHaveLength(4); // secret1: 404, 404, found; secret2: found
    await lookups();
    expect(fetcher.calls).toHaveLength(4); // all cached (negative entries too)
    inj.invalidate({ org: 'o-apple', domain: 'd-cherry', project: 'p-banana', name: 'secret1' });
    await lookups();
    expect(fetcher.calls.slice(4)).toEqual([
      'u__org__o-apple__domain__d-cherry__project__p-banana__key__secret1',
      'u__org__o-apple__domain__d-cherry__project____key__secret1',
      'u__org__o-apple__domain____project____key__secret1',
    ]);
  });
});

describe('Embedded injector: errors', () => {
  it('empty key → Flyte’s message with the Secret’s compact text', async () => {
    const { inj } = injector({});
    const out = await inj.inject(makeSecret({ group: 'g' }), pod(), ctx());
    expect(out).toMatchObject({ injected: false, code: 'InvalidSecret' });
    expect((out as { reason: string }).reason).toMatch(/^EmbeddedSecretManager requires key to be set\. Secret: \[group:\s*"g"\s*\]$/);
  });

  it('unknown mount requirement → «unrecognized mount requirement [7] for secret [k]» without any fetch', async () => {
    const { inj, fetcher } = injector({});
    const out = await inj.inject(makeSecret({ key: 'k', mountRequirement: 7 }), pod(), ctx());
    expect(out).toMatchObject({ injected: false, reason: 'unrecognized mount requirement [7] for secret [k]' });
    expect(fetcher.calls).toEqual([]);
  });

  it('not found at any scope → «[SecretNotFoundAcrossAllScopes] secret not found across all scopes», naming the scopes, after three lookups', async () => {
    const { inj, fetcher } = injector({});
    const out = await inj.inject(makeSecret({ key: 'missing' }), pod(), ctx());
    expect(out).toEqual({ injected: false, code: 'SecretNotFoundAcrossAllScopes', reason: '[SecretNotFoundAcrossAllScopes] secret not found across all scopes: project organization/domain/project, domain organization/domain, org organization' });
    expect(fetcher.calls).toHaveLength(3);
  });

  it('a read failure at the project scope stops the cascade (the org value is not used)', async () => {
    const { inj, fetcher } = injector({
      [scoped('db', 'project')]: new SecretReadFailure(scoped('db', 'project'), new Error('Operation get is not allowed on a disabled secret.')),
      [scoped('db', 'org')]: SecretValue.fromString('org value'),
    });
    const out = await inj.inject(makeSecret({ key: 'db' }), pod(), ctx());
    expect(out).toEqual({
      injected: false,
      code: 'SecretReadFailure',
      reason: `[SecretReadFailure] secret ${scoped('db', 'project')} failed to be read from secret manager, caused by: Operation get is not allowed on a disabled secret.`,
    });
    expect(fetcher.calls).toEqual([scoped('db', 'project')]);
  });

  it('a binary value that is not UTF-8 cannot be an env var (Flyte’s message); as a file it is fine', async () => {
    const { inj } = injector({ [scoped('bin', 'org')]: SecretValue.fromBytes(Uint8Array.from([0xff, 0xfe])) });
    for (const mountRequirement of [MountRequirement.ANY, MountRequirement.ENV_VAR]) {
      expect(await inj.inject(makeSecret({ key: 'bin', mountRequirement }), pod(), ctx())).toEqual({
        injected: false,
        code: 'InvalidSecret',
        reason: 'secret "bin" is attempted to be mounted as an environment variable, but has a binary value that is not a valid UTF-8 string; mount as a file instead',
      });
    }
    const out = ok(await inj.inject(makeSecret({ key: 'bin', mountRequirement: MountRequirement.FILE }), pod(), ctx()));
    expect(secretsOf(out)).toEqual([{ name: 'SECRETS', value: 'bin=//4=\n' }]);
  });

  it('no secret value ever appears in a refusal', async () => {
    const { inj } = injector({ [scoped('bin', 'org')]: SecretValue.fromBytes(Buffer.from('topsecret\xff', 'latin1')) });
    const out = await inj.inject(makeSecret({ key: 'bin' }), pod(), ctx());
    expect(JSON.stringify(out)).not.toContain('topsecret');
  });
});

describe('Embedded injector: fixes of Flyte behaviour (listed in docs/compatibility.md)', () => {
  const value = (s: string) => SecretValue.fromString(s);

  it('(3) every FILE secret’s env_var is set, not only the first one’s', async () => {
    const { inj } = injector({ [scoped('a', 'org')]: value('A'), [scoped('b', 'org')]: value('B') });
    let p = ok(await inj.inject(makeSecret({ key: 'a', mountRequirement: MountRequirement.FILE, envVar: 'A_PATH' }), pod(), ctx()));
    p = ok(await inj.inject(makeSecret({ key: 'b', mountRequirement: MountRequirement.FILE, envVar: 'B_PATH' }), p, ctx()));
    expect(envOf(p)).toEqual([
      { name: 'B_PATH', value: '/etc/flyte/secrets/b' },
      { name: 'A_PATH', value: '/etc/flyte/secrets/a' },
      { name: 'FLYTE_SECRETS_FILE_PREFIX', value: '' },
      { name: 'FLYTE_SECRETS_DEFAULT_DIR', value: '/etc/flyte/secrets' },
    ]);
    expect(p.spec!.initContainers).toHaveLength(1);
    expect(secretsOf(p)).toEqual([{ name: 'SECRETS', value: 'a=QQ==\nb=Qg==\n' }]);
    expect(p.spec!.volumes).toHaveLength(1);
  });

  it('(4) file path and env_var agree: the key’s case is kept in both', async () => {
    const { inj } = injector({ [scoped('API_Token', 'org')]: value('héllo\n') });
    const p = ok(await inj.inject(makeSecret({ key: 'API_Token', mountRequirement: MountRequirement.FILE, envVar: 'TOKEN_FILE' }), pod(), ctx()));
    expect(envOf(p)![0]).toEqual({ name: 'TOKEN_FILE', value: '/etc/flyte/secrets/API_Token' });
    expect(secretsOf(p)).toEqual([{ name: 'SECRETS', value: 'API_Token=aMOpbGxvCg==\n' }]);
  });

  it.each([
    ['../etc/passwd', 'contains "/"'],
    ['a/b', 'contains "/"'],
    ['..', 'contains ".."'],
    ['a..b', 'contains ".."'],
    ['.', 'is "."'],
    ['-rf', 'starts with "-"'],
    ['a=b', 'contains "="'],
    ['x\ny', 'contains a control character'],
    ['tab\there', 'contains a control character'],
    ['x'.repeat(256), 'is longer than 255 bytes'],
  ])('(5) FILE key %j is refused (%s) before any fetch', async (key, why) => {
    expect(fileKeyProblem(key)).toBe(why);
    const { inj, fetcher } = injector({});
    const out = await inj.inject(makeSecret({ key, mountRequirement: MountRequirement.FILE }), pod(), ctx());
    expect(out).toMatchObject({ injected: false });
    expect(fetcher.calls).toEqual([]);
  });

  it.each(['db-password', 'API_Token', 'with space', 'quote"and$(dollar)`tick`', 'ünïcödé', 'a.b'])('(5) FILE key %j is accepted', (key) => {
    expect(fileKeyProblem(key)).toBeUndefined();
  });

  it('(5) the script never contains a key, and keys reach it only through SECRETS', async () => {
    const key = 'x;$(touch pwned)';
    const { inj } = injector({ [scoped(key, 'org')]: value('v') });
    const p = ok(await inj.inject(makeSecret({ key, mountRequirement: MountRequirement.FILE }), pod(), ctx()));
    const init = p.spec!.initContainers![0]!;
    expect(init.command).toEqual(['sh', '-c', FILE_MOUNT_SCRIPT]);
    expect(init.command!.join(' ')).not.toContain('pwned');
    expect(secretsOf(p)).toEqual([{ name: 'SECRETS', value: secretsLine(key, new TextEncoder().encode('v')) }]);
  });

  it('(6) ANY is delivered as an env var, as Flyte’s Embedded manager does', async () => {
    const { inj } = injector({ [scoped('my-secret', 'org')]: value('s3cr3t') });
    const p = ok(await inj.inject(makeSecret({ key: 'my-secret', mountRequirement: MountRequirement.ANY }), pod(), ctx()));
    expect(envOf(p)).toEqual([
      { name: '_UNION_MY-SECRET', value: 's3cr3t' },
      { name: 'FLYTE_SECRETS_ENV_PREFIX', value: '_UNION_' },
    ]);
    expect(p.spec!.initContainers ?? []).toEqual([]);
  });
});

describe('Embedded injector: idempotency, purity, scope policy', () => {
  const value = (s: string) => SecretValue.fromString(s);

  it('never mutates its inputs', async () => {
    const { inj } = injector({ [scoped('a', 'org')]: value('A') });
    const input = deepFreeze(pod());
    const secret = deepFreeze(makeSecret({ key: 'a', mountRequirement: MountRequirement.FILE, envVar: 'P' }));
    ok(await inj.inject(secret, input, ctx()));
    ok(await inj.inject(makeSecret({ key: 'a' }), input, ctx()));
  });

  it('re-admission of a mutated pod changes nothing (no duplicate SECRETS lines, env, mounts or volumes)', async () => {
    const { inj } = injector({ [scoped('a', 'org')]: value('A'), [scoped('b', 'org')]: value('B') });
    let p = pod();
    for (const s of [makeSecret({ key: 'a', mountRequirement: MountRequirement.FILE, envVar: 'A_PATH' }), makeSecret({ key: 'b' })]) p = ok(await inj.inject(s, p, ctx()));
    let again = p;
    for (const s of [makeSecret({ key: 'a', mountRequirement: MountRequirement.FILE, envVar: 'A_PATH' }), makeSecret({ key: 'b' })]) again = ok(await inj.inject(s, again, ctx()));
    expect(again).toEqual(p);
  });

  it('a rotated value replaces the SECRETS line of its key', async () => {
    const values: Record<string, SecretValue> = { [scoped('a', 'org')]: value('old') };
    const fetcher: SecretFetcher = {
      kind: 't',
      fetch: (id) => {
        const v = values[encodeSecretName(id)];
        return v === undefined ? Promise.reject(new SecretNotFound(encodeSecretName(id))) : Promise.resolve(v);
      },
    };
    const inj = createEmbeddedInjector({ config: testConfig({}), fetcher });
    const first = ok(await inj.inject(makeSecret({ key: 'a', mountRequirement: MountRequirement.FILE }), pod(), ctx()));
    values[scoped('a', 'org')] = value('new');
    inj.invalidate({ org: 'organization', domain: 'domain', project: 'project', name: 'a' });
    const second = ok(await inj.inject(makeSecret({ key: 'a', mountRequirement: MountRequirement.FILE }), first, ctx()));
    expect(secretsOf(second)).toEqual([{ name: 'SECRETS', value: 'a=bmV3\n' }]);
  });

  it('refuses FILE delivery when another manager already mounts a volume at /etc/flyte/secrets', async () => {
    const { inj } = injector({ [scoped('a', 'org')]: value('A') });
    const withAzure = pod(LABELS, { containers: [{ name: 'c', volumeMounts: [{ name: 'azure-secret-vol', mountPath: '/etc/flyte/secrets', readOnly: true }] }] });
    const out = await inj.inject(makeSecret({ key: 'a', mountRequirement: MountRequirement.FILE }), withAzure, ctx());
    expect(out).toMatchObject({ injected: false, code: 'InjectionRefused' });
    expect((out as { reason: string }).reason).toContain('azure-secret-vol');
  });

  it('by default a pod in namespace team-b labelled project team-a is refused, naming the labels, the namespaces and namespaceTemplate', async () => {
    const labels = { organization: 'organization', project: 'team-a', domain: 'development' };
    const { inj, fetcher } = injector({ [scoped('a', 'project', labels)]: value('A') });
    const out = await inj.inject(makeSecret({ key: 'a' }), pod(labels), ctx({ namespace: 'team-b' }));
    expect(out).toMatchObject({ injected: false, code: 'InjectionRefused' });
    const reason = (out as { reason: string }).reason;
    for (const part of ['project "team-a"', 'domain "development"', 'namespace "team-a-development"', 'namespace "team-b"', 'namespaceTemplate']) expect(reason).toContain(part);
    expect(fetcher.calls).toEqual([]);
    expect(await inj.inject(makeSecret({ key: 'a' }), pod(labels), ctx({ namespace: 'team-a-development' }))).toMatchObject({ injected: true });
  });

  it('by default the organization label cannot name another organization (the default template has no {org})', async () => {
    const other = { organization: 'other-org', project: 'team-a', domain: 'development' };
    const fetcher = mapFetcher({ [scoped('a', 'org', other)]: value('A') });
    const inj = createEmbeddedInjector({ config: parseConfig({}), fetcher });
    await expect(inj.inject(makeSecret({ key: 'a' }), pod({ ...other, organization: 'flyte' }), ctx({ namespace: 'team-a-development' }))).resolves.toMatchObject({ injected: false, code: 'SecretNotFoundAcrossAllScopes' });
    const out = await inj.inject(makeSecret({ key: 'a' }), pod(other), ctx({ namespace: 'team-a-development' }));
    expect(out).toMatchObject({ injected: false, code: 'InjectionRefused' });
    expect((out as { reason: string }).reason).toContain('organization "other-org" is not this deployment\'s organization "flyte"');
    expect(fetcher.calls).toHaveLength(3);
    // With {org} in the template the namespace pins the organization instead.
    const perOrg = injector({ [scoped('a', 'org', other)]: value('A') }, { flyteSecrets: { embedded: { namespaceTemplate: '{org}-{project}-{domain}' } } });
    expect(await perOrg.inj.inject(makeSecret({ key: 'a' }), pod(other), ctx({ namespace: 'other-org-team-a-development' }))).toMatchObject({ injected: true });
    expect(await perOrg.inj.inject(makeSecret({ key: 'a' }), pod(other), ctx({ namespace: 'team-a-development' }))).toMatchObject({ injected: false, code: 'InjectionRefused' });
  });

  it('by default image-pull mirroring never copies another project\'s pull secret into the pod\'s namespace', async () => {
    const labels = { organization: 'organization', project: 'team-a', domain: 'development' };
    const mirrored: string[] = [];
    const imagePull: ImagePullSecretStore = { mirror: (name, namespace) => (mirrored.push(`${namespace}/${name}`), Promise.resolve(true)) };
    const { inj } = injector({ [scoped('docker', 'project', labels)]: value('{}') }, { webhook: { embeddedSecretManagerConfig: { imagePullSecrets: { enabled: true } } } }, { imagePull });
    expect(await inj.inject(makeSecret({ key: 'docker' }), pod(labels), ctx({ namespace: 'team-b' }))).toMatchObject({ injected: false });
    expect(mirrored).toEqual([]);
  });

  it('namespaceTemplate must contain {project}', () => {
    expect(() => parseConfig({ flyteSecrets: { embedded: { namespaceTemplate: 'flyte' } } })).toThrow(/namespaceTemplate[\s\S]*\{project\}/);
  });

  it('enforceNamespaceScope: false trusts the labels, as Flyte does', async () => {
    const { inj } = injector({ [scoped('a', 'org')]: value('A') }, { flyteSecrets: { embedded: { enforceNamespaceScope: false } } });
    expect(await inj.inject(makeSecret({ key: 'a' }), pod(), ctx({ namespace: 'anywhere' }))).toMatchObject({ injected: true });
  });

  it('enforceNamespaceScope: labels must match the namespace per namespaceTemplate', async () => {
    const cfg = { flyteSecrets: { embedded: { enforceNamespaceScope: true } } };
    const { inj, fetcher } = injector({ [scoped('a', 'org')]: value('A') }, cfg);
    expect(ok(await inj.inject(makeSecret({ key: 'a' }), pod(), ctx({ namespace: 'project-domain' })))).toBeDefined();
    const out = await inj.inject(makeSecret({ key: 'a' }), pod({ ...LABELS, project: 'other' }), ctx({ namespace: 'project-domain' }));
    expect(out).toMatchObject({ injected: false, code: 'InjectionRefused' });
    expect((out as { reason: string }).reason).toContain('"other-domain"');
    expect(fetcher.calls).toHaveLength(3);
    const custom = injector({ [scoped('a', 'org')]: value('A') }, { flyteSecrets: { embedded: { enforceNamespaceScope: true, namespaceTemplate: 'flyte-{project}' } } });
    expect(await custom.inj.inject(makeSecret({ key: 'a' }), pod(), ctx({ namespace: 'flyte-project' }))).toMatchObject({ injected: true });
    expect(expectedNamespace('{org}/{project}/{domain}', { org: 'o', project: 'p', domain: 'd' })).toBe('o/p/d');
  });

  it('a stale value served from the cache adds an admission warning (without the value)', async () => {
    let t = 1_000_000;
    const now = () => t;
    const values: Record<string, SecretValue | Error> = { [scoped('a', 'project')]: value('good-value') };
    const { inj } = injector(values, {}, { cache: createSecretCache({ ttlMs: 1000, negativeTtlMs: 0, staleIfErrorMaxAgeMs: 60_000, now }), now });
    ok(await inj.inject(makeSecret({ key: 'a' }), pod(), ctx()));
    t += 5000;
    values[scoped('a', 'project')] = new SecretReadFailure(scoped('a', 'project'), new Error('429'), { throttled: true, retryable: true });
    const c = ctx();
    const p = ok(await inj.inject(makeSecret({ key: 'a' }), pod(), c));
    expect(envOf(p)![0]).toEqual({ name: '_UNION_A', value: 'good-value' });
    expect(c.warnings).toEqual(['secret "a": the secret store could not be read, so a cached value 5s old was used']);
  });

  it('env var names Kubernetes refuses are refused', async () => {
    const { inj } = injector({ [scoped('a', 'org')]: value('A') });
    expect(await inj.inject(makeSecret({ key: 'a', envVar: 'A=B' }), pod(), ctx())).toMatchObject({ injected: false, code: 'InvalidInput' });
  });
});

/** A backend whose calls stay open until the test answers them; a call ends early only when its signal aborts. */
function heldFetcher(): SecretFetcher & { calls: { signal: AbortSignal; answer: (v: SecretValue) => void }[] } {
  const calls: { signal: AbortSignal; answer: (v: SecretValue) => void }[] = [];
  return {
    kind: 'held',
    calls,
    fetch(_id, signal) {
      return new Promise<SecretValue>((resolve, reject) => {
        const s = signal ?? new AbortController().signal;
        s.addEventListener('abort', () => reject(new SecretReadFailure('held', s.reason)), { once: true });
        calls.push({ signal: s, answer: resolve });
      });
    },
  };
}

describe('Embedded injector: admissions sharing one read keep their own deadlines', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup() {
    vi.useFakeTimers({ now: 1_000_000 });
    const held = heldFetcher();
    const budget = createRequestBudget({ requestsPer10s: 4000, callTimeoutMs: 3000, maxAttempts: 1 });
    const inj = createEmbeddedInjector({ config: testConfig(), fetcher: budgetedFetcher(held, budget) });
    const admit = (bounds: { deadline: number; signal?: AbortSignal }) => inj.inject(makeSecret({ key: 'a' }), pod(), { ...ctx(), ...bounds });
    return { held, admit };
  }

  it('one with 5 s left that joins one with 150 ms left is not cut short by the other’s deadline', async () => {
    const { held, admit } = setup();
    const short = admit({ deadline: Date.now() + 150 });
    await vi.advanceTimersByTimeAsync(0);
    const long = admit({ deadline: Date.now() + 5000 });
    await vi.advanceTimersByTimeAsync(200);
    // The short admission has left with its own timeout; the one backend call goes on for the long one.
    expect(await short).toMatchObject({ injected: false, code: 'SecretReadFailure' });
    expect(held.calls).toHaveLength(1);
    expect(held.calls[0]!.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(2000);
    expect(held.calls[0]!.signal.aborted).toBe(false);
    held.calls[0]!.answer(SecretValue.fromString('shared'));
    expect(envOf(ok(await long))![0]).toEqual({ name: '_UNION_A', value: 'shared' });
    expect(held.calls).toHaveLength(1);
  });

  it('the first admission ending (its signal aborts) does not end the read the others wait for', async () => {
    const { held, admit } = setup();
    const first = new AbortController();
    const a = admit({ deadline: Date.now() + 5000, signal: first.signal });
    await vi.advanceTimersByTimeAsync(0);
    const b = admit({ deadline: Date.now() + 5000 });
    await vi.advanceTimersByTimeAsync(10);
    first.abort(new Error('admission closed'));
    expect(await a).toMatchObject({ injected: false });
    expect(held.calls[0]!.signal.aborted).toBe(false);
    held.calls[0]!.answer(SecretValue.fromString('shared'));
    expect(envOf(ok(await b))![0]).toEqual({ name: '_UNION_A', value: 'shared' });
  });

  it('the shared read still ends within the call timeout, and when the last waiting admission leaves', async () => {
    const { held, admit } = setup();
    const a = admit({ deadline: Date.now() + 10_000 });
    await vi.advanceTimersByTimeAsync(2999);
    expect(held.calls[0]!.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(held.calls[0]!.signal.aborted).toBe(true);
    expect(await a).toMatchObject({ injected: false, code: 'SecretReadFailure' });
    const gone = new AbortController();
    const b = admit({ deadline: Date.now() + 10_000, signal: gone.signal });
    await vi.advanceTimersByTimeAsync(0);
    gone.abort(new Error('admission closed'));
    await b;
    expect(held.calls[1]!.signal.aborted).toBe(true);
  });
});

describe('FILE_MOUNT_SCRIPT runs under busybox sh and dash, with busybox and coreutils base64', () => {
  const busybox = spawnSync('busybox', ['true']).status === 0;
  const shells: Array<[string, string[], boolean]> = [
    ['dash + coreutils base64', ['dash'], false],
    ['busybox sh + busybox base64', ['busybox', 'sh'], true],
  ];
  it('busybox is installed (the init container image is busybox)', () => {
    expect(busybox).toBe(true);
  });

  for (const [label, sh, busyboxApplets] of shells) {
    it(`${label}: writes byte-exact files, keys with spaces and shell metacharacters included; fails on a bad line`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'embedded-script-'));
      try {
        const root = join(dir, 'secrets');
        execFileSync('mkdir', [root]);
        let path = process.env.PATH ?? '';
        if (busyboxApplets) {
          const bin = join(dir, 'bin');
          execFileSync('mkdir', [bin]);
          symlinkSync(execFileSync('sh', ['-c', 'command -v busybox']).toString().trim(), join(bin, 'base64'));
          path = `${bin}:${path}`;
        }
        const script = FILE_MOUNT_SCRIPT.replace('root=/etc/flyte/secrets', `root='${root}'`);
        expect(script).not.toBe(FILE_MOUNT_SCRIPT);
        const files: Array<[string, Uint8Array]> = [
          ['secret1', new TextEncoder().encode('banana')],
          ['API_Token', new TextEncoder().encode('héllo\n')],
          ['with space $(touch pwned) `x`', Uint8Array.from([0, 1, 2, 255, 10])],
          ['empty', new Uint8Array()],
        ];
        const SECRETS = files.map(([k, v]) => secretsLine(k, v)).join('');
        const run = spawnSync(sh[0]!, [...sh.slice(1), '-c', script], { env: { PATH: path, SECRETS }, cwd: dir, encoding: 'utf8' });
        expect(run.stderr).toBe('');
        expect(run.status).toBe(0);
        expect(readdirSync(root).sort()).toEqual(files.map(([k]) => k).sort());
        for (const [k, v] of files) expect(new Uint8Array(readFileSync(join(root, k)))).toEqual(v);
        expect(readdirSync(dir)).not.toContain('pwned');
        const bad = spawnSync(sh[0]!, [...sh.slice(1), '-c', script], { env: { PATH: path, SECRETS: 'ok=YQ==\n../escape=YQ==\n' }, encoding: 'utf8' });
        expect(bad.status).not.toBe(0);
        expect(readdirSync(dir)).not.toContain('escape');
        // A write that fails (here: the mount is missing) fails the init container (set -e), unlike Flyte's `sh -c`.
        const noRoot = spawnSync(sh[0]!, [...sh.slice(1), '-c', script.replace(`root='${root}'`, `root='${root}/missing'`)], { env: { PATH: path, SECRETS: 'x=YQ==\n' }, encoding: 'utf8' });
        expect(noRoot.status).not.toBe(0);
        if (!busyboxApplets) {
          // coreutils base64 also refuses damaged input (busybox's skips characters outside the alphabet).
          const notBase64 = spawnSync(sh[0]!, [...sh.slice(1), '-c', script], { env: { PATH: path, SECRETS: 'x=***\n' }, encoding: 'utf8' });
          expect(notBase64.status).not.toBe(0);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('Embedded injector: copy-on-write', () => {
  it('edits a frozen pod without writing into it and gives what it gives on a deep copy, also when re-admitting or rotating a SECRETS line (property)', async () => {
    const values: Record<string, SecretValue> = { [scoped('a', 'org')]: SecretValue.fromString('A'), [scoped('b', 'project')]: SecretValue.fromString('B') };
    const { inj } = injector(values);
    const secretArb = fc.record({ key: fc.constantFrom('a', 'b'), file: fc.boolean(), envVar: fc.constantFrom('', 'P') }).map(({ key, file, envVar }) => makeSecret({ key, mountRequirement: file ? MountRequirement.FILE : MountRequirement.ENV_VAR, envVar }));
    await fc.assert(
      fc.asyncProperty(fc.array(secretArb, { minLength: 1, maxLength: 5 }), fc.boolean(), fc.constantFrom('', 'a=b2xk\n', 'z=eg==\n'), async (secrets, userInit, oldLine) => {
        let p = pod(LABELS, {
          initContainers: [
            ...(userInit ? [{ name: 'setup', env: [{ name: 'X', value: '1' }] }] : []),
            ...(oldLine === '' ? [] : [{ name: 'init-embedded-secret', env: [{ name: 'SECRETS', value: oldLine }] }]),
          ],
        });
        for (const secret of secrets) {
          const reference = await inj.inject(secret, structuredClone(p), ctx());
          const input = deepFreeze(structuredClone(p));
          const out = await inj.inject(secret, input, ctx()); // a write into the frozen input would throw
          expect(JSON.stringify(out)).toBe(JSON.stringify(reference));
          if (!out.injected) return;
          p = out.pod;
        }
      }),
      { numRuns: 150 },
    );
  });
});
