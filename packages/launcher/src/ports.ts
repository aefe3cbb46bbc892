import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

// Ports for `ports: 'auto'` launches. A port the kernel picks (listen on 0) comes from its
// ephemeral range (32768–60999 on Linux), the same range outgoing connections take theirs from:
// between the pick and the app binding it, a client socket may take it (EADDRINUSE, seen in CI).
// Ports below that range are never handed to outgoing connections, so a random free one there
// can only collide with another launch choosing the same number, and is never given out twice here.
const LOWEST = 20_000;
const HIGHEST = 32_767;
const given = new Set<number>();

const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** A port on 127.0.0.1 that is free now, outside the kernel's ephemeral range. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = randomInt(LOWEST, HIGHEST + 1);
    if (given.has(port) || !(await canListen(port))) continue;
    given.add(port);
    return port;
  }
  throw new Error(`no free port found between ${LOWEST} and ${HIGHEST}`);
}
