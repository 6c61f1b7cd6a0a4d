/**
 * The agent's `embedded:<i>` sources: one request to the broker (`--broker`) with the pod's projected token
 * (`--token-file`), trusting the CA in `FLYTE_SECRETS_BROKER_CA`. All or nothing, like every other source.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { fetchFromBroker } from '../broker/client.js';
import { BROKER_CA_ENV } from '../broker/protocol.js';
import { errorMessage } from '../errors.js';

/** What the broker delivered, or the lines saying why not (no values). */
export type EmbeddedOutcome = { values: Map<string, { kind: 'string' | 'binary'; bytes: Buffer }> } | { failed: string[] };

/**
 * Fetch `uris` (`embedded:<i>`) from the broker. Never throws.
 *
 * @example
 * ```ts
 * const r = await fetchEmbedded(['embedded:0'], { broker, tokenFile, env: process.env, deadlineAt });
 * ```
 */
export async function fetchEmbedded(uris: readonly string[], o: { broker: string; tokenFile: string; env: NodeJS.ProcessEnv; deadlineAt: number }): Promise<EmbeddedOutcome> {
  const caPem = o.env[BROKER_CA_ENV] ?? '';
  if (!caPem.includes('-----BEGIN CERTIFICATE-----')) {
    return { failed: [`${uris.join(', ')}: no broker CA in ${BROKER_CA_ENV} (the webhook writes it into this container): re-create the pod through the webhook`] };
  }
  let token: string;
  try {
    token = (await readFile(o.tokenFile, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { failed: [`${uris.join(', ')}: cannot read the service-account token ${o.tokenFile} (${code}): the projected token volume must be mounted in this container`] };
  }
  try {
    return { values: await fetchFromBroker({ url: o.broker, token, caPem, sources: uris, deadline: o.deadlineAt }) };
  } catch (err) {
    return { failed: [`${uris.join(', ')}: ${errorMessage(err)}`] };
  }
}
