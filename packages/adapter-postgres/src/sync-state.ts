/**
 * Sync state — freshness per key, pause targets, scheduler last ticks and dead letters, in the
 * `tidesync_*` tables of the store's schema. Times are epoch milliseconds in `bigint` columns, so
 * they round-trip exactly.
 *
 * - `markSucceeded` runs inside the write transaction: a batch's data and its keys' freshness
 *   commit together or not at all.
 * - `recordFailures` touches state only; data tables are never read or written by it.
 * - Keys repeated in one call are folded first (ON CONFLICT cannot touch a row twice).
 * - Every statement that writes key rows locks them in key order (`ORDER BY key`), so a batch's
 *   success, failures and a forget touching the same keys concurrently queue, never deadlock.
 */
import type { DeadLetter, KeyFailure, KeyState } from '@tidesync/core';
import { qualified } from './identifiers.js';
import type { Rows } from './database.js';

type Query = <R = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<Rows<R>>;

const num = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));

export function syncStateSql(schema: string) {
  const keyState = qualified(schema, 'tidesync_key_state');
  const paused = qualified(schema, 'tidesync_paused');
  const lastTick = qualified(schema, 'tidesync_last_tick');
  const deadLetter = qualified(schema, 'tidesync_dead_letter');

  return {
    async markSucceeded(query: Query, scopes: readonly { key: string; fetchedAt: number }[]): Promise<void> {
      const latest = new Map<string, number>();
      for (const s of scopes) latest.set(s.key, Math.max(s.fetchedAt, latest.get(s.key) ?? -Infinity));
      if (latest.size === 0) return;
      await query(
        `INSERT INTO ${keyState} AS k (key, last_success_at, last_attempt_at, last_error, consecutive_failures)
         SELECT u.key, u.at, u.at, NULL, 0 FROM unnest($1::text[], $2::bigint[]) AS u(key, at) ORDER BY u.key
         ON CONFLICT (key) DO UPDATE SET last_success_at = GREATEST(k.last_success_at, excluded.last_success_at),
           last_attempt_at = excluded.last_attempt_at, last_error = NULL, consecutive_failures = 0`,
        [[...latest.keys()], [...latest.values()].map(String)],
      );
    },

    async recordFailures(query: Query, failures: readonly KeyFailure[]): Promise<void> {
      const folded = new Map<string, { at: number; error: string; count: number }>();
      for (const f of failures) {
        const prev = folded.get(f.key);
        const later = !prev || f.at >= prev.at;
        folded.set(f.key, { at: later ? f.at : prev.at, error: later ? f.error : prev.error, count: (prev?.count ?? 0) + 1 });
      }
      if (folded.size === 0) return;
      const entries = [...folded];
      await query(
        `INSERT INTO ${keyState} AS k (key, last_success_at, last_attempt_at, last_error, consecutive_failures)
         SELECT u.key, NULL, u.at, u.error, u.n FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[]) AS u(key, at, error, n) ORDER BY u.key
         ON CONFLICT (key) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, last_error = excluded.last_error,
           consecutive_failures = k.consecutive_failures + excluded.consecutive_failures`,
        [entries.map(([k]) => k), entries.map(([, f]) => String(f.at)), entries.map(([, f]) => f.error), entries.map(([, f]) => f.count)],
      );
    },

    async forgetKeys(query: Query, keys: readonly string[]): Promise<void> {
      if (keys.length === 0) return;
      // NULL, not a row deleted: attempts and failures stay, and a later success's GREATEST(NULL, at) is at.
      await query(
        `UPDATE ${keyState} AS k SET last_success_at = NULL
         FROM (SELECT key FROM ${keyState} WHERE key = ANY($1::text[]) AND last_success_at IS NOT NULL ORDER BY key FOR UPDATE) AS f
         WHERE k.key = f.key`,
        [[...new Set(keys)]],
      );
    },

    async readKeyStates(query: Query, keys: readonly string[]): Promise<Map<string, KeyState>> {
      const out = new Map<string, KeyState>();
      if (keys.length === 0) return out;
      const { rows } = await query<{ key: string; last_success_at: unknown; last_attempt_at: unknown; last_error: string | null; consecutive_failures: unknown }>(
        `SELECT key, last_success_at, last_attempt_at, last_error, consecutive_failures FROM ${keyState} WHERE key = ANY($1::text[])`,
        [[...new Set(keys)]],
      );
      for (const r of rows) {
        out.set(r.key, {
          key: r.key,
          lastSuccessAt: num(r.last_success_at),
          lastAttemptAt: num(r.last_attempt_at),
          lastError: r.last_error ?? undefined,
          consecutiveFailures: Number(r.consecutive_failures),
        });
      }
      return out;
    },

    async readPaused(query: Query): Promise<string[]> {
      const { rows } = await query<{ target: string }>(`SELECT target FROM ${paused} ORDER BY target`);
      return rows.map((r) => r.target);
    },

    async writePaused(query: Query, target: string, isPaused: boolean): Promise<void> {
      if (isPaused) await query(`INSERT INTO ${paused} (target) VALUES ($1) ON CONFLICT DO NOTHING`, [target]);
      else await query(`DELETE FROM ${paused} WHERE target = $1`, [target]);
    },

    async readLastTick(query: Query, id: string): Promise<number | undefined> {
      const { rows } = await query<{ at: unknown }>(`SELECT at FROM ${lastTick} WHERE schedule_id = $1`, [id]);
      return num(rows[0]?.at);
    },

    async writeLastTick(query: Query, id: string, at: number): Promise<void> {
      await query(`INSERT INTO ${lastTick} (schedule_id, at) VALUES ($1, $2::bigint) ON CONFLICT (schedule_id) DO UPDATE SET at = excluded.at`, [id, String(at)]);
    },

    async addDeadLetter(query: Query, d: DeadLetter): Promise<void> {
      await query(
        `INSERT INTO ${deadLetter} (key, scope, job, payload, attempts, error, at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::bigint)
         ON CONFLICT (key) DO UPDATE SET scope = excluded.scope, job = excluded.job, payload = excluded.payload,
           attempts = excluded.attempts, error = excluded.error, at = excluded.at`,
        [d.key, d.scope, d.job, d.payload === undefined ? null : JSON.stringify(d.payload), d.attempts, d.error, String(d.at)],
      );
    },

    async listDeadLetters(query: Query): Promise<DeadLetter[]> {
      // payload travels as text so both drivers hand back the same JSON, parsed once here.
      const { rows } = await query<{ key: string; scope: string; job: string; payload: string | null; attempts: unknown; error: string; at: unknown }>(
        `SELECT key, scope, job, payload::text AS payload, attempts, error, at FROM ${deadLetter} ORDER BY at, key`,
      );
      return rows.map((r) => ({
        key: r.key,
        scope: r.scope,
        job: r.job,
        payload: r.payload === null ? undefined : JSON.parse(r.payload),
        attempts: Number(r.attempts),
        error: r.error,
        at: Number(r.at),
      }));
    },

    async removeDeadLetters(query: Query, keys: readonly string[]): Promise<void> {
      if (keys.length > 0) await query(`DELETE FROM ${deadLetter} WHERE key = ANY($1::text[])`, [[...keys]]);
    },
  };
}
