// Steps 1–4 on the lab host: set aside (or delete) the VM being replaced, create the empty
// production disks and the snapshot layers over the backup, and start the VM on them. Each
// step reads what is already there and does only what is missing.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import { exists } from '../../core/files.ts';
import { mkdirPrivate } from '../../core/private-files.ts';
import type { RestorePlan, SetAsideRecord, StepOptions } from '../host.ts';
import { namedNodes } from './block-nodes.ts';
import type { LabContext } from './context.ts';
import { definitionPath, readDefinition, writeDefinition } from './definition.ts';
import { LabError } from './errors.ts';
import { hardwareFor } from './hardware.ts';
import { powerOffVm } from './power.ts';
import { createOverlay, createQcow2, imageInfo } from '../../qemu/qemu-img.ts';
import { nodeNames, runningPid, runtimeFiles } from './runtime.ts';
import { copiedMarker, ownDefinition, owns, runProven } from './session-vm.ts';
import { completeSetAside, dedicatedFolder, prepareSetAside, readRecord, recordFile } from './set-aside.ts';

/** Step 1 (set-aside mode). */
export async function setAsideVm(context: LabContext, plan: RestorePlan): Promise<SetAsideRecord | null> {
	const { lab } = context;
	const name = plan.replaces;
	if (name === null) return null;
	let record = await readRecord(recordFile(lab, plan.sessionId, name));
	if (!record) {
		const wasRunning = (await runningPid(runtimeFiles(lab.run, name))) !== null;
		record = await prepareSetAside(lab, plan.sessionId, name, wasRunning);
		if (!record) return null;
	}
	// The session's own VM does not exist yet, so whatever runs under this name is the old VM.
	const current = await readDefinition(definitionPath(lab.vms, name));
	if (current && current.runningFromBackup !== plan.sessionId) await powerOffVm(context, name);
	await completeSetAside(record);
	return record;
}

/** Step 1 (delete mode). */
export async function deleteVm(context: LabContext, plan: RestorePlan): Promise<void> {
	const { lab } = context;
	const name = plan.replaces;
	if (name === null) return;
	const file = definitionPath(lab.vms, name);
	const definition = await readDefinition(file);
	if (!definition || definition.runningFromBackup === plan.sessionId) return;
	await powerOffVm(context, name);
	const folder = await dedicatedFolder(lab, definition, file);
	if (folder) await fs.rm(folder, { recursive: true, force: true });
	else for (const disk of definition.disks) await fs.rm(disk.path, { force: true });
	// Last, so a rerun still knows what to delete.
	await fs.rm(file, { force: true });
}

/** Step 2. */
export async function createDisks(context: LabContext, plan: RestorePlan, options: StepOptions = {}): Promise<void> {
	await mkdirPrivate(plan.productionDir);
	const definition = await ownDefinition(context, plan);
	const qmp = definition ? await context.monitors.open(plan.vmName) : null;
	const nodes = qmp ? await namedNodes(qmp) : new Set<string>();
	const total = plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
	let done = 0;
	for (const disk of plan.disks) {
		// Once step 5 has filled it (or QEMU holds it) the production disk is no longer empty: keep it.
		const inUse = (await exists(copiedMarker(plan, disk.index))) || definition?.disks[disk.index]?.path === disk.production || nodes.has(nodeNames(disk.index).prod);
		if (!inUse) {
			await fs.rm(disk.production, { force: true });
			await createQcow2(disk.production, disk.virtualSize);
		}
		done += disk.virtualSize;
		options.onProgress?.({ done, total, detail: `disk ${disk.index + 1}/${plan.disks.length}` });
	}
}

/** Step 3. */
export async function createSnapshotLayer(context: LabContext, plan: RestorePlan): Promise<void> {
	await mkdirPrivate(plan.workDir);
	for (const disk of plan.disks) {
		if (await exists(disk.overlay)) {
			// An overlay the VM may have written to is the only copy of those writes: never recreate it.
			const info = await imageInfo(disk.overlay).catch(() => null);
			if (info?.format === 'qcow2' && info.backing === disk.backup) continue;
			if ((await runningPid(runtimeFiles(context.lab.run, plan.vmName))) !== null) {
				throw new LabError('SNAPSHOT_LAYER_DAMAGED', `Snapshot layer ${disk.overlay} is damaged or has the wrong backing file while VM ${plan.vmName} runs: stop the session`);
			}
			await fs.rm(disk.overlay, { force: true });
		}
		await createOverlay(disk.overlay, disk.backup, disk.format);
	}
}

/**
 * Step 4: the VM's definition names its snapshot layers and the restore point's hardware; it
 * runs from the backup — proven, not just launched (session-vm.ts). Returns a note for the
 * journal (e.g. that KVM failed and TCG runs the VM).
 */
export async function startVm(context: LabContext, plan: RestorePlan): Promise<string | undefined> {
	const file = definitionPath(context.lab.vms, plan.vmName);
	let definition = await readDefinition(file);
	if (definition && !owns(plan, definition)) {
		throw new LabError('NAME_TAKEN', `VM ${plan.vmName} already exists and is not this session's: step 1 must set it aside first`);
	}
	if (!definition) {
		definition = {
			schemaVersion: 1,
			name: plan.vmName,
			id: randomUUID(),
			cpus: plan.settings.cpus,
			memoryMiB: plan.settings.memoryMiB,
			disks: plan.disks.map((disk) => ({ path: disk.overlay, format: 'qcow2' as const })),
			nics: plan.settings.nics,
			hardware: hardwareFor(plan.settings, plan.disks, plan.productionDir),
			runningFromBackup: plan.sessionId,
			setAsideBy: null,
			createdAt: new Date().toISOString(),
		};
		await writeDefinition(file, definition);
	}
	return (await runProven(context, plan, definition)).note ?? undefined;
}
