// Every step of the libvirt host inspects the host and does only what is missing: each one run
// a second time right after the first changes nothing (same definition, same files, no error),
// so a step interrupted anywhere can simply run again.
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RestorePlan, SetAsideRecord } from '../../source/hosts/host.ts';
import type { LibvirtHost } from '../../source/hosts/libvirt/driver.ts';
import { sha256, waitFor } from '../support/lab-env.ts';
import { defineDomain, fingerprint, guestBackup, libvirtTestFile, planInput } from './support/fixtures.ts';

const libvirt = await libvirtTestFile();
const { unavailable } = libvirt;

/** What a step may change: the domains with their definitions, and the session's files. */
async function hostState(host: LibvirtHost, plan: RestorePlan): Promise<Record<string, string>> {
	const state: Record<string, string> = {};
	for (const name of await host.domains.names()) {
		const facts = await host.domains.facts(name);
		state[`domain ${name}`] = `${facts?.state} ${(await host.virsh.run(['dumpxml', name, '--inactive'])).replace(/<uuid>[^<]*<\/uuid>/, '')}`;
	}
	for (const file of [...plan.disks.flatMap((disk) => [disk.overlay, disk.production])]) {
		const stat = await fs.stat(file).catch(() => null);
		// The production image changes under a running guest after the switch: its identity, not its bytes.
		state[file] = stat ? `${stat.ino}` : 'absent';
	}
	return state;
}

describe.skipIf(unavailable !== null)('libvirt host steps run twice', () => {
	it('each step a second time changes nothing', async () => {
		const { host } = libvirt.env;
		await defineDomain(host, path.join(libvirt.env.root, 'old'), 'idem01');
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'idem01', 'p1'));
		const before = await fingerprint(backup.file);
		const plan = await host.plan(planInput('i1', 'idem01', libvirt.env.location, [{ backup: backup.file, virtualSize: backup.virtualSize }]));
		const twice = async (name: string, step: () => Promise<unknown>) => {
			await step();
			const after = await hostState(host, plan);
			await step();
			expect(await hostState(host, plan), `${name} run again`).toEqual(after);
		};
		let record: SetAsideRecord | null = null;
		await twice('setAsideVm', async () => (record = await host.setAsideVm(plan)));
		expect(record).toEqual({ name: 'idem01', asideName: 'idem01~i1', details: { wasRunning: false } });
		await twice('createDisks', () => host.createDisks(plan));
		await twice('createSnapshotLayer', () => host.createSnapshotLayer(plan));
		await twice('startVm', () => host.startVm(plan));
		await waitFor('the guest marker', 90_000, async () => ((await host.status(plan)).guestAlive ? true : undefined), 500);
		await twice('copyData', () => host.copyData(plan));
		const copied = await sha256(plan.disks[0]?.production ?? '');
		await host.copyData(plan);
		// Not copied again: the image is only ever written by the guest from the switch on.
		expect(await sha256(plan.disks[0]?.production ?? '')).toBe(copied);
		const first = await host.applyChanges(plan);
		expect(first.pauseMs).toBeGreaterThan(0);
		expect((await host.applyChanges(plan)).pauseMs).toBe(0);
		await twice('deleteSnapshotLayer', () => host.deleteSnapshotLayer(plan));
		const aside = record as SetAsideRecord | null;
		if (aside) await twice('purgeSetAside', () => host.purgeSetAside(plan, aside));
		expect(await host.status(plan)).toEqual(expect.objectContaining({ vm: 'running', runsOn: 'production' }));
		expect(await fingerprint(backup.file)).toEqual(before);

		// And stop, twice, on what is left: the session's domain and files go, nothing else.
		await host.discard(plan);
		await host.discard(plan);
		expect(await host.domains.names()).toEqual([]);
	});
});
