import { errorMessage } from '../errors.js';
import type { Logger } from '../contracts/logger.js';

/**
 * A user's callback, called so that a throw is logged and goes no further. Callbacks run from
 * timers and failure paths (a scheduler's `onSkip`, `onError`): a throw there would otherwise be
 * an unhandled rejection, which ends a Node process by default.
 */
export function safeCallback<A extends unknown[]>(name: string, fn: ((...args: A) => unknown) | undefined, log: Logger): (...args: A) => void {
  return (...args) => {
    const report = (err: unknown) => log.warn({ callback: name, err: errorMessage(err) }, 'a callback threw; ignored');
    try {
      const result = fn?.(...args);
      // An async callback rejects rather than throws.
      if (result && typeof (result as PromiseLike<unknown>).then === 'function') (result as PromiseLike<unknown>).then(undefined, report);
    } catch (err) {
      report(err);
    }
  };
}
