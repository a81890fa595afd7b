// Test support for the Hyper-V host: plans with hostile values, a line decoder (the inverse of
// encoding.ts), and a recorded-transcript PowerShell double that answers the real ChannelRunner
// at the text level with Windows PowerShell 5.1-shaped envelopes.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { RestorePlan } from '../../source/hosts/host.ts';
import { decodeParams } from '../../source/hosts/hyperv/encoding.ts';
import type { PowerShellChannel } from '../../source/hosts/hyperv/runner.ts';
import { SCRIPTS, LOCAL_LAUNCHER, REMOTE_LAUNCHER } from '../../source/hosts/hyperv/scripts.ts';
import { writeManifest } from '../support/restore-points.ts';
import { fakeVhdx } from './vhdx.ts';

export const HOSTILE = [
	"it's",
	'\u2018left\u2019 \u201aand\u201b',
	'$(Remove-Item C:\\ -Recurse)',
	'`whoami`',
	'a; Stop-Computer -Force',
	'line1\nline2\r\nline3',
	'x | Out-File C:\\pwned.txt',
	'"double" \'single\'',
	'@\'\n\'@ here-string end',
	'#> <# comment',
	'${env:PATH}',
	'Ünïcødé 名前 😀',
	'\u2028\u2029\u0085',
	'L'.repeat(5000),
];

export function samplePlan(overrides: Partial<RestorePlan> = {}, hostile = 'web01'): RestorePlan {
	const sessionId = '20260101T0101-abcdef';
	const productionDir = `D:\\VMs\\${hostile}`;
	const workDir = `${productionDir}\\rundirect-${sessionId}`;
	return {
		sessionId,
		host: 'hyperv',
		vmName: 'web01',
		replaces: 'web01',
		replaceMode: 'set-aside',
		productionDir,
		workDir,
		disks: [0, 1].map((index) => ({
			index,
			backup: `\\\\nas\\backups\\${hostile}\\disk${index}.vhdx`,
			format: 'vhdx' as const,
			virtualSize: 64 * 2 ** 20,
			production: `${productionDir}\\web01_disk${index}_${sessionId}.vhdx`,
			overlay: `${workDir}\\disk${index}-changes.vhdx`,
			controller: 'scsi' as const,
			controllerNumber: 0,
			location: index,
		})),
		settings: {
			generation: 2,
			firmware: 'uefi',
			secureBoot: true,
			secureBootTemplate: hostile,
			cpus: 2,
			memoryMiB: 2048,
			nics: [{ switch: hostile, mac: '00:15:5D:01:02:03', vlan: 12 }],
		},
		...overrides,
	};
}

/** The base64 literals of a line built by encoding.ts, in order. */
export function lineLiterals(line: string): string[] {
	return [...line.matchAll(/'([A-Za-z0-9+/=]*)'/g)].map((match) => match[1] ?? '');
}

const SCRIPT_BY_TEXT = new Map(Object.values(SCRIPTS).map((script) => [script.text, script.name]));

export interface DecodedCall {
	script: string;
	params: Record<string, unknown>;
	computer: string | null;
}

/** Decodes a line exactly as PowerShell would: launcher, script text, parameters (and target). */
export function decodeLine(line: string): DecodedCall {
	const literals = lineLiterals(line);
	const launcher = Buffer.from(literals[0] ?? '', 'base64').toString('utf8');
	const text = Buffer.from(literals[1] ?? '', 'base64').toString('utf8');
	const script = SCRIPT_BY_TEXT.get(text);
	if (!script) throw new Error('line carries a script that is not one of SCRIPTS');
	const params = decodeParams(literals[2] ?? '') as Record<string, unknown>;
	if (launcher === LOCAL_LAUNCHER) return { script, params, computer: null };
	if (launcher !== REMOTE_LAUNCHER) throw new Error('unknown launcher');
	return { script, params, computer: (decodeParams(literals[3] ?? '') as { computer: string }).computer };
}

type Reply = { ok: true; data: unknown } | { ok: false; code: string; message: string };

/** Windows PowerShell 5.1's ConvertTo-Json habit: a one-item array becomes the item. */
export function ps51(value: unknown): unknown {
	if (Array.isArray(value)) return value.length === 1 ? ps51(value[0]) : value.map(ps51);
	if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, ps51(item)]));
	return value;
}

export function envelopeText(reply: Reply): string {
	const envelope = reply.ok ? { ok: true, data: ps51(reply.data), error: null } : { ok: false, data: null, error: { code: reply.code, message: reply.message, type: 'System.Exception', category: 'NotSpecified', at: 'At line:1 char:1' } };
	// ConvertTo-RdJson escapes every non-ASCII character.
	// eslint-disable-next-line no-control-regex -- the range starts at NUL on purpose: everything outside ASCII
	const json = JSON.stringify(envelope).replace(/[^\x00-\x7f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
	return `WARNING: something chatty first\r\nRDENVELOPE ${json}\r\n`;
}

interface SimulatedDisk {
	overlay: string;
	production: string;
}

/** A VM as the scripts see it through Get-VM and the tags rundirect writes into its notes. */
export interface SimulatedVm {
	name: string;
	id: string;
	state: string;
	session: string | null;
	asideBy: string | null;
	disks: string[];
}

const REPLACED_ID = '11111111-2222-3333-4444-555555555555';
const SESSION_VM_ID = '99999999-2222-3333-4444-555555555555';

/**
 * A simulated Hyper-V host, answering each script as the real one would from its state. It is
 * shared between "controller processes" (engines) the way a real host outlives the console.
 * Two VMs at most: the one a restore replaces (`aside`, tagged `by` a session once set aside)
 * and the session's own (`vm`); `files` holds every file and folder the session's steps made.
 */
export class SimulatedHost {
	vm: { state: string; onProduction: boolean[]; exists: boolean; name?: string; session?: string | null; disks?: SimulatedDisk[] } = { state: 'Off', onProduction: [], exists: false };
	aside: { name: string; state: string; by?: string } | null = { name: 'web01', state: 'Running' };
	copies: Array<'missing' | 'running' | 'done'> = [];
	heartbeatPolls = 0;
	copyPolls = 0;
	files = new Set<string>();

	constructor(readonly disks = 2) {
		this.vm.onProduction = Array.from({ length: disks }, () => false);
		this.copies = Array.from({ length: disks }, () => 'missing');
	}

	/** Every VM, as `Get-VM` lists them (inventory.ps1's shape). */
	vms(): SimulatedVm[] {
		const vms: SimulatedVm[] = [];
		if (this.aside) vms.push({ name: this.aside.name, id: REPLACED_ID, state: this.aside.state, session: null, asideBy: this.aside.by ?? null, disks: ['D:\\old\\web01.vhdx'] });
		if (this.vm.exists) {
			const disks = (this.vm.disks ?? []).map((disk, index) => (this.vm.onProduction[index] ? disk.production : disk.overlay));
			vms.push({ name: this.vm.name ?? 'web01', id: SESSION_VM_ID, state: this.vm.state, session: this.vm.session ?? null, asideBy: null, disks });
		}
		return vms;
	}

	/** The replaced VM when a script's parameters pick it: by its aside tag, or untagged under its name. */
	#replaced(sessionId: unknown, name: unknown, mode: 'aside' | 'named' | 'either'): NonNullable<SimulatedHost['aside']> | null {
		const aside = this.aside;
		if (!aside) return null;
		if (mode !== 'named' && aside.by !== undefined && aside.by === sessionId) return aside;
		if (mode !== 'aside' && aside.by === undefined && aside.name === name) return aside;
		return null;
	}

	answer(call: DecodedCall): Reply {
		const p = call.params;
		switch (call.script) {
			case 'inventory':
				return { ok: true, data: { vms: this.vms() } };
			case 'plan-probe': {
				const named = this.vms().filter((vm) => vm.name === p.vmName && vm.asideBy === null);
				return { ok: true, data: { virtualHardDiskPath: 'D:\\VMs', replaces: named[0]?.name ?? null, replacesSession: named[0]?.session ?? null, macsInUse: [{ mac: '00155D010203', vm: 'web01' }] } };
			}
			case 'preflight': {
				// The name checks of preflight.ps1; storage and switches are always fine here.
				const problems: Array<{ code: string; message: string; subject: string }> = [];
				for (const vm of this.vms().filter((candidate) => candidate.name === p.vmName)) {
					if (vm.session !== null && vm.session !== p.sessionId) problems.push({ code: 'VM_IN_SESSION', message: vm.session, subject: String(p.vmName) });
					else if (vm.session === null && vm.asideBy === null && p.replaces !== p.vmName) problems.push({ code: 'NAME_TAKEN', message: vm.id, subject: String(p.vmName) });
				}
				return { ok: true, data: { problems, requiredBytes: 1, freeBytes: 10 ** 12 } };
			}
			case 'set-aside': {
				const found = this.#replaced(p.sessionId, p.name, 'either') !== null;
				if (found) this.aside = { name: String(p.asideName), state: 'Off', by: String(p.sessionId) };
				return { ok: true, data: { found, vmId: REPLACED_ID, was: 'Running', asideName: p.asideName } };
			}
			case 'restore-set-aside':
				if (!this.#replaced(p.sessionId, p.name, 'aside')) return { ok: true, data: { restored: false } };
				if (this.vm.exists && this.vm.session === p.sessionId) return { ok: false, code: 'SESSION_VM_EXISTS', message: `VM ${String(p.name)} of session ${String(p.sessionId)} still exists` };
				this.aside = { name: String(p.name), state: 'Running' };
				return { ok: true, data: { restored: true, was: 'Running' } };
			case 'remove-vm':
				if (!this.#replaced(p.sessionId, p.name, p.mode === 'aside' ? 'aside' : 'named')) return { ok: true, data: { removed: false, files: [], kept: [] } };
				this.aside = null;
				return { ok: true, data: { removed: true, files: ['D:\\old\\web01.vhdx'], kept: [] } };
			case 'create-disks': {
				const disks = p.disks as Array<{ production: string }>;
				this.files.add(String(p.productionDir));
				for (const disk of disks) this.files.add(disk.production);
				return { ok: true, data: { created: disks.map((disk) => disk.production) } };
			}
			case 'snapshot-layer': {
				const disks = p.disks as Array<{ overlay: string }>;
				this.files.add(String(p.workDir));
				for (const disk of disks) this.files.add(disk.overlay);
				return { ok: true, data: { created: disks.map((disk) => disk.overlay) } };
			}
			case 'start-vm':
				if (!this.vm.exists) {
					const disks = (p.disks as SimulatedDisk[]).map(({ overlay, production }) => ({ overlay, production }));
					this.vm = { ...this.vm, name: String(p.vmName), session: String(p.sessionId), disks };
				}
				this.vm.exists = true;
				this.vm.state = 'Running';
				return { ok: true, data: { vmId: SESSION_VM_ID, state: 'Running' } };
			case 'vm-status': {
				if (!this.vm.exists) return { ok: true, data: { state: 'Missing', heartbeat: null, bytesChanged: null, runsOn: [] } };
				this.heartbeatPolls++;
				const ok = this.heartbeatPolls >= 2;
				return {
					ok: true,
					data: {
						vmId: '99999999-2222-3333-4444-555555555555',
						state: this.vm.state,
						heartbeat: { enabled: true, status: ok ? 'Ok' : 'NoContact', ok },
						bytesChanged: 4 * 2 ** 20,
						runsOn: this.vm.onProduction.map((onProduction) => (onProduction ? 'production' : 'backup')),
					},
				};
			}
			case 'copy': {
				if (p.start) this.copies = this.copies.map((status) => (status === 'done' ? 'done' : 'running'));
				else {
					this.copyPolls++;
					if (this.copyPolls >= 2) this.copies = this.copies.map((status) => (status === 'running' ? 'done' : status));
				}
				const jobs = p.jobs as Array<{ target: string }>;
				return { ok: true, data: { jobs: jobs.map((job, index) => ({ target: job.target, status: this.copies[index], done: this.copies[index] === 'done' ? 1000 : 400, total: 1000, error: null })) } };
			}
			case 'apply-changes':
				this.vm.onProduction = this.vm.onProduction.map(() => true);
				return { ok: true, data: { pauseMs: 1234.5, merged: this.disks, mode: p.offlineMode, restarted: true } };
			case 'delete-layer':
				for (const disk of p.disks as SimulatedDisk[]) this.files.delete(disk.overlay);
				this.#removeTree(String(p.workDir));
				this.vm.session = null;
				return { ok: true, data: { unprotected: [] } };
			case 'discard': {
				const removedVm = this.vm.exists;
				this.vm = { state: 'Off', onProduction: this.vm.onProduction.map(() => false), exists: false };
				this.copies = this.copies.map(() => 'missing');
				for (const disk of p.disks as SimulatedDisk[]) for (const file of [disk.overlay, disk.production, `${disk.production}.partial`]) this.files.delete(file);
				this.#removeTree(String(p.workDir));
				// Only a production folder left empty goes.
				const folder = String(p.productionDir);
				if (![...this.files].some((file) => file.startsWith(`${folder}\\`))) this.files.delete(folder);
				return { ok: true, data: { removedVm, unprotected: [] } };
			}
			default:
				return { ok: false, code: 'ERROR', message: `no transcript for ${call.script}` };
		}
	}

	#removeTree(folder: string): void {
		for (const file of [...this.files]) if (file === folder || file.startsWith(`${folder}\\`)) this.files.delete(file);
	}
}

export interface TranscriptEntry extends DecodedCall {
	line: string;
}

/** A PowerShellChannel double: decodes each line, records it, answers from the simulated host. */
export class TranscriptChannel implements PowerShellChannel {
	readonly calls: TranscriptEntry[] = [];
	/** Called before answering; may throw or abort to simulate a crash at that call. */
	beforeAnswer: ((call: DecodedCall, index: number) => void) | null = null;
	/** Called after the host did the work but before the answer arrives (crash after the effect). */
	afterEffect: ((call: DecodedCall, index: number) => void) | null = null;
	disposed = 0;

	constructor(readonly host: SimulatedHost) {}

	async invoke(line: string, _timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
		if (!/^[\x20-\x7e]+$/.test(line)) throw new Error('a line sent to PowerShell must be one line of printable ASCII');
		const call = decodeLine(line);
		const index = this.calls.length;
		this.calls.push({ ...call, line });
		this.beforeAnswer?.(call, index);
		const reply = this.host.answer(call);
		this.afterEffect?.(call, index);
		return { stdout: envelopeText(reply), stderr: '' };
	}

	async dispose(): Promise<void> {
		this.disposed++;
	}
}

/**
 * A Hyper-V-shaped restore point (generation 2, secure boot, SCSI disks, a NIC with MAC and VLAN)
 * in `<destination>/web01/rp-20260101`, with VHDX disk files that pass the header checks.
 */
export async function writeHypervRestorePoint(destination: string, options: { disks?: number; format?: 'vhdx' | 'qcow2'; pendingLog?: boolean } = {}): Promise<string> {
	const dir = path.join(destination, 'web01', 'rp-20260101');
	const disks = Array.from({ length: options.disks ?? 1 }, (_, index) => ({ controller: 'scsi' as const, file: `disk${index}.vhdx`, format: options.format ?? 'vhdx', virtualSize: 64 * 2 ** 20 }));
	await writeManifest(dir, {
		takenAt: '2026-01-01T00:00:00Z',
		vm: { id: '0a8f3f2e-8d55-4c55-9a4e-3f1f9ad2b0c1', generation: 2, firmware: 'uefi', secureBoot: true, secureBootTemplate: 'MicrosoftWindows', cpus: 2, memoryMiB: 2048, nics: [{ switch: 'LAN', mac: '00:15:5D:01:02:03', vlan: 12 }] },
		disks,
	});
	for (const disk of disks) await fs.writeFile(path.join(dir, disk.file), fakeVhdx({ pendingLog: options.pendingLog ?? false }));
	return dir;
}
