// Which page origins may open a socket or fetch the API. WebSockets are not covered by CORS, so
// the socket.io handshake checks the Origin header itself (allowRequest).
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export type OriginCheck = (origin: string | undefined, host: string | undefined) => boolean;

/**
 * `allowed` lists exact origins ("http://example.com:8080"), or ['*'] for any. Without a list:
 * requests with no Origin (Node clients), same-origin pages, and pages from loopback origins
 * (a local dev server proxying to this one).
 */
export function originPolicy(allowed?: readonly string[]): OriginCheck {
  if (allowed?.includes('*')) return () => true;
  return (origin, host) => {
    if (origin === undefined) return true;
    if (allowed) return allowed.includes(origin);
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      return false;
    }
    return u.host === host || LOOPBACK.has(u.hostname);
  };
}
