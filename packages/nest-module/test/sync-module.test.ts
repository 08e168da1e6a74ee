import 'reflect-metadata';
import { Inject, Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { createMemoryStore } from '@tidesync/adapter-memory';
import { SyncConfigError, createCronScheduler, createVirtualClock, type SyncEngine as CoreSyncEngine } from '@tidesync/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InjectSyncEngine,
  SyncEngine,
  SyncModule,
  TIDESYNC_ENGINE,
  TIDESYNC_MODULE_OPTIONS,
  type SyncModuleOptions,
  type SyncOptionsFactory,
} from '../src/index.js';
import { planIds, recordingSource } from './fixtures.js';

// No @Inject here: Nest can only resolve this parameter from `design:paramtypes`, so this class
// resolving at all proves the test transform emits decorator metadata.
@Injectable()
class ByClass {
  constructor(readonly engine: SyncEngine) {}
}

@Injectable()
class ByDecorator {
  constructor(@InjectSyncEngine() readonly engine: CoreSyncEngine) {}
}

const baseOptions = (): SyncModuleOptions => ({
  source: recordingSource(),
  store: createMemoryStore(),
  clock: createVirtualClock(),
  logger: false,
});

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

async function boot(imports: unknown[], providers: unknown[] = []) {
  const moduleRef = await Test.createTestingModule({ imports: imports as never[], providers: providers as never[] }).compile();
  closers.push(() => moduleRef.close());
  await moduleRef.init();
  return moduleRef;
}

describe('SyncModule.forRoot', () => {
  it('emits decorator metadata in tests (the premise of every DI assertion here)', () => {
    expect(Reflect.getMetadata('design:paramtypes', ByClass)).toEqual([SyncEngine]);
  });

  it('injects one engine by class, by @InjectSyncEngine() and by token, and starts it on bootstrap', async () => {
    const moduleRef = await boot([SyncModule.forRoot(baseOptions())], [ByClass, ByDecorator]);
    const engine = moduleRef.get(SyncEngine);
    expect(moduleRef.get(ByClass).engine).toBe(engine);
    expect(moduleRef.get(ByDecorator).engine).toBe(engine);
    expect(moduleRef.get(TIDESYNC_ENGINE)).toBe(engine);
    expect((await engine.status()).state).toBe('running');
  });

  it('runs the jobs given in options', async () => {
    const options = { ...baseOptions(), source: recordingSource() };
    options.jobs = [{ name: 'products', schedule: '*/15 * * * *', plan: () => planIds('product', [1, 2]) }];
    const moduleRef = await boot([SyncModule.forRoot(options)]);
    await moduleRef.get(SyncEngine).trigger('products');
    await (options.clock as ReturnType<typeof createVirtualClock>).advance(2_000);
    expect([...(options.source as ReturnType<typeof recordingSource>).fetched].sort()).toEqual(['product:1', 'product:2']);
  });

  it('leaves the engine idle with autoStart: false', async () => {
    const moduleRef = await boot([SyncModule.forRoot({ ...baseOptions(), autoStart: false })]);
    expect((await moduleRef.get(SyncEngine).status()).state).toBe('idle');
  });

  it('strips isGlobal from the options and makes the engine visible to every module', async () => {
    @Module({ providers: [ByClass], exports: [ByClass] })
    class FeatureModule {}
    const moduleRef = await boot([SyncModule.forRoot({ ...baseOptions(), isGlobal: true }), FeatureModule]);
    expect(moduleRef.get(ByClass).engine).toBe(moduleRef.get(SyncEngine));
    expect(moduleRef.get(TIDESYNC_MODULE_OPTIONS)).not.toHaveProperty('isGlobal');
  });

  it('fails module init with core’s SyncConfigError listing every bad option', async () => {
    const bad = { ...baseOptions(), concurrency: 0, timezone: 'Mars/Olympus' };
    const error = await Test.createTestingModule({ imports: [SyncModule.forRoot(bad)] })
      .compile()
      .then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(SyncConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/^Invalid sync engine options:\n/);
    expect(message).toContain('  - timezone: unknown IANA time zone');
    expect(message).toMatch(/ {2}- concurrency: .+/);
  });

  it('fails on bad module settings the same way', async () => {
    const bad = { ...baseOptions(), autoStart: 'yes' as unknown as boolean, health: { maxStaleKeys: -1 } };
    await expect(Test.createTestingModule({ imports: [SyncModule.forRoot(bad)] }).compile()).rejects.toThrow(
      /Invalid tidesync module settings:\n(.|\n)*autoStart(.|\n)*health\.maxStaleKeys/,
    );
  });

  it('lists bad module settings and bad engine options in one error, not one run after the other', async () => {
    const bad = { ...baseOptions(), autoStart: 'yes' as unknown as boolean, concurrency: -1, batchSize: 0 };
    const error = await Test.createTestingModule({ imports: [SyncModule.forRoot(bad)] })
      .compile()
      .then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(SyncConfigError);
    expect((error as SyncConfigError).issues.map((i) => i.path).sort()).toEqual(['autoStart', 'batchSize', 'concurrency']);
  });

  it('leaves a scheduler given in the options untouched while it collects those problems', async () => {
    const scheduler = createCronScheduler();
    const added: string[] = [];
    const add = scheduler.add.bind(scheduler);
    scheduler.add = (spec, handler) => {
      added.push(spec.id);
      add(spec, handler);
    };
    // The engine options are valid: only the check of them creates an engine that adds its jobs.
    const bad = { ...baseOptions(), scheduler, jobs: [{ name: 'j', schedule: '* * * * *', plan: () => [] }], autoStart: 'yes' as unknown as boolean };
    const error = await Test.createTestingModule({ imports: [SyncModule.forRoot(bad)] })
      .compile()
      .then(() => undefined, (err: unknown) => err);
    expect((error as SyncConfigError).issues.map((i) => i.path)).toEqual(['autoStart']);
    expect(added).toEqual([]);
  });
});

describe('SyncModule.forRootAsync', () => {
  const configModule = (values: Record<string, unknown>) =>
    ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => values] });

  it('builds the engine from ConfigService (useFactory + inject)', async () => {
    const options = baseOptions();
    const moduleRef = await boot([
      SyncModule.forRootAsync({
        imports: [configModule({ SYNC_TZ: 'Europe/Rome', SYNC_CRON: '0 */4 * * *' })],
        inject: [ConfigService],
        useFactory: (config: ConfigService): SyncModuleOptions => ({
          ...options,
          timezone: config.getOrThrow<string>('SYNC_TZ'),
          jobs: [{ name: 'week', schedule: config.getOrThrow<string>('SYNC_CRON'), plan: () => [] }],
        }),
      }),
    ]);
    const [job] = (await moduleRef.get(SyncEngine).status()).jobs;
    expect(job).toMatchObject({ name: 'week', schedule: '0 */4 * * *', timezone: 'Europe/Rome' });
  });

  it('accepts useClass with createSyncOptions(), itself constructed with injected config', async () => {
    const options = baseOptions();
    @Injectable()
    class SyncConfig implements SyncOptionsFactory {
      constructor(@Inject(ConfigService) private readonly config: ConfigService) {}
      createSyncOptions(): SyncModuleOptions {
        return { ...options, concurrency: this.config.getOrThrow<number>('SYNC_CONCURRENCY'), autoStart: false };
      }
    }
    const moduleRef = await boot([
      SyncModule.forRootAsync({ imports: [configModule({ SYNC_CONCURRENCY: 2 })], useClass: SyncConfig }),
    ]);
    expect(moduleRef.get(TIDESYNC_MODULE_OPTIONS)).toMatchObject({ concurrency: 2 });
    expect((await moduleRef.get(SyncEngine).status()).state).toBe('idle');
  });

  it('reports a bad configured value through core’s SyncConfigError', async () => {
    const options = baseOptions();
    const compiling = Test.createTestingModule({
      imports: [
        SyncModule.forRootAsync({
          imports: [configModule({ SYNC_CONCURRENCY: -3 })],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({ ...options, concurrency: config.get<number>('SYNC_CONCURRENCY') }),
        }),
      ],
    }).compile();
    await expect(compiling).rejects.toThrow(/Invalid sync engine options:\n\s+- concurrency:/);
  });
});
