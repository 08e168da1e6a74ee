import { describe, expect, it } from 'vitest';
import { cadenceOffsets } from '../src/cadences.js';
import { addDays, addMonths } from '../src/calendar.js';
import { loadConfig } from '../src/config.js';

describe('configuration from the environment', () => {
  it('has the documented defaults with nothing set', () => {
    const c = loadConfig({ DATABASE_URL: '', PARTNER_API: '' });
    expect(c).toMatchObject({
      port: 4200,
      partnerApi: undefined,
      databaseUrl: undefined,
      rateLimitPerMinute: 30,
      batchSize: 5,
      timezone: 'UTC',
      cron: { today: '*/15 * * * *', week: '0 */4 * * *', month: '0 0 * * *' },
      weekDays: 7,
      monthDays: 30,
      products: [],
      adminToken: undefined,
    });
  });

  it('reads products, seconds-field crons and a time zone', () => {
    const c = loadConfig({ PRODUCTS: '14:Mon,Tue,Wed; 15:Sun', SYNC_TODAY_CRON: '*/10 * * * * *', SYNC_TIMEZONE: 'Asia/Singapore' });
    expect(c.products).toEqual([
      { productId: 14, days: ['Mon', 'Tue', 'Wed'] },
      { productId: 15, days: ['Sun'] },
    ]);
    expect(c.cron.today).toBe('*/10 * * * * *');
  });

  it.each([
    ['PORT', 'http'],
    ['RATE_LIMIT_PER_MINUTE', '0'],
    ['BATCH_SIZE', '2.5'],
    ['PARTNER_API', 'not a url'],
    ['DATABASE_URL', 'mysql://x'],
    ['SYNC_TIMEZONE', 'Mars/Base'],
    ['SYNC_TODAY_CRON', '*/15 * *'],
    ['SYNC_WEEK_CRON', '0 */4 * * * * *'],
    ['SYNC_MONTH_DAYS', '-3'],
    ['PRODUCTS', '14:Monday'],
    ['PRODUCTS', '14:Mon;14:Tue'],
    ['LOG_LEVEL', 'loud'],
    ['SYNC_QUEUE', 'kafka'],
    ['REDIS_URL', 'http://cache:6379'],
    ['SYNC_QUEUE_NAME', 'has:colon'],
    ['SYNC_QUEUE_LOCK_MS', '10'],
    ['RATE_LIMIT_WINDOW_MS', '500'],
    ['PARTNER_TIMEOUT_MS', 'soon'],
  ])('stops on a bad %s (%s) with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}: `));
  });

  it('runs in one process by default, and on BullMQ when asked, over Redis or the database', () => {
    expect(loadConfig({}).queue).toEqual({ kind: 'memory' });
    expect(loadConfig({ SYNC_QUEUE: 'bullmq', REDIS_URL: 'redis://cache:6379' }).queue).toEqual({ kind: 'bullmq', redisUrl: 'redis://cache:6379', name: 'inventory', lockMs: 30_000 });
    expect(loadConfig({ SYNC_QUEUE: 'BullMQ', DATABASE_URL: 'postgres://db/inv', SYNC_QUEUE_LOCK_MS: '5000' }).queue).toEqual({ kind: 'bullmq', redisUrl: undefined, name: 'inventory', lockMs: 5_000 });
    expect(loadConfig({ RATE_LIMIT_WINDOW_MS: '1000' }).rateWindowMs).toBe(1_000);
  });

  it('takes SYNC_MONTH_DAYS=62, which covers the whole two-month window of /dates from any day', () => {
    const offsets = cadenceOffsets('month', loadConfig({ SYNC_MONTH_DAYS: '62' }));
    expect(offsets.at(-1)).toBe(62);
    // Two months are at most 62 days (July and August, December and January).
    for (let today = '2027-01-01'; today < '2029-01-01'; today = addDays(today, 1)) {
      expect(addDays(today, offsets.at(-1)!) >= addMonths(today, 2)).toBe(true);
    }
  });

  it.each([
    ['PARTNER_API', 'ftp://partner/api/v1/inventory'],
    ['PARTNER_API', 'javascript:alert(1)'],
    ['PARTNER_API', 'https://user:secret@partner/api/v1/inventory'],
    ['DATABASE_URL', 'postgres://u:pw@db:notaport/inv'],
    ['RATE_LIMIT_PER_MINUTE', '99999999999999999999999'],
    ['SYNC_MONTH_DAYS', '100000'],
    ['PORT', '70000'],
  ])('stops on an out-of-range or unusable %s (%s), naming it, not later in a library', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}: `));
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      expect((err as Error).message).not.toMatch(/secret|:pw@/);
    }
  });

  it('takes a PostgreSQL URL naming a unix socket directory, as node-postgres does', () => {
    for (const url of ['postgres://app:pw@/inv?host=/var/run/postgresql', 'postgres:///inv?host=/var/run/postgresql']) expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
  });

  it('lists every bad variable and every bad product at once', () => {
    let message = '';
    try {
      loadConfig({ SYNC_QUEUE: 'bullmq', PORT: 'abc', PRODUCTS: '14:Mon;abc;15:Foo;14:Tue' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/PORT: /);
    expect(message).toMatch(/SYNC_QUEUE: bullmq needs REDIS_URL or DATABASE_URL/);
    expect(message).toMatch(/"abc" is not/);
    expect(message).toMatch(/unknown weekday "Foo"/);
    expect(message).toMatch(/product 14 is listed twice/);
  });

  it('refuses BullMQ on embedded PGlite: instances need a server they all reach', () => {
    expect(() => loadConfig({ SYNC_QUEUE: 'bullmq' })).toThrow(/SYNC_QUEUE: bullmq needs REDIS_URL or DATABASE_URL/);
  });

  it('never puts a database password in the message', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://u:hunter22@h/db', PORT: 'x' })).toThrow(/PORT/);
    try {
      loadConfig({ DATABASE_URL: 'mysql://u:hunter22@h/db' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter22');
    }
  });
});
