// The shapes the scripts return, read defensively: every list through asArray (Windows
// PowerShell 5.1 sends a one-item array as the item), every state through vmStateName.
import { asArray, asNumber, asString } from './envelope.ts';

function record(value: unknown): Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export interface HostInfo {
	computerName: string;
	os: string;
	psVersion: string;
	virtualHardDiskPath: string;
	virtualMachinePath: string;
	freeBytes: number | null;
	switches: string[];
}

export function readHostInfo(data: unknown): HostInfo {
	const r = record(data);
	return {
		computerName: asString(r.computerName) ?? '?',
		os: asString(r.os) ?? 'Windows',
		psVersion: asString(r.psVersion) ?? '?',
		virtualHardDiskPath: asString(r.virtualHardDiskPath) ?? '',
		virtualMachinePath: asString(r.virtualMachinePath) ?? '',
		freeBytes: asNumber(r.freeBytes),
		switches: asArray(r.switches).map((name) => asString(name) ?? '').filter(Boolean),
	};
}

export interface PlanProbe {
	virtualHardDiskPath: string;
	replaces: string | null;
	replacesSession: string | null;
	macsInUse: Array<{ mac: string; vm: string }>;
}

export function readPlanProbe(data: unknown): PlanProbe {
	const r = record(data);
	return {
		virtualHardDiskPath: asString(r.virtualHardDiskPath) ?? '',
		replaces: asString(r.replaces),
		replacesSession: asString(r.replacesSession),
		macsInUse: asArray(r.macsInUse).map((entry) => ({ mac: asString(record(entry).mac) ?? '', vm: asString(record(entry).vm) ?? '' })),
	};
}

export interface ProblemRecord {
	code: string;
	message: string;
	subject: string;
}

export function readPreflight(data: unknown): ProblemRecord[] {
	return asArray(record(data).problems).map((entry) => {
		const p = record(entry);
		return { code: asString(p.code) ?? 'ERROR', message: asString(p.message) ?? '', subject: asString(p.subject) ?? '' };
	});
}

export interface InventoryVm {
	name: string;
	id: string;
	state: unknown;
	session: string | null;
	asideBy: string | null;
	disks: string[];
}

export function readInventory(data: unknown): InventoryVm[] {
	return asArray(record(data).vms).map((entry) => {
		const vm = record(entry);
		return {
			name: asString(vm.name) ?? '',
			id: asString(vm.id) ?? '',
			state: vm.state,
			session: asString(vm.session),
			asideBy: asString(vm.asideBy),
			disks: asArray(vm.disks).map((disk) => asString(disk) ?? ''),
		};
	});
}

export interface VmStatus {
	state: unknown;
	heartbeat: { enabled: boolean; ok: boolean; status: string } | null;
	bytesChanged: number | null;
	runsOn: string[];
}

export function readVmStatus(data: unknown): VmStatus {
	const r = record(data);
	const heartbeat = r.heartbeat === null || r.heartbeat === undefined ? null : record(r.heartbeat);
	return {
		state: r.state,
		heartbeat: heartbeat ? { enabled: heartbeat.enabled === true, ok: heartbeat.ok === true, status: asString(heartbeat.status) ?? '' } : null,
		bytesChanged: asNumber(r.bytesChanged),
		runsOn: asArray(r.runsOn).map((where) => asString(where) ?? 'unknown'),
	};
}

export interface CopyReport {
	target: string;
	status: 'done' | 'running' | 'failed' | 'missing';
	done: number;
	total: number;
	error: string | null;
}

export function readCopy(data: unknown): CopyReport[] {
	return asArray(record(data).jobs).map((entry) => {
		const job = record(entry);
		const status = asString(job.status);
		return {
			target: asString(job.target) ?? '',
			status: status === 'done' || status === 'running' || status === 'failed' ? status : 'missing',
			done: asNumber(job.done) ?? 0,
			total: asNumber(job.total) ?? 0,
			error: asString(job.error),
		};
	});
}

export function readSetAside(data: unknown): { found: boolean; vmId: string | null; was: string | null; removed: boolean } {
	const r = record(data);
	return { found: r.found === true, vmId: asString(r.vmId), was: asString(r.was), removed: r.removed === true };
}

export function readPause(data: unknown): number {
	return asNumber(record(data).pauseMs) ?? 0;
}

export interface Thumbnail {
	width: number;
	height: number;
	/** Raw RGB 565 pixels, 2 bytes each, little-endian, row by row. */
	rgb565: Buffer;
}

export function readThumbnail(data: unknown): Thumbnail {
	const r = record(data);
	return { width: asNumber(r.width) ?? 0, height: asNumber(r.height) ?? 0, rgb565: Buffer.from(asString(r.rgb565) ?? '', 'base64') };
}

export interface GuestExecAnswer {
	exited: boolean;
	exitCode: number | null;
	stdout: string;
	stderr: string;
	truncated: boolean;
	ms: number;
}

export function readGuestExec(data: unknown): GuestExecAnswer {
	const r = record(data);
	return { exited: r.exited === true, exitCode: asNumber(r.exitCode) ?? null, stdout: asString(r.stdout) ?? '', stderr: asString(r.stderr) ?? '', truncated: r.truncated === true, ms: asNumber(r.ms) ?? 0 };
}
