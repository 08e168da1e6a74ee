/**
 * Leader lock — a session-level advisory lock: at most one session holds it, and PostgreSQL
 * releases it when the session ends, so leadership moves when the leader's process or connection
 * dies, with no lease to tune.
 *
 * - On a Pool it keeps one connection checked out while leading (a follower holds none).
 *   `acquire()` from the leader checks that connection is alive, so a leader whose session was
 *   ended learns it lost leadership on its next call and competes again.
 * - On a single Client the lock belongs to that client's session: store instances sharing one
 *   Client share leadership.
 * - On PGlite there is one embedded session and no other process can open the same database, so
 *   there is nobody to compete with: the instance always leads.
 * - Calls never overlap on the session: checks that arrive while one is running (several
 *   schedules firing at the same instant) share its answer, and a release waits for it. Separate
 *   concurrent attempts would each check out a session, and all but one would find the lock taken
 *   — by their own instance.
 */
import type { LeaderLock } from '@tidesync/core';
import { serialiser, type Database, type HeldSession } from './database.js';
import { lockKey } from './lock-keys.js';

export function createLeaderLock(db: Database, schema: string): LeaderLock & { dispose(): Promise<void> } {
  if (db.kind === 'pglite') {
    return { acquire: async () => true, release: async () => {}, dispose: async () => {} };
  }
  const key = lockKey('leader', schema);
  let held: HeldSession | undefined;
  let checking: Promise<boolean> | undefined;
  const exclusive = serialiser();

  const releaseNow = async (): Promise<void> => {
    const session = held;
    held = undefined;
    if (!session) return;
    try {
      await session.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
      session.release(false);
    } catch {
      // The session is gone, and its lock with it.
      session.release(true);
    }
  };

  const acquireNow = async (): Promise<boolean> => {
    if (held) {
      try {
        // Not re-locking: session locks stack, and one release must be enough.
        if (!held.broken) {
          await held.query('SELECT 1');
          return true;
        }
      } catch {
        // fall through: the session died, so did the lock
      }
      held.release(true);
      held = undefined;
    }
    const session = await db.holdSession();
    if (!session) return true;
    try {
      const { rows } = await session.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key]);
      if (rows[0]?.ok) {
        held = session;
        return true;
      }
      session.release(false);
      return false;
    } catch (err) {
      session.release(true);
      throw err;
    }
  };

  const release = () => {
    // A check asked for after this release must run after it, not share an earlier answer.
    checking = undefined;
    return exclusive(releaseNow);
  };

  return {
    acquire() {
      if (!checking) {
        const check = exclusive(acquireNow).finally(() => {
          if (checking === check) checking = undefined;
        });
        checking = check;
      }
      return checking;
    },
    release,
    dispose: release,
  };
}
