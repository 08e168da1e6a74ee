/**
 * Configuration from the environment, validated once at start. A bad value stops the service with
 * a message naming the variable; nothing is read from the environment anywhere else.
 */
import { parseCron } from '@tidesync/core';
import { z } from 'zod';
import { WEEKDAYS, type Weekday } from './calendar.js';

export interface ProductSeed {
  productId: number;
  days: Weekday[];
}

/** `14:Mon,Tue,Wed;15:Sun` → products with their operating weekdays. Throws a readable message. */
export function parseProducts(text: string): ProductSeed[] {
  const seen = new Set<number>();
  return text
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const match = /^(\d{1,9})\s*:\s*(.+)$/.exec(part);
      if (!match) throw new Error(`"${part}" is not "<productId>:<Mon,Tue,…>"`);
      const productId = Number(match[1]);
      if (productId < 1) throw new Error(`product id in "${part}" must be a positive integer`);
      if (seen.has(productId)) throw new Error(`product ${productId} is listed twice`);
      seen.add(productId);
      const days = match[2]!.split(',').map((d) => d.trim());
      const bad = days.filter((d) => !(WEEKDAYS as readonly string[]).includes(d));
      if (bad.length > 0) throw new Error(`unknown weekday ${bad.map((d) => `"${d}"`).join(', ')} in "${part}" (use ${WEEKDAYS.join(',')})`);
      return { productId, days: [...new Set(days)] as Weekday[] };
    });
}

const int = (min: number, fallback: number) =>
  z
    .string()
    .trim()
    .default(String(fallback))
    .transform((v, ctx) => {
      if (!/^\d+$/.test(v) || Number(v) < min) {
        ctx.addIssue({ code: 'custom', message: `expected an integer ≥ ${min}, got "${v}"` });
        return z.NEVER;
      }
      return Number(v);
    });

const cron = (fallback: string) =>
  z
    .string()
    .trim()
    .default(fallback)
    .superRefine((v, ctx) => {
      try {
        parseCron(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not a cron expression (5 fields, or 6 with seconds first): ${(err as Error).message}` });
      }
    });

const timeZone = z
  .string()
  .trim()
  .default('UTC')
  .superRefine((tz, ctx) => {
    // core's cron parser checks the zone the cadences will run in.
    try {
      parseCron('* * * * *', tz);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not an IANA time zone (e.g. UTC, Europe/Rome, Asia/Singapore)' });
    }
  });

const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined));

const envSchema = z.object({
  PORT: int(0, 4200).refine((p) => p <= 65_535, { message: 'expected a port number up to 65535' }),
  PARTNER_API: optionalText.pipe(z.url({ message: 'expected an http(s) URL up to /api/v1/inventory' }).optional()),
  PARTNER_API_TOKEN: optionalText,
  RATE_LIMIT_PER_MINUTE: int(1, 30),
  BATCH_SIZE: int(1, 5),
  DATABASE_URL: optionalText.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, { message: 'expected a postgres:// or postgresql:// URL (empty means embedded PGlite)' })
      .optional(),
  ),
  DATABASE_SCHEMA: z
    .string()
    .trim()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'expected a lower-case SQL identifier' })
    .default('inventory'),
  DATA_DIR: z.string().trim().default('.data'),
  SYNC_TIMEZONE: timeZone,
  SYNC_TODAY_CRON: cron('*/15 * * * *'),
  SYNC_WEEK_CRON: cron('0 */4 * * *'),
  SYNC_MONTH_CRON: cron('0 0 * * *'),
  SYNC_WEEK_DAYS: int(1, 7),
  SYNC_MONTH_DAYS: int(1, 30),
  PRODUCTS: z
    .string()
    .default('')
    .transform((v, ctx) => {
      try {
        return parseProducts(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  SYNC_ADMIN_TOKEN: optionalText,
  RATE_LIMIT_WINDOW_MS: int(1_000, 60_000),
  PARTNER_TIMEOUT_MS: int(100, 10_000),
  SYNC_QUEUE: z.string().trim().toLowerCase().default('memory').pipe(z.enum(['memory', 'bullmq'], { message: 'expected memory (one process) or bullmq (several instances)' })),
  REDIS_URL: optionalText.pipe(z.string().regex(/^rediss?:\/\//, { message: 'expected a redis:// or rediss:// URL' }).optional()),
  SYNC_QUEUE_NAME: z.string().trim().regex(/^[A-Za-z0-9_-]{1,60}$/, { message: 'expected letters, digits, "_" or "-"' }).default('inventory'),
  SYNC_QUEUE_LOCK_MS: int(1_000, 30_000),
  LOG_LEVEL: z
    .string()
    .trim()
    .toLowerCase()
    .default('log')
    .pipe(z.enum(['fatal', 'error', 'warn', 'log', 'info', 'debug', 'verbose'], { message: 'expected one of fatal, error, warn, log (= info), debug, verbose' })),
});

export type Env = z.output<typeof envSchema>;

export interface ServiceConfig {
  port: number;
  /** Undefined: start the built-in partner simulator. */
  partnerApi: string | undefined;
  partnerToken: string | undefined;
  rateLimitPerMinute: number;
  batchSize: number;
  /** Undefined: embedded PGlite under `dataDir`. */
  databaseUrl: string | undefined;
  databaseSchema: string;
  dataDir: string;
  timezone: string;
  cron: { today: string; week: string; month: string };
  weekDays: number;
  monthDays: number;
  products: ProductSeed[];
  adminToken: string | undefined;
  logLevel: Env['LOG_LEVEL'];
  /** The partner's window that `rateLimitPerMinute` counts over (60 s unless a partner differs). */
  rateWindowMs: number;
  /** How long one partner request may take before it is abandoned and retried. */
  partnerTimeoutMs: number;
  /**
   * `memory`: one process. `bullmq`: several instances share one queue, one schedule and one budget
   * on BullMQ — over Redis when `redisUrl` is set, else over PostgreSQL at `databaseUrl`.
   */
  queue: { kind: 'memory' } | { kind: 'bullmq'; redisUrl: string | undefined; name: string; lockMs: number };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and validates the environment; throws a ConfigError listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServiceConfig {
  // An empty variable means "unset" (as in `DATABASE_URL=`), so defaults apply.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(environment)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.SYNC_QUEUE === 'bullmq' && !e.REDIS_URL && !e.DATABASE_URL) {
    // BullMQ needs a server every instance reaches; embedded PGlite belongs to one process.
    throw new ConfigError('invalid configuration:\n  SYNC_QUEUE: bullmq needs REDIS_URL or DATABASE_URL (a PostgreSQL server all instances share)');
  }
  return {
    port: e.PORT,
    partnerApi: e.PARTNER_API,
    partnerToken: e.PARTNER_API_TOKEN,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    batchSize: e.BATCH_SIZE,
    databaseUrl: e.DATABASE_URL,
    databaseSchema: e.DATABASE_SCHEMA,
    dataDir: e.DATA_DIR,
    timezone: e.SYNC_TIMEZONE,
    cron: { today: e.SYNC_TODAY_CRON, week: e.SYNC_WEEK_CRON, month: e.SYNC_MONTH_CRON },
    weekDays: e.SYNC_WEEK_DAYS,
    monthDays: e.SYNC_MONTH_DAYS,
    products: e.PRODUCTS,
    adminToken: e.SYNC_ADMIN_TOKEN,
    logLevel: e.LOG_LEVEL,
    rateWindowMs: e.RATE_LIMIT_WINDOW_MS,
    partnerTimeoutMs: e.PARTNER_TIMEOUT_MS,
    queue: e.SYNC_QUEUE === 'bullmq' ? { kind: 'bullmq', redisUrl: e.REDIS_URL, name: e.SYNC_QUEUE_NAME, lockMs: e.SYNC_QUEUE_LOCK_MS } : { kind: 'memory' },
  };
}
