// `flyte-secrets --help` stays fast because it loads no heavy module: the commands import zod, yaml, the Azure SDK,
// the Kubernetes client, … only inside their actions. This checks what is loaded, not how long it takes (the time
// is measured by bench/cli-startup.mjs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_BIN, PACKAGE_ROOT } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fs-startup-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The node_modules packages a CLI run loads (a module-load hook records every URL). */
function packagesLoadedBy(args: string[]): string[] {
  const list = join(dir, `loaded-${args.join('-').replace(/\W/g, '_')}.txt`);
  const hook = join(dir, 'hook.mjs');
  writeFileSync(
    hook,
    `import module from 'node:module'; import { appendFileSync } from 'node:fs';
module.registerHooks({ load(url, context, next) { appendFileSync(process.env.LOADED_LIST, url + '\\n'); return next(url, context); } });\n`,
  );
  writeFileSync(list, '');
  const run = spawnSync(process.execPath, ['--import', hook, CLI_BIN, ...args], { cwd: PACKAGE_ROOT, env: { ...process.env, LOADED_LIST: list }, encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  const urls = readFileSync(list, 'utf8').split('\n');
  return [...new Set(urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter((p): p is string => p !== undefined))].sort();
}

describe('CLI start-up', () => {
  it.each([['--help'], ['certs', '--help'], ['secret', 'create', '--help'], ['emulator', '--help']])('`flyte-secrets %s` loads commander and nothing else', (...args) => {
    expect(packagesLoadedBy(args)).toEqual(['commander']);
  });

  it('a command that reads YAML does load it (the check can fail)', () => {
    expect(packagesLoadedBy(['decode-annotations', '-f', join(PACKAGE_ROOT, 'examples', 'pod.yaml')])).toContain('yaml');
  });
});
