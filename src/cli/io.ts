/**
 * Small I/O helpers shared by the CLI commands: reading `-f FILE|-`, writing results, and the error class that
 * carries an exit code to the one `process.exit` in main.ts.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { FlyteSecretsError, type ErrorOptions } from '../errors.js';

/** An error that ends the CLI with `exitCode` and prints only its message (no stack). */
export class CliError extends FlyteSecretsError {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1, options: ErrorOptions = {}) {
    super(exitCode === 2 ? 'Usage' : 'InvalidInput', message, options);
    this.exitCode = exitCode;
  }
}

/** Read all of standard input. */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Read `file`, or standard input when `file` is `-`. A missing file is a clear error, not a stack trace. */
export async function readInput(file: string): Promise<Buffer> {
  if (file === '-') return readStdin();
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
    throw new CliError(`cannot read ${file}: ${why}`, 1, { cause: err });
  }
}

/** Write text to stdout, adding a final newline when missing. */
export function printLine(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Write raw bytes to stdout and wait until they are flushed. */
export function writeBytes(bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(bytes, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Read and validate a config file for a command: `loadConfigFile`, with any failure that is not already a
 * `FlyteSecretsError` (e.g. the YAML library's own errors for an unresolved alias or an alias bomb) turned into a
 * clear {@link CliError} naming the file, instead of an internal error with a stack trace.
 *
 * @example
 * ```ts
 * const config = await readConfigFile(opts.config);
 * ```
 */
export async function readConfigFile(file: string): Promise<Config> {
  const { loadConfigFile } = await import('../config/load.js');
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (err instanceof FlyteSecretsError) throw err;
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new CliError(`invalid config ${file}: ${why}`, 1, { cause: err });
  }
}
