// `rundirect backup <vm>`: a restore point of a Hyper-V VM written into the backup destination
// (a consistent copy of each VHDX through a checkpoint, plus restore-point.json), so the console
// works end to end without another backup product. The lab host makes its restore points with
// `lab init`; it has no backup of its own.
import { vmNameSchema } from '../catalog/schema.ts';
import { HypervHost } from '../hosts/hyperv/driver.ts';
import { EXIT, RundirectError } from '../core/errors.ts';
import { formatBytes } from '../core/format.ts';
import { formatProgress, ProgressMeter } from '../restore/progress.ts';
import type { CommandContext } from './context.ts';

export async function backupCommand(context: CommandContext, vm: string, signal: AbortSignal): Promise<number> {
	const host = context.engine.host;
	if (!(host instanceof HypervHost)) {
		throw new RundirectError(
			`rundirect backup needs a Hyper-V host; ${host.id} is the QEMU/KVM lab host`,
			EXIT.usage,
			'run it with --host hyperv (on the Hyper-V host) or --host hyperv://<server>; the lab host gets its restore points from "rundirect lab init"',
		);
	}
	const name = vmNameSchema.safeParse(vm);
	if (!name.success) throw new RundirectError(`VM name ${JSON.stringify(vm)} ${name.error.issues[0]?.message ?? 'is invalid'}`, EXIT.usage);
	const meter = new ProgressMeter();
	let last = 0;
	context.say(`Backing up ${vm} on ${host.id} into ${context.engine.destination} (checkpoint, copy, remove checkpoint)…`);
	const result = await host.backup(vm, context.engine.destination, {
		signal,
		onProgress: (report) => {
			const snapshot = meter.update(report.done, report.total);
			context.emit({ type: 'progress', step: 'backup', ...snapshot });
			if (Date.now() - last > 2000) {
				last = Date.now();
				context.say(`  ${formatProgress(snapshot)}`);
			}
		},
	});
	const size = result.manifest.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
	context.emit({ type: 'result', ok: true, vm, restorePoint: result.pointId, dir: result.dir, disks: result.manifest.disks.length });
	context.say(`Restore point ${vm}/${result.pointId} written to ${result.dir} (${result.manifest.disks.length} disk(s), ${formatBytes(size)} virtual).`);
	return EXIT.ok;
}
