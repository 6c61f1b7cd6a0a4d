/**
 * Pod start: time from the start of a pod's secret init container(s) to all secrets on disk, for 1, 3 and 10 Key
 * Vault secrets, every init container under a CPU limit (a cgroup v1 CPU quota), agent mode against cli mode.
 * Run as root: `npx tsx bench/pod-start.ts` (a few minutes; exits by itself; prints a table and one JSON line).
 *
 * - Key Vault: the emulator with 100 ms latency on every vault request, over real HTTPS on loopback; it runs outside
 *   the quota (it plays Azure). Workload identity as in a pod: `AZURE_FEDERATED_TOKEN_FILE` + the Entra endpoint.
 * - Agent mode: `node bin/flyte-secrets.js agent -- --deadline 2m --file <uri>=<path> …` exactly as the webhook
 *   writes it, started inside the cgroup, timed from spawn to exit (exit 0 means every file is on disk). Variants:
 *   as shipped (the CLI shim loads `dist/agent.bundle.mjs`, one minified ESM file `npm run build` makes with esbuild)
 *   and unbundled (the separate files of `dist/agent/`), each with Node's compile cache warm and off, to measure what
 *   bundling and the compile cache buy.
 * - cli mode cannot run here (the Azure CLI cannot log in without the internet), so its figure is a stated lower
 *   bound: N × 2 × the Azure CLI's start-up (`az --version`, measured under the same quota in this run): each of the
 *   N init containers runs `az login` and `az keyvault secret show`, one after another, each paying at least that
 *   start-up, with no network time counted.
 * - Limits: 200m for both (Flyte's default for the Azure CLI container, and the issue's goal: agent ≥ 10× faster than
 *   the lower bound at 3 secrets); then the agent under its own default resources (`flyteSecrets.agent.resources`).
 * - Each figure: median and range over {@link ROUNDS} runs, taking turns. CPU time (user + sys) and peak RSS come
 *   from `/usr/bin/time` inside the cgroup.
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../src/config/load.js';
import { startEmulator } from '../src/emulator/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin', 'flyte-secrets.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const COUNTS = [1, 3, 10];
const TOKEN = 'bench-federated-token';

interface Sample {
  wallMs: number;
  cpuMs: number;
  rssKb: number;
  code: number | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

function fmt(xs: number[], unit = 's', div = 1000): string {
  const r = (v: number): string => (v / div).toFixed(unit === 's' ? 2 : 0);
  return `${r(median(xs))} (${r(Math.min(...xs))}–${r(Math.max(...xs))})`;
}

/** A cgroup v1 CPU group with `millicores` of quota (period 100 ms). */
function cpuGroup(name: string, millicores: number): { procs: string; remove: () => void } {
  const dir = `/sys/fs/cgroup/cpu/${name}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
  writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Math.round(millicores * 100)));
  return {
    procs: join(dir, 'cgroup.procs'),
    remove: () => {
      try {
        rmdirSync(dir);
      } catch {
        /* a process still inside: the kernel frees it when it exits */
      }
    },
  };
}

/** Run `argv` inside the cgroup (the shell moves itself in, then execs /usr/bin/time argv). */
function runIn(procs: string, argv: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('sh', ['-c', 'echo $$ > "$0" && exec /usr/bin/time -f "@@%U %S %M" "$@"', procs, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      const m = /@@([\d.]+) ([\d.]+) (\d+)/.exec(err);
      if (m === null) return reject(new Error(`no timing from /usr/bin/time: ${err.slice(-500)}`));
      if (code !== 0) process.stderr.write(`run failed (${code}): ${err.slice(-800)}\n`);
      resolve({ wallMs, cpuMs: (Number(m[1]) + Number(m[2])) * 1000, rssKb: Number(m[3]), code });
    });
  });
}

function quantityToMillicores(q: string | number | undefined, fallback: number): number {
  if (q === undefined) return fallback;
  const s = String(q);
  return s.endsWith('m') ? Number(s.slice(0, -1)) : Number(s) * 1000;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || !existsSync('/sys/fs/cgroup/cpu')) throw new Error('bench/pod-start.ts needs root and cgroup v1 CPU quotas (/sys/fs/cgroup/cpu)');
  if (spawnSync('az', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('bench/pod-start.ts needs the Azure CLI for the cli-mode lower bound: apt-get install azure-cli');
  const work = mkdtempSync(join(tmpdir(), 'flyte-pod-start-'));
  const names = Array.from({ length: Math.max(...COUNTS) }, (_, i) => `secret-${i}`);
  const emu = await startEmulator({ latencyMs: 100, seed: names.map((name) => ({ name, value: `value of ${name}` })), allowedAssertions: [TOKEN], rateLimit: 0 });
  writeFileSync(join(work, 'token'), TOKEN);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    AZURE_CLIENT_ID: emu.clientId,
    AZURE_TENANT_ID: emu.tenantId,
    AZURE_FEDERATED_TOKEN_FILE: join(work, 'token'),
    AZURE_AUTHORITY_HOST: emu.authorityHost,
    NODE_EXTRA_CA_CERTS: emu.caFile,
  };

  // As shipped, the CLI shim loads dist/agent.bundle.mjs (`npm run build` makes it); the unbundled variant loads the
  // separate files of dist/agent/ through an equivalent shim, to measure what bundling buys.
  const bundle = join(ROOT, 'dist', 'agent.bundle.mjs');
  if (!existsSync(bundle)) throw new Error('run npm run build first (it makes dist/agent.bundle.mjs)');
  const unbundledShim = join(work, 'unbundled.mjs');
  writeFileSync(unbundledShim, `import module from 'node:module';\nmodule.enableCompileCache?.();\nconst { runAgentCli } = await import(${JSON.stringify(join(ROOT, 'dist', 'agent', 'main.js'))});\nprocess.exit(await runAgentCli(process.argv.slice(3)));\n`);
  const bundleBytes = readFileSync(bundle).length;

  const variants = {
    'agent, shipped (bundle), compile cache warm': { script: CLI, env: { NODE_COMPILE_CACHE: join(work, 'cc-bundle') } },
    'agent, shipped (bundle), no compile cache': { script: CLI, env: { NODE_DISABLE_COMPILE_CACHE: '1' } },
    'agent, unbundled dist/, compile cache warm': { script: unbundledShim, env: { NODE_COMPILE_CACHE: join(work, 'cc-dist') } },
    'agent, unbundled dist/, no compile cache': { script: unbundledShim, env: { NODE_DISABLE_COMPILE_CACHE: '1' } },
  } as const;
  type Variant = keyof typeof variants;
  const agentArgs = (n: number, out: string): string[] => ['agent', '--', '--deadline', '2m', ...names.slice(0, n).flatMap((name) => ['--file', `${emu.vaultUrl}/secrets/${name}=${out}/${name}`])];

  const cfg = defaultConfig().flyteSecrets.agent.resources;
  const ownCpu = quantityToMillicores(cfg.limits?.cpu, 1000);
  const g200 = cpuGroup(`flyte-pod-start-200m-${process.pid}`, 200);
  const gOwn = cpuGroup(`flyte-pod-start-own-${process.pid}`, ownCpu);
  const results: Record<string, Record<number, Sample[]>> = {};
  const az: Sample[] = [];
  let run = 0;
  try {
    // Warm the compile caches once (a pod's image would ship them warm).
    for (const [, v] of Object.entries(variants)) {
      const out = join(work, `warm-${run++}`);
      mkdirSync(out);
      await runIn(g200.procs, [process.execPath, v.script, ...agentArgs(1, out)], { ...env, ...v.env });
    }
    for (let round = 0; round < ROUNDS; round++) {
      az.push(await runIn(g200.procs, ['az', '--version'], { ...process.env, AZURE_CORE_COLLECT_TELEMETRY: 'no' }));
      for (const n of COUNTS) {
        for (const [name, v] of Object.entries(variants) as [Variant, (typeof variants)[Variant]][]) {
          const out = join(work, `run-${run++}`);
          mkdirSync(out);
          const s = await runIn(g200.procs, [process.execPath, v.script, ...agentArgs(n, out)], { ...env, ...v.env });
          if (s.code !== 0) throw new Error(`${name} failed with ${n} secrets`);
          ((results[`${name} @200m`] ??= {})[n] ??= []).push(s);
        }
        const out = join(work, `run-${run++}`);
        mkdirSync(out);
        const own = await runIn(gOwn.procs, [process.execPath, CLI, ...agentArgs(n, out)], { ...env, NODE_COMPILE_CACHE: join(work, 'cc-bundle') });
        ((results[`agent, shipped, under its default limit ${ownCpu}m`] ??= {})[n] ??= []).push(own);
      }
    }
  } finally {
    await emu.close();
    g200.remove();
    gOwn.remove();
    rmSync(work, { recursive: true, force: true });
  }

  const azMs = az.map((s) => s.wallMs);
  const lines: string[] = [];
  lines.push(`az --version under 200m: ${fmt(azMs)} s (CPU ${fmt(az.map((s) => s.cpuMs))} s); bundle ${(bundleBytes / 1024).toFixed(0)} KiB; ${ROUNDS} rounds`);
  lines.push(`${'variant'.padEnd(56)} ${COUNTS.map((n) => `${n} secret${n === 1 ? '' : 's'}`.padEnd(46)).join('')}`);
  lines.push(`${'cli mode lower bound (N × 2 × az --version) @200m'.padEnd(56)} ${COUNTS.map((n) => `${fmt(azMs.map((x) => x * 2 * n))} s`.padEnd(46)).join('')}`);
  const summary: Record<string, unknown> = { azVersionMs: median(azMs), rounds: ROUNDS, bundleBytes };
  for (const [name, byN] of Object.entries(results)) {
    const cells = COUNTS.map((n) => {
      const s = byN[n] ?? [];
      const wall = s.map((x) => x.wallMs);
      const ratio = (median(azMs) * 2 * n) / median(wall);
      return `${fmt(wall)} s ×${ratio.toFixed(1)} cpu ${fmt(s.map((x) => x.cpuMs))} s`.padEnd(46);
    });
    lines.push(`${name.padEnd(56)} ${cells.join('')}`);
    summary[name] = Object.fromEntries(
      COUNTS.map((n) => {
        const s = byN[n] ?? [];
        return [n, { wallMs: median(s.map((x) => x.wallMs)), wallMinMs: Math.min(...s.map((x) => x.wallMs)), wallMaxMs: Math.max(...s.map((x) => x.wallMs)), cpuMs: median(s.map((x) => x.cpuMs)), rssKb: Math.max(...s.map((x) => x.rssKb)), ratioVsCliLowerBound: (median(azMs) * 2 * n) / median(s.map((x) => x.wallMs)) }];
      }),
    );
  }
  const peakOf = (shipped: boolean): number =>
    Math.max(...Object.entries(results).filter(([name]) => name.includes('shipped') === shipped).flatMap(([, byN]) => Object.values(byN).flat().map((s) => s.rssKb)));
  const peak = peakOf(true);
  const memReq = String(cfg.requests?.memory ?? '');
  const memMi = memReq.endsWith('Mi') ? Number(memReq.slice(0, -2)) : NaN;
  lines.push(`agent peak RSS ${(peak / 1024).toFixed(0)} MiB as shipped (unbundled ${(peakOf(false) / 1024).toFixed(0)} MiB); memory request ${memReq} = ${(memMi / 500).toFixed(2)} of cli mode's 500Mi per init container (goal ≤ 0.2); CPU limit ${ownCpu}m`);
  summary.peakRssKb = peak;
  summary.memoryRequestRatio = memMi / 500;
  process.stdout.write(`${lines.join('\n')}\n${JSON.stringify(summary)}\n`);
}

await main();
