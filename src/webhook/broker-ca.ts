/**
 * Where agent-mode pods find the broker: its URL through the webhook's Service, and the CA they must trust (the
 * `ca.crt` that `certs init` writes beside `tls.crt` in `webhook.certDir`), re-read when the file changes so a
 * renewed CA reaches the next admitted pods without a restart.
 *
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { brokerUrl } from '../broker/protocol.js';
import type { Config } from '../config/schema.js';
import { FlyteSecretsError } from '../errors.js';
import { CA_CERT_KEY } from './certs.js';
import { webhookNamespace } from './kube.js';

/** The broker's address and CA as admitted pods get them. */
export interface BrokerEndpoint {
  url: string;
  caPem: () => string;
}

/**
 * The broker endpoint for `config`: `https://<webhook.serviceName>.<POD_NAMESPACE>.svc:<webhook.servicePort><path>`
 * and a reader of `<certDir>/ca.crt`. Throws `InvalidConfig` when `ca.crt` cannot be read now.
 *
 * @example
 * ```ts
 * const endpoint = brokerEndpoint(config, process.env);
 * ```
 */
export function brokerEndpoint(config: Config, env: NodeJS.ProcessEnv = process.env, certDir = config.webhook.certDir): BrokerEndpoint {
  const file = join(certDir, CA_CERT_KEY);
  let cached = '';
  let stamp = '';
  const read = (): string => {
    const st = statSync(file);
    const next = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (next !== stamp) {
      const pem = readFileSync(file, 'utf8');
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${file} holds no PEM certificate`);
      cached = pem;
      stamp = next;
    }
    return cached;
  };
  try {
    read();
  } catch (err) {
    throw new FlyteSecretsError(
      'InvalidConfig',
      `flyteSecrets.embedded.delivery agent needs the CA of the webhook's certificate at ${file} (pods trust it to reach the broker): ${(err as Error).message}; run certs init with webhook.localCert: true, which writes it there`,
      { cause: err },
    );
  }
  return {
    url: brokerUrl({ serviceName: config.webhook.serviceName, servicePort: config.webhook.servicePort, path: config.flyteSecrets.broker.path }, webhookNamespace(env)),
    caPem: () => {
      try {
        return read();
      } catch {
        return cached; // keep the last good CA while the file is being replaced
      }
    },
  };
}
