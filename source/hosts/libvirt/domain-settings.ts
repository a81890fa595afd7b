// A domain's settings as a restore point keeps them, read from libvirt's domain XML (as
// `virsh dumpxml` writes it): firmware, CPUs, memory, NICs, and each disk's bus and address.
import type { DiskManifest, NicManifest, RestorePointManifest } from '../../catalog/schema.ts';
import { unescapeXml } from './domain-xml.ts';

function attribute(tag: string, name: string): string | null {
	const match = new RegExp(`\\s${name}='([^']*)'`).exec(tag) ?? new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
	return match?.[1] === undefined ? null : unescapeXml(match[1]);
}

const MEMORY_UNITS: Readonly<Record<string, number>> = { b: 1, bytes: 1, k: 1024, kib: 1024, kb: 1000, m: 2 ** 20, mib: 2 ** 20, mb: 1e6, g: 2 ** 30, gib: 2 ** 30, gb: 1e9, t: 2 ** 40, tib: 2 ** 40, tb: 1e12 };

export type DomainVmSettings = Omit<RestorePointManifest['vm'], 'name' | 'id'>;

export function vmSettingsOf(xml: string): DomainVmSettings {
	const vcpu = /<vcpu\b[^>]*>(\d+)<\/vcpu>/.exec(xml);
	const memory = /<memory\b([^>]*)>(\d+)<\/memory>/.exec(xml);
	const unit = (memory?.[1] ? attribute(memory[1], 'unit') : null)?.toLowerCase() ?? 'kib';
	const memoryBytes = Number(memory?.[2] ?? 0) * (MEMORY_UNITS[unit] ?? 1024);
	const os = /<os\b[^>]*>[\s\S]*?<\/os>/.exec(xml)?.[0] ?? '';
	const uefi = /<os\b[^>]*\sfirmware=['"]efi['"]/.test(os) || /<loader\b[^>]*type=['"]pflash['"]/.test(os) || /<loader\b[^>]*>[^<]*(OVMF|edk2)[^<]*<\/loader>/i.test(os);
	const secureBoot = uefi && (/<feature\b[^>]*enabled=['"]yes['"][^>]*name=['"]secure-boot['"]/.test(os) || /<loader\b[^>]*secure=['"]yes['"]/.test(os));
	const nics: NicManifest[] = [];
	for (const match of xml.matchAll(/<interface\b([^>]*)>([\s\S]*?)<\/interface>/g)) {
		const body = match[2] ?? '';
		const source = /<source\b[^>]*>/.exec(body)?.[0] ?? '';
		const mac = /<mac\b[^>]*>/.exec(body)?.[0];
		const vlan = /<tag\b[^>]*id=['"](\d+)['"]/.exec(body)?.[1];
		nics.push({ switch: attribute(source, 'network') ?? attribute(source, 'bridge') ?? attribute(source, 'dev') ?? 'default', mac: mac ? attribute(mac, 'address') : null, vlan: vlan ? Number(vlan) : null });
	}
	return {
		generation: uefi ? 2 : 1,
		firmware: uefi ? 'uefi' : 'bios',
		secureBoot,
		secureBootTemplate: null,
		cpus: Number(vcpu?.[1] ?? 1),
		memoryMiB: Math.max(1, Math.round(memoryBytes / 2 ** 20)),
		nics,
	};
}

export interface DomainDiskSlot {
	/** The target device (vda, sdb). */
	target: string;
	source: string | null;
	/** The driver's format (qcow2, raw). */
	format: string | null;
	controller: DiskManifest['controller'];
	controllerNumber: number;
	location: number;
}

/** The domain's hard disks (not CD-ROMs) in definition order, each with its bus and address. */
export function diskSlotsOf(xml: string): DomainDiskSlot[] {
	const slots: DomainDiskSlot[] = [];
	let virtio = 0;
	for (const match of xml.matchAll(/<disk\b([^>]*)>([\s\S]*?)<\/disk>/g)) {
		if ((attribute(`<disk${match[1] ?? ''}>`, 'device') ?? 'disk') !== 'disk') continue;
		const body = match[2] ?? '';
		const target = /<target\b[^>]*>/.exec(body)?.[0] ?? '';
		const source = /<source\b[^>]*>/.exec(body)?.[0] ?? '';
		const driver = /<driver\b[^>]*>/.exec(body)?.[0] ?? '';
		const address = /<address\b[^>]*type=['"]drive['"][^>]*>/.exec(body)?.[0] ?? '';
		const bus = attribute(target, 'bus') ?? 'virtio';
		const controller: DiskManifest['controller'] = bus === 'scsi' ? 'scsi' : bus === 'sata' || bus === 'ide' ? 'ide' : 'virtio';
		const number = Number(attribute(address, 'controller') ?? 0);
		const unit = Number(attribute(address, 'unit') ?? 0);
		slots.push({
			target: attribute(target, 'dev') ?? '',
			source: attribute(source, 'file') ?? attribute(source, 'dev'),
			format: attribute(driver, 'type'),
			controller,
			// SATA units 0-5 on one controller map back to IDE controller/location pairs.
			controllerNumber: controller === 'virtio' ? 0 : controller === 'ide' && bus === 'sata' ? Math.floor(unit / 2) : number,
			location: controller === 'virtio' ? virtio++ : controller === 'ide' && bus === 'sata' ? unit % 2 : unit,
		});
	}
	return slots;
}
