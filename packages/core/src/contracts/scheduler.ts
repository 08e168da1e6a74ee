/**
 * Scheduler — turns cron expressions into ticks.
 *
 * Guarantees every implementation must keep (checked by `schedulerConformance`):
 * - A schedule fires once per cron occurrence, in its IANA time zone, never twice for the same
 *   occurrence: DST fall-back does not repeat a wall-clock time (a cron that fires every hour or
 *   more often keeps firing through the repeated hour; a fixed time fires in its first pass), and an
 *   occurrence whose time spring-forward skips fires once, at the first instant after the gap
 *   (02:30 on a day that jumps from 02:00 to 03:00 fires at 03:30), so the day keeps its run.
 * - **Overlap**: while a tick's handler runs, a new occurrence is either dropped (`skip`) or kept
 *   as one pending tick run right after (`bufferOne`; further occurrences meanwhile are dropped).
 * - **Catch-up**: on start, if an occurrence was missed while no instance ran (per the persisted
 *   last tick), it fires once, marked `catchUp` — at most one, however many were missed.
 * - **Leadership**: when a leadership check is configured, only an instance that leads fires.
 * - Handlers' errors are reported, never thrown into the host.
 */
export interface Tick {
  schedule: string;
  /** The occurrence this tick stands for (epoch ms). */
  scheduledAt: number;
  /** When it actually fired (epoch ms). */
  firedAt: number;
  /** This tick makes up for an occurrence missed while down. */
  catchUp: boolean;
  /** Fired by hand (`trigger`) or at start, not by the cron. */
  manual: boolean;
}

export type OverlapPolicy = 'skip' | 'bufferOne';

export interface ScheduleSpec {
  id: string;
  cron: string;
  timezone: string;
  overlap: OverlapPolicy;
  /** Fire up to this many ms late, at random, to spread instances or jobs apart. */
  jitterMs: number;
  catchUp: boolean;
}

export type TickHandler = (tick: Tick) => Promise<void>;

export interface Scheduler {
  add(spec: ScheduleSpec, handler: TickHandler): void;
  remove(id: string): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Next occurrence of a schedule (epoch ms). */
  nextTick(id: string): number | undefined;
  /** Last occurrence that fired. */
  lastTick(id: string): number | undefined;
  /**
   * Whether a job's start-up plan (`runOnStart`) should run on this instance. A scheduler shared
   * by several instances answers false when the schedule was already running before this instance
   * started: its ticks keep the keys fresh, and a plan off the cron's beat would refetch keys that
   * are fresh now but due before the next tick. Absent means always.
   */
  shouldRunOnStart?(id: string): boolean | Promise<boolean>;
}
