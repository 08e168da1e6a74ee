import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { addDays, dateIn, weekdayOf, WEEKDAYS } from '../src/calendar.js';
import { loadConfig } from '../src/config.js';
import type { Slot } from '../src/inventory-queries.js';
import type { PartnerSlot } from '../src/partner-payload.js';
import { startInventoryService, type InventoryService, type ServiceOptions } from '../src/service.js';
import { DEFAULT_CATALOG, type SimProduct } from '../src/simulator/catalog.js';
import { createPartnerSimulator, type PartnerSimulator, type PartnerSimulatorOptions } from '../src/simulator/partner-simulator.js';

/** Set by CI to the local server: every suite then also runs on real PostgreSQL. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const backends: ('PGlite' | 'PostgreSQL')[] = ['PGlite', ...(TEST_DATABASE_URL ? (['PostgreSQL'] as const) : [])];
export type Backend = (typeof backends)[number];

/** Product 16 operates every day, so "today" always has work whatever day the suite runs on. */
export const DAILY: SimProduct = {
  ...DEFAULT_CATALOG[0]!,
  productId: 16,
  days: [...WEEKDAYS],
  times: [
    ['08:00', '09:00'],
    ['12:00', '13:00'],
  ],
};
export const TEST_CATALOG = [...DEFAULT_CATALOG, DAILY];
/** The partner's limit window, shortened so budgets refill within a test; the service uses the same. */
export const TEST_WINDOW_MS = 3_000;
export const TEST_PRODUCTS = '14:Mon,Tue,Wed;15:Sun;16:Sun,Mon,Tue,Wed,Thu,Fri,Sat';

/** A database place of its own: a fresh schema on PostgreSQL, a temporary directory for PGlite. */
export interface TestDatabase {
  env: Record<string, string>;
  drop(): Promise<void>;
}

export async function testDatabase(backend: Backend): Promise<TestDatabase> {
  const schema = `inv_test_${randomBytes(5).toString('hex')}`;
  if (backend === 'PostgreSQL') {
    return {
      env: { DATABASE_URL: TEST_DATABASE_URL!, DATABASE_SCHEMA: schema },
      async drop() {
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      },
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'inventory-test-'));
  return { env: { DATA_DIR: dir, DATABASE_SCHEMA: schema }, drop: () => rm(dir, { recursive: true, force: true }) };
}

export interface Harness {
  service: InventoryService;
  sim: PartnerSimulator;
  url: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  get(path: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export interface BootOptions {
  db: TestDatabase;
  env?: Record<string, string>;
  /** An already started simulator (shared across restarts), or options for a new one. */
  sim?: PartnerSimulator | PartnerSimulatorOptions;
  service?: Omit<ServiceOptions, 'config'>;
}

export async function boot(options: BootOptions): Promise<Harness> {
  let sim: PartnerSimulator;
  let ownSim = false;
  if (options.sim && 'arrivals' in options.sim) sim = options.sim;
  else {
    sim = createPartnerSimulator({ token: 'sim-secret-token', products: TEST_CATALOG, limit: 30, windowMs: TEST_WINDOW_MS, ...options.sim });
    await sim.start();
    ownSim = true;
  }
  const config = loadConfig({
    PORT: '0',
    PARTNER_API: sim.url,
    PARTNER_API_TOKEN: sim.token,
    PRODUCTS: TEST_PRODUCTS,
    SYNC_WEEK_DAYS: '3',
    SYNC_MONTH_DAYS: '10',
    LOG_LEVEL: 'error',
    ...options.db.env,
    ...options.env,
  });
  const service = await startInventoryService({ config, logLevels: ['fatal'], rateWindowMs: sim.windowMs, retry: { baseDelayMs: 100, maxDelayMs: 400, attempts: 30 }, flushMs: 50, ...options.service });
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as any };
  };
  return {
    service,
    sim,
    url: service.url,
    request,
    get: (path) => request('GET', path),
    async close() {
      await service.close();
      if (ownSim) await sim.close();
    },
  };
}

/** What the service must serve for a partner answer: the contract's Slot shape and price rule. */
export function expectedSlots(truth: PartnerSlot[]): Slot[] {
  return [...truth]
    .sort((a, b) => a.startTime.localeCompare(b.startTime))
    .map((s) => {
      const toPrice = (p: PartnerSlot['paxAvailability'][number]['price']) => ({ finalPrice: p.finalPrice, currencyCode: p.currencyCode, originalPrice: p.originalPrice });
      const primary = s.paxAvailability.find((p) => p.isPrimary) ?? [...s.paxAvailability].sort((a, b) => a.price.finalPrice - b.price.finalPrice)[0]!;
      return {
        startTime: s.startTime,
        startDate: s.startDate,
        price: toPrice(primary.price),
        remaining: s.remaining,
        paxAvailability: [...s.paxAvailability]
          .sort((a, b) => a.type.localeCompare(b.type))
          .map((p) => ({
            type: p.type,
            ...(p.name != null ? { name: p.name } : {}),
            ...(p.description != null ? { description: p.description } : {}),
            price: toPrice(p.price),
            ...(p.min != null ? { min: p.min } : {}),
            ...(p.max != null ? { max: p.max } : {}),
            remaining: p.remaining,
          })),
      };
    });
}

/** Every (product, date) the cadences cover right now, per the test configuration. */
export function coveredKeys(monthDays = 10, timezone = 'UTC'): { productId: number; date: string }[] {
  const today = dateIn(Date.now(), timezone);
  const keys: { productId: number; date: string }[] = [];
  for (const product of TEST_CATALOG) {
    for (let i = 0; i <= monthDays; i++) {
      const date = addDays(today, i);
      if (product.days.includes(weekdayOf(date))) keys.push({ productId: product.productId, date });
    }
  }
  return keys;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` stops throwing (returns its value) or the time is up (rethrows its last error). */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(everyMs);
    }
  }
}

/** True once every covered key is served exactly as the simulator's truth. */
export async function converged(h: Harness, keys = coveredKeys()): Promise<void> {
  for (const { productId, date } of keys) {
    const res = await h.get(`/experience/${productId}/slots?date=${date}`);
    const want = expectedSlots(h.sim.truth(productId, date));
    if (res.status !== 200 || JSON.stringify(res.body) !== JSON.stringify(want)) {
      throw new Error(`product ${productId} on ${date}: served ${JSON.stringify(res.body).slice(0, 200)}, partner has ${JSON.stringify(want).slice(0, 200)}`);
    }
  }
}

/**
 * A TCP proxy in front of the real server: `down()` drops every connection the service holds and
 * refuses new ones until `up()`: the server's host going away and coming back.
 */
export async function tcpProxy(target: URL): Promise<{ port: number; down(): void; up(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let isDown = false;
  const server: Server = createServer((client) => {
    if (isDown) return void client.destroy();
    const upstream = connect(Number(target.port || (target.protocol.startsWith('redis') ? 6379 : 5432)), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    down() {
      isDown = true;
      for (const s of sockets) s.destroy();
    },
    up() {
      isDown = false;
    },
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), [...sockets].forEach((s) => s.destroy()))),
  };
}
