// The parameters of every script, computed from the journaled plan alone. The driver and the
// runbook both use these functions, so the runbook shows exactly what the driver sends.
import path from 'node:path';
import type { DiskPlacement, RestorePlan } from '../host.ts';

const win = path.win32;

/**
 * How step 6 takes the VM offline: a shutdown through the guest. Saving was dropped: no page of the
 * reference says a saved VM's drive may be switched to another file (Set-VMHardDiskDrive.md says
 * nothing of the VM's state), and a saved state resumed on other storage is not described either.
 */
export type OfflineMode = 'shutdown';

export interface DiskParams {
	index: number;
	backup: string;
	overlay: string;
	production: string;
	/** Hyper-V controller types; a lab "virtio" disk goes on SCSI. */
	controller: 'SCSI' | 'IDE';
	controllerNumber: number;
	location: number;
	virtualSize: number;
}

export interface CopyJob {
	source: string;
	target: string;
	partial: string;
	stateFile: string;
}

export function asideName(name: string, sessionId: string): string {
	return `${name}~${sessionId}`;
}

/**
 * Where step 1 keeps the replaced VM while it is out of Hyper-V (its exported configuration and
 * what its disks are), when the restored VM takes its Id: beside the production folder, not in the
 * session's work folder, which stop and step 7 delete before the set-aside VM is dealt with.
 */
export function asideDir(plan: RestorePlan): string {
	return win.join(win.dirname(plan.productionDir), `rundirect-set-aside-${plan.sessionId}`);
}

/** The Id the restored VM keeps (the backed-up VM's), or null when it gets a new one. */
function keepId(plan: RestorePlan): string | null {
	return plan.identity?.vmId ?? null;
}

/** Hyper-V's adapter names: the first is "Network Adapter", then "Network Adapter 2", … */
export function nicName(index: number): string {
	return index === 0 ? 'Network Adapter' : `Network Adapter ${index + 1}`;
}

/** "00:15:5d:01:02:03" → "00155D010203", the form Hyper-V reports and accepts. */
export function normalizeMac(mac: string | null): string | null {
	return mac === null ? null : mac.replace(/[:-]/g, '').toUpperCase();
}

function disk(placement: DiskPlacement): DiskParams {
	return {
		index: placement.index,
		backup: placement.backup,
		overlay: placement.overlay,
		production: placement.production,
		controller: placement.controller === 'ide' ? 'IDE' : 'SCSI',
		controllerNumber: placement.controllerNumber,
		location: placement.location,
		virtualSize: placement.virtualSize,
	};
}

/**
 * The NICs as the VM gets them: as backed up, or for a drill moved onto its isolated switch
 * (switch null = added but not connected), so a drill never reaches the production network.
 */
export function drillNics(plan: RestorePlan): Array<{ switch: string | null; mac: string | null; vlan: number | null }> {
	const { drill } = plan;
	return plan.settings.nics.map((nic) => (drill ? { ...nic, switch: drill.isolatedSwitch } : nic));
}

export function sessionParams(plan: RestorePlan) {
	return { sessionId: plan.sessionId, vmName: plan.vmName, productionDir: plan.productionDir, workDir: plan.workDir, disks: plan.disks.map(disk) };
}

export function copyJobs(plan: RestorePlan): CopyJob[] {
	return plan.disks.map((placement) => ({
		source: placement.backup,
		target: placement.production,
		partial: `${placement.production}.partial`,
		stateFile: win.join(plan.workDir, `disk${placement.index}.copy.json`),
	}));
}

export const planParams = {
	preflight: (plan: RestorePlan, marginBytes: number) => ({
		...sessionParams(plan),
		replaces: plan.replaces,
		asideName: asideName(plan.vmName, plan.sessionId),
		generation: plan.settings.generation,
		nics: drillNics(plan).map((nic) => ({ switch: nic.switch })).filter((nic) => nic.switch !== null),
		marginBytes,
		keepId: keepId(plan),
		configFile: plan.identity?.configFile ?? null,
		// Only for a drill, so an ordinary restore's parameters stay as they were.
		...(plan.drill?.isolatedSwitch ? { isolatedSwitch: plan.drill.isolatedSwitch } : {}),
	}),
	setAside: (plan: RestorePlan) => ({ sessionId: plan.sessionId, name: plan.replaces, asideName: asideName(plan.replaces ?? plan.vmName, plan.sessionId), keepId: keepId(plan), asideDir: asideDir(plan) }),
	deleteReplaced: (plan: RestorePlan) => ({ mode: 'replaced', sessionId: plan.sessionId, name: plan.replaces, protect: plan.disks.map((placement) => placement.backup) }),
	purgeAside: (plan: RestorePlan) => ({ mode: 'aside', sessionId: plan.sessionId, name: plan.replaces, protect: plan.disks.map((placement) => placement.backup), asideDir: asideDir(plan) }),
	restoreAside: (plan: RestorePlan, name: string) => ({ sessionId: plan.sessionId, name, asideName: asideName(name, plan.sessionId), asideDir: asideDir(plan) }),
	createDisks: (plan: RestorePlan) => ({ productionDir: plan.productionDir, disks: plan.disks.map(disk) }),
	snapshotLayer: (plan: RestorePlan) => ({ workDir: plan.workDir, disks: plan.disks.map(disk) }),
	startVm: (plan: RestorePlan) => ({
		...sessionParams(plan),
		// New-VM -Path P puts the VM's files in P\<name>: the production folder.
		configPath: win.dirname(plan.productionDir),
		generation: plan.settings.generation,
		cpus: plan.settings.cpus,
		memoryBytes: plan.settings.memoryMiB * 2 ** 20,
		secureBoot: plan.settings.generation === 2 && plan.settings.secureBoot,
		secureBootTemplate: plan.settings.secureBootTemplate,
		nics: drillNics(plan).map((nic, index) => ({ name: nicName(index), switch: nic.switch, mac: normalizeMac(nic.mac), vlan: nic.vlan })),
		// Imported (Id, adapters, guest state kept) instead of made with New-VM.
		identity: plan.identity ?? null,
	}),
	vmStatus: (plan: RestorePlan) => sessionParams(plan),
	copy: (plan: RestorePlan, start: boolean) => ({ start, jobs: copyJobs(plan) }),
	applyChanges: (plan: RestorePlan, offlineMode: OfflineMode) => ({ ...sessionParams(plan), offlineMode }),
	deleteLayer: (plan: RestorePlan) => sessionParams(plan),
	discard: (plan: RestorePlan) => ({ ...sessionParams(plan), jobs: copyJobs(plan) }),
	thumbnail: (plan: RestorePlan, width: number, height: number) => ({ ...sessionParams(plan), width, height }),
	guestExec: (plan: RestorePlan, credential: { user: string; password: string }, command: string, args: readonly string[], timeoutMs: number, keepChars: number) => ({ ...sessionParams(plan), user: credential.user, password: credential.password, command, arguments: [...args], timeoutMs, keepChars }),
};
