import { timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { SERVICE_CONFIG } from '../tokens.js';
import type { ServiceConfig } from '../config.js';

/**
 * When SYNC_ADMIN_TOKEN is set, control and product-changing endpoints need
 * `Authorization: Bearer <token>`. Compared in constant time; the token is never echoed.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer | undefined;

  constructor(@Inject(SERVICE_CONFIG) config: ServiceConfig) {
    this.expected = config.adminToken ? Buffer.from(config.adminToken) : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected) return true;
    const header = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    const given = Buffer.from(match?.[1] ?? '');
    if (given.length === this.expected.length && timingSafeEqual(given, this.expected)) return true;
    throw new UnauthorizedException(match ? 'invalid admin token' : 'this endpoint needs Authorization: Bearer <SYNC_ADMIN_TOKEN>');
  }
}
