import 'reflect-metadata';
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { Pod as PodModel } from 'kubernetes-models/v1/Pod';
import { describe, expect, it } from 'vitest';
import { BROKER_CA_ENV, BROKER_TOKEN_VOLUME } from '../broker/protocol.js';
import { AGENT_CONTAINER_NAME } from './agent.js';
import { parseConfig } from '../config/load.js';
import type { Config, ConfigInput } from '../config/schema.js';
import { SecretNotFound, type SecretFetcher } from '../fetch/fetcher.js';
import { secretsToAnnotations } from '../secret/annotations.js';
import { encodeSecretName, type FlyteSecretId } from '../secret/flyte-id.js';
import { MountRequirement, makeSecret, type Secret } from '../secret/model.js';
import { SecretValue } from '../secret/value.js';
import { createEmbeddedInjector } from './embedded.js';
import { annotationIndexOf, envFilesNeededMessage } from './embedded-agent.js';
import { buildInjectors, createMutator } from './mutator.js';
import { applyPatch } from './patch.js';

const LABELS = { organization: 'flyte', project: 'p', domain: 'd' };
const CANARY = 'canary-7f3a9c1e-value';
const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const URL = 'https://flyte-pod-webhook.flyte.svc:443/broker/v1/secrets';

function fetcher(values: Record<string, SecretValue>): SecretFetcher {
  return {
    kind: 'test',
    fetch(id: FlyteSecretId) {
      const v = values[encodeSecretName(id)];
      return v === undefined ? Promise.reject(new SecretNotFound(encodeSecretName(id), new Error('404'))) : Promise.resolve(v);
    },
  };
}

const VALUES = {
  [encodeSecretName({ org: 'flyte', domain: 'd', project: 'p', name: 'token' })]: SecretValue.fromString(`tok-${CANARY}`),
  [encodeSecretName({ org: 'flyte', domain: '', project: '', name: 'db' })]: SecretValue.fromString(`db-${CANARY}`),
  [encodeSecretName({ org: 'flyte', domain: '', project: '', name: 'bin' })]: SecretValue.fromBytes(Uint8Array.from([0xff, 0xfe, 0x00])),
};

function mutatorFor(cfg: ConfigInput, envFiles = false) {
  const parsed = parseConfig({ ...cfg, webhook: { secretManagerTypes: ['Embedded'] }, flyteSecrets: { embedded: { delivery: 'agent' }, ...(cfg.flyteSecrets ?? {}) } });
  const config: Config = envFiles ? ({ ...parsed, flyteSecrets: { ...parsed.flyteSecrets, envFiles: true } }) : parsed;
  const embedded = createEmbeddedInjector({ config, fetcher: fetcher(VALUES), broker: { url: URL, caPem: () => CA } });
  return createMutator(config, buildInjectors(config, { embedded, env: {} }));
}

function taskPod(secrets: Secret[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'task', labels: LABELS, annotations: secretsToAnnotations(secrets) },
    spec: { initContainers: [{ name: 'user-init', image: 'busybox' }], containers: [{ name: 'main', image: 'python' }] },
  };
}

async function admit(secrets: Secret[], envFiles = false): Promise<{ pod: Pod } | { denied: string; code: string }> {
  const m = mutatorFor({}, envFiles);
  const pod = taskPod(secrets);
  const out = await m.mutate(pod, { namespace: 'p-d', dryRun: false });
  if (out.kind === 'denied') return { denied: out.message, code: out.code };
  if (out.kind !== 'mutated') throw new Error(out.kind);
  const patched = applyPatch(pod, out.patch);
  new PodModel(patched as ConstructorParameters<typeof PodModel>[0]).validate();
  const again = await m.mutate(patched, { namespace: 'p-d', dryRun: false });
  expect(again.kind === 'mutated' ? again.patch : []).toEqual([]);
  return { pod: patched };
}

function agentOf(pod: Pod): Container {
  const c = pod.spec?.initContainers?.[0];
  expect(c?.name).toBe(AGENT_CONTAINER_NAME);
  return c!;
}

describe('Embedded in agent mode', () => {
  it('FILE: the agent lists embedded:<i> at Flyte\'s path, with the broker, its token and CA; no value in the pod', async () => {
    const r = await admit([makeSecret({ key: 'token', mountRequirement: MountRequirement.FILE, envVar: 'TOKEN_PATH' })]);
    if (!('pod' in r)) throw new Error(r.denied);
    const agent = agentOf(r.pod);
    const args = agent.args ?? [];
    expect(args.join(' ')).toContain('--file embedded:0=/etc/flyte/secrets/token');
    expect(args.join(' ')).toContain(`--broker ${URL}`);
    expect(args.join(' ')).toContain('--token-file /var/run/secrets/flyte-secrets/broker/token');
    expect(agent.env).toContainEqual({ name: BROKER_CA_ENV, value: CA });
    expect(agent.volumeMounts).toContainEqual({ name: BROKER_TOKEN_VOLUME, mountPath: '/var/run/secrets/flyte-secrets/broker', readOnly: true });
    const volume = r.pod.spec?.volumes?.find((v) => v.name === BROKER_TOKEN_VOLUME);
    expect(volume?.projected?.sources).toEqual([{ serviceAccountToken: { audience: 'flyte-secrets-broker', expirationSeconds: 600, path: 'token' } }]);
    // Only the agent mounts the token.
    for (const c of [...(r.pod.spec?.initContainers ?? []).slice(1), ...(r.pod.spec?.containers ?? [])]) {
      expect((c.volumeMounts ?? []).some((m) => m.name === BROKER_TOKEN_VOLUME)).toBe(false);
    }
    const main = r.pod.spec?.containers?.[0];
    expect(main?.env).toContainEqual({ name: 'TOKEN_PATH', value: '/etc/flyte/secrets/token' });
    expect(main?.volumeMounts?.some((m) => m.mountPath === '/etc/flyte/secrets' && m.readOnly === true)).toBe(true);
    expect(JSON.stringify(r.pod)).not.toContain(CANARY);
    expect(r.pod.spec?.initContainers?.some((c) => c.name === 'init-embedded-secret')).toBe(false);
  });

  it('a missing secret is denied with the same message as inline mode', async () => {
    const r = await admit([makeSecret({ key: 'nope', mountRequirement: MountRequirement.FILE })]);
    expect(r).toMatchObject({ code: 'SecretNotFoundAcrossAllScopes' });
    expect((r as { denied: string }).denied).toContain('secret not found across all scopes');
  });

  it('ENV_VAR without env files is denied, naming flyteSecrets.envFiles', async () => {
    const r = await admit([makeSecret({ key: 'db', mountRequirement: MountRequirement.ENV_VAR })]);
    expect(r).toMatchObject({ code: 'InjectionRefused' });
    expect((r as { denied: string }).denied).toContain(envFilesNeededMessage('db'));
    expect((r as { denied: string }).denied).toContain('flyteSecrets.envFiles: true');
  });

  it('ANY without env files becomes a file where FILE would put it', async () => {
    const r = await admit([makeSecret({ key: 'db', mountRequirement: MountRequirement.ANY })]);
    if (!('pod' in r)) throw new Error(r.denied);
    expect(agentOf(r.pod).args?.join(' ')).toContain('--file embedded:0=/etc/flyte/secrets/db');
    expect(JSON.stringify(r.pod)).not.toContain(CANARY);
  });

  it('ENV_VAR and ANY with env files go through the env file and fileKeyRef', async () => {
    const r = await admit([makeSecret({ key: 'db', mountRequirement: MountRequirement.ENV_VAR }), makeSecret({ key: 'token', mountRequirement: MountRequirement.ANY, envVar: 'TOK' })], true);
    if (!('pod' in r)) throw new Error(r.denied);
    const args = agentOf(r.pod).args?.join(' ') ?? '';
    expect(args).toContain('--env embedded:0=_UNION_DB');
    expect(args).toContain('--env embedded:1=TOK');
    const main = r.pod.spec?.containers?.[0];
    expect(main?.env?.find((e) => e.name === '_UNION_DB')).toMatchObject({ valueFrom: { fileKeyRef: { key: '_UNION_DB', optional: false } } });
    expect(main?.env?.find((e) => e.name === 'TOK')).toMatchObject({ valueFrom: { fileKeyRef: { key: 'TOK' } } });
    expect(JSON.stringify(r.pod)).not.toContain(CANARY);
  });

  it('a binary value that is not UTF-8 cannot be an env var, as inline', async () => {
    const r = await admit([makeSecret({ key: 'bin', mountRequirement: MountRequirement.ENV_VAR })], true);
    expect(r).toMatchObject({ code: 'InvalidSecret' });
  });

  it('needs the broker when delivery is agent', () => {
    const config = parseConfig({ flyteSecrets: { embedded: { delivery: 'agent' } } });
    expect(() => createEmbeddedInjector({ config, fetcher: fetcher({}) })).toThrow('needs the broker');
  });
});

describe('annotationIndexOf', () => {
  it('finds the lowest numbered annotation requesting exactly this secret', () => {
    const a = makeSecret({ key: 'a', mountRequirement: MountRequirement.FILE });
    const b = makeSecret({ key: 'a', mountRequirement: MountRequirement.ENV_VAR });
    const pod = taskPod([b, a, a]);
    expect(annotationIndexOf(pod, a)).toBe(1);
    expect(annotationIndexOf(pod, b)).toBe(0);
    expect(annotationIndexOf(pod, makeSecret({ key: 'z' }))).toBeUndefined();
  });
});
