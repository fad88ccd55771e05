// socket.io's default Decoder refuses packets with more than 10 binary attachments (and the
// connection with them); a cloud-only reply on gpt2-small has 12, 24 in int8. wireParser raises
// that limit and caps the attachments' total size instead.
import { describe, expect, it } from 'vitest';
import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';
import { attachmentsFor, wireParser } from './parser.ts';

const packet = (n: number, bytes: number): Packet => ({
  type: PacketType.EVENT,
  nsp: '/',
  id: 1,
  data: ['cloud', { checkpoints: Array.from({ length: n }, (_, i) => ({ layer: i, data: new Uint8Array(bytes) })) }],
});

function decode(decoder: Decoder, p: Packet): Packet {
  let out: Packet | undefined;
  decoder.on('decoded', (d: Packet) => (out = d));
  for (const part of new Encoder().encode(p)) decoder.add(part);
  if (!out) throw new Error('not decoded');
  return out;
}

describe('wireParser', () => {
  it('decodes the attachments a gpt2-small int8 reply needs, where the default parser refuses them', () => {
    const n = 2 * (12 + 1); // x + 11 checkpoints + partial, each with int8 scales
    expect(() => decode(new Decoder(), packet(n, 8))).toThrow(/too many attachments/);
    const { Decoder: Wide } = wireParser({ maxAttachments: attachmentsFor(12), maxMessageBytes: Infinity });
    const got = decode(new Wide(), packet(n, 8));
    expect((got.data[1] as { checkpoints: unknown[] }).checkpoints).toHaveLength(n);
  });

  it('caps the sum of one packet\'s attachments, and counts afresh for the next packet', () => {
    const { Decoder: Capped } = wireParser({ maxAttachments: 64, maxMessageBytes: 1000 });
    expect(() => decode(new Capped(), packet(3, 400))).toThrow(/exceed 1000 bytes/);
    const d = new Capped();
    decode(d, packet(2, 400));
    expect(() => decode(d, packet(2, 400))).not.toThrow();
  });
});
