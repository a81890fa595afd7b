// Run Direct on a real libvirtd (private, started by the test) with the lab guest booted from a
// read-only backup: start → finalize (the domain ends up on production only, the guest's
// writes are there, the backup did not change in any way) and start → stop (nothing of the
// session remains, the replaced domain is back exactly as it was).
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProgressReport } from '../../source/hosts/host.ts';
import { GUEST_MARKER as DRIVER_MARKER } from '../../source/hosts/libvirt/driver.ts';
import { parseDisks } from '../../source/hosts/libvirt/domain-xml.ts';
import { readGuestLog } from '../../source/lab-builder/guest.ts';
import { GUEST_MARKER } from '../../source/qemu/lab-guest.ts';
import { fillProcesses } from '../../source/hosts/libvirt/fill.ts';
import { sha256, waitFor } from '../support/lab-env.ts';
import { defineDomain, fingerprint, guestBackup, libvirtTestFile, planInput } from './support/fixtures.ts';

const libvirt = await libvirtTestFile();
const { unavailable } = libvirt;

async function exists(file: string): Promise<boolean> {
	return fs.access(file).then(
		() => true,
		() => false,
	);
}

describe.skipIf(unavailable !== null)('Run Direct on the libvirt host', () => {
	it('knows the lab guest by the marker the lab builder gives it', () => {
		expect(DRIVER_MARKER).toBe(GUEST_MARKER);
	});

	it('start → finalize: production only, the guest writes kept, the backup untouched in every way', async () => {
		const { host } = libvirt.env;
		const old = await defineDomain(host, path.join(libvirt.env.root, 'old'), 'web01');
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'web01', 'p1'));
		const before = await fingerprint(backup.file);

		const plan = await host.plan(planInput('s1', 'web01', libvirt.env.location, [{ backup: backup.file, virtualSize: backup.virtualSize }]));
		expect(plan.replaces).toBe('web01');
		expect(await host.preflight(plan)).toEqual([]);
		const record = await host.setAsideVm(plan);
		expect(record?.asideName).toBe('web01~s1');
		expect(await host.domains.names()).toEqual(expect.arrayContaining(['web01~s1']));
		await host.createDisks(plan);
		await host.createSnapshotLayer(plan);
		const launched = Date.now();
		await host.startVm(plan);
		console.log(`[measure] libvirt startVm (define + start) ${Date.now() - launched} ms`);
		let status = await host.status(plan);
		expect(status.vm).toBe('running');
		expect(status.runsOn).toBe('backup');

		await waitFor('the guest marker', 90_000, async () => ((await host.status(plan)).guestAlive ? true : undefined), 500);
		const overlay = plan.disks[0]?.overlay ?? '';
		const fromBackup = await waitFor('three guest ticks in the overlay', 60_000, async () => {
			const ticks = (await readGuestLog(overlay, 'qcow2')).split('\n').filter((line) => line.startsWith('tick '));
			return ticks.length >= 3 ? ticks : undefined;
		}, 1000);

		const progress: ProgressReport[] = [];
		await host.copyData(plan, { onProgress: (report) => progress.push(report) });
		expect(progress.at(-1)).toEqual(expect.objectContaining({ done: backup.virtualSize, total: backup.virtualSize }));
		const { pauseMs } = await host.applyChanges(plan);
		console.log(`[measure] libvirt pivot ${pauseMs.toFixed(1)} ms`);
		expect(pauseMs).toBeGreaterThan(0);
		await host.deleteSnapshotLayer(plan);
		if (record) await host.purgeSetAside(plan, record);

		status = await host.status(plan);
		expect(status).toEqual(expect.objectContaining({ vm: 'running', runsOn: 'production', guestAlive: true }));
		const production = plan.disks[0]?.production ?? '';
		for (const scope of [[], ['--inactive']]) {
			const xml = await host.virsh.run(['dumpxml', 'web01', ...scope]);
			expect(parseDisks(xml).map((disk) => [disk.source, disk.hasBacking, disk.mirror])).toEqual([[production, false, null]]);
			expect(xml).not.toContain(backup.file);
			expect(xml).not.toContain(overlay);
		}
		expect(await exists(overlay)).toBe(false);
		expect(await exists(plan.workDir)).toBe(false);
		// The replaced domain and its disk are purged.
		expect(await host.domains.names()).toEqual(['web01']);
		expect(await exists(old.disk)).toBe(false);

		await host.virsh.run(['destroy', 'web01']);
		const log = await readGuestLog(production, 'qcow2');
		for (const tick of fromBackup) expect(log).toContain(tick);
		expect(await fingerprint(backup.file)).toEqual(before);
		await host.domains.undefine('web01');
	});

	it('start → stop: nothing of the session remains, the replaced domain is back as it was, running', async () => {
		const { host } = libvirt.env;
		const old = await defineDomain(host, path.join(libvirt.env.root, 'old2'), 'db01');
		await host.virsh.run(['start', 'db01']);
		const definitionBefore = await host.virsh.run(['dumpxml', 'db01', '--inactive']);
		const diskBefore = await sha256(old.disk);
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'db01', 'p1'));
		const before = await fingerprint(backup.file);

		const plan = await host.plan(planInput('s2', 'db01', libvirt.env.location, [{ backup: backup.file, virtualSize: backup.virtualSize }]));
		expect(await host.preflight(plan)).toEqual([]);
		const record = await host.setAsideVm(plan);
		expect(record?.details.wasRunning).toBe(true);
		await host.createDisks(plan);
		await host.createSnapshotLayer(plan);
		await host.startVm(plan);
		expect((await host.status(plan)).vm).toBe('running');

		await host.discard(plan);
		if (record) await host.restoreSetAside(plan, record);

		expect(await host.domains.names()).toEqual(['db01']);
		expect((await host.domains.facts('db01'))?.state).toBe('running');
		expect(await host.virsh.run(['dumpxml', 'db01', '--inactive'])).toBe(definitionBefore);
		for (const file of [plan.workDir, ...plan.disks.flatMap((disk) => [disk.overlay, disk.production])]) expect(await exists(file)).toBe(false);
		expect(await exists(plan.productionDir)).toBe(false);
		await host.virsh.run(['destroy', 'db01']);
		expect(await sha256(old.disk)).toBe(diskBefore);
		expect(await fingerprint(backup.file)).toEqual(before);
	});
	it('a second restore over the first one (same place): its images go beside the replaced ones, finalize purges the old with its serial log', async () => {
		const { host } = libvirt.env;
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'app01', 'p1'));
		const restore = async (session: string) => {
			const plan = await host.plan(planInput(session, 'app01', 'original', [{ backup: backup.file, virtualSize: backup.virtualSize }]));
			expect(await host.preflight(plan)).toEqual([]);
			const record = await host.setAsideVm(plan);
			await host.createDisks(plan);
			await host.createSnapshotLayer(plan);
			await host.startVm(plan);
			await host.copyData(plan);
			await host.applyChanges(plan);
			await host.deleteSnapshotLayer(plan);
			if (record) await host.purgeSetAside(plan, record);
			return plan;
		};
		const first = await restore('s3');
		expect(first.disks[0]?.production).toBe(path.join(host.layout.images, 'app01', 'disk0.qcow2'));
		const second = await restore('s4');
		expect(second.replaces).toBe('app01');
		expect(second.disks[0]?.production).toBe(path.join(host.layout.images, 'app01', 'disk0-s4.qcow2'));
		expect(await fs.readdir(path.join(host.layout.images, 'app01'))).toEqual(['disk0-s4.qcow2']);
		expect(await fs.readdir(host.layout.serial)).not.toContain('s3.log');
		expect((await host.domains.names()).filter((name) => name.startsWith('app01'))).toEqual(['app01']);
		await host.virsh.run(['destroy', 'app01']);
		await host.domains.undefine('app01');
	});
	it('a copy given up before step 6 (finalize --cancel) stops its fill and leaves the domain on its backup; the next finalize completes', async () => {
		const { host } = libvirt.env;
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'cx01', 'p1'));
		const plan = await host.plan(planInput('c1', 'cx01', libvirt.env.location, [{ backup: backup.file, virtualSize: backup.virtualSize }]));
		expect(await host.preflight(plan)).toEqual([]);
		await host.createDisks(plan);
		await host.createSnapshotLayer(plan);
		await host.startVm(plan);
		const production = plan.disks[0]?.production ?? '';
		const controller = new AbortController();
		// 256 KiB/s: the copy is still under way when it is given up.
		const copying = host.copyData(plan, { rateLimit: 256 * 1024, signal: controller.signal }).then(() => 'done', (error: unknown) => error);
		await waitFor('the fill to run', 30_000, async () => ((await fillProcesses(production)).length > 0 ? true : undefined), 100);
		controller.abort();
		expect(await copying).not.toBe('done');
		await host.cancelCopy(plan);
		expect(await fillProcesses(production)).toEqual([]);
		expect(await host.status(plan)).toEqual(expect.objectContaining({ vm: 'running', runsOn: 'backup' }));
		await host.copyData(plan);
		await host.applyChanges(plan);
		await host.deleteSnapshotLayer(plan);
		expect(parseDisks(await host.virsh.run(['dumpxml', 'cx01'])).map((disk) => [disk.source, disk.hasBacking])).toEqual([[production, false]]);
		await host.virsh.run(['destroy', 'cx01']);
		await host.domains.undefine('cx01');
	});
});
