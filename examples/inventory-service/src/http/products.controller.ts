import { Body, ConflictException, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Product } from '../products-repository.js';
import type { ServiceRuntime } from '../runtime.js';
import { SERVICE_RUNTIME } from '../tokens.js';
import { AdminTokenGuard } from './admin-token.guard.js';
import { productBodySchema, productDaysSchema } from './openapi.js';
import { ZodPipe, createProductBody, productIdParam, updateProductBody } from './validation.js';

const idPipe = () => new ZodPipe(productIdParam, 'productId');

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
    await this.runtime.planAdded(body.productId);
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
    await this.runtime.planAdded(productId, body.days.filter((d) => !before.days.includes(d)));
    return (await this.runtime.products.get(productId))!;
  }

  @Delete(':productId')
  @HttpCode(204)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiParam({ name: 'productId', example: 14 })
  async remove(@Param('productId', idPipe()) productId: number): Promise<void> {
    if (!(await this.runtime.products.remove(productId))) throw new NotFoundException(`product ${productId} not found`);
    await this.runtime.forgetProduct(productId);
  }
}
