import { Logger as NestLogger, type LoggerService } from '@nestjs/common';
import type { Logger } from '@tidesync/core';

/**
 * The engine's pino-shaped logger (`info(fields, message)`) written to a Nest `LoggerService`.
 *
 * The default target is `new Logger('Tidesync')`, whose output follows whatever the application
 * configured (`app.useLogger`, `logger: false`, JSON mode), so the engine needs no logging setup of
 * its own. Fields are appended as JSON to the message; core never puts secrets in fields.
 */
export function createNestLoggerBridge(target: LoggerService = new NestLogger('Tidesync')): Logger {
  const line = (fields: Record<string, unknown>, message?: string): string => {
    const extra = Object.keys(fields).length > 0 ? JSON.stringify(fields) : '';
    return [message, extra].filter(Boolean).join(' ');
  };
  return {
    debug: (fields, message) => target.debug?.(line(fields, message)),
    info: (fields, message) => target.log(line(fields, message)),
    warn: (fields, message) => target.warn(line(fields, message)),
    error: (fields, message) => target.error(line(fields, message)),
  };
}
