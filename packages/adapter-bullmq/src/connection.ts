/**
 * Connection — one shape over BullMQ's two backends, Redis and PostgreSQL.
 *
 * Guarantees:
 * - Everything the adapter keeps lives on the one backend the user chose: BullMQ's queues, and the
 *   few structures BullMQ has no primitive for (the exact sliding-window budget, the shared pause
 *   set, the priority origin). No second datastore is ever needed.
 * - Names are namespaced: a Redis key prefix, or a PostgreSQL schema (validated, then quoted).
 * - A bad connection option (shape, URL, namespace) is one `SyncConfigError` listing every problem.
 * - Connections the adapter opens are its own and closed by `close()`; a URL's password never
 *   appears in an error or a log line (`describe()` is safe to print).
 * - Their errors (a server that is away, refused credentials) go to the `logger` given to
 *   `connect` as warnings, each distinct message at most once a minute, and never to stderr:
 *   without a handler BullMQ and ioredis print every reconnect attempt of every connection there.
 *   Commands wait for the connection to come back (BullMQ's workers need `maxRetriesPerRequest:
 *   null`), so an outage delays work and loses none.
 * - `close()` returns within `closeTimeoutMs` (default 5 s) even when the server is away: it closes
 *   gracefully while the server answers, then drops the connections that are left, which fails
 *   the commands still waiting on them.
 * - Time that must agree across instances (budget grants, penalties) is read from the backend's
 *   clock, not the host's, so clock skew between hosts cannot stretch or shrink the window.
 */
import { createRequire } from 'node:module';
import { createPostgresBackend, Queue, Worker, type QueueOptions, type WorkerOptions } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import type pg from 'pg';
import { SyncConfigError, SyncError, errorMessage, redactConnectionString, safeLogger, type ConfigIssue, type Logger } from '@tidesync/core';

// ioredis and pg are optional peers: a Redis deployment need not install pg, nor the other way
// round. Both are CommonJS, so they load on first use without making `connect` async.
const load = createRequire(import.meta.url);
const loadPeer = <T>(name: string): T => {
  try {
    return load(name) as T;
  } catch (err) {
    throw new SyncError('CONFIG_INVALID', `@tidesync/adapter-bullmq needs the "${name}" package for this connection: install it next to bullmq`, { cause: err });
  }
};

export type BullMQConnectionOptions =
  | {
      /** A `redis://` URL or ioredis options. */
      redis: string | RedisOptions;
      /** Key prefix for every key (BullMQ's and the adapter's). Default `tidesync`. */
      prefix?: string;
    }
  | {
      /** A `postgres://` URL or node-postgres pool options. */
      postgres: string | pg.PoolConfig;
      /** Schema for BullMQ's tables and the adapter's. Default `tidesync_bullmq`. */
      schema?: string;
    };

/** Minimal typed view of the PostgreSQL pool the adapter queries directly. */
export interface PgQuery {
  query<R extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface Backend {
  readonly kind: 'redis' | 'postgres';
  /** Where it points, without credentials. */
  describe(): string;
  /** Namespace: the Redis key prefix or the PostgreSQL schema (already validated). */
  readonly namespace: string;
  newQueue(name: string, options?: Omit<QueueOptions, 'connection'>): Queue;
  newWorker(name: string, processor: ConstructorParameters<typeof Worker>[1], options?: Omit<WorkerOptions, 'connection'>): Worker;
  /** The adapter's own Redis client (Redis backend only). */
  redis(): Redis;
  /** The adapter's own pool (PostgreSQL backend only); `sql` quotes the schema for you. */
  pg(): PgQuery & { schema: string };
  /**
   * Close everything it opened; within `timeoutMs` (default: the connection's `closeTimeoutMs`)
   * plus a second even when the server is away. `timeoutMs: 0` drops the connections at once.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

const NAMESPACE = /^[a-z_][a-z0-9_]{0,47}$/;

const SHAPE = 'expected { redis: url | options } or { postgres: url | options }';
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every problem of a connection option, none of them showing a password: the shape, the URL
 * (scheme, database number, escapes) and the namespace. `connect` and the adapter's options both
 * check through it, so a bad connection is a `SyncConfigError` listing all of them at once.
 */
export function connectionIssues(options: unknown): ConfigIssue[] {
  if (!isPlainObject(options) || ('redis' in options) === ('postgres' in options)) return [{ path: '', message: SHAPE }];
  const issues: ConfigIssue[] = [];
  const [kind, target, nsField] = 'redis' in options ? (['redis', options.redis, 'prefix'] as const) : (['postgres', options.postgres, 'schema'] as const);
  if (typeof target === 'string') {
    try {
      // node-postgres reads many forms (URLs, `socket:` paths, libpq keyword strings): it judges
      // those itself, and they are never echoed here (a keyword string's password is not a URL's).
      if (kind === 'redis') parseRedisUrl(target);
      else if (target.trim() === '') throw new Error('expected a postgres connection string');
    } catch (err) {
      issues.push({ path: kind, message: (err as Error).message });
    }
  } else if (!isPlainObject(target)) {
    issues.push({ path: kind, message: kind === 'redis' ? 'expected a redis:// URL or ioredis options' : 'expected a postgres:// URL or node-postgres pool options' });
  }
  const namespace = options[nsField];
  if (namespace !== undefined && (typeof namespace !== 'string' || !NAMESPACE.test(namespace))) {
    issues.push({ path: nsField, message: 'must be lower-case letters, digits and underscores (up to 48), starting with a letter or underscore' });
  }
  return issues;
}

export interface ConnectOptions {
  /** Where the connections' errors go (see `connect`). Default: nowhere, like core's engine. */
  logger?: Logger;
  /** Longest `close()` waits for a graceful close before it drops the connections. Default 5000 ms. */
  closeTimeoutMs?: number;
}

export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

/** Whether `work` settles within `ms`; the timer never keeps the process alive. */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Closable {
  close(): Promise<void>;
  disconnect(): Promise<void>;
}

/**
 * Closes queues and workers newest first, gracefully while the server answers; past `timeoutMs`
 * the ones left are disconnected (sockets dropped), so waiting commands fail instead of hanging.
 */
async function closeAll(owned: Closable[], timeoutMs: number, drop: () => void = () => {}): Promise<void> {
  const left = new Set(owned.splice(0).reverse());
  const graceful = (async () => {
    for (const o of left) {
      await o.close().catch(() => {});
      left.delete(o);
    }
  })();
  if (timeoutMs > 0 && (await settlesWithin(graceful, timeoutMs))) return;
  // Connections must stop reconnecting too, or the process never exits: see `connectRedis`.
  drop();
  // BullMQ's disconnect waits for a connection that never came up: bounded as well.
  await settlesWithin(Promise.all([...left].map((o) => o.disconnect().catch(() => {}))), 1_000);
}

/**
 * Opens nothing yet: queues, workers and clients connect when first made. Their connection errors
 * are reported to `logger` (throttled), never printed.
 */
export function connect(options: BullMQConnectionOptions, { logger, closeTimeoutMs = DEFAULT_CLOSE_TIMEOUT_MS }: ConnectOptions = {}): Backend {
  const issues = connectionIssues(options);
  if (!(Number.isInteger(closeTimeoutMs) && closeTimeoutMs > 0)) issues.push({ path: 'closeTimeoutMs', message: 'must be a positive integer (milliseconds)' });
  if (issues.length > 0) throw new SyncConfigError('BullMQ connection', issues);
  if ('redis' in options) return connectRedis(options.redis, options.prefix ?? 'tidesync', logger, closeTimeoutMs);
  return connectPostgres(options.postgres, options.schema ?? 'tidesync_bullmq', logger, closeTimeoutMs);
}

/** How often one distinct connection error is reported while it repeats. */
export const CONNECTION_ERROR_REPORT_MS = 60_000;
/** Distinct messages remembered for throttling; beyond this the oldest is forgotten. */
const REMEMBERED_ERRORS = 50;

/**
 * A listener factory for the `error` events of the backend's queues, workers and clients. An
 * outage raises the same error on every reconnect attempt of every connection (each schedule has
 * its queue and worker), so one message is reported once, then at most once per
 * `CONNECTION_ERROR_REPORT_MS` with how often it repeated in between.
 */
function connectionErrors(logger: Logger | undefined, label: string): (source: string) => (err: unknown) => void {
  const log = safeLogger(logger);
  const seen = new Map<string, { at: number; repeated: number }>();
  return (source) => (err) => {
    const message = redactConnectionString(errorMessage(err));
    const now = Date.now();
    const last = seen.get(message);
    if (last && now - last.at < CONNECTION_ERROR_REPORT_MS) {
      last.repeated++;
      return;
    }
    seen.delete(message);
    seen.set(message, { at: now, repeated: 0 });
    if (seen.size > REMEMBERED_ERRORS) seen.delete(seen.keys().next().value!);
    log.warn({ backend: label, source, err: message, ...(last ? { repeatedSinceLastReport: last.repeated } : {}) }, 'BullMQ backend error (a connection that is away is retried: its commands wait for it)');
  };
}

function connectRedis(target: string | RedisOptions, prefix: string, logger: Logger | undefined, closeTimeoutMs: number): Backend {
  const given: RedisOptions = typeof target === 'string' ? parseRedisUrl(target) : target;
  // Every connection (BullMQ's, their duplicates, ours) reconnects through this: once a close has
  // given up on the server, the next attempt ends the connection instead (its waiting commands
  // fail), so nothing keeps reconnecting — and the process alive — after close().
  let dropped = false;
  const retry = given.retryStrategy ?? ((times: number) => Math.max(Math.min(Math.exp(times), 20_000), 1_000));
  const options: RedisOptions = { ...given, maxRetriesPerRequest: null, retryStrategy: (times) => (dropped ? null : retry(times)) };
  const drop = () => void (dropped = true);
  let client: Redis | undefined;
  const owned: Closable[] = [];
  const label = typeof target === 'string' ? redactConnectionString(target) : `redis://${target.host ?? '127.0.0.1'}:${target.port ?? 6379}`;
  const reportFrom = connectionErrors(logger, label);
  return {
    kind: 'redis',
    namespace: prefix,
    describe: () => `${label} (prefix ${prefix})`,
    newQueue(name, queueOptions = {}) {
      const queue = new Queue(name, { ...queueOptions, connection: options as never, prefix });
      queue.on('error', reportFrom(`queue ${name}`));
      owned.push(queue);
      return queue;
    },
    newWorker(name, processor, workerOptions = {}) {
      const worker = new Worker(name, processor, { ...workerOptions, connection: options as never, prefix });
      worker.on('error', reportFrom(`worker ${name}`));
      owned.push(worker);
      return worker;
    },
    redis() {
      if (!client) {
        client = new (loadPeer<typeof import('ioredis')>('ioredis').Redis)({ ...options, lazyConnect: false });
        client.on('error', reportFrom('adapter client'));
      }
      return client;
    },
    pg() {
      throw new SyncError('CONFIG_INVALID', 'this BullMQ connection is Redis, not PostgreSQL');
    },
    async close({ timeoutMs = closeTimeoutMs } = {}) {
      await closeAll(owned, timeoutMs, drop);
      const c = client;
      client = undefined;
      // QUIT waits for a connection that may never come back; then the socket is just dropped.
      if (c && !(timeoutMs > 0 && (await settlesWithin(c.quit(), 1_000)))) c.disconnect();
    },
  };
}

/**
 * A pool whose `end()` did not settle waits on a server that is away: its clients' sockets (one
 * still connecting, or one mid-query) would keep the process alive. node-postgres offers no way
 * to force them closed, so they are destroyed through its client list, where there is one.
 */
function dropClients(pool: pg.Pool): void {
  const clients = (pool as unknown as { _clients?: unknown })._clients;
  if (!Array.isArray(clients)) return;
  for (const client of clients as Array<{ connection?: { stream?: { destroy?(): void } } }>) client.connection?.stream?.destroy?.();
}

function parseRedisUrl(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not echoed: text that is no URL may hold a password where `redactConnectionString` cannot see it.
    throw new SyncError('CONFIG_INVALID', 'redis connection is not a URL (expected redis://[user:password@]host[:port][/db])');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new SyncError('CONFIG_INVALID', `redis connection "${redactConnectionString(url)}" must start with redis:// or rediss://`);
  }
  // `/2` selects database 2; anything else there is a mistake, not database 0.
  const dbText = parsed.pathname.length > 1 ? parsed.pathname.slice(1) : '0';
  if (!/^\d+$/.test(dbText)) throw new SyncError('CONFIG_INVALID', `redis connection "${redactConnectionString(url)}": the path must be a database number, like /0`);
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(parsed.username);
    password = decodeURIComponent(parsed.password);
  } catch {
    throw new SyncError('CONFIG_INVALID', `redis connection "${redactConnectionString(url)}": the user or password holds a malformed %-escape`);
  }
  return {
    // `redis://[::1]:6379` names the host with brackets, which a socket cannot resolve.
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    db: Number(dbText),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function connectPostgres(target: string | pg.PoolConfig, schema: string, logger: Logger | undefined, closeTimeoutMs: number): Backend {
  const poolConfig: pg.PoolConfig = typeof target === 'string' ? { connectionString: target } : target;
  let pool: pg.Pool | undefined;
  const owned: Closable[] = [];
  const label = typeof target === 'string' ? redactConnectionString(target) : `postgres://${target.host ?? 'localhost'}:${target.port ?? 5432}/${target.database ?? ''}`;
  // BullMQ builds its own pool per queue/worker from this config, pins its search_path to the
  // schema and runs its migrations (serialised by its own advisory lock).
  const bullConnection = { ...poolConfig, schema, migrate: true };
  const reportFrom = connectionErrors(logger, label);
  const sqlPool = () => {
    if (!pool) {
      pool = new (loadPeer<typeof pg>('pg').Pool)({ ...poolConfig, max: 4 });
      // An idle client that loses its server must not crash the process; the next query reconnects.
      pool.on('error', reportFrom('adapter pool'));
    }
    return pool;
  };
  return {
    kind: 'postgres',
    namespace: schema,
    describe: () => `${label} (schema ${schema})`,
    newQueue(name, queueOptions = {}) {
      const queue = new Queue(name, { ...queueOptions, connection: bullConnection } as never, createPostgresBackend as never) as unknown as Queue;
      queue.on('error', reportFrom(`queue ${name}`));
      owned.push(queue);
      return queue;
    },
    newWorker(name, processor, workerOptions = {}) {
      const worker = new Worker(name, processor, { ...workerOptions, connection: bullConnection } as never, createPostgresBackend as never) as unknown as Worker;
      worker.on('error', reportFrom(`worker ${name}`));
      owned.push(worker);
      return worker;
    },
    redis() {
      throw new SyncError('CONFIG_INVALID', 'this BullMQ connection is PostgreSQL, not Redis');
    },
    pg() {
      const p = sqlPool();
      return {
        schema: `"${schema}"`,
        query: async <R extends Record<string, unknown>>(text: string, params?: unknown[]) => (await p.query(text, params)) as unknown as { rows: R[] },
      };
    },
    async close({ timeoutMs = closeTimeoutMs } = {}) {
      await closeAll(owned, timeoutMs);
      const p = pool;
      pool = undefined;
      if (p && !(await settlesWithin(p.end(), timeoutMs > 0 ? 1_000 : 0))) dropClients(p);
    },
  };
}
