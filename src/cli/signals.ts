/**
 * Waiting for Ctrl-C (SIGINT) or SIGTERM in the long-running commands (`dev`, `emulator`, `serve`).
 *
 * One Ctrl-C often arrives twice: the terminal sends SIGINT to its whole foreground process group, and a wrapper in
 * that group (`npm start`, `npx`, `npm exec`) forwards its own copy to its child. A handler that goes away after the
 * first signal lets the second one kill the process in the middle of its clean shutdown (exit by signal, 130 from
 * npm). So the handlers stay for the life of the process: signals within {@link REPEAT_WINDOW_MS} of the first are
 * the same request; a later one (the user pressing Ctrl-C again while the shutdown hangs) ends the process at once,
 * by the signal's default action.
 *
 * @module
 */

/** Signals this long after the first are the same Ctrl-C delivered twice (group + wrapper), not a second request. */
export const REPEAT_WINDOW_MS = 1000;

/**
 * Resolve with the first SIGINT or SIGTERM; keep handling both afterwards as described in the module comment.
 *
 * @example
 * ```ts
 * const signal = await untilStopSignal('flyte-secrets dev');
 * await env.close();
 * ```
 */
export function untilStopSignal(name: string): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: number | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (first === undefined) {
        first = Date.now();
        resolve(signal);
        return;
      }
      if (Date.now() - first < REPEAT_WINDOW_MS) return;
      process.stderr.write(`${name}: ${signal} again, stopping at once\n`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.kill(process.pid, signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
