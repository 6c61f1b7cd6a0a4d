// Running the real CLI binary (`node bin/flyte-secrets.js`, built by `npm run build`) in a child process, with real
// stdin/stdout/stderr and exit codes. Shared by the end-to-end CLI tests.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The CLI entry point. */
export const CLI_BIN = join(PACKAGE_ROOT, 'bin', 'flyte-secrets.js');

/** What a finished CLI process left behind. */
export interface BinaryRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunBinaryOptions {
  /** Bytes for standard input (closed after writing; empty when absent). */
  input?: Buffer | string | undefined;
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Killed with SIGKILL after this long (default 15 s). */
  timeoutMs?: number;
}

/** Run `flyte-secrets <args…>`; resolves when the process exits. */
export function runBinary(args: readonly string[], options: RunBinaryOptions = {}): Promise<BinaryRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: PACKAGE_ROOT, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => undefined); // the child may exit before reading stdin
    child.stdin.end(options.input ?? '');
  });
}
