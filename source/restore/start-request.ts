// A start request checked before anything else: untrusted input (a VM name, a restore point
// id, a folder) gets a clear error here and changes nothing.
import path from 'node:path';
import { findRestorePoint, formatProblem, type Catalog, type CatalogProblem, type RestorePoint } from '../catalog/catalog.ts';
import { vmNameSchema } from '../catalog/schema.ts';
import { EXIT, RundirectError } from '../core/errors.ts';
import { pathRulesOf } from '../hosts/capabilities.ts';
import type { Host, PlanInput, ReplaceMode, RestoreTarget } from '../hosts/host.ts';

export interface StartRequest {
	/** The backed-up VM's name. */
	vm: string;
	/** `latest` (default) or a restore point id. */
	point?: string;
	/** Restore under a new name (alternate VM); default: the backed-up name, replacing the VM there. */
	name?: string;
	/** `original` (default) or an absolute folder on the host. */
	location?: string;
	replaceMode?: ReplaceMode;
	/** A recovery drill's start: networking isolated, journaled as a drill (see source/drill/). */
	drill?: { id: string; isolatedSwitch: string | null; tcpProbe?: boolean };
}

/** The restore point a request names, and the problems of that VM's other points (skipped by "latest"). */
export function resolveRestorePoint(catalog: Catalog, request: StartRequest): { point: RestorePoint; broken: CatalogProblem[]; pointRef: string } {
	const pointRef = request.point ?? 'latest';
	const point = findRestorePoint(catalog, request.vm, pointRef);
	// Problems of the VM's folder itself or of anything in it.
	const broken = catalog.problems.filter((problem) => path.relative(catalog.destination, problem.file).split(path.sep)[0] === request.vm);
	if (!point) {
		if (broken.length > 0) throw new RundirectError(`restore point ${pointRef} of ${request.vm} is not usable:\n${broken.map((problem) => `  - ${formatProblem(problem)}`).join('\n')}`, EXIT.usage);
		const vmCheck = vmNameSchema.safeParse(request.vm);
		if (!vmCheck.success) throw new RundirectError(`VM name ${JSON.stringify(request.vm)} ${vmCheck.error.issues[0]?.message ?? 'is invalid'}`, EXIT.usage);
		const known = catalog.points.filter((candidate) => candidate.vm === request.vm).map((candidate) => candidate.id);
		throw new RundirectError(
			known.length === 0 ? `no backups of a VM named ${request.vm} in ${catalog.destination}` : `${request.vm} has no restore point ${pointRef}; it has: ${known.join(', ')}`,
			EXIT.notFound,
			'list them with "rundirect backups"',
		);
	}
	return { point, broken, pointRef };
}

/** The restored VM's name and location, valid for this host and outside the backup. */
export function checkTarget(catalog: Catalog, host: Host, request: StartRequest, point: RestorePoint): { name: string; location: string } {
	const name = request.name ?? point.vm;
	const nameCheck = vmNameSchema.safeParse(name);
	if (!nameCheck.success) throw new RundirectError(`VM name ${JSON.stringify(name)} ${nameCheck.error.issues[0]?.message ?? 'is invalid'}`, EXIT.usage);
	const location = request.location ?? 'original';
	// The location is a folder on the host, in the host's own path rules (D:\VMs on Hyper-V).
	const rules = pathRulesOf(host);
	const hostPath = rules.style === 'win32' ? path.win32 : path.posix;
	if (location !== 'original' && !hostPath.isAbsolute(location)) throw new RundirectError(`location must be "original" or an absolute folder, not ${JSON.stringify(location)}`, EXIT.usage);
	// Only a host whose paths are this machine's can be compared with the destination here.
	const fromDestination = location === 'original' || !rules.local ? '..' : path.relative(catalog.destination, path.resolve(location));
	if (fromDestination !== '..' && !fromDestination.startsWith(`..${path.sep}`) && !path.isAbsolute(fromDestination)) {
		throw new RundirectError(`location ${location} is inside the backup destination ${catalog.destination}: production storage must be outside the backup`, EXIT.usage);
	}
	return { name, location };
}

/** What `Host.plan` is asked for a restore point: its disks and the VM's settings, as the manifest records them. */
export function planInputFor(point: RestorePoint, sessionId: string, target: RestoreTarget, drill?: StartRequest['drill']): PlanInput {
	const { vm } = point.manifest;
	return {
		sessionId,
		target,
		disks: point.disks.map((disk) => ({
			backup: disk.path,
			format: disk.format,
			virtualSize: disk.virtualSize,
			controller: disk.controller,
			controllerNumber: disk.controllerNumber,
			location: disk.location,
		})),
		settings: { generation: vm.generation, firmware: vm.firmware, secureBoot: vm.secureBoot, secureBootTemplate: vm.secureBootTemplate, cpus: vm.cpus, memoryMiB: vm.memoryMiB, nics: vm.nics },
		...(drill ? { drill: { isolatedSwitch: drill.isolatedSwitch, ...(drill.tcpProbe ? { tcpProbe: true } : {}) } } : {}),
		origin: { name: vm.name, id: vm.id, configFile: point.configFile },
	};
}
