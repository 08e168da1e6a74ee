import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { redactConnectionString } from '@tidesync/adapter-postgres';
import { SyncError } from '@tidesync/core';
import { StorageUnavailableError } from '../database.js';

/**
 * A database that is away: a query of the service's own, or one of the engine's store calls (pause
 * and resume persist their state, trigger reads freshness), which adapter-postgres reports as
 * core's `STORE_FAILED`.
 */
const databaseAway = (error: unknown): error is Error =>
  error instanceof StorageUnavailableError || (error instanceof SyncError && error.code === 'STORE_FAILED');

/**
 * HTTP errors pass through as Nest renders them. A database that is away answers 503 (the client
 * may retry); anything else is a bug: 500 with no internals in the body, the cause in the log.
 */
@Catch()
export class ErrorsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  catch(error: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<{ status(code: number): { json(body: unknown): void } }>();
    if (error instanceof HttpException) {
      const body = error.getResponse();
      res.status(error.getStatus()).json(typeof body === 'string' ? { statusCode: error.getStatus(), message: body } : body);
      return;
    }
    // body-parser's errors (malformed JSON, too large) carry their own 4xx status.
    const status = (error as { status?: unknown; type?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json({ statusCode: status, message: (error as Error).message });
      return;
    }
    if (databaseAway(error)) {
      // Both kinds come redacted; redacting again costs nothing and keeps a password out of the log
      // should a store ever pass a driver's message through as it is.
      this.logger.warn(redactConnectionString(error.message));
      res.status(503).json({ statusCode: 503, message: 'the database is unavailable; retry shortly' });
      return;
    }
    this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    res.status(500).json({ statusCode: 500, message: 'internal error' });
  }
}
