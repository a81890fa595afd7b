// Benchmark backups: the lab guest (so it boots and shows its marker) grown to a virtual size,
// optionally followed by random data for the copy to move.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { writeManifest } from '../test/support/restore-points.ts';

const MiB = 2 ** 20;
const CHUNK = 64 * MiB;

/**
 * `<destination>/<vm>/p1`: the guest grown to `virtualSize`, with `dataBytes` of random data from
 * 256 MiB on, as qcow2 (or kept raw: real-size backups skip a second pass over their data).
 * Returns the disk.
 */
export async function makePoint(destination: string, vm: string, guestImage: string, virtualSize: number, dataBytes = 0, format: 'qcow2' | 'raw' = 'qcow2'): Promise<string> {
	const dir = path.join(destination, vm, 'p1');
	await fs.mkdir(dir, { recursive: true });
	const raw = path.join(dir, 'disk0.raw');
	await fs.copyFile(guestImage, raw);
	const handle = await fs.open(raw, 'r+');
	try {
		await handle.truncate(virtualSize);
		// Incompressible, no zero runs. One random chunk, its first bytes changed each time: nothing
		// on this path deduplicates, and 16 GiB of fresh randomness would cost a minute of CPU.
		const chunk = randomBytes(Math.min(CHUNK, Math.max(dataBytes, 1)));
		for (let offset = 0; offset < dataBytes; offset += CHUNK) {
			chunk.writeUInt32LE(offset / CHUNK, 0);
			await handle.write(chunk, 0, Math.min(CHUNK, dataBytes - offset), 256 * MiB + offset);
		}
		if (dataBytes > 0) await handle.sync();
	} finally {
		await handle.close();
	}
	let disk = raw;
	if (format === 'qcow2') {
		disk = path.join(dir, 'disk0.qcow2');
		await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk]);
		await fs.rm(raw);
	}
	// A backup: read-only, like the sample destination's.
	await fs.chmod(disk, 0o444);
	await writeManifest(dir, { takenAt: new Date().toISOString(), vm: { memoryMiB: 256 }, disks: [{ file: path.basename(disk), format, virtualSize }] });
	return disk;
}

/**
 * The backup read cold, the programs warm: only `file`'s pages leave the page cache (GNU dd's
 * nocache with count=0 drops a whole file), as on a host where the backup was not read lately
 * but qemu-img, virsh and node are in memory. Dropping every cache would time paging them in too.
 */
export async function evictFromCache(file: string): Promise<void> {
	await execa('sync');
	await execa('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
}
