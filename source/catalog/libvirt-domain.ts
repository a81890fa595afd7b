// A libvirt domain XML (as `virsh dumpxml` writes it) read into what a restore point keeps:
// name, uuid, firmware, CPUs, memory, NICs, and each hard disk with its bus, address, source,
// format and backing store. The catalog reads restore points made of such an XML beside its
// disks; the libvirt host's backup records a domain's settings with the same reader.
import type { DiskManifest, NicManifest, RestorePointManifest } from './schema.ts';
import { childOf, childrenOf, parseXml, type XmlElement } from './xml.ts';

const MEMORY_UNITS: Readonly<Record<string, number>> = { b: 1, bytes: 1, k: 1024, kib: 1024, kb: 1000, m: 2 ** 20, mib: 2 ** 20, mb: 1e6, g: 2 ** 30, gib: 2 ** 30, gb: 1e9, t: 2 ** 40, tib: 2 ** 40, tb: 1e12 };

export type DomainVmSettings = Omit<RestorePointManifest['vm'], 'name' | 'id'>;

export interface DomainDiskSlot {
	/** The target device (vda, sdb). */
	target: string;
	/** libvirt's disk type: file, block, network, volume. */
	type: string;
	source: string | null;
	/** The driver's format (qcow2, raw). */
	format: string | null;
	/** The source of a non-empty <backingStore>: a file this disk needs besides its own. */
	backing: string | null;
	controller: DiskManifest['controller'];
	controllerNumber: number;
	location: number;
}

export interface DomainDefinition {
	name: string | null;
	uuid: string | null;
	settings: DomainVmSettings;
	/** Hard disks (not CD-ROMs or floppies), in definition order. */
	disks: DomainDiskSlot[];
}

function trimmed(element: XmlElement | undefined): string | null {
	const text = element?.text.trim();
	return text ? text : null;
}

function settingsOf(domain: XmlElement): DomainVmSettings {
	const memory = childOf(domain, 'memory');
	const unit = memory?.attributes.unit?.toLowerCase() ?? 'kib';
	const memoryBytes = Number(trimmed(memory) ?? 0) * (MEMORY_UNITS[unit] ?? 1024);
	const os = childOf(domain, 'os');
	const loader = childOf(os, 'loader');
	const uefi = os?.attributes.firmware === 'efi' || loader?.attributes.type === 'pflash' || /OVMF|edk2/i.test(loader?.text ?? '');
	const features = childrenOf(childOf(os, 'firmware'), 'feature');
	const secureBoot = uefi && (features.some((feature) => feature.attributes.name === 'secure-boot' && feature.attributes.enabled === 'yes') || loader?.attributes.secure === 'yes');
	const nics: NicManifest[] = childrenOf(childOf(domain, 'devices'), 'interface').map((nic) => {
		const source = childOf(nic, 'source')?.attributes ?? {};
		const vlan = childOf(childOf(nic, 'vlan'), 'tag')?.attributes.id;
		return { switch: source.network ?? source.bridge ?? source.dev ?? 'default', mac: childOf(nic, 'mac')?.attributes.address ?? null, vlan: vlan === undefined ? null : Number(vlan) };
	});
	const vcpu = trimmed(childOf(domain, 'vcpu'));
	return {
		generation: uefi ? 2 : 1,
		firmware: uefi ? 'uefi' : 'bios',
		secureBoot,
		secureBootTemplate: null,
		cpus: vcpu === null ? 1 : Number(vcpu),
		memoryMiB: Math.max(1, Math.round(memoryBytes / 2 ** 20)),
		nics,
	};
}

function disksOf(domain: XmlElement): DomainDiskSlot[] {
	let virtio = 0;
	return childrenOf(childOf(domain, 'devices'), 'disk')
		.filter((disk) => (disk.attributes.device ?? 'disk') === 'disk')
		.map((disk) => {
			const target = childOf(disk, 'target')?.attributes ?? {};
			const source = childOf(disk, 'source')?.attributes ?? {};
			const backingSource = childOf(childOf(disk, 'backingStore'), 'source')?.attributes;
			const address = childrenOf(disk, 'address').find((candidate) => candidate.attributes.type === 'drive')?.attributes ?? {};
			const bus = target.bus ?? 'virtio';
			const controller: DiskManifest['controller'] = bus === 'scsi' ? 'scsi' : bus === 'sata' || bus === 'ide' ? 'ide' : 'virtio';
			const number = Number(address.controller ?? 0);
			const unit = Number(address.unit ?? 0);
			return {
				target: target.dev ?? '',
				type: disk.attributes.type ?? 'file',
				source: source.file ?? source.dev ?? null,
				format: childOf(disk, 'driver')?.attributes.type ?? null,
				backing: backingSource ? (backingSource.file ?? backingSource.dev ?? backingSource.name ?? '?') : null,
				controller,
				// SATA units 0-5 on one controller map back to IDE controller/location pairs.
				controllerNumber: controller === 'virtio' ? 0 : controller === 'ide' && bus === 'sata' ? Math.floor(unit / 2) : number,
				location: controller === 'virtio' ? virtio++ : controller === 'ide' && bus === 'sata' ? unit % 2 : unit,
			};
		});
}

/** Reads a domain XML; throws XmlError when it is malformed, Error when it is not a <domain>. */
export function readDomainXml(xml: string): DomainDefinition {
	const domain = parseXml(xml);
	if (domain.name !== 'domain') throw new Error(`its root element is <${domain.name}>, not a libvirt <domain>`);
	return { name: trimmed(childOf(domain, 'name')), uuid: trimmed(childOf(domain, 'uuid')), settings: settingsOf(domain), disks: disksOf(domain) };
}

export function vmSettingsOf(xml: string): DomainVmSettings {
	return readDomainXml(xml).settings;
}

export function diskSlotsOf(xml: string): DomainDiskSlot[] {
	return readDomainXml(xml).disks;
}
