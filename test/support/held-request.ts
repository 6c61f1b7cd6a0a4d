/**
 * For fetcher tests against a stand-in backend (AWS, GCP): hold the backend's answer, start a fetch, wait until the
 * backend has the request, abort, and return what the fetch settled with (value or error). The fetch can only end
 * because of the abort, whatever the machine's speed.
 *
 * @module
 */

/** What a stand-in exposes for this: the requests it has seen, and a promise its handler awaits before answering. */
export interface HoldableStandIn {
  readonly requests: readonly unknown[];
  faults: { hold?: Promise<unknown> };
}

/** Run `fetch` against a held backend, abort it once the request has arrived, and return its outcome. */
export async function abortWhileHeld(standIn: HoldableStandIn, fetch: (signal: AbortSignal) => Promise<unknown>): Promise<unknown> {
  let release!: () => void;
  standIn.faults.hold = new Promise<void>((r) => (release = r));
  const seen = standIn.requests.length;
  const controller = new AbortController();
  try {
    const outcome = fetch(controller.signal).catch((e: unknown) => e);
    while (standIn.requests.length === seen) await new Promise((r) => setTimeout(r, 10));
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    return await outcome;
  } finally {
    delete standIn.faults.hold;
    release();
  }
}
