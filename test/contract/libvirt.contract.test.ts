// The Host contract on the libvirt host: a real libvirtd (private to this file, in a mount
// namespace of its own) running the lab guest under TCG from a read-only qcow2 backup. Each test
// gets a fresh folder tree and two plain domains (web01 to replace, db01 to leave alone); its
// teardown removes every domain it made. Where libvirtd cannot start, the suite says so and skips.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import type { RestorePlan } from '../../source/hosts/host.ts';
import { serialFileOf } from '../../source/hosts/libvirt/layout.ts';
import { asideNameOf } from '../../source/hosts/libvirt/set-aside.ts';
import { defineDomain, guestBackup, makeLibvirtEnv, planInput } from '../libvirt/support/fixtures.ts';
import { libvirtUnavailable, type PrivateLibvirtd, startPrivateLibvirtd } from '../libvirt/support/libvirtd.ts';
import { type ContractFixture, hostContract } from './host-contract.ts';
import { unaccounted } from './support.ts';

const unavailable = await libvirtUnavailable();

/** Started by the first test, stopped (by pid) after the last. */
let daemon: Promise<PrivateLibvirtd> | null = null;
afterAll(async () => {
	await (await daemon?.catch(() => null))?.stop();
});

async function exists(file: string): Promise<boolean> {
	return fs.access(file).then(
		() => true,
		() => false,
	);
}

async function libvirtFixture(): Promise<ContractFixture> {
	daemon ??= startPrivateLibvirtd();
	const env = await makeLibvirtEnv(await daemon);
	const { host } = env;
	await defineDomain(host, path.join(env.root, 'old'), 'web01');
	await defineDomain(host, path.join(env.root, 'old'), 'db01');
	const backup = await guestBackup(path.join(env.root, 'destination', 'web01', 'p1'));
	const disks = [{ backup: backup.file, virtualSize: backup.virtualSize }];

	async function leftovers(plan: RestorePlan): Promise<string[]> {
		const vms = await host.inventory();
		const candidates = [plan.workDir, plan.productionDir, ...plan.disks.flatMap((disk) => [disk.overlay, disk.production])];
		// Step 1's record belongs to the set-aside domain while inventory shows one; after that it must go.
		const asideName = plan.replaces === null ? null : asideNameOf(plan.replaces, plan.sessionId);
		if (asideName !== null && !vms.some((vm) => vm.name === asideName && vm.setAside)) candidates.push(host.asideRecords.file(asideName));
		// The serial log is the running domain's own; once no session domain exists it must be gone.
		if (!vms.some((vm) => vm.name === plan.vmName && !vm.setAside)) candidates.push(serialFileOf(host.layout, plan.sessionId));
		const present: string[] = [];
		for (const candidate of candidates) if (await exists(candidate)) present.push(candidate);
		return unaccounted(present, vms);
	}

	return {
		host,
		replacing: planInput('c-replace', 'web01', env.location, disks),
		fresh: planInput('c-fresh', 'web09', env.location, disks),
		leftovers,
		async teardown() {
			for (const name of await host.domains.names()) {
				await host.domains.destroy(name);
				await host.domains.undefine(name);
			}
			await env.cleanup();
		},
	};
}

if (unavailable) {
	console.warn(`[libvirt] SKIPPED: ${unavailable}`);
	describe.skip('Host contract: libvirt host (real libvirtd, TCG)', () => {
		it(`needs a libvirtd: ${unavailable}`, () => {});
	});
} else {
	hostContract('libvirt host (real libvirtd, TCG)', libvirtFixture);
}
