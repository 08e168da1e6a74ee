import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, dateIn } from '../src/calendar.js';
import type { FaultKind } from '../src/simulator/partner-simulator.js';
import { backends, boot, converged, eventually, expectedSlots, sleep, testDatabase, type Harness, type TestDatabase } from './helpers.js';

describe.each(backends)('partner faults on %s', (backend) => {
  let h: Harness;
  let db: TestDatabase;
  const today = dateIn(Date.now(), 'UTC');
  const served = async () => (await h.get(`/experience/16/slots?date=${today}`)).body;

  beforeAll(async () => {
    db = await testDatabase(backend);
    h = await boot({ db, service: { partnerTimeoutMs: 500, retry: { baseDelayMs: 100, maxDelayMs: 300, attempts: 50, jitter: 0 } } });
    await eventually(() => converged(h), 30_000);
  });
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it.each<FaultKind>(['status500', 'status503', 'html', 'truncated', 'invalid-slot', 'reset', 'hang'])(
    '%s: the scope keeps its previous data while the fault lasts, then converges on retry',
    async (kind) => {
      const before = await served();
      // The partner's truth moves on, but every answer for this scope is broken for now.
      h.sim.update(16, today, (slots) => slots.map((s) => ({ ...s, remaining: s.remaining + 7, paxAvailability: s.paxAvailability.map((p) => ({ ...p, remaining: p.remaining + 7 })) })));
      h.sim.inject({ kind, productId: 16, date: today, times: 1_000, ms: 2_000 });
      const from = h.sim.arrivals.length;
      await h.request('POST', '/sync/trigger', { job: 'today' });
      await eventually(() => expect(h.sim.arrivals.slice(from).filter((a) => a.fault === kind).length).toBeGreaterThanOrEqual(2), 10_000);
      expect(await served()).toEqual(before);
      const status = (await h.get('/sync/status')).body;
      expect(status.cadences[0].retried + status.cadences[0].failed).toBeGreaterThan(0);

      h.sim.clearFaults();
      await eventually(async () => expect(await served()).toEqual(expectedSlots(h.sim.truth(16, today))), 10_000);
    },
  );

  it('another date\'s slots are rejected: the scope keeps its rows, the wrong slots are never served', async () => {
    const before = await served();
    const asked = h.sim.truth(16, today);
    // The partner answers today's request with tomorrow's slots (seats changed too, so serving
    // them as today's would show).
    const tomorrow = addDays(today, 1);
    h.sim.update(16, today, () => h.sim.truth(16, tomorrow).map((s) => ({ ...s, remaining: s.remaining + 7 })));
    const from = h.sim.arrivals.length;
    await h.request('POST', '/sync/trigger', { job: 'today' });
    const asks = () => h.sim.arrivals.slice(from).filter((a) => a.productId === 16 && a.date === today).length;
    await eventually(() => expect(asks()).toBeGreaterThanOrEqual(1), 10_000);
    await sleep(500); // longer than a write takes (flushMs 50)
    expect(await served()).toEqual(before);
    // Rejected as an invalid payload: retried, the rows kept meanwhile.
    await eventually(() => expect(asks()).toBeGreaterThanOrEqual(2), 10_000);
    expect(await served()).toEqual(before);
    const status = (await h.get('/sync/status')).body;
    expect(status.cadences[0].retried + status.cadences[0].failed).toBeGreaterThan(0);

    h.sim.update(16, today, () => asked);
    await eventually(async () => expect(await served()).toEqual(expectedSlots(asked)), 10_000);
  });

  it('429 with rateLimitState.reset freezes the whole budget until the reset', async () => {
    h.sim.inject({ kind: 'rate-limit', ms: 2_000 });
    const from = h.sim.arrivals.length;
    await h.request('POST', '/sync/trigger', {});
    await eventually(() => expect(h.sim.arrivals.slice(from).some((a) => a.fault === 'rate-limit')).toBe(true), 5_000);
    const limited = h.sim.arrivals.slice(from).find((a) => a.fault === 'rate-limit')!;
    const status = (await h.get('/sync/status')).body;
    expect(status.budget.frozenUntil).not.toBeNull();
    await eventually(() => converged(h), 20_000);
    // Requests granted before the 429 may still land just after it; nothing granted later may
    // arrive before the reset.
    const during = h.sim.arrivals.filter((a) => a.at > limited.at + 150 && a.at < limited.at + 2_000);
    expect(during).toEqual([]);
  });

  it('never puts the partner token in a status, health answer or error', async () => {
    h.sim.inject({ kind: 'status500', productId: 16, date: today, times: 3 });
    await h.request('POST', '/sync/trigger', { job: 'today' });
    await sleep(500);
    const texts = JSON.stringify([(await h.get('/sync/status')).body, (await h.get('/health')).body]);
    expect(texts).not.toContain(h.sim.token!);
    h.sim.clearFaults();
  });
});
