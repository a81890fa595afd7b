// Builds the lab's real guest: a small Debian (systemd, ext4, Debian's cloud kernel, PostgreSQL,
// qemu-guest-agent) from Debian's packages with debootstrap, in a partitioned disk image made
// without loop mounts: the ext4 root is filled from a folder (mkfs.ext4 -d); the FAT boot
// partition, made with mtools, holds the kernel and initramfs, syslinux (BIOS, behind syslinux's
// MBR code) and systemd-boot (UEFI), so one image boots as generation 1 and as generation 2.
// debootstrap needs root. Built once per set of inputs into <cache>/lab/debian/<hash>/.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { GuestPackages, Progress } from './debs.ts';
import { copyIntoFat } from './guest.ts';
import { findOnPath } from '../core/files.ts';
import { resolveMtools, type Mtools } from './tools.ts';

/** Bump when the way the image is built changes, so cached images are rebuilt. */
export const DEBIAN_BUILD_VERSION = 2;
export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_PACKAGES = ['systemd-sysv', 'udev', 'linux-image-cloud-amd64', 'postgresql', 'qemu-guest-agent', 'systemd-boot-efi', 'iproute2', 'procps'] as const;
export const DEBIAN_DISK_BYTES = 4 * 2 ** 30;
const SECTOR = 512;
const BOOT_START = 2 ** 20;
const ROOT_START = 128 * 2 ** 20;
export const ROOT_LABEL = 'rdroot';
/** Printed on the serial console once PostgreSQL has started: the guest is up. */
export const DEBIAN_READY_MARKER = 'rundirect-debian: ready';

const CMDLINE = `root=LABEL=${ROOT_LABEL} ro console=ttyS0 quiet`;

/** The guest's own files, written into the root before the image is made. */
export const DEBIAN_FILES: Readonly<Record<string, string>> = {
	'etc/fstab': `LABEL=${ROOT_LABEL} / ext4 errors=remount-ro 0 1\n`,
	'etc/hostname': 'rundirect-debian\n',
	'etc/hosts': '127.0.0.1 localhost\n127.0.1.1 rundirect-debian\n',
	// Every NIC up with DHCP (a production network gives an address) and an IPv6 link-local address (a drill's probe reaches the guest there, no DHCP needed).
	'etc/systemd/network/50-rundirect.network': '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\nLinkLocalAddressing=yes\n',
	// PostgreSQL answers on the network too, so a drill's TCP check of port 5432 sees it.
	'etc/postgresql/15/main/conf.d/rundirect.conf': "listen_addresses = '*'\n",
	'etc/systemd/system/rundirect-ready.service': [
		'[Unit]',
		'Description=rundirect: say on the serial console that the guest is up',
		'After=postgresql.service qemu-guest-agent.service',
		'',
		'[Service]',
		'Type=oneshot',
		`ExecStart=/bin/sh -c 'echo "${DEBIAN_READY_MARKER}" > /dev/ttyS0'`,
		'',
		'[Install]',
		'WantedBy=multi-user.target',
		'',
	].join('\n'),
};

const SYSLINUX_CFG = `SERIAL 0 115200\nDEFAULT debian\nPROMPT 0\nTIMEOUT 0\nLABEL debian\n\tKERNEL vmlinuz\n\tINITRD initrd.img\n\tAPPEND ${CMDLINE}\n`;
const LOADER_CONF = 'default debian.conf\ntimeout 0\n';
const LOADER_ENTRY = `title Debian (rundirect lab)\nlinux /vmlinuz\ninitrd /initrd.img\noptions ${CMDLINE}\n`;

export interface DebianImage {
	readonly dir: string;
	readonly hash: string;
	/** The bootable disk (raw, sparse). */
	readonly image: string;
	readonly virtualSize: number;
	readonly kernelRelease: string;
}

interface BuildRecord {
	hash: string;
	kernelRelease: string;
	builtAt: string;
}

/** What the build needs that is not there, as the apt-get line that brings it. */
export async function debianBuildMissing(): Promise<string | null> {
	if (process.getuid?.() !== 0) return 'building the Debian guest needs root (debootstrap works in a chroot): run `sudo rundirect lab init --with-debian`';
	const needs: Array<[string, string]> = [['debootstrap', 'debootstrap'], ['mkfs.ext4', 'e2fsprogs'], ['sfdisk', 'fdisk'], ['mmd', 'mtools']];
	const missing: string[] = [];
	for (const [binary, pkg] of needs) if (!(await findOnPath(binary))) missing.push(pkg);
	return missing.length === 0 ? null : `building the Debian guest needs ${missing.join(', ')}: apt-get install -y ${missing.join(' ')}`;
}

function inputsHash(packages: GuestPackages): string {
	const inputs = { version: DEBIAN_BUILD_VERSION, suite: DEBIAN_SUITE, packages: DEBIAN_PACKAGES, files: DEBIAN_FILES, syslinux: [SYSLINUX_CFG, path.basename(packages.syslinux.deb)], uefi: [LOADER_CONF, LOADER_ENTRY], size: DEBIAN_DISK_BYTES };
	return createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);
}

function mirror(): string {
	return process.env.RUNDIRECT_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
}

/** debootstrap, then the guest's own settings: no timers, an empty root password, a clean package cache. */
async function bootstrap(root: string, onProgress: Progress): Promise<string> {
	onProgress(`debootstrap ${DEBIAN_SUITE} from ${mirror()} (a few minutes)`, 0.05);
	const result = await execa('debootstrap', ['--variant=minbase', `--include=${DEBIAN_PACKAGES.join(',')}`, DEBIAN_SUITE, root, mirror()], { reject: false, stdin: 'ignore', all: true });
	if (result.exitCode !== 0) throw new Error(`debootstrap failed (exit ${result.exitCode}): ${(result.all ?? '').split('\n').slice(-8).join('\n')}`);
	onProgress('Configuring the guest', 0.6);
	for (const [file, text] of Object.entries(DEBIAN_FILES)) {
		await fs.mkdir(path.dirname(path.join(root, file)), { recursive: true });
		await fs.writeFile(path.join(root, file), text);
	}
	// networkd brings the NICs up; nothing waits for "network online" (a drill network gives no address, and boot must not wait for one).
	await execa('chroot', [root, 'systemctl', 'enable', 'systemd-networkd.service'], { stdin: 'ignore' });
	await execa('chroot', [root, 'systemctl', 'mask', 'systemd-networkd-wait-online.service'], { stdin: 'ignore' });
	const wants = path.join(root, 'etc', 'systemd', 'system', 'multi-user.target.wants');
	await fs.mkdir(wants, { recursive: true });
	await fs.symlink('/etc/systemd/system/rundirect-ready.service', path.join(wants, 'rundirect-ready.service')).catch(() => undefined);
	// Timers (apt, e2scrub, fstrim) would write to the disks at times of their own: a lab guest writes what a test makes it write.
	await fs.rm(path.join(root, 'etc', 'systemd', 'system', 'timers.target.wants'), { recursive: true, force: true });
	await execa('chroot', [root, 'passwd', '-d', 'root'], { stdin: 'ignore' });
	await fs.writeFile(path.join(root, 'etc', 'machine-id'), '');
	for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
		for (const name of await fs.readdir(path.join(root, dir)).catch(() => [] as string[])) if (name !== 'partial' && name !== 'lock') await fs.rm(path.join(root, dir, name), { recursive: true, force: true });
	}
	const releases = (await fs.readdir(path.join(root, 'lib', 'modules'))).sort();
	const release = releases.at(-1);
	if (!release) throw new Error('debootstrap installed no kernel');
	return release;
}

/** The FAT boot partition: kernel, initramfs, syslinux for BIOS, systemd-boot for UEFI. */
async function bootPartition(mtools: Mtools, packages: GuestPackages, root: string, release: string, image: string, scratch: string): Promise<void> {
	const bytes = ROOT_START - BOOT_START;
	// -H: the sectors before the partition, which syslinux's boot sector adds to every read.
	await execa(mtools.mformat, ['-C', '-T', String(bytes / SECTOR), '-H', String(BOOT_START / SECTOR), '-v', 'RDBOOT', '-i', image, '::'], { env: mtools.env, stdin: 'ignore' });
	for (const dir of ['EFI', 'EFI/BOOT', 'loader', 'loader/entries']) await execa(path.join(mtools.dir, 'mmd'), ['-i', image, `::${dir}`], { env: mtools.env, stdin: 'ignore' });
	const texts: Record<string, string> = { 'syslinux.cfg': SYSLINUX_CFG, 'loader/loader.conf': LOADER_CONF, 'loader/entries/debian.conf': LOADER_ENTRY };
	const files = [
		{ from: path.join(root, 'boot', `vmlinuz-${release}`), as: 'vmlinuz' },
		{ from: path.join(root, 'boot', `initrd.img-${release}`), as: 'initrd.img' },
		{ from: path.join(root, 'usr', 'lib', 'systemd', 'boot', 'efi', 'systemd-bootx64.efi'), as: 'EFI/BOOT/BOOTX64.EFI' },
	];
	for (const [name, text] of Object.entries(texts)) {
		const from = path.join(scratch, name.replace(/\//g, '_'));
		await fs.writeFile(from, text);
		files.push({ from, as: name });
	}
	await copyIntoFat(mtools, image, files);
	await execa(path.join(packages.syslinux.root, 'usr', 'bin', 'syslinux'), ['--install', image], { env: mtools.env, stdin: 'ignore' });
}

/** Writes `part` into `disk` at `offset`, holes kept. */
async function place(disk: string, part: string, offset: number): Promise<void> {
	await execa('dd', [`if=${part}`, `of=${disk}`, 'bs=1M', `seek=${offset / 2 ** 20}`, 'conv=notrunc,sparse', 'status=none'], { stdin: 'ignore' });
}

async function build(packages: GuestPackages, staging: string, onProgress: Progress): Promise<string> {
	const mtools = await resolveMtools(packages.mtools.root);
	const root = path.join(staging, 'root');
	const release = await bootstrap(root, onProgress);
	onProgress('Making the boot partition', 0.7);
	const boot = path.join(staging, 'boot.img');
	await bootPartition(mtools, packages, root, release, boot, staging);
	onProgress('Making the ext4 root from the folder (mkfs.ext4 -d)', 0.75);
	const rootImage = path.join(staging, 'root.img');
	await execa('mkfs.ext4', ['-q', '-F', '-L', ROOT_LABEL, '-d', root, rootImage, String((DEBIAN_DISK_BYTES - ROOT_START) / 1024)], { stdin: 'ignore' });
	onProgress('Assembling the disk', 0.9);
	const disk = path.join(staging, 'disk.raw');
	await fs.writeFile(disk, '');
	await fs.truncate(disk, DEBIAN_DISK_BYTES);
	// MBR: the boot partition active and typed EFI System (OVMF finds its ESP on an MBR disk too).
	const layout = `label: dos\nstart=${BOOT_START / SECTOR}, size=${(ROOT_START - BOOT_START) / SECTOR}, type=ef, bootable\nstart=${ROOT_START / SECTOR}, type=83\n`;
	await execa('sfdisk', ['--quiet', disk], { input: layout });
	// syslinux's MBR code (440 bytes, before the partition table): BIOS boots the active partition.
	const mbr = await fs.readFile(path.join(packages.syslinuxCommon.root, 'usr', 'lib', 'syslinux', 'mbr', 'mbr.bin'));
	const handle = await fs.open(disk, 'r+');
	try {
		await handle.write(mbr.subarray(0, 440), 0, 440, 0);
	} finally {
		await handle.close();
	}
	await place(disk, boot, BOOT_START);
	await place(disk, rootImage, ROOT_START);
	await fs.rm(boot);
	await fs.rm(rootImage);
	await fs.rm(root, { recursive: true, force: true });
	return release;
}

/** The cached Debian guest for these inputs, built first if needed (root, a few minutes). */
export async function buildDebianImage(labCache: string, packages: GuestPackages, onProgress: Progress = () => {}): Promise<DebianImage> {
	const hash = inputsHash(packages);
	const dir = path.join(labCache, 'debian', hash);
	const at = (kernelRelease: string): DebianImage => ({ dir, hash, image: path.join(dir, 'disk.raw'), virtualSize: DEBIAN_DISK_BYTES, kernelRelease });
	const existing = await fs.readFile(path.join(dir, 'build.json'), 'utf8').catch(() => null);
	if (existing) {
		onProgress('Debian guest up to date', 1);
		return at((JSON.parse(existing) as BuildRecord).kernelRelease);
	}
	const missing = await debianBuildMissing();
	if (missing) throw new Error(missing);
	// Built beside the target and renamed: an interrupted build never looks complete.
	const staging = `${dir}.partial-${process.pid}`;
	await fs.rm(staging, { recursive: true, force: true });
	await fs.mkdir(staging, { recursive: true });
	try {
		const kernelRelease = await build(packages, staging, onProgress);
		const record: BuildRecord = { hash, kernelRelease, builtAt: new Date().toISOString() };
		await fs.writeFile(path.join(staging, 'build.json'), `${JSON.stringify(record, null, 2)}\n`);
		await fs.rm(dir, { recursive: true, force: true });
		await fs.rename(staging, dir);
		onProgress('Debian guest built', 1);
		return at(kernelRelease);
	} finally {
		await fs.rm(staging, { recursive: true, force: true });
	}
}
