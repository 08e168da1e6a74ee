import { defineProject } from 'vitest/config';

// Repository-level checks (the READMEs), apart from any package's own tests.
export default defineProject({
  test: {
    name: 'repo',
    include: ['**/*.test.ts'],
    testTimeout: 120_000,
  },
});
