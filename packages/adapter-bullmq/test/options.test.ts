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

  it('lists connection, name and queue problems together, each one named', () => {
    const problems = [
      { connection: { redis: undefined }, name: 'ok', queue: { lockDurationMs: 5 } },
      { connection: { redis: 42 }, name: 'ok', queue: { pollMs: -1 } },
      { connection: { redis: 'redis://127.0.0.1:6379', prefix: 'Bad-Prefix' }, name: 'has:colon', queue: { deadlineResolutionMs: 0 } },
      { connection: { postgres: '  ', schema: 'drop table' }, name: 'ok', queue: { keepFinishedSeconds: 1.5 } },
    ];
    const expected = [
      ['connection.redis', 'queue.lockDurationMs'],
      ['connection.redis', 'queue.pollMs'],
      ['connection.prefix', 'name', 'queue.deadlineResolutionMs'],
      ['connection.postgres', 'connection.schema', 'queue.keepFinishedSeconds'],
    ];
    for (const [i, options] of problems.entries()) {
      let caught: unknown;
      try {
        createBullMQAdapter(options as never);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SyncConfigError);
      expect((caught as SyncConfigError).issues.map((issue) => issue.path).sort()).toEqual(expected[i]);
    }
  });

  it('refuses a redis URL whose path is not a database number, or whose password has a broken escape, without showing it', () => {
    for (const url of ['redis://user:s3cret-pw@cache.internal:6380/abc', 'redis://user:s3cret%zz-pw@cache.internal:6380']) {
      let caught: unknown;
      try {
        connect({ redis: url });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SyncConfigError);
      expect((caught as Error).message).toMatch(/database number|%-escape/);
      expect((caught as Error).message).not.toMatch(/s3cret/);
    }
  });

  it('takes every connection string node-postgres reads, and shows none that it refuses', async () => {
    for (const postgres of ['postgres://app@db/x', 'postgresql://db/x', 'socket:/var/run/postgresql?db=x', '/var/run/postgresql x', 'host=db password=s3cret dbname=x']) {
      await connect({ postgres }).close();
    }
    expect(() => connect({ redis: 'host=db password=s3cret' })).toThrow(/^(?![\s\S]*s3cret)[\s\S]*not a URL/);
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
    // node-postgres also reads a password from the query string.
    const inQuery = connect({ postgres: 'postgres://app@db.internal:5432/inv?sslmode=disable&password=s3cret-pw' });
    expect(inQuery.describe()).toMatch(/^(?![\s\S]*s3cret)postgres:\/\/app@db\.internal:5432\/inv\?sslmode=disable&password=\*\*\*/);
    await inQuery.close();
    expect(() => connect({ redis: 'redis://user:s3cret-pw@' })).toThrow(/^(?![\s\S]*s3cret)[\s\S]*not a URL/);
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
