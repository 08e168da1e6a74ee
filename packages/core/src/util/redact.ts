/**
 * `postgres://user:secret@host/db` → `postgres://user:***@host/db`; also `password=…` key/value
 * strings and query parameters (`?password=…`, which node-postgres reads). For connection strings
 * and the error messages drivers build from them, wherever they may reach a log line or an error.
 */
export function redactConnectionString(text: string): string {
  return (
    text
      // Up to the line's last '@': a password may hold an unencoded '@' of its own, or a space
      // (which node-postgres accepts). Hiding too much of a line beats showing part of a password.
      .replace(/(\w+:\/\/[^:/?#@\s]*:).*@/g, '$1***@')
      .replace(/(password\s*=\s*)('[^']*'|\S+)/gi, '$1***')
  );
}
