/**
 * A minimal PNG decoder for test screenshots (8-bit RGB/RGBA, non-interlaced, as Chromium
 * writes them): enough to count pixels, with no image library.
 */
import { inflateSync } from "node:zlib";

/** Decoded image: `data` is RGBA, 4 bytes per pixel, row-major. */
export interface Image {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decodes a PNG buffer; throws on anything but 8-bit RGB/RGBA without interlacing. */
export function decodePNG(buf: Uint8Array): Image {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!sig.every((b, i) => buf[i] === b)) throw new Error("not a PNG");
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  while (pos < buf.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...buf.subarray(pos + 4, pos + 8));
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      const depth = body[8];
      const color = body[9];
      if (depth !== 8 || (color !== 2 && color !== 6) || body[12] !== 0) {
        throw new Error(
          `unsupported PNG: depth ${depth}, colour type ${color}, interlace ${body[12]}`,
        );
      }
      channels = color === 6 ? 4 : 3;
    } else if (type === "IDAT") {
      idat.push(body);
    } else if (type === "IEND") {
      break;
    }
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(width * height * 4);
  const prev = new Uint8Array(stride);
  const cur = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels] : 0;
      const b = prev[i];
      const c = i >= channels ? prev[i - channels] : 0;
      let v = line[i];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[i] = v & 255;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < 3; k++) out[(y * width + x) * 4 + k] = cur[x * channels + k];
      out[(y * width + x) * 4 + 3] = channels === 4 ? cur[x * channels + 3] : 255;
    }
    prev.set(cur);
  }
  return { width, height, data: out };
}

/** Number of pixels within `tol` (per channel) of the colour `#rrggbb`. */
export function countColor(img: Image, hex: string, tol = 24): number {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  let n = 0;
  for (let i = 0; i < img.data.length; i += 4) {
    if (
      Math.abs(img.data[i] - r) <= tol &&
      Math.abs(img.data[i + 1] - g) <= tol &&
      Math.abs(img.data[i + 2] - b) <= tol
    )
      n++;
  }
  return n;
}

/** Share of pixels that differ from the most common colour (the background) by more than 16. */
export function inkFraction(img: Image): { ink: number; colours: number } {
  const counts = new Map<number, number>();
  for (let i = 0; i < img.data.length; i += 4) {
    const k = (img.data[i] << 16) | (img.data[i + 1] << 8) | img.data[i + 2];
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  let bg = 0;
  let best = -1;
  for (const [k, c] of counts) if (c > best) [bg, best] = [k, c];
  const br = bg >> 16;
  const bgG = (bg >> 8) & 255;
  const bb = bg & 255;
  let ink = 0;
  for (let i = 0; i < img.data.length; i += 4) {
    if (
      Math.abs(img.data[i] - br) > 16 ||
      Math.abs(img.data[i + 1] - bgG) > 16 ||
      Math.abs(img.data[i + 2] - bb) > 16
    )
      ink++;
  }
  return { ink: ink / (img.width * img.height), colours: counts.size };
}
