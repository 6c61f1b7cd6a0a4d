/**
 * Closing a TLS server at once, every connection with it.
 *
 * `server.close()` waits until every connection has ended, and an HTTPS server's `closeAllConnections()` ends only the
 * connections its HTTP layer knows. A connection joins that layer when its TLS handshake is done, so one accepted
 * before `close()` and still in its handshake is missed twice over: `close()` waits for it (up to TLS's 120-second
 * handshake timeout), and once its handshake is done it is served like any other, kept alive for as long as its
 * client keeps sending requests on it (reproduced: 381 requests answered after `close()`). The Key Vault emulator's
 * `close()` under a loaded webhook once took minutes that way. {@link trackConnections} keeps every TCP connection
 * from the moment it is accepted, so closing can end each one.
 *
 * @module
 */
import type { Server, Socket } from 'node:net';

/**
 * Keeps every connection `server` accepts from now on, until it closes. Call it before the server listens. The
 * function it returns stops the server listening and ends every connection it still has (in a TLS handshake,
 * between requests or in the middle of one), and resolves once the server has closed.
 */
export function trackConnections(server: Server): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    });
}
