// The socket.io parser both ends of the link use: the default one (binary as attachments), with
// two limits set for our messages instead of socket.io's defaults.
// - socket.io-parser's Decoder refuses packets with more than 10 binary attachments and closes the
//   connection; a cloud-only reply on gpt2-small carries x + 11 checkpoints (twice that in int8,
//   with scales), and a plan change rebuilds up to n_layer layers. Both socket.io and
//   socket.io-client build their Decoder without options, so the limit can only be raised by
//   passing this parser to both.
// - engine.io's maxHttpBufferSize caps each frame, and every attachment is its own frame: without
//   a cap on their sum one message could buffer (attachments x maxHttpBufferSize) bytes.
import { Decoder, Encoder, protocol, type Packet } from 'socket.io-parser';

export interface WireParserLimits {
  /** Most binary attachments in one packet. */
  maxAttachments: number;
  /** Most bytes of binary attachments in one packet (their sum); Infinity = no cap. */
  maxMessageBytes: number;
}

/** Attachments a message of a model with `nLayer` layers may need: x, partial, a checkpoint per layer, int8 scales for each. */
export const attachmentsFor = (nLayer: number): number => 2 * (nLayer + 2) + 8;

export interface WireParser {
  protocol: number;
  Encoder: typeof Encoder;
  Decoder: new () => Decoder;
}

const byteLength = (b: unknown): number =>
  b instanceof ArrayBuffer ? b.byteLength : ArrayBuffer.isView(b) ? b.byteLength : 0;

/** The parser module to pass as `parser` to socket.io's Server and to socket.io-client's io(). */
export function wireParser(limits: WireParserLimits): WireParser {
  class LimitedDecoder extends Decoder {
    private pending = 0;
    constructor() {
      super({ maxAttachments: limits.maxAttachments });
    }
    override add(obj: unknown): void {
      // a string starts a packet; binary frames are its attachments
      if (typeof obj === 'string') this.pending = 0;
      else {
        this.pending += byteLength(obj);
        // throwing here is how socket.io-parser reports a bad packet: the connection is closed
        if (this.pending > limits.maxMessageBytes) throw new Error(`message attachments exceed ${limits.maxMessageBytes} bytes`);
      }
      super.add(obj);
    }
  }
  return { protocol, Encoder, Decoder: LimitedDecoder };
}

export type { Packet };
