import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

export default defineConfig(
  packageBuild({
    // `health` is its own entry so that importing the module never loads @nestjs/terminus, an
    // optional peer. Shared code (the engine token) lands in one chunk, so both entries see the
    // same class identity.
    entry: { index: 'src/index.ts', 'health/index': 'src/health/index.ts' },
    // Nest must be the application's copy: two copies of @nestjs/common mean two sets of DI tokens.
    external: [/^@nestjs\//, /^@tidesync\//, 'reflect-metadata', 'rxjs'],
  }),
);
