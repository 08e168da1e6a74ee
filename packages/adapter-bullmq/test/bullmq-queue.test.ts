import { describe } from 'vitest';
import { queueConformance } from '@tidesync/core/testing';
import { createBullMQQueue } from '../src/bullmq-queue.js';
import { backendKinds, testNamespace, uniqueName } from './helpers.js';

for (const kind of backendKinds) {
  describe(`BullMQ queue on ${kind}`, () => {
    queueConformance(
      `BullMQ on ${kind}`,
      async () => {
        const ns = testNamespace(kind);
        const queue = createBullMQQueue<{ n: number }>(ns.connect(), { name: uniqueName('q') });
        return { queue, cleanup: () => ns.drop() };
      },
      { realClock: true, deadlineResolutionMs: 1_000 },
    );
  });
}
