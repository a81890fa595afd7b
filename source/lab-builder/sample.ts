// The sample VMs of the lab's backup destination. Fixed names, ids and dates, so running
// `lab init` again produces the same destination.
import { createHash } from 'node:crypto';
import type { DiskFormat } from '../catalog/schema.ts';

export interface SamplePoint {
	readonly id: string;
	readonly takenAt: string;
}

export interface SampleVm {
	readonly name: string;
	/** Backup disk format of every disk of this VM. */
	readonly format: DiskFormat;
	/** Disk 0 is always the bootable guest disk; 'data' adds the FAT data disk. */
	readonly disks: ReadonlyArray<'guest' | 'data'>;
	/** Oldest first. */
	readonly points: readonly SamplePoint[];
}

function point(day: number, hour: number): SamplePoint {
	const dd = String(day).padStart(2, '0');
	const hh = String(hour).padStart(2, '0');
	return { id: `2026-11-${dd}T${hh}00Z`, takenAt: `2026-11-${dd}T${hh}:00:00Z` };
}

export const SAMPLE_VMS: readonly SampleVm[] = [
	{ name: 'web01', format: 'qcow2', disks: ['guest'], points: [point(22, 1), point(23, 1), point(24, 1)] },
	{ name: 'db01', format: 'qcow2', disks: ['guest', 'data'], points: [point(23, 2), point(24, 2)] },
	{ name: 'files01', format: 'vhdx', disks: ['guest'], points: [point(23, 3), point(24, 3)] },
];

/**
 * The real guests `lab init --with-debian` adds (source/lab-builder/debian.ts): one Debian image
 * (systemd, PostgreSQL, the guest agent) as a generation 1 VM (PC, IDE, BIOS; qcow2) and as a
 * generation 2 VM (q35, SCSI, UEFI; VHDX). No lab VM of their names exists: a restore replaces nothing.
 */
export interface DebianSampleVm {
	readonly name: string;
	readonly format: DiskFormat;
	readonly generation: 1 | 2;
	readonly controller: 'ide' | 'scsi';
	readonly point: SamplePoint;
}

export const DEBIAN_SAMPLE_VMS: readonly DebianSampleVm[] = [
	{ name: 'pg01', format: 'qcow2', generation: 1, controller: 'ide', point: point(25, 1) },
	{ name: 'pg02', format: 'vhdx', generation: 2, controller: 'scsi', point: point(25, 2) },
];
/** systemd and PostgreSQL want more than the sample guest's 256 MiB. */
export const DEBIAN_MEMORY_MIB = 1024;

export const SAMPLE_SWITCH = 'lab-isolated';
export const SAMPLE_CPUS = 1;
export const SAMPLE_MEMORY_MIB = 256;

/** A name-based (version 5 style) UUID: stable across runs and machines. */
export function sampleVmId(name: string): string {
	const bytes = createHash('sha1').update(`rundirect-lab-sample-vm:${name}`).digest().subarray(0, 16);
	bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50;
	bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
	const hex = bytes.toString('hex');
	return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A stable MAC in QEMU's locally administered 52:54:00 range. */
export function sampleMac(name: string): string {
	const bytes = createHash('sha1').update(`rundirect-lab-sample-mac:${name}`).digest().subarray(0, 3);
	return ['52', '54', '00', ...[...bytes].map((byte) => byte.toString(16).padStart(2, '0'))].join(':').toUpperCase();
}

export function diskFileName(index: number, format: DiskFormat): string {
	return `disk${index}.${format}`;
}
