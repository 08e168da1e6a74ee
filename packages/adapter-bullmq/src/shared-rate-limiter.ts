/**
 * Shared rate limiter — one exact sliding-window budget for every instance that uses the same
 * backend (Redis or PostgreSQL) and the same `name`.
 *
 * Guarantees:
 * - **Exact sliding window across all instances**: the costs granted in any interval of
 *   `windowMs` never add up to more than `limit`, counted over every process sharing the backend
 *   and name. The check-and-grant is one atomic step on the backend: on Redis one Lua script over
 *   a sorted set of grants (score = grant time, one member per unit of cost, expired members
 *   trimmed in the same script); on PostgreSQL one transaction that holds a
 *   `pg_advisory_xact_lock` derived from the schema and name while it trims, sums and inserts.
 * - **Backend time**: grant times and the "now" a penalty is compared with are read from the
 *   backend's clock (Redis `TIME`, PostgreSQL `clock_timestamp()`), never the host's, so clock
 *   skew between hosts cannot stretch or shrink the window. A grant stays in the window for
 *   `windowMs + safetyMarginMs` of backend time.
 * - **FIFO within an instance**: local callers queue in call order and only the head asks the
 *   backend, so a large cost at the head is not overtaken by smaller ones behind it. Across
 *   instances grants are first come, first served at the backend: a head that fits is granted
 *   whichever instance it comes from, so a large cost on one instance can be delayed by a stream
 *   of small ones on others (there is no cross-instance queue).
 * - **Abortable**: an aborted `acquire` rejects with `AbortedError` at once and the next local
 *   waiter moves up. If the backend granted it while the abort raced the request, the grant is
 *   handed back (best effort: if that fails the budget is under-used, never over-used).
 * - **Penalty**: `penalize(until)` stores the freeze on the backend (extending, never
 *   shortening it), so no instance grants before `until`; `until` is epoch ms as the caller sees
 *   it (a remote 429's reset time, on this host's clock): it is moved onto the backend's clock by
 *   the difference measured from the backend's answers (one under 100 ms counts as none), so a
 *   host whose clock is off neither shortens nor stretches the freeze. If the write fails it is retried with this instance's next
 *   grant request, and the returned promise rejects.
 * - **Backend errors never lose a request or over-grant**: the head's request is retried with
 *   backoff (up to `maxPollMs` apart) and every waiter stays queued until it is granted, aborted
 *   or the limiter is closed. A grant whose answer was lost (connection dropped after the script
 *   or transaction ran) stays counted though nobody got it: the budget is under-used, not over.
 * - `close()` rejects pending waiters with `AbortedError` and clears every timer; it does not
 *   close the backend (its owner does).
 *
 * Storage: Redis keys `<prefix>:limiter:{<name>}:grants` (sorted set) and `…:penalty` (string,
 * expiring when the penalty ends); PostgreSQL tables `<schema>.tidesync_limiter_grants`,
 * `<schema>.tidesync_limiter_penalty` and the function `<schema>.tidesync_limiter_acquire_v1`,
 * created on first use.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AbortedError, FifoWaiters, SyncError, errorMessage, invalidCost, parseOptions, type RateLimiter, type RateLimiterUsage, type Waiter } from '@tidesync/core';
import type { Backend } from './connection.js';

const positiveInt = z.number().int().positive();

const optionsSchema = z.object({
  /**
   * Names the budget: every limiter on the same backend (and namespace) with the same name shares
   * one budget. Characters are restricted so the name is safe inside a Redis key and SQL text.
   */
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'must be 1 to 100 characters from A-Z a-z 0-9 _ . : -'),
  /** Most cost granted in any window, across all instances. */
  limit: positiveInt,
  /** Window length in ms (60_000 for "per minute"). */
  windowMs: positiveInt,
  /**
   * Extra ms each grant stays in the window, as in the in-process limiter: the remote counts
   * arrivals, which land a little after the grant and unevenly.
   */
  safetyMarginMs: z.number().int().nonnegative().default(250),
  /**
   * Longest a waiting head sleeps before asking the backend again (also the cap of the backoff
   * after a backend error). The wake-up time the backend computes is exact for what it saw, but
   * other instances change the budget meanwhile: one hands a grant back, an operator clears a
   * penalty, a long freeze is measured by a host timer. Polling notices them within this.
   */
  maxPollMs: positiveInt.default(1000),
});

export type SharedRateLimiterOptions = z.input<typeof optionsSchema>;

/** The backend's answer to "may the head have `cost` now?". Times are backend epoch ms. */
type Decision =
  | { granted: true; now: number; grant: GrantRef }
  | { granted: false; now: number; retryAt: number };

/** Enough to hand a grant back: Redis members, or the PostgreSQL row's time and cost. */
type GrantRef = { members: string[] } | { at: number; cost: number };

/** The part that differs between Redis and PostgreSQL; all of it is atomic on the backend. */
interface BudgetStore {
  /** Check-and-grant; `carryPenalty` (0 = none) is merged into the stored penalty first. */
  acquire(cost: number, carryPenalty: number): Promise<Decision>;
  refund(grant: GrantRef): Promise<void>;
  penalize(untilMs: number): Promise<void>;
  usage(): Promise<{ now: number; used: number; frozenUntil: number }>;
}


/** A difference between this host's clock and the backend's smaller than this is taken as none. */
const SKEW_TOLERANCE_MS = 100;

/** First retry after a backend error; doubles up to `maxPollMs`. */
const FIRST_ERROR_DELAY_MS = 50;

export function createSharedRateLimiter(backend: Backend, options: SharedRateLimiterOptions): RateLimiter {
  const o = parseOptions('shared rate limiter options', optionsSchema, options);
  const span = o.windowMs + o.safetyMarginMs;
  const store = backend.kind === 'redis' ? redisStore(backend, o.name, o.limit, span, o.windowMs) : postgresStore(backend, o.name, o.limit, span, o.windowMs);

  // Only the head's departure changes what to ask for; if its request is in flight, the answer's
  // handler moves on.
  const waiters = new FifoWaiters((w) => {
    if (w === asking && !busy) pump();
  });
  /** The waiter whose request is in flight or who sleeps until the next poll. */
  let asking: Waiter | undefined;
  let busy = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let errorDelay = 0;
  /** A penalty not yet known to be stored (its write failed or is in flight), host time; 0 = none. */
  let pendingPenalty = 0;
  /**
   * The backend's clock minus this host's, from the latest answer (the backend's `now` against the
   * host's clock when the request was sent). A penalty's end comes in host time (the engine's
   * `now + Retry-After`) and the backend compares it with its own: without this, a host running
   * behind the backend would shorten the freeze by as much, or cancel it.
   */
  let skew: number | undefined;
  const observe = (backendNow: number, sentAt: number) => {
    // The backend read its clock somewhere between sending and answering. Taken at the sending, the
    // difference errs only towards a later end (by up to the round trip, or a wait for a pooled
    // connection), never an earlier one.
    const measured = backendNow - sentAt;
    // Clocks kept by NTP agree within this, and a measurement is only as good as half its round
    // trip: below it the difference is noise, and taking it would make every instance (and every
    // read) name a penalty's end a few ms apart.
    skew = Math.abs(measured) < SKEW_TOLERANCE_MS ? 0 : measured;
  };
  const toBackend = (hostMs: number) => hostMs + (skew ?? 0);
  /** Backend operations started here, so `close()` can let them settle before the owner closes the backend. */
  const inFlight = new Set<Promise<unknown>>();

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    const forget = () => inFlight.delete(p);
    p.then(forget, forget);
    return p;
  };

  const cancelTimer = () => {
    clearTimeout(timer);
    timer = undefined;
  };

  const sleepThenPump = (ms: number) => {
    cancelTimer();
    if (closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      pump();
    }, ms);
  };

  /** Ask the backend for the head; at most one request in flight, so local order is kept. */
  const pump = (): void => {
    if (busy || closed) return;
    cancelTimer();
    const w = waiters.first();
    asking = w;
    if (!w) return;
    busy = true;
    const carried = pendingPenalty;
    const sentAt = Date.now();
    void track(store.acquire(w.cost, carried === 0 ? 0 : toBackend(carried))).then(
      (d) => {
        busy = false;
        errorDelay = 0;
        observe(d.now, sentAt);
        if (carried !== 0 && pendingPenalty === carried) pendingPenalty = 0;
        if (d.granted) {
          if (w.done) {
            // Aborted (or closed) while the backend said yes: hand the budget back.
            void track(store.refund(d.grant)).catch(() => {});
          } else {
            waiters.grant(w);
          }
          return pump();
        }
        // Aborted while asking: the next waiter asks now rather than after this one's sleep.
        if (w.done) return pump();
        // Both times are backend ms, so the host's clock never enters the wait.
        sleepThenPump(Math.min(Math.max(d.retryAt - d.now, 1), o.maxPollMs));
      },
      (err: unknown) => {
        busy = false;
        if (isFatal(err)) {
          waiters.rejectAll(new SyncError('CONFIG_INVALID', errorMessage(err), { cause: err }));
          return;
        }
        // A blip (connection reset, failover, lock timeout): keep everyone queued and ask again.
        errorDelay = Math.min(errorDelay === 0 ? FIRST_ERROR_DELAY_MS : errorDelay * 2, o.maxPollMs);
        sleepThenPump(errorDelay);
      },
    );
  };

  const usageRead = async () => {
    const sentAt = Date.now();
    const u = await track(store.usage());
    observe(u.now, sentAt);
    return u;
  };

  return {
    acquire(cost = 1, signal) {
      const invalid = invalidCost(cost, o.limit);
      if (invalid) return Promise.reject(invalid);
      if (closed) return Promise.reject(new AbortedError('The rate limiter was closed'));
      const granted = waiters.join(cost, signal);
      if (!asking || asking.done) pump();
      return granted;
    },

    async penalize(untilEpochMs) {
      if (!Number.isFinite(untilEpochMs)) {
        throw new SyncError('CONFIG_INVALID', `penalize needs a finite epoch ms, got ${untilEpochMs}`);
      }
      // Rounded up: a freeze may end a fraction of a ms late, never early.
      const until = Math.ceil(untilEpochMs);
      if (until > pendingPenalty) pendingPenalty = until;
      try {
        // The clocks' difference is learnt from any answer; before the first one, from a usage read.
        if (skew === undefined) await usageRead().catch(() => {});
        await track(store.penalize(toBackend(until)));
        if (pendingPenalty === until) pendingPenalty = 0;
      } finally {
        // Wake the sleeping head to re-evaluate against the new freeze (and, if the write
        // failed, to carry the penalty to the backend with its next request).
        if (!busy) pump();
      }
    },

    async usage(): Promise<RateLimiterUsage> {
      const u = await usageRead();
      const waiting = waiters.waiting;
      // Reported in host time, like the penalty it came from.
      const offset = skew ?? 0;
      const frozen = Math.max(u.frozenUntil - offset, pendingPenalty);
      return { limit: o.limit, windowMs: o.windowMs, used: u.used, waiting, frozenUntil: frozen > u.now - offset ? frozen : undefined };
    },

    async close() {
      closed = true;
      cancelTimer();
      waiters.rejectAll(new AbortedError('The rate limiter was closed'));
      // Let requests already sent settle (a grant landing now is handed back, which is one more
      // request), so the backend's owner can close it cleanly. Bounded: a dead backend may never
      // answer, and a timer of ours must not outlive close() for long.
      const deadline = Date.now() + Math.max(o.maxPollMs, 1000);
      while (inFlight.size > 0 && Date.now() < deadline) {
        let bound: NodeJS.Timeout | undefined;
        await Promise.race([Promise.allSettled([...inFlight]), new Promise<void>((r) => (bound = setTimeout(r, deadline - Date.now())))]);
        clearTimeout(bound);
      }
    },
  };
}

/** SQLSTATE our acquire function raises when the session cannot give the exact guarantee. */
const UNSAFE_ISOLATION = 'TSL01';

/** Errors that retrying cannot fix: reject the waiters instead of polling forever. */
const isFatal = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === UNSAFE_ISOLATION;

// ---------------------------------------------------------------------------------------------
// Redis

/**
 * KEYS[1] grants (sorted set: score = grant ms, one member per unit of cost, so ZCARD is the cost
 * in the span), KEYS[2] penalty end (ms). ARGV: cost, limit, span, member prefix, penalty to merge.
 * Returns {granted 0|1, now, retryAt}.
 */
const ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost, limit, span = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local frozen = tonumber(redis.call('GET', KEYS[2]) or '0')
local carry = tonumber(ARGV[5])
if carry > frozen and carry > now then
  redis.call('SET', KEYS[2], ARGV[5])
  redis.call('PEXPIREAT', KEYS[2], ARGV[5])
  frozen = carry
end
if frozen > now then return {0, now, frozen} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
local used = redis.call('ZCARD', KEYS[1])
local excess = used + cost - limit
if excess > 0 then
  -- The head fits once the excess-th oldest unit has left the span.
  local nth = redis.call('ZRANGE', KEYS[1], excess - 1, excess - 1, 'WITHSCORES')
  return {0, now, tonumber(nth[2]) + span}
end
for i = 1, cost do redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i) end
redis.call('PEXPIRE', KEYS[1], span + 1000)
return {1, now, now}
`;

/** KEYS[1] penalty; ARGV[1] until ms. Only extends; the key expires when the freeze ends. */
const PENALIZE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilMs > cur and untilMs > now then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return 0
`;

/** KEYS[1] grants, KEYS[2] penalty; ARGV[1] windowMs. Returns {used in (now - window, now], frozen, now}. */
const USAGE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local used = redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
return {used, tonumber(redis.call('GET', KEYS[2]) or '0'), now}
`;

interface LimiterCommands {
  tidesyncLimiterAcquire(grants: string, penalty: string, cost: number, limit: number, span: number, member: string, carry: string): Promise<[number, number, number]>;
  tidesyncLimiterPenalize(penalty: string, until: string): Promise<number>;
  tidesyncLimiterUsage(grants: string, penalty: string, windowMs: number): Promise<[number, number, number]>;
}

function redisStore(backend: Backend, name: string, limit: number, span: number, windowMs: number): BudgetStore {
  const client = backend.redis();
  // Defined once per client (EVALSHA with an EVAL fallback); other limiters on it reuse them.
  if (typeof (client as unknown as Partial<LimiterCommands>).tidesyncLimiterAcquire !== 'function') {
    client.defineCommand('tidesyncLimiterAcquire', { numberOfKeys: 2, lua: ACQUIRE_LUA });
    client.defineCommand('tidesyncLimiterPenalize', { numberOfKeys: 1, lua: PENALIZE_LUA });
    client.defineCommand('tidesyncLimiterUsage', { numberOfKeys: 2, lua: USAGE_LUA });
  }
  const cmd = client as unknown as LimiterCommands;
  // The hash tag keeps both keys in one slot, so the script is valid on Redis Cluster too.
  const base = `${backend.namespace}:limiter:{${name}}`;
  const grants = `${base}:grants`;
  const penalty = `${base}:penalty`;
  // Members must be unique across instances: a random instance id plus a sequence number.
  const instance = randomBytes(8).toString('hex');
  let seq = 0;
  return {
    async acquire(cost, carry) {
      const member = `${instance}:${++seq}`;
      const [granted, now, retryAt] = await cmd.tidesyncLimiterAcquire(grants, penalty, cost, limit, span, member, String(carry));
      if (granted === 1) {
        return { granted: true, now, grant: { members: Array.from({ length: cost }, (_, i) => `${member}:${i + 1}`) } };
      }
      return { granted: false, now, retryAt };
    },
    async refund(grant) {
      if ('members' in grant) await client.zrem(grants, ...grant.members);
    },
    async penalize(until) {
      await cmd.tidesyncLimiterPenalize(penalty, String(until));
    },
    async usage() {
      const [used, frozenUntil, now] = await cmd.tidesyncLimiterUsage(grants, penalty, windowMs);
      return { now, used, frozenUntil };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/**
 * Advisory lock key (signed 64-bit, as text), from a namespaced string with SHA-256 like
 * adapter-postgres does. A collision only makes two budgets wait for each other.
 */
const lockKey = (...parts: string[]) => createHash('sha256').update(['tidesync', ...parts].join('\0')).digest().readBigInt64BE(0).toString();

/**
 * Tables and the acquire function, created once per backend (first use). The DO block is one
 * transaction holding an advisory lock, so instances starting together don't race on the
 * catalog (CREATE ... IF NOT EXISTS alone can fail with a duplicate key when two run at once).
 *
 * The check-and-grant is a plpgsql function because the pool hands each query to any client:
 * a multi-statement transaction is not possible through it, and inside one plain statement the
 * snapshot predates the lock. A VOLATILE function takes a fresh snapshot per statement under
 * READ COMMITTED, so once it holds the lock it sees every grant committed before.
 */
function setupSql(schema: string, namespace: string): string {
  const grants = `${schema}.tidesync_limiter_grants`;
  const penalty = `${schema}.tidesync_limiter_penalty`;
  return `
DO $setup$
BEGIN
  PERFORM pg_advisory_xact_lock(${lockKey('limiter-setup', namespace)}::bigint);
  CREATE SCHEMA IF NOT EXISTS ${schema};
  CREATE TABLE IF NOT EXISTS ${grants} (name text NOT NULL, at bigint NOT NULL, cost integer NOT NULL);
  CREATE INDEX IF NOT EXISTS tidesync_limiter_grants_name_at ON ${grants} (name, at);
  CREATE TABLE IF NOT EXISTS ${penalty} (name text PRIMARY KEY, until_ms bigint NOT NULL);
  -- Created only when missing (CREATE OR REPLACE would need ownership on every start); a change
  -- of behaviour gets a new _vN name.
  IF to_regprocedure('${schema.replaceAll("'", "''")}.tidesync_limiter_acquire_v1(text, bigint, integer, integer, bigint, bigint)') IS NULL THEN
    CREATE FUNCTION ${schema}.tidesync_limiter_acquire_v1(
      p_name text, p_lock bigint, p_cost integer, p_limit integer, p_span bigint, p_carry bigint,
      OUT granted boolean, OUT now_ms bigint, OUT retry_at bigint)
    LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
      v_frozen bigint;
      v_used bigint;
    BEGIN
      -- Under REPEATABLE READ the snapshot is older than the lock and two grants could both fit.
      IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'the tidesync shared rate limiter cannot run under REPEATABLE READ (default_transaction_isolation); use READ COMMITTED'
          USING ERRCODE = '${UNSAFE_ISOLATION}';
      END IF;
      PERFORM pg_advisory_xact_lock(p_lock);
      -- Read the clock only once the lock is held, so grant times rise in lock order.
      now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
      IF p_carry > now_ms THEN
        INSERT INTO ${penalty} AS p (name, until_ms) VALUES (p_name, p_carry)
        ON CONFLICT (name) DO UPDATE SET until_ms = greatest(p.until_ms, excluded.until_ms);
      END IF;
      SELECT p.until_ms INTO v_frozen FROM ${penalty} p WHERE p.name = p_name;
      IF v_frozen > now_ms THEN
        granted := false;
        retry_at := v_frozen;
        RETURN;
      END IF;
      DELETE FROM ${grants} g WHERE g.name = p_name AND g.at <= now_ms - p_span;
      SELECT coalesce(sum(g.cost), 0) INTO v_used FROM ${grants} g WHERE g.name = p_name;
      IF v_used + p_cost <= p_limit THEN
        INSERT INTO ${grants} (name, at, cost) VALUES (p_name, now_ms, p_cost);
        granted := true;
        retry_at := now_ms;
        RETURN;
      END IF;
      -- The head fits once enough of the oldest grants have left the span.
      SELECT w.at + p_span INTO retry_at
        FROM (SELECT g.at, sum(g.cost) OVER (ORDER BY g.at) AS freed FROM ${grants} g WHERE g.name = p_name) w
        WHERE w.freed >= v_used + p_cost - p_limit
        ORDER BY w.at LIMIT 1;
      granted := false;
    END
    $fn$;
  END IF;
END
$setup$`;
}

/** One setup per backend, shared by its limiters; forgotten on failure so the next call retries. */
const setups = new WeakMap<Backend, Promise<void>>();

function postgresStore(backend: Backend, name: string, limit: number, span: number, windowMs: number): BudgetStore {
  const db = backend.pg();
  const schema = db.schema;
  const lock = lockKey('limiter', backend.namespace, name);
  const ready = (): Promise<void> => {
    let setup = setups.get(backend);
    if (!setup) {
      setup = db.query(setupSql(schema, backend.namespace)).then(() => undefined);
      setups.set(backend, setup);
      setup.catch(() => setups.delete(backend));
    }
    return setup;
  };
  const ms = (v: unknown) => Number(v ?? 0);
  return {
    async acquire(cost, carry) {
      await ready();
      const { rows } = await db.query<{ granted: boolean; now_ms: string; retry_at: string }>(
        `SELECT granted, now_ms, retry_at FROM ${schema}.tidesync_limiter_acquire_v1($1, $2::bigint, $3, $4, $5::bigint, $6::bigint)`,
        [name, lock, cost, limit, span, carry],
      );
      const row = rows[0]!;
      const now = ms(row.now_ms);
      return row.granted ? { granted: true, now, grant: { at: now, cost } } : { granted: false, now, retryAt: ms(row.retry_at) };
    },
    async refund(grant) {
      if (!('at' in grant)) return;
      await ready();
      // Any one row with this time and cost is the same budget; no lock needed to give it back.
      await db.query(
        `DELETE FROM ${schema}.tidesync_limiter_grants WHERE ctid = (SELECT ctid FROM ${schema}.tidesync_limiter_grants WHERE name = $1 AND at = $2 AND cost = $3 LIMIT 1)`,
        [name, grant.at, grant.cost],
      );
    },
    async penalize(until) {
      await ready();
      await db.query(
        `INSERT INTO ${schema}.tidesync_limiter_penalty AS p (name, until_ms) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET until_ms = greatest(p.until_ms, excluded.until_ms)`,
        [name, until],
      );
    },
    async usage() {
      await ready();
      const { rows } = await db.query<{ now_ms: string; used: string; frozen: string | null }>(
        `SELECT n.now_ms,
                (SELECT coalesce(sum(g.cost), 0) FROM ${schema}.tidesync_limiter_grants g WHERE g.name = $1 AND g.at > n.now_ms - $2) AS used,
                (SELECT p.until_ms FROM ${schema}.tidesync_limiter_penalty p WHERE p.name = $1) AS frozen
           FROM (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms) n`,
        [name, windowMs],
      );
      const row = rows[0]!;
      return { now: ms(row.now_ms), used: ms(row.used), frozenUntil: ms(row.frozen) };
    },
  };
}
