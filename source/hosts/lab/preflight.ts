// The lab host's pre-flight checks: everything a restore needs is verified before anything
// changes, and each problem is said in words the administrator can act on. Backups are only
// inspected here (qemu-img info, check and measure, all read-only).
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { exists } from '../../core/files.ts';
import { formatSpace } from '../../core/format.ts';
import type { LabPaths } from '../../core/paths.ts';
import type { DiskPlacement, RestorePlan } from '../host.ts';
import { definitionPath, type LabVmDefinition, listDefinitions } from './definition.ts';
import { checkImage, imageInfo, measureQcow2, QEMU_IMG, QEMU_SYSTEM } from '../../qemu/qemu-img.ts';
import { firmwareImages, hardwareProblems } from './hardware.ts';
import { dedicatedFolder, remapPath } from './set-aside.ts';
import { deviceOf, existingAncestor, freeBytes } from '../../core/space.ts';

export async function preflight(lab: LabPaths, plan: RestorePlan): Promise<string[]> {
	const problems: string[] = [];
	for (const binary of [QEMU_SYSTEM, QEMU_IMG]) {
		const result = await execa(binary, ['--version'], { reject: false, timeout: 10_000 });
		if (result.failed) problems.push(`${binary} is not installed or does not run (${result.shortMessage}); install the qemu-system-x86 and qemu-utils packages`);
	}
	if (problems.length > 0) return problems;
	if (plan.disks.length === 0) problems.push('The restore point has no disks');
	problems.push(...hardwareProblems(plan.settings, plan.disks));
	const firmware = firmwareImages(plan.settings);
	for (const image of firmware ? [firmware.code, firmware.vars] : []) {
		if (!(await exists(image))) problems.push(`VM ${plan.vmName} needs UEFI firmware${plan.settings.secureBoot ? ' with Secure Boot' : ''} (vm.firmware${plan.settings.secureBoot ? ', vm.secureBoot' : ''}), but ${image} is missing: install Debian's ovmf package`);
	}

	let required = 0;
	for (const disk of plan.disks) {
		const measured = await checkBackupDisk(disk, problems);
		if (measured !== null) required += measured;
	}

	const current = await checkNames(lab, plan, problems);

	// The production folder must be creatable: its closest existing ancestor a folder we can write in.
	const anchor = await existingAncestor(plan.productionDir);
	const anchorStat = await fs.stat(anchor).catch(() => null);
	if (anchorStat && !anchorStat.isDirectory()) {
		problems.push(`Production folder ${plan.productionDir} cannot be created: ${anchor} is a file, not a folder; choose another location`);
		return problems;
	}
	if (!(await fs.access(anchor, fs.constants.W_OK | fs.constants.X_OK).then(() => true, () => false))) {
		problems.push(`Production folder ${plan.productionDir} cannot be created: ${anchor} is not writable; choose another location`);
		return problems;
	}

	await checkProductionFiles(lab, plan, current, problems);
	await checkRoom(plan, required, problems);
	return problems;
}

/**
 * The backup disk is readable, what the manifest says, self-contained and sound, opened
 * read-only. Returns the bytes its production copy needs, or null when it has a problem.
 */
async function checkBackupDisk(disk: DiskPlacement, problems: string[]): Promise<number | null> {
	try {
		await fs.access(disk.backup, fs.constants.R_OK);
	} catch (error) {
		problems.push(`Backup disk ${disk.backup} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}): check that the backup destination is mounted and readable`);
		return null;
	}
	let info;
	try {
		info = await imageInfo(disk.backup);
	} catch (error) {
		const message = ((error as { stderr?: string }).stderr || (error as Error).message).trim();
		if (/contains a log that needs to be replayed/i.test(message)) {
			// QEMU's own advice (check -r all on this file) would write the backup: never on the backup itself.
			problems.push(
				`Backup disk ${disk.backup} has a pending VHDX log: it was not closed cleanly, and QEMU cannot open it read-only. ` +
					`Do not repair the backup itself: copy it (cp --sparse=always ${disk.backup} <folder>/), replay the log on the copy ` +
					`(qemu-img check -r all <folder>/${path.basename(disk.backup)}) and restore from the copy, or choose another restore point`,
			);
		} else {
			problems.push(`Backup disk ${disk.backup} cannot be opened read-only by qemu-img: ${message.replace(/\s*\n\s*/g, ' ')}`);
		}
		return null;
	}
	if (info.format !== disk.format) {
		problems.push(`Backup disk ${disk.backup} is ${info.format}, but the restore point says ${disk.format}: the restore point is inconsistent`);
		return null;
	}
	if (info.virtualSize !== disk.virtualSize) problems.push(`Backup disk ${disk.backup} has a virtual size of ${info.virtualSize} bytes, but the restore point says ${disk.virtualSize}: the restore point is inconsistent`);
	// A backing or data file would make QEMU open a file outside the restore point (any file on this host).
	if (info.backing !== null) problems.push(`Backup disk ${disk.backup} refers to a backing file (${info.backing}): a restore point's disks must be self-contained, so it is refused`);
	if (info.dataFile !== null) problems.push(`Backup disk ${disk.backup} keeps its data in an external file (${info.dataFile}): a restore point's disks must be self-contained, so it is refused`);
	if (info.backing !== null || info.dataFile !== null) return null;
	const check = await checkImage(disk.backup, info.format);
	if (check.failure !== null) {
		problems.push(`Backup disk ${disk.backup} cannot be checked by qemu-img: ${check.failure}`);
		return null;
	}
	if (check.errors > 0) {
		problems.push(`Backup disk ${disk.backup} is damaged: qemu-img check found ${check.errors} error${check.errors === 1 ? '' : 's'} in its ${info.format} metadata (a truncated or partly copied file?); choose another restore point`);
		return null;
	}
	try {
		return await measureQcow2(disk.backup, info.format);
	} catch (error) {
		problems.push(`Cannot measure backup disk ${disk.backup}: ${(error as Error).message}`);
		return null;
	}
}

/** Name collisions with other sessions; returns the VM now under the plan's name, if any. */
async function checkNames(lab: LabPaths, plan: RestorePlan, problems: string[]): Promise<LabVmDefinition | null> {
	const definitions = await listDefinitions(lab.vms);
	const current = definitions.find(({ file }) => file === definitionPath(lab.vms, plan.vmName))?.definition ?? null;
	if (current?.runningFromBackup && current.runningFromBackup !== plan.sessionId) {
		problems.push(`VM ${plan.vmName} is running from backup in session ${current.runningFromBackup}: finalize or stop that session first`);
	}
	if (current && current.runningFromBackup === null && plan.replaces !== current.name) {
		problems.push(`A VM named ${plan.vmName} exists, but this restore was planned without replacing it: plan the restore again`);
	}
	for (const { definition } of definitions) {
		if (definition.name === plan.vmName && definition.setAsideBy !== null && definition.setAsideBy !== plan.sessionId) {
			problems.push(`VM ${plan.vmName} is set aside by session ${definition.setAsideBy}: finalize or stop that session first`);
		}
	}
	return current;
}

/** Production files that are in the way and are not going to be moved by step 1. */
async function checkProductionFiles(lab: LabPaths, plan: RestorePlan, current: LabVmDefinition | null, problems: string[]): Promise<void> {
	let willMove: string[] = [];
	if (plan.replaces !== null && current) {
		const folder = await dedicatedFolder(lab, current, definitionPath(lab.vms, plan.vmName));
		willMove = folder ? [folder] : current.disks.map((disk) => disk.path);
	}
	const ownsCurrent = current !== null && current.runningFromBackup === plan.sessionId;
	for (const disk of plan.disks) {
		if (!(await exists(disk.production))) continue;
		const moved = willMove.some((from) => remapPath(disk.production, [{ from, to: '/' }]) !== disk.production);
		if (!moved && !ownsCurrent) problems.push(`Production file ${disk.production} already exists and does not belong to this session: remove it or restore to another location or name`);
	}
}

/** Room: the production copies (qemu-img measure) plus a margin for the snapshot layers. */
async function checkRoom(plan: RestorePlan, required: number, problems: string[]): Promise<void> {
	const virtualTotal = plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
	const overlayMargin = Math.min(virtualTotal * 0.1, 10 * 2 ** 30) + 64 * 2 ** 20;
	try {
		const sameDevice = (await deviceOf(plan.productionDir)) === (await deviceOf(plan.workDir));
		const productionNeed = required + (sameDevice ? overlayMargin : 0);
		const productionFree = await freeBytes(plan.productionDir);
		if (productionFree < productionNeed) {
			problems.push(`Not enough room in ${await existingAncestor(plan.productionDir)}: ${formatSpace(productionFree)} free, ${formatSpace(productionNeed)} needed (production copies${sameDevice ? ' and snapshot layers' : ''}); free space there or restore to another --location`);
		}
		if (!sameDevice) {
			const workFree = await freeBytes(plan.workDir);
			if (workFree < overlayMargin) problems.push(`Not enough room for the snapshot layers in ${await existingAncestor(plan.workDir)}: ${formatSpace(workFree)} free, ${formatSpace(overlayMargin)} wanted`);
		}
	} catch (error) {
		problems.push(`Cannot check free space for ${plan.productionDir}: ${(error as Error).message}`);
	}
}
