// Where a restore's files go on the lab host: production disks in a folder named after the VM
// (under the lab's production storage or the chosen location), snapshot layers in a work
// folder of the session.
import path from 'node:path';
import type { LabPaths } from '../../core/paths.ts';
import type { PlanInput, RestorePlan } from '../host.ts';
import { definitionPath, readDefinition } from './definition.ts';
import { LabError } from './errors.ts';

export async function planRestore(lab: LabPaths, hostId: string, input: PlanInput): Promise<RestorePlan> {
	const vmName = input.target.name;
	const location = input.target.location;
	if (location !== 'original' && !path.isAbsolute(location)) throw new LabError('BAD_LOCATION', `Target location must be "original" or an absolute folder, not ${location}`);
	const productionDir = location === 'original' ? path.join(lab.production, vmName) : path.join(location, vmName);
	const workDir = path.join(lab.work, input.sessionId);
	const existing = await readDefinition(definitionPath(lab.vms, vmName));
	return {
		sessionId: input.sessionId,
		host: hostId,
		vmName,
		replaces: existing && existing.setAsideBy === null ? existing.name : null,
		replaceMode: input.target.replaceMode,
		productionDir,
		workDir,
		disks: input.disks.map((disk, index) => ({
			...disk,
			index,
			production: path.join(productionDir, `disk${index}.qcow2`),
			overlay: path.join(workDir, `disk${index}-overlay.qcow2`),
		})),
		settings: input.settings,
		// A drill runs its NICs on a restricted user-mode network (runtime.ts); kept so the journal says so.
		...(input.drill ? { drill: input.drill } : {}),
	};
}
