import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Controller, Get, Injectable, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import type { PlanContext } from '@tidesync/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncHealthIndicator } from '../src/health/index.js';
import { SyncEngine, SyncJob, SyncModule } from '../src/index.js';
import { planIds, recordingSource, switchableStore } from './fixtures.js';

// A small but complete application, the shape the README describes; every constructor below is
// resolved from decorator metadata, over a real HTTP server.

@Injectable()
class Catalog {
  ids(): number[] {
    return [1, 2];
  }
}

@Injectable()
class CatalogJobs {
  constructor(private readonly catalog: Catalog) {}

  @SyncJob({ name: 'catalog', schedule: '*/15 * * * *', runOnStart: true })
  plan(_context: PlanContext) {
    return planIds('product', this.catalog.ids());
  }
}

@Controller('sync')
class SyncStatusController {
  constructor(private readonly engine: SyncEngine) {}

  @Get('status')
  status() {
    return this.engine.status();
  }
}

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly sync: SyncHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.sync.isHealthy('tidesync')]);
  }
}

const source = recordingSource();
const store = switchableStore();

@Module({
  imports: [
    SyncModule.forRoot({ source, store, flushMs: 0, logger: false, isGlobal: true }),
    TerminusModule.forRoot({ logger: false }),
  ],
  controllers: [SyncStatusController, HealthController],
  providers: [Catalog, CatalogJobs, SyncHealthIndicator],
})
class AppModule {}

describe('a real Nest application over HTTP', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await NestFactory.create(AppModule, { logger: false });
    app.enableShutdownHooks();
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('serves the engine status, with the decorated job run on start', async () => {
    await expect.poll(() => source.fetched.length).toBe(2);
    const response = await fetch(`${base}/sync/status`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { state: string; jobs: Array<{ name: string; freshness: { keys: number } }> };
    expect(body.state).toBe('running');
    expect(body.jobs).toMatchObject([{ name: 'catalog', freshness: { keys: 2 } }]);
  });

  it('answers the health endpoint: 200 while healthy, 503 once the store is unreachable', async () => {
    const healthy = await fetch(`${base}/health`);
    expect(healthy.status).toBe(200);
    expect(await healthy.json()).toMatchObject({ status: 'ok', info: { tidesync: { status: 'up', store: 'up' } } });

    store.mode = 'down';
    try {
      const unhealthy = await fetch(`${base}/health`);
      expect(unhealthy.status).toBe(503);
      expect(await unhealthy.json()).toMatchObject({
        status: 'error',
        error: { tidesync: { status: 'down', problems: ['store unreachable: connection refused'] } },
      });
    } finally {
      store.mode = 'up';
    }
  });
});
