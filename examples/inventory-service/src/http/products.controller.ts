import { Body, ConflictException, Controller, Delete, Get, HttpCode, Inject, Logger, NotFoundException, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Product } from '../products-repository.js';
import type { ServiceRuntime } from '../runtime.js';
import { SERVICE_RUNTIME } from '../tokens.js';
import { AdminTokenGuard } from './admin-token.guard.js';
import { QUEUE_ANSWER_MS } from './sync.controller.js';
import { productBodySchema, productDaysSchema } from './openapi.js';
import { ZodPipe, createProductBody, productIdParam, updateProductBody } from './validation.js';

const idPipe = () => new ZodPipe(productIdParam, 'productId');
const log = new Logger('Products');

/**
 * The product change is saved by then; planning its keys may wait for the sync queue (with
 * SYNC_QUEUE=bullmq, its server may be away). The request is answered after `QUEUE_ANSWER_MS` at
 * most and the planning goes on, taking effect when the queue answers (the next tick plans the
 * keys anyway). A planning that fails before then fails the request, as before.
 */
async function planningAtMost(work: Promise<unknown>, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), QUEUE_ANSWER_MS)));
  try {
    if ((await Promise.race([work.then(() => 'done' as const), late])) === 'late') {
      log.warn(`${what}: saved; the sync queue did not answer within ${QUEUE_ANSWER_MS / 1000} s, so its keys are planned when it does`);
      work.catch((err: unknown) => log.warn(`${what}: planning failed (${(err as Error).message}); the next tick plans its keys`));
    }
  } finally {
    clearTimeout(timer);
  }
}

@ApiTags('products')
@Controller('products')
export class ProductsController {
  constructor(@Inject(SERVICE_RUNTIME) private readonly runtime: ServiceRuntime) {}

  @Get()
  @ApiOperation({ summary: 'Products being synced, with their operating weekdays' })
  list(): Promise<Product[]> {
    return this.runtime.products.list();
  }

  @Post()
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Start syncing a product; its keys are planned at once' })
  @ApiBody({ schema: productBodySchema })
  async create(@Body(new ZodPipe(createProductBody, 'body')) body: Product): Promise<Product> {
    if (!(await this.runtime.products.create(body))) throw new ConflictException(`product ${body.productId} exists (PATCH it to change its days)`);
    await planningAtMost(this.runtime.planAdded(body.productId), `product ${body.productId} added`);
    return (await this.runtime.products.get(body.productId))!;
  }

  @Get(':productId')
  @ApiParam({ name: 'productId', example: 14 })
  async get(@Param('productId', idPipe()) productId: number): Promise<Product> {
    const product = await this.runtime.products.get(productId);
    if (!product) throw new NotFoundException(`product ${productId} not found`);
    return product;
  }

  @Patch(':productId')
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiParam({ name: 'productId', example: 14 })
  @ApiBody({ schema: productDaysSchema })
  async update(@Param('productId', idPipe()) productId: number, @Body(new ZodPipe(updateProductBody, 'body')) body: Pick<Product, 'days'>): Promise<Product> {
    const before = await this.runtime.products.get(productId);
    if (!before || !(await this.runtime.products.update({ productId, days: body.days }))) throw new NotFoundException(`product ${productId} not found`);
    // A weekday added back may still hold rows from before it was dropped: fetch its dates now.
    await planningAtMost(this.runtime.planAdded(productId, body.days.filter((d) => !before.days.includes(d))), `product ${productId} changed`);
    return (await this.runtime.products.get(productId))!;
  }

  @Delete(':productId')
  @HttpCode(204)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiParam({ name: 'productId', example: 14 })
  async remove(@Param('productId', idPipe()) productId: number): Promise<void> {
    if (!(await this.runtime.products.remove(productId))) throw new NotFoundException(`product ${productId} not found`);
    await planningAtMost(this.runtime.forgetProduct(productId), `product ${productId} deleted`);
  }
}
