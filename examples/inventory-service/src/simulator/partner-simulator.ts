/**
 * A partner inventory API in-process: `GET {url}/{productId}?date=YYYY-MM-DD` with header
 * `x-api-key`, answering per partner-api.md. It enforces the partner's limit (N requests in any
 * sliding window, rejected requests included) with HTTP 429 and `rateLimitState.reset`, records
 * every arrival (so tests count what the partner saw, not what the client thinks it sent), and
 * injects faults on demand: 5xx, HTML bodies, truncated JSON, schema-invalid slots, connection
 * resets, hangs and early 429s.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIsoDate } from '../calendar.js';
import type { PartnerSlot } from '../partner-payload.js';
import { DEFAULT_CATALOG, generateSlots, type SimProduct } from './catalog.js';

export const SIMULATOR_BASE_PATH = '/api/v1/inventory';

export type FaultKind = 'status500' | 'status503' | 'html' | 'truncated' | 'invalid-slot' | 'reset' | 'hang' | 'rate-limit';

export interface Fault {
  kind: FaultKind;
  /** Only requests for this product / date; any when left out. */
  productId?: number;
  date?: string;
  /** How many matching requests get it. Default 1. */
  times?: number;
  /** `rate-limit`: reset this far ahead. `hang`: how long before answering. */
  ms?: number;
}

export interface Arrival {
  at: number;
  productId: number | undefined;
  date: string | undefined;
  status: number | 'reset';
  fault: FaultKind | undefined;
}

export interface PartnerSimulatorOptions {
  /** Default 0: any free port. */
  port?: number;
  host?: string;
  /** Required `x-api-key`; any key (but not none) is accepted when undefined. */
  token?: string;
  /** Requests per window; default 30 per 60 s, as the partner. */
  limit?: number;
  windowMs?: number;
  products?: SimProduct[];
  now?: () => number;
  /** Keep every arrival (tests). Default true; the built-in simulator keeps only the current window. */
  keepArrivals?: boolean;
}

export interface PartnerSimulator {
  /** Base URL up to `/api/v1/inventory`, once started. */
  readonly url: string;
  readonly token: string | undefined;
  readonly limit: number;
  readonly windowMs: number;
  start(): Promise<string>;
  close(): Promise<void>;
  readonly arrivals: Arrival[];
  /** The partner's current answer for one product and date. */
  truth(productId: number, date: string): PartnerSlot[];
  /** Change the truth: the function gets a copy and returns the new slots. */
  update(productId: number, date: string, change: (slots: PartnerSlot[]) => PartnerSlot[]): void;
  inject(fault: Fault): void;
  clearFaults(): void;
  products(): SimProduct[];
}

export function createPartnerSimulator(options: PartnerSimulatorOptions = {}): PartnerSimulator {
  const limit = options.limit ?? 30;
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  const catalog = new Map((options.products ?? DEFAULT_CATALOG).map((p) => [p.productId, p]));
  const truths = new Map<string, PartnerSlot[]>();
  const arrivals: Arrival[] = [];
  let faults: (Fault & { left: number })[] = [];
  const hanging = new Set<ServerResponse>();
  let url = '';

  const truth = (productId: number, date: string): PartnerSlot[] => {
    const key = `${productId}:${date}`;
    let slots = truths.get(key);
    if (!slots) {
      const product = catalog.get(productId);
      slots = product ? generateSlots(product, date) : [];
      truths.set(key, slots);
    }
    return structuredClone(slots);
  };

  const takeFault = (productId: number | undefined, date: string | undefined): Fault | undefined => {
    const fault = faults.find((f) => (f.productId === undefined || f.productId === productId) && (f.date === undefined || f.date === date));
    if (!fault) return undefined;
    if (--fault.left <= 0) faults = faults.filter((f) => f !== fault);
    return fault;
  };

  /** When the window will have room again: the oldest of the last `limit` arrivals leaves it. */
  const resetAt = (at: number): number => {
    const recent = arrivals.filter((a) => a.at > at - windowMs);
    const oldest = recent[Math.max(0, recent.length - limit)];
    return (oldest?.at ?? at) + windowMs;
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const at = now();
    const parsed = new URL(req.url ?? '/', 'http://simulator');
    const match = new RegExp(`^${SIMULATOR_BASE_PATH}/(\\d+)$`).exec(parsed.pathname);
    const productId = match ? Number(match[1]) : undefined;
    const date = parsed.searchParams.get('date') ?? undefined;
    const arrival: Arrival = { at, productId, date, status: 200, fault: undefined };
    if (options.keepArrivals === false) {
      const firstKept = arrivals.findIndex((a) => a.at > at - windowMs);
      arrivals.splice(0, firstKept === -1 ? arrivals.length : firstKept);
    }
    arrivals.push(arrival);
    const answer = (status: number, body: unknown) => {
      arrival.status = status;
      json(res, status, body);
    };

    const inWindow = arrivals.filter((a) => a.at > at - windowMs).length;
    if (inWindow > limit) {
      const reset = resetAt(at);
      return answer(429, {
        message: 'Too many requests',
        rateLimitState: { limit, remaining: 0, reset, windowMs },
      });
    }
    const key = req.headers['x-api-key'];
    if (typeof key !== 'string' || key.length === 0 || (options.token !== undefined && key !== options.token)) {
      return answer(401, { message: 'invalid or missing x-api-key' });
    }
    if (req.method !== 'GET' || productId === undefined) return answer(404, { message: 'not found' });
    if (!date || !isIsoDate(date)) return answer(400, { message: 'date must be YYYY-MM-DD' });
    if (!catalog.has(productId)) return answer(404, { message: `product ${productId} not found` });

    const fault = takeFault(productId, date);
    arrival.fault = fault?.kind;
    switch (fault?.kind) {
      case 'status500':
        return answer(500, { message: 'internal error' });
      case 'status503':
        arrival.status = 503;
        res.writeHead(503, { 'content-type': 'text/html' });
        return res.end('<html><body><h1>503 Service Unavailable</h1></body></html>');
      case 'html':
        // A proxy's error page with a success status: only the body gives it away.
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end('<!doctype html><html><body>Maintenance</body></html>');
      case 'truncated': {
        const text = JSON.stringify(truth(productId, date));
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(text.slice(0, Math.max(1, Math.floor(text.length / 2))));
      }
      case 'invalid-slot': {
        const slots = truth(productId, date) as unknown as Record<string, unknown>[];
        const broken = [...slots, { startDate: date, startTime: '25:99', remaining: 'many', paxAvailability: null }];
        return answer(200, broken);
      }
      case 'reset':
        arrival.status = 'reset';
        return req.socket.destroy();
      case 'hang': {
        hanging.add(res);
        const timer = setTimeout(() => {
          hanging.delete(res);
          if (!res.writableEnded) answer(200, truth(productId, date));
        }, fault.ms ?? 60_000);
        res.on('close', () => {
          clearTimeout(timer);
          hanging.delete(res);
        });
        return;
      }
      case 'rate-limit':
        return answer(429, { message: 'Too many requests', rateLimitState: { limit, remaining: 0, reset: at + (fault.ms ?? windowMs) } });
      default:
        return answer(200, truth(productId, date));
    }
  };

  const server: Server = createServer(handle);

  return {
    get url() {
      return url;
    },
    token: options.token,
    limit,
    windowMs,
    arrivals,
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
      });
      const { address, port } = server.address() as AddressInfo;
      url = `http://${address}:${port}${SIMULATOR_BASE_PATH}`;
      return url;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    truth,
    update(productId, date, change) {
      truths.set(`${productId}:${date}`, change(truth(productId, date)));
    },
    inject(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    products: () => [...catalog.values()],
  };
}
