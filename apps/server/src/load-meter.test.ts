// The load a probe's reply reports: the share of the window covered by the union of requests in
// hand, all sessions' and other sessions' only (overlapping requests count once), and the mean
// number of other sessions' requests in hand (overlapping ones each count); requests still in hand
// count up to now, and old ones leave the window.
import { describe, expect, it } from 'vitest';
import { LoadMeter } from './load-meter.ts';

describe('LoadMeter', () => {
  it('reports the union of busy intervals over the window, with the asking session left out of "others"', () => {
    let now = 0;
    const m = new LoadMeter(1000, () => now, 20_000, 0);
    expect(m.report('a')).toEqual({ all: 0, others: 0, concurrency: 0, sessions: 0, windowMs: 1000, pricingShare: 0 });
    // a: [1000, 1400); b: [1200, 1600) overlapping it; c: [1800, ...) still in hand at 2000
    now = 1000;
    const endA = m.begin('a');
    now = 1200;
    const endB = m.begin('b');
    now = 1400;
    endA();
    now = 1600;
    endB();
    now = 1800;
    m.begin('c');
    now = 2000;
    const r = m.report('a');
    expect(r.all).toBeCloseTo((600 + 200) / 1000, 9); // [1000,1600) and [1800,2000)
    expect(r.others).toBeCloseTo((400 + 200) / 1000, 9); // b's [1200,1600) and c's
    expect(r.concurrency).toBeCloseTo((400 + 200) / 1000, 9); // no two others overlap here
    expect(m.report('c').concurrency).toBeCloseTo((400 + 400) / 1000, 9); // a and b overlap: both count
    expect(r.sessions).toBe(3);
    expect(m.report('b').others).toBeCloseTo((400 + 200) / 1000, 9); // a's [1000,1400) and c's
    expect(m.report().others).toBeCloseTo(r.all, 9); // before hello: everyone is "other"
    // a second later only c, still in hand, is in the window
    now = 3000;
    expect(m.report('a')).toEqual({ all: 1, others: 1, concurrency: 1, sessions: 1, windowMs: 1000, pricingShare: 0 });
    expect(m.report('c').others).toBe(0);
  });

  it('reports the share of the others\' concurrency held by requests of sessions that price congestion', () => {
    let now = 0;
    const m = new LoadMeter(1000, () => now, 20_000, 0);
    // p (pricing) holds [0, 600), q (not) holds [200, 1000): for a, 600 of 1,400 ms held are priced
    const endP = m.begin('p', true);
    now = 200;
    const endQ = m.begin('q');
    now = 600;
    endP();
    now = 1000;
    endQ();
    expect(m.report('a').pricingShare).toBeCloseTo(600 / 1400, 9);
    expect(m.report('q').pricingShare).toBe(1); // its own requests are not the others'
    expect(m.report('p').pricingShare).toBe(0);
    now = 5000;
    expect(m.report('a').pricingShare).toBe(0); // nothing held: no share
  });

  it('reuses a session\'s report for reuseMs, so a client probing in a loop costs one computation per period', () => {
    let now = 0;
    const m = new LoadMeter(1000, () => now, 20_000, 100);
    const first = m.report('a');
    now = 10;
    m.begin('b');
    now = 50;
    expect(m.report('a')).toBe(first); // within 100 ms: the same report
    expect(m.report('c').others).toBeGreaterThan(0); // another session's is its own
    now = 150;
    expect(m.report('a').others).toBeGreaterThan(0);
  });

  it('keeps at most maxIntervals, dropping the oldest finished ones first', () => {
    let now = 0;
    const m = new LoadMeter(1e9, () => now, 10, 0);
    const inHand = m.begin('long');
    for (let i = 0; i < 100; i++) {
      now = i * 10;
      m.begin(`s${i}`)();
    }
    now = 2000;
    const r = m.report('x');
    expect(r.sessions).toBeLessThanOrEqual(10);
    expect(r.all).toBeGreaterThan(0);
    inHand();
  });
});
