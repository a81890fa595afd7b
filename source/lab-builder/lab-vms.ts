// The lab host's existing VMs: for each sample VM, production disks made from its OLDEST
// restore point and a (stopped) VM definition, so step 1 of a restore has a real VM to
// set aside or replace. Their disks hold guest data: private to this user (0600 in 0700 folders).
import fs from 'node:fs/promises';
import path from 'node:path';
import { definitionPath, readDefinition, writeDefinition } from '../hosts/lab/definition.ts';
import type { LabPaths } from '../core/paths.ts';
import { createPrivateFile, makePrivate, mkdirPrivate } from '../core/private-files.ts';
import type { Progress } from './debs.ts';
import { readCompletePoint, restorePointDir } from './destination.ts';
import { convertImage } from '../qemu/qemu-img.ts';
import { SAMPLE_VMS, type SampleVm } from './sample.ts';

export function productionDiskPath(lab: LabPaths, vm: string, index: number): string {
	return path.join(lab.production, vm, `disk${index}.qcow2`);
}

async function isComplete(lab: LabPaths, vm: SampleVm): Promise<boolean> {
	const definition = await readDefinition(definitionPath(lab.vms, vm.name)).catch(() => null);
	if (!definition || definition.disks.length !== vm.disks.length) return false;
	for (const disk of definition.disks) {
		const stat = await fs.stat(disk.path).catch(() => null);
		if (!stat?.isFile()) return false;
	}
	return true;
}

async function createVm(lab: LabPaths, vm: SampleVm): Promise<void> {
	const oldest = vm.points[0];
	if (!oldest) throw new Error(`sample VM ${vm.name} has no restore points`);
	const pointDir = restorePointDir(lab.destination, vm.name, oldest.id);
	const manifest = await readCompletePoint(pointDir);
	if (!manifest) throw new Error(`${pointDir}: restore point missing or incomplete, cannot create lab VM ${vm.name}`);
	const folder = path.join(lab.production, vm.name);
	await fs.rm(folder, { recursive: true, force: true });
	await mkdirPrivate(folder);
	const disks = [];
	for (const disk of [...manifest.disks].sort((a, b) => a.location - b.location)) {
		const target = productionDiskPath(lab, vm.name, disk.location);
		// A standalone copy (no backing file): production must never depend on the backup.
		// convert opens the backup read-only.
		const partial = `${target}.partial`;
		await createPrivateFile(partial);
		await convertImage(path.join(pointDir, disk.file), disk.format, partial, 'qcow2');
		await makePrivate(partial);
		await fs.rename(partial, target);
		disks.push({ path: target, format: 'qcow2' as const });
	}
	await writeDefinition(definitionPath(lab.vms, vm.name), {
		schemaVersion: 1,
		name: vm.name,
		id: manifest.vm.id,
		cpus: manifest.vm.cpus,
		memoryMiB: manifest.vm.memoryMiB,
		disks,
		nics: manifest.vm.nics,
		runningFromBackup: null,
		setAsideBy: null,
		createdAt: new Date().toISOString(),
	});
}

export interface LabVmOptions {
	force?: boolean;
	/** VMs a session is using: never touched. */
	skip?: ReadonlySet<string>;
	onProgress?: Progress;
}

/** Creates the missing lab VMs (all of them with `force`); returns the names created. */
export async function createLabVms(lab: LabPaths, options: LabVmOptions = {}): Promise<string[]> {
	const onProgress = options.onProgress ?? (() => {});
	const created: string[] = [];
	for (const [index, vm] of SAMPLE_VMS.entries()) {
		if (options.skip?.has(vm.name)) continue;
		if (!options.force && (await isComplete(lab, vm))) continue;
		onProgress(`Creating lab VM ${vm.name}`, index / SAMPLE_VMS.length);
		await createVm(lab, vm);
		created.push(vm.name);
	}
	onProgress('Lab VMs ready', 1);
	return created;
}
