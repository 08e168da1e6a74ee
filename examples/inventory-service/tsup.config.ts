import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';

const source = (path: string) => fileURLToPath(new URL(`../../packages/${path}`, import.meta.url));

// The workspace packages are bundled from their sources, so `pnpm start` on a fresh clone needs no
// build of theirs first. Everything in this package's dependencies (Nest, pg, PGlite, zod) stays
// external: one copy of @nestjs/common at runtime, shared by the app and @tidesync/nestjs.
const workspace: Record<string, string> = {
  '@tidesync/core': source('core/src/index.ts'),
  '@tidesync/adapter-postgres': source('adapter-postgres/src/index.ts'),
  '@tidesync/adapter-bullmq': source('adapter-bullmq/src/index.ts'),
  '@tidesync/nestjs': source('nest-module/src/index.ts'),
  '@tidesync/nestjs/health': source('nest-module/src/health/index.ts'),
};

export default defineConfig({
  entry: { main: 'src/main.ts', simulator: 'src/simulator/main.ts' },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  // tsup compiles with swc (installed as a devDependency) because tsconfig asks for
  // emitDecoratorMetadata: Nest's constructor injection needs `design:paramtypes`.
  noExternal: [/^@tidesync\//],
  esbuildPlugins: [
    {
      name: 'tidesync-sources',
      setup(build) {
        build.onResolve({ filter: /^@tidesync\// }, (args) => (workspace[args.path] ? { path: workspace[args.path] } : undefined));
      },
    },
  ],
  banner: {
    // Bundled CommonJS dependencies (undici, cron-parser) may call require().
    js: "import { createRequire as __tidesyncCreateRequire } from 'node:module'; const require = __tidesyncCreateRequire(import.meta.url);",
  },
});
