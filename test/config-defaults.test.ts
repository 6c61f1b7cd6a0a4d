// `config defaults` writes a config its own `config check` accepts as is (no deprecation note), with durations as
// Go duration strings, the same way docs/configuration.md shows them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText, defaultConfig } from '../src/config/load.js';
import { enabledManagers } from '../src/config/schema.js';
import { CLI_BIN, PACKAGE_ROOT } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fs-defaults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (args: string[]) => spawnSync(process.execPath, [CLI_BIN, ...args], { cwd: PACKAGE_ROOT, encoding: 'utf8' });

describe('config defaults → config check', () => {
  const printed = run(['config', 'defaults']);

  it('passes its own check without a deprecation note, and runs the default chain', () => {
    expect(printed.status).toBe(0);
    const file = join(dir, 'config.yaml');
    writeFileSync(file, printed.stdout);
    const check = run(['config', 'check', file]);
    expect(check.stderr).toBe('');
    expect(check.stdout).toBe(`${file}: ok (secret managers: Embedded)\n`);
    expect(check.stdout).not.toContain('deprecated');
    expect(enabledManagers(parseConfigText(printed.stdout).webhook)).toEqual(enabledManagers(defaultConfig().webhook));
  });

  it('durations read as durations, in the output and in docs/configuration.md alike', () => {
    expect(printed.stdout).toMatch(/redis:\n\s+defaultExpiration: 24h\n/);
    const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'configuration.md'), 'utf8');
    expect(doc).toContain('| `cache.redis.defaultExpiration` | `24h` |');
    expect(doc).not.toMatch(/defaultExpiration: \d{4,}/);
  });

  it('docs/configuration.md says how serve authenticates and trusts a private CA', () => {
    const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'configuration.md'), 'utf8');
    for (const name of ['AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_CLIENT_SECRET', 'NODE_EXTRA_CA_CERTS']) expect(doc).toContain(name);
  });
});
