// A session's own VM: which definition is the session's, how it is launched (each disk on its
// snapshot layer over the backup, or on production once switched, on the hardware its restore
// point names) and relaunched when QEMU died — proven to run, not just started — and the
// marker that says a disk's copy to production is complete.
import path from 'node:path';
import type { RestorePlan } from '../host.ts';
import type { LabContext } from './context.ts';
import { definitionPath, type LabVmDefinition, readDefinition } from './definition.ts';
import { LabError } from './errors.ts';
import { hardwareFor } from './hardware.ts';
import { launchVm, powerOffVm } from './power.ts';
import { type StartOutcome, watchStart } from './prove.ts';
import type { QmpClient } from './qmp.ts';
import { type Accelerator, type LaunchDisk, type LaunchSpec, type RuntimeFiles, runtimeFiles } from './runtime.ts';
import { serialTail } from './serial.ts';

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
	const hardware = definition.hardware ?? hardwareFor(plan.settings, plan.disks, plan.productionDir);
	return { name: plan.vmName, memoryMiB: definition.memoryMiB, hardware, accel, disks, network: plan.drill ? (plan.drill.tcpProbe ? 'segment' : 'isolated') : 'user' };
}

/** The session's VM is running (relaunched on what its definition says if QEMU died). */
export async function ensureRunning(context: LabContext, plan: RestorePlan, definition: LabVmDefinition): Promise<QmpClient> {
	return (await runProven(context, plan, definition)).qmp;
}

/**
 * The session's VM runs, proven (prove.ts): a QEMU already running is checked once; a fresh
 * launch is watched. A VM that dies under KVM is started once more under TCG, and the lab
 * remembers that KVM cannot run guests here; the note says so for the session's journal.
 */
export async function runProven(context: LabContext, plan: RestorePlan, definition: LabVmDefinition): Promise<{ qmp: QmpClient; note: string | null }> {
	const files = runtimeFiles(context.lab.run, plan.vmName);
	const running = await context.monitors.open(plan.vmName);
	if (running) {
		const { status } = await running.execute<{ status: string }>('query-status');
		if (status === 'internal-error' || status === 'guest-panicked' || status === 'shutdown') {
			throw await dead(context, plan, files, { alive: false, ms: 0, status, reason: `QEMU status ${status}` }, null);
		}
		return { qmp: running, note: null };
	}
	const verdict = await context.accelerator();
	// The user insisted on KVM: report, do not override.
	const mayFallBack = verdict.accel === 'kvm' && process.env.RUNDIRECT_ACCEL !== 'kvm';
	const first = await launchAndWatch(context, plan, definition, verdict.accel, files, mayFallBack);
	let firstTry = first.outcome;
	// KVM not proven by a real kernel here (only a boot sector, or chosen by the caller): a silent guest is no proof either.
	const kvmUnproven = mayFallBack && verdict.probe !== 'guest' && verdict.probe !== 'vm';
	if (firstTry.alive && firstTry.sign === null && kvmUnproven) {
		firstTry = { alive: false, ms: firstTry.ms, status: firstTry.status, reason: `no sign of the guest within ${firstTry.ms} ms, and no real kernel has shown that KVM runs guests here` };
	}
	if (first.qmp && firstTry.alive) return { qmp: first.qmp, note: signNote(firstTry.sign) };
	if (firstTry.alive) throw new LabError('QEMU_EXITED', `VM ${plan.vmName}: no monitor after its start`);
	if (!mayFallBack) throw await dead(context, plan, files, firstTry, verdict.accel);

	await powerOffVm(context, plan.vmName);
	const { qmp, outcome } = await launchAndWatch(context, plan, definition, 'tcg', files, false);
	if (!outcome.alive) throw await dead(context, plan, files, outcome, 'tcg', `it had died under KVM too (${firstTry.reason})`);
	if (!qmp) throw new LabError('QEMU_EXITED', `VM ${plan.vmName}: no monitor after its start`);
	await context.kvmFailed(`VM ${plan.vmName} died under KVM: ${firstTry.reason}`);
	return {
		qmp,
		note: `KVM could not run ${plan.vmName} (${firstTry.reason}): fell back to TCG, which runs it${outcome.sign ? ` (${outcome.sign} seen)` : ''}; the lab uses TCG from now on`,
	};
}

/** A QEMU that cannot even start under KVM counts as a VM that died under it (when falling back is allowed). */
async function launchAndWatch(context: LabContext, plan: RestorePlan, definition: LabVmDefinition, accel: Accelerator, files: RuntimeFiles, launchFailureIsDeath: boolean): Promise<{ qmp: QmpClient | null; outcome: StartOutcome }> {
	let qmp: QmpClient;
	try {
		qmp = await launchVm(context, launchSpec(plan, definition, accel));
	} catch (error) {
		if (!launchFailureIsDeath || !(error instanceof LabError) || (error.code !== 'LAUNCH_FAILED' && error.code !== 'QEMU_EXITED')) throw error;
		return { qmp: null, outcome: { alive: false, ms: 0, status: 'not started', reason: error.message } };
	}
	return { qmp, outcome: await watchStart(qmp, files) };
}

/** The error to report, with its evidence read first; then the dead QEMU goes, so nothing shows it as running. */
async function dead(context: LabContext, plan: RestorePlan, files: RuntimeFiles, outcome: Extract<StartOutcome, { alive: false }>, accel: Accelerator | null, also?: string): Promise<LabError> {
	const error = await diedError(plan, files, outcome, accel, also);
	await powerOffVm(context, plan.vmName).catch(() => undefined);
	return error;
}

function signNote(sign: 'guest marker' | 'serial output' | null): string | null {
	return sign === null ? 'running; no output on its serial console yet (a guest without a serial console shows none)' : null;
}

async function diedError(plan: RestorePlan, files: RuntimeFiles, outcome: Extract<StartOutcome, { alive: false }>, accel: Accelerator | null, also?: string): Promise<LabError> {
	const tail = (await serialTail(files.serialFile)).text?.trim() ?? '';
	const lines = tail.split('\n').slice(-12).join('\n');
	const what =
		outcome.status === 'internal-error'
			? accel === 'kvm'
				? 'KVM cannot run this guest here: unset RUNDIRECT_ACCEL (or set RUNDIRECT_ACCEL=tcg) and run start again'
				: 'the hypervisor could not run this guest: check the restore point with a drill'
			: 'the restore point does not boot on this host: check it with "rundirect drill", or choose another restore point; "rundirect stop <session>" discards this one';
	return new LabError(
		'VM_DIED',
		`VM ${plan.vmName} did not keep running after it started${accel ? ` under ${accel.toUpperCase()}` : ''}: ${outcome.reason}${also ? `; ${also}` : ''}. ` +
			`Evidence: QEMU status ${outcome.status} after ${outcome.ms} ms; serial console (${files.serialFile}): ${lines ? `\n${lines}\n` : 'nothing printed. '}` +
			`What to do: ${what}`,
	);
}

export async function requireRunning(context: LabContext, plan: RestorePlan): Promise<{ qmp: QmpClient; definition: LabVmDefinition }> {
	const definition = await ownDefinition(context, plan);
	if (!definition) throw new LabError('STEP_OUT_OF_ORDER', `VM ${plan.vmName} of session ${plan.sessionId} does not exist: step 4 has not run`);
	return { qmp: await ensureRunning(context, plan, definition), definition };
}
