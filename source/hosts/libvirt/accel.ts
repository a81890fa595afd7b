// Which domain type this libvirt host can really run: `kvm` only where KVM runs guest code,
// else `qemu` (TCG). Some machines expose /dev/kvm and libvirt lists kvm, yet a guest dies with
// "KVM internal error" or hangs; so a guest is booted under kvm (a transient domain, bounded to
// 8 s, always destroyed) and must print its marker on the serial console. Only a real kernel
// is conclusive: on this project's machines a boot sector ran under a KVM that real guests die
// on. So the lab guest is the probe when it has been built (`lab init`); without it a boot sector
// decides, and the verdict says it is inconclusive. Cached per URI, libvirt version, kernel and probe.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import writeFileAtomic from 'write-file-atomic';
import { BOOT_SECTOR_MARKER, bootSectorImage } from '../../qemu/boot-sector.ts';
import { GUEST_MARKER } from '../../qemu/lab-guest.ts';
import { escapeXml, type DomainType } from './domain-xml.ts';
import type { Virsh } from './virsh.ts';

export interface DomainTypeVerdict {
	type: DomainType;
	/** Why, in words a user can act on. */
	reason: string;
	/** What the KVM probe booted: the lab guest (conclusive) or a boot sector; null = no probe. */
	probe?: 'guest' | 'boot-sector' | null;
}

const PROBE_MS = 8_000;

export interface DetectOptions {
	cacheDir: string;
	/** False for a remote libvirt: a probe image here is not there. */
	local: boolean;
	/** The lab guest's raw image: a conclusive probe. */
	probeImage?: string;
}

export async function detectDomainType(virsh: Virsh, options: DetectOptions): Promise<DomainTypeVerdict> {
	const forced = process.env.RUNDIRECT_ACCEL;
	if (forced === 'kvm') return { type: 'kvm', reason: 'RUNDIRECT_ACCEL=kvm' };
	if (forced === 'tcg') return { type: 'qemu', reason: 'RUNDIRECT_ACCEL=tcg' };
	const caps = await virsh.tryRun(['domcapabilities', '--virttype', 'kvm'], { timeoutMs: 60_000 });
	if (!caps.ok) return { type: 'qemu', reason: `libvirt cannot use KVM here (${caps.stderr.replace(/^error:\s*/gm, '').split('\n')[0]}): using TCG` };
	// A remote host's probe image would have to be on that host: trust its capabilities.
	if (!options.local) return { type: 'kvm', reason: 'the remote libvirt offers KVM (not probed with a guest)' };

	const version = (await virsh.tryRun(['version'])).stdout.replace(/\s+/g, ' ').trim();
	const probe: 'guest' | 'boot-sector' = options.probeImage ? 'guest' : 'boot-sector';
	const key = createHash('sha256').update(JSON.stringify([virsh.uri, version, os.release(), probe])).digest('hex').slice(0, 16);
	const cacheFile = path.join(options.cacheDir, `domain-type-${key}.json`);
	const cached = await fs.readFile(cacheFile, 'utf8').then((text) => JSON.parse(text) as DomainTypeVerdict, () => null);
	if (cached && (cached.type === 'kvm' || cached.type === 'qemu') && typeof cached.reason === 'string') return cached;
	// (A boot-sector verdict is not reused once the lab guest can probe: the key names the probe.)

	const verdict = { ...(await probeKvm(virsh, options.probeImage)), probe };
	await fs.mkdir(options.cacheDir, { recursive: true });
	await writeFileAtomic(cacheFile, `${JSON.stringify(verdict)}\n`);
	return verdict;
}

async function probeKvm(virsh: Virsh, guestImage: string | undefined): Promise<DomainTypeVerdict> {
	const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-lvprobe-'));
	const name = `rundirect-probe-${process.pid}-${Date.now()}`;
	const started = Date.now();
	try {
		// QEMU may run as another user (libvirt-qemu): it must be able to read the image.
		await fs.chmod(dir, 0o755);
		const image = guestImage ?? path.join(dir, 'probe.img');
		const marker = guestImage ? GUEST_MARKER : BOOT_SECTOR_MARKER;
		const what = guestImage ? 'the lab guest' : 'a boot sector (inconclusive: run `lab init` so the lab guest confirms it)';
		const serial = path.join(dir, 'serial.log');
		if (!guestImage) await fs.writeFile(image, bootSectorImage(), { mode: 0o644 });
		await fs.writeFile(
			path.join(dir, 'probe.xml'),
			`<domain type='kvm'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type></os><cpu mode='host-model'/>
<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${escapeXml(image)}'/><target dev='vda' bus='virtio'/><readonly/><boot order='1'/></disk>
<serial type='file'><source path='${escapeXml(serial)}'/><target port='0'/></serial><controller type='usb' model='none'/><memballoon model='none'/></devices></domain>\n`,
		);
		const created = await virsh.tryRun(['create', path.join(dir, 'probe.xml')], { timeoutMs: PROBE_MS });
		if (!created.ok) return { type: 'qemu', reason: `KVM is offered but a guest does not start under it (${created.stderr.split('\n')[0]}): using TCG` };
		while (Date.now() - started < PROBE_MS) {
			if ((await fs.readFile(serial, 'latin1').catch(() => '')).includes(marker)) return { type: 'kvm', reason: `KVM ran ${what} in ${Date.now() - started} ms` };
			const state = await virsh.tryRun(['domstate', name, '--reason'], { timeoutMs: 5_000 });
			if (state.ok && !/running/.test(state.stdout)) return { type: 'qemu', reason: `KVM is present but cannot run guest code (${what} is ${state.stdout.trim()}): using TCG` };
			await sleep(100);
		}
		return { type: 'qemu', reason: `KVM is present but ${what} printed nothing within ${PROBE_MS / 1000} s: using TCG` };
	} finally {
		// Never leave a probe behind.
		await virsh.tryRun(['destroy', name], { timeoutMs: 15_000 });
		await fs.rm(dir, { recursive: true, force: true });
	}
}
