/**
 * Inventory writes that never bring a deleted product back.
 *
 * Guarantees:
 * - In one process, writes and deletions take turns (`ProductsRepository.exclusive`), and a write
 *   drops the scopes of products the process does not know: a fetch that was queued or in flight
 *   when its product was deleted writes nothing.
 * - With several instances (`shared`), a product unknown here is looked up again before its scopes
 *   are dropped (another instance may have added it), and after each write every product of the
 *   batch — written or dropped — is checked in the database: rows of one deleted meanwhile by
 *   another instance are removed again (`ProductsRepository.sweepDeleted`). Checking the dropped
 *   ones too means a batch whose sweep failed (the write is then retried, and by then this
 *   instance may drop the product) still gets its rows removed. The read API answers 404 for a
 *   deleted product, so the rows are never served in between.
 * - A process killed between a write and its sweep can leave such rows behind (not served; a
 *   product added back replaces them).
 */
import type { PostgresStore } from '@tidesync/adapter-postgres';
import { parseInventoryKey } from './inventory-store.js';
import type { ProductsRepository } from './products-repository.js';

export function deletionGuardedStore<D>(store: PostgresStore<D>, products: ProductsRepository, options: { shared: boolean }): PostgresStore<D> {
  return {
    ...store,
    write: (batch) =>
      products.exclusive(async () => {
        const productOf = (s: { scope: string }) => parseInventoryKey(s.scope).productId;
        const known = (s: { scope: string }) => products.isKnown(productOf(s));
        // A product added through another instance may be new to this one's list.
        if (options.shared && !batch.scopes.every(known)) await products.list().catch(() => undefined);
        const result = await store.write({ ...batch, scopes: batch.scopes.filter(known) });
        if (options.shared) await products.sweepDeleted(batch.scopes.map(productOf));
        return result;
      }),
  };
}
