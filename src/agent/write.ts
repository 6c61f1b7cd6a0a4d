/**
 * The agent's writer: every file of the set, or none. Each file is written under a temporary name in its own
 * directory and renamed into place (atomic per file); if any step fails, what was already placed and every directory
 * created are removed, so the volume holds no partial set.
 *
 * Modes: a file secret is readable by the pod's containers and written by no one: `0440` when the volume carries the
 * pod's `fsGroup` (Kubernetes makes the emptyDir group-owned by it with the set-group-id bit, so every file created
 * there belongs to that group and every container of the pod runs with it as a supplementary group), else `0444`
 * (containers may run as any user). Directories it creates: `0750` / `0755` (the other containers mount the volume
 * read-only, so only the agent can write, also when it runs again after a pod restart). The env file is read only by
 * the kubelet (root): `0400`.
 *
 * @module
 */
import { constants } from 'node:fs';
import { chmod, mkdir, open, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The set-group-id bit of a mode. */
const S_ISGID = 0o2000;

/** One file to place. */
export interface PlannedFile {
  path: string;
  /** Text (written as UTF-8) or exact bytes. */
  content: string | Uint8Array;
  /** `secret` (read by the pod's containers) or `envfile` (read by the kubelet). */
  kind: 'secret' | 'envfile';
}

/** What {@link writeAll} did. */
export interface WriteResult {
  /** Files placed, with their modes. */
  files: { path: string; mode: number }[];
}

async function nearestExisting(dir: string): Promise<{ path: string; mode: number; gid: number }> {
  for (let d = dir; ; d = dirname(d)) {
    try {
      const s = await stat(d);
      return { path: d, mode: s.mode, gid: s.gid };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || d === dirname(d)) throw err;
    }
  }
}

/**
 * Place every file, all or none. Throws (after undoing its work) with the error of the step that failed; the error
 * names paths, never contents.
 *
 * @example
 * ```ts
 * await writeAll([{ path: '/etc/flyte/secrets/db', content: 'value\n', kind: 'secret' }]);
 * ```
 */
export async function writeAll(files: readonly PlannedFile[]): Promise<WriteResult> {
  const createdDirs: string[] = [];
  const temps: string[] = [];
  const placed: string[] = [];
  const out: WriteResult = { files: [] };
  try {
    for (const f of files) {
      const dir = dirname(f.path);
      const base = await nearestExisting(dir);
      const grouped = (base.mode & S_ISGID) !== 0 && base.gid !== 0;
      const fileMode = f.kind === 'envfile' ? 0o400 : grouped ? 0o440 : 0o444;
      const dirMode = grouped ? 0o2750 : 0o755;
      if (base.path !== dir) {
        const missing: string[] = [];
        for (let d = dir; d !== base.path; d = dirname(d)) missing.unshift(d);
        for (const d of missing) {
          await mkdir(d);
          createdDirs.push(d);
          await chmod(d, dirMode);
        }
      }
      const tmp = join(dir, `.${basename(f.path)}.flyte-secrets-tmp`);
      await rm(tmp, { force: true });
      temps.push(tmp);
      const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        await handle.writeFile(f.content, 'utf8');
        await handle.chmod(fileMode);
      } finally {
        await handle.close();
      }
      out.files.push({ path: f.path, mode: fileMode });
    }
    for (const f of files) {
      const tmp = join(dirname(f.path), `.${basename(f.path)}.flyte-secrets-tmp`);
      await rename(tmp, f.path);
      temps.splice(temps.indexOf(tmp), 1);
      placed.push(f.path);
    }
    return out;
  } catch (err) {
    for (const t of temps) await rm(t, { force: true }).catch(() => undefined);
    for (const p of placed) await rm(p, { force: true }).catch(() => undefined);
    for (const d of [...createdDirs].reverse()) await rmdir(d).catch(() => undefined);
    throw err;
  }
}
