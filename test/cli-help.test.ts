// Every help page, as the binary prints it: examples everywhere, lines fitted to the terminal (80 columns when not a
// terminal) except example commands, which stay whole to be copied; and the order and style of usage errors.
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, wrapLongLines } from '../src/cli/main.js';
import { CLI_BIN, PACKAGE_ROOT } from './support/cli.js';

function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.filter((c) => c.name() !== 'help' && !(c as unknown as { _hidden: boolean })._hidden).flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

const run = (args: string[]) => spawnSync(process.execPath, [CLI_BIN, ...args], { cwd: PACKAGE_ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });

describe('help', () => {
  const paths = [[], ...commandPaths(buildProgram())];

  it('covers the top level, the groups and every command', () => {
    expect(paths.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['', 'certs', 'certs generate', 'config', 'config defaults', 'azure', 'secret', 'secret get', 'emulator', 'dev', 'dev send']));
  });

  it.each(paths.map((p) => [p.join(' ') || '(top level)', p] as const))('%s: examples, and lines of at most 80 columns but for example commands', (_name, path) => {
    const r = run([...path, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\nExamples?[^\n]*:\n {2}\$ [^]*(flyte-secrets|npm start)/);
    // What is longer than 80 columns: example commands (and their continuation lines), and single words.
    const lines = r.stdout.split('\n');
    const tooLong = lines.filter((l, i) => l.length > 80 && !/^\s*\$ /.test(l) && !(lines[i - 1] ?? '').endsWith('\\') && l.trim().includes(' '));
    expect(tooLong).toEqual([]);
  });

  it('wraps at spaces with the line’s own indentation, and never an example command', () => {
    expect(wrapLongLines('  one two three four', 12)).toBe('  one two\n  three four');
    expect(wrapLongLines('  $ flyte-secrets a b c d e f', 10)).toBe('  $ flyte-secrets a b c d e f');
    expect(wrapLongLines('  $ flyte-secrets a \\\n      --name b c d e f', 10)).toBe('  $ flyte-secrets a \\\n      --name b c d e f');
    expect(wrapLongLines('  {"a","b","c","d"}', 10)).toBe('  {"a","b","c","d"}');
  });
});

describe('usage errors', () => {
  it('an unknown option is reported before a missing required one, in one style (error: …), exit 2', () => {
    const r = run(['inject', '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("error: unknown option '--bogus'\n(run with --help for usage)\n");
    const missing = run(['inject', '-f', 'pod.yaml']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe("error: required option '-c, --config <file>' not specified\n(run with --help for usage)\n");
  });

  it('a required option given by its environment variable is not missing', () => {
    const r = spawnSync(process.execPath, [CLI_BIN, 'secret', 'get', '--bogus'], { cwd: PACKAGE_ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', FLYTE_SECRETS_VAULT_URL: 'https://x.vault.azure.net' } });
    expect(r.stderr).toBe("error: unknown option '--bogus'\n(run with --help for usage)\n");
  });
});
