/**
 * Request validation with zod: a pipe that turns a failed parse into 400 with the reasons, and the
 * schemas the controllers share.
 */
import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { WEEKDAYS } from '../calendar.js';
import { isIsoDate } from '../calendar.js';

export class ZodPipe<T> implements PipeTransform<unknown, T> {
  constructor(
    private readonly schema: z.ZodType<T>,
    private readonly what: string,
  ) {}

  transform(value: unknown): T {
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    const reasons = result.error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message));
    throw new BadRequestException(`${this.what}: ${reasons.join('; ')}`);
  }
}

export const productIdParam = z
  .string({ message: 'is required' })
  .regex(/^\d{1,9}$/, 'must be a positive integer')
  .transform(Number)
  .refine((n) => n > 0, 'must be a positive integer');

export const dateQuery = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required (YYYY-MM-DD)' : 'must be given once, as YYYY-MM-DD') })
  .refine(isIsoDate, 'must be a real calendar date written YYYY-MM-DD');

const days = z
  .array(z.enum(WEEKDAYS, { message: `each day must be one of ${WEEKDAYS.join(', ')}` }))
  .min(1, 'list at least one operating weekday')
  .max(7)
  .refine((d) => new Set(d).size === d.length, 'a weekday is listed twice');

export const createProductBody = z.object(
  {
    productId: z.number({ message: 'must be a number' }).int('must be an integer').positive('must be positive').max(999_999_999),
    days,
  },
  { message: 'expected a JSON object { productId, days }' },
).strict();

export const updateProductBody = z.object({ days }, { message: 'expected a JSON object { days }' }).strict();

export const triggerBody = z
  .object({ job: z.enum(['today', 'week', 'month'], { message: 'job must be one of today, week, month' }).optional() }, { message: 'expected a JSON object' })
  .strict()
  .optional()
  .transform((b) => b ?? {});

export const forceQuery = z
  .enum(['true', 'false', '1', '0', ''], { message: 'force must be true or false' })
  .optional()
  .transform((v) => v === 'true' || v === '1' || v === '');
