// Errors that cross the wire as {code, message} and are rebuilt as a class on the other side.
import { SplitwiseError } from '@splitwise/core';

export const PROTOCOL_ERROR_CODES = [
  'malformed', // fails the message schema
  'bad_tensor', // wrong dtype, shape or byte length
  'unsupported_version',
  'unknown_session',
  'unknown_model', // hello names a model the server does not host
  'too_large', // over a size limit
  'out_of_order', // a repeated or late sequence number, or a position gap
  'rate_limited',
  'busy', // the server has no room for another session
  'unauthorized',
  'timeout',
  'internal',
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export class ProtocolError extends SplitwiseError {
  constructor(
    readonly protocolCode: ProtocolErrorCode | string,
    message: string,
  ) {
    super(protocolCode, message);
  }
}

/** The form errors take on the wire. */
export interface WireError {
  code: string;
  message: string;
}

export const toWireError = (e: unknown): WireError =>
  e instanceof SplitwiseError ? { code: e.code, message: e.message } : { code: 'internal', message: e instanceof Error ? e.message : String(e) };

export const fromWireError = (w: WireError): ProtocolError => new ProtocolError(w.code, w.message);
