// `backup` on the libvirt host: a running domain (the lab guest) is backed up with libvirt's
// backup API into a restore point the catalog accepts, which then round-trips through
// start → finalize with the real engine; a shut-off domain's backup equals its disks. And a
// restore point made by hand the libvirt way (`virsh dumpxml` beside a copy of the disk) boots.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { readCatalog } from '../../source/catalog/catalog.ts';
import type { ProgressReport } from '../../source/hosts/host.ts';
import { parseDisks } from '../../source/hosts/libvirt/domain-xml.ts';
import { readGuestLog } from '../../source/lab-builder/guest.ts';
import { GUEST_MARKER } from '../../source/qemu/lab-guest.ts';
import { Journal } from '../../source/restore/journal.ts';
import { waitFor } from '../support/lab-env.ts';
import { fingerprint, guestImage, libvirtTestFile } from './support/fixtures.ts';

const CONTROLLER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'controller.ts');
const libvirt = await libvirtTestFile();
const { unavailable } = libvirt;

/** A production domain running the lab guest on a writable copy of its image. */
async function runningGuest(name: string): Promise<{ disk: string; serial: string }> {
	const dir = path.join(libvirt.env.root, 'vms', name);
	await fs.mkdir(dir, { recursive: true });
	const disk = path.join(dir, 'disk.qcow2');
	const serial = path.join(dir, 'serial.log');
	await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', (await guestImage()).image, disk]);
	const xml = path.join(dir, 'domain.xml');
	await fs.writeFile(
		xml,
		`<domain type='qemu'><name>${name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/><boot order='1'/></disk>
<serial type='file'><source path='${serial}'/><target port='0'/></serial><controller type='usb' model='none'/><memballoon model='none'/></devices></domain>\n`,
	);
	await libvirt.env.host.virsh.run(['define', xml]);
	await libvirt.env.host.virsh.run(['start', name]);
	await waitFor('the guest marker', 90_000, async () => ((await fs.readFile(serial, 'latin1').catch(() => '')).includes(GUEST_MARKER) ? true : undefined), 500);
	return { disk, serial };
}

describe.skipIf(unavailable !== null)('backup on the libvirt host', () => {
	it('a running domain: a valid restore point with its XML, which round-trips through start → finalize', async () => {
		const { host } = libvirt.env;
		const source = await runningGuest('app01');
		await waitFor('three guest ticks on its disk', 60_000, async () => ((await readGuestLog(source.disk, 'qcow2')).split('\n').filter((line) => line.startsWith('tick ')).length >= 3 ? true : undefined), 1000);
		const destination = path.join(libvirt.env.root, 'dest');
		const progress: ProgressReport[] = [];
		const result = await host.backup('app01', destination, { onProgress: (report) => progress.push(report) });
		expect(result.dir).toBe(path.join(destination, 'app01', result.pointId));
		expect(progress.length).toBeGreaterThan(0);
		expect(await fs.readFile(path.join(result.dir, 'domain.xml'), 'utf8')).toContain('<name>app01</name>');
		expect((await fs.readdir(path.join(destination, 'app01'))).filter((name) => name.startsWith('.'))).toEqual([]);
		expect((await fs.stat(path.join(result.dir, 'disk0.qcow2'))).mode & 0o777).toBe(0o444);
		expect(result.manifest.vm).toEqual(expect.objectContaining({ name: 'app01', firmware: 'bios', cpus: 1, memoryMiB: 256, nics: [] }));
		const catalog = await readCatalog(destination);
		expect(catalog.problems).toEqual([]);
		expect(catalog.points.map((point) => point.id)).toEqual([result.pointId]);
		const backedUp = (await readGuestLog(path.join(result.dir, 'disk0.qcow2'), 'qcow2')).split('\n').filter((line) => line.startsWith('tick '));
		expect(backedUp.length).toBeGreaterThan(0);

		const controller = (args: string[]) =>
			execa(process.execPath, ['--import', 'tsx', CONTROLLER, ...args], { reject: false, timeout: 300_000, stdin: 'ignore', env: { RD_LV_URI: libvirt.daemon.uri, RD_LV_ROOT: libvirt.env.root, RD_LV_DESTINATION: destination } });
		const start = await controller(['start', 'app01']);
		expect(start.exitCode, String(start.stderr) + String(start.stdout)).toBe(0);
		const id = String((JSON.parse(String(start.stdout).split('\n')[0] ?? '{}') as { session?: string }).session);
		const session = await new Journal(host.options.paths.state).read(id);
		if (!session) throw new Error('no journal entry');
		await waitFor('the restored guest marker', 90_000, async () => ((await host.status(session.plan)).guestAlive ? true : undefined), 500);
		const finalize = await controller(['finalize', id]);
		expect(finalize.exitCode, String(finalize.stderr) + String(finalize.stdout)).toBe(0);
		const production = session.plan.disks[0]?.production ?? '';
		expect(parseDisks(await host.virsh.run(['dumpxml', 'app01', '--inactive'])).map((disk) => disk.source)).toEqual([production]);
		await host.virsh.run(['destroy', 'app01']);
		const restored = await readGuestLog(production, 'qcow2');
		for (const tick of backedUp) expect(restored).toContain(tick);
		// The original domain was replaced and purged on finalize, its disk with it.
		await expect(fs.access(source.disk)).rejects.toThrow();
	});

	it('a shut-off domain: its backup disk equals its disk', async () => {
		const { host } = libvirt.env;
		const source = await runningGuest('app02');
		await host.virsh.run(['destroy', 'app02']);
		const result = await host.backup('app02', path.join(libvirt.env.root, 'dest2'));
		const compare = await execa('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', source.disk, path.join(result.dir, 'disk0.qcow2')], { reject: false });
		expect(compare.exitCode, String(compare.stdout)).toBe(0);
	});

	it('a restore point made of `virsh dumpxml` and a copy of the disk (no restore-point.json) boots, and stop leaves it unchanged', async () => {
		const { host } = libvirt.env;
		const source = await runningGuest('app03');
		await host.virsh.run(['destroy', 'app03']);
		const destination = path.join(libvirt.env.root, 'dest3');
		const dir = path.join(destination, 'app03', '2026-11-30T0300Z');
		await fs.mkdir(dir, { recursive: true });
		await fs.writeFile(path.join(dir, 'app03.xml'), await host.virsh.run(['dumpxml', 'app03', '--inactive']));
		await fs.copyFile(source.disk, path.join(dir, 'disk.qcow2'));
		await fs.chmod(path.join(dir, 'disk.qcow2'), 0o444);
		// The domain is gone from the host: the restore brings it back from the folder alone.
		await host.domains.undefine('app03');
		await fs.rm(source.disk);
		const before = await fingerprint(path.join(dir, 'disk.qcow2'));

		const catalog = await readCatalog(destination);
		expect(catalog.problems).toEqual([]);
		expect(catalog.points.map((point) => [point.id, path.basename(point.manifestPath), point.manifest.vm.memoryMiB, point.disks.map((disk) => disk.file)])).toEqual([['2026-11-30T0300Z', 'app03.xml', 256, ['disk.qcow2']]]);

		const controller = (args: string[]) =>
			execa(process.execPath, ['--import', 'tsx', CONTROLLER, ...args], { reject: false, timeout: 300_000, stdin: 'ignore', env: { RD_LV_URI: libvirt.daemon.uri, RD_LV_ROOT: libvirt.env.root, RD_LV_DESTINATION: destination } });
		const start = await controller(['start', 'app03']);
		expect(start.exitCode, String(start.stderr) + String(start.stdout)).toBe(0);
		const id = String((JSON.parse(String(start.stdout).split('\n')[0] ?? '{}') as { session?: string }).session);
		const session = await new Journal(host.options.paths.state).read(id);
		if (!session) throw new Error('no journal entry');
		expect(session.plan.disks.map((disk) => disk.backup)).toEqual([path.join(dir, 'disk.qcow2')]);
		await waitFor('the guest marker of the domain restored from dumpxml', 90_000, async () => ((await host.status(session.plan)).guestAlive ? true : undefined), 500);
		const stop = await controller(['stop', id]);
		expect(stop.exitCode, String(stop.stderr) + String(stop.stdout)).toBe(0);
		expect(await host.domains.names()).not.toContain('app03');
		expect(await fingerprint(path.join(dir, 'disk.qcow2'))).toEqual(before);
	});
});
