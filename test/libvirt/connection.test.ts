// The libvirt the driver connects to: a remote URI (qemu+tcp on loopback to a private libvirtd)
// is refused without shared storage and runs a whole lifecycle with it; the domain type is
// detected with a bounded probe that never hangs and leaves nothing behind.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectDomainType } from '../../source/hosts/libvirt/accel.ts';
import { parseDisks } from '../../source/hosts/libvirt/domain-xml.ts';
import { LibvirtHost } from '../../source/hosts/libvirt/driver.ts';
import { Virsh } from '../../source/hosts/libvirt/virsh.ts';
import { waitFor } from '../support/lab-env.ts';
import { fingerprint, guestBackup, guestImage, libvirtTestFile, planInput } from './support/fixtures.ts';
import { libvirtTestHostOptions } from './support/host-options.ts';

const libvirt = await libvirtTestFile({ tcp: true });
const { unavailable } = libvirt;

describe.skipIf(unavailable !== null)('the libvirt the driver connects to', () => {
	it('a remote URI (qemu+tcp on loopback): refused without shared storage, a full lifecycle with it', async () => {
		const uri = libvirt.daemon.tcpUri ?? '';
		expect(uri).toMatch(/^qemu\+tcp:\/\/127\.0\.0\.1:\d+\/system$/);
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'remote01', 'p1'));
		const before = await fingerprint(backup.file);
		const input = planInput('r1', 'remote01', libvirt.env.location, [{ backup: backup.file, virtualSize: backup.virtualSize }]);

		const alone = new LibvirtHost({ ...libvirtTestHostOptions(uri, libvirt.env.root) });
		expect(alone.pathRules).toEqual({ style: 'posix', local: false });
		const refused = await alone.preflight(await alone.plan(input));
		expect(refused).toHaveLength(1);
		expect(refused[0]).toMatch(/remote libvirt.*RUNDIRECT_LIBVIRT_SHARED_STORAGE=1/);

		const host = new LibvirtHost({ ...libvirtTestHostOptions(uri, libvirt.env.root), sharedStorage: true });
		const plan = await host.plan(input);
		expect(plan.host).toBe(`libvirt:${uri}`);
		expect(await host.preflight(plan)).toEqual([]);
		expect(await host.setAsideVm(plan)).toBeNull();
		await host.createDisks(plan);
		await host.createSnapshotLayer(plan);
		await host.startVm(plan);
		await waitFor('the guest marker', 90_000, async () => ((await host.status(plan)).guestAlive ? true : undefined), 500);
		await host.copyData(plan);
		await host.applyChanges(plan);
		await host.deleteSnapshotLayer(plan);
		const production = plan.disks[0]?.production ?? '';
		expect(parseDisks(await host.virsh.run(['dumpxml', 'remote01', '--inactive'])).map((disk) => [disk.source, disk.hasBacking])).toEqual([[production, false]]);
		expect(await host.status(plan)).toEqual(expect.objectContaining({ vm: 'running', runsOn: 'production' }));
		await host.virsh.run(['destroy', 'remote01']);
		await host.domains.undefine('remote01');
		expect(await fingerprint(backup.file)).toEqual(before);
	});

	it('detects the domain type with a bounded probe (the lab guest conclusive, a boot sector not), leaves no probe domain, caches the verdict', async () => {
		const virsh = new Virsh(libvirt.daemon.uri);
		const cacheDir = path.join(libvirt.env.root, 'domain-type-cache');
		const { image } = await guestImage();
		const saved = process.env.RUNDIRECT_ACCEL;
		delete process.env.RUNDIRECT_ACCEL;
		try {
			for (const probeImage of [image, undefined]) {
				const started = Date.now();
				const verdict = await detectDomainType(virsh, { cacheDir, local: true, ...(probeImage ? { probeImage } : {}) });
				const ms = Date.now() - started;
				console.log(`[measure] libvirt domain type by ${verdict.probe}: ${verdict.type} in ${ms} ms (${verdict.reason})`);
				expect(verdict.probe).toBe(probeImage ? 'guest' : 'boot-sector');
				expect(['kvm', 'qemu']).toContain(verdict.type);
				expect(ms).toBeLessThan(20_000);
				expect((await virsh.run(['list', '--all', '--name'])).trim()).toBe('');
				const again = Date.now();
				expect(await detectDomainType(virsh, { cacheDir, local: true, ...(probeImage ? { probeImage } : {}) })).toEqual(verdict);
				expect(Date.now() - again).toBeLessThan(2_000);
			}
			process.env.RUNDIRECT_ACCEL = 'tcg';
			expect((await detectDomainType(virsh, { cacheDir, local: true })).type).toBe('qemu');
		} finally {
			if (saved === undefined) delete process.env.RUNDIRECT_ACCEL;
			else process.env.RUNDIRECT_ACCEL = saved;
		}
	});
});
