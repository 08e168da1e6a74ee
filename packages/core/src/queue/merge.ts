import type { QueuedTask } from '../contracts/task.js';

/**
 * What a queued task becomes when its key is offered again — the Queue contract's coalescing rule,
 * kept in one place for every Queue implementation: the earliest deadline and the highest priority
 * win, the payload and owning job follow the offer that set the deadline, a later `notBefore` wins
 * (a new offer must not cut a retry's backoff short), and the higher attempt count is kept (a
 * planner's offer is attempt 1; a retry meeting a queued copy of its key must not restart its count).
 */
export function mergeQueuedTask<P>(queued: QueuedTask<P>, offered: QueuedTask<P>): QueuedTask<P> {
  const earlier = offered.deadline < queued.deadline;
  return {
    ...(earlier ? offered : queued),
    priority: Math.max(offered.priority, queued.priority),
    deadline: Math.min(offered.deadline, queued.deadline),
    notBefore: Math.max(offered.notBefore, queued.notBefore),
    attempt: Math.max(offered.attempt, queued.attempt),
    enqueuedAt: Math.min(offered.enqueuedAt, queued.enqueuedAt),
  };
}
