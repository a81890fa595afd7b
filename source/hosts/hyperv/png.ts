// Hyper-V's thumbnails are raw RGB 565; a drill report wants a picture anyone can open. A
// minimal PNG encoder (8-bit RGB, no filtering, one zlib stream) — enough for a 640×480 frame.
import { crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
	const length = Buffer.alloc(4);
	length.writeUInt32BE(data.length);
	const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
	const crc = Buffer.alloc(4);
	crc.writeUInt32BE(crc32(typed) >>> 0);
	return Buffer.concat([length, typed, crc]);
}

/** RGB 565 (2 bytes a pixel, little-endian, rows top to bottom) → PNG. Missing pixels are black. */
export function rgb565ToPng(pixels: Buffer, width: number, height: number): Buffer {
	if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || width > 8192 || height > 8192) {
		throw new Error(`a thumbnail of ${width}×${height} pixels cannot be turned into a picture`);
	}
	const stride = width * 3 + 1;
	const raw = Buffer.alloc(stride * height);
	for (let y = 0; y < height; y++) {
		raw[y * stride] = 0; // filter: none
		for (let x = 0; x < width; x++) {
			const offset = (y * width + x) * 2;
			const value = offset + 1 < pixels.length ? pixels.readUInt16LE(offset) : 0;
			const out = y * stride + 1 + x * 3;
			// Widen each channel to 8 bits, repeating its top bits so white stays 255.
			const r = (value >> 11) & 0x1f;
			const g = (value >> 5) & 0x3f;
			const b = value & 0x1f;
			raw[out] = (r << 3) | (r >> 2);
			raw[out + 1] = (g << 2) | (g >> 4);
			raw[out + 2] = (b << 3) | (b >> 2);
		}
	}
	const header = Buffer.alloc(13);
	header.writeUInt32BE(width, 0);
	header.writeUInt32BE(height, 4);
	header[8] = 8; // bits per channel
	header[9] = 2; // colour type: RGB
	header[10] = 0;
	header[11] = 0;
	header[12] = 0;
	return Buffer.concat([SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
