/**
 * A real `redis-server` (Debian's) for tests: started on a free loopback port without persistence, stoppable and
 * restartable on the same port (to test outages), and a raw connection for checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';

export interface RedisServer {
  readonly port: number;
  readonly addr: string;
  /** Start (again) on the same port; resolves when it accepts connections. */
  start(): Promise<void>;
  /** Kill it (SIGKILL: no goodbye to clients) and wait for the exit. */
  kill(): Promise<void>;
  /** Stop for good. */
  stop(): Promise<void>;
}


/**
 * Start a redis-server; `args` are extra command-line options (e.g. `['--requirepass', 'pw']`), or a function of the
 * chosen port giving them (e.g. `(p) => ['--port', '0', '--tls-port', String(p), …]` for TLS only).
 */
export async function startRedisServer(extra: string[] | ((port: number) => string[]) = []): Promise<RedisServer> {
  const port = await freePort();
  const args = typeof extra === 'function' ? extra(port) : extra;
  let child: ChildProcess | undefined;
  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      let out = '';
      const onData = (b: Buffer): void => {
        out += b.toString('utf8');
        if (out.includes('Ready to accept connections')) {
          c.stdout.off('data', onData);
          c.stdout.resume();
          resolve();
        }
      };
      c.stdout.on('data', onData);
      c.stderr.resume();
      c.on('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready: ${out.slice(-500)}`)));
      c.on('error', reject);
    });
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return { port, addr: `127.0.0.1:${port}`, start, kill, stop: kill };
}
