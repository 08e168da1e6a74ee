/**
 * Request bodies are JSON or nothing. Nest's JSON parser skips a body of any other content type,
 * and the controller then sees no body at all: `POST /sync/trigger` with `today` as text/plain
 * would trigger every cadence, fetching every key, fresh or not. Such a request is refused with
 * 415 before it reaches a controller. An empty body is no body, whatever its declared type.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

const hasBody = (req: IncomingMessage): boolean => {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
};

export function jsonBodiesOnly(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  if (!BODY_METHODS.has(req.method ?? '') || !hasBody(req)) return next();
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'application/json') return next();
  res.statusCode = 415;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  const given = type === '' ? 'none' : JSON.stringify(type.slice(0, 100));
  res.end(JSON.stringify({ statusCode: 415, message: `request bodies must be JSON (content-type: application/json); content type given: ${given}` }));
}
