import swc from 'unplugin-swc';
import { defineProject } from 'vitest/config';
import { workspaceAliases } from '../../vitest.shared.js';

export default defineProject({
  // esbuild (vitest's default transform) drops decorator metadata; Nest's constructor injection
  // needs `design:paramtypes`, so the sources and tests go through swc instead.
  plugins: [swc.vite({ module: { type: 'es6' } })],
  resolve: { alias: workspaceAliases },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
