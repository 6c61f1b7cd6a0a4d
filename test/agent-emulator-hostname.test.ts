/**
 * `flyte-secrets emulator --hostname NAME` (repeatable): the serving certificate is valid for NAME, so a client that
 * resolves NAME to the emulator (a hosts entry) verifies it with the emulator's CA like a real vault.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { CLI_BIN, PACKAGE_ROOT, runBinary } from './support/cli.js';

describe('emulator --hostname', () => {
  it('adds every NAME to the serving certificate', async () => {
    const child = spawn(process.execPath, [CLI_BIN, 'emulator', '--port', '0', '--hostname', 'kv-e2e.vault.azure.net', '--hostname', 'login.microsoftonline.com'], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
        });
        child.on('close', (code) => reject(new Error(`emulator exited ${code}`)));
      });
      const info = JSON.parse(line) as { vaultUrl: string; caFile: string };
      const port = Number(new URL(info.vaultUrl).port);
      const ca = readFileSync(info.caFile, 'utf8');
      for (const servername of ['kv-e2e.vault.azure.net', 'login.microsoftonline.com']) {
        const san = await new Promise<string>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port, servername, ca }, () => {
            const s = socket.getPeerCertificate().subjectaltname ?? '';
            socket.end();
            resolve(s);
          });
          socket.on('error', reject);
        });
        expect(san).toContain(`DNS:${servername}`);
      }
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('refuses a NAME that is not a host name', async () => {
    const r = await runBinary(['emulator', '--hostname', 'not a host']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--hostname must be a DNS name or an IP address, got "not a host"');
  });
});
