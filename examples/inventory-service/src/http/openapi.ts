/** OpenAPI schemas for /docs: the response shapes of partner-api.md and the request bodies. */
import type { ApiOkResponse } from '@nestjs/swagger';
import { WEEKDAYS } from '../calendar.js';

// @nestjs/swagger exports no path to its SchemaObject type; take it from a decorator's options.
type SchemaObject = Extract<NonNullable<Parameters<typeof ApiOkResponse>[0]>, { schema: unknown }>['schema'];

const price: SchemaObject = {
  type: 'object',
  required: ['finalPrice', 'currencyCode', 'originalPrice'],
  properties: { finalPrice: { type: 'number', example: 242.14 }, currencyCode: { type: 'string', example: 'SGD' }, originalPrice: { type: 'number', example: 342.14 } },
};

const pax: SchemaObject = {
  type: 'object',
  required: ['type', 'price', 'remaining'],
  properties: {
    type: { type: 'string', example: 'ADULT_12~99' },
    name: { type: 'string', example: 'Adult' },
    description: { type: 'string', example: '12-99 years' },
    price,
    min: { type: 'integer' },
    max: { type: 'integer' },
    remaining: { type: 'integer' },
  },
};

export const slotsResponseSchema: SchemaObject = {
  type: 'array',
  items: {
    type: 'object',
    required: ['startTime', 'startDate', 'price', 'remaining', 'paxAvailability'],
    properties: {
      startTime: { type: 'string', example: '09:00' },
      startDate: { type: 'string', format: 'date' },
      price,
      remaining: { type: 'integer' },
      paxAvailability: { type: 'array', items: pax },
    },
  },
};

export const datesResponseSchema: SchemaObject = {
  type: 'object',
  properties: { dates: { type: 'array', items: { type: 'object', properties: { date: { type: 'string', format: 'date' }, price } } } },
};

const days: SchemaObject = { type: 'array', items: { type: 'string', enum: [...WEEKDAYS] }, example: ['Mon', 'Tue', 'Wed'] };

export const productBodySchema: SchemaObject = { type: 'object', required: ['productId', 'days'], properties: { productId: { type: 'integer', example: 16 }, days } };
export const productDaysSchema: SchemaObject = { type: 'object', required: ['days'], properties: { days } };
export const triggerBodySchema: SchemaObject = { type: 'object', properties: { job: { type: 'string', enum: ['today', 'week', 'month'] } } };
