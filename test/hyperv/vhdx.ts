// Minimal VHDX files for tests: the file type identifier and two headers with valid CRC-32C
// checksums (MS-VHDX §2.2), optionally with a LogGuid set (a log waiting to be replayed).
import { crc32c } from '../../source/hosts/hyperv/vhdx.ts';

export function fakeVhdx(options: { pendingLog?: boolean; size?: number } = {}): Buffer {
	const file = Buffer.alloc(options.size ?? 256 * 1024);
	file.write('vhdxfile', 0, 'latin1');
	for (const [offset, sequence] of [
		[64 * 1024, 1n],
		[128 * 1024, 2n],
	] as const) {
		const header = Buffer.alloc(4096);
		header.write('head', 0, 'latin1');
		header.writeBigUInt64LE(sequence, 8);
		if (options.pendingLog && sequence === 2n) header.fill(0xab, 48, 64);
		header.writeUInt32LE(crc32c(header), 4);
		header.copy(file, offset);
	}
	return file;
}
