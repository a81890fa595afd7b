// The Hyper-V host: Run Direct through PowerShell. Every operation is one constant script (see
// scripts/) run with the plan's values as data; each script inspects the host and does only what
// is missing, so any step can be run again after a crash of the console, of PowerShell or of the
// host. Long work (the copies) runs detached on the host and is polled; closing the console never
// stops it.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
	ApplyResult,
	Evidence,
	Host,
	HostDescription,
	HostVm,
	PlanInput,
	RestorePlan,
	RunbookStep,
	RuntimeStatus,
	SetAsideRecord,
	StepOptions,
} from '../host.ts';
import { mapVmState } from './envelope.ts';
import { explain, HypervError } from './errors.ts';
import { asideDir, asideName, normalizeMac, planParams, type OfflineMode } from './plan-params.ts';
import { readCopy, readHostInfo, readInventory, readPause, readPlanProbe, readGuestExec, readPreflight, readSetAside, readThumbnail, readVmStatus, type CopyReport, type HostInfo, type PlanProbe } from './results.ts';
import { rgb565ToPng } from './png.ts';
import type { BackupResult, CanBackup, DescribesDrillNetwork, ExecsInGuest, GuestCommandResult, HasEvidence, HasProofOfLife, HasRunbook, PathRules, ProofOfLife } from '../capabilities.ts';
import { backupVm } from './backup.ts';
import { buildRunbook, renderRunbookScript } from './runbook.ts';
import { ChannelRunner, type PowerShellRunner } from './runner.ts';
import { SCRIPTS } from './scripts.ts';
import { readVhdxHeaders } from './vhdx.ts';

const win = path.win32;
/** How often step 5 starts a copy worker again that it found gone, before it gives up and says so. */
const COPY_RESTARTS = 2;
/** The drill evidence thumbnail: 4:3, large enough to read a logon screen or a stop error. */
const THUMBNAIL_WIDTH = 640;
const THUMBNAIL_HEIGHT = 480;

export interface HypervHostOptions {
	/** Null: this computer; else the server reached through PowerShell remoting. */
	computer: string | null;
	/** A substitute channel (tests: a recorded-transcript double). */
	runner?: PowerShellRunner;
	/** How step 6 takes the VM offline for the merge. */
	offlineMode?: OfflineMode;
	/** How long step 4 waits for the guest's heartbeat; 0 = do not wait. */
	heartbeatTimeoutMs?: number;
	pollIntervalMs?: number;
	/** Defaults to process.platform (tests set it). */
	platform?: NodeJS.Platform;
	/** The guests' account for application checks (PowerShell Direct); default RUNDIRECT_HYPERV_GUEST_USER / _PASSWORD. */
	guestCredential?: GuestCredential | null;
}

export interface GuestCredential {
	user: string;
	password: string;
}

/** From the environment, never a command line (where `ps` would show the password) nor a plan file. */
function guestCredentialFromEnv(): GuestCredential | null {
	const user = process.env.RUNDIRECT_HYPERV_GUEST_USER;
	const password = process.env.RUNDIRECT_HYPERV_GUEST_PASSWORD;
	return user && password !== undefined ? { user, password } : null;
}

/** `hyperv` → local; `hyperv://server` → remote. */
export function parseHostSpec(spec: string): string | null {
	if (spec === 'hyperv') return null;
	const server = spec.slice('hyperv://'.length);
	// A DNS name, NetBIOS name or IP address: nothing that could be read as anything else.
	if (!spec.startsWith('hyperv://') || !/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(server)) {
		throw new HypervError('USAGE', `invalid Hyper-V host ${JSON.stringify(spec)}: use hyperv or hyperv://<server name or address>`);
	}
	return server;
}

/**
 * Hyper-V's disk cmdlets (Get-VHD, New-VHD, Set-VHD, Merge-VHD) read -Path as a wildcard pattern
 * although their pages say "Accept wildcard characters: False" (the review's point 9, a field
 * report): a "[" or "]" makes the path match another file, or none. "*" and "?" cannot occur in
 * Windows file names.
 */
function refuseWildcardPath(where: string, what: string, fix: string): void {
	if (/[[\]]/.test(where)) throw new HypervError('WILDCARD_PATH', `${what} ${where} contains "[" or "]", which Hyper-V's disk cmdlets read as a wildcard pattern: ${fix}`);
}

function envNumber(name: string): number | undefined {
	const value = process.env[name];
	return value !== undefined && value !== '' && Number.isFinite(Number(value)) ? Number(value) : undefined;
}

/** Of each stream of a command run in a guest, what comes back (a drill keeps 4 KiB of each). */
const GUEST_OUTPUT_CHARS = 4096;

/** Hyper-V's VirtualHardDiskPath when no one changed it (Get-VMHost on a fresh install). */
const DEFAULT_VHD_FOLDER = 'C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks';

export class HypervHost implements Host, CanBackup, HasRunbook, HasEvidence, HasProofOfLife, DescribesDrillNetwork, ExecsInGuest {
	readonly kind = 'hyperv';
	readonly id: string;
	/** Paths on the Hyper-V host (D:\VMs), even when it is this computer: never compared with the destination's. */
	readonly pathRules: PathRules = { style: 'win32', local: false };
	/** A status is a PowerShell round trip (and a guest takes minutes): once a second is plenty. */
	readonly proofOfLife: ProofOfLife = { name: 'heartbeat', pollMs: 1000 };
	readonly evidenceSource = 'the screen';
	readonly guestExecVia = 'PowerShell Direct (Invoke-Command -VMId -Credential)';
	readonly computer: string | null;
	readonly #guestCredential: GuestCredential | null;
	readonly #runner: PowerShellRunner;
	readonly #offlineMode: OfflineMode;
	readonly #heartbeatTimeoutMs: number;
	readonly #pollMs: number;
	readonly #platform: NodeJS.Platform;
	#info: Promise<HostInfo> | null = null;

	constructor(options: HypervHostOptions) {
		this.computer = options.computer;
		this.id = options.computer === null ? 'hyperv' : `hyperv://${options.computer}`;
		this.#runner = options.runner ?? new ChannelRunner({ computer: options.computer, hostId: this.id });
		this.#offlineMode = options.offlineMode ?? 'shutdown';
		this.#heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? (envNumber('RUNDIRECT_HYPERV_HEARTBEAT_TIMEOUT') ?? 600) * 1000;
		this.#pollMs = options.pollIntervalMs ?? 2000;
		this.#platform = options.platform ?? process.platform;
		this.#guestCredential = options.guestCredential === undefined ? guestCredentialFromEnv() : options.guestCredential;
	}

	get #where(): string {
		return this.computer ?? 'this computer';
	}

	#assertPlatform(): void {
		// Local Hyper-V needs Windows; a remote host can be driven from any PowerShell with remoting.
		if (this.computer === null && this.#platform !== 'win32') throw new HypervError('NOT_WINDOWS', explain('NOT_WINDOWS', '', this.#where));
	}

	async #run(script: (typeof SCRIPTS)[keyof typeof SCRIPTS], params: unknown): Promise<unknown> {
		this.#assertPlatform();
		return this.#runner.run(script, params);
	}

	#hostInfo(): Promise<HostInfo> {
		if (!this.#info) {
			this.#info = this.#run(SCRIPTS.hostInfo, {}).then(readHostInfo);
			this.#info.catch(() => (this.#info = null));
		}
		return this.#info;
	}

	// ---------------------------------------------------------------- describe, inventory

	async describe(): Promise<HostDescription> {
		try {
			const info = await this.#hostInfo();
			return {
				kind: 'hyperv',
				id: this.id,
				summary: `Hyper-V on ${info.computerName} (${info.os}, PowerShell ${info.psVersion})`,
				productionStorage: info.virtualHardDiskPath,
				freeBytes: info.freeBytes,
				warnings: [],
			};
		} catch (error) {
			return { kind: 'hyperv', id: this.id, summary: `Hyper-V on ${this.#where} (not reachable)`, productionStorage: '', freeBytes: null, warnings: [(error as Error).message] };
		}
	}

	async inventory(): Promise<HostVm[]> {
		return readInventory(await this.#run(SCRIPTS.inventory, {})).map((vm) => ({
			name: vm.name,
			id: vm.id,
			state: mapVmState(vm.state),
			runningFromBackup: vm.session,
			setAside: vm.asideBy !== null,
			disks: vm.disks,
		}));
	}

	// ---------------------------------------------------------------- plan, preflight

	async plan(input: PlanInput): Promise<RestorePlan> {
		return this.#planFrom(input, readPlanProbe(await this.#run(SCRIPTS.planProbe, { vmName: input.target.name })));
	}

	/** Local Hyper-V on a machine that is not Windows: the host cannot be asked anything. */
	get unreachable(): boolean {
		return this.computer === null && this.#platform !== 'win32';
	}

	/**
	 * The plan made without asking the host (`start --runbook` where there is no Hyper-V, to review
	 * or hand over a runbook): what only the host knows is assumed, and each assumption is said.
	 */
	planOffline(input: PlanInput): { plan: RestorePlan; assumptions: string[] } {
		const assumptions = [
			'nothing was checked on a Hyper-V host (none is reachable from here): pre-flight runs when the start does',
			`a VM named ${input.target.name} exists and is set aside (its steps do nothing where there is none)`,
			'no other VM uses the restore point’s static MAC addresses (a real start drops one that is taken)',
			'the host reaches the backup files at the paths shown, as this machine names them (a share both see alike)',
		];
		if (input.origin?.configFile && input.origin.name.toLowerCase() === input.target.name.toLowerCase()) {
			assumptions.push(`no VM holds the backed-up VM's Id ${input.origin.id} but the one replaced (the restored VM is imported with it)`);
		}
		if (input.target.location === 'original') assumptions.push(`the host's default virtual hard disk folder is Hyper-V's own default, ${DEFAULT_VHD_FOLDER} (pass --location to name another)`);
		const probe = { virtualHardDiskPath: DEFAULT_VHD_FOLDER, replaces: input.target.name, replacesSession: null, macsInUse: [] };
		return { plan: this.#planFrom(input, probe), assumptions };
	}

	#planFrom(input: PlanInput, probe: PlanProbe): RestorePlan {
		const vmName = input.target.name;
		const location = input.target.location;
		if (location !== 'original' && !win.isAbsolute(location)) throw new HypervError('USAGE', `location must be "original" or an absolute folder on ${this.#where} such as D:\\VMs, not ${location}`);
		const root = location === 'original' ? probe.virtualHardDiskPath : location;
		if (!root) throw new HypervError('PATH_MISSING', explain('PATH_MISSING', 'the default virtual hard disk folder (Get-VMHost).VirtualHardDiskPath', this.#where));
		refuseWildcardPath(root, location === 'original' ? `the host's default virtual hard disk folder` : 'the location', 'choose another folder with --location');
		for (const disk of input.disks) refuseWildcardPath(disk.backup, 'the backup disk', 'reach the restore point under a path without brackets (move or mount the destination elsewhere)');
		const productionDir = win.join(root, vmName);
		const workDir = win.join(productionDir, `rundirect-${input.sessionId}`);
		const replaces = probe.replaces;
		// Under its own name the VM is the backed-up one again: it keeps its identity (imported from its
		// configuration when the restore point has one) and its MACs. Under a new name it runs beside
		// the original, so it is a new VM: a new Id (New-VM) and new, dynamic MACs.
		const ownName = input.origin === undefined || input.origin.name.toLowerCase() === vmName.toLowerCase();
		const identity = ownName && input.origin?.configFile ? { vmId: input.origin.id, configFile: input.origin.configFile } : null;
		// A static MAC another VM uses would put two adapters with one address on the network.
		const inUse = new Set(probe.macsInUse.filter((entry) => entry.vm !== replaces).map((entry) => normalizeMac(entry.mac)));
		const nics = input.settings.nics.map((nic) => (nic.mac !== null && (!ownName || inUse.has(normalizeMac(nic.mac))) ? { ...nic, mac: null } : nic));
		return {
			sessionId: input.sessionId,
			host: this.id,
			vmName,
			replaces,
			replaceMode: input.target.replaceMode,
			productionDir,
			workDir,
			disks: input.disks.map((disk, index) => ({
				...disk,
				index,
				production: win.join(productionDir, `${vmName}_disk${index}_${input.sessionId}.vhdx`),
				overlay: win.join(workDir, `disk${index}-changes.vhdx`),
			})),
			settings: { ...input.settings, nics },
			...(input.drill ? { drill: input.drill } : {}),
			...(identity ? { identity } : {}),
		};
	}

	async preflight(plan: RestorePlan): Promise<string[]> {
		const problems: string[] = [];
		try {
			this.#assertPlatform();
		} catch (error) {
			return [(error as Error).message];
		}
		if (plan.disks.length === 0) problems.push('The restore point has no disks');
		for (const disk of plan.disks) {
			if (disk.format === 'qcow2') {
				problems.push(explain('QCOW2', disk.backup, this.#where));
				continue;
			}
			// Read from here when the console sees the file; the host's own check covers the rest.
			const header = await readVhdxHeaders(disk.backup);
			if (header && !header.isVhdx) problems.push(explain('NOT_VHDX', disk.backup, this.#where, 'no "vhdxfile" signature'));
			if (header?.pendingLog) problems.push(explain('PENDING_LOG', disk.backup, this.#where));
		}
		if (plan.settings.generation === 1 && plan.settings.firmware === 'uefi') problems.push(`VM ${plan.vmName} is generation 1 but its restore point says UEFI firmware: the restore point is inconsistent`);
		if (problems.length > 0) return problems;
		const virtualTotal = plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
		const margin = Math.round(Math.min(virtualTotal * 0.1, 10 * 2 ** 30) + 64 * 2 ** 20);
		try {
			const found = readPreflight(await this.#run(SCRIPTS.preflight, planParams.preflight(plan, margin)));
			for (const problem of found) problems.push(explain(problem.code, problem.subject, this.#where, problem.message));
		} catch (error) {
			problems.push((error as Error).message);
		}
		return problems;
	}

	// ---------------------------------------------------------------- step 1

	async setAsideVm(plan: RestorePlan): Promise<SetAsideRecord | null> {
		if (plan.replaces === null) return null;
		const result = readSetAside(await this.#run(SCRIPTS.setAside, planParams.setAside(plan)));
		if (!result.found) return null;
		// Out of Hyper-V (the restored VM holds its Id): kept as its exported configuration and its disks.
		const keptAs = result.removed ? `an export in ${asideDir(plan)}` : asideName(plan.replaces, plan.sessionId);
		return { name: plan.replaces, asideName: keptAs, details: { vmId: result.vmId, was: result.was, host: this.id, removed: result.removed } };
	}

	async deleteVm(plan: RestorePlan): Promise<void> {
		if (plan.replaces === null) return;
		await this.#run(SCRIPTS.removeVm, planParams.deleteReplaced(plan));
	}

	async purgeSetAside(plan: RestorePlan, _record: SetAsideRecord): Promise<void> {
		await this.#run(SCRIPTS.removeVm, planParams.purgeAside(plan));
	}

	async restoreSetAside(plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		await this.#run(SCRIPTS.restoreSetAside, planParams.restoreAside(plan, record.name));
	}

	// ---------------------------------------------------------------- steps 2, 3, 4

	async createDisks(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		await this.#run(SCRIPTS.createDisks, planParams.createDisks(plan));
	}

	async createSnapshotLayer(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		await this.#run(SCRIPTS.snapshotLayer, planParams.snapshotLayer(plan));
	}

	async startVm(plan: RestorePlan, options: StepOptions = {}): Promise<void> {
		await this.#run(SCRIPTS.startVm, planParams.startVm(plan));
		// A drill waits for the heartbeat itself (its proof of life, timed and bounded by the drill).
		if (this.#heartbeatTimeoutMs <= 0 || plan.drill) return;
		const began = Date.now();
		while (true) {
			options.signal?.throwIfAborted();
			const status = readVmStatus(await this.#run(SCRIPTS.vmStatus, planParams.vmStatus(plan)));
			const state = mapVmState(status.state);
			if (state === 'off' || state === 'error' || String(status.state) === 'Missing') {
				throw new HypervError('VM_NOT_RUNNING', `VM ${plan.vmName} is ${String(status.state)} instead of running after its start on ${this.#where}: check the VM's console and event log, then run start again`);
			}
			// No heartbeat service to wait for (disabled, or not offered): the VM runs, which is all that can be known.
			if (status.heartbeat === null || !status.heartbeat.enabled || status.heartbeat.ok) return;
			const waited = Date.now() - began;
			options.onProgress?.({ done: waited, total: this.#heartbeatTimeoutMs, detail: `waiting for the guest's heartbeat (${status.heartbeat.status || 'no contact'})` });
			if (waited > this.#heartbeatTimeoutMs) {
				throw new HypervError(
					'HEARTBEAT_TIMEOUT',
					`VM ${plan.vmName} runs but its guest sent no heartbeat within ${Math.round(this.#heartbeatTimeoutMs / 1000)} s: check the guest in the VM's console (integration services installed and running?). Run start again to keep waiting, or set RUNDIRECT_HYPERV_HEARTBEAT_TIMEOUT=0 to skip the wait`,
				);
			}
			await sleep(this.#pollMs, undefined, options.signal ? { signal: options.signal } : {});
		}
	}

	// ---------------------------------------------------------------- steps 5, 6, 7

	async #copies(plan: RestorePlan, start: boolean): Promise<CopyReport[]> {
		return readCopy(await this.#run(SCRIPTS.copy, planParams.copy(plan, start)));
	}

	async copyData(plan: RestorePlan, options: StepOptions = {}): Promise<void> {
		let reports = await this.#copies(plan, true);
		// A worker found gone (killed, out of memory, a crash at its start) is started again, a couple of times: the copy is only redone.
		let restarts = 0;
		while (true) {
			const done = reports.reduce((sum, job) => sum + job.done, 0);
			const total = reports.reduce((sum, job) => sum + job.total, 0);
			options.onProgress?.({ done, total, detail: `${plan.disks.length} disk${plan.disks.length === 1 ? '' : 's'}, copied on the host` });
			const failed = reports.filter((job) => job.status === 'failed');
			if (failed.length > 0) throw new HypervError('COPY_FAILED', `Copying the backup to production failed on ${this.#where}: ${failed.map((job) => `${job.target}: ${job.error ?? 'unknown error'}`).join('; ')}. Run finalize again to retry the copy`);
			const lost = reports.filter((job) => job.status === 'missing');
			if (lost.length > 0 && restarts < COPY_RESTARTS) {
				restarts++;
				options.onProgress?.({ done, total, detail: `copy worker restarted (${lost.map((job) => job.error ?? job.target).join('; ')})` });
				reports = await this.#copies(plan, true);
				continue;
			}
			if (lost.length > 0) throw new HypervError('COPY_LOST', `The copy of ${lost.map((job) => `${job.target}${job.error ? ` (${job.error})` : ''}`).join(', ')} stopped without finishing on ${this.#where} (host restarted?): run finalize again to restart it`);
			if (reports.every((job) => job.status === 'done')) return;
			options.signal?.throwIfAborted();
			await sleep(this.#pollMs, undefined, options.signal ? { signal: options.signal } : {});
			reports = await this.#copies(plan, false);
		}
	}

	async applyChanges(plan: RestorePlan, _options?: StepOptions): Promise<ApplyResult> {
		return { pauseMs: readPause(await this.#run(SCRIPTS.applyChanges, planParams.applyChanges(plan, this.#offlineMode))) };
	}

	async deleteSnapshotLayer(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		await this.#run(SCRIPTS.deleteLayer, planParams.deleteLayer(plan));
	}

	// ---------------------------------------------------------------- stop, status

	async discard(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		await this.#run(SCRIPTS.discard, planParams.discard(plan));
	}

	async status(plan: RestorePlan): Promise<RuntimeStatus> {
		const status = readVmStatus(await this.#run(SCRIPTS.vmStatus, planParams.vmStatus(plan)));
		const missing = String(status.state) === 'Missing';
		const runsOn = status.runsOn.length > 0 && status.runsOn.every((where) => where === 'production') ? 'production' : status.runsOn.some((where) => where === 'backup') ? 'backup' : 'unknown';
		let job: RuntimeStatus['job'] = null;
		if (!missing && runsOn === 'backup') {
			const copies = await this.#copies(plan, false).catch(() => []);
			if (copies.some((copy) => copy.status !== 'missing')) {
				const active = copies.find((copy) => copy.status === 'running' || copy.status === 'failed') ?? copies[0];
				job = {
					id: 'copy',
					kind: 'copy',
					status: active?.status ?? 'missing',
					done: copies.reduce((sum, copy) => sum + copy.done, 0),
					total: copies.reduce((sum, copy) => sum + copy.total, 0),
					error: copies.map((copy) => copy.error).find((error) => error !== null) ?? null,
				};
			}
		}
		return {
			vm: missing ? 'missing' : mapVmState(status.state),
			runsOn,
			guestAlive: status.heartbeat && status.heartbeat.enabled ? status.heartbeat.ok : null,
			bytesChanged: status.bytesChanged,
			job,
		};
	}

	guestExecProblem(): string | null {
		return this.#guestCredential ? null : 'PowerShell Direct runs checks as an account of the guest: set RUNDIRECT_HYPERV_GUEST_USER and RUNDIRECT_HYPERV_GUEST_PASSWORD (the password goes to PowerShell on its standard input, never on a command line)';
	}

	/** A command inside the session's guest through PowerShell Direct: the VM bus, no network. */
	async guestExec(plan: RestorePlan, argv: readonly string[], timeoutMs: number): Promise<GuestCommandResult> {
		const credential = this.#guestCredential;
		const [command, ...args] = argv;
		if (!credential) throw new HypervError('GUEST_EXEC_FAILED', `${plan.vmName}: ${this.guestExecProblem() ?? ''}`);
		if (!command) throw new HypervError('GUEST_EXEC_FAILED', `${plan.vmName}: no command to run in the guest`);
		this.#assertPlatform();
		const answer = readGuestExec(await this.#runner.run(SCRIPTS.guestExec, planParams.guestExec(plan, credential, command, args, timeoutMs, GUEST_OUTPUT_CHARS), { timeoutMs: timeoutMs + SCRIPTS.guestExec.timeoutMs }));
		if (!answer.exited) throw new HypervError('GUEST_EXEC_FAILED', `${argv.join(' ')} still ran inside ${plan.vmName} after ${Math.round(timeoutMs / 1000)} s: ended`);
		return { exitCode: answer.exitCode, signal: null, stdout: answer.stdout, stderr: answer.stderr, truncated: answer.truncated, ms: answer.ms };
	}

	/** A drill's evidence: the VM's screen, as Hyper-V's thumbnail turned into a PNG. */
	async captureEvidence(plan: RestorePlan): Promise<Evidence> {
		const thumbnail = readThumbnail(await this.#run(SCRIPTS.thumbnail, planParams.thumbnail(plan, THUMBNAIL_WIDTH, THUMBNAIL_HEIGHT)));
		return { kind: 'thumbnail', pngBase64: rgb565ToPng(thumbnail.rgb565, thumbnail.width, thumbnail.height).toString('base64') };
	}

	/** `rundirect backup`: a restore point of one of this host's VMs, written into `destination`. */
	async backup(vmName: string, destination: string, options: StepOptions = {}): Promise<BackupResult> {
		this.#assertPlatform();
		return backupVm({ runner: this.#runner, vmName, destination, pollIntervalMs: this.#pollMs, ...(options.onProgress ? { onProgress: options.onProgress } : {}), ...(options.signal ? { signal: options.signal } : {}) });
	}

	runbook(plan: RestorePlan): RunbookStep[] {
		return buildRunbook(plan, { computer: this.computer, offlineMode: this.#offlineMode });
	}

	runbookScript(steps: RunbookStep[], meta: { plan: RestorePlan; generatedAt: string }): string {
		return renderRunbookScript(steps, { ...meta, computer: this.computer });
	}

	runbookScriptUsage(fileName: string): string {
		return `run ".\\${fileName} -Phase start" (then -Phase finalize, or -Phase stop) in an elevated Windows PowerShell`;
	}

	/** A drill's VM keeps its NICs, connected only to an isolated switch or to nothing. */
	drillNetwork(isolatedSwitch: string | null): string {
		return isolatedSwitch ? `NICs on the isolated switch ${isolatedSwitch}` : 'NICs disconnected';
	}

	async close(plan?: RestorePlan): Promise<void> {
		// One PowerShell process serves every session; it goes only when the console closes.
		if (plan) return;
		await this.#runner.dispose();
	}
}
