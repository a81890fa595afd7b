// The sample backup destination: <destination>/<vm>/<restore-point-id>/restore-point.json
// plus its disk files, made from the lab guest image. Each restore point carries a
// point.txt naming it, so a test can tell which one was restored. Backup files are made
// read-only once written: the backup is sacred.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { restorePointSchema, type RestorePointManifest } from '../catalog/schema.ts';
import type { Progress } from './debs.ts';
import { copyIntoFat, type GuestImage } from './guest.ts';
import { convertImage, imageInfo } from '../qemu/qemu-img.ts';
import type { DebianImage } from './debian.ts';
import { DEBIAN_MEMORY_MIB, DEBIAN_SAMPLE_VMS, diskFileName, SAMPLE_CPUS, SAMPLE_MEMORY_MIB, SAMPLE_SWITCH, sampleMac, sampleVmId, SAMPLE_VMS, type SamplePoint, type SampleVm } from './sample.ts';
import type { Mtools } from './tools.ts';

export const MANIFEST_FILE = 'restore-point.json';
/** The file in each sample backup disk that says which VM, restore point and disk it is. */
export const POINT_FILE = 'point.txt';

export function pointText(vm: string, pointId: string, disk: number): string {
	return `vm=${vm}\npoint=${pointId}\ndisk=${disk}\n`;
}

export function restorePointDir(destination: string, vm: string, pointId: string): string {
	return path.join(destination, vm, pointId);
}

/** Complete = a valid manifest whose disk files are all there (the manifest is written last). */
export async function readCompletePoint(dir: string): Promise<RestorePointManifest | null> {
	const text = await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8').catch(() => null);
	if (text === null) return null;
	let manifest: RestorePointManifest;
	try {
		manifest = restorePointSchema.parse(JSON.parse(text));
	} catch {
		return null;
	}
	for (const disk of manifest.disks) {
		const stat = await fs.stat(path.join(dir, disk.file)).catch(() => null);
		if (!stat?.isFile() || stat.size === 0) return null;
	}
	return manifest;
}

/** Writes the manifest of a staged restore point, read-only. */
async function writeManifestFile(staging: string, manifest: RestorePointManifest): Promise<void> {
	const manifestFile = path.join(staging, MANIFEST_FILE);
	await writeFileAtomic(manifestFile, `${JSON.stringify(restorePointSchema.parse(manifest), null, 2)}\n`);
	await fs.chmod(manifestFile, 0o444);
}

/** Moves a staged restore point into the destination (same file system: one rename). */
async function publish(staging: string, dir: string): Promise<void> {
	await fs.rm(dir, { recursive: true, force: true });
	await fs.mkdir(path.dirname(dir), { recursive: true });
	await fs.rename(staging, dir);
}

async function writePoint(staging: string, vm: SampleVm, point: SamplePoint, guest: GuestImage, mtools: Mtools): Promise<void> {
	const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-point-'));
	try {
		const disks: RestorePointManifest['disks'] = [];
		for (const [index, kind] of vm.disks.entries()) {
			const raw = path.join(scratch, `disk${index}.raw`);
			await fs.copyFile(kind === 'guest' ? guest.image : guest.dataImage, raw);
			const marker = path.join(scratch, POINT_FILE);
			await fs.writeFile(marker, pointText(vm.name, point.id, index));
			await copyIntoFat(mtools, raw, [{ from: marker, as: POINT_FILE }]);
			const file = diskFileName(index, vm.format);
			const target = path.join(staging, file);
			await convertImage(raw, 'raw', target, vm.format);
			await fs.chmod(target, 0o444);
			disks.push({
				controller: 'virtio',
				controllerNumber: 0,
				location: index,
				file,
				format: vm.format,
				virtualSize: (await imageInfo(target)).virtualSize,
			});
			await fs.rm(raw);
		}
		await writeManifestFile(staging, {
			schemaVersion: 1,
			id: point.id,
			takenAt: point.takenAt,
			vm: {
				name: vm.name,
				id: sampleVmId(vm.name),
				generation: 1,
				firmware: 'bios',
				secureBoot: false,
				secureBootTemplate: null,
				cpus: SAMPLE_CPUS,
				memoryMiB: SAMPLE_MEMORY_MIB,
				nics: [{ switch: SAMPLE_SWITCH, mac: sampleMac(vm.name), vlan: null }],
			},
			disks,
		});
	} finally {
		await fs.rm(scratch, { recursive: true, force: true });
	}
}

export interface DestinationOptions {
	/** Rebuild every restore point of the VMs not in `skip`. */
	force?: boolean;
	/** VMs whose backups must not be touched (a session uses them). */
	skip?: ReadonlySet<string>;
	onProgress?: Progress;
}

export interface DestinationResult {
	/** Restore points of the sample VMs now in the destination. */
	points: number;
	created: number;
}

/** The Debian guest's restore points (`lab init --with-debian`): its image as each DEBIAN_SAMPLE_VMS names it. */
export async function writeDebianPoints(destination: string, image: DebianImage, options: DestinationOptions = {}): Promise<DestinationResult> {
	const onProgress = options.onProgress ?? (() => {});
	const stagingRoot = path.join(path.dirname(destination), `.destination-staging-${process.pid}`);
	let points = 0;
	let created = 0;
	try {
		for (const [index, vm] of DEBIAN_SAMPLE_VMS.entries()) {
			const dir = restorePointDir(destination, vm.name, vm.point.id);
			if (options.skip?.has(vm.name) || (!options.force && (await readCompletePoint(dir)))) {
				if (await readCompletePoint(dir)) points++;
				continue;
			}
			onProgress(`Writing restore point ${vm.name}/${vm.point.id} (${vm.format}, generation ${vm.generation})`, index / DEBIAN_SAMPLE_VMS.length);
			const staging = path.join(stagingRoot, vm.name, vm.point.id);
			await fs.rm(staging, { recursive: true, force: true });
			await fs.mkdir(staging, { recursive: true });
			const file = diskFileName(0, vm.format);
			await convertImage(image.image, 'raw', path.join(staging, file), vm.format);
			await fs.chmod(path.join(staging, file), 0o444);
			await writeManifestFile(staging, {
				schemaVersion: 1,
				id: vm.point.id,
				takenAt: vm.point.takenAt,
				vm: {
					name: vm.name,
					id: sampleVmId(vm.name),
					generation: vm.generation,
					firmware: vm.generation === 2 ? 'uefi' : 'bios',
					// systemd-boot is not signed with Microsoft's keys.
					secureBoot: false,
					secureBootTemplate: null,
					cpus: SAMPLE_CPUS,
					memoryMiB: DEBIAN_MEMORY_MIB,
					nics: [{ switch: SAMPLE_SWITCH, mac: sampleMac(vm.name), vlan: null }],
				},
				disks: [{ controller: vm.controller, controllerNumber: 0, location: 0, file, format: vm.format, virtualSize: (await imageInfo(path.join(staging, file))).virtualSize }],
			});
			await publish(staging, dir);
			created++;
			points++;
		}
	} finally {
		await fs.rm(stagingRoot, { recursive: true, force: true });
	}
	onProgress('Debian restore points ready', 1);
	return { points, created };
}

export async function writeSampleDestination(
	destination: string,
	guest: GuestImage,
	mtools: Mtools,
	options: DestinationOptions = {},
): Promise<DestinationResult> {
	const onProgress = options.onProgress ?? (() => {});
	// Staging beside the destination (same file system, so the final rename is atomic) but
	// outside it, so a catalog scan never sees a half-written restore point.
	const stagingRoot = path.join(path.dirname(destination), `.destination-staging-${process.pid}`);
	const total = SAMPLE_VMS.reduce((sum, vm) => sum + vm.points.length, 0);
	let done = 0;
	let points = 0;
	let created = 0;
	try {
		for (const vm of SAMPLE_VMS) {
			if (options.skip?.has(vm.name)) {
				done += vm.points.length;
				for (const point of vm.points) if (await readCompletePoint(restorePointDir(destination, vm.name, point.id))) points++;
				continue;
			}
			if (options.force) await fs.rm(path.join(destination, vm.name), { recursive: true, force: true });
			for (const point of vm.points) {
				const dir = restorePointDir(destination, vm.name, point.id);
				if (!(await readCompletePoint(dir))) {
					onProgress(`Writing restore point ${vm.name}/${point.id}`, done / total);
					const staging = path.join(stagingRoot, vm.name, point.id);
					await fs.rm(staging, { recursive: true, force: true });
					await fs.mkdir(staging, { recursive: true });
					await writePoint(staging, vm, point, guest, mtools);
					await publish(staging, dir);
					created++;
				}
				points++;
				done++;
			}
		}
	} finally {
		await fs.rm(stagingRoot, { recursive: true, force: true });
	}
	onProgress('Restore points ready', 1);
	return { points, created };
}
