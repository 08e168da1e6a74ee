import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { SyncConfigError, errorMessage, type ConfigIssue, type JobDefinition, type Logger } from '@tidesync/core';
import { applyJobOverride } from './job-overrides.js';
import type { ResolvedSettings } from './module-settings.js';
import { SyncEngine } from './sync-engine.js';
import { SYNC_JOB_METADATA, type SyncJobOptions, type SyncJobOptionsFactory } from './sync-job.js';
import type { SyncModuleOptions } from './sync-module-options.js';
import { TIDESYNC_LOGGER, TIDESYNC_MODULE_OPTIONS, TIDESYNC_SETTINGS } from './tokens.js';

type JobMetadata = SyncJobOptions | SyncJobOptionsFactory;

/**
 * Finds every `@SyncJob` method among the application's providers and adds it to the engine.
 *
 * Runs in `onModuleInit`: every provider instance exists by then (Nest instantiates the whole graph
 * before any init hook), and the engine starts only later, on application bootstrap, so the first
 * tick already sees every job. All problems (bad options, duplicate names, request-scoped hosts,
 * overrides naming no job) are collected and thrown as one `SyncConfigError`.
 */
@Injectable()
export class SyncJobExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly engine: SyncEngine,
    @Inject(TIDESYNC_MODULE_OPTIONS) private readonly options: SyncModuleOptions | undefined,
    @Inject(TIDESYNC_SETTINGS) private readonly settings: ResolvedSettings,
    @Inject(TIDESYNC_LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    const issues: ConfigIssue[] = [];
    const names = new Set((this.options?.jobs ?? []).map((job) => job.name));
    const seen = new Set<unknown>();

    for (const wrapper of this.discovery.getProviders()) {
      const instance: unknown = wrapper.instance;
      // Aliases (`useExisting`) point at an instance found under its own provider.
      if (wrapper.isAlias || !instance || typeof instance !== 'object' || seen.has(instance)) continue;
      seen.add(instance);
      const host = instance as Record<string, unknown>;
      for (const method of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance))) {
        const handler = host[method];
        if (typeof handler !== 'function') continue;
        const metadata = this.reflector.get<JobMetadata | undefined>(SYNC_JOB_METADATA, handler);
        if (!metadata) continue;
        const where = `${instance.constructor.name}.${method}`;
        if (!wrapper.isDependencyTreeStatic()) {
          issues.push({ path: where, message: '@SyncJob needs a singleton provider; this one is request- or transient-scoped' });
          continue;
        }
        try {
          const options = typeof metadata === 'function' ? metadata(instance) : metadata;
          const job: JobDefinition = { ...options, plan: (context) => handler.call(instance, context) };
          names.add(job.name);
          const effective = applyJobOverride(job, this.settings.jobOverrides);
          if (effective) this.engine.addJob(effective);
          this.logger.debug({ job: job.name, method: where, enabled: effective !== undefined }, 'job discovered');
        } catch (err) {
          // Core's issues keep their paths; prefix them with the method so the user finds the decorator.
          if (err instanceof SyncConfigError) issues.push(...err.issues.map((i) => ({ path: `${where}.${i.path}`, message: i.message })));
          else issues.push({ path: where, message: errorMessage(err) });
        }
      }
    }

    for (const name of Object.keys(this.settings.jobOverrides)) {
      if (!names.has(name)) issues.push({ path: `jobOverrides.${name}`, message: `no job named "${name}"` });
    }
    if (issues.length > 0) throw new SyncConfigError('tidesync jobs', issues);
  }
}
