import 'reflect-metadata';
import { Global, Injectable, Module, type DynamicModule, type OnModuleDestroy } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createMemoryStore } from '@tidesync/adapter-memory';
import { describe, expect, it } from 'vitest';
import { SyncEngine, SyncModule, type SyncModuleOptions } from '../src/index.js';
import { gatedSource, planIds } from './fixtures.js';

// Real time on purpose: the point is what Nest's close() waits for, not the engine's arithmetic.
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function bootWithFetchInFlight(drainMs: number) {
  const source = gatedSource();
  const store = createMemoryStore();
  const options: SyncModuleOptions = {
    source,
    store,
    logger: false,
    flushMs: 0,
    drainMs,
    jobs: [{ name: 'once', schedule: '0 0 1 1 *', plan: () => planIds('product', [1]) }],
  };
  const moduleRef = await Test.createTestingModule({ imports: [SyncModule.forRoot(options)] }).compile();
  await moduleRef.init();
  await moduleRef.get(SyncEngine).trigger('once');
  await source.started;
  return { moduleRef, source, store };
}

describe('lifecycle', () => {
  it('close() waits for the in-flight fetch to finish and be written (drain)', async () => {
    const { moduleRef, source, store } = await bootWithFetchInFlight(10_000);
    let closed = false;
    const closing = moduleRef.close().then(() => (closed = true));

    await sleep(150);
    expect(closed).toBe(false); // the engine's stop in onModuleDestroy is holding the close
    source.release();
    await closing;

    expect(source.outcome).toBe('finished');
    expect(store.readScope('product:1')).toEqual([{ id: 1, key: 'product:1' }]);
    expect((await moduleRef.get(SyncEngine).status()).state).toBe('stopped');
  });

  it('aborts what is still in flight once drainMs has passed, and close() resolves', async () => {
    const { moduleRef, source, store } = await bootWithFetchInFlight(50);
    const began = Date.now();
    await moduleRef.close();

    expect(Date.now() - began).toBeLessThan(2_000);
    expect(source.outcome).toBe('aborted');
    expect(store.scopes().size).toBe(0); // an aborted fetch writes nothing
  });

  it('closes cleanly when the engine was never started', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [SyncModule.forRoot({ source: gatedSource(), store: createMemoryStore(), logger: false, autoStart: false })],
    }).compile();
    await moduleRef.init();
    await expect(moduleRef.close()).resolves.toBeUndefined();
  });

  describe('the engine stops before the modules its store lives in are destroyed', () => {
    // A database module as apps write them: it closes its pool in onModuleDestroy. Its store
    // refuses writes once closed, as a store over an ended pool does.
    @Injectable()
    class Db implements OnModuleDestroy {
      readonly store = createMemoryStore();
      closed = false;
      writesAfterClose = 0;
      constructor() {
        const write = this.store.write.bind(this.store);
        this.store.write = (batch) => {
          if (this.closed) {
            this.writesAfterClose++;
            return Promise.reject(new Error('pool is closed'));
          }
          return write(batch);
        };
      }
      onModuleDestroy() {
        this.closed = true;
      }
    }
    @Module({ providers: [Db], exports: [Db] })
    class DbModule {}
    @Global()
    @Module({ providers: [Db], exports: [Db] })
    class GlobalDbModule {}

    const syncOver = (imports: DynamicModule['imports']) =>
      SyncModule.forRootAsync({
        imports,
        inject: [Db],
        useFactory: (db: Db): SyncModuleOptions => ({
          source: sourceOf.current,
          store: db.store,
          logger: false,
          flushMs: 0,
          drainMs: 10_000,
          jobs: [{ name: 'once', schedule: '0 0 1 1 *', plan: () => planIds('product', [1]) }],
        }),
      });
    const sourceOf: { current: ReturnType<typeof gatedSource> } = { current: gatedSource() };

    it.each([
      ['a global database module', () => [GlobalDbModule, syncOver([])]],
      ['a database module the sync module imports', () => [syncOver([DbModule])]],
    ] as const)('%s: the drained fetch is written before the pool closes', async (_what, imports) => {
      sourceOf.current = gatedSource();
      const source = sourceOf.current;
      const moduleRef = await Test.createTestingModule({ imports: [...imports()] }).compile();
      await moduleRef.init();
      const engine = moduleRef.get(SyncEngine);
      await engine.trigger('once');
      await source.started;
      const db = moduleRef.get(Db);
      const closing = moduleRef.close();
      await sleep(100);
      expect(db.closed).toBe(false);
      source.release();
      await closing;
      expect(db.closed).toBe(true);
      expect(db.writesAfterClose).toBe(0);
      expect(db.store.readScope('product:1')).toEqual([{ id: 1, key: 'product:1' }]);
    });
  });
});
