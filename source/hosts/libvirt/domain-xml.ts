// The domain XML this driver writes (step 4) and the little it reads back from `virsh dumpxml`
// (each disk's source, backing chain and block-copy mirror). libvirt formats its own XML in a
// fixed way (single-quoted attributes, a disk's top <source> before its <backingStore> and
// <mirror>), so a few anchored patterns read it; nothing here parses arbitrary XML.
import type { DiskPlacement, RestorePlan } from '../host.ts';
import { probed, sessionTaps } from './tcp-check.ts';

/** Our metadata namespace: marks a session's domain and a set-aside one. */
export const METADATA_NS = 'https://rundirect.dev/xmlns/libvirt/1';
export const METADATA_KEY = 'rd';

/** libvirt's domain types: kvm where KVM really runs guests, else qemu (TCG). */
export type DomainType = 'kvm' | 'qemu';

export function escapeXml(text: string): string {
	return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

export function unescapeXml(text: string): string {
	return text
		.replace(/&lt;/g, '<')
		.replace(/&gt;/g, '>')
		.replace(/&apos;/g, "'")
		.replace(/&quot;/g, '"')
		.replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
		.replace(/&amp;/g, '&');
}

/** vda, vdb, …, vdz, vdaa: libvirt's target naming. */
function driveLetters(index: number): string {
	let name = '';
	let n = index;
	do {
		name = String.fromCharCode(97 + (n % 26)) + name;
		n = Math.floor(n / 26) - 1;
	} while (n >= 0);
	return name;
}

export interface DiskTarget {
	dev: string;
	bus: 'virtio' | 'scsi' | 'sata';
	/** <address type='drive'> for scsi and sata disks. */
	address: { controller: number; unit: number } | null;
}

/**
 * Where each disk of the restore point sits in the domain, in manifest order: virtio disks are
 * vdX; SCSI disks go on virtio-scsi controller N at their unit; IDE disks (Hyper-V generation 1)
 * go on the q35 SATA controller, IDE controller c location l → unit 2c+l.
 */
export function diskTargets(disks: Array<Pick<DiskPlacement, 'controller' | 'controllerNumber' | 'location'>>): DiskTarget[] {
	let virtio = 0;
	let sd = 0;
	return disks.map((disk) => {
		if (disk.controller === 'virtio') return { dev: `vd${driveLetters(virtio++)}`, bus: 'virtio', address: null };
		if (disk.controller === 'scsi') return { dev: `sd${driveLetters(sd++)}`, bus: 'scsi', address: { controller: disk.controllerNumber, unit: disk.location } };
		return { dev: `sd${driveLetters(sd++)}`, bus: 'sata', address: { controller: 0, unit: disk.controllerNumber * 2 + disk.location } };
	});
}

/** The backup must never be relabeled (chowned, xattr'd) by libvirt's DAC driver. */
const NO_RELABEL = "<seclabel model='dac' relabel='no'/>";

function diskXml(disk: DiskPlacement, target: DiskTarget, onProduction: boolean, first: boolean): string {
	const source = onProduction
		? `<source file='${escapeXml(disk.production)}'/>\n      <backingStore/>`
		: `<source file='${escapeXml(disk.overlay)}'/>
      <backingStore type='file'>
        <format type='${disk.format}'/>
        <source file='${escapeXml(disk.backup)}'>${NO_RELABEL}</source>
        <backingStore/>
      </backingStore>`;
	const address = target.address ? `\n      <address type='drive' controller='${target.address.controller}' bus='0' target='0' unit='${target.address.unit}'/>` : '';
	return `    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      ${source}
      <target dev='${target.dev}' bus='${target.bus}'/>${first ? "\n      <boot order='1'/>" : ''}${address}
    </disk>`;
}

function macOf(mac: string): string {
	const hex = mac.replace(/[:-]/g, '').toLowerCase();
	return hex.match(/../g)?.join(':') ?? mac;
}

export interface DomainXmlInput {
	plan: RestorePlan;
	type: DomainType;
	serialFile: string;
	/** Disks (by index) already on their production image. */
	onProduction?: ReadonlySet<number>;
}

/** Step 4's domain: the restore point's settings, each disk an overlay over its read-only backup. */
export function domainXml({ plan, type, serialFile, onProduction = new Set() }: DomainXmlInput): string {
	const { settings } = plan;
	const targets = diskTargets(plan.disks);
	const scsiControllers = [...new Set(targets.filter((target) => target.bus === 'scsi').map((target) => target.address?.controller ?? 0))];
	// A drill VM with TCP checks: each NIC a tap of its own, moved into the session's namespace once it runs (tcp-check.ts).
	const taps = probed(plan) ? sessionTaps(plan) : null;
	const networks = taps ? [] : plan.drill ? (plan.drill.isolatedSwitch === null ? [] : settings.nics.map((nic) => ({ ...nic, switch: plan.drill?.isolatedSwitch ?? nic.switch }))) : settings.nics;
	const uefi = settings.firmware === 'uefi';
	const lines = [
		`<domain type='${type}'>`,
		`  <name>${escapeXml(plan.vmName)}</name>`,
		`  <metadata><${METADATA_KEY}:restore xmlns:${METADATA_KEY}='${METADATA_NS}' session='${escapeXml(plan.sessionId)}'/></metadata>`,
		`  <memory unit='MiB'>${settings.memoryMiB}</memory>`,
		`  <vcpu>${settings.cpus}</vcpu>`,
		uefi ? `  <os firmware='efi'>` : '  <os>',
		"    <type arch='x86_64' machine='q35'>hvm</type>",
		...(uefi && settings.secureBoot ? ["    <firmware><feature enabled='yes' name='secure-boot'/><feature enabled='yes' name='enrolled-keys'/></firmware>"] : []),
		'  </os>',
		`  <features><acpi/>${uefi && settings.secureBoot ? "<smm state='on'/>" : ''}</features>`,
		...(type === 'kvm' ? ["  <cpu mode='host-model'/>"] : []),
		'  <devices>',
		...plan.disks.map((disk, index) => diskXml(disk, targets[index] as DiskTarget, onProduction.has(disk.index), index === 0)),
		...scsiControllers.map((index) => `    <controller type='scsi' index='${index}' model='virtio-scsi'/>`),
		...networks.map((nic) => {
			const mac = nic.mac ? `<mac address='${macOf(nic.mac)}'/>` : '';
			// A NIC the restore point records as unconnected stays so: present, its cable unplugged.
			if (nic.switch === null) return `    <interface type='user'>${mac}<model type='virtio'/><link state='down'/></interface>`;
			return `    <interface type='network'><source network='${escapeXml(nic.switch)}'/>${mac}<model type='virtio'/></interface>`;
		}),
		...(taps ?? []).map((tap, index) => {
			const mac = settings.nics[index]?.mac;
			return `    <interface type='ethernet'><target dev='${tap}'/>${mac ? `<mac address='${macOf(mac)}'/>` : ''}<model type='virtio'/></interface>`;
		}),
		`    <serial type='file'><source path='${escapeXml(serialFile)}' append='off'/><target port='0'/></serial>`,
		// Where the guest has a QEMU guest agent, libvirt reaches it here (proof of life without QMP).
		"    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>",
		"    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/>",
		"    <controller type='usb' model='none'/>",
		"    <memballoon model='none'/>",
		'  </devices>',
		'</domain>',
		'',
	];
	return lines.join('\n');
}

/** Step 6's block-copy destination: the production image, standalone (no backing chain). */
export function copyDestinationXml(production: string): string {
	return `<disk type='file'><driver type='qcow2'/><source file='${escapeXml(production)}'/><backingStore/></disk>\n`;
}

// ---------------------------------------------------------------- reading dumpxml

export interface DomainDisk {
	target: string;
	device: string;
	/** The top image (null for an empty CD-ROM). */
	source: string | null;
	/** A non-empty backing chain below the top image. */
	hasBacking: boolean;
	/** A block-copy job's destination, and whether it is ready to pivot. */
	mirror: { file: string | null; ready: boolean } | null;
}

function attribute(tag: string, name: string): string | null {
	const match = new RegExp(`\\s${name}='([^']*)'`).exec(tag) ?? new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
	return match?.[1] === undefined ? null : unescapeXml(match[1]);
}

export function parseDisks(xml: string): DomainDisk[] {
	const disks: DomainDisk[] = [];
	for (const match of xml.matchAll(/<disk\b([^>]*)>([\s\S]*?)<\/disk>/g)) {
		const head = match[1] ?? '';
		const body = match[2] ?? '';
		const source = /<source\b[^>]*>/.exec(body);
		const target = /<target\b[^>]*>/.exec(body);
		const mirror = /<mirror\b[^>]*>/.exec(body);
		disks.push({
			target: target ? (attribute(target[0], 'dev') ?? '') : '',
			device: attribute(`<disk${head}>`, 'device') ?? 'disk',
			// Only a <source> before any <backingStore> or <mirror> is the top image's.
			source: source && (body.indexOf('<backingStore') < 0 || source.index < body.indexOf('<backingStore')) && (!mirror || source.index < mirror.index) ? (attribute(source[0], 'file') ?? attribute(source[0], 'dev')) : null,
			hasBacking: /<backingStore\b[^/>]*\btype=/.test(body),
			mirror: mirror ? { file: attribute(mirror[0], 'file'), ready: attribute(mirror[0], 'ready') === 'yes' } : null,
		});
	}
	return disks;
}

/** The session id in our <rd:restore> element of `virsh metadata` output, or null. */
export function restoreSessionOf(metadata: string): string | null {
	const element = /<[^>]*\brestore\b[^>]*>/.exec(metadata);
	return element ? attribute(element[0], 'session') : null;
}
