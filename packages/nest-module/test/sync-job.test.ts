import 'reflect-metadata';
import { Injectable, Module, Scope } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test, type TestingModule } from '@nestjs/testing';
import { createMemoryStore } from '@tidesync/adapter-memory';
import { SyncConfigError, createVirtualClock, type PlanContext } from '@tidesync/core';
import { afterEach, describe, expect, it } from 'vitest';
import { SyncEngine, SyncJob, SyncModule, type SyncModuleOptions } from '../src/index.js';
import { planIds, recordingSource } from './fixtures.js';

@Injectable()
class ProductCatalog {
  ids = [7, 8, 9];
  calls = 0;
  activeIds(): number[] {
    this.calls++;
    return this.ids;
  }
}

// The catalog arrives through `design:paramtypes` only (no @Inject): if metadata were not
// emitted, `this.catalog` would be undefined and planning would throw.
@Injectable()
class InventoryJobs {
  constructor(private readonly catalog: ProductCatalog) {}

  @SyncJob({ name: 'today', schedule: '*/15 * * * *' })
  today(context: PlanContext) {
    expect(context.job).toBe('today');
    return planIds('today', this.catalog.activeIds());
  }

  @SyncJob({ name: 'month', schedule: '0 3 * * *' })
  month() {
    return planIds('month', this.catalog.activeIds());
  }
}

@Module({ providers: [ProductCatalog, InventoryJobs] })
class InventoryModule {}

const START = Date.UTC(2026, 0, 1, 0, 0, 0);

function setup(extra: Partial<SyncModuleOptions> = {}) {
  const clock = createVirtualClock({ start: START });
  const source = recordingSource();
  const store = createMemoryStore();
  const options: SyncModuleOptions = { source, store, clock, logger: false, flushMs: 0, ...extra };
  return { clock, source, store, options };
}

const closers: TestingModule[] = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!.close();
});

async function compile(imports: unknown[]) {
  const moduleRef = await Test.createTestingModule({ imports: imports as never[] }).compile();
  closers.push(moduleRef);
  return moduleRef;
}

const initError = (moduleRef: TestingModule) => moduleRef.init().then(() => undefined, (err: unknown) => err);

describe('@SyncJob', () => {
  it('plans each cron tick through the provider Nest built, with its injected dependency', async () => {
    const { clock, source, store, options } = setup();
    const moduleRef = await compile([SyncModule.forRoot(options), InventoryModule]);
    await moduleRef.init();
    const catalog = moduleRef.get(ProductCatalog);

    expect(source.fetched).toEqual([]);
    await clock.advanceTo(Date.UTC(2026, 0, 1, 0, 15, 0)); // the first */15 tick
    await clock.advance(1_000);
    expect(catalog.calls).toBe(1);
    expect([...source.fetched].sort()).toEqual(['today:7', 'today:8', 'today:9']);
    expect([...store.scopes().keys()].sort()).toEqual(['today:7', 'today:8', 'today:9']);

    // The same instance plans the next time: state changed on the injected service is seen.
    catalog.ids = [10];
    await moduleRef.get(SyncEngine).trigger('today');
    await clock.advance(1_000);
    expect(source.fetched).toContain('today:10');
  });

  it('registers every decorated method as its own job, before the engine starts', async () => {
    const { options } = setup();
    const moduleRef = await compile([SyncModule.forRoot({ ...options, autoStart: false }), InventoryModule]);
    await moduleRef.init();
    const status = await moduleRef.get(SyncEngine).status();
    expect(status.jobs.map((j) => j.name).sort()).toEqual(['month', 'today']);
    expect(status.state).toBe('idle');
  });

  it('takes its options from the provider instance, e.g. from ConfigService', async () => {
    @Injectable()
    class ConfiguredJobs {
      constructor(readonly config: ConfigService) {}

      @SyncJob((self: ConfiguredJobs) => ({
        name: 'week',
        schedule: self.config.getOrThrow<string>('WEEK_CRON'),
        timezone: self.config.getOrThrow<string>('WEEK_TZ'),
      }))
      week() {
        return [];
      }
    }
    const { options } = setup();
    const moduleRef = await compile([
      ConfigModule.forRoot({ ignoreEnvFile: true, isGlobal: true, load: [() => ({ WEEK_CRON: '0 */4 * * *', WEEK_TZ: 'Europe/Rome' })] }),
      SyncModule.forRoot(options),
      { module: class JobsModule {}, providers: [ConfiguredJobs] },
    ]);
    await moduleRef.init();
    const [week] = (await moduleRef.get(SyncEngine).status()).jobs;
    expect(week).toMatchObject({ name: 'week', schedule: '0 */4 * * *', timezone: 'Europe/Rome' });
  });

  it('applies jobOverrides from configuration: a new schedule, a job switched off', async () => {
    const { options } = setup();
    const moduleRef = await compile([
      SyncModule.forRootAsync({
        imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ TODAY_CRON: '*/5 * * * *' })] })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          ...options,
          jobOverrides: {
            today: { schedule: config.get<string>('TODAY_CRON'), freshFor: undefined },
            month: { enabled: false },
          },
        }),
      }),
      InventoryModule,
    ]);
    await moduleRef.init();
    const jobs = (await moduleRef.get(SyncEngine).status()).jobs;
    expect(jobs.map((j) => [j.name, j.schedule])).toEqual([['today', '*/5 * * * *']]);
  });

  it('fails module init with one SyncConfigError naming every bad job', async () => {
    @Injectable()
    class BrokenJobs {
      @SyncJob({ name: 'broken', schedule: 'every now and then' })
      broken() {
        return [];
      }

      @SyncJob({ name: 'today', schedule: '* * * * *' }) // same name as InventoryJobs.today
      clash() {
        return [];
      }
    }
    const { options } = setup();
    const moduleRef = await compile([
      SyncModule.forRoot({ ...options, jobOverrides: { nope: { enabled: false } } }),
      InventoryModule,
      { module: class BrokenModule {}, providers: [BrokenJobs] },
    ]);
    const error = await initError(moduleRef);
    expect(error).toBeInstanceOf(SyncConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/^Invalid tidesync jobs:/);
    expect(message).toMatch(/BrokenJobs\.broken\.schedule: .+/);
    expect(message).toContain('duplicate job name "today"');
    expect(message).toContain('jobOverrides.nope: no job named "nope"');
  });

  it('refuses a job on a request-scoped provider', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @SyncJob({ name: 'per-request', schedule: '* * * * *' })
      plan() {
        return [];
      }
    }
    const { options } = setup();
    const moduleRef = await compile([SyncModule.forRoot(options), { module: class M {}, providers: [PerRequest] }]);
    expect(String(await initError(moduleRef))).toMatch(/PerRequest\.plan: @SyncJob needs a singleton provider/);
  });
});
