import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeAll } from './write.js';

let dirs: string[] = [];
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'flyte-agent-write-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

describe('writeAll', () => {
  it('places every file with its bytes: 0444 secrets, 0755 new directories, 0400 env file; no temporary file left', async () => {
    const root = scratch();
    await writeAll([
      { path: join(root, 'a'), content: 'one\n', kind: 'secret' },
      { path: join(root, 'db', 'v1'), content: 'two\n', kind: 'secret' },
      { path: join(root, 'secrets.env'), content: "K='v'\n", kind: 'envfile' },
    ]);
    expect(readFileSync(join(root, 'a'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(root, 'db', 'v1'), 'utf8')).toBe('two\n');
    expect(statSync(join(root, 'a')).mode & 0o7777).toBe(0o444);
    expect(statSync(join(root, 'db')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(root, 'secrets.env')).mode & 0o7777).toBe(0o400);
    expect(readdirSync(root).sort()).toEqual(['a', 'db', 'secrets.env']);
  });

  it('with the pod’s fsGroup on the volume (set-group-id directory), narrows files to 0440 in that group', async () => {
    const root = scratch();
    chownSync(root, 0, 4321);
    chmodSync(root, 0o2777);
    await writeAll([{ path: join(root, 'db', 'v1'), content: 'x\n', kind: 'secret' }]);
    const file = statSync(join(root, 'db', 'v1'));
    expect(file.mode & 0o7777).toBe(0o440);
    expect(file.gid).toBe(4321);
    expect(statSync(join(root, 'db')).mode & 0o7777).toBe(0o2750);
  });

  it('all or nothing: when one file cannot be placed, the others and the directories made are removed', async () => {
    const root = scratch();
    writeFileSync(join(root, 'blocker'), 'a file where a directory is needed');
    mkdirSync(join(root, 'kept'));
    await expect(
      writeAll([
        { path: join(root, 'a'), content: 'one\n', kind: 'secret' },
        { path: join(root, 'new', 'b'), content: 'two\n', kind: 'secret' },
        { path: join(root, 'blocker', 'c'), content: 'three\n', kind: 'secret' },
      ]),
    ).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(readdirSync(root).sort()).toEqual(['blocker', 'kept']);
  });

  it('replaces the files of an earlier run (an init container run again after a pod restart)', async () => {
    const root = scratch();
    await writeAll([{ path: join(root, 'a'), content: 'old\n', kind: 'secret' }]);
    await writeAll([{ path: join(root, 'a'), content: 'new\n', kind: 'secret' }]);
    expect(readFileSync(join(root, 'a'), 'utf8')).toBe('new\n');
  });
});
