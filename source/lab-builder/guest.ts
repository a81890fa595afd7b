// Builds the lab guest: a FAT "superfloppy" disk image holding a Debian kernel, a busybox
// initramfs, syslinux (BIOS) and a startup.nsh (UEFI: OVMF's shell starts the kernel's EFI
// stub), made with mtools (no loop mounts, no root), and a small FAT data disk. Built once
// per set of inputs into <cache>/lab/guest/<inputs-hash>/.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { GuestPackages, Progress } from './debs.ts';
import { buildInitrd, collectModules, GUEST_LOG, GUEST_MODULES, INIT_SCRIPT } from './initrd.ts';
import { resolveMtools, type Mtools } from './tools.ts';

/** Bump when the way the image is built changes, so cached images are rebuilt. */
export const GUEST_BUILD_VERSION = 2;
export const GUEST_DISK_BYTES = 64 * 2 ** 20;
export const DATA_DISK_BYTES = 32 * 2 ** 20;

export const SYSLINUX_CFG = `SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
	KERNEL vmlinuz
	INITRD initrd.gz
	APPEND console=ttyS0 quiet
`;

/**
 * UEFI boots the same disk: OVMF finds no boot loader on it and runs its shell, which runs
 * startup.nsh (after its 5 s countdown): the kernel is an EFI application (EFI stub).
 */
export const STARTUP_NSH = `@echo -off
for %d in fs0 fs1 fs2 fs3
  if exist %d:\\vmlinuz then
    %d:
    \\vmlinuz initrd=\\initrd.gz console=ttyS0 quiet
  endif
endfor
`;

/** Files on the data disk a two-disk sample VM gets (names are 8.3 so FAT needs no long-name entries). */
export const DATA_DISK_FILES: Readonly<Record<string, string>> = {
	'README.TXT': 'rundirect lab data disk: the guest mounts it at /mnt2 and appends its ticks to guest.log.\n',
	'ORDERS.CSV': 'id,customer,total\n1,Contoso,120.50\n2,Fabrikam,75.00\n3,Northwind,310.25\n',
	'CONFIG.INI': '[db]\nname=sample\nport=5432\n',
};

export interface GuestImage {
	/** <cache>/lab/guest/<hash> */
	readonly dir: string;
	readonly hash: string;
	/** The bootable disk (raw). */
	readonly image: string;
	/** The data disk (raw FAT, unbootable). */
	readonly dataImage: string;
	readonly virtualSize: number;
	readonly dataVirtualSize: number;
	readonly kernelRelease: string;
}

interface BuildRecord {
	hash: string;
	kernelRelease: string;
	builtAt: string;
}

function inputsHash(packages: GuestPackages): string {
	const hash = createHash('sha256');
	const inputs = {
		version: GUEST_BUILD_VERSION,
		debs: [packages.kernel.deb, packages.busybox.deb, packages.syslinux.deb, packages.syslinuxCommon.deb],
		init: INIT_SCRIPT,
		modules: GUEST_MODULES,
		syslinux: SYSLINUX_CFG,
		uefi: STARTUP_NSH,
		data: DATA_DISK_FILES,
		sizes: [GUEST_DISK_BYTES, DATA_DISK_BYTES],
	};
	hash.update(JSON.stringify(inputs));
	return hash.digest('hex').slice(0, 16);
}

function guestImageAt(dir: string, hash: string, kernelRelease: string): GuestImage {
	return {
		dir,
		hash,
		image: path.join(dir, 'guest.raw'),
		dataImage: path.join(dir, 'data.raw'),
		virtualSize: GUEST_DISK_BYTES,
		dataVirtualSize: DATA_DISK_BYTES,
		kernelRelease,
	};
}

/** An empty FAT file system filling a new image file of `bytes` (no partition table). */
export async function formatFat(mtools: Mtools, image: string, bytes: number, label: string): Promise<void> {
	await fs.rm(image, { force: true });
	await execa(mtools.mformat, ['-C', '-T', String(bytes / 512), '-v', label, '-i', image, '::'], { env: mtools.env, stdin: 'ignore' });
}

/** Copies local files into the root of a FAT image (overwriting). */
export async function copyIntoFat(mtools: Mtools, image: string, files: Array<{ from: string; as: string }>): Promise<void> {
	for (const file of files) {
		await execa(mtools.mcopy, ['-o', '-i', image, file.from, `::${file.as}`], { env: mtools.env, stdin: 'ignore' });
	}
}

async function writeFilesIntoFat(mtools: Mtools, image: string, files: Readonly<Record<string, string | Buffer>>): Promise<void> {
	const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-fat-'));
	try {
		const list: Array<{ from: string; as: string }> = [];
		for (const [name, content] of Object.entries(files)) {
			const from = path.join(scratch, name);
			await fs.writeFile(from, content);
			list.push({ from, as: name });
		}
		await copyIntoFat(mtools, image, list);
	} finally {
		await fs.rm(scratch, { recursive: true, force: true });
	}
}

async function build(packages: GuestPackages, mtools: Mtools, staging: string, onProgress: Progress): Promise<string> {
	onProgress('Building initrd', 0.1);
	const { release, modules } = await collectModules(packages.kernel.root);
	const busybox = await fs.readFile(path.join(packages.busybox.root, 'bin', 'busybox'));
	const initrd = buildInitrd(busybox, modules);
	await fs.writeFile(path.join(staging, 'initrd.gz'), initrd);

	onProgress('Building guest image', 0.5);
	const image = path.join(staging, 'guest.raw');
	await formatFat(mtools, image, GUEST_DISK_BYTES, 'RDGUEST');
	await fs.writeFile(path.join(staging, 'syslinux.cfg'), SYSLINUX_CFG);
	await fs.writeFile(path.join(staging, 'startup.nsh'), STARTUP_NSH.replace(/\n/g, '\r\n'));
	await copyIntoFat(mtools, image, [
		{ from: path.join(packages.kernel.root, 'boot', `vmlinuz-${release}`), as: 'vmlinuz' },
		{ from: path.join(staging, 'initrd.gz'), as: 'initrd.gz' },
		{ from: path.join(staging, 'syslinux.cfg'), as: 'syslinux.cfg' },
		{ from: path.join(staging, 'startup.nsh'), as: 'startup.nsh' },
	]);
	// The mtools flavour of the installer: it runs mcopy/mattrib itself (found through PATH),
	// so it works on an image file without mounting it.
	await execa(path.join(packages.syslinux.root, 'usr', 'bin', 'syslinux'), ['--install', image], { env: mtools.env, stdin: 'ignore' });

	onProgress('Building data disk', 0.8);
	const dataImage = path.join(staging, 'data.raw');
	await formatFat(mtools, dataImage, DATA_DISK_BYTES, 'RDDATA');
	await writeFilesIntoFat(mtools, dataImage, DATA_DISK_FILES);
	await fs.rm(path.join(staging, 'initrd.gz'));
	await fs.rm(path.join(staging, 'syslinux.cfg'));
	await fs.rm(path.join(staging, 'startup.nsh'));
	return release;
}

/**
 * Older builds are only a cache: the destination and production disks are copies, nothing
 * refers to them. Folders still being built by another process (".partial-") are left.
 */
async function removeOtherBuilds(guestRoot: string, keep: string): Promise<void> {
	for (const name of await fs.readdir(guestRoot)) {
		if (name !== keep && /^[0-9a-f]{16}$/.test(name)) await fs.rm(path.join(guestRoot, name), { recursive: true, force: true });
	}
}

/** The cached guest image for these packages, built first if needed. */
export async function buildGuestImage(labCache: string, packages: GuestPackages, onProgress: Progress = () => {}): Promise<GuestImage> {
	const hash = inputsHash(packages);
	const dir = path.join(labCache, 'guest', hash);
	const recordFile = path.join(dir, 'build.json');
	const existing = await fs.readFile(recordFile, 'utf8').catch(() => null);
	if (existing) {
		const record = JSON.parse(existing) as BuildRecord;
		onProgress('Guest image up to date', 1);
		return guestImageAt(dir, hash, record.kernelRelease);
	}
	const mtools = await resolveMtools(packages.mtools.root);
	// Build beside the target and rename: an interrupted build never looks complete.
	const staging = `${dir}.partial-${process.pid}`;
	await fs.rm(staging, { recursive: true, force: true });
	await fs.mkdir(staging, { recursive: true });
	try {
		const kernelRelease = await build(packages, mtools, staging, onProgress);
		const record: BuildRecord = { hash, kernelRelease, builtAt: new Date().toISOString() };
		await fs.writeFile(path.join(staging, 'build.json'), `${JSON.stringify(record, null, 2)}\n`);
		await fs.rm(dir, { recursive: true, force: true });
		await fs.rename(staging, dir);
		await removeOtherBuilds(path.dirname(dir), hash);
		onProgress('Guest image built', 1);
		return guestImageAt(dir, hash, kernelRelease);
	} finally {
		await fs.rm(staging, { recursive: true, force: true });
	}
}

export type ImageFormat = 'raw' | 'qcow2' | 'vhdx';

/**
 * Reads one file from the root of a guest disk image, without mounting and without ever
 * opening the image for writing: `qemu-img convert -U` (shares the image with a QEMU that
 * may have it open) to a temporary raw copy, then `mtype`. Returns null if the file is absent.
 */
export async function readGuestFile(imagePath: string, format: ImageFormat, name: string): Promise<string | null> {
	const mtools = await resolveMtools();
	const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-read-'));
	try {
		const copy = path.join(scratch, 'disk.raw');
		await execa('qemu-img', ['convert', '-U', '-f', format, '-O', 'raw', imagePath, copy], { stdin: 'ignore' });
		const result = await execa(mtools.mtype, ['-i', copy, `::${name}`], { env: mtools.env, reject: false, stdin: 'ignore' });
		if (result.exitCode === 0) return result.stdout;
		if (/not found/i.test(result.stderr ?? '')) return null;
		throw new Error(`mtype ${name} from ${imagePath}: ${result.stderr || `exit code ${result.exitCode}`}`);
	} finally {
		await fs.rm(scratch, { recursive: true, force: true });
	}
}

/** The guest's tick log from a disk image ('' if the guest never wrote one). */
export async function readGuestLog(imagePath: string, format: ImageFormat): Promise<string> {
	return (await readGuestFile(imagePath, format, GUEST_LOG)) ?? '';
}

/**
 * The most recently built guest image in the cache, or null when `lab init` has not built one.
 * Hosts use it to probe whether KVM really runs guests (a boot sector is not conclusive).
 */
export async function findBuiltGuestImage(labCache: string): Promise<string | null> {
	const root = path.join(labCache, 'guest');
	let newest: { image: string; builtAt: string } | null = null;
	for (const hash of await fs.readdir(root).catch(() => [] as string[])) {
		try {
			const record = JSON.parse(await fs.readFile(path.join(root, hash, 'build.json'), 'utf8')) as BuildRecord;
			const image = path.join(root, hash, 'guest.raw');
			await fs.access(image);
			if (!newest || record.builtAt > newest.builtAt) newest = { image, builtAt: record.builtAt };
		} catch {
			// an incomplete or foreign folder: not a built image
		}
	}
	return newest?.image ?? null;
}

/**
 * The lab guest to prove an accelerator with, on a host where `lab init` never ran: found in
 * the cache, or built there (its Debian packages downloaded once). A boot sector alone does
 * not show that a real kernel runs under KVM.
 */
export async function ensureProbeGuestImage(labCache: string): Promise<string> {
	const built = await findBuiltGuestImage(labCache);
	if (built) return built;
	const { fetchGuestPackages } = await import('./debs.ts');
	return (await buildGuestImage(labCache, await fetchGuestPackages(labCache))).image;
}
