// The lab guest really boots (TCG: this machine's KVM cannot run guest code) and really
// writes: to a throwaway overlay, and from a sample restore point, never to the backup.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { restorePointSchema } from '../../source/catalog/schema.ts';
import { GUEST_MARKER } from '../../source/qemu/lab-guest.ts';
import { readGuestFile, readGuestLog } from '../../source/lab-builder/guest.ts';
import { initLab, type LabSummary } from '../../source/lab-builder/init.ts';
import { labPaths, type Paths } from '../../source/core/paths.ts';
import {
	createOverlayFile,
	overlayDisk,
	readSerial,
	removeTree,
	sha256,
	startGuest,
	testPaths,
	waitForMarker,
	waitForTicks,
	type BootDisk,
	type RunningGuest,
} from './helpers.ts';

let root: string;
let paths: Paths;
let summary: LabSummary;
const started: RunningGuest[] = [];

beforeAll(async () => {
	({ root, paths } = await testPaths());
	summary = await initLab(paths);
}, 600_000);

afterEach(async () => {
	// Every QEMU a test started is killed by its pid, pass or fail.
	for (const guest of started.splice(0)) await guest.kill();
});

afterAll(async () => {
	if (root) await removeTree(root);
});

async function boot(disks: readonly BootDisk[]): Promise<RunningGuest> {
	const guest = await startGuest(root, disks);
	started.push(guest);
	return guest;
}

function bootId(serial: string): string {
	const id = new RegExp(`${GUEST_MARKER} boot=(\\S+)`).exec(serial)?.[1];
	if (!id) throw new Error(`no boot id in serial log:\n${serial}`);
	return id;
}

function ticks(log: string, id: string): number {
	return log.split('\n').filter((line) => line.startsWith(`tick ${id} `)).length;
}

describe('lab guest', () => {
	it('boots to its marker under TCG and appends ticks to guest.log', async () => {
		const copy = path.join(root, 'guest-copy.raw');
		await fs.copyFile(summary.guestImage, copy);
		const overlay = path.join(root, 'guest-overlay.qcow2');
		await createOverlayFile(overlay, copy, 'raw');
		const copyHash = await sha256(copy);

		const guest = await boot([overlayDisk('d0', copy, 'raw', overlay)]);
		const markerMs = await waitForMarker(guest, GUEST_MARKER, 60_000);
		console.log(`lab guest: boot to marker ${markerMs} ms (TCG)`);
		await waitForTicks(guest, 2);
		const id = bootId(await readSerial(guest));
		// While QEMU still has the overlay open: read through force-share.
		expect(ticks(await readGuestLog(overlay, 'qcow2'), id)).toBeGreaterThanOrEqual(1);
		await guest.kill();

		expect(ticks(await readGuestLog(overlay, 'qcow2'), id)).toBeGreaterThanOrEqual(2);
		expect(await readGuestLog(copy, 'raw')).toBe('');
		expect(await sha256(copy)).toBe(copyHash);
	});

	for (const vm of ['db01', 'files01']) {
		it(`boots ${vm}'s newest restore point from read-only backup disks`, async () => {
			const vmDir = path.join(labPaths(paths).destination, vm);
			const newest = (await fs.readdir(vmDir)).sort().at(-1);
			if (!newest) throw new Error(`${vm} has no restore points`);
			const pointDir = path.join(vmDir, newest);
			const manifest = restorePointSchema.parse(JSON.parse(await fs.readFile(path.join(pointDir, 'restore-point.json'), 'utf8')));
			const backups = manifest.disks.map((disk) => ({ ...disk, full: path.join(pointDir, disk.file) }));
			const hashes = await Promise.all(backups.map((disk) => sha256(disk.full)));
			const disks: BootDisk[] = [];
			const overlays: string[] = [];
			for (const [index, disk] of backups.entries()) {
				const overlay = path.join(root, `${vm}-disk${index}.qcow2`);
				await createOverlayFile(overlay, disk.full, disk.format);
				overlays.push(overlay);
				disks.push(overlayDisk(`d${index}`, disk.full, disk.format, overlay));
			}

			const guest = await boot(disks);
			await waitForMarker(guest, GUEST_MARKER, 60_000);
			await waitForTicks(guest, 2);
			const id = bootId(await readSerial(guest));
			await guest.kill();

			for (const [index, overlay] of overlays.entries()) {
				expect(ticks(await readGuestLog(overlay, 'qcow2'), id), `disk ${index}`).toBeGreaterThanOrEqual(2);
				expect(await readGuestFile(overlay, 'qcow2', 'point.txt')).toContain(`point=${newest}`);
			}
			for (const [index, disk] of backups.entries()) {
				expect(await sha256(disk.full)).toBe(hashes[index]);
				expect(await readGuestLog(disk.full, disk.format)).toBe('');
			}
		});
	}
});
