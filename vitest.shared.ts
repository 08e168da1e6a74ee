import { fileURLToPath } from 'node:url';

/**
 * Tests run against the packages' sources, not their builds, so `pnpm vitest` works on a fresh
 * checkout and a stack trace points at the line you edit. The builds are checked separately by
 * publint and attw in CI.
 */
const src = (path: string) => fileURLToPath(new URL(`./packages/${path}`, import.meta.url));

/** Each published entry point and the source file it is built from. */
export const workspacePackages: Record<string, string> = {
  '@tidesync/core/testing': src('core/src/testing/index.ts'),
  '@tidesync/core': src('core/src/index.ts'),
  '@tidesync/adapter-memory': src('adapter-memory/src/index.ts'),
  '@tidesync/adapter-bullmq': src('adapter-bullmq/src/index.ts'),
  '@tidesync/adapter-postgres': src('adapter-postgres/src/index.ts'),
  '@tidesync/nestjs/health': src('nest-module/src/health/index.ts'),
  '@tidesync/nestjs': src('nest-module/src/index.ts'),
};

const escape = (name: string) => name.replace(/[/\\^$.*+?()[\]{}|-]/g, '\\$&');

export const workspaceAliases = Object.entries(workspacePackages).map(([name, replacement]) => ({
  find: new RegExp(`^${escape(name)}$`),
  replacement,
}));
