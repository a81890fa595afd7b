// What the contract's fixtures share: a restore request built from a restore point (as the
// engine builds it), and the test of which leftover paths a host's VMs still account for.
import path from 'node:path';
import type { RestorePoint } from '../../source/catalog/catalog.ts';
import type { HostVm, PlanInput } from '../../source/hosts/host.ts';
import { planInputFor } from '../../source/restore/start-request.ts';

/** The request the engine would send to `Host.plan` for this restore point. */
export function planInputFrom(point: RestorePoint, sessionId: string, name: string): PlanInput {
	return planInputFor(point, sessionId, { name, location: 'original', replaceMode: 'set-aside' });
}

/**
 * The paths no VM accounts for: a path is accounted for when it is one of a VM's disks or a
 * folder holding one (the production folder of a finalized VM, the storage of a set-aside one).
 */
export function unaccounted(paths: readonly string[], vms: readonly HostVm[], rules: path.PlatformPath = path): string[] {
	const disks = vms.flatMap((vm) => vm.disks);
	const holds = (folder: string, file: string) => {
		const relative = rules.relative(folder, file);
		return relative === '' || (!relative.startsWith('..') && !rules.isAbsolute(relative));
	};
	return paths.filter((candidate) => !disks.some((disk) => holds(candidate, disk)));
}
