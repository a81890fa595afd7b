// The lab's Debian guest (systemd, PostgreSQL, qemu-guest-agent) on a real libvirtd: drills whose
// proof of life is the guest agent answering libvirt (`guestinfo`, not the lab guest's serial
// marker) and whose application checks run inside the guest through `virsh qemu-agent-command`
// (guest-exec) — one passing with its output kept, one failing with the command's exit code and
// output as evidence. The image is the one `lab init --with-debian` builds, from the shared test
// cache (debootstrap needs root: skipped, and said, without it).
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { labPaths } from '../../source/core/paths.ts';
import { resolveDrillSpec, runDrill } from '../../source/drill/index.ts';
import { drillDir } from '../../source/drill/store.ts';
import { fetchGuestPackages } from '../../source/lab-builder/debs.ts';
import { buildDebianImage, debianBuildMissing } from '../../source/lab-builder/debian.ts';
import { GUEST_MARKER } from '../../source/qemu/lab-guest.ts';
import { segmentName } from '../../source/qemu/segment.ts';
import { Engine } from '../../source/restore/engine.ts';
import { TEST_CACHE } from '../support/lab-env.ts';
import { writeManifest } from '../support/restore-points.ts';
import { libvirtTestFile } from './support/fixtures.ts';

const missing = await debianBuildMissing();
if (missing) console.warn(`[libvirt Debian guest] SKIPPED: ${missing}`);
const libvirt = await libvirtTestFile();

/**
 * pg01 of `lab init --with-debian` on a virtio disk: libvirt puts a generation 1 IDE disk on q35's
 * SATA (AHCI), a driver Debian's cloud kernel does not have; virtio_blk it has.
 */
async function debianDestination(): Promise<string> {
	const cache = labPaths({ state: '', data: '', cache: path.join(TEST_CACHE, 'rundirect') }).cache;
	const image = await buildDebianImage(cache, await fetchGuestPackages(cache));
	const dir = path.join(libvirt.env.root, 'destination', 'pg01', '2026-12-01T0100Z');
	await fs.mkdir(dir, { recursive: true });
	await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', image.image, path.join(dir, 'disk0.qcow2')]);
	await fs.chmod(path.join(dir, 'disk0.qcow2'), 0o444);
	// One NIC (a drill without TCP checks leaves it out; with them it is a tap in the session's namespace).
	await writeManifest(dir, { vm: { memoryMiB: 1024, nics: [{ switch: 'default', mac: '52:54:00:7d:00:01', vlan: null }] }, disks: [{ file: 'disk0.qcow2', format: 'qcow2', virtualSize: image.virtualSize }] });
	return path.dirname(path.dirname(dir));
}

describe.skipIf(missing !== null || libvirt.unavailable !== null)('the Debian guest on the libvirt host', () => {
	it('a drill proves life by the guest agent, runs pg_isready inside and reaches port 5432 on its isolated network; a check that keeps failing fails the VM with its output', async () => {
		const { host } = libvirt.env;
		const engine = new Engine({ host, stateDir: host.options.paths.state, destination: await debianDestination() });
		try {
			expect(host.proofOfLife.name).toBe('guest agent or serial marker');
			const passed = await runDrill({ engine, stateDir: host.options.paths.state, drill: resolveDrillSpec({ vms: ['pg01'], timeoutSeconds: 600, checks: ['pg_isready'], tcpChecks: [5432] }, null) });
			const vm = passed.vms[0];
			expect(vm?.outcome, vm?.reason ?? '').toBe('passed');
			expect(vm?.checks).toMatchObject([{ command: ['pg_isready'], outcome: 'passed', exitCode: 0 }, { tcp: 5432, outcome: 'passed' }]);
			// The probe stood in the session's namespace, at the guest's link-local address on the NIC's tap; the namespace went with the domain.
			const answered = vm?.checks[1]?.connections?.find((connection) => connection.connected);
			expect(answered?.target, JSON.stringify(vm?.checks[1])).toMatch(/^\[fe80::[0-9a-f:]+%rd[0-9a-f]{10}0\]:5432$/);
			expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(segmentName('libvirt', vm?.session ?? 'missing'));
			expect(vm?.checks[0]?.stdout).toMatch(/accepting connections/);
			expect(vm?.cleanup.state).toBe('stopped');
			expect(vm?.timeToReadyMs).toBeGreaterThanOrEqual(vm?.timeToProofMs ?? Number.POSITIVE_INFINITY);
			// The proof was the agent's: this guest never prints the lab guest's marker.
			const serial = await fs.readFile(path.join(drillDir(host.options.paths.state, passed.id), vm?.evidence?.file ?? 'missing'), 'latin1');
			// The Debian image's boot loader at least (how far the kernel's own lines go by then varies).
			expect(serial).toMatch(/SYSLINUX/);
			expect(serial).not.toContain(GUEST_MARKER);

			const failed = await runDrill({ engine, stateDir: host.options.paths.state, drill: resolveDrillSpec({ timeoutSeconds: 600 }, { vms: [{ vm: 'pg01', checks: [{ exec: ['pg_isready', '-p', '5999'], timeoutSeconds: 10 }] }] }) });
			const bad = failed.vms[0];
			expect(bad?.outcome).toBe('failed');
			expect(bad?.reason).toMatch(/application check 1 \(pg_isready -p 5999\) exited 2 within 10 s of proof of life: .*no response/);
			expect(bad?.checks).toMatchObject([{ outcome: 'failed', exitCode: 2 }]);
			expect(bad?.checks[0]?.stdout).toMatch(/no response/);
			expect(await host.domains.names()).toEqual([]);
		} finally {
			await engine.close();
		}
	}, 1_500_000);
});
