/**
 * Builds and starts the whole service: partner (configured, or the built-in simulator), database
 * (configured PostgreSQL, or embedded PGlite), the tidesync engine with the three cadences, and the
 * Nest HTTP API. `main.ts` calls it with the environment's configuration; tests call it directly.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type INestApplication, Logger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { createBullMQAdapter, type BullMQAdapter } from '@tidesync/adapter-bullmq';
import { createHttpSource, createMemoryQueue, errorMessage, PayloadInvalidError, type HttpSource, type Queue, type RateLimiter, type RetryPolicy, type Scheduler, type Source } from '@tidesync/core';
import { createNestLoggerBridge, SyncEngine } from '@tidesync/nestjs';
import { AppModule } from './app.module.js';
import { jsonBodiesOnly } from './http/json-body.js';
import { dateIn } from './calendar.js';
import { inventoryJobs } from './cadences.js';
import type { ServiceConfig } from './config.js';
import { openDb, type Db } from './database.js';
import { ErrorsFilter } from './http/errors.filter.js';
import { InventoryQueries } from './inventory-queries.js';
import { createInventoryStore, type InventoryTask } from './inventory-store.js';
import { otherDateIssues } from './partner-payload.js';
import { ProductsRepository } from './products-repository.js';
import { ServiceRuntime } from './runtime.js';
import { createPartnerSimulator, type PartnerSimulator } from './simulator/partner-simulator.js';
import { deletionGuardedStore } from './write-guard.js';

/** How often rows of dates gone by are removed (see `ProductsRepository.pruneBefore`). */
const PRUNE_EVERY_MS = 60 * 60 * 1000;

export interface ServiceOptions {
  config: ServiceConfig;
  /** Knobs for tests; production leaves them alone. */
  rateWindowMs?: number;
  partnerTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  flushMs?: number;
  drainMs?: number;
  /** Nest log levels, or false for silence. Default: from LOG_LEVEL. */
  logLevels?: LogLevel[] | false;
  /** Listen on this host (default 127.0.0.1 in tests, all interfaces in main). */
  host?: string;
}

export interface InventoryService {
  app: INestApplication;
  /** `http://host:port/api/v1` */
  url: string;
  engine: SyncEngine;
  db: Db;
  runtime: ServiceRuntime;
  /** The built-in simulator, when no PARTNER_API was configured. */
  simulator: PartnerSimulator | undefined;
  close(): Promise<void>;
}

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export function logLevels(level: ServiceConfig['logLevel']): LogLevel[] {
  const wanted = level === 'info' ? 'log' : level;
  return LEVELS.slice(0, LEVELS.indexOf(wanted) + 1);
}

/** A URL safe for logs: no user info, no query (tokens sometimes travel there). */
const describeUrl = (url: string) => {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
};

export async function startInventoryService(options: ServiceOptions): Promise<InventoryService> {
  const { config } = options;
  if (options.logLevels !== undefined) Logger.overrideLogger(options.logLevels);
  const logger = new Logger('InventoryService');
  const rateWindowMs = options.rateWindowMs ?? config.rateWindowMs;
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => logger.warn(`shutdown step failed: ${(err as Error).message}`));
  };

  try {
    let simulator: PartnerSimulator | undefined;
    let partnerUrl = config.partnerApi;
    let partnerToken = config.partnerToken;
    if (!partnerUrl) {
      partnerToken ??= randomBytes(12).toString('hex');
      simulator = createPartnerSimulator({ token: partnerToken, limit: 30, windowMs: 60_000, keepArrivals: false });
      partnerUrl = await simulator.start();
      cleanups.push(() => simulator!.close());
      const products = simulator.products().map((p) => `${p.productId} (${p.days.join(',')})`);
      logger.log(`partner: built-in simulator at ${partnerUrl} — products ${products.join(', ')}, 30 requests/min (set PARTNER_API to use a real partner)`);
    } else {
      logger.log(`partner: ${describeUrl(partnerUrl)}${partnerToken ? ' (x-api-key set)' : ' (no PARTNER_API_TOKEN set)'}`);
    }

    const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, onPoolError: (m) => logger.warn(`database connection lost: ${m}`) });
    cleanups.push(() => db.close());
    logger.log(`database: ${db.description}, schema "${config.databaseSchema}"${db.kind === 'pglite' ? ' (set DATABASE_URL to use PostgreSQL)' : ''}`);

    const products = new ProductsRepository(db, config.databaseSchema);
    await products.init();
    for (const seed of config.products) await products.create(seed);
    if (simulator && config.products.length === 0 && (await products.count()) === 0) {
      for (const p of simulator.products()) await products.create({ productId: p.productId, days: p.days });
      logger.log(`products: seeded the simulator's catalog (${simulator.products().map((p) => p.productId).join(', ')})`);
    }

    await products.list(); // fills the cache the cadences and the guards below read
    const inventoryStore = createInventoryStore(db.client, config.databaseSchema);
    cleanups.push(() => inventoryStore.close());
    // Dates before the partner's today are never fetched or served again: their rows and freshness
    // go at start-up and every hour after (a fetch that raced midnight is caught by the next run).
    const prunePast = async () => {
      const removed = await products.pruneBefore(dateIn(Date.now(), config.timezone));
      if (removed > 0) logger.log(`inventory: removed ${removed} slot(s) of past dates`);
    };
    const pruneFailed = (err: unknown) => logger.warn(`removing past dates failed: ${errorMessage(err)}`);
    await inventoryStore.init(); // its migrations create the tables pruned here
    await prunePast().catch(pruneFailed);
    const pruning = setInterval(() => void prunePast().catch(pruneFailed), PRUNE_EVERY_MS);
    pruning.unref();
    cleanups.push(async () => clearInterval(pruning));
    // A fetch that was queued or in flight when its product was deleted must not write it back.
    const store = deletionGuardedStore(inventoryStore, products, { shared: config.queue.kind === 'bullmq' });
    const http: HttpSource<InventoryTask> = createHttpSource<InventoryTask>({
      baseUrl: partnerUrl,
      path: (task) => `/${task.payload.productId}?date=${task.payload.date}`,
      headers: partnerToken ? { 'x-api-key': partnerToken } : {},
      rateLimitReset: ({ body }) => {
        const reset = (body as { rateLimitState?: { reset?: unknown } } | undefined)?.rateLimitState?.reset;
        return typeof reset === 'number' && Number.isFinite(reset) ? reset : undefined;
      },
      timeoutMs: options.partnerTimeoutMs ?? config.partnerTimeoutMs,
    });
    cleanups.push(() => http.close());
    // …and a key of a deleted product that still comes up (a retry, a plan that raced the
    // deletion) costs no request: nothing to fetch, and the store drops its (empty) scope.
    const source: Source<InventoryTask> = {
      fetch: async (task, context) => {
        if (!(await knownProduct(task.payload.productId))) return [];
        const payload = await http.fetch(task, context);
        // Rows land under the date asked for, whatever their startDate says: slots of another day
        // are rejected as an invalid payload (nothing written or deleted, retried with backoff).
        const issues = otherDateIssues(payload, task.payload.date);
        if (issues.length > 0) throw new PayloadInvalidError(task.key, issues);
        return payload;
      },
    };
    // With several instances, products change through any of them: one this instance does not
    // know may have been added elsewhere, so look again before treating it as deleted.
    const knownProduct = async (productId: number) => {
      if (products.isKnown(productId)) return true;
      if (config.queue.kind === 'bullmq') await products.list().catch(() => undefined);
      return products.isKnown(productId);
    };

    let queue: Queue<InventoryTask>;
    let scale: { scheduler: Scheduler; rateLimit: RateLimiter } | undefined;
    if (config.queue.kind === 'bullmq') {
      const bull: BullMQAdapter<InventoryTask> = createBullMQAdapter<InventoryTask>({
        connection: config.queue.redisUrl
          ? { redis: config.queue.redisUrl, prefix: config.databaseSchema }
          : { postgres: config.databaseUrl!, schema: `${config.databaseSchema}_bullmq` },
        name: config.queue.name,
        // Connection errors (Redis or the database away) and the queue's warnings, in the service's log.
        logger: createNestLoggerBridge(new Logger('Queue')),
        queue: { lockDurationMs: config.queue.lockMs, stalledIntervalMs: Math.min(15_000, Math.max(500, Math.floor(config.queue.lockMs / 2))) },
      });
      cleanups.push(() => bull.close());
      queue = bull.queue;
      scale = {
        scheduler: bull.scheduler({
          persistence: inventoryStore,
          onError: (err) => logger.error(`cadence planning failed: ${(err as Error).message}`),
          onSkip: (tick, reason) => logger.warn(`${tick.schedule} tick of ${new Date(tick.scheduledAt).toISOString()} skipped: ${reason === 'overlap' ? 'the previous one still runs' : 'missed while down'}`),
        }),
        rateLimit: bull.rateLimiter({ limit: config.rateLimitPerMinute, windowMs: rateWindowMs }),
      };
      logger.log(`queue: BullMQ "${config.queue.name}" on ${bull.describe()} — one queue, one schedule and one budget for every instance`);
      // Other instances add and delete products: keep this one's list close to the database's.
      const refresh = setInterval(() => void products.list().catch(() => undefined), 2_000);
      refresh.unref();
      cleanups.push(async () => clearInterval(refresh));
    } else {
      queue = createMemoryQueue<InventoryTask>();
    }

    const runtime = new ServiceRuntime(config, db, products, new InventoryQueries(db, config.databaseSchema), rateWindowMs);
    const levels = options.logLevels ?? logLevels(config.logLevel);
    const app = await NestFactory.create(
      AppModule.register(runtime, {
        source,
        store,
        queue,
        jobs: inventoryJobs(config, products),
        rateLimit: scale?.rateLimit ?? { limit: config.rateLimitPerMinute, windowMs: rateWindowMs },
        ...(scale ? { scheduler: scale.scheduler } : {}),
        timezone: config.timezone,
        batchSize: config.batchSize,
        ...(options.flushMs !== undefined ? { flushMs: options.flushMs } : {}),
        ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}),
        ...(options.retry ? { retry: options.retry as RetryPolicy } : {}),
      }),
      { logger: levels, abortOnError: false },
    );
    // Closing the app stops the engine (draining in-flight fetches) before the database goes.
    cleanups.push(() => app.close());
    app.setGlobalPrefix('api/v1');
    app.use(jsonBodiesOnly);
    app.useGlobalFilters(new ErrorsFilter());
    const engine = app.get(SyncEngine);
    runtime.attach(engine, queue);
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('inventory-service')
        .setDescription('Slots and prices of the partner, kept fresh by tidesync (three cadences under one rate budget).')
        .setVersion('1')
        .addBearerAuth()
        .build(),
    );
    SwaggerModule.setup('api/v1/docs', app, document);

    await app.listen(config.port, options.host ?? '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/api/v1`;
    return { app, url, engine, db, runtime, simulator, close: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
