import { Controller, Get, Inject, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { addDays, addMonths, dateIn, weekdayOf } from '../calendar.js';
import { lastSyncedDate } from '../cadences.js';
import type { DatePrice, Slot } from '../inventory-queries.js';
import type { Product } from '../products-repository.js';
import { SERVICE_RUNTIME } from '../tokens.js';
import type { ServiceRuntime } from '../runtime.js';
import { datesResponseSchema, slotsResponseSchema } from './openapi.js';
import { ZodPipe, dateQuery, productIdParam } from './validation.js';

/** Swagger's example date: the next Monday from when the service started (a fixed one would go by). */
const exampleDate = (() => {
  let date = addDays(dateIn(Date.now(), 'UTC'), 1);
  while (weekdayOf(date) !== 'Mon') date = addDays(date, 1);
  return date;
})();

@ApiTags('experience')
@Controller('experience')
export class ExperienceController {
  constructor(@Inject(SERVICE_RUNTIME) private readonly runtime: ServiceRuntime) {}

  private async known(productId: number): Promise<Product> {
    const product = await this.runtime.products.get(productId);
    if (!product) throw new NotFoundException(`product ${productId} is not synced (POST /api/v1/products to add it)`);
    return product;
  }

  @Get(':id/slots')
  @ApiOperation({ summary: 'Slots of a product on one date, sorted by start time', description: 'A date before today (in SYNC_TIMEZONE) has none.' })
  @ApiParam({ name: 'id', description: 'product id', example: 14 })
  @ApiQuery({ name: 'date', description: 'YYYY-MM-DD', example: exampleDate })
  @ApiOkResponse({ schema: slotsResponseSchema })
  async slots(@Param('id', new ZodPipe(productIdParam, 'id')) productId: number, @Query('date', new ZodPipe(dateQuery, 'date')) date: string): Promise<Slot[]> {
    const product = await this.known(productId);
    // A date gone by is never fetched again; its rows stay until the hourly prune removes them,
    // and serving them meanwhile would show seats that can no longer be sold. A valid date, so
    // 200 with no slots, like any date without any.
    const today = dateIn(this.runtime.now(), this.runtime.config.timezone);
    if (date < today) return [];
    // Nor is a date beyond the synced range (rows kept from when SYNC_MONTH_DAYS was larger).
    if (date > lastSyncedDate(today, this.runtime.config)) return [];
    // A weekday the product is not synced on is never refreshed: rows kept from before it was
    // dropped would be served stale, so such a date has no slots.
    if (!product.days.includes(weekdayOf(date))) return [];
    return this.runtime.queries.slotsOn(productId, date);
  }

  @Get(':id/dates')
  @ApiOperation({
    summary: 'Dates from today to two months ahead with seats left, each with its lowest price',
    description:
      'Only synced dates can be listed: today and days +1…+SYNC_MONTH_DAYS (default 30). Dates beyond it are not synced and do not appear; SYNC_MONTH_DAYS=62 fills the whole two-month window.',
  })
  @ApiParam({ name: 'id', description: 'product id', example: 14 })
  @ApiOkResponse({ schema: datesResponseSchema })
  async dates(@Param('id', new ZodPipe(productIdParam, 'id')) productId: number): Promise<{ dates: DatePrice[] }> {
    const product = await this.known(productId);
    const today = dateIn(this.runtime.now(), this.runtime.config.timezone);
    const last = lastSyncedDate(today, this.runtime.config);
    const twoMonths = addMonths(today, 2);
    const dates = await this.runtime.queries.availableDates(productId, today, last < twoMonths ? last : twoMonths);
    return { dates: dates.filter((d) => product.days.includes(weekdayOf(d.date))) };
  }
}
