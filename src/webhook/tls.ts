/**
 * The webhook's serving certificate: read `tls.crt` and `tls.key` from `webhook.certDir`, and reload them without a
 * restart when they change.
 *
 * Kubernetes Secret volumes update by swapping a `..data` symlink, which `fs.watch` on the directory sees on Linux
 * but not everywhere (and not on every volume type), so a periodic `stat` poll backs the watcher up. A new pair is
 * checked with `tls.createSecureContext` before it is used: a broken or half-written pair is logged and the old one
 * is kept.
 *
 * @module
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import { silentLogger, type Logger } from './logger.js';

/** File names inside the cert directory (Flyte's and cert-manager's). */
export const TLS_CERT_FILE = 'tls.crt';
export const TLS_KEY_FILE = 'tls.key';

/** A certificate chain and its private key, PEM. */
export interface TlsKeyPair {
  cert: string;
  key: string;
}

/** Facts about a loaded pair, for logs (no key material). */
export interface TlsPairInfo {
  /** SHA-256 fingerprint of the leaf certificate. */
  fingerprint: string;
  subject: string;
  validTo: string;
}

function describe(cert: string): TlsPairInfo {
  try {
    const x = new X509Certificate(cert);
    return { fingerprint: x.fingerprint256, subject: x.subject.replace(/\n/g, ', '), validTo: x.validTo };
  } catch {
    return { fingerprint: createHash('sha256').update(cert).digest('hex'), subject: '', validTo: '' };
  }
}

/**
 * Read and check the pair in `certDir`. Throws `FlyteSecretsError` (code `InvalidConfig`) naming the file and what
 * to do when a file is missing or the pair is unusable (not PEM, or a key that does not match the certificate).
 *
 * @example
 * ```ts
 * const { cert, key } = loadTlsKeyPair('/etc/webhook/certs');
 * ```
 */
export function loadTlsKeyPair(certDir: string): TlsKeyPair {
  const read = (name: string): string => {
    const file = join(certDir, name);
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable');
      throw new FlyteSecretsError('InvalidConfig', `cannot read the webhook's TLS file ${file}: ${why} (set webhook.certDir, or create the files with \`flyte-secrets certs init\`)`, { cause: err });
    }
  };
  const pair = { cert: read(TLS_CERT_FILE), key: read(TLS_KEY_FILE) };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new FlyteSecretsError('InvalidConfig', `the TLS files in ${certDir} are not a usable pair (${TLS_CERT_FILE}, ${TLS_KEY_FILE}): ${errorMessage(err)}`, { cause: err });
  }
  return pair;
}

/** Options of {@link watchTlsKeyPair}. */
export interface TlsWatchOptions {
  certDir: string;
  /** Called with each new, valid pair. */
  onReload: (pair: TlsKeyPair, info: TlsPairInfo) => void;
  logger?: Logger;
  /** Fallback `stat` poll interval; default 10 s. */
  pollIntervalMs?: number;
  /** Wait after a change event before reading, so both files are in place; default 100 ms. */
  debounceMs?: number;
}

/** A running watch made by {@link watchTlsKeyPair}. */
export interface TlsWatcher {
  /** The pair in use. */
  current(): TlsKeyPair;
  /** Look at the files now; returns true when a new pair was loaded and applied. */
  check(): boolean;
  close(): void;
}

function signature(certDir: string): string {
  const part = (name: string): string => {
    try {
      const s = statSync(join(certDir, name));
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  return `${part(TLS_CERT_FILE)}|${part(TLS_KEY_FILE)}`;
}

/**
 * Watch `certDir` and call `onReload` when `tls.crt`/`tls.key` change to a new valid pair. The first pair is read
 * at once (and throws like {@link loadTlsKeyPair}); later failures are logged and the previous pair is kept.
 *
 * @example
 * ```ts
 * const w = watchTlsKeyPair({ certDir, onReload: (pair) => server.setSecureContext(pair) });
 * // … on shutdown
 * w.close();
 * ```
 */
export function watchTlsKeyPair(options: TlsWatchOptions): TlsWatcher {
  const { certDir, onReload } = options;
  const logger = options.logger ?? silentLogger();
  let current = loadTlsKeyPair(certDir);
  let seen = signature(certDir);
  let lastFailure = '';
  let debounce: NodeJS.Timeout | undefined;
  let closed = false;

  const check = (): boolean => {
    if (closed) return false;
    const sig = signature(certDir);
    if (sig === seen) return false;
    let pair: TlsKeyPair;
    try {
      pair = loadTlsKeyPair(certDir);
    } catch (err) {
      // Half-written or broken: keep serving the old pair, try again on the next event or poll.
      const message = errorMessage(err);
      if (message !== lastFailure) logger.warn({ event: 'tls_reload_failed', certDir, error: message }, 'new TLS files are not usable; keeping the current certificate');
      lastFailure = message;
      return false;
    }
    seen = sig;
    lastFailure = '';
    if (pair.cert === current.cert && pair.key === current.key) return false;
    current = pair;
    const info = describe(pair.cert);
    try {
      onReload(pair, info);
    } catch (err) {
      logger.warn({ event: 'tls_reload_failed', certDir, error: errorMessage(err) }, 'could not apply the new TLS certificate; keeping the current one');
      return false;
    }
    logger.info({ event: 'tls_reloaded', certDir, ...info }, 'TLS certificate reloaded');
    return true;
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(certDir, { persistent: false }, () => {
      if (debounce !== undefined) clearTimeout(debounce);
      debounce = setTimeout(() => {
        debounce = undefined;
        check();
      }, options.debounceMs ?? 100);
      debounce.unref();
    });
    watcher.on('error', (err) => {
      logger.warn({ event: 'tls_watch_failed', certDir, error: errorMessage(err) }, 'cannot watch the cert directory; relying on the periodic check');
      watcher?.close();
      watcher = undefined;
    });
  } catch (err) {
    logger.warn({ event: 'tls_watch_failed', certDir, error: errorMessage(err) }, 'cannot watch the cert directory; relying on the periodic check');
  }
  const poll = setInterval(check, options.pollIntervalMs ?? 10_000);
  poll.unref();

  return {
    current: () => current,
    check,
    close() {
      closed = true;
      clearInterval(poll);
      if (debounce !== undefined) clearTimeout(debounce);
      watcher?.close();
    },
  };
}
