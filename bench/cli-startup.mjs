#!/usr/bin/env node
// How long `flyte-secrets --help` takes against the floor every Node program pays, `node -e 0`, on the same Node.
//
// Run: node bench/cli-startup.mjs [--runs 5] [--command "--help"]   (needs `npm run build`; a few seconds)
//
// Each round runs the baseline and the CLI back to back (alternating which goes first), so a change in the shared
// machine's load falls on both alike. Per run: wall time (spawn to exit) and CPU time (user + system of the child,
// read from the waiting shell's /proc/<pid>/stat cutime/cstime, 10 ms ticks). Prints medians and ranges, the
// difference CLI − baseline, and one JSON line. The goal: the median wall-time difference within 150 ms.
// Also lists the node_modules packages the command loads (zod and yaml must not be among them for --help).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'flyte-secrets.js');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : args[i + 1];
};
const runs = Number(opt('--runs', '5'));
const cliArgs = opt('--command', '--help').split(' ').filter((a) => a !== '');
const GOAL_MS = 150;

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  process.stderr.write('bench/cli-startup.mjs: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
const TICK_MS = 10; // USER_HZ is 100 on Linux

/** Run `argv` under a shell that reports its waited-for children's CPU time; returns { wallMs, cpuMs }. */
function measure(argv) {
  const started = process.hrtime.bigint();
  const out = spawnSync('sh', ['-c', '"$@" >/dev/null 2>&1; s=$?; cat /proc/$$/stat; exit $s', 'sh', ...argv], { encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (out.status !== 0) throw new Error(`${argv.join(' ')} exited ${out.status}`);
  const fields = out.stdout.slice(out.stdout.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", fields start at state (3rd field); cutime and cstime are the 16th and 17th.
  const cpuMs = (Number(fields[13]) + Number(fields[14])) * TICK_MS;
  return { wallMs, cpuMs };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const range = (xs) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;

// One warm-up of each (fills the compile cache and the page cache), not counted.
measure([process.execPath, '-e', '0']);
measure([process.execPath, BIN, ...cliArgs]);

const base = [];
const cli = [];
for (let i = 0; i < runs; i += 1) {
  const pair = [() => base.push(measure([process.execPath, '-e', '0'])), () => cli.push(measure([process.execPath, BIN, ...cliArgs]))];
  if (i % 2 === 1) pair.reverse();
  for (const run of pair) run();
}

// Which packages does the command load? (a module-load hook, in a separate run)
const dir = mkdtempSync(join(tmpdir(), 'fs-startup-'));
const hook = join(dir, 'hook.mjs');
const list = join(dir, 'loaded.txt');
writeFileSync(
  hook,
  `import module from 'node:module'; import { appendFileSync } from 'node:fs';
module.registerHooks({ load(url, context, next) { appendFileSync(${JSON.stringify(list)}, url + '\\n'); return next(url, context); } });\n`,
);
spawnSync(process.execPath, ['--import', hook, BIN, ...cliArgs], { stdio: 'ignore' });
const packages = [...new Set(readFileSync(list, 'utf8').split('\n').map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter((p) => p !== undefined))].sort();
rmSync(dir, { recursive: true, force: true });

const w = { base: median(base.map((r) => r.wallMs)), cli: median(cli.map((r) => r.wallMs)) };
const c = { base: median(base.map((r) => r.cpuMs)), cli: median(cli.map((r) => r.cpuMs)) };
const line = (name, rs) => `${name.padEnd(28)} wall ${median(rs.map((r) => r.wallMs)).toFixed(0).padStart(5)} ms (${range(rs.map((r) => r.wallMs))})   cpu ${median(rs.map((r) => r.cpuMs)).toFixed(0).padStart(5)} ms (${range(rs.map((r) => r.cpuMs))})`;
process.stdout.write(
  [
    `Node ${process.versions.node} (${process.execPath}), ${runs} runs each, medians (ranges)`,
    line('node -e 0', base),
    line(`flyte-secrets ${cliArgs.join(' ')}`, cli),
    `difference (median): wall ${(w.cli - w.base).toFixed(0)} ms, cpu ${(c.cli - c.base).toFixed(0)} ms; goal: wall within ${GOAL_MS} ms → ${w.cli - w.base <= GOAL_MS ? 'met' : 'NOT met'}`,
    `packages loaded: ${packages.join(', ') || '(none)'}`,
    JSON.stringify({ bench: 'cli-startup', node: process.versions.node, runs, command: cliArgs, wallMs: w, cpuMs: c, wallDiffMs: w.cli - w.base, cpuDiffMs: c.cli - c.base, packages }),
    '',
  ].join('\n'),
);
