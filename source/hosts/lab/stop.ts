// Stopping a session on the lab host: discard its VM and every file it made, and bring back
// the VM it set aside (started again if it was running).
import fs from 'node:fs/promises';
import type { RestorePlan, SetAsideRecord } from '../host.ts';
import type { LabContext } from './context.ts';
import { definitionPath, readDefinition } from './definition.ts';
import { firmwareVarsFile } from './hardware.ts';
import { launchOnOwnDisks, powerOffVm } from './power.ts';
import { runningPid, runtimeFiles } from './runtime.ts';
import { owns } from './session-vm.ts';
import { detailsOf, undoSetAside } from './set-aside.ts';

export async function discard(context: LabContext, plan: RestorePlan): Promise<void> {
	const file = definitionPath(context.lab.vms, plan.vmName);
	const definition = await readDefinition(file);
	const ours = definition ? owns(plan, definition) : await qemuIsOurs(context, plan);
	if (ours) await powerOffVm(context, plan.vmName);
	for (const disk of plan.disks) {
		await fs.rm(disk.overlay, { force: true });
		await fs.rm(disk.production, { force: true });
	}
	await fs.rm(plan.workDir, { recursive: true, force: true });
	if (ours) await fs.rm(firmwareVarsFile(plan.productionDir), { force: true });
	// Only the folder we filled: anything else in it is not the session's to delete.
	await fs.rmdir(plan.productionDir).catch(() => undefined);
	if (definition && ours) await fs.rm(file, { force: true });
	// The serial log outlives QEMU; it is the session's VM's, so it goes with it.
	if (ours) await fs.rm(runtimeFiles(context.lab.run, plan.vmName).serialFile, { force: true });
}

/** With no definition (crash between launch and writing it): is the QEMU under this name ours? */
async function qemuIsOurs(context: LabContext, plan: RestorePlan): Promise<boolean> {
	const files = runtimeFiles(context.lab.run, plan.vmName);
	const pid = await runningPid(files);
	if (pid === null) return false;
	const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
	return plan.disks.some((disk) => cmdline.includes(disk.overlay) || cmdline.includes(disk.production));
}

export async function restoreSetAside(context: LabContext, record: SetAsideRecord): Promise<void> {
	const details = detailsOf(record);
	const restored = await undoSetAside(context.lab, record);
	if (restored && details.wasRunning && (await runningPid(runtimeFiles(context.lab.run, record.name))) === null) {
		await launchOnOwnDisks(context, restored.name, restored);
	}
}
