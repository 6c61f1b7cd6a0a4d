/**
 * Drives the injector tests from `test/vectors/injectors.json` (Flyte: `secret/secrets_test.go`). Every case checks the
 * outcome, that the inputs are not mutated (deep-frozen, and compared after), that the result is a valid pod
 * (`pod-schema.ts`), and that injecting again changes nothing (empty patch).
 */
import { readFileSync } from 'node:fs';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config, SecretManagerType } from '../../src/config/schema.js';
import { createAwsInjector } from '../../src/inject/aws.js';
import { createAzureInjector } from '../../src/inject/azure.js';
import { createGcpInjector } from '../../src/inject/gcp.js';
import { createGlobalInjector } from '../../src/inject/global.js';
import type { InjectContext, SecretInjector } from '../../src/inject/injector.js';
import { createK8sInjector } from '../../src/inject/k8s.js';
import { createPatch } from '../../src/inject/patch.js';
import { createVaultInjector, vaultSecretId } from '../../src/inject/vault.js';
import { secretToString } from '../../src/secret/annotations.js';
import { makeSecret, MountRequirement, type Secret } from '../../src/secret/model.js';
import { podProblems } from './pod-schema.js';

/** One case of `test/vectors/injectors.json`. */
export interface InjectorVector {
  name: string;
  spec: string;
  derived: boolean;
  manager: SecretManagerType;
  secret: { group?: string; groupVersion?: string; key?: string; mountRequirement?: string | number; envVar?: string };
  pod: Pod;
  config?: unknown;
  provider?: { env: Record<string, string>; files: Record<string, string> };
  flyteCommand?: string;
  file?: string;
  expect: { pod?: Pod; warnings?: string[]; refused?: { code: string; reason?: string } };
}

const file = new URL('../vectors/injectors.json', import.meta.url);

/** All vector cases, optionally of one manager. */
export function loadInjectorVectors(manager?: SecretManagerType): InjectorVector[] {
  const data = JSON.parse(readFileSync(file, 'utf8')) as { cases: InjectorVector[] };
  return data.cases.filter((c) => manager === undefined || c.manager === manager);
}

/** The vector's request as a {@link Secret}. */
export function vectorSecret(v: Pick<InjectorVector, 'secret'>): Secret {
  const m = v.secret.mountRequirement;
  const mountRequirement = typeof m === 'number' ? m : m === undefined ? MountRequirement.ANY : MountRequirement[m as keyof typeof MountRequirement];
  return makeSecret({ ...v.secret, mountRequirement });
}

/** The vector's config (defaults + overrides). */
export function vectorConfig(v: Pick<InjectorVector, 'config'>): Config {
  return parseConfig(v.config ?? {}, '(vector)', {});
}

/** Build the injector a vector is about. */
export function vectorInjector(v: InjectorVector): SecretInjector {
  const config = vectorConfig(v);
  switch (v.manager) {
    case 'Global': {
      const files = v.provider?.files ?? {};
      return createGlobalInjector(config, {
        env: { ...(v.provider?.env ?? {}) },
        readFile: (p) => (p in files ? Promise.resolve(new TextEncoder().encode(files[p])) : Promise.reject(new Error(`ENOENT: ${p}`))),
      });
    }
    case 'K8s':
      return createK8sInjector(config);
    case 'AWS':
      return createAwsInjector(config);
    case 'GCP':
      return createGcpInjector(config);
    case 'Vault':
      return createVaultInjector(config);
    case 'Azure':
      return createAzureInjector(config);
    default:
      throw new Error(`no vector injector for ${v.manager}`);
  }
}

/** The expected pod, with `{id}` in annotation keys replaced by the Vault id of the request. */
export function expectedPod(v: InjectorVector): Pod | undefined {
  if (v.expect.pod === undefined) return undefined;
  const id = vaultSecretId(vectorSecret(v));
  return JSON.parse(JSON.stringify(v.expect.pod).replace(/\{id\}/g, id)) as Pod;
}

/** Freeze `value` and everything inside it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** A fresh inject context. */
export function newContext(): InjectContext {
  return { namespace: 'ns', podName: 'p', warnings: [] };
}

/** Define the vector tests of one manager. */
export function describeInjectorVectors(manager: SecretManagerType): void {
  const cases = loadInjectorVectors(manager);
  describe(`${manager} injector vectors (test/vectors/injectors.json)`, () => {
    it('has cases', () => {
      expect(cases.length).toBeGreaterThan(0);
    });
    for (const v of cases) {
      it(`${v.name} [§${v.spec}${v.derived ? ', derived' : ''}]`, async () => {
        const injector = vectorInjector(v);
        expect(injector.type).toBe(manager);
        const secret = deepFreeze(vectorSecret(v));
        const secretCopy = structuredClone(secret);
        const pod = deepFreeze(structuredClone(v.pod));
        const podCopy = structuredClone(pod);
        expect(podProblems(pod)).toEqual([]);
        const ctx = newContext();
        const out = await injector.inject(secret, pod, ctx);
        expect(pod).toEqual(podCopy);
        // The synchronous path the mutator takes first decides the same, or leaves the decision to inject.
        const nowCtx = newContext();
        const now = injector.injectNow?.(secret, pod, nowCtx);
        if (now !== undefined) {
          expect(now).toEqual(out);
          expect(nowCtx.warnings).toEqual(ctx.warnings);
        }
        expect(secret).toEqual(secretCopy);
        if (v.expect.refused !== undefined) {
          expect(out.injected).toBe(false);
          if (out.injected) return;
          expect(out.code).toBe(v.expect.refused.code);
          if (v.expect.refused.reason !== undefined) expect(out.reason).toBe(v.expect.refused.reason.replace('{S}', secretToString(secret)));
          return;
        }
        expect(out.injected, out.injected ? '' : out.reason).toBe(true);
        if (!out.injected) return;
        expect(out.pod).toEqual(expectedPod(v));
        expect(podProblems(out.pod)).toEqual([]);
        if (v.expect.warnings !== undefined) expect(ctx.warnings).toEqual(v.expect.warnings);
        // Idempotent: a second pass changes nothing.
        const frozen = deepFreeze(structuredClone(out.pod));
        const again = await injector.inject(secret, frozen, newContext());
        expect(again.injected).toBe(true);
        if (again.injected) expect(createPatch(out.pod, again.pod)).toEqual([]);
      });
    }
  });
}
