import { fileURLToPath } from 'node:url';

/**
 * Tests run against the packages' sources, not their builds, so `pnpm vitest` works on a fresh
 * checkout and a stack trace points at the line you edit. The builds are checked separately by
 * publint and attw in CI.
 */
const src = (path: string) => fileURLToPath(new URL(`./packages/${path}`, import.meta.url));

export const workspaceAliases = [
  { find: /^@tidesync\/core\/testing$/, replacement: src('core/src/testing/index.ts') },
  { find: /^@tidesync\/core$/, replacement: src('core/src/index.ts') },
  { find: /^@tidesync\/adapter-memory$/, replacement: src('adapter-memory/src/index.ts') },
  { find: /^@tidesync\/adapter-bullmq$/, replacement: src('adapter-bullmq/src/index.ts') },
  { find: /^@tidesync\/adapter-postgres$/, replacement: src('adapter-postgres/src/index.ts') },
  { find: /^@tidesync\/nestjs\/health$/, replacement: src('nest-module/src/health/index.ts') },
  { find: /^@tidesync\/nestjs$/, replacement: src('nest-module/src/index.ts') },
];
