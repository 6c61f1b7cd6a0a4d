/**
 * The product as it ships, for the CPU benchmarks: the compiled `dist/` that `flyte-secrets serve` and the image run
 * (tsc output), not the TypeScript sources as tsx transforms them. tsx's transform differs from tsc's (esbuild keeps
 * function names with a helper called at run time, among other things) and cost ~5 % more CPU per admission in
 * process, so a figure measured on the sources would not be the figure of what runs in production.
 *
 * `dist/` is built by `npm install` (prepare) and `npm run build`. A `dist/` older than a source file would measure
 * old code, so the first call refuses with what to run.
 *
 * @module
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let checked = false;

/** The newest modification time (ms) of a non-test `.ts` file under `dir`, and that file. */
function newestSource(dir: string): { file: string; mtimeMs: number } {
  let best = { file: '', mtimeMs: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = newestSource(path);
      if (inner.mtimeMs > best.mtimeMs) best = inner;
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      const mtimeMs = statSync(path).mtimeMs;
      if (mtimeMs > best.mtimeMs) best = { file: path, mtimeMs };
    }
  }
  return best;
}

/** Throw when `dist/` is missing or older than the newest source file. */
export function assertDistCurrent(): void {
  if (checked) return;
  const marker = join(ROOT, 'dist', 'index.js');
  let built: number;
  try {
    built = statSync(marker).mtimeMs;
  } catch {
    throw new Error('dist/ is not built: run `npm run build` (npm install does it too), then the benchmark again');
  }
  const newest = newestSource(join(ROOT, 'src'));
  if (newest.mtimeMs > built) {
    throw new Error(`dist/ is older than ${relative(ROOT, newest.file)}: run \`npm run build\`, then the benchmark again (the benchmark measures the built code)`);
  }
  checked = true;
}

/**
 * Import a module of the built product by its path under `dist/` (`'webhook/server.js'`). Type it with the source
 * module, imported for its types only:
 *
 * ```ts
 * import type * as WebhookServer from '../src/webhook/server.js';
 * const { startWebhookServer } = await shipped<typeof WebhookServer>('webhook/server.js');
 * ```
 */
export async function shipped<T>(path: string): Promise<T> {
  assertDistCurrent();
  return (await import(pathToFileURL(join(ROOT, 'dist', path)).href)) as T;
}
