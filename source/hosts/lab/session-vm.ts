// A session's own VM: which definition is the session's, how it is launched (each disk on its
// snapshot layer over the backup, or on production once switched) and relaunched when QEMU
// died, and the marker that says a disk's copy to production is complete.
import path from 'node:path';
import type { RestorePlan } from '../host.ts';
import type { LabContext } from './context.ts';
import { definitionPath, type LabVmDefinition, readDefinition } from './definition.ts';
import { LabError } from './errors.ts';
import { launchVm } from './power.ts';
import type { QmpClient } from './qmp.ts';
import type { Accelerator, LaunchDisk, LaunchSpec } from './runtime.ts';

/** Written once step 5 has copied and flushed the disk: from then on production holds its data. */
export function copiedMarker(plan: RestorePlan, index: number): string {
	return path.join(plan.workDir, `disk${index}.copied`);
}

/** Whether the definition is the session's VM (not a VM it replaces, nor another session's). */
export function owns(plan: RestorePlan, definition: LabVmDefinition): boolean {
	if (definition.setAsideBy !== null) return false;
	if (definition.runningFromBackup === plan.sessionId) return true;
	const ours = new Set(plan.disks.flatMap((disk) => [disk.overlay, disk.production]));
	return definition.disks.length > 0 && definition.disks.every((disk) => ours.has(disk.path));
}

/** The session's VM definition, or null (none, or another VM's). */
export async function ownDefinition(context: LabContext, plan: RestorePlan): Promise<LabVmDefinition | null> {
	const definition = await readDefinition(definitionPath(context.lab.vms, plan.vmName));
	return definition && owns(plan, definition) ? definition : null;
}

function launchSpec(plan: RestorePlan, definition: LabVmDefinition, accel: Accelerator): LaunchSpec {
	const disks: LaunchDisk[] = plan.disks.map((disk) =>
		definition.disks[disk.index]?.path === disk.production
			? { index: disk.index, kind: 'production', path: disk.production, format: 'qcow2' }
			: { index: disk.index, kind: 'backup', backup: disk.backup, format: disk.format, overlay: disk.overlay },
	);
	return { name: plan.vmName, memoryMiB: definition.memoryMiB, firmware: plan.settings.firmware, accel, disks };
}

/** The session's VM is running (relaunched on what its definition says if QEMU died). */
export async function ensureRunning(context: LabContext, plan: RestorePlan, definition: LabVmDefinition): Promise<QmpClient> {
	let qmp = await context.monitors.open(plan.vmName);
	if (!qmp) qmp = await launchVm(context, launchSpec(plan, definition, (await context.accelerator()).accel));
	const status = await qmp.execute<{ status: string }>('query-status');
	if (status.status === 'internal-error') {
		throw new LabError(
			'QEMU_INTERNAL_ERROR',
			`VM ${plan.vmName} stopped with a hypervisor internal error (QEMU status internal-error): the accelerator cannot run this guest; set RUNDIRECT_ACCEL=tcg and retry`,
		);
	}
	return qmp;
}

export async function requireRunning(context: LabContext, plan: RestorePlan): Promise<{ qmp: QmpClient; definition: LabVmDefinition }> {
	const definition = await ownDefinition(context, plan);
	if (!definition) throw new LabError('STEP_OUT_OF_ORDER', `VM ${plan.vmName} of session ${plan.sessionId} does not exist: step 4 has not run`);
	return { qmp: await ensureRunning(context, plan, definition), definition };
}
