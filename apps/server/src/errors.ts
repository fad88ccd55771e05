// Every failure a client causes is answered with a typed {code, message}; this maps the engine's
// error classes onto the protocol's codes.
import { ContextLengthError, ExecutorStateError, InvalidPlanError, SplitwiseError, TensorShapeError } from '@splitwise/core';
import { ProtocolError, type WireError } from '@splitwise/protocol';

export function wireErrorOf(e: unknown): WireError {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ProtocolError) return { code: e.code, message };
  // the executor refuses a request that does not follow from its state: a repeated or late seq,
  // positions that skip or repeat, blocks the session's plan gives to the other side
  if (e instanceof ExecutorStateError) return { code: 'out_of_order', message };
  if (e instanceof TensorShapeError) return { code: 'bad_tensor', message };
  if (e instanceof ContextLengthError) return { code: 'too_large', message };
  if (e instanceof InvalidPlanError) return { code: 'invalid_plan', message };
  if (e instanceof SplitwiseError) return { code: e.code, message };
  return { code: 'internal', message: 'internal error' }; // details go to the log, not to the client
}

export const errorReply = (error: WireError): { type: 'error'; error: WireError } => ({ type: 'error', error });
