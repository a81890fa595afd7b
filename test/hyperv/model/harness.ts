// Runs the Hyper-V driver's real PowerShell against the model (Hyper-V/Hyper-V.psm1) on a real
// pwsh: a state folder for one model host, VHDX files in the model's format, and the
// node-powershell channel whose every new process imports the model first.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HypervHost, type HypervHostOptions } from '../../../source/hosts/hyperv/driver.ts';
import { ChannelRunner, NodePowerShellChannel } from '../../../source/hosts/hyperv/runner.ts';

export const MODEL_MODULE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'Hyper-V', 'Hyper-V.psm1');
const META_OFFSET = 192 * 1024;
const DATA_OFFSET = 256 * 1024;

export interface ModelHost {
	root: string;
	/** Where the model's D: drive lives on this machine. */
	driveD: string;
	/** host.json as written (tests may change it with setHost). */
	state: Record<string, unknown>;
}

/** A model host: D: over <root>/D, the default storage D:\Hyper-V\…, two switches, ample space. */
export async function createModelHost(root: string, overrides: Record<string, unknown> = {}): Promise<ModelHost> {
	const driveD = path.join(root, 'D');
	await fs.mkdir(path.join(driveD, 'Hyper-V', 'Virtual Hard Disks'), { recursive: true });
	await fs.mkdir(path.join(root, 'vms'), { recursive: true });
	const state = {
		computerName: 'HV-MODEL',
		virtualHardDiskPath: 'D:\\Hyper-V\\Virtual Hard Disks',
		virtualMachinePath: 'D:\\Hyper-V',
		drives: { D: driveD },
		switches: [
			{ name: 'LAN', id: '6f1c2a3b-0000-4000-8000-000000000001', switchType: 'External' },
			{ name: 'rundirect-drill', id: '6f1c2a3b-0000-4000-8000-000000000002', switchType: 'Private' },
		],
		volumes: [
			{ name: 'D:\\', freeSpace: 10 ** 12 },
			{ name: '/', freeSpace: 10 ** 12 },
		],
		guest: { heartbeat: true, shutdown: true },
		...overrides,
	};
	await fs.writeFile(path.join(root, 'host.json'), JSON.stringify(state, null, 2));
	return { root, driveD, state };
}

export async function setHost(host: ModelHost, changes: Record<string, unknown>): Promise<void> {
	Object.assign(host.state, changes);
	await fs.writeFile(path.join(host.root, 'host.json'), JSON.stringify(host.state, null, 2));
}

/** A VHDX in the model's format: the VHDX signature, the model's metadata block, data records. */
export function modelVhdx(options: { size?: number; diskIdentifier?: string; records?: string[]; type?: 'Dynamic' | 'Fixed' } = {}): Buffer {
	const meta = Buffer.from(JSON.stringify({ diskIdentifier: options.diskIdentifier ?? '5B8B5E4C-0000-4000-8000-00000000D15C', size: options.size ?? 64 * 2 ** 20, type: options.type ?? 'Dynamic', parentPath: null, parentIdentifier: null }), 'utf8');
	const records = Buffer.from((options.records ?? []).map((line) => `${line}\n`).join(''), 'utf8');
	const file = Buffer.alloc(DATA_OFFSET + records.length);
	file.write('vhdxfile', 0, 'latin1');
	file.write('RDMODEL1', META_OFFSET, 'latin1');
	file.writeInt32LE(meta.length, META_OFFSET + 8);
	meta.copy(file, META_OFFSET + 12);
	records.copy(file, DATA_OFFSET);
	return file;
}

/** The data records of a model VHDX (what the guest wrote, merges included). */
export async function vhdxRecords(file: string): Promise<string[]> {
	const bytes = await fs.readFile(file);
	return bytes.subarray(DATA_OFFSET).toString('utf8').split('\n').filter(Boolean);
}

/** The metadata block of a model VHDX. */
export async function vhdxMeta(file: string): Promise<{ diskIdentifier: string; size: number; type: string; parentPath: string | null; parentIdentifier: string | null }> {
	const bytes = await fs.readFile(file);
	const length = bytes.readInt32LE(META_OFFSET + 8);
	return JSON.parse(bytes.subarray(META_OFFSET + 12, META_OFFSET + 12 + length).toString('utf8')) as Awaited<ReturnType<typeof vhdxMeta>>;
}

function psQuote(text: string): string {
	return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The PowerShell run first in every process that plays the host: state folder, the model, and
 * the module/elevation check marked done (WindowsPrincipal exists only on Windows).
 */
export function modelPrelude(host: ModelHost, pwsh: string): string {
	return `$env:RD_HYPERV_MODEL = ${psQuote(host.root)}; $env:RD_HYPERV_MODEL_PWSH = ${psQuote(pwsh)}; Import-Module ${psQuote(MODEL_MODULE)}; $global:RdHyperVChecked = $true`;
}

/** The real driver over node-powershell and the model: one long-lived pwsh, as in production. */
export function modelDriver(pwsh: string, host: ModelHost, options: Partial<HypervHostOptions> = {}): HypervHost {
	const channel = new NodePowerShellChannel({ executable: pwsh, prelude: modelPrelude(host, pwsh) });
	return new HypervHost({ computer: null, platform: 'win32', pollIntervalMs: 200, heartbeatTimeoutMs: 30_000, runner: new ChannelRunner({ computer: null, hostId: 'hyperv', channel }), ...options });
}

/** One pwsh run of `command` with the model imported; stdout, stderr and the exit status. */
export function runWithModel(pwsh: string, host: ModelHost, command: string): { stdout: string; stderr: string; status: number | null } {
	const result = spawnSync(pwsh, ['-NoProfile', '-NonInteractive', '-Command', `${modelPrelude(host, pwsh)}; ${command}`], { encoding: 'utf8', timeout: 120_000 });
	return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

/** A VM as the model keeps it: the fields tests read, the rest left loose for toMatchObject. */
export interface ModelVm {
	id: string;
	name: string;
	state: string;
	notes: string;
	drives: Array<{ path: string; kind?: string; controllerType?: string; controllerNumber?: number; controllerLocation?: number }>;
	adapters?: unknown[];
	[field: string]: unknown;
}

/** The model's VM records. */
export async function modelVms(host: ModelHost): Promise<ModelVm[]> {
	const dir = path.join(host.root, 'vms');
	const files = (await fs.readdir(dir)).filter((name) => name.endsWith('.json'));
	return Promise.all(files.map(async (name) => JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as ModelVm));
}

/** A VM already on the host (the one a restore replaces), with one disk in the model's format. */
export async function seedVm(host: ModelHost, options: { name: string; state?: string; disk?: string; switchName?: string; generation?: number; checkpointType?: string; extraDrives?: string[] }): Promise<Record<string, unknown>> {
	const id = crypto.randomUUID();
	const drives = [options.disk, ...(options.extraDrives ?? [])].filter((disk): disk is string => disk !== undefined);
	const record = {
		id,
		name: options.name,
		state: options.state ?? 'Running',
		generation: options.generation ?? 2,
		notes: '',
		path: `D:\\Hyper-V\\${options.name}`,
		configFile: null,
		processorCount: 2,
		memoryStartup: 2 ** 31,
		dynamicMemory: false,
		checkpointType: options.checkpointType ?? 'Production',
		automaticStartAction: 'StartIfRunning',
		scsiControllers: 1,
		firmware: { secureBoot: 'On', template: 'MicrosoftWindows', firstBoot: null },
		drives: drives.map((disk, index) => ({ id: crypto.randomUUID(), kind: 'HardDisk', controllerType: 'SCSI', controllerNumber: 0, controllerLocation: index, path: disk })),
		adapters: [{ id: crypto.randomUUID(), name: 'Network Adapter', switchName: options.switchName ?? 'LAN', mac: '00155D0A0B0C', dynamicMac: false, vlan: null }],
		snapshots: [],
		startedAt: options.state === 'Off' ? null : new Date().toISOString(),
		integration: { heartbeat: true, shutdown: true },
		guestState: crypto.randomUUID(),
	};
	await fs.writeFile(path.join(host.root, 'vms', `${id}.json`), JSON.stringify(record, null, 2));
	return record;
}

/** Changes a VM's record as something outside rundirect would (an admin pausing it, the guest shutting down). */
export async function changeVm(host: ModelHost, name: string, changes: Record<string, unknown>): Promise<void> {
	const vm = (await modelVms(host)).find((entry) => entry.name === name);
	if (!vm) throw new Error(`no VM ${name} on the model`);
	await fs.writeFile(path.join(host.root, 'vms', `${vm.id}.json`), JSON.stringify({ ...vm, ...changes }, null, 2));
}
