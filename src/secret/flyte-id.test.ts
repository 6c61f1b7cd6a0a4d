import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import {
  decodeSecretName,
  encodeSecretName,
  encodeSecretNamePrefix,
  imagePullSecretLabels,
  imagePullSecretName,
  md5Hex,
  sanitizeLabelValue,
  scopeCascade,
  type FlyteSecretId,
} from './flyte-id.js';

const ids = JSON.parse(readFileSync(new URL('../../test/vectors/flyte-ids.json', import.meta.url), 'utf8')) as {
  encode: { id: FlyteSecretId; encoded: string }[];
  prefix: { org: string; domain: string; project: string; prefix: string }[];
  decodeErrors: { input: string; error: string }[];
  scopeCascade: { id: FlyteSecretId; scopes: string[] }[];
};
const names = JSON.parse(readFileSync(new URL('../../test/vectors/k8s-names.json', import.meta.url), 'utf8')) as {
  md5: { input: string; md5: string }[];
  imagePullNames: (FlyteSecretId & { k8sName: string })[];
  labelValues: { input: string; output: string }[];
  imagePullLabels: { id: FlyteSecretId; labels: Record<string, string> }[];
};

describe('Flyte secret ids (Flyte: `secret/utils.go`)', () => {
  it.each(ids.encode)('encodes and decodes $encoded', (row) => {
    expect(encodeSecretName(row.id)).toBe(row.encoded);
    expect(decodeSecretName(row.encoded)).toEqual(row.id);
  });

  it.each(ids.prefix)('prefix of ($org, $domain, $project) is $prefix', (row) => {
    expect(encodeSecretNamePrefix(row.org, row.domain, row.project)).toBe(row.prefix);
  });

  it.each(ids.decodeErrors)('rejects $input', (row) => {
    let caught: unknown;
    try {
      decodeSecretName(row.input);
    } catch (err) {
      caught = err;
    }
    expect(isFlyteSecretsError(caught, 'InvalidFlyteId')).toBe(true);
    expect((caught as Error).message).toBe(row.error);
  });

  it.each(ids.scopeCascade)('scope cascade of $id.name: project, domain, org', (row) => {
    expect(scopeCascade(row.id).map(encodeSecretName)).toEqual(row.scopes);
  });

  it('keeps three scopes even when the id is already org-scoped (Flyte looks each one up)', () => {
    expect(scopeCascade({ org: 'o', domain: '', project: '', name: 'n' })).toHaveLength(3);
  });

  it('decode(encode(id)) = id for components without "__" (names may contain it)', () => {
    const component = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('__') && !s.startsWith('_') && !s.endsWith('_'));
    fc.assert(
      fc.property(component, component, component, fc.string({ unit: 'binary', maxLength: 20 }), (org, domain, project, name) => {
        const id = { org, domain, project, name };
        expect(decodeSecretName(encodeSecretName(id))).toEqual(id);
      }),
      { numRuns: 200 },
    );
  });

  it('throws only FlyteSecretsError on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
        try {
          decodeSecretName(s);
        } catch (err) {
          expect(isFlyteSecretsError(err, 'InvalidFlyteId')).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('K8s names (Flyte: `secret/k8s_secrets.go`)', () => {
  it.each(names.md5)('md5Hex($input) = $md5', (row) => {
    expect(md5Hex(row.input)).toBe(row.md5);
  });

  it.each(names.imagePullNames)('image-pull name of ($org, $domain, $project, $name) is $k8sName', (row) => {
    const name = imagePullSecretName(row);
    expect(name).toBe(row.k8sName);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(name.length).toBeLessThanOrEqual(63);
  });

  it('image-pull names are stable across calls', () => {
    const id = names.imagePullNames[0]!;
    const first = imagePullSecretName(id);
    for (let i = 0; i < 10; i++) expect(imagePullSecretName(id)).toBe(first);
  });

  it.each(names.labelValues)('sanitizeLabelValue($input) = $output', (row) => {
    expect(sanitizeLabelValue(row.input)).toBe(row.output);
  });

  it.each(names.imagePullLabels)('image-pull labels of $id', (row) => {
    expect(imagePullSecretLabels(row.id)).toEqual(row.labels);
  });

  it('sanitised label values are always valid Kubernetes label values', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 90 }), (s) => {
        expect(sanitizeLabelValue(s)).toMatch(/^[a-zA-Z0-9]([-a-zA-Z0-9._]{0,61}[a-zA-Z0-9])?$/);
      }),
      { numRuns: 200 },
    );
  });
});
