import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, boot, converged, eventually, sleep, testDatabase, type Harness, type TestDatabase } from './helpers.js';
import { createPartnerSimulator, type PartnerSimulator } from '../src/simulator/partner-simulator.js';
import { TEST_CATALOG, TEST_WINDOW_MS } from './helpers.js';

// One database through three lives of the service: the default cadences (15 min / 4 h / 1 day),
// so after the first sync every key is fresh for far longer than the test runs.
describe.each(backends)('pause, abort and restarts on %s', (backend) => {
  let db: TestDatabase;
  let sim: PartnerSimulator;
  let h: Harness | undefined;

  beforeAll(async () => {
    db = await testDatabase(backend);
    sim = createPartnerSimulator({ token: 'sim-secret-token', products: TEST_CATALOG, limit: 30, windowMs: TEST_WINDOW_MS });
    await sim.start();
  });
  afterAll(async () => {
    await h?.close();
    await sim?.close();
    await db?.drop();
  });

  const restart = async () => {
    await h?.close();
    h = await boot({ db, sim });
    return h;
  };
  const arrivalsSince = (at: number) => sim.arrivals.filter((a) => a.at >= at);

  it('a restart keeps freshness: no refetch storm', async () => {
    const first = await restart();
    await eventually(() => converged(first), 30_000);
    const fetched = sim.arrivals.length;
    expect(fetched).toBeGreaterThan(10);

    const restartedAt = Date.now();
    const second = await restart();
    await sleep(2_500);
    expect(arrivalsSince(restartedAt)).toEqual([]);
    await converged(second); // and the data is all still there
    const { body } = await second.get('/sync/status');
    for (const cadence of body.cadences) expect(cadence.freshness.stale).toBe(0);
  });

  it('pause stops fetching, survives a restart, and resume starts again', async () => {
    const auth = {};
    expect((await h!.request('PATCH', '/sync/pause', undefined, auth)).body).toEqual({ paused: true, force: false });
    const pausedAt = Date.now();
    await h!.request('POST', '/sync/trigger', {}, auth); // plenty of work, none of it may go out
    await sleep(1_500);
    expect(arrivalsSince(pausedAt)).toEqual([]);
    expect((await h!.get('/sync/status')).body.paused).toBe(true);

    const restartedAt = Date.now();
    const again = await restart();
    expect((await again.get('/sync/status')).body.paused).toBe(true);
    await again.request('POST', '/sync/trigger', {});
    await sleep(1_500);
    expect(arrivalsSince(restartedAt)).toEqual([]);

    const resumedAt = Date.now();
    expect((await again.request('PATCH', '/sync/resume')).body).toEqual({ paused: false });
    await eventually(() => expect(arrivalsSince(resumedAt).length).toBeGreaterThan(5), 10_000);
    expect((await again.get('/sync/status')).body.paused).toBe(false);
  });

  it('pause with force=true aborts requests in flight at once', async () => {
    await eventually(async () => expect((await h!.get('/sync/status')).body.cadences.every((c: { queued: number; inFlight: number }) => c.queued + c.inFlight === 0)).toBe(true), 20_000);
    sim.inject({ kind: 'hang', ms: 60_000, times: 100 });
    await h!.request('POST', '/sync/trigger', { job: 'week' });
    await eventually(async () => {
      const { body } = await h!.get('/sync/status');
      expect(body.cadences.reduce((n: number, c: { inFlight: number }) => n + c.inFlight, 0)).toBeGreaterThan(0);
    }, 10_000);
    const t0 = Date.now();
    expect((await h!.request('PATCH', '/sync/pause?force=true')).body).toEqual({ paused: true, force: true });
    await eventually(async () => {
      const { body } = await h!.get('/sync/status');
      expect(body.cadences.reduce((n: number, c: { inFlight: number }) => n + c.inFlight, 0)).toBe(0);
    }, 3_000);
    expect(Date.now() - t0).toBeLessThan(3_000);
    sim.clearFaults();
    expect((await h!.request('PATCH', '/sync/pause?force=maybe')).status).toBe(400);
    await h!.request('PATCH', '/sync/resume');
    await eventually(() => converged(h!), 20_000);
  });
});
