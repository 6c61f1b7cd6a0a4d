// Runs every benchmark in bench/ (each top-level bench/*.ts and bench/*.mjs; helpers live in bench/support/), one after another,
// then prints each one's ratio lines (lines that mention a ratio or a goal) in a summary at the end.
//
//   npm run bench                      all of them
//   npm run bench -- admission soak    only those whose file name contains one of the words
//
// Each benchmark must end by itself; as a guard, one still running after BENCH_TIMEOUT_S seconds (default 1200) is
// stopped (its whole process group) and counted as failed. Exit code 1 when any benchmark failed.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'bench');
const timeoutS = Number(process.env.BENCH_TIMEOUT_S ?? 1200);
const filters = process.argv.slice(2);
const RATIO_LINE = /ratio|goal/i;

const files = readdirSync(benchDir)
  .filter((f) => (f.endsWith('.ts') || f.endsWith('.mjs')) && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort()
  .map((f) => join(benchDir, f));
if (files.length === 0) {
  console.error(`no benchmark in ${relative(root, benchDir)}/ matches ${filters.join(' ')}`);
  process.exit(1);
}

/** Run one benchmark with tsx, echoing its output; resolves with its exit code, output lines and duration. */
function runOne(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    // Own process group, so the guard can stop the benchmark together with the servers it forked.
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      process.stdout.write(c);
    });
    child.stderr.on('data', (c) => process.stderr.write(c));
    let timedOut = false;
    const guard = setTimeout(() => {
      timedOut = true;
      console.error(`\nrun-bench: ${relative(root, file)} still running after ${timeoutS} s; stopping it`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code: timedOut ? 'timeout' : (code ?? signal), lines: out.split('\n'), seconds: (Date.now() - started) / 1000 });
    });
  });
}

const results = [];
for (const file of files) {
  const name = relative(root, file);
  console.log(`\n=== ${name} (node ${process.version}) ===`);
  results.push({ name, ...(await runOne(file)) });
}

console.log('\n=== summary ===');
let failed = 0;
for (const r of results) {
  const ok = r.code === 0;
  if (!ok) failed++;
  console.log(`${r.name}: ${ok ? 'ok' : `FAILED (${r.code})`}, ${r.seconds.toFixed(0)} s`);
  const ratios = r.lines.filter((l) => RATIO_LINE.test(l) && !l.startsWith('{'));
  for (const l of ratios.length > 0 ? ratios : ['(no ratio line printed)']) console.log(`  ${l.trim()}`);
}
process.exit(failed === 0 ? 0 : 1);
