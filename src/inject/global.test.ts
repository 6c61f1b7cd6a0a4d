import { describe, expect, it, vi } from 'vitest';
import { defaultConfig } from '../config/load.js';
import { makeSecret, MountRequirement } from '../secret/model.js';
import { describeInjectorVectors, newContext } from '../../test/support/injector-vectors.js';
import { createGlobalInjector } from './global.js';

describeInjectorVectors('Global');

describe('Global injector', () => {
  const pod = { spec: { containers: [{ name: 'c' }] } };

  it('looks the env var up before the file, and an empty env value counts as found', async () => {
    const readFile = vi.fn(() => Promise.resolve(new TextEncoder().encode('file')));
    const g = createGlobalInjector(defaultConfig(), { env: { FLYTE_SECRET_G_K: '' }, readFile });
    const out = await g.inject(makeSecret({ group: 'g', key: 'k' }), pod, newContext());
    expect(readFile).not.toHaveBeenCalled();
    expect(out.injected && out.pod.spec?.containers[0]?.env?.[0]).toEqual({ name: '_UNION_G_K', value: '' });
  });

  it('reads <secrets-prefix>/<group>/<key> with the case as given, and honours secrets.env-prefix', async () => {
    const readFile = vi.fn((p: string) => (p === '/srv/secrets/Grp/Key' ? Promise.resolve(new TextEncoder().encode('v')) : Promise.reject(new Error('ENOENT'))));
    const config = defaultConfig();
    config.secrets['secrets-prefix'] = '/srv/secrets/';
    config.secrets['env-prefix'] = 'MY_';
    const g = createGlobalInjector(config, { env: {}, readFile });
    const out = await g.inject(makeSecret({ group: 'Grp', key: 'Key', mountRequirement: MountRequirement.ENV_VAR }), pod, newContext());
    expect(out.injected).toBe(true);
    expect(readFile).toHaveBeenCalledWith('/srv/secrets/Grp/Key');
    const miss = await g.inject(makeSecret({ group: 'x', key: 'y' }), pod, newContext());
    expect(miss).toMatchObject({ injected: false, reason: 'secrets not found - Env [MY_X_Y], file [/srv/secrets/x/y]' });
  });

  it('refuses a file value that is not UTF-8 text, without showing it', async () => {
    const g = createGlobalInjector(defaultConfig(), { env: {}, readFile: () => Promise.resolve(Uint8Array.of(0xff, 0xfe, 0x41)) });
    const out = await g.inject(makeSecret({ group: 'g', key: 'k' }), pod, newContext());
    expect(out).toMatchObject({ injected: false, code: 'InvalidSecret' });
  });

  it('never puts the value in a refusal reason', async () => {
    const g = createGlobalInjector(defaultConfig(), { env: { FLYTE_SECRET_G_K: 'hunter2-value' }, readFile: () => Promise.reject(new Error('no')) });
    for (const m of [MountRequirement.FILE, 9]) {
      const out = await g.inject(makeSecret({ group: 'g', key: 'k', mountRequirement: m }), pod, newContext());
      expect(out.injected).toBe(false);
      expect(JSON.stringify(out)).not.toContain('hunter2');
    }
  });

  it('uses secretEnvVarPrefix for the variable and FLYTE_SECRETS_ENV_PREFIX, in init and main containers', async () => {
    const config = defaultConfig();
    config.webhook.secretEnvVarPrefix = '_FSEC_';
    const g = createGlobalInjector(config, { env: { FLYTE_SECRET_DB_PASS: 'x' }, readFile: () => Promise.reject(new Error('no')) });
    const out = await g.inject(makeSecret({ group: 'db', key: 'pass' }), { spec: { initContainers: [{ name: 'i' }], containers: [{ name: 'c' }] } }, newContext());
    expect(out.injected).toBe(true);
    if (!out.injected) return;
    for (const c of [...(out.pod.spec?.initContainers ?? []), ...(out.pod.spec?.containers ?? [])]) {
      expect(c.env).toEqual([{ name: '_FSEC_DB_PASS', value: 'x' }, { name: 'FLYTE_SECRETS_ENV_PREFIX', value: '_FSEC_' }]);
    }
  });
});
