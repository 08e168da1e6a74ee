import type { Options } from 'tsup';

/**
 * The build every published package shares: ESM only, declarations, source maps, Node 20.
 * Each package's tsup.config.ts adds its entries and what must stay external.
 */
export const packageBuild = (options: Options): Options => ({
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  ...options,
});
