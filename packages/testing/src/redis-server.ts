import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort, startChild, waitFor, type Child } from './processes.ts';

/** A private redis-server (AOF on, no RDB snapshots) on a free port, so restarting it disturbs nothing else. */
export interface RedisServer {
  url: string;
  port: number;
  /** Shuts Redis down cleanly (the AOF is flushed), keeps it down for `downMs`, then starts it again on the same port and data. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisServer(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'agora-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: Child | undefined;

  const start = async () => {
    child = startChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir], { stdio: 'ignore' });
    await waitFor(`redis-server did not answer on port ${port}`, 15_000, async () => {
      if (!child?.isRunning()) throw new Error('redis-server exited');
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.ping();
        return true;
      } finally {
        client.disconnect();
      }
    });
  };

  try {
    await start();
  } catch (error) {
    await child?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url,
    port,
    async restart(downMs) {
      await child?.stop('SIGTERM');
      await sleep(downMs);
      await start();
    },
    async stop() {
      await child?.stop('SIGTERM', 5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
