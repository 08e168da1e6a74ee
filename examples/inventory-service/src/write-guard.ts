/**
 * Inventory writes that never bring a deleted product back.
 *
 * Guarantees:
 * - In one process, writes and deletions take turns (`ProductsRepository.exclusive`), and a write
 *   drops the scopes of products the process does not know: a fetch that was queued or in flight
 *   when its product was deleted writes nothing.
 * - With several instances (`shared`), a product unknown here is looked up again before its scopes
 *   are dropped (another instance may have added it), and after each write the products it wrote
 *   are checked in the database: rows of one deleted meanwhile by another instance are removed
 *   again (`ProductsRepository.sweepDeleted`). Between that write and the sweep a reader may see
 *   those rows for a moment; none outlives the sweep.
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
        const scopes = batch.scopes.filter(known);
        const result = await store.write({ ...batch, scopes });
        if (options.shared) await products.sweepDeleted(scopes.map(productOf));
        return result;
      }),
  };
}
