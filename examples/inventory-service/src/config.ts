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

/**
 * `14:Mon,Tue,Wed;15:Sun` → products with their operating weekdays. Throws a readable message
 * naming every bad entry, separated by "; ".
 */
export function parseProducts(text: string): ProductSeed[] {
  const seen = new Set<number>();
  const problems: string[] = [];
  const products: ProductSeed[] = [];
  for (const part of text.split(';').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const match = /^(\d{1,9})\s*:\s*(.+)$/.exec(part);
    if (!match) {
      problems.push(`"${part}" is not "<productId>:<Mon,Tue,…>"`);
      continue;
    }
    const productId = Number(match[1]);
    if (productId < 1) problems.push(`product id in "${part}" must be a positive integer`);
    else if (seen.has(productId)) problems.push(`product ${productId} is listed twice`);
    seen.add(productId);
    const days = match[2]!.split(',').map((d) => d.trim());
    const bad = days.filter((d) => !(WEEKDAYS as readonly string[]).includes(d));
    if (bad.length > 0) problems.push(`unknown weekday ${bad.map((d) => `"${d}"`).join(', ')} in "${part}" (use ${WEEKDAYS.join(',')})`);
    products.push({ productId, days: [...new Set(days)] as Weekday[] });
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return products;
}

/** An integer in [min, max]: a bound on every one, so a typo of many digits is named here, not deep in a library. */
const int = (min: number, fallback: number, max: number) =>
  z
    .string()
    .trim()
    .default(String(fallback))
    .transform((v, ctx) => {
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
        ctx.addIssue({ code: 'custom', message: `expected an integer from ${min} to ${max}, got "${v.length > 20 ? `${v.slice(0, 20)}…` : v}"` });
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
  PORT: int(0, 4200, 65_535),
  PARTNER_API: optionalText.pipe(
    z
      .url({ protocol: /^https?$/, message: 'expected an http(s) URL up to /api/v1/inventory' })
      // The token goes in PARTNER_API_TOKEN: credentials in the URL would be sent nowhere and logged.
      .refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), { message: 'must not hold credentials (give the token in PARTNER_API_TOKEN)' })
      .optional(),
  ),
  PARTNER_API_TOKEN: optionalText,
  RATE_LIMIT_PER_MINUTE: int(1, 30, 1_000_000),
  BATCH_SIZE: int(1, 5, 10_000),
  DATABASE_URL: optionalText.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, { message: 'expected a postgres:// or postgresql:// URL (empty means embedded PGlite)' })
      // Checked here rather than by the driver at start-up, whose message would not name the variable.
      // `user:pw@/db?host=/var/run/postgresql` (a unix socket) has no host, which URL refuses and
      // node-postgres accepts: a host is put in for the check.
      .refine((u) => URL.canParse(u.replace(/@\//, '@socket/')), { message: 'not a valid URL (a port that is not a number? characters that need %-encoding in the password?)' })
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
  SYNC_WEEK_DAYS: int(1, 7, 366),
  SYNC_MONTH_DAYS: int(1, 30, 366),
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
  RATE_LIMIT_WINDOW_MS: int(1_000, 60_000, 86_400_000),
  PARTNER_TIMEOUT_MS: int(100, 10_000, 600_000),
  SYNC_QUEUE: z.string().trim().toLowerCase().default('memory').pipe(z.enum(['memory', 'bullmq'], { message: 'expected memory (one process) or bullmq (several instances)' })),
  REDIS_URL: optionalText.pipe(z.string().regex(/^rediss?:\/\//, { message: 'expected a redis:// or rediss:// URL' }).optional()),
  SYNC_QUEUE_NAME: z.string().trim().regex(/^[A-Za-z0-9_-]{1,60}$/, { message: 'expected letters, digits, "_" or "-"' }).default('inventory'),
  SYNC_QUEUE_LOCK_MS: int(1_000, 30_000, 3_600_000),
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
  const lines = parsed.success ? [] : parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(environment)'}: ${issue.message}`);
  // Checked on the raw values, next to the schema's problems (a refinement of the schema would
  // only run once every variable is valid, and name this one a run later).
  if (present.SYNC_QUEUE?.trim().toLowerCase() === 'bullmq' && !present.REDIS_URL?.trim() && !present.DATABASE_URL?.trim()) {
    // BullMQ needs a server every instance reaches; embedded PGlite belongs to one process.
    lines.push('  SYNC_QUEUE: bullmq needs REDIS_URL or DATABASE_URL (a PostgreSQL server all instances share)');
  }
  if (!parsed.success || lines.length > 0) throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  const e = parsed.data;
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
