// Fixtures of the libvirt tests: the lab guest as a read-only backup (owned by another user,
// so any relabeling by libvirt shows), a fingerprint proving a file did not change in any way,
// an existing domain for the restore to replace, and the driver pointed at a private libvirtd.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { PlanInput } from '../../../source/hosts/host.ts';
import { LibvirtHost } from '../../../source/hosts/libvirt/driver.ts';
import { labPaths, type Paths } from '../../../source/core/paths.ts';
import { libvirtTestHostOptions } from './host-options.ts';
import { fetchGuestPackages } from '../../../source/lab-builder/debs.ts';
import { buildGuestImage } from '../../../source/lab-builder/guest.ts';
import { sha256, TEST_CACHE } from '../../support/lab-env.ts';
import { afterAll, beforeAll } from 'vitest';
import { libvirtUnavailable, startPrivateLibvirtd, type PrivateLibvirtd } from './libvirtd.ts';

/** Not root and not libvirt's: a chown by libvirt's DAC driver would show in the owner. */
export const BACKUP_OWNER = { uid: 1234, gid: 1234 };

export interface LibvirtTestEnv {
	root: string;
	paths: Paths;
	host: LibvirtHost;
	/** Folder of the restores' production images (as `--location`). */
	location: string;
	cleanup(): Promise<void>;
}

export async function makeLibvirtEnv(daemon: PrivateLibvirtd): Promise<LibvirtTestEnv> {
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-lvt-'));
	// QEMU runs as root here, but keep the tree traversable as a real libvirt-qemu user needs.
	await fs.chmod(root, 0o755);
	const host = new LibvirtHost(libvirtTestHostOptions(daemon.uri, root));
	const paths = host.options.paths;
	return {
		root,
		paths,
		host,
		location: path.join(root, 'production'),
		async cleanup() {
			await fs.rm(root, { recursive: true, force: true });
		},
	};
}

export interface LibvirtTestFile {
	/** Why this machine cannot run the file's tests, or null. */
	readonly unavailable: string | null;
	readonly daemon: PrivateLibvirtd;
	readonly env: LibvirtTestEnv;
}

/**
 * The private libvirtd and test env of one test file: started before its tests where libvirt can
 * run (where it cannot, the reason is printed and the tests skip on `unavailable`), and both ended
 * after them — libvirtd, virtlogd and every QEMU by pid.
 */
export async function libvirtTestFile(options: Parameters<typeof startPrivateLibvirtd>[0] = {}): Promise<LibvirtTestFile> {
	const unavailable = await libvirtUnavailable();
	if (unavailable) console.warn(`[libvirt] SKIPPED: ${unavailable}`);
	let daemon: PrivateLibvirtd | undefined;
	let env: LibvirtTestEnv | undefined;
	beforeAll(async () => {
		if (unavailable) return;
		daemon = await startPrivateLibvirtd(options);
		env = await makeLibvirtEnv(daemon);
	}, 180_000);
	afterAll(async () => {
		await daemon?.stop();
		await env?.cleanup();
	});
	const started = <T>(value: T | undefined): T => {
		if (value === undefined) throw new Error('the private libvirtd is not started (libvirt unavailable here, or asked before beforeAll)');
		return value;
	};
	return {
		unavailable,
		get daemon() {
			return started(daemon);
		},
		get env() {
			return started(env);
		},
	};
}

/** The lab guest image (built once into the shared test cache). */
export async function guestImage(): Promise<{ image: string; virtualSize: number }> {
	const cache = labPaths({ state: '', data: '', cache: path.join(TEST_CACHE, 'rundirect') }).cache;
	const guest = await buildGuestImage(cache, await fetchGuestPackages(cache));
	return { image: guest.image, virtualSize: guest.virtualSize };
}

/** The lab guest as a qcow2 backup: mode 0444, owned by BACKUP_OWNER. */
export async function guestBackup(dir: string, name = 'disk0.qcow2'): Promise<{ file: string; virtualSize: number }> {
	const { image, virtualSize } = await guestImage();
	await fs.mkdir(dir, { recursive: true });
	const file = path.join(dir, name);
	await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', image, file]);
	await fs.chown(file, BACKUP_OWNER.uid, BACKUP_OWNER.gid);
	await fs.chmod(file, 0o444);
	return { file, virtualSize };
}

/** Everything about a file that must not change: content, owner, mode, ctime, xattrs. */
export async function fingerprint(file: string): Promise<Record<string, unknown>> {
	const stat = await fs.stat(file, { bigint: true });
	const xattrs = await execa('getfattr', ['--absolute-names', '-d', '-m', '-', file], { reject: false });
	if (xattrs.exitCode !== 0 && /not found|ENOENT/i.test(String(xattrs.stderr) + String(xattrs.shortMessage))) throw new Error('getfattr is missing: apt-get install attr');
	return {
		sha256: await sha256(file),
		uid: Number(stat.uid),
		gid: Number(stat.gid),
		mode: Number(stat.mode),
		ctimeNs: String(stat.ctimeNs),
		xattrs: String(xattrs.stdout).trim(),
	};
}

export function planInput(sessionId: string, name: string, location: string, disks: Array<{ backup: string; virtualSize: number }>): PlanInput {
	return {
		sessionId,
		target: { name, location, replaceMode: 'set-aside' },
		disks: disks.map((disk, index) => ({ ...disk, format: 'qcow2', controller: 'virtio', controllerNumber: 0, location: index })),
		settings: { generation: 1, firmware: 'bios', secureBoot: false, secureBootTemplate: null, cpus: 1, memoryMiB: 256, nics: [] },
	};
}

/** A plain persistent domain `name` with one small (unbootable) disk, as an admin would have it. */
export async function defineDomain(host: LibvirtHost, dir: string, name: string): Promise<{ disk: string }> {
	await fs.mkdir(dir, { recursive: true });
	const disk = path.join(dir, `${name}.qcow2`);
	await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
	await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 0 64k', disk]);
	const xml = path.join(dir, `${name}.xml`);
	await fs.writeFile(
		xml,
		`<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
<controller type='usb' model='none'/><memballoon model='none'/></devices></domain>\n`,
	);
	await host.virsh.run(['define', xml]);
	return { disk };
}
