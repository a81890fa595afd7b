// A VM's screen in a terminal: a PNG thumbnail (what the Hyper-V host captures) decoded and drawn
// as characters of growing ink, so an operator over SSH can tell a logon screen from a stop error
// or a black screen. The decoder reads non-interlaced 8-bit RGB and RGBA PNGs (every filter),
// which is what the host writes; anything else is refused with what it is.

export interface Picture {
	width: number;
	height: number;
	/** 8-bit RGB, row after row. */
	rgb: Buffer;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Light to dark on a dark terminal: a blank screen is blank, text stands out. */
const RAMP = ' .:-=+*#%@';

function paeth(left: number, up: number, upLeft: number): number {
	const estimate = left + up - upLeft;
	const [a, b, c] = [Math.abs(estimate - left), Math.abs(estimate - up), Math.abs(estimate - upLeft)];
	return a <= b && a <= c ? left : b <= c ? up : upLeft;
}

export function decodePng(png: Buffer): Picture {
	if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
	let width = 0;
	let height = 0;
	let channels = 0;
	const data: Buffer[] = [];
	for (let offset = 8; offset + 8 <= png.length; ) {
		const length = png.readUInt32BE(offset);
		const type = png.toString('latin1', offset + 4, offset + 8);
		const body = png.subarray(offset + 8, offset + 8 + length);
		if (type === 'IHDR') {
			width = body.readUInt32BE(0);
			height = body.readUInt32BE(4);
			const [depth, colour, , , interlace] = [body[8], body[9], body[10], body[11], body[12]];
			if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) throw new Error(`PNG of bit depth ${depth}, colour type ${colour}, interlace ${interlace}: only 8-bit RGB/RGBA, not interlaced`);
			channels = colour === 2 ? 3 : 4;
		} else if (type === 'IDAT') data.push(body);
		else if (type === 'IEND') break;
		offset += 12 + length;
	}
	if (channels === 0 || width === 0 || height === 0) throw new Error('PNG without a header');
	// zlib loads when a thumbnail is first drawn, not with the console's first frame.
	const raw = process.getBuiltinModule('node:zlib').inflateSync(Buffer.concat(data));
	const stride = width * channels;
	if (raw.length < height * (stride + 1)) throw new Error('PNG data shorter than its size');
	const rows = Buffer.alloc(height * stride);
	for (let y = 0; y < height; y++) {
		const filter = raw[y * (stride + 1)] ?? 0;
		const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
		for (let x = 0; x < stride; x++) {
			const at = y * stride + x;
			const left = x >= channels ? (rows[at - channels] ?? 0) : 0;
			const up = y > 0 ? (rows[at - stride] ?? 0) : 0;
			const upLeft = y > 0 && x >= channels ? (rows[at - stride - channels] ?? 0) : 0;
			const value = line[x] ?? 0;
			const predicted = filter === 1 ? left : filter === 2 ? up : filter === 3 ? (left + up) >> 1 : filter === 4 ? paeth(left, up, upLeft) : 0;
			rows[at] = (value + predicted) & 0xff;
		}
	}
	if (channels === 3) return { width, height, rgb: rows };
	const rgb = Buffer.alloc(width * height * 3);
	for (let pixel = 0; pixel < width * height; pixel++) rows.copy(rgb, pixel * 3, pixel * 4, pixel * 4 + 3);
	return { width, height, rgb };
}

/**
 * The picture in `columns` characters wide, its aspect kept (a terminal cell is about twice as
 * tall as wide), at most `maxRows` lines; each character is the mean brightness of its area.
 */
export function textPicture(picture: Picture, columns: number, maxRows: number): string[] {
	const cols = Math.max(1, Math.min(columns, Math.floor((maxRows * 2 * picture.width) / picture.height)));
	const rows = Math.max(1, Math.min(maxRows, Math.round((cols * picture.height) / picture.width / 2)));
	const lines: string[] = [];
	for (let row = 0; row < rows; row++) {
		const [top, bottom] = [Math.floor((row * picture.height) / rows), Math.max(Math.floor((row * picture.height) / rows) + 1, Math.floor(((row + 1) * picture.height) / rows))];
		let line = '';
		for (let col = 0; col < cols; col++) {
			const [left, right] = [Math.floor((col * picture.width) / cols), Math.max(Math.floor((col * picture.width) / cols) + 1, Math.floor(((col + 1) * picture.width) / cols))];
			let sum = 0;
			for (let y = top; y < bottom; y++) {
				for (let x = left; x < right; x++) {
					const at = (y * picture.width + x) * 3;
					sum += 0.2126 * (picture.rgb[at] ?? 0) + 0.7152 * (picture.rgb[at + 1] ?? 0) + 0.0722 * (picture.rgb[at + 2] ?? 0);
				}
			}
			const brightness = sum / ((bottom - top) * (right - left)) / 255;
			line += RAMP[Math.min(RAMP.length - 1, Math.floor(brightness * RAMP.length))] ?? ' ';
		}
		lines.push(line.trimEnd());
	}
	return lines;
}
