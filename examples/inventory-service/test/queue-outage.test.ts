import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_ANSWER_MS } from '../src/http/sync.controller.js';
import { boot, eventually, tcpProxy, testDatabase, type Harness, type TestDatabase } from './helpers.js';

const TEST_REDIS_URL = process.env.TEST_REDIS_URL;

// The service on BullMQ, its Redis behind a proxy that can drop it: the server going away.
describe.skipIf(!TEST_REDIS_URL)('the shared queue’s Redis going away and coming back', () => {
  let h: Harness;
  let db: TestDatabase;
  let proxy: Awaited<ReturnType<typeof tcpProxy>>;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    db = await testDatabase('PGlite');
    proxy = await tcpProxy(new URL(TEST_REDIS_URL!));
    h = await boot({
      db,
      env: { SYNC_QUEUE: 'bullmq', REDIS_URL: `redis://127.0.0.1:${proxy.port}`, SYNC_ADMIN_TOKEN: 'admin-secret' },
    });
  });

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    proxy?.up();
    await h?.close();
    await proxy?.close();
    // The queue's keys live under the test's own prefix (its schema name).
    const redis = new Redis(TEST_REDIS_URL!);
    const keys = await redis.keys(`${db.env.DATABASE_SCHEMA}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await db?.drop();
  });

  it('answers 503 with a message, never hangs, while Redis is away; inventory is still served; all is well once it is back', async () => {
    expect((await h.get('/sync/status')).status).toBe(200);
    proxy.down();
    const started = Date.now();
    const status = await h.get('/sync/status');
    expect(status.status).toBe(503);
    expect(status.body.message).toMatch(/sync queue did not answer/);
    expect(Date.now() - started).toBeLessThan(QUEUE_ANSWER_MS + 2_000);
    const trigger = await h.request('POST', '/sync/trigger', {}, { authorization: 'Bearer admin-secret' });
    expect(trigger.status).toBe(503);
    expect(trigger.body.message).toMatch(/takes effect when it does/);
    const health = await h.get('/health');
    expect(health.status).toBe(503);
    expect(JSON.stringify(health.body)).toMatch(/engine status: no answer/);
    // The inventory is the database's: Redis has nothing to do with it.
    expect((await h.get('/products')).status).toBe(200);
    // Product changes are saved and answered; their planning waits for the queue.
    const admin = { authorization: 'Bearer admin-secret' };
    const changesAt = Date.now();
    expect((await h.request('POST', '/products', { productId: 77, days: ['Mon'] }, admin)).status).toBe(201);
    expect((await h.request('PATCH', '/products/77', { days: ['Mon', 'Tue'] }, admin)).status).toBe(200);
    expect((await h.request('DELETE', '/products/77', undefined, admin)).status).toBe(204);
    expect(Date.now() - changesAt).toBeLessThan(3 * QUEUE_ANSWER_MS + 3_000);
    expect((await h.get('/products/77')).status).toBe(404);
    proxy.up();
    await eventually(async () => expect((await h.get('/sync/status')).status).toBe(200), 30_000, 500);
    expect(unhandled).toEqual([]);
  }, 60_000);
});
