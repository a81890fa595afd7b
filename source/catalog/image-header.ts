// What a restore point's disk image says about itself, read from its header without running
// anything: its virtual size, and whether it points at another file (a qcow2 backing file or an
// external data file), which a self-contained restore point must not. Raw images are their size.
import fs from 'node:fs/promises';

export interface ImageHeader {
	virtualSize: number;
	/** The backing file a qcow2 image names, or null. */
	backingFile: string | null;
	/** A qcow2 image whose data lives in another file. */
	externalData: boolean;
}

const QCOW2_MAGIC = 0x514649fb;
/** qcow2 v3 incompatible feature bit 2: an external data file. */
const EXTERNAL_DATA_BIT = 0x4n;

/** Reads `file`'s header as `format` (qcow2 or raw); throws with a message a user can act on. */
export async function readImageHeader(file: string, format: 'qcow2' | 'raw'): Promise<ImageHeader> {
	const handle = await fs.open(file, 'r');
	try {
		const { size } = await handle.stat();
		if (format === 'raw') return { virtualSize: size, backingFile: null, externalData: false };
		const header = Buffer.alloc(104);
		const { bytesRead } = await handle.read(header, 0, header.length, 0);
		if (bytesRead < 72 || header.readUInt32BE(0) !== QCOW2_MAGIC) throw new Error('is not a qcow2 image (no qcow2 signature), though the domain XML says qcow2');
		const version = header.readUInt32BE(4);
		if (version !== 2 && version !== 3) throw new Error(`is qcow2 version ${version}, which QEMU does not open`);
		const backingOffset = header.readBigUInt64BE(8);
		const backingSize = header.readUInt32BE(16);
		let backingFile: string | null = null;
		if (backingOffset !== 0n) {
			const name = Buffer.alloc(Math.min(backingSize, 1023));
			await handle.read(name, 0, name.length, Number(backingOffset));
			backingFile = name.toString('utf8');
		}
		const externalData = version === 3 && bytesRead >= 80 && (header.readBigUInt64BE(72) & EXTERNAL_DATA_BIT) !== 0n;
		return { virtualSize: Number(header.readBigUInt64BE(24)), backingFile, externalData };
	} finally {
		await handle.close();
	}
}
