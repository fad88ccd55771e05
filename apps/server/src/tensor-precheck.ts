// The request schema rejects an unknown tensor dtype as 'malformed' along with everything else;
// the protocol names it 'bad_tensor'. Look at the dtype fields first so the client learns which.
import { WIRE_PRECISIONS } from '@splitwise/core';
import { ProtocolError } from '@splitwise/protocol';

const dtypeOf = (t: unknown): unknown => (t && typeof t === 'object' ? (t as { dtype?: unknown }).dtype : undefined);

export function precheckDtypes(msg: unknown): void {
  if (!msg || typeof msg !== 'object') return;
  const m = msg as { x?: unknown; rebuild?: unknown };
  const tensors = [m.x, ...(Array.isArray(m.rebuild) ? m.rebuild.slice(0, 4096).map((r: unknown) => (r && typeof r === 'object' ? (r as { x?: unknown }).x : undefined)) : [])];
  for (const t of tensors) {
    const d = dtypeOf(t);
    if (d !== undefined && !(WIRE_PRECISIONS as readonly unknown[]).includes(d)) {
      throw new ProtocolError('bad_tensor', `unknown tensor dtype ${JSON.stringify(String(d).slice(0, 32))}; use ${WIRE_PRECISIONS.join(', ')}`);
    }
  }
}
