import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../azure/secret-value.js';
import { describeScope, envelopeFor, register, secretIdOf } from './secret.js';

describe('secret command helpers', () => {
  it.each([
    [{ org: 'flyte', domain: '', project: '' }, 'org flyte'],
    [{ org: 'flyte', domain: 'development', project: '' }, 'domain flyte/development'],
    [{ org: 'flyte', domain: 'development', project: 'flytesnacks' }, 'project flyte/development/flytesnacks'],
  ])('scope %o → %s', (scope, text) => {
    expect(describeScope(secretIdOf('x', scope))).toBe(text);
  });

  it('refuses a project without a domain (the secret service’s rule), "__" in a component and an empty name', () => {
    expect(() => secretIdOf('x', { org: 'flyte', domain: '', project: 'p' })).toThrow('project-scoped secrets must also specify a domain, got project="p" domain=""; add --domain');
    expect(() => secretIdOf('x', { org: 'fl__yte', domain: '', project: '' })).toThrow(/--org "fl__yte" must not contain "__"/);
    expect(() => secretIdOf('', { org: 'flyte', domain: '', project: '' })).toThrow(/NAME must not be empty/);
  });

  it('text → STRING envelope; non-UTF-8 bytes or --binary → BINARY envelope', () => {
    expect(envelopeFor('hunter2', false)).toEqual({ envelope: '{"type":"STRING","value":"hunter2"}', kind: 'string' });
    expect(envelopeFor(new TextEncoder().encode('héllo'), false)).toEqual({ envelope: '{"type":"STRING","value":"héllo"}', kind: 'string' });
    expect(envelopeFor(Uint8Array.from([0, 1, 2, 0xff]), false)).toEqual({ envelope: '{"type":"BINARY","value":"AAEC/w=="}', kind: 'binary' });
    expect(envelopeFor('Hello', true)).toEqual({ envelope: '{"type":"BINARY","value":"SGVsbG8="}', kind: 'binary' });
    expect([...decodeEnvelope(envelopeFor(Uint8Array.from([0xc3, 0x28]), false).envelope).bytes()]).toEqual([0xc3, 0x28]);
  });

  it('help lists the four subcommands with examples; --vault is required (or FLYTE_SECRETS_VAULT_URL)', () => {
    const program = new Command('flyte-secrets').exitOverride();
    register(program);
    const secret = program.commands.find((c) => c.name() === 'secret')!;
    expect(secret.commands.map((c) => c.name())).toEqual(['create', 'get', 'list', 'delete']);
    let help = '';
    secret.configureOutput({ writeOut: (s) => (help += s) });
    secret.outputHelp();
    expect(help).toContain('flyte-secrets secret create --domain development --project flytesnacks db-password --from-file ./pw.txt');
    expect(help).toContain('AZURE_TENANT_ID');
    for (const sub of secret.commands) {
      const opt = sub.options.find((o) => o.long === '--vault');
      expect(opt?.mandatory).toBe(true);
      expect(opt?.envVar).toBe('FLYTE_SECRETS_VAULT_URL');
    }
  });
});
