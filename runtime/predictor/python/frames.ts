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

/** Bodies this large are written as they are, after their frame's prefix, rather than copied. */
const COPY_BELOW = 16 * 1024;

/**
 * Frames as bytes to write in order: consecutive small frames packed into one buffer (one copy of
 * each body), a large body written as it is after its prefix.
 */
export function encodeFrames(frames: ReadonlyArray<Frame>): Buffer[] {
  const parts: Buffer[] = [];
  let packed: Array<{ json: string; jsonBytes: number; body: Buffer; inline: boolean }> = [];
  let packedBytes = 0;
  const pack = () => {
    if (packed.length === 0) return;
    const out = Buffer.allocUnsafe(packedBytes);
    let at = 0;
    for (const { json, jsonBytes, body, inline } of packed) {
      out.writeUInt32BE(jsonBytes, at);
      out.writeUInt32BE(body.length, at + 4);
      out.write(json, at + PREFIX_BYTES, "utf8");
      at += PREFIX_BYTES + jsonBytes;
      if (inline) at += body.copy(out, at);
    }
    parts.push(out);
    packed = [];
    packedBytes = 0;
  };
  for (const { header, body } of frames) {
    const json = JSON.stringify(header);
    const jsonBytes = Buffer.byteLength(json);
    const inline = body.length < COPY_BELOW;
    packed.push({ json, jsonBytes, body, inline });
    packedBytes += PREFIX_BYTES + jsonBytes + (inline ? body.length : 0);
    if (!inline) {
      pack();
      parts.push(body); // right after its prefix and header
    }
  }
  pack();
  return parts;
}

/** One frame's bytes, as {@link encodeFrames}. */
export function encodeFrame(header: Record<string, unknown>, body: Buffer = EMPTY): Buffer[] {
  return encodeFrames([{ header, body }]);
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
