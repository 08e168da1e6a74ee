import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '@tidesync/core';
import { createBullMQAdapter } from '../src/index.js';
import { connect } from '../src/connection.js';
import { createSharedRateLimiter } from '../src/shared-rate-limiter.js';

// No server needed: nothing listens on port 1, so every connection attempt is refused at once.
const NOWHERE = 'redis://user:s3cret-pw@127.0.0.1:1';

function recordingLogger() {
  const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (fields, message) => warnings.push({ fields: fields as Record<string, unknown>, message: message ?? '' }),
    error: () => {},
  };
  return { logger, warnings };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (closers.length > 0) await closers.pop()!();
});

describe('BullMQ connection errors', () => {
  it('go to the logger, throttled, redacted, and never to stderr', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { logger, warnings } = recordingLogger();
    const backend = connect({ redis: NOWHERE }, { logger });
    closers.push(() => backend.close());
    // A queue, a worker (two connections) and the adapter's own client: each retries on its own.
    backend.newQueue('outage');
    backend.newWorker('outage', null, { autorun: false });
    backend.redis();
    await vi.waitFor(() => expect(warnings.length).toBeGreaterThan(0), { timeout: 5_000 });
    // Several connections, reconnecting: the same refusal is raised many times within the minute.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(warnings).toHaveLength(1);
    const [w] = warnings;
    expect(w!.fields.err).toMatch(/ECONNREFUSED/);
    expect(w!.fields.backend).toBe('redis://user:***@127.0.0.1:1');
    expect(JSON.stringify(warnings)).not.toContain('s3cret-pw');
    expect(printed).not.toHaveBeenCalled();
  });

  it('reach the adapter logger through createBullMQAdapter', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { logger, warnings } = recordingLogger();
    const adapter = createBullMQAdapter({ connection: { redis: NOWHERE }, name: 'outage', logger });
    closers.push(() => adapter.backend.close());
    await vi.waitFor(() => expect(warnings.some((w) => /ECONNREFUSED/.test(String(w.fields.err)))).toBe(true), { timeout: 5_000 });
    expect(printed).not.toHaveBeenCalled();
  });
});

/** A Redis server of the test's own, so it can be shut down under a running adapter. */
async function ownRedis(): Promise<{ url: string; stop(): void }> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  await vi.waitFor(
    async () => {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        await probe.ping();
      } finally {
        probe.disconnect();
      }
    },
    { timeout: 10_000, interval: 100 },
  );
  return { url, stop: () => void server.kill('SIGKILL') };
}

describe('closing while the server is away', () => {
  it('returns within closeTimeoutMs (plus a second), though a held task cannot be handed back', async () => {
    const redis = await ownRedis();
    closers.push(async () => redis.stop());
    const { logger } = recordingLogger();
    const adapter = createBullMQAdapter<{ n: number }>({ connection: { redis: redis.url }, name: 'away', logger, closeTimeoutMs: 1_000 });
    await adapter.queue.offer([{ key: 'k1', scope: 'k1', job: 'j', payload: { n: 1 }, priority: 0, deadline: Date.now() + 60_000, attempt: 1, notBefore: 0, enqueuedAt: Date.now() }]);
    expect(await adapter.queue.take(1, Date.now())).toHaveLength(1);
    const ticks = adapter.scheduler();
    ticks.add({ id: 'each-second', cron: '* * * * * *', timezone: 'UTC', overlap: 'skip', jitterMs: 0, catchUp: false }, async () => {});
    await ticks.start();
    redis.stop();
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await adapter.close();
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('drops the connections of its PostgreSQL pool that a server that stopped answering still holds', async () => {
    // A server that accepts connections and never answers: the pool's client waits for good.
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      socket.resume(); // reads (and ignores) what comes, so it sees the client hang up
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as AddressInfo;
    const backend = connect({ postgres: `postgres://postgres@127.0.0.1:${port}/test` }, { closeTimeoutMs: 500 });
    const limiter = createSharedRateLimiter(backend, { name: 'stuck', limit: 1, windowMs: 1_000 });
    void limiter.acquire(1).catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    expect(sockets.size).toBe(1);
    await limiter.close?.();
    await backend.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(sockets.size).toBe(0);
  });

  it('returns when the server was never reachable', async () => {
    const { logger } = recordingLogger();
    const adapter = createBullMQAdapter({ connection: { redis: NOWHERE }, name: 'never', logger, closeTimeoutMs: 500 });
    adapter.scheduler();
    const started = Date.now();
    await adapter.close();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
