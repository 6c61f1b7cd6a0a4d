// The CLI entry point as a process: output cut short by the reader is not a crash.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI_BIN, PACKAGE_ROOT } from './support/cli.js';

describe('flyte-secrets | head', () => {
  it('exits quietly when the reader closes the pipe early (EPIPE)', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI_BIN, 'config', 'defaults'], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      const err: Buffer[] = [];
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      // Read one chunk, then close our end, as `head -1` does.
      child.stdout.once('data', () => child.stdout.destroy());
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr: Buffer.concat(err).toString('utf8') });
      });
    });
    expect(result.stderr).not.toContain('EPIPE');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.code).toBe(0);
  });
});
