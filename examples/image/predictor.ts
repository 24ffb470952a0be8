import sharp from "sharp";
import type { UploadFile } from "../../index";

/**
 * Image model for `/predict_image`: decodes the upload with sharp and answers its format, size and
 * mean colour. For a file named `*.thumb.png` it returns a 128 px PNG thumbnail as an image
 * response, showing how a predictor sends an image back.
 */
export class Predictor {
  load(): void {
    // sharp loads its native library on first import; nothing else to warm up.
  }

  async predict(file: UploadFile) {
    let image: sharp.Sharp;
    let metadata: sharp.Metadata;
    try {
      image = sharp(await file.read());
      metadata = await image.metadata();
    } catch {
      return new Response(JSON.stringify({ error: `${file.filename} is not an image sharp can decode` }), {
        status: 422,
        headers: { "content-type": "application/json" },
      });
    }
    if (file.filename.endsWith(".thumb.png") || file.filename.endsWith(".thumb")) {
      const thumbnail = await image.resize(128, 128, { fit: "inside" }).png().toBuffer();
      return new Response(new Uint8Array(thumbnail), { headers: { "content-type": "image/png" } });
    }
    const stats = await image.stats();
    return {
      filename: file.filename,
      format: metadata.format,
      width: metadata.width,
      height: metadata.height,
      channels: metadata.channels,
      meanColor: stats.channels.slice(0, 3).map((channel) => Math.round(channel.mean)),
    };
  }
}
