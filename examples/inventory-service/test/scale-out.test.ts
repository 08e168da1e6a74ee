import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxInAnyWindow } from '@tidesync/core';
import { addDays, dateIn } from '../src/calendar.js';
import { createPartnerSimulator, type Arrival, type PartnerSimulator } from '../src/simulator/partner-simulator.js';
import { coveredKeys, eventually, expectedSlots, sleep, TEST_CATALOG, TEST_DATABASE_URL, TEST_PRODUCTS } from './helpers.js';

const TEST_REDIS_URL = process.env.TEST_REDIS_URL;
const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Three real service processes on one BullMQ queue, one partner simulator, one PostgreSQL store.
 * Cadences run every 5 s / 10 s / 20 s and the partner allows 12 requests per 3 s, so a minute of
 * the real service's life passes in seconds. Runs where CI provides the servers.
 */
const WINDOW_MS = 3_000;
const LIMIT = 12;
const TARGET_MS = { today: 5_000, week: 10_000, month: 20_000 };
const WEEK_DAYS = 3;
const MONTH_DAYS = 10;

const queueBackends = TEST_DATABASE_URL ? [...(TEST_REDIS_URL ? (['Redis'] as const) : []), 'PostgreSQL' as const] : [];

interface Instance {
  child: ChildProcess;
  url: string;
  output: string[];
}

/** The freshness target of a key: the tightest cadence covering its date. */
const targetOf = (date: string, today: string) => (date === today ? TARGET_MS.today : date <= addDays(today, WEEK_DAYS) ? TARGET_MS.week : TARGET_MS.month);

const completed = (a: Arrival) => a.status === 200 && a.fault === undefined && a.productId !== undefined;

describe.skipIf(queueBackends.length === 0).each(queueBackends)('three instances on BullMQ over %s', (backend) => {
  let sim: PartnerSimulator;
  const schema = `inv_scale_${randomBytes(4).toString('hex')}`;
  const instances: Instance[] = [];

  beforeAll(() => {
    // The service as `pnpm start` runs it, bundled into a directory of the test's own.
    const built = spawnSync(process.execPath, [fileURLToPath(new URL('../node_modules/tsup/dist/cli-default.js', import.meta.url)), '--silent', '--out-dir', 'test-dist'], {
      cwd: root,
      encoding: 'utf8',
    });
    if (built.status !== 0) throw new Error(`tsup failed: ${built.stderr}${built.stdout}`);
  }, 120_000);

  afterAll(async () => {
    for (const i of instances) i.child.kill('SIGKILL');
    await sim?.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.query(`DROP SCHEMA IF EXISTS ${schema}_bullmq CASCADE`);
    await client.end();
  });

  const launch = (name: string, env: Record<string, string> = {}): Promise<Instance> => {
    const child = spawn(process.execPath, ['test-dist/main.js'], {
      cwd: root,
      env: {
        ...env,
        PATH: process.env.PATH,
        PORT: '0',
        PARTNER_API: sim.url,
        PARTNER_API_TOKEN: sim.token,
        DATABASE_URL: TEST_DATABASE_URL,
        DATABASE_SCHEMA: schema,
        SYNC_QUEUE: 'bullmq',
        ...(backend === 'Redis' ? { REDIS_URL: TEST_REDIS_URL } : {}),
        SYNC_QUEUE_NAME: schema,
        SYNC_QUEUE_LOCK_MS: '3000',
        RATE_LIMIT_PER_MINUTE: String(LIMIT),
        RATE_LIMIT_WINDOW_MS: String(WINDOW_MS),
        SYNC_TODAY_CRON: '*/5 * * * * *',
        SYNC_WEEK_CRON: '*/10 * * * * *',
        SYNC_MONTH_CRON: '*/20 * * * * *',
        SYNC_WEEK_DAYS: String(WEEK_DAYS),
        SYNC_MONTH_DAYS: String(MONTH_DAYS),
        PRODUCTS: TEST_PRODUCTS,
        LOG_LEVEL: 'log',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    return new Promise((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        output.push(text);
        const match = /listening on http:\/\/localhost:(\d+)\/api\/v1/.exec(text);
        if (match) resolve({ child, url: `http://127.0.0.1:${match[1]}/api/v1`, output });
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`instance ${name} exited with ${code}:\n${output.join('')}`)));
    });
  };

  it('shares one budget, fetches each key once per freshness window, and survives an instance killed mid-fetch', async () => {
    sim = createPartnerSimulator({ token: `sim-${randomBytes(6).toString('hex')}`, products: TEST_CATALOG, limit: LIMIT, windowMs: WINDOW_MS });
    await sim.start();
    // The first instance starts alone and its first three fetches hang: it holds them when killed.
    sim.inject({ kind: 'hang', ms: 60_000, times: 3 });
    // Its requests never time out during the test: only its death can hand its fetches back.
    const victim = await launch('A', { PARTNER_TIMEOUT_MS: '120000' });
    instances.push(victim);
    await eventually(() => expect(sim.arrivals.filter((a) => a.fault === 'hang')).toHaveLength(3), 15_000);
    const hung = sim.arrivals.filter((a) => a.fault === 'hang').map((a) => `${a.productId}:${a.date}`);
    instances.push(...(await Promise.all([launch('B'), launch('C')])));

    await sleep(2_000);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    // Killed while its fetches still hang (60 s), so they are still its own.
    const firstHangAt = sim.arrivals.find((a) => a.fault === 'hang')!.at;
    expect(killedAt - firstHangAt).toBeLessThan(55_000);

    // Its tasks' locks lapse after 3 s; another instance takes them and fetches them — not before.
    await eventually(() => {
      for (const key of hung) {
        expect(sim.arrivals.some((a) => completed(a) && `${a.productId}:${a.date}` === key && a.at > killedAt)).toBe(true);
      }
    }, 20_000);
    // Locks are renewed every third of their 3 s, so the last renewal left at least 2 s to run.
    for (const key of hung) {
      const again = sim.arrivals.find((a) => `${a.productId}:${a.date}` === key && a.at > killedAt)!;
      expect(again.at - killedAt).toBeGreaterThanOrEqual(1_900);
    }
    await sleep(20_000); // a full slowest cadence with two instances left
    const endAt = Date.now();
    const today = dateIn(endAt, 'UTC');

    // One budget: never more than the limit in any window, across all three processes.
    const requests = sim.arrivals.filter((a) => a.productId !== undefined);
    expect(maxInAnyWindow(requests.map((a) => ({ at: a.at, cost: 1 })), WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
    expect(requests.filter((a) => a.status === 429)).toEqual([]);

    // No duplicate fetches: a completed fetch of a key less than half its target after the
    // previous completed one is work another instance had already done. A key's first fetch is the
    // start-up plan, off the cron's beat: the next tick refetching it is by design, not counted.
    // The kill is the other exception. Every task the killed instance held comes back when its
    // lock lapses — its hung fetches, tasks it had taken but not fetched, and fetches it had made
    // but not yet written (at-least-once: those are fetched again, by design). They come back
    // together, off the beat, and that burst delays the next tick's fetches against the budget, so
    // the tick after may refetch those keys early to stay within target. A pair of fetches with
    // one inside the recovery (until one "today" period after the hung keys came back) is not
    // counted; the rest of the run, about 20 s of it, is.
    const recoveredBy =
      Math.max(...hung.map((key) => sim.arrivals.find((a) => completed(a) && `${a.productId}:${a.date}` === key && a.at > killedAt)!.at)) + TARGET_MS.today;
    const inRecovery = (at: number) => at > killedAt && at <= recoveredBy;
    const byKey = new Map<string, number[]>();
    for (const a of requests.filter(completed)) byKey.set(`${a.productId}:${a.date}`, [...(byKey.get(`${a.productId}:${a.date}`) ?? []), a.at]);
    let fetches = 0;
    const duplicates: string[] = [];
    for (const [key, times] of byKey) {
      const date = key.split(':')[1]!;
      fetches += times.length;
      times.forEach((at, i) => {
        const previous = times[i - 1]!;
        if (i > 1 && !inRecovery(previous) && !inRecovery(at) && at - previous < targetOf(date, dateIn(at, 'UTC')) / 2) duplicates.push(`${key} +${at - previous} ms`);
      });
    }
    if (process.env.SCALE_DEBUG) {
      const t0 = sim.arrivals[0]!.at;
      for (const [key, times] of byKey) console.log(key, times.map((at) => `${((at - t0) / 1000).toFixed(2)}(${((at % 10_000) / 1000).toFixed(2)})`).join(' '));
      console.log('killed at', ((killedAt - t0) / 1000).toFixed(2), 'hung', hung);
      for (const i of instances) console.log(i.output.join('').split('\n').filter((l) => /WARN|ERROR|skipped/.test(l)).join('\n'));
    }
    expect(fetches).toBeGreaterThan(35);
    expect(duplicates.length / fetches, duplicates.join(', ')).toBeLessThanOrEqual(0.01);

    // No key left stale: each covered key was fetched within its target (plus a queue's worth of
    // slack) of the end, and the survivors serve what the partner has.
    for (const { productId, date } of coveredKeys(MONTH_DAYS)) {
      const times = byKey.get(`${productId}:${date}`) ?? [];
      expect(times.length, `${productId}:${date} never fetched`).toBeGreaterThan(0);
      expect(endAt - times[times.length - 1]!, `${productId}:${date} stale`).toBeLessThanOrEqual(targetOf(date, today) + 4_000);
    }
    const [b] = instances.slice(1);
    for (const { productId, date } of coveredKeys(MONTH_DAYS)) {
      const res = await fetch(`${b!.url}/experience/${productId}/slots?date=${date}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(expectedSlots(sim.truth(productId, date)));
    }
  }, 120_000);
});
