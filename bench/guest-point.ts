// Benchmark backups: the lab guest (so it boots and shows its marker) grown to a virtual size,
// optionally followed by random data for the copy to move.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { writeManifest } from '../test/support/restore-points.ts';

const MiB = 2 ** 20;

/** `<destination>/<vm>/p1`: the guest grown to `virtualSize`, with `dataBytes` of random data from 256 MiB on. Returns the disk. */
export async function makePoint(destination: string, vm: string, guestImage: string, virtualSize: number, dataBytes = 0): Promise<string> {
	const dir = path.join(destination, vm, 'p1');
	await fs.mkdir(dir, { recursive: true });
	const raw = path.join(dir, 'disk0.raw');
	await fs.copyFile(guestImage, raw);
	const handle = await fs.open(raw, 'r+');
	try {
		await handle.truncate(virtualSize);
		// Random data (incompressible, no zero runs), written in 64 MiB chunks.
		for (let offset = 0; offset < dataBytes; offset += 64 * MiB) await handle.write(randomBytes(Math.min(64 * MiB, dataBytes - offset)), 0, undefined, 256 * MiB + offset);
	} finally {
		await handle.close();
	}
	const disk = path.join(dir, 'disk0.qcow2');
	await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk]);
	await fs.rm(raw);
	// A backup: read-only, like the sample destination's.
	await fs.chmod(disk, 0o444);
	await writeManifest(dir, { takenAt: new Date().toISOString(), vm: { memoryMiB: 256 }, disks: [{ file: 'disk0.qcow2', format: 'qcow2', virtualSize }] });
	return disk;
}
