import swc from 'unplugin-swc';
import { defineProject } from 'vitest/config';
import { workspaceAliases } from '../../vitest.shared.js';

export default defineProject({
  // Nest's constructor injection needs `design:paramtypes`. swc emits it (reading tsconfig's
  // emitDecoratorMetadata), the same compiler tsup uses for the build, so tests see the metadata the
  // published code has. Vite's own TS transform is switched off so swc is the only one.
  plugins: [swc.vite({ module: { type: 'es6' } })],
  oxc: false,
  resolve: { alias: workspaceAliases },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
