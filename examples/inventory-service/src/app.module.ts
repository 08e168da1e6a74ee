import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { SyncModule, type SyncModuleOptions } from '@tidesync/nestjs';
import { SyncHealthIndicator } from '@tidesync/nestjs/health';
import { AdminTokenGuard } from './http/admin-token.guard.js';
import { ExperienceController } from './http/experience.controller.js';
import { HealthController } from './http/health.controller.js';
import { ProductsController } from './http/products.controller.js';
import { SyncController } from './http/sync.controller.js';
import type { ServiceRuntime } from './runtime.js';
import { SERVICE_CONFIG, SERVICE_RUNTIME } from './tokens.js';

@Module({})
export class AppModule {
  static register(runtime: ServiceRuntime, sync: SyncModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [SyncModule.forRoot({ ...sync, isGlobal: true }), TerminusModule.forRoot({ logger: false })],
      controllers: [ExperienceController, ProductsController, SyncController, HealthController],
      providers: [
        { provide: SERVICE_RUNTIME, useValue: runtime },
        { provide: SERVICE_CONFIG, useValue: runtime.config },
        AdminTokenGuard,
        SyncHealthIndicator,
      ],
    };
  }
}
