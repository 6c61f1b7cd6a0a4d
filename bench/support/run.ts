/**
 * Run a benchmark's `main` under a hard time limit: exit 0 when it ends, 1 when it fails or is still running after
 * `hardLimitMs` (so `npm run bench` always ends, whatever the machine is doing).
 */
export function runBench(name: string, main: () => Promise<void>, hardLimitMs: number): void {
  const guard = setTimeout(() => {
    console.error(`${name}: still running after ${hardLimitMs / 1000} s, giving up`);
    process.exit(1);
  }, hardLimitMs);
  guard.unref();
  main().then(
    () => {
      clearTimeout(guard);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
