export { createPostgresStore } from './postgres-store.js';
export type { PostgresStore, PostgresStoreOptions, ReadScopeOptions, StagingMethod } from './postgres-store.js';
export type { TableMapping, ColumnSpec, Row } from './table-mapping.js';
export type { Queryable } from './database.js';
export { redactConnectionString } from './database.js';
export { SchemaVersionError, MIGRATIONS, LATEST_VERSION } from './migrations.js';
export type { Migration } from './migrations.js';
export { quoteIdent } from './identifiers.js';
