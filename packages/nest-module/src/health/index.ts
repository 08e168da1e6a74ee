// `@tidesync/nestjs/health`: the only entry that loads @nestjs/terminus (an optional peer).
export { SyncHealthIndicator } from './sync-health-indicator.js';
export type { SyncHealthOptions } from '../sync-module-options.js';
