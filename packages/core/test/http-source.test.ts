import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedError,
  PermanentError,
  RateLimitedError,
  RetryableError,
  SyncConfigError,
  createHttpSource,
  type QueuedTask,
} from '../src/index.js';

const TOKEN = 'sk_live_0123456789abcdef';
let server: Server;
let base: string;
const seen: { path: string; key: string | undefined }[] = [];

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  '/ok': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([{ startTime: '09:00' }])),
  '/empty': (_req, res) => res.writeHead(200).end('[]'),
  '/bom': (_req, res) => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(Buffer.from('\uFEFF[{"startTime":"09:00"}]', 'utf8')),
  '/html': (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Bad gateway</html>'),
  '/truncated': (_req, res) => res.writeHead(200).end('[{"startTime": "09:'),
  '/503': (_req, res) => res.writeHead(503).end('upstream down'),
  '/404': (_req, res) => res.writeHead(404).end(`no such product (your key ${TOKEN})`),
  // The key straddles the 160 characters a message quotes of a body.
  '/404-long': (_req, res) => res.writeHead(404).end(`${'x'.repeat(150)} key ${TOKEN} ${'y'.repeat(500)}`),
  '/html-long': (_req, res) => res.writeHead(200).end(`<html>${'x'.repeat(148)} key ${TOKEN}</html>`),
  // Redacting the first key shortens the text: the second, cut off at first, must not move into view.
  '/404-twice': (_req, res) => res.writeHead(404).end(`key ${TOKEN} ${'x'.repeat(150 - TOKEN.length)} again ${TOKEN}`),
  '/429-body': (_req, res) =>
    res.writeHead(429, { 'content-type': 'application/json' }).end(JSON.stringify({ rateLimitState: { reset: 1_900_000_000_000, limit: 30 } })),
  '/429-retry-after': (_req, res) => res.writeHead(429, { 'retry-after': '7' }).end('slow down'),
  '/429-retry-after-forever': (_req, res) => res.writeHead(429, { 'retry-after': '99999999999999999' }).end('slow down'),
  '/429-bad-reset': (_req, res) =>
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' }).end(JSON.stringify({ rateLimitState: { reset: 'soon' } })),
  '/429-bad-reset-only': (_req, res) => res.writeHead(429, { 'content-type': 'application/json' }).end(JSON.stringify({ rateLimitState: 'n/a' })),
  '/slow': (_req, res) => void setTimeout(() => res.writeHead(200).end('[]'), 2_000),
  '/big-declared': (_req, res) => res.writeHead(200, { 'content-length': String(3_000) }).end(`[${'1,'.repeat(1_499)}1`.slice(0, 3_000)),
  // No length given, and it never ends: 1 kB every few ms.
  '/endless': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('[');
    const timer = setInterval(() => res.write(`${'0,'.repeat(512)}`), 2);
    res.on('close', () => clearInterval(timer));
  },
  '/reset': (req) => req.socket.destroy(),
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const name = url.pathname.replace('/api/v1/inventory', '');
    seen.push({ path: url.pathname + url.search, key: req.headers['x-api-key'] as string | undefined });
    (routes[name] ?? ((_q, r: ServerResponse) => r.writeHead(500).end()))(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/inventory`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const task = (route: string): QueuedTask<{ route: string }> => ({
  key: route,
  scope: route,
  job: 'j',
  payload: { route },
  priority: 0,
  deadline: 0,
  attempt: 1,
  notBefore: 0,
  enqueuedAt: 0,
});

const source = (extra: Partial<Parameters<typeof createHttpSource<{ route: string }>>[0]> = {}) =>
  createHttpSource<{ route: string }>({
    baseUrl: base,
    path: (t) => `${t.payload.route}?date=2026-11-28`,
    headers: { 'x-api-key': TOKEN },
    timeoutMs: 500,
    rateLimitReset: ({ body }) => (body as { rateLimitState?: { reset?: number } })?.rateLimitState?.reset,
    ...extra,
  });

const fetchOf = async (route: string, s = source(), signal = new AbortController().signal) => {
  try {
    return await s.fetch(task(route), { signal, attempt: 1 });
  } finally {
    await s.close();
  }
};

const failure = async (route: string, s = source()) => {
  try {
    await fetchOf(route, s);
  } catch (err) {
    expect(String((err as Error).message)).not.toContain(TOKEN);
    return err as Error;
  }
  throw new Error('expected the fetch to fail');
};

describe('createHttpSource', () => {
  it('fetches JSON with the headers, below the base path', async () => {
    expect(await fetchOf('/ok')).toEqual([{ startTime: '09:00' }]);
    expect(await fetchOf('/empty')).toEqual([]);
    // A byte-order mark before the JSON (some servers send one) is not part of it.
    expect(await fetchOf('/bom')).toEqual([{ startTime: '09:00' }]);
    expect(seen.find((s) => s.path === '/api/v1/inventory/ok?date=2026-11-28')?.key).toBe(TOKEN);
  });

  it('classifies 5xx, HTML and truncated bodies as retryable, counting malformed ones', async () => {
    const s = source();
    const e503 = await failure('/503', s);
    expect(e503).toBeInstanceOf(RetryableError);
    expect((e503 as RetryableError).status).toBe(503);
    const s2 = source();
    await expect(s2.fetch(task('/html'), { signal: new AbortController().signal, attempt: 1 })).rejects.toBeInstanceOf(RetryableError);
    await expect(s2.fetch(task('/truncated'), { signal: new AbortController().signal, attempt: 1 })).rejects.toThrow(/not JSON/);
    expect(s2.stats()).toMatchObject({ requests: 2, malformedBodies: 2 });
    await s2.close();
  });

  it('classifies other 4xx as permanent, with the secret scrubbed from the message', async () => {
    const err = await failure('/404');
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toContain('[redacted]');
    expect(err.message).toContain('answered 404');
  });

  it('scrubs a bearer token echoed without its scheme, and a secret containing a header value whole', async () => {
    const bearer = await failure('/404', source({ headers: { authorization: `Bearer ${TOKEN}` } }));
    expect(bearer.message).toContain('[redacted]');
    // 'sk_live' is a header value and part of the longer secret: the secret goes whole.
    const nested = await failure('/404', source({ headers: { 'x-tenant': 'sk_live' }, secrets: [TOKEN] }));
    expect(nested.message).toMatch(/your key \[redacted\]\)/);
  });

  it('scrubs a secret that straddles the part of a body a message quotes', async () => {
    for (const path of ['/404-long', '/html-long']) {
      const err = await failure(path);
      expect(err.message).toMatch(/ key \[r?e?d?a?$/); // the cut falls inside "[redacted]"
      expect(err.message).not.toContain(TOKEN.slice(0, 3));
    }
    const twice = await failure('/404-twice');
    expect(twice.message).toContain(' again [');
    expect(twice.message).not.toContain(TOKEN.slice(0, 3));
  });

  it('reads the reset time of a 429 from the body hook, or Retry-After', async () => {
    const fromBody = await failure('/429-body');
    expect(fromBody).toBeInstanceOf(RateLimitedError);
    expect((fromBody as RateLimitedError).until).toBe(1_900_000_000_000);
    const before = Date.now();
    const fromHeader = await failure('/429-retry-after');
    expect((fromHeader as RateLimitedError).until).toBeGreaterThanOrEqual(before + 7_000);
    expect((fromHeader as RateLimitedError).until).toBeLessThan(before + 9_000);
  });

  it('a 429 whose reset no date can show is still a RateLimitedError (the engine caps its freeze)', async () => {
    const forever = await failure('/429-retry-after-forever');
    expect(forever).toBeInstanceOf(RateLimitedError);
    expect((forever as RateLimitedError).until).toBeGreaterThan(8.64e15);
    expect(forever.message).toMatch(/rate limited until \d+(\.\d+)?(e\+\d+)? ms since the epoch/);
  });

  it('a 429 whose reset is not a number still freezes the budget: Retry-After, else the default penalty', async () => {
    const before = Date.now();
    const badReset = await failure('/429-bad-reset');
    expect(badReset).toBeInstanceOf(RateLimitedError);
    expect((badReset as RateLimitedError).until).toBeGreaterThanOrEqual(before + 7_000);
    expect((badReset as RateLimitedError).until).toBeLessThan(before + 9_000);
    // A hook that trips over the body's shape counts as no reset, like one returning garbage.
    const throwing = source({
      defaultPenaltyMs: 60_000,
      rateLimitReset: ({ body }) => (body as { rateLimitState: { reset: { at: number } } }).rateLimitState.reset.at,
    });
    const noReset = await failure('/429-bad-reset-only', throwing);
    expect(noReset).toBeInstanceOf(RateLimitedError);
    expect((noReset as RateLimitedError).until).toBeGreaterThanOrEqual(before + 60_000);
    expect((noReset as RateLimitedError).until).toBeLessThan(Date.now() + 61_000);
  });

  it('a reset hook may answer with a Date; an invalid one counts as no reset', async () => {
    const reset = Date.now() + 42_000;
    const dated = await failure('/429-bad-reset-only', source({ defaultPenaltyMs: 60_000, rateLimitReset: () => new Date(reset) }));
    expect(dated).toBeInstanceOf(RateLimitedError);
    expect((dated as RateLimitedError).until).toBe(reset);
    const before = Date.now();
    const invalid = await failure('/429-bad-reset-only', source({ defaultPenaltyMs: 60_000, rateLimitReset: () => new Date(Number.NaN) }));
    expect((invalid as RateLimitedError).until).toBeGreaterThanOrEqual(before + 60_000);
    expect((invalid as RateLimitedError).until).toBeLessThan(Date.now() + 61_000);
  });

  it('times out slow requests as retryable, and resets as retryable', async () => {
    const slow = await failure('/slow');
    expect(slow).toBeInstanceOf(RetryableError);
    expect(slow.message).toMatch(/timed out after 500 ms/);
    expect(await failure('/reset')).toBeInstanceOf(RetryableError);
  });

  it('cuts off a body larger than maxBodyBytes, declared or streamed without end, as retryable', async () => {
    for (const route of ['/big-declared', '/endless']) {
      const err = await failure(route, source({ maxBodyBytes: 2_048, timeoutMs: 5_000 }));
      expect(err).toBeInstanceOf(RetryableError);
      expect(err.message).toMatch(/more than 2048 bytes/);
    }
    // A body within the limit is read whole, in however many chunks it comes.
    expect(await fetchOf('/ok', source({ maxBodyBytes: 64 }))).toEqual([{ startTime: '09:00' }]);
  });

  it('stops at once when its signal aborts', async () => {
    const controller = new AbortController();
    const s = source({ timeoutMs: 10_000 });
    const started = Date.now();
    const pending = s.fetch(task('/slow'), { signal: controller.signal, attempt: 1 });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - started).toBeLessThan(1_500);
    await s.close();
  });

  it('rejects bad options naming each field', () => {
    try {
      createHttpSource({ baseUrl: 'not a url', path: 'x' as never, timeoutMs: -1 });
      throw new Error('expected a SyncConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(SyncConfigError);
      expect((err as SyncConfigError).issues.map((i) => i.path).sort()).toEqual(['baseUrl', 'path', 'timeoutMs']);
    }
  });
});
