import type { KeyState } from '../contracts/store.js';

interface Coverage {
  job: string;
  /** The job's tick sequence number that last planned this key. */
  seq: number;
  target: number;
}

interface KeyRecord {
  lastSuccessAt: number | undefined;
  firstPlannedAt: number;
  /** One entry per job that ever planned the key; a handful at most, so an array beats a Map. */
  coverage: Coverage[];
}

export type FreshnessDecision =
  | { enqueue: false }
  | { enqueue: true; deadline: number; target: number; everFetched: boolean };

const SKIP: FreshnessDecision = { enqueue: false };

/**
 * The engine's memory of every key it plans: when it last succeeded and which jobs cover it.
 *
 * A job covers a key when its latest tick planned it; a key's freshness target is the tightest
 * target among the jobs covering it, so a faster cadence serves a slower one. Keys no job covers
 * any more (yesterday's dates) are dropped at the next tick, so memory follows the live key set.
 */
export class KeyBook {
  private readonly records = new Map<string, KeyRecord>();
  private readonly jobSeq = new Map<string, number>();

  /**
   * @param fallBackShift how much a DST fall-back delays `job`'s next occurrence after a success at
   *   `from` (its cron's `fallBackShift`): a key's deadline moves with it, so a daily cron in a DST
   *   zone is not a deadline behind on its 25-hour day. Without it, targets are plain durations.
   */
  constructor(private readonly fallBackShift: (job: string, from: number, span: number) => number = () => 0) {}

  /** Start a tick of `job`; its previous coverage stops counting once this tick covers keys anew. */
  beginTick(job: string): number {
    const seq = (this.jobSeq.get(job) ?? 0) + 1;
    this.jobSeq.set(job, seq);
    return seq;
  }

  /** Keys that are not in memory yet and need their persisted state loaded. */
  unknown(keys: Iterable<string>): string[] {
    const out: string[] = [];
    for (const key of keys) if (!this.records.has(key)) out.push(key);
    return out;
  }

  load(key: string, now: number, state: KeyState | undefined): void {
    if (this.records.has(key)) return;
    this.records.set(key, { lastSuccessAt: state?.lastSuccessAt, firstPlannedAt: now, coverage: [] });
  }

  /** Another instance may have fetched `key`: take its persisted success if it is newer. */
  refresh(key: string, state: KeyState | undefined): void {
    const at = state?.lastSuccessAt;
    if (at !== undefined) this.recordSuccess(key, at);
  }

  cover(key: string, job: string, seq: number, target: number): void {
    const rec = this.records.get(key);
    if (!rec) return;
    const existing = rec.coverage.find((c) => c.job === job);
    if (existing) {
      existing.seq = seq;
      existing.target = target;
    } else rec.coverage.push({ job, seq, target });
  }

  /**
   * Whether a tick must enqueue `key`: yes unless the key will still be within its target when the
   * next tick covering it fires. (Skipping on "age < period" now would halve the refresh rate: the
   * last fetch always lands a little after the previous tick.)
   */
  decide(key: string, now: number, nextTickOf: (job: string) => number | undefined, force: boolean): FreshnessDecision {
    const rec = this.records.get(key);
    if (!rec) return SKIP;
    let target = Number.POSITIVE_INFINITY;
    let nextCover = Number.POSITIVE_INFINITY;
    for (const c of rec.coverage) {
      if (!this.isCurrent(c)) continue;
      target = Math.min(target, c.target);
      nextCover = Math.min(nextCover, nextTickOf(c.job) ?? Number.POSITIVE_INFINITY);
    }
    const last = rec.lastSuccessAt;
    const staleAt = last === undefined ? undefined : this.staleAt(rec, last);
    if (!force && staleAt !== undefined && staleAt >= nextCover) return SKIP;
    return {
      enqueue: true,
      deadline: staleAt ?? now,
      target,
      everFetched: last !== undefined,
    };
  }

  /** The jobs whose latest tick covers `key`. */
  coveringJobs(key: string): string[] {
    const rec = this.records.get(key);
    return rec ? rec.coverage.filter((c) => this.isCurrent(c)).map((c) => c.job) : [];
  }

  /**
   * The key's stored data is gone (removed outside the engine): drop its last success, so it is
   * planned as never fetched — due at once, and never counted late.
   */
  forget(key: string, now: number): void {
    const rec = this.records.get(key);
    if (!rec) return;
    rec.lastSuccessAt = undefined;
    rec.firstPlannedAt = now;
  }

  lastSuccess(key: string): number | undefined {
    return this.records.get(key)?.lastSuccessAt;
  }

  recordSuccess(key: string, at: number): void {
    const rec = this.records.get(key);
    if (rec && (rec.lastSuccessAt === undefined || at > rec.lastSuccessAt)) rec.lastSuccessAt = at;
  }

  /** Forget keys no job covers any more, unless `keep` says they are still queued or in flight. */
  sweep(keep: (key: string) => boolean): number {
    let dropped = 0;
    for (const [key, rec] of this.records) {
      if (!rec.coverage.some((c) => this.isCurrent(c)) && !keep(key)) {
        this.records.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  /** Freshness of the keys `job` covers now: how many, how many stale, and the worst lag. */
  freshness(job: string, now: number): { keys: number; stale: number; lagMs: number } {
    let keys = 0;
    let stale = 0;
    let lagMs = 0;
    for (const rec of this.records.values()) {
      if (!rec.coverage.some((c) => c.job === job && this.isCurrent(c))) continue;
      keys++;
      const lag = rec.lastSuccessAt === undefined ? now - rec.firstPlannedAt : now - this.staleAt(rec, rec.lastSuccessAt);
      if (lag > 0) {
        stale++;
        lagMs = Math.max(lagMs, lag);
      }
    }
    return { keys, stale, lagMs };
  }

  get size(): number {
    return this.records.size;
  }

  /** When a key that last succeeded at `last` goes stale: the earliest deadline among its current coverers. */
  private staleAt(rec: KeyRecord, last: number): number {
    let at = Number.POSITIVE_INFINITY;
    for (const c of rec.coverage) {
      if (this.isCurrent(c)) at = Math.min(at, last + c.target + this.fallBackShift(c.job, last, c.target));
    }
    return at;
  }

  private isCurrent(c: Coverage): boolean {
    return this.jobSeq.get(c.job) === c.seq;
  }
}
