/**
 * `pnpm start`: validate the environment, start everything, log where to look, drain on SIGTERM.
 */
import { ConfigError, loadConfig } from './config.js';
import { logLevels, startInventoryService } from './service.js';
import { Logger } from '@nestjs/common';
import { errorMessage } from '@tidesync/core';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`inventory-service: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  Logger.overrideLogger(logLevels(config.logLevel));
  const service = await startInventoryService({ config, host: '0.0.0.0' });
  const logger = new Logger('InventoryService');
  const base = `http://localhost:${new URL(service.url).port}/api/v1`;
  const products = await service.runtime.products.list();
  logger.log(`listening on ${base} — docs ${base}/docs, status ${base}/sync/status, health ${base}/health`);
  if (products.length > 0) {
    const p = products[0]!;
    logger.log(`products: ${products.map((x) => `${x.productId} (${x.days.join(',')})`).join(', ')} — try ${base}/experience/${p.productId}/dates`);
  } else {
    logger.log(`no products yet: POST ${base}/products {"productId": 14, "days": ["Mon","Tue","Wed"]}`);
  }

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) {
      // A second signal: the operator does not want to wait for the drain (or for a backend that
      // is away); leave now. What was in flight is fetched again after the restart.
      logger.warn(`${signal} again: exiting without waiting for the shutdown to finish`);
      process.exit(1);
    }
    closing = true;
    logger.log(`${signal}: draining in-flight fetches and closing`);
    service.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error(`shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`inventory-service failed to start: ${errorMessage(err)}`);
  process.exit(1);
});
