// Makes a VHDX "not closed cleanly": writes one valid log entry (MS-VHDX §2.3) into a copy of
// a healthy VHDX and points the headers at it, the state Hyper-V leaves when a host dies in
// the middle of a metadata update. QEMU then refuses to open the file read-only until the
// log is replayed (block/vhdx-log.c, vhdx_parse_log).
import fs from 'node:fs/promises';

const KiB = 1024;
const HEADER_OFFSETS = [64 * KiB, 128 * KiB];
const HEADER_SIZE = 4 * KiB;
const LOG_SECTOR = 4 * KiB;

const CRC32C_TABLE = (() => {
	const table = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
		table[n] = c >>> 0;
	}
	return table;
})();

/** CRC-32C (Castagnoli), as VHDX checksums use it: init ~0, final xor ~0. */
export function crc32c(data: Uint8Array): number {
	let crc = 0xffffffff;
	for (const byte of data) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
	return (crc ^ 0xffffffff) >>> 0;
}

/** Checksum of a structure whose own checksum field is at byte 4, computed with that field zeroed. */
function sealChecksum(buffer: Buffer): void {
	buffer.writeUInt32LE(0, 4);
	buffer.writeUInt32LE(crc32c(buffer), 4);
}

/** A fixed, non-zero LogGuid. */
const LOG_GUID = Buffer.from('5c1f0e2a9d3b4e7f8a6c2b1d0e9f8a7b', 'hex');

/**
 * Adds a pending log to the VHDX at `file` (a copy: it is rewritten in place). The entry holds
 * one zero descriptor for a 4 KiB sector of the header section's reserved (already zero)
 * area, so replaying it on a copy changes no data.
 */
export async function addPendingLog(file: string): Promise<void> {
	const handle = await fs.open(file, 'r+');
	try {
		const { size } = await handle.stat();
		const signature = Buffer.alloc(8);
		await handle.read(signature, 0, 8, 0);
		if (signature.toString('latin1') !== 'vhdxfile') throw new Error(`${file} is not a VHDX file`);
		// Both headers name the same log, so whichever is current (higher sequence number) has it.
		let logOffset = 0;
		let logLength = 0;
		for (const offset of HEADER_OFFSETS) {
			const header = Buffer.alloc(HEADER_SIZE);
			await handle.read(header, 0, HEADER_SIZE, offset);
			if (header.toString('latin1', 0, 4) !== 'head') throw new Error(`${file}: no VHDX header at ${offset}`);
			const stored = header.readUInt32LE(4);
			const check = Buffer.from(header);
			check.writeUInt32LE(0, 4);
			if (crc32c(check) !== stored) throw new Error(`${file}: the VHDX header at ${offset} has a bad checksum`);
			LOG_GUID.copy(header, 48); // LogGuid
			logLength = header.readUInt32LE(68);
			logOffset = Number(header.readBigUInt64LE(72));
			sealChecksum(header);
			await handle.write(header, 0, HEADER_SIZE, offset);
		}
		if (logLength < LOG_SECTOR || logOffset < 1024 * KiB) throw new Error(`${file}: unexpected log region (offset ${logOffset}, length ${logLength})`);

		const sequence = 7n;
		const entry = Buffer.alloc(LOG_SECTOR);
		entry.write('loge', 0, 'latin1');
		entry.writeUInt32LE(LOG_SECTOR, 8); // EntryLength: header and descriptors fit one sector
		entry.writeUInt32LE(0, 12); // Tail: this entry is the whole active sequence
		entry.writeBigUInt64LE(sequence, 16);
		entry.writeUInt32LE(1, 24); // DescriptorCount
		LOG_GUID.copy(entry, 32);
		entry.writeBigUInt64LE(BigInt(size), 48); // FlushedFileOffset
		entry.writeBigUInt64LE(BigInt(size), 56); // LastFileOffset
		// Zero descriptor: 4 KiB of zeros at 512 KiB (the header section's reserved area).
		entry.write('zero', 64, 'latin1');
		entry.writeBigUInt64LE(BigInt(LOG_SECTOR), 72); // ZeroLength
		entry.writeBigUInt64LE(512n * 1024n, 80); // FileOffset
		entry.writeBigUInt64LE(sequence, 88);
		sealChecksum(entry);
		await handle.write(entry, 0, LOG_SECTOR, logOffset);
	} finally {
		await handle.close();
	}
}
