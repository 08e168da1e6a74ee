/**
 * Store — where fetched scopes land, and where the engine keeps its state across restarts.
 *
 * Guarantees every implementation must keep (checked by `storeConformance`):
 * - **Atomic batch**: `write(batch)` applies every scope of the batch and records their keys'
 *   success in one atomic step: afterwards either all of it is visible or none of it is.
 * - **Scope replacement**: for each scope in the batch, rows that changed are updated, new rows
 *   inserted, rows no longer present deleted, unchanged rows left untouched (not rewritten), and
 *   rows of every other scope left alone. The counts returned say exactly that.
 * - **Nothing deleted on failure**: `recordFailures` only touches sync state, never data.
 * - A scope named twice in one batch is written once: its last occurrence is the truth, as if the
 *   earlier one was not there (both keys still record their success).
 * - A batch whose data the store cannot accept is rejected whole and changes nothing, with a
 *   `SyncError` that says so by its code: `STORE_CONFLICT` for two rows with the same identity in
 *   one scope, `STORE_REJECTED` (`StoreRejectedError`) for anything else about the data (rows that
 *   are not rows, a value a column cannot hold). Any other failure is taken for the store being
 *   unavailable: the engine retries it without charging the keys, while a rejection is charged to
 *   the key at fault (see `StoreRejectedError`).
 * - **Sync state survives restarts**: freshness per key, pause state, the scheduler's last ticks
 *   and dead letters are read back by a new instance on the same storage.
 * - Optional capabilities (`leaderLock`) are declared on `capabilities`; the engine checks for them.
 * - `forgetKeys`, where offered, drops the keys' last success and nothing else (no data, no other
 *   state), durably: an instance that loads their state afterwards — a restarted one, or one that
 *   had not planned them yet — finds them never fetched. (An instance already holding a success
 *   keeps it; the forgetting instance has queued the keys by then.) A success written afterwards
 *   counts again, even one fetched earlier.
 */
export interface ScopeWrite<D = unknown> {
  /** The task key whose fetch produced this scope. */
  key: string;
  scope: string;
  job: string;
  /** The fetched, validated payload: the complete truth for `scope`. */
  data: D;
  /** Epoch ms at which the data was fetched. */
  fetchedAt: number;
}

export interface WriteBatch<D = unknown> {
  scopes: ScopeWrite<D>[];
}

export interface WriteResult {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

export interface KeyState {
  key: string;
  /** Epoch ms of the last successful fetch that was written. */
  lastSuccessAt: number | undefined;
  /** Epoch ms of the last attempt, successful or not. */
  lastAttemptAt: number | undefined;
  lastError: string | undefined;
  consecutiveFailures: number;
}

export interface KeyFailure {
  key: string;
  job: string;
  at: number;
  error: string;
}

export interface DeadLetter {
  key: string;
  scope: string;
  job: string;
  payload: unknown;
  attempts: number;
  error: string;
  at: number;
}

/** A lock that at most one holder across all instances sharing the store owns at a time. */
export interface LeaderLock {
  /** Try to become (or stay) leader; returns whether this instance leads now. */
  acquire(): Promise<boolean>;
  release(): Promise<void>;
}

export interface StoreCapabilities {
  leaderLock?: LeaderLock;
}

export interface Store<D = unknown> {
  init?(): Promise<void>;
  close?(): Promise<void>;
  capabilities?: StoreCapabilities;

  write(batch: WriteBatch<D>): Promise<WriteResult>;

  /** States of the given keys (keys never seen are absent from the map). */
  readKeyStates(keys: readonly string[]): Promise<Map<string, KeyState>>;
  /** Record failed attempts: sync state only, data untouched. */
  recordFailures(failures: readonly KeyFailure[]): Promise<void>;
  /**
   * Optional. Drops the keys' last success (`lastSuccessAt` becomes undefined): their stored data is
   * gone, see the engine's `trigger({ forget })`. Attempts, failures, dead letters and data stay.
   */
  forgetKeys?(keys: readonly string[]): Promise<void>;

  /** Paused targets: job names, or `'*'` for everything. */
  readPaused(): Promise<string[]>;
  writePaused(target: string, paused: boolean): Promise<void>;

  readLastTick(scheduleId: string): Promise<number | undefined>;
  writeLastTick(scheduleId: string, at: number): Promise<void>;

  /** Adds, or replaces the entry of the same key. */
  addDeadLetter(entry: DeadLetter): Promise<void>;
  listDeadLetters(): Promise<DeadLetter[]>;
  /** Removes the key's dead letter if any (a later success clears it). */
  removeDeadLetters(keys: readonly string[]): Promise<void>;
}

export const emptyWriteResult = (): WriteResult => ({ inserted: 0, updated: 0, unchanged: 0, deleted: 0 });
