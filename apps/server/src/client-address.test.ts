// The client address behind proxies, and the brute-force window.
import { describe, expect, it } from 'vitest';
import { AddressCounts, addressResolver, AuthFailures, normalizeAddress } from './client-address.ts';

describe('client address', () => {
  it('is the peer unless the peer is a trusted proxy', () => {
    const untrusting = addressResolver([]);
    expect(untrusting('10.0.0.9', '198.51.100.1')).toBe('10.0.0.9');
    expect(untrusting('::ffff:10.0.0.9', undefined)).toBe('10.0.0.9');
    expect(untrusting(undefined, undefined)).toBe('unknown');
    expect(normalizeAddress('::1')).toBe('::1');
  });

  it('through trusted proxies: the nearest untrusted hop of X-Forwarded-For, read from the right', () => {
    const r = addressResolver(['127.0.0.1', '10.0.0.2']);
    expect(r('127.0.0.1', '198.51.100.1')).toBe('198.51.100.1');
    expect(r('::ffff:127.0.0.1', '198.51.100.1')).toBe('198.51.100.1');
    // the client wrote "1.2.3.4" itself; the proxy appended what it saw
    expect(r('127.0.0.1', '1.2.3.4, 198.51.100.1')).toBe('198.51.100.1');
    // two proxies in a row
    expect(r('127.0.0.1', '198.51.100.1, 10.0.0.2')).toBe('198.51.100.1');
    expect(r('127.0.0.1', ['198.51.100.1', '10.0.0.2'])).toBe('198.51.100.1');
    // garbage stops the walk at the last address we can vouch for
    expect(r('127.0.0.1', 'not-an-ip')).toBe('127.0.0.1');
    expect(r('127.0.0.1', 'junk, 10.0.0.2')).toBe('10.0.0.2');
    expect(r('127.0.0.1', '')).toBe('127.0.0.1');
    expect(r('127.0.0.1', undefined)).toBe('127.0.0.1');
    // an untrusted peer's header is ignored
    expect(r('203.0.113.1', '198.51.100.1')).toBe('203.0.113.1');
  });

  it('counts per address', () => {
    const c = new AddressCounts();
    c.add('a');
    c.add('a');
    c.add('b');
    expect([c.get('a'), c.get('b'), c.addresses]).toEqual([2, 1, 2]);
    c.remove('a');
    c.remove('a');
    c.remove('b');
    expect(c.addresses).toBe(0);
  });
});

describe('failed access-token attempts', () => {
  it('block an address after max failures until the oldest leaves the window; others are not affected', () => {
    let t = 0;
    const f = new AuthFailures(3, 1000, 100, () => t);
    for (let i = 0; i < 3; i++) {
      expect(f.blockedForMs('x')).toBe(0);
      f.fail('x');
      t += 100;
    }
    expect(f.blockedForMs('x')).toBe(700); // the first failure (t=0) leaves at t=1000; now t=300
    expect(f.blockedForMs('y')).toBe(0);
    t = 1000;
    expect(f.blockedForMs('x')).toBe(0);
    t = 5000;
    expect(f.blockedForMs('x')).toBe(0);
    expect(f.addresses).toBe(0); // forgotten once the window is empty
  });

  it('hold a bounded number of addresses', () => {
    const f = new AuthFailures(2, 60_000, 10, () => 0);
    for (let i = 0; i < 1000; i++) f.fail(`10.0.${i >> 8}.${i & 255}`);
    expect(f.addresses).toBe(10);
  });
});
