// Bundle the in-pod agent (dist/agent/main.js and everything it loads, the Azure SDK included) into one minified ESM
// file, dist/agent.bundle.mjs, which the CLI shim loads for `flyte-secrets agent`. Run by `npm run build` after tsc.
// Why: the agent runs before the task under the init container's CPU limit, and loading ~1,000 small files costs
// about twice the CPU of one bundle (bench/pod-start.ts measures both).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  absWorkingDir: root,
  entryPoints: ['dist/agent/main.js'],
  outfile: 'dist/agent.bundle.mjs',
  bundle: true,
  minify: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  logLevel: 'warning',
  legalComments: 'eof',
  // Some dependencies are CommonJS and call require(): give the ESM bundle one.
  banner: { js: "import{createRequire as __flyteSecretsRequire}from'node:module';const require=__flyteSecretsRequire(import.meta.url);" },
});
