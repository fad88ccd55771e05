// @splitwise/protocol: the wire between edge and cloud. No I/O here (socket.io-parser style):
// the server and the socket link use these schemas, codecs and event maps.
export * from './errors.ts';
export * from './wire-codec.ts';
export * from './messages.ts';
export * from './link-stats.ts';
