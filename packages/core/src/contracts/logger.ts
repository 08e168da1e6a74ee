/**
 * Logger — pino-shaped: `logger.info({ ...fields }, 'message')`.
 *
 * Guarantees of tidesync towards any logger it is given:
 * - It never logs secrets: headers, tokens and connection strings are never passed in fields,
 *   and error messages built from remote responses are redacted first.
 * - A logger that throws does not break the engine.
 * The default is a no-op logger: a library is silent unless asked.
 */
export type LogFn = (fields: Record<string, unknown>, message?: string) => void;

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export const noopLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** Wrap a user logger so that a throwing logger can never take the engine down. */
export function safeLogger(logger: Logger | undefined): Logger {
  if (!logger) return noopLogger;
  const guard =
    (level: keyof Logger): LogFn =>
    (fields, message) => {
      try {
        logger[level](fields, message);
      } catch {
        // Logging must never change the outcome of the work being logged.
      }
    };
  return { debug: guard('debug'), info: guard('info'), warn: guard('warn'), error: guard('error') };
}
