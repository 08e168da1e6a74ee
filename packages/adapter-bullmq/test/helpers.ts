import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { connect, type Backend } from '../src/connection.js';

/** Set by CI to the local servers; without them these suites are skipped (they need real servers). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

export type BackendKind = 'Redis' | 'PostgreSQL';
export const backendKinds: BackendKind[] = [...(TEST_REDIS_URL ? (['Redis'] as const) : []), ...(TEST_DATABASE_URL ? (['PostgreSQL'] as const) : [])];

export const uniqueName = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

/** A namespace of its own on the chosen server: a key prefix on Redis, a schema on PostgreSQL. */
export interface TestNamespace {
  kind: BackendKind;
  namespace: string;
  /** A new connection into the namespace (each one is a separate "instance"). */
  connect(): Backend;
  /** Drop an instance's connections without closing anything it holds, as a killed process would. */
  crash(backend: Backend): Promise<void>;
  drop(): Promise<void>;
}

export function testNamespace(kind: BackendKind): TestNamespace {
  const namespace = uniqueName('tst');
  const opened: Backend[] = [];
  return {
    kind,
    namespace,
    connect() {
      const backend = kind === 'Redis' ? connect({ redis: TEST_REDIS_URL!, prefix: namespace }) : connect({ postgres: TEST_DATABASE_URL!, schema: namespace });
      opened.push(backend);
      return backend;
    },
    async crash(backend) {
      // Its connections go; the queue on top never gets to release or renew what it holds.
      await backend.close();
    },
    async drop() {
      for (const b of opened.splice(0)) await b.close();
      if (kind === 'Redis') {
        const redis = new Redis(TEST_REDIS_URL!);
        let cursor = '0';
        do {
          const [next, found] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
          cursor = next;
          if (found.length > 0) await redis.del(...found);
        } while (cursor !== '0');
        await redis.quit();
      } else {
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${namespace}" CASCADE`);
        await client.end();
      }
    },
  };
}
