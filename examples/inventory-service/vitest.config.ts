import swc from 'unplugin-swc';
import { defineProject } from 'vitest/config';
import { workspaceAliases } from '../../vitest.shared.js';

export default defineProject({
  // swc emits `design:paramtypes` (from tsconfig's emitDecoratorMetadata), which Nest's constructor
  // injection needs, as tsup's swc step does for `pnpm start`. Vite's own TS transform is off.
  plugins: [swc.vite({ module: { type: 'es6' } })],
  oxc: false,
  // @tidesync/nestjs is aliased to its source, which would import Nest from its own folder; one
  // copy of each Nest package (this app's) keeps DI tokens such as HealthIndicatorService identical.
  resolve: { alias: workspaceAliases, dedupe: ['@nestjs/common', '@nestjs/core', '@nestjs/terminus', 'reflect-metadata', 'rxjs'] },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
