// The virtual hardware a lab VM gets, from what its restore point describes: the machine its
// generation implies (1 = a PC with PIIX IDE and BIOS, as Hyper-V's generation 1; 2 = q35
// with UEFI), each disk on its bus and address, the firmware (OVMF from Debian's `ovmf`,
// the Microsoft-keys build where Secure Boot is asked), NICs with their MACs, CPUs, memory.
// What the lab cannot honour is said here, naming the restore point's field, for pre-flight.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { DiskPlacement, VmSettings } from '../host.ts';

/** Debian's `ovmf` package: the 4 MiB builds (the 2 MiB ones are legacy). */
const OVMF_DIR = '/usr/share/OVMF';
export const OVMF = {
	code: path.join(OVMF_DIR, 'OVMF_CODE_4M.fd'),
	vars: path.join(OVMF_DIR, 'OVMF_VARS_4M.fd'),
	/** The Secure Boot build (needs SMM) with Microsoft's keys enrolled in its variable store. */
	secureCode: path.join(OVMF_DIR, 'OVMF_CODE_4M.ms.fd'),
	secureVars: path.join(OVMF_DIR, 'OVMF_VARS_4M.ms.fd'),
} as const;

/** Hyper-V's templates that Microsoft's enrolled keys (db: Windows PCA and UEFI CA) satisfy. */
const SECURE_BOOT_TEMPLATES = new Set(['MicrosoftWindows', 'MicrosoftUEFICertificateAuthority']);

export const diskBusSchema = z.strictObject({
	controller: z.enum(['ide', 'scsi', 'virtio']),
	controllerNumber: z.number().int().min(0),
	location: z.number().int().min(0),
});
export type DiskBus = z.infer<typeof diskBusSchema>;

/** Kept in the VM's definition, so a VM restarted later (poweron, stop's restore) gets the same hardware. */
export const labHardwareSchema = z.strictObject({
	machine: z.enum(['pc', 'q35']),
	firmware: z.enum(['bios', 'uefi']),
	secureBoot: z.boolean(),
	/** The VM's own copy of the UEFI variable store (boot entries, Secure Boot state), kept with its disks. */
	firmwareVars: z.string().nullable(),
	cpus: z.number().int().min(1),
	disks: z.array(diskBusSchema),
	macs: z.array(z.string().nullable()),
});
export type LabHardware = z.infer<typeof labHardwareSchema>;

/** What a VM without a recorded hardware (an older definition) has always had: q35, BIOS, virtio-blk. */
export function legacyHardware(diskCount: number, cpus: number): LabHardware {
	return {
		machine: 'q35',
		firmware: 'bios',
		secureBoot: false,
		firmwareVars: null,
		cpus,
		disks: Array.from({ length: diskCount }, (_, index) => ({ controller: 'virtio' as const, controllerNumber: 0, location: index })),
		macs: [],
	};
}

/** The per-VM variable store: beside the VM's production disks, so it moves (set-aside) and goes (stop) with them. */
export function firmwareVarsFile(productionDir: string): string {
	return path.join(productionDir, 'efivars.fd');
}

export function hardwareFor(settings: VmSettings, disks: ReadonlyArray<Pick<DiskPlacement, 'controller' | 'controllerNumber' | 'location'>>, productionDir: string): LabHardware {
	return {
		machine: settings.generation === 1 ? 'pc' : 'q35',
		firmware: settings.firmware,
		secureBoot: settings.secureBoot,
		firmwareVars: settings.firmware === 'uefi' ? firmwareVarsFile(productionDir) : null,
		cpus: settings.cpus,
		disks: disks.map(({ controller, controllerNumber, location }) => ({ controller, controllerNumber, location })),
		macs: settings.nics.map((nic) => nic.mac),
	};
}

/** The firmware image and the template of its variable store, or null for BIOS (SeaBIOS, QEMU's default). */
export function firmwareImages(hardware: Pick<LabHardware, 'firmware' | 'secureBoot'>): { code: string; vars: string } | null {
	if (hardware.firmware === 'bios') return null;
	return hardware.secureBoot ? { code: OVMF.secureCode, vars: OVMF.secureVars } : { code: OVMF.code, vars: OVMF.vars };
}

/** Limits of QEMU's machines: PIIX has two IDE channels of two units; q35's max CPUs; QEMU's MAC form. */
const MAX_CPUS = { pc: 255, q35: 288 } as const;
const MAX_SCSI_CONTROLLERS = 4;

/**
 * What the lab cannot provide for this restore point, each naming the field (as in
 * restore-point.json) and what to do. Empty = the lab honours all of it.
 */
export function hardwareProblems(settings: VmSettings, disks: ReadonlyArray<Pick<DiskPlacement, 'index' | 'controller' | 'controllerNumber' | 'location'>>, hostMemoryBytes = os.totalmem()): string[] {
	const problems: string[] = [];
	const machine = settings.generation === 1 ? 'pc' : 'q35';
	const cannot = (field: string, why: string) => problems.push(`The lab cannot honour the restore point's ${field}: ${why}`);
	if (settings.generation === 1 && settings.firmware === 'uefi') cannot('vm.firmware', 'a generation 1 VM boots with BIOS, not UEFI (the restore point is inconsistent)');
	if (settings.generation === 2 && settings.firmware === 'bios') cannot('vm.firmware', 'a generation 2 VM boots with UEFI, not BIOS (the restore point is inconsistent)');
	if (settings.secureBoot && settings.firmware !== 'uefi') cannot('vm.secureBoot', 'Secure Boot needs UEFI firmware');
	if (settings.secureBoot && settings.secureBootTemplate !== null && !SECURE_BOOT_TEMPLATES.has(settings.secureBootTemplate)) {
		cannot('vm.secureBootTemplate', `"${settings.secureBootTemplate}" has no OVMF build here (only ${[...SECURE_BOOT_TEMPLATES].join(' and ')}, with Microsoft's keys); restore it on Hyper-V`);
	}
	if (settings.cpus > MAX_CPUS[machine]) cannot('vm.cpus', `${settings.cpus} CPUs is more than QEMU's ${machine} machine takes (${MAX_CPUS[machine]})`);
	const hostMiB = Math.floor(hostMemoryBytes / 2 ** 20);
	if (settings.memoryMiB > hostMiB) cannot('vm.memoryMiB', `${settings.memoryMiB} MiB is more than this host's memory (${hostMiB} MiB); restore it on a larger host`);
	settings.nics.forEach((nic, index) => {
		if (nic.mac !== null && !isUnicastMac(nic.mac)) cannot(`vm.nics[${index}].mac`, `${nic.mac} is a multicast address, which a NIC cannot have`);
	});
	const taken = new Map<string, number>();
	for (const disk of disks) {
		const field = `disks[${disk.index}]`;
		if (disk.controller === 'ide') {
			if (machine === 'q35') cannot(`${field}.controller`, 'a generation 2 VM has no IDE controller (as on Hyper-V): put the disk on SCSI');
			else if (disk.controllerNumber > 1) cannot(`${field}.controllerNumber`, `IDE controller ${disk.controllerNumber} does not exist: a PC has IDE controllers 0 and 1`);
			else if (disk.location > 1) cannot(`${field}.location`, `IDE location ${disk.location} does not exist: an IDE controller has locations 0 and 1`);
		} else if (disk.controller === 'scsi' && disk.controllerNumber >= MAX_SCSI_CONTROLLERS) {
			cannot(`${field}.controllerNumber`, `SCSI controller ${disk.controllerNumber}: at most ${MAX_SCSI_CONTROLLERS} (0–${MAX_SCSI_CONTROLLERS - 1}), as on Hyper-V`);
		}
		const address = `${disk.controller} ${disk.controller === 'virtio' ? '' : `${disk.controllerNumber}:`}${disk.location}`;
		const other = taken.get(address);
		if (other !== undefined) cannot(`${field}.location`, `disks[${other}] is at the same address (${address})`);
		else taken.set(address, disk.index);
	}
	return problems;
}

function isUnicastMac(mac: string): boolean {
	const first = Number.parseInt(mac.replace(/[:-]/g, '').slice(0, 2), 16);
	return (first & 1) === 0;
}

/** QEMU's form of a MAC: lower case with colons. */
export function qemuMac(mac: string): string {
	const hex = mac.replace(/[:-]/g, '').toLowerCase();
	return hex.match(/../g)!.join(':');
}
