// Starting and stopping lab VMs with the monitor cache kept right: a fresh QEMU gets a fresh
// connection, a stopped one leaves none behind.
import type { LabContext } from './context.ts';
import type { LabVmDefinition } from './definition.ts';
import { legacyHardware } from './hardware.ts';
import { LabError } from './errors.ts';
import type { QmpClient } from './qmp.ts';
import { labSegment, type LaunchSpec, launch, powerOff, runtimeFiles } from './runtime.ts';
import { deleteSegment } from '../../qemu/segment.ts';

export async function launchVm(context: LabContext, spec: LaunchSpec): Promise<QmpClient> {
	await context.monitors.release(spec.name);
	await launch(context.lab.run, spec);
	const qmp = await context.monitors.open(spec.name);
	if (!qmp) throw new LabError('QEMU_EXITED', `VM ${spec.name} exited right after it started: see ${runtimeFiles(context.lab.run, spec.name).serialFile}`);
	return qmp;
}

/** Starts VM `name` on its own (production) disks, as its definition names them. */
export async function launchOnOwnDisks(context: LabContext, name: string, definition: Pick<LabVmDefinition, 'memoryMiB' | 'cpus' | 'disks' | 'hardware'>): Promise<QmpClient> {
	return launchVm(context, {
		name,
		memoryMiB: definition.memoryMiB,
		hardware: definition.hardware ?? legacyHardware(definition.disks.length, definition.cpus),
		accel: (await context.accelerator()).accel,
		disks: definition.disks.map((disk, index) => ({ index, kind: 'production', path: disk.path, format: disk.format })),
		network: 'user',
	});
}

/** False when it was not running. */
export async function powerOffVm(context: LabContext, name: string): Promise<boolean> {
	const files = runtimeFiles(context.lab.run, name);
	const qmp = await context.monitors.open(name).catch(() => null);
	const wasRunning = await powerOff(files, qmp);
	await context.monitors.release(name);
	// A drill VM's network namespace goes with its QEMU (the taps die with it; the namespace would not).
	await deleteSegment(labSegment(context.lab.run, name));
	return wasRunning;
}
