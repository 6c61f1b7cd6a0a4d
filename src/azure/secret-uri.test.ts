import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlyteSecretsError } from '../errors.js';
import {
  KEY_VAULT_DNS_SUFFIXES,
  isValidKeyVaultSecretName,
  isValidKeyVaultSecretVersion,
  isValidKeyVaultVaultName,
  parseKeyVaultSecretUri,
  type KeyVaultSecretRef,
  type ParseKeyVaultSecretUriOptions,
} from './secret-uri.js';

interface Vectors {
  hint: string;
  valid: { uri: string; options?: ParseKeyVaultSecretUriOptions; expect: KeyVaultSecretRef; note?: string }[];
  invalid: { uri: string; options?: ParseKeyVaultSecretUriOptions; what: string; note?: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/azure-uris.json', import.meta.url), 'utf8')) as Vectors;

describe('parseKeyVaultSecretUri: accepted', () => {
  it.each(vectors.valid.map((v) => [v.uri, v] as const))('%s', (_name, v) => {
    expect(parseKeyVaultSecretUri(v.uri, v.options)).toEqual(v.expect);
  });
});

describe('parseKeyVaultSecretUri: refused with a message saying what is wrong and what is valid', () => {
  it.each(vectors.invalid.map((v) => [v.uri, v] as const))('%j', (_name, v) => {
    let caught: unknown;
    try {
      parseKeyVaultSecretUri(v.uri, v.options);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(FlyteSecretsError);
    expect((caught as FlyteSecretsError).code).toBe('InvalidKeyVaultUri');
    expect((caught as FlyteSecretsError).message).toBe(`invalid Key Vault secret URI ${JSON.stringify(v.uri)}: ${v.what}; ${vectors.hint}`);
  });

  it('shortens a very long URI in the message', () => {
    const uri = `https://myvault.vault.azure.net/secrets/${'a'.repeat(500)}_`;
    expect(() => parseKeyVaultSecretUri(uri)).toThrow(FlyteSecretsError);
    try {
      parseKeyVaultSecretUri(uri);
    } catch (e) {
      expect((e as Error).message.length).toBeLessThan(700);
    }
  });

  it('refuses a malformed extra DNS suffix as a config error', () => {
    expect(() => parseKeyVaultSecretUri('https://a.b/secrets/x', { extraDnsSuffixes: ['not a suffix'] })).toThrow(
      expect.objectContaining({ code: 'InvalidConfig' }),
    );
  });
});

describe('name, vault and version predicates', () => {
  it.each([
    ['a', true],
    ['A-1', true],
    ['a'.repeat(127), true],
    ['a'.repeat(128), false],
    ['', false],
    ['a_b', false],
    ['a.b', false],
    ['é', false],
  ])('isValidKeyVaultSecretName(%j) = %s', (name, ok) => {
    expect(isValidKeyVaultSecretName(name)).toBe(ok);
  });
  it.each([
    ['abc', true],
    ['ab', false],
    ['a-b', true],
    ['a--b', false],
    ['1ab', false],
    ['abc-', false],
    [`a${'b'.repeat(22)}c`, true],
    [`a${'b'.repeat(23)}c`, false],
  ])('isValidKeyVaultVaultName(%j) = %s', (name, ok) => {
    expect(isValidKeyVaultVaultName(name)).toBe(ok);
  });
  it('versions are exactly 32 hex characters', () => {
    expect(isValidKeyVaultSecretVersion('0123456789abcdef0123456789ABCDEF')).toBe(true);
    expect(isValidKeyVaultSecretVersion('0123456789abcdef0123456789abcde')).toBe(false);
    expect(isValidKeyVaultSecretVersion('0123456789abcdef0123456789abcdeg')).toBe(false);
  });
  it('lists the four Azure clouds', () => {
    expect(KEY_VAULT_DNS_SUFFIXES).toEqual(['vault.azure.net', 'vault.azure.cn', 'vault.usgovcloudapi.net', 'vault.microsoftazure.de']);
  });
});

describe('URI properties (bounded)', () => {
  const vault = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/).filter((v) => !v.includes('--'));
  const name = fc.stringMatching(/^[0-9a-zA-Z-]{1,127}$/);
  const version = fc.option(fc.stringMatching(/^[0-9a-f]{32}$/), { nil: undefined });

  it('every well-formed URI parses back into its parts', () => {
    fc.assert(
      fc.property(vault, fc.constantFrom(...KEY_VAULT_DNS_SUFFIXES), name, version, fc.boolean(), (v, suffix, n, ver, slash) => {
        const uri = `https://${v}.${suffix}/secrets/${n}${ver === undefined ? '' : `/${ver}`}${slash ? '/' : ''}`;
        const host = `${v.toLowerCase()}.${suffix}`;
        expect(parseKeyVaultSecretUri(uri)).toEqual({ vaultUrl: `https://${host}`, host, name: n, version: ver ?? '' });
      }),
      { numRuns: 300 },
    );
  });

  it('parses "https://…" (the fast paths) as it parses the same URI with the scheme in capitals (the general path)', () => {
    const lower = fc.stringMatching(/^[a-z][a-z0-9-]{1,22}[a-z0-9]$/);
    const anyVersion = fc.option(fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{32}$/), fc.stringMatching(/^[0-9a-zA-Z]{32}$/), fc.stringMatching(/^[0-9a-zA-Z-]{0,34}$/)), { nil: undefined });
    const tail = fc.oneof(
      fc.tuple(fc.oneof(vault, lower, lower.map((v) => `${v.slice(0, 2)}--${v.slice(2)}`)), fc.constantFrom(...KEY_VAULT_DNS_SUFFIXES, 'vault.azure.net.evil.com', 'Vault.Azure.net'), name, anyVersion, fc.constantFrom('', '', '/', '//', ':443', '?x', '/x')).map(
        ([v, suffix, n, ver, extra]) => `${v}.${suffix}${extra === ':443' ? extra : ''}/secrets/${n}${ver === undefined ? '' : `/${ver}`}${extra === ':443' ? '' : extra}`,
      ),
      fc.string({ maxLength: 40 }),
    );
    const outcome = (text: string): unknown => {
      try {
        return parseKeyVaultSecretUri(text);
      } catch (e) {
        // The message quotes the input, whose scheme differs; the rest of it must be the same.
        return (e as Error).message.replace(/^invalid Key Vault secret URI "(?:https|HTTPS):\/\//, '');
      }
    };
    fc.assert(
      fc.property(tail, (t) => {
        expect(outcome(`https://${t}`)).toEqual(outcome(`HTTPS://${t}`));
      }),
      { numRuns: 2000 },
    );
  });

  it('on arbitrary input the parser throws only FlyteSecretsError', () => {
    const near = fc
      .tuple(vault, name, fc.nat(), fc.constantFrom('', '/', '?', '#', '@', ':', '%', ' ', '.', '[', ']', '\\', '_', 'é'))
      .map(([v, n, at, ch]) => {
        const uri = `https://${v}.vault.azure.net/secrets/${n}`;
        const k = at % (uri.length + 1);
        return uri.slice(0, k) + ch + uri.slice(k);
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.webUrl(), near), fc.boolean(), (text, loop) => {
        try {
          const ref = parseKeyVaultSecretUri(text, { allowLoopback: loop, extraDnsSuffixes: ['vault.example.net'] });
          expect(ref.vaultUrl.startsWith('https://')).toBe(true);
          expect(isValidKeyVaultSecretName(ref.name)).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(FlyteSecretsError);
          expect((e as FlyteSecretsError).code).toBe('InvalidKeyVaultUri');
        }
      }),
      { numRuns: 500 },
    );
  });
});
