export { createMemoryStore } from './memory-store.js';
export type { MemoryStore, MemoryStoreOptions, Row } from './memory-store.js';
