// Reads a VHDX file's headers (MS-VHDX §2.2) to tell, before anything opens it, whether it is a
// VHDX at all and whether its log must be replayed. Hyper-V cannot open a VHDX with a pending log
// read-only, and replaying it would write to the backup — so such a restore point is refused.
import fs from 'node:fs/promises';

const HEADER_OFFSETS = [64 * 1024, 128 * 1024];
const HEADER_SIZE = 4 * 1024;

export interface VhdxHeaderInfo {
	isVhdx: boolean;
	/** The current header's LogGuid is not zero: the log has entries to replay. */
	pendingLog: boolean;
	sequenceNumber: bigint | null;
}

let table: Uint32Array | null = null;

/** CRC-32C (Castagnoli), the checksum VHDX headers carry. */
export function crc32c(bytes: Uint8Array): number {
	if (!table) {
		table = new Uint32Array(256);
		for (let n = 0; n < 256; n++) {
			let c = n;
			for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
			table[n] = c >>> 0;
		}
	}
	let crc = 0xffffffff;
	for (const byte of bytes) crc = (table[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
	return (crc ^ 0xffffffff) >>> 0;
}

function validHeader(header: Buffer): boolean {
	if (header.subarray(0, 4).toString('latin1') !== 'head') return false;
	const expected = header.readUInt32LE(4);
	const copy = Buffer.from(header);
	copy.writeUInt32LE(0, 4);
	return crc32c(copy) === expected;
}

/** Parses the first 192 KiB of a file. */
export function parseVhdxHeaders(start: Buffer): VhdxHeaderInfo {
	if (start.length < 8 || start.subarray(0, 8).toString('latin1') !== 'vhdxfile') return { isVhdx: false, pendingLog: false, sequenceNumber: null };
	let current: Buffer | null = null;
	let sequence: bigint | null = null;
	for (const offset of HEADER_OFFSETS) {
		if (start.length < offset + HEADER_SIZE) continue;
		const header = start.subarray(offset, offset + HEADER_SIZE);
		if (!validHeader(header)) continue;
		const seq = header.readBigUInt64LE(8);
		if (sequence === null || seq > sequence) {
			sequence = seq;
			current = header;
		}
	}
	if (!current) return { isVhdx: true, pendingLog: false, sequenceNumber: null };
	const logGuid = current.subarray(48, 64);
	return { isVhdx: true, pendingLog: logGuid.some((byte) => byte !== 0), sequenceNumber: sequence };
}

/** Reads the headers of `file`; null when it cannot be read from here (the host's check then decides). */
export async function readVhdxHeaders(file: string): Promise<VhdxHeaderInfo | null> {
	const handle = await fs.open(file, 'r').catch(() => null);
	if (!handle) return null;
	try {
		const buffer = Buffer.alloc(HEADER_OFFSETS[1]! + HEADER_SIZE);
		const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
		return parseVhdxHeaders(buffer.subarray(0, bytesRead));
	} finally {
		await handle.close();
	}
}
