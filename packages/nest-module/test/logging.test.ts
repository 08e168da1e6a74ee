import 'reflect-metadata';
import type { LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createMemoryStore } from '@tidesync/adapter-memory';
import type { Logger } from '@tidesync/core';
import { describe, expect, it, vi } from 'vitest';
import { SyncModule, TIDESYNC_LOGGER, createNestLoggerBridge } from '../src/index.js';
import { recordingSource } from './fixtures.js';

const nestLoggerSpy = () => ({ log: vi.fn(), warn: vi.fn(), error: vi.fn(), debug: vi.fn(), verbose: vi.fn() }) satisfies LoggerService;
const pinoSpy = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() }) satisfies Logger;

describe('logging', () => {
  it('maps pino-shaped calls onto a Nest LoggerService, fields as JSON after the message', () => {
    const target = nestLoggerSpy();
    const bridge = createNestLoggerBridge(target);
    bridge.info({ job: 'today', planned: 3 }, 'tick planned');
    bridge.warn({}, 'plain');
    bridge.error({ err: 'boom' });
    bridge.debug({ a: 1 }, 'detail');
    expect(target.log).toHaveBeenCalledWith('tick planned {"job":"today","planned":3}');
    expect(target.warn).toHaveBeenCalledWith('plain');
    expect(target.error).toHaveBeenCalledWith('{"err":"boom"}');
    expect(target.debug).toHaveBeenCalledWith('detail {"a":1}');
  });

  it('writes to the application’s Nest logger by default, under the Tidesync context', async () => {
    const appLogger = nestLoggerSpy();
    const moduleRef = await Test.createTestingModule({
      imports: [SyncModule.forRoot({ source: recordingSource(), store: createMemoryStore() })],
    })
      .setLogger(appLogger)
      .compile();
    await moduleRef.init();
    await moduleRef.close();
    expect(appLogger.log).toHaveBeenCalledWith(expect.stringContaining('sync engine started'), 'Tidesync');
    expect(appLogger.log).toHaveBeenCalledWith(expect.stringContaining('sync engine stopped'), 'Tidesync');
  });

  it('uses a pino-shaped logger when one is given', async () => {
    const logger = pinoSpy();
    const moduleRef = await Test.createTestingModule({
      imports: [SyncModule.forRoot({ source: recordingSource(), store: createMemoryStore(), logger })],
    }).compile();
    await moduleRef.init();
    expect(moduleRef.get(TIDESYNC_LOGGER)).toBe(logger);
    expect(logger.info).toHaveBeenCalledWith(expect.objectContaining({ jobs: [] }), 'sync engine started');
    await moduleRef.close();
  });
});
