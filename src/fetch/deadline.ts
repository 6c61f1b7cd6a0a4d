/**
 * Deadlines that hold whatever the garbage collector does.
 *
 * Node's `AbortSignal.timeout()` timer holds its signal only weakly (a `WeakRef`, and a `FinalizationRegistry`
 * clears the timer once the signal is collected), and a signal made by `AbortSignal.any()` follows its sources only
 * weakly too. So `AbortSignal.any([AbortSignal.timeout(ms), callerSignal])` can lose its deadline after a GC: the
 * timeout signal is collected and never fires (nodejs/node#57736), and on Node 24.16+ a composite can miss an abort
 * of a collected source (nodejs/node#65995). A fetch waiting on such a signal then waits for the backend forever.
 *
 * {@link startDeadline} uses neither: one `setTimeout` whose callback holds the `AbortController` strongly (an armed
 * timer is a GC root), and, for a parent signal, one abort listener that holds it too (a signal keeps its listeners).
 * The caller disposes of it when the operation ends, which clears the timer and removes the listener.
 *
 * @module
 */

/** A signal that aborts at a deadline or when a parent signal aborts, whichever comes first. */
export interface Deadline {
  /** Aborts with a `TimeoutError` DOMException at the deadline, or with the parent's reason. */
  readonly signal: AbortSignal;
  /** Clear the timer and detach from the parent; call it when the operation ends (idempotent). */
  dispose(): void;
}

/** The reason a deadline aborts with: what `AbortSignal.timeout()` uses (name `TimeoutError`). */
export function timeoutReason(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

/**
 * Start a deadline `ms` from now (none when `ms` is undefined), tied to `parent` when given.
 *
 * @example
 * ```ts
 * const deadline = startDeadline(3000, callerSignal);
 * try {
 *   return await fetch(url, { signal: deadline.signal });
 * } finally {
 *   deadline.dispose();
 * }
 * ```
 */
export function startDeadline(ms: number | undefined, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onParentAbort: (() => void) | undefined;
  const dispose = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (onParentAbort !== undefined) parent?.removeEventListener('abort', onParentAbort);
    onParentAbort = undefined;
  };
  if (parent?.aborted === true) {
    controller.abort(parent.reason);
    return { signal: controller.signal, dispose };
  }
  if (parent !== undefined) {
    onParentAbort = () => {
      dispose();
      controller.abort(parent.reason);
    };
    parent.addEventListener('abort', onParentAbort, { once: true });
  }
  if (ms !== undefined) {
    timer = setTimeout(() => {
      dispose();
      controller.abort(timeoutReason());
    }, Math.max(1, Math.ceil(ms)));
  }
  return { signal: controller.signal, dispose };
}

/**
 * Run `operation` with a deadline `ms` from now (and `parent`), disposing of the deadline when it settles.
 *
 * @example
 * ```ts
 * const value = await withDeadline(3000, callerSignal, (signal) => fetcher.fetch(id, signal));
 * ```
 */
export async function withDeadline<T>(ms: number | undefined, parent: AbortSignal | undefined, operation: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = startDeadline(ms, parent);
  try {
    return await operation(deadline.signal);
  } finally {
    deadline.dispose();
  }
}
