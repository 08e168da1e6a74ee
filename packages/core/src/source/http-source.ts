import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { z } from 'zod';
import type { FetchContext, Source } from '../contracts/source.js';
import type { QueuedTask } from '../contracts/task.js';
import { AbortedError, PermanentError, RateLimitedError, RetryableError, errorMessage } from '../errors.js';
import { fn, implementing, nonNegativeInt, parseOptions, positiveInt } from '../util/options.js';
import { epochMs, isoTime } from '../util/time.js';

/** What a 429 looked like, for a hook that finds the reset time in it. */
export interface RateLimitResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
}

const optionsSchema = z.object({
  /** Origin and base path, e.g. `https://partner.example/api/v1/inventory`. */
  baseUrl: z.url(),
  /** Path and query of a task below `baseUrl`, e.g. `/14?date=2026-11-26`. */
  path: fn<(task: QueuedTask<never>) => string>('a path(task) function'),
  /** Sent with every request. Their values are treated as secrets: never in errors or logs. */
  headers: z.record(z.string(), z.string()).default({}),
  /** More values to scrub from every error message (tokens sent some other way). */
  secrets: z.array(z.string()).default([]),
  /** Whole-request timeout: connect, headers and body. */
  timeoutMs: positiveInt.default(10_000),
  /**
   * Longest body read, in bytes (default 32 MiB). A bigger one — a partner gone wrong, an endless
   * stream — is cut off and the fetch fails as retryable, rather than held in memory whole.
   */
  maxBodyBytes: positiveInt.default(32 * 1024 * 1024),
  /** Keep-alive pool size towards the origin. */
  connections: positiveInt.default(8),
  keepAliveTimeoutMs: positiveInt.default(30_000),
  /** Finds the reset time (epoch ms or a `Date`) in a 429; `Retry-After` is used when it returns undefined. */
  rateLimitReset: fn<(response: RateLimitResponse) => number | Date | undefined>().optional(),
  /** Freeze used when a 429 says nothing about when to come back. */
  defaultPenaltyMs: nonNegativeInt.default(60_000),
  /** A dispatcher to use instead of the built-in pool (tests, proxies). Not closed by `close()`. */
  dispatcher: implementing<Dispatcher>('an undici Dispatcher', ['request']).optional(),
  now: fn<() => number>().optional(),
});

export type HttpSourceOptions<P> = Omit<z.input<typeof optionsSchema>, 'path'> & {
  path: (task: QueuedTask<P>) => string;
};

export interface HttpSourceStats {
  requests: number;
  malformedBodies: number;
  rateLimited: number;
  failures: number;
}

export interface HttpSource<P> extends Source<P, unknown> {
  stats(): HttpSourceStats;
  close(): Promise<void>;
}

const SNIPPET = 160;

class BodyTooLarge extends Error {}

/** The body as UTF-8 text, or `BodyTooLarge` (the rest unread, the request aborted) past `max` bytes. */
async function readText(response: Dispatcher.ResponseData, max: number): Promise<string> {
  const giveUp = (): never => {
    // Aborting the request makes the body emit an abort error, which is expected here.
    response.body.on('error', () => {});
    response.body.destroy();
    throw new BodyTooLarge();
  };
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) giveUp();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > max) giveUp();
    chunks.push(chunk as Buffer);
  }
  // TextDecoder, not Buffer#toString: it drops a leading byte-order mark, as undici's text() did
  // (some servers send one before JSON, which JSON.parse refuses).
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * A Source over HTTP on undici: keep-alive pool, whole-request timeout, JSON bodies, and errors
 * classified for the engine — timeouts, network failures, 5xx and malformed bodies are retryable;
 * 429 is rate-limited with its reset time; other 4xx are permanent. Header values never appear
 * in an error.
 */
export function createHttpSource<P = unknown>(options: HttpSourceOptions<P>): HttpSource<P> {
  const o = parseOptions('http source options', optionsSchema, options);
  const base = new URL(o.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const now = o.now ?? Date.now;
  const ownPool = o.dispatcher ? undefined : new Pool(base.origin, { connections: o.connections, keepAliveTimeout: o.keepAliveTimeoutMs });
  const dispatcher: Dispatcher = o.dispatcher ?? ownPool!;
  const stats: HttpSourceStats = { requests: 0, malformedBodies: 0, rateLimited: 0, failures: 0 };

  // An authorization header's credential without its scheme ("Bearer sk_…" → "sk_…") too: a
  // server that echoes the token does not echo the scheme. Longest first, so a secret containing
  // a shorter one is redacted whole, not around the shorter one.
  const headerValues = Object.entries(o.headers).flatMap(([name, v]) => {
    const credential = /^(proxy-)?authorization$/i.test(name) ? /^\S+\s+(\S.*)$/.exec(v.trim())?.[1] : undefined;
    return credential ? [v, credential] : [v];
  });
  const secrets = [...new Set([...headerValues, ...o.secrets])].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  const redact = (text: string) => secrets.reduce((t, secret) => t.split(secret).join('[redacted]'), text);
  /**
   * The start of a response body for a message: the whole body redacted, then cut. Cut first, a
   * secret straddling the cut would keep its first half; and since redacting shortens the text,
   * only redacting all of it keeps a later occurrence from moving into the part shown.
   */
  const snippet = (text: string) => redact(text).slice(0, SNIPPET);

  const retryAfter = (headers: Record<string, string | string[] | undefined>): number | undefined => {
    const raw = headers['retry-after'];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (!value) return undefined;
    if (/^\d+(\.\d+)?$/.test(value.trim())) return now() + Number(value) * 1000;
    const date = Date.parse(value);
    return Number.isNaN(date) ? undefined : date;
  };

  // The hook reads an untrusted body: a reset that is neither a finite number nor a valid Date (a
  // string, NaN, a hook that throws on an unexpected shape) counts as no reset, so the budget still
  // freezes on Retry-After or the default penalty instead of the task failing without any freeze.
  const resetFromHook = (response: RateLimitResponse): number | undefined => {
    if (!o.rateLimitReset) return undefined;
    try {
      const until: unknown = epochMs<unknown>(o.rateLimitReset(response));
      return typeof until === 'number' && Number.isFinite(until) ? until : undefined;
    } catch {
      return undefined;
    }
  };

  const fetchTask = async (task: QueuedTask<P>, context: FetchContext): Promise<unknown> => {
    const path = `${basePath}${(o.path as (t: QueuedTask<P>) => string)(task)}`;
    const what = `GET ${redact(path)}`;
    const timeout = AbortSignal.timeout(o.timeoutMs);
    const signal = AbortSignal.any([context.signal, timeout]);
    stats.requests++;
    let response: Dispatcher.ResponseData;
    let text: string;
    try {
      response = await dispatcher.request({
        origin: base.origin,
        path,
        method: 'GET',
        headers: { accept: 'application/json', ...o.headers },
        signal,
      });
      text = await readText(response, o.maxBodyBytes);
    } catch (err) {
      if (context.signal.aborted) throw new AbortedError(`${what} aborted`);
      if (err instanceof BodyTooLarge) {
        stats.failures++;
        throw new RetryableError(`${what} answered a body of more than ${o.maxBodyBytes} bytes (maxBodyBytes); not read`);
      }
      stats.failures++;
      if (timeout.aborted || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
        throw new RetryableError(`${what} timed out after ${o.timeoutMs} ms`);
      }
      throw new RetryableError(`${what} failed: ${redact(errorMessage(err))}`);
    }

    const { statusCode: status } = response;
    const headers = response.headers as Record<string, string | string[] | undefined>;
    if (status === 429) {
      stats.rateLimited++;
      const body = parseJson(text);
      const until = resetFromHook({ status, headers, body: body.ok ? body.value : text }) ?? retryAfter(headers) ?? now() + o.defaultPenaltyMs;
      throw new RateLimitedError(`${what} was rate limited until ${isoTime(until)}`, until);
    }
    if (status < 200 || status >= 300) {
      stats.failures++;
      const message = `${what} answered ${status}: ${snippet(text)}`;
      if (status >= 500 || status === 408) throw new RetryableError(message, { status });
      throw new PermanentError(message, { status });
    }
    const body = parseJson(text);
    if (!body.ok) {
      stats.malformedBodies++;
      throw new RetryableError(`${what} returned a body that is not JSON: ${snippet(text)}`, { status });
    }
    return body.value;
  };

  return {
    fetch: fetchTask,
    stats: () => ({ ...stats }),
    async close() {
      await ownPool?.close();
    },
  };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
