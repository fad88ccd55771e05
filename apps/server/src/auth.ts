// Token comparison in constant time (over digests, so unequal lengths take the same path).
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export function tokenMatches(expected: string | undefined, given: string | undefined): boolean {
  if (expected === undefined) return true;
  return given !== undefined && timingSafeEqual(digest(expected), digest(given));
}
