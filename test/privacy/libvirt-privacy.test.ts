// Guest data stays private on the libvirt host (issue 16), on a real (private) libvirtd running
// the lab guest: after start, finalize and stop, a second local user (uid 65534) can read none of
// the production images, the snapshot layers, the serial console log, the set-aside record or
// the domain XML written for the session, and can list none of their folders; the owner still
// can. The backup keeps its owner, mode and times. A tree an earlier version left to the umask is
// narrowed by tightenStorage (rundirect's own folder and the production folders its journals name). (The journal, drill evidence and reports are written by the engine
// and the drill store, the same on every host: lab-privacy.test.ts covers them.)
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { serialFileOf } from '../../source/hosts/libvirt/layout.ts';
import { waitFor } from '../support/lab-env.ts';
import { defineDomain, fingerprint, guestBackup, libvirtTestFile, planInput } from '../libvirt/support/fixtures.ts';
import { notPrivate, readableByNobody, walk } from './probe.ts';

const libvirt = await libvirtTestFile();
const { unavailable } = libvirt;

/** rundirect's files of the host: the production location and the layout's own folder (not the backups, not the replaced domain's disk). */
async function guestData(): Promise<Array<{ path: string; kind: 'file' | 'dir'; mode: number }>> {
	return [...(await walk(libvirt.env.location)), ...(await walk(libvirt.env.host.layout.root))];
}

async function expectPrivate(mustInclude: string[]): Promise<void> {
	const entries = await guestData();
	const paths = entries.map((entry) => entry.path);
	for (const file of mustInclude) expect(paths, `${file} is part of what is checked`).toContain(file);
	expect(notPrivate(entries)).toEqual([]);
	expect(await readableByNobody(entries)).toEqual([]);
	for (const entry of entries) if (entry.kind === 'file') await fs.access(entry.path, fs.constants.R_OK | fs.constants.W_OK);
}

describe.skipIf(unavailable !== null)('guest data on the libvirt host is private to its owner', () => {
	it('start → finalize, then start → stop: every file of the session 0600 in folders 0700; the backup untouched', async () => {
		const { host } = libvirt.env;
		await defineDomain(host, path.join(libvirt.env.root, 'old'), 'pv01');
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'pv01', 'p1'));
		const before = await fingerprint(backup.file);
		const input = (session: string) => planInput(session, 'pv01', libvirt.env.location, [{ backup: backup.file, virtualSize: backup.virtualSize }]);

		const plan = await host.plan(input('p1'));
		expect(await host.preflight(plan)).toEqual([]);
		const record = await host.setAsideVm(plan);
		await host.createDisks(plan);
		await host.createSnapshotLayer(plan);
		await host.startVm(plan);
		const disk = plan.disks[0];
		if (!disk || !record) throw new Error('no disk or no set-aside record');
		const serial = serialFileOf(host.layout, plan.sessionId);
		await waitFor('the serial log', 60_000, async () => ((await fs.stat(serial).catch(() => null))?.size ? true : undefined), 250);
		await expectPrivate([disk.production, disk.overlay, plan.workDir, plan.productionDir, serial, host.asideRecords.file(record.asideName), path.join(plan.workDir, 'domain.xml')]);

		await host.copyData(plan);
		await expectPrivate([disk.production, disk.overlay, plan.workDir]);
		await host.applyChanges(plan);
		await host.deleteSnapshotLayer(plan);
		await host.purgeSetAside(plan, record);
		await expectPrivate([disk.production, plan.productionDir]);
		await host.virsh.run(['destroy', 'pv01']);

		// Over the finalized VM: a second restore, stopped.
		const second = await host.plan(input('p2'));
		const aside = await host.setAsideVm(second);
		await host.createDisks(second);
		await host.createSnapshotLayer(second);
		await host.startVm(second);
		await expectPrivate([second.disks[0]?.overlay ?? '', serialFileOf(host.layout, second.sessionId)]);
		await host.discard(second);
		if (aside) await host.restoreSetAside(second, aside);
		await expectPrivate([disk.production]);
		expect(await fingerprint(backup.file)).toEqual(before);
	}, 300_000);

	it('a tree an earlier version left to the umask is narrowed; the backup is not touched', async () => {
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'pv02', 'p1'));
		const before = await fingerprint(backup.file);
		const work = path.join(libvirt.env.host.layout.work, 'old-session');
		await fs.mkdir(work, { recursive: true, mode: 0o755 });
		await fs.writeFile(path.join(work, 'disk0.overlay.qcow2'), 'guest data', { mode: 0o644 });
		const old = await guestData();
		// The --location folder itself is the administrator's (whoever made it): only what is in it is rundirect's.
		for (const entry of old) if (entry.path !== libvirt.env.location) await fs.chmod(entry.path, entry.kind === 'dir' ? 0o755 : 0o644);
		expect((await readableByNobody(old)).length).toBeGreaterThan(0);
		const result = await libvirt.env.host.tightenStorage([path.join(libvirt.env.root, 'dest')], [path.join(libvirt.env.location, 'pv01')]);
		expect(result.changed).toContain(work);
		await expectPrivate([path.join(work, 'disk0.overlay.qcow2')]);
		expect(await fingerprint(backup.file)).toEqual(before);
	});
});
