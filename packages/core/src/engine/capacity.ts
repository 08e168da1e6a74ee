import type { TaskSpec } from '../contracts/task.js';
import { parseCron } from '../scheduler/cron.js';
import { KeyBook } from './key-book.js';
import type { PlanContext } from './options.js';

const DAY = 86_400_000;

/** What the planner needs of a job. */
export interface CapacityJob {
  name: string;
  schedule: string;
  timezone: string;
  freshFor: number;
  priority: number;
  plan: (context: PlanContext) => Iterable<TaskSpec<unknown>> | Promise<Iterable<TaskSpec<unknown>>>;
}

export interface CapacityClass {
  /** Jobs of this priority class, tightest first. */
  jobs: string[];
  priority: number;
  freshForMs: number;
  /** Requests per day this class causes after dedup (fetches a tighter class already made are not counted again). */
  neededPerDay: number;
  /** Requests per day left for it once every higher class is served. */
  availablePerDay: number;
  /** Whether its freshness target holds. */
  feasible: boolean;
  /**
   * When infeasible: the refresh interval it will really get (its share of the budget stretches
   * the target), and how far past the target that is. 0 when feasible; Infinity when starved.
   */
  expectedStalenessMs: number;
  missByMs: number;
}

export interface CapacityReport {
  /** Requests per day the jobs need after coalescing and freshness skips. */
  neededPerDay: number;
  /** Requests per day the budget gives (`limit` per `windowMs`, before the safety margin). */
  budgetPerDay: number;
  utilization: number;
  feasible: boolean;
  /** Priority classes, highest first: the order the queue serves them under overload. */
  classes: CapacityClass[];
  /** Distinct keys planned over the simulated span. */
  distinctKeys: number;
  /** The span the figures are averaged over. */
  days: number;
}

export interface CapacityInput {
  jobs: CapacityJob[];
  budgetPerDay: number;
  from: number;
  days: number;
}

/**
 * Capacity by simulation: replay every tick of every job over `days` (after one day of warm-up,
 * so the figures are steady-state) with the engine's own freshness rule, as if every enqueued
 * key were fetched the moment its tick fired. What remains is the request rate the jobs need
 * after coalescing across jobs; each fetch is charged to the highest-priority job covering the
 * key, which is the class that would be served first. Plans are called with simulated ticks, so
 * they must depend on the tick, not on the wall clock.
 */
export async function planCapacity(input: CapacityInput): Promise<CapacityReport> {
  const { jobs, budgetPerDay, from, days } = input;
  const warmup = from + DAY;
  const end = warmup + days * DAY;
  const crons = new Map(jobs.map((j) => [j.name, parseCron(j.schedule, j.timezone)]));
  const byName = new Map(jobs.map((j) => [j.name, j]));

  // Every occurrence in order; same-instant ticks by priority so the tightest class plans first.
  const ticks: { at: number; job: CapacityJob }[] = [];
  for (const job of jobs) {
    const cron = crons.get(job.name)!;
    for (let at = cron.next(from - 1); at < end; at = cron.next(at)) ticks.push({ at, job });
  }
  ticks.sort((a, b) => a.at - b.at || b.job.priority - a.job.priority);

  const book = new KeyBook((job, from, span) => crons.get(job)?.fallBackShift(from, span) ?? 0);
  const fetched = new Map<string, number>();
  const keys = new Set<string>();
  for (const { at, job } of ticks) {
    // One cron evaluation per job per tick, not per key: parsing dominates otherwise.
    const nextByJob = new Map(jobs.map((j) => [j.name, crons.get(j.name)!.next(at)]));
    const nextTickOf = (name: string) => nextByJob.get(name);
    const specs = [...(await job.plan({ schedule: job.name, scheduledAt: at, firedAt: at, catchUp: false, manual: false, job: job.name, now: at, timezone: job.timezone }))];
    const seq = book.beginTick(job.name);
    for (const key of book.unknown(specs.map((s) => s.key))) book.load(key, at, undefined);
    for (const spec of specs) book.cover(spec.key, job.name, seq, spec.freshFor ?? job.freshFor);
    for (const spec of specs) {
      if (at >= warmup) keys.add(spec.key);
      const decision = book.decide(spec.key, at, nextTickOf, false);
      if (!decision.enqueue) continue;
      book.recordSuccess(spec.key, at);
      if (at < warmup) continue;
      const owner = book.coveringJobs(spec.key).map((n) => byName.get(n)!).sort((a, b) => b.priority - a.priority)[0] ?? job;
      fetched.set(owner.name, (fetched.get(owner.name) ?? 0) + 1);
    }
    book.sweep(() => false);
  }

  const classes = new Map<number, CapacityJob[]>();
  for (const job of jobs) classes.set(job.priority, [...(classes.get(job.priority) ?? []), job]);
  let left = budgetPerDay;
  const report: CapacityClass[] = [...classes.entries()]
    .sort((a, b) => b[0] - a[0])
    .map(([priority, members]) => {
      const needed = members.reduce((n, j) => n + (fetched.get(j.name) ?? 0), 0) / days;
      const freshForMs = Math.min(...members.map((j) => j.freshFor));
      const available = Math.max(0, left);
      left -= needed;
      const feasible = needed <= available;
      const expected = feasible ? freshForMs : available === 0 ? Number.POSITIVE_INFINITY : (freshForMs * needed) / available;
      return {
        jobs: members.sort((a, b) => a.freshFor - b.freshFor).map((j) => j.name),
        priority,
        freshForMs,
        neededPerDay: needed,
        availablePerDay: available,
        feasible,
        expectedStalenessMs: expected,
        missByMs: feasible ? 0 : expected - freshForMs,
      };
    });
  const neededPerDay = report.reduce((n, c) => n + c.neededPerDay, 0);
  return {
    neededPerDay,
    budgetPerDay,
    utilization: budgetPerDay === Number.POSITIVE_INFINITY ? 0 : neededPerDay / budgetPerDay,
    feasible: neededPerDay <= budgetPerDay,
    classes: report,
    distinctKeys: keys.size,
    days,
  };
}
