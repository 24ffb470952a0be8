/**
 * The frame layout between the runtime and its Python host (runtime/predictor/python/budgetml_host.py reads
 * and writes the same): `u32 BE header length | u32 BE body length | header JSON | body bytes`.
 * Bodies travel as raw bytes — uploads and binary answers are never base64'd.
 */

/** One frame: a small JSON header and a body of raw bytes. */
export interface Frame {
  header: Record<string, unknown>;
  body: Buffer;
}

const PREFIX_BYTES = 8;

/** The frame's bytes as a list to write in order (the body is not copied). */
export function encodeFrame(header: Record<string, unknown>, body: Buffer = EMPTY): Buffer[] {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix.writeUInt32BE(json.length, 0);
  prefix.writeUInt32BE(body.length, 4);
  if (body.length < 16 * 1024) return [Buffer.concat([prefix, json, body])];
  return [Buffer.concat([prefix, json]), body];
}

const EMPTY = Buffer.alloc(0);

/**
 * Reassembles frames from a byte stream. Chunks are kept as they arrive and joined once per
 * frame, so a large body costs one copy however many chunks it came in.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Adds bytes from the stream; returns every frame they complete, in order. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < PREFIX_BYTES) break;
      const prefix = this.peek(PREFIX_BYTES);
      const headerLength = prefix.readUInt32BE(0);
      const bodyLength = prefix.readUInt32BE(4);
      const total = PREFIX_BYTES + headerLength + bodyLength;
      if (this.buffered < total) break;
      const bytes = this.take(total);
      frames.push({
        header: JSON.parse(bytes.toString("utf8", PREFIX_BYTES, PREFIX_BYTES + headerLength)) as Record<
          string,
          unknown
        >,
        body: bytes.subarray(PREFIX_BYTES + headerLength),
      });
    }
    return frames;
  }

  private peek(length: number): Buffer {
    if (this.chunks[0].length < length) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  /** Removes and returns the first `length` bytes. */
  private take(length: number): Buffer {
    if (this.chunks[0].length < length) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0];
    const taken = first.subarray(0, length);
    if (first.length === length) this.chunks.shift();
    else this.chunks[0] = first.subarray(length);
    this.buffered -= length;
    return taken;
  }
}
