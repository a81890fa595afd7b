// The lab guest's initramfs: a static busybox, the kernel modules that reach its disk on any
// bus the lab host gives a restore point (virtio-blk, virtio-scsi, PIIX IDE) and read FAT, and
// an /init script that proves the guest runs and writes to its disks.
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { GUEST_MARKER } from '../qemu/lab-guest.ts';
import { writeCpio, type CpioEntry } from './cpio.ts';

/** The file the guest appends a tick line to every second, at the root of each of its disks. */
export const GUEST_LOG = 'guest.log';

/**
 * Modules for a disk on virtio-blk, on virtio-scsi or on a PC's PIIX IDE (generation 1), and
 * a FAT file system on it. Listed in load order for readability; dependencies found in the
 * modules themselves are loaded first. Missing ones are skipped (built in, or absent in that
 * kernel: virtio_pci_legacy_dev; the cloud kernel has no ahci, and the lab gives a
 * generation 2 VM no IDE, as Hyper-V does not).
 */
export const GUEST_MODULES = [
	'virtio',
	'virtio_ring',
	'virtio_pci_legacy_dev',
	'virtio_pci_modern_dev',
	'virtio_pci',
	'virtio_blk',
	'scsi_mod',
	'virtio_scsi',
	'libata',
	'ata_piix',
	'sd_mod',
	'fat',
	'vfat',
	'nls_cp437',
	// Debian's FAT default iocharset is "ascii": without nls_ascii, mounting vfat fails (EINVAL).
	'nls_ascii',
	'nls_iso8859-1',
	'nls_utf8',
] as const;

export const INIT_SCRIPT = `#!/bin/sh
# rundirect lab guest: mount the disk(s), print a marker, append a tick every second.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for module in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$module.ko" || echo "rundirect-guest: insmod $module failed"
done
# The disks are /dev/vd* (virtio-blk) or /dev/sd* (virtio-scsi, IDE); they are probed
# asynchronously, so they may lag the insmod a little. The boot disk is the one labelled
# RDGUEST (the first disk when none is), the data disk RDDATA (else the next one).
disks() { ls /dev/vd[a-z] /dev/sd[a-z] 2>/dev/null; }
tries=0
while [ -z "$(disks)" ] && [ $tries -lt 100 ]; do usleep 100000; tries=$((tries + 1)); done
usleep 300000
root=$(findfs LABEL=RDGUEST 2>/dev/null)
[ -n "$root" ] || root=$(disks | head -n 1)
if [ -z "$root" ] || ! mount -t vfat -o rw "$root" /mnt; then
	echo "RUNDIRECT-GUEST-ERROR cannot mount the boot disk $root"
	while true; do sleep 3600; done
fi
data=$(findfs LABEL=RDDATA 2>/dev/null)
[ -n "$data" ] || data=$(disks | grep -vx "$root" | head -n 1)
second=
if [ -n "$data" ] && [ -b "$data" ] && mount -t vfat -o rw "$data" /mnt2; then second=/mnt2; fi
boot=$(cat /proc/sys/kernel/random/uuid)
echo "${GUEST_MARKER} boot=$boot"
n=0
while true; do
	n=$((n + 1))
	read up idle </proc/uptime
	line="tick $boot $n $up"
	echo "$line" >>/mnt/${GUEST_LOG}
	logs=/mnt/${GUEST_LOG}
	if [ -n "$second" ]; then echo "$line" >>$second/${GUEST_LOG}; logs="$logs $second/${GUEST_LOG}"; fi
	# A plain sync writes FAT data but sends no cache flush to the disk, so QEMU would keep
	# the qcow2 metadata in memory (a killed QEMU loses the tick). fsync on a vfat file
	# (busybox "sync FILE") ends with a block-device flush.
	sync
	sync $logs
	echo "rundirect-tick $n"
	sleep 1
done
`;

export interface KernelModules {
	/** Module names in the order insmod must load them. */
	readonly order: string[];
	/** Uncompressed module files, by name. */
	readonly files: Map<string, Buffer>;
}

/** Module names treat "-" and "_" alike. */
const canonical = (name: string): string => name.replace(/-/g, '_');

async function walk(dir: string, into: Map<string, string>): Promise<void> {
	for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) await walk(full, into);
		else {
			const match = /^(.+)\.ko(\.xz|\.zst|\.gz)?$/.exec(entry.name);
			if (match?.[1]) into.set(canonical(match[1]), full);
		}
	}
}

/** Debian ships .ko (bookworm) or .ko.xz / .ko.zst (later releases): hand insmod a plain .ko. */
async function readModule(file: string): Promise<Buffer> {
	if (file.endsWith('.gz')) return zlib.gunzipSync(await fs.readFile(file));
	if (file.endsWith('.xz') || file.endsWith('.zst')) {
		const tool = file.endsWith('.xz') ? 'xz' : 'zstd';
		const result = await execa(tool, ['-dc', file], { encoding: 'buffer', stdin: 'ignore' });
		return Buffer.from(result.stdout);
	}
	return fs.readFile(file);
}

/** The `depends=` entry of a module's .modinfo section (depmod's modules.dep is not in the .deb). */
function dependsOf(module: Buffer): string[] {
	const key = Buffer.from('\0depends=');
	const start = module.indexOf(key);
	if (start < 0) return [];
	const end = module.indexOf(0, start + key.length);
	return module
		.subarray(start + key.length, end)
		.toString('utf8')
		.split(',')
		.filter(Boolean)
		.map(canonical);
}

export async function collectModules(kernelRoot: string): Promise<{ release: string; modules: KernelModules }> {
	const modulesRoot = path.join(kernelRoot, 'lib', 'modules');
	const releases = await fs.readdir(modulesRoot);
	const release = releases[0];
	if (releases.length !== 1 || !release) throw new Error(`${modulesRoot}: expected one kernel release, found ${releases.join(', ') || 'none'}`);
	const available = new Map<string, string>();
	await walk(path.join(modulesRoot, release, 'kernel'), available);

	const order: string[] = [];
	const files = new Map<string, Buffer>();
	const visiting = new Set<string>();
	const add = async (name: string): Promise<void> => {
		if (files.has(name) || visiting.has(name)) return;
		const file = available.get(name);
		if (!file) return; // built into the kernel, or not in this kernel at all
		visiting.add(name);
		const data = await readModule(file);
		for (const dependency of dependsOf(data)) await add(dependency);
		files.set(name, data);
		order.push(name);
	};
	for (const name of GUEST_MODULES) await add(canonical(name));
	for (const required of ['virtio_blk', 'virtio_scsi', 'ata_piix', 'sd_mod', 'vfat']) {
		if (!files.has(required) && !available.has(required)) {
			// Not a module: fine only if built in.
			const builtin = await fs.readFile(path.join(modulesRoot, release, 'modules.builtin'), 'utf8').catch(() => '');
			if (!builtin.split('\n').some((line) => canonical(path.basename(line)).startsWith(`${required}.ko`)))
				throw new Error(`kernel ${release} has no ${required} module and does not build it in`);
		}
	}
	return { release, modules: { order, files } };
}

/** The gzip-compressed newc archive. */
export function buildInitrd(busybox: Buffer, modules: KernelModules, initScript: string = INIT_SCRIPT): Buffer {
	const entries: CpioEntry[] = [
		...['bin', 'dev', 'proc', 'sys', 'mnt', 'mnt2', 'tmp', 'lib', 'lib/modules'].map((name): CpioEntry => ({ name, type: 'dir' })),
		// The kernel opens /dev/console before devtmpfs exists: without this node init has no output.
		{ name: 'dev/console', type: 'char', mode: 0o600, major: 5, minor: 1 },
		{ name: 'bin/busybox', type: 'file', mode: 0o755, data: busybox },
		{ name: 'bin/sh', type: 'symlink', data: 'busybox' },
		{ name: 'init', type: 'file', mode: 0o755, data: initScript },
		{ name: 'lib/modules/load-order', type: 'file', data: `${modules.order.join('\n')}\n` },
		...modules.order.map((name): CpioEntry => ({ name: `lib/modules/${name}.ko`, type: 'file', data: modules.files.get(name)! })),
	];
	// mtime 0 in the gzip header too: same inputs, same bytes.
	return zlib.gzipSync(writeCpio(entries), { level: 9 });
}
