// `rundirect backup <vm>`: a restore point of one of the host's VMs written into the backup
// destination (on Hyper-V a consistent copy of each VHDX through a checkpoint, plus
// restore-point.json), so the console works end to end without another backup product. A host
// that builds its own sample lab (`lab init`) gets its restore points from that instead.
import { vmNameSchema } from '../catalog/schema.ts';
import { canBackup, canProvision } from '../hosts/capabilities.ts';
import { EXIT, RundirectError } from '../core/errors.ts';
import { formatBytes } from '../core/format.ts';
import { formatProgress, ProgressMeter } from '../restore/progress.ts';
import type { CommandContext } from './context.ts';

export async function backupCommand(context: CommandContext, vm: string, signal: AbortSignal): Promise<number> {
	const host = context.engine.host;
	if (!canBackup(host)) {
		throw new RundirectError(
			`host ${host.id} cannot back up its VMs`,
			EXIT.usage,
			`run it against a host that can: --host hyperv (on the Hyper-V host) or --host hyperv://<server>${canProvision(host) ? `; ${host.id} gets its restore points from "rundirect lab init"` : ''}`,
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
