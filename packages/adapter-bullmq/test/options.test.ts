import { describe, expect, it } from 'vitest';
import { SyncConfigError, SyncError } from '@tidesync/core';
import { createBullMQAdapter, jobIdOf } from '../src/index.js';
import { connect } from '../src/connection.js';

// No server needed: connections are lazy, and these fail before any is opened.
describe('adapter-bullmq options', () => {
  it('lists every bad option in one SyncConfigError', () => {
    try {
      createBullMQAdapter({ connection: { mysql: 'x' } as never, name: 'has:colon' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SyncConfigError);
      const message = (err as Error).message;
      expect(message).toMatch(/connection/);
      expect(message).toMatch(/name/);
    }
  });

  it('rejects a namespace that is not a plain identifier, and a URL of the wrong kind', () => {
    expect(() => connect({ redis: 'redis://127.0.0.1:6379', prefix: 'Bad-Prefix' })).toThrow(SyncError);
    expect(() => connect({ postgres: 'postgres://127.0.0.1/test', schema: 'drop table' })).toThrow(/schema/);
    expect(() => connect({ redis: 'http://127.0.0.1:6379' })).toThrow(/redis:\/\//);
  });

  it('never shows a password in what it describes or reports', async () => {
    const redis = connect({ redis: 'redis://user:s3cret-pw@cache.internal:6380/2' });
    expect(redis.describe()).toBe('redis://user:***@cache.internal:6380/2 (prefix tidesync)');
    // A password holding an unencoded '@' is hidden whole, not up to its first '@'.
    expect(() => connect({ redis: 'http://user:p@ss@w0rd@cache.internal:6380' })).toThrow(/^(?![\s\S]*w0rd)[\s\S]*user:\*\*\*@cache\.internal/);
    const postgres = connect({ postgres: 'postgres://app:s3cret-pw@db.internal:5432/inv' });
    expect(postgres.describe()).not.toContain('s3cret-pw');
    expect(() => connect({ redis: 'redis://user:s3cret-pw@' })).toThrow();
    try {
      connect({ redis: 'redis://user:s3cret-pw@%zz' });
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret-pw');
    }
    await redis.close();
    await postgres.close();
  });

  it('derives BullMQ job ids from keys: no ":" (BullMQ reserves it), never purely numeric, one-to-one', () => {
    const keys = ['inventory:14:2026-11-28', '42', 'a%3Ab', 'a:b'];
    const ids = keys.map(jobIdOf);
    expect(ids.every((id) => !id.includes(':') && !/^\d+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(keys.length);
  });
});
