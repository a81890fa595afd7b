// The lab host: VMs are detached QEMU processes driven over QMP, production storage and the
// work area are folders, VM definitions are JSON files. Every step reads the host's state
// (definition, pid file, QMP queries, marker files) and does only what is missing, so it can
// be run again after any crash of the controller or of QEMU.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type {
	ApplyResult,
	Evidence,
	Host,
	HostDescription,
	HostVm,
	JobStatus,
	PlanInput,
	RestorePlan,
	RuntimeStatus,
	SetAsideRecord,
	StepOptions,
} from '../host.ts';
import type { CanProvision, DescribesDrillNetwork, HasEvidence, HasPower, HasProofOfLife, PathRules, ProofOfLife, ProvisionOptions, ProvisionSummary } from '../capabilities.ts';
import { labPaths, type LabPaths, type Paths } from '../../core/paths.ts';
import { type AcceleratorVerdict, detectAccelerator } from './accel.ts';
import { GUEST_MARKER } from '../../lab/initrd.ts';
import { definitionPath, type LabVmDefinition, listDefinitions, readDefinition, writeDefinition } from './definition.ts';
import { type QemuJob, queryJobs, startFullCopy, waitJobs } from './jobs.ts';
import { checkImage, createOverlay, createQcow2, imageInfo, measureQcow2, QEMU_IMG, QEMU_SYSTEM, qemuVersion } from './qemu-img.ts';
import { QmpClient } from './qmp.ts';
import { type Accelerator, launch, type LaunchDisk, type LaunchSpec, nodeNames, OVMF_IMAGE, powerOff, runningPid, runtimeFiles } from './runtime.ts';
import { completeSetAside, dedicatedFolder, detailsOf, prepareSetAside, purge, readRecord, recordFile, remapPath, undoSetAside } from './set-aside.ts';

export interface LabHostOptions {
	paths: Paths;
	/** Skips detection (tests, or a user who knows). */
	accel?: Accelerator;
	/** The lab guest image, for a conclusive KVM probe (see accel.ts). */
	probeImage?: string;
	/** Builds the sample lab (`lab init`); given by the registry, so the driver never imports the lab builder. Without it the host cannot provision. */
	provision?: LabBuilder;
}

/** What the lab builder made: the guest image, the sample destination and the lab's VMs. */
export interface LabBuild {
	destination: string;
	/** The bootable guest disk, which tells whether KVM really runs guests here. */
	guestImage: string;
	vms: string[];
	restorePoints: number;
	warnings: string[];
}

export type LabBuilder = (options: ProvisionOptions) => Promise<LabBuild>;

interface NamedNode {
	'node-name': string;
}

interface BlockInfo {
	qdev?: string;
	inserted?: { 'node-name'?: string };
}

type VmRunState = 'running' | 'paused' | 'off' | 'error';

const QMP_CONNECT_TIMEOUT_MS = 5_000;
const SERIAL_SCAN_BYTES = 1 << 20;
/** A drill's evidence: the serial console's last lines (a boot log fits; a chatty guest is cut). */
const EVIDENCE_TAIL_BYTES = 16 * 1024;
const EVIDENCE_TAIL_LINES = 60;
/** A status poll gives up on the monitor quickly: another controller may hold it for minutes. */
const STATUS_CONNECT_TIMEOUT_MS = 750;

function mapRunState(status: string): VmRunState {
	if (status === 'running' || status === 'finish-migrate') return 'running';
	if (status === 'paused' || status === 'prelaunch' || status === 'suspended' || status === 'inmigrate' || status === 'restore-vm' || status === 'save-vm' || status === 'debug' || status === 'postmigrate' || status === 'colo') return 'paused';
	if (status === 'shutdown') return 'off';
	return 'error';
}

async function exists(file: string): Promise<boolean> {
	return fs.access(file).then(
		() => true,
		() => false,
	);
}

/** The closest existing folder, so statfs works before the target folder is created. */
async function existingAncestor(folder: string): Promise<string> {
	let current = folder;
	while (!(await exists(current))) {
		const parent = path.dirname(current);
		if (parent === current) break;
		current = parent;
	}
	return current;
}

async function freeBytes(folder: string): Promise<number> {
	const stats = await fs.statfs(await existingAncestor(folder));
	return stats.bavail * stats.bsize;
}

async function deviceOf(folder: string): Promise<number> {
	return (await fs.stat(await existingAncestor(folder))).dev;
}

function copiedMarker(plan: RestorePlan, index: number): string {
	return path.join(plan.workDir, `disk${index}.copied`);
}

export class LabHost implements Host, HasEvidence, HasProofOfLife, DescribesDrillNetwork, HasPower, Partial<CanProvision> {
	readonly kind = 'lab' as const;
	readonly id = 'lab';
	readonly lab: LabPaths;
	/** The lab's paths are this machine's own files: a location can be checked against the destination. */
	readonly pathRules: PathRules = { style: 'posix', local: true };
	/** The lab guest shows its marker ~2.5 s after boot under TCG: poll often enough to time it well. */
	readonly proofOfLife: ProofOfLife = { name: 'serial marker', pollMs: 150 };
	readonly evidenceSource = 'the serial console';
	/** Set only when a builder was given: without one, canProvision says no. */
	readonly provision?: (options: ProvisionOptions) => Promise<ProvisionSummary>;
	readonly #options: LabHostOptions;
	#verdict: Promise<AcceleratorVerdict> | null = null;
	/** At most one QMP connection per VM (QEMU serves only one client at a time). */
	readonly #connections = new Map<string, QmpClient>();

	constructor(options: LabHostOptions) {
		this.#options = options;
		this.lab = labPaths(options.paths);
		const build = options.provision;
		if (build) this.provision = (provisionOptions) => this.#provision(build, provisionOptions);
	}

	// ---------------------------------------------------------------- drills, provisioning

	drillNetwork(): string {
		return 'none (lab VMs run without a network device)';
	}

	get sampleDestination(): string {
		return this.lab.destination;
	}

	async provisionNeeded(): Promise<boolean> {
		return !(await exists(this.lab.destination));
	}

	/** `lab init`: the build, then which accelerator really runs the guest it built. */
	async #provision(build: LabBuilder, options: ProvisionOptions): Promise<ProvisionSummary> {
		const built = await build(options);
		options.onProgress('Checking which accelerator runs the lab guest (KVM only where it really runs guests)…');
		const verdict = await detectAccelerator({ cacheDir: this.lab.cache, probeImage: built.guestImage });
		return {
			destination: built.destination,
			vms: built.vms,
			restorePoints: built.restorePoints,
			warnings: built.warnings,
			notes: [`Accelerator: ${verdict.accel.toUpperCase()} — ${verdict.reason}`],
			details: { guestImage: built.guestImage, accelerator: verdict.accel, acceleratorReason: verdict.reason },
		};
	}

	// ---------------------------------------------------------------- accelerator, QMP

	accelerator(): Promise<AcceleratorVerdict> {
		if (!this.#verdict) {
			const forced = this.#options.accel;
			this.#verdict = forced
				? Promise.resolve({ accel: forced, reason: 'chosen by the caller', source: 'env', probe: null })
				: detectAccelerator({ cacheDir: this.lab.cache, ...(this.#options.probeImage ? { probeImage: this.#options.probeImage } : {}) });
			// A failed detection must not stick: the next call probes again.
			this.#verdict.catch(() => (this.#verdict = null));
		}
		return this.#verdict;
	}

	/** The VM's QMP connection, or null when it does not run. */
	async qmp(name: string): Promise<QmpClient | null> {
		const files = runtimeFiles(this.lab.run, name);
		if ((await runningPid(files)) === null) {
			await this.#forget(files.key);
			return null;
		}
		const cached = this.#connections.get(files.key);
		if (cached?.connected) return cached;
		if (cached) {
			await cached.reconnect({ timeoutMs: QMP_CONNECT_TIMEOUT_MS });
			return cached;
		}
		const client = await QmpClient.connect(files.qmpSocket, { timeoutMs: QMP_CONNECT_TIMEOUT_MS });
		this.#connections.set(files.key, client);
		return client;
	}

	async #forget(key: string): Promise<void> {
		const client = this.#connections.get(key);
		this.#connections.delete(key);
		await client?.close();
	}

	async #powerOff(name: string): Promise<boolean> {
		const files = runtimeFiles(this.lab.run, name);
		const qmp = await this.qmp(name).catch(() => null);
		const wasRunning = await powerOff(files, qmp);
		await this.#forget(files.key);
		return wasRunning;
	}

	async close(plan?: RestorePlan): Promise<void> {
		if (plan) {
			await this.#forget(runtimeFiles(this.lab.run, plan.vmName).key);
			return;
		}
		const clients = [...this.#connections.values()];
		this.#connections.clear();
		await Promise.all(clients.map((client) => client.close()));
	}

	// ---------------------------------------------------------------- describe, inventory

	async describe(): Promise<HostDescription> {
		const warnings: string[] = [];
		let summary = 'QEMU (not found)';
		try {
			const version = await qemuVersion();
			const verdict = await this.accelerator();
			summary = `QEMU ${version}, ${verdict.accel.toUpperCase()}`;
			if (verdict.accel === 'tcg' && verdict.source !== 'env' && /KVM is present/.test(verdict.reason)) warnings.push(verdict.reason);
			if (verdict.accel === 'kvm' && verdict.probe === 'boot-sector') {
				warnings.push('KVM was only probed with a boot sector: run `lab init` so the lab guest confirms it can run guests');
			}
		} catch (error) {
			warnings.push(`${QEMU_SYSTEM} is not usable: ${(error as Error).message}`);
		}
		let free: number | null = null;
		try {
			free = await freeBytes(this.lab.production);
		} catch {
			free = null;
		}
		return { kind: 'lab', id: this.id, summary, productionStorage: this.lab.production, freeBytes: free, warnings };
	}

	async inventory(): Promise<HostVm[]> {
		const result: HostVm[] = [];
		for (const { definition } of await listDefinitions(this.lab.vms)) {
			const state = definition.setAsideBy !== null ? 'off' : await this.#runState(definition.name);
			result.push({
				name: definition.name,
				id: definition.id,
				state,
				runningFromBackup: definition.runningFromBackup,
				setAside: definition.setAsideBy !== null,
				disks: definition.disks.map((disk) => disk.path),
			});
		}
		return result;
	}

	async #runState(name: string): Promise<VmRunState> {
		const files = runtimeFiles(this.lab.run, name);
		if ((await runningPid(files)) === null) return 'off';
		const state = await this.#briefly(name, async (qmp) => mapRunState((await qmp.execute<{ status: string }>('query-status', undefined, { timeoutMs: 2_000 })).status)).catch(() => null);
		// Null: alive but the monitor is held by another controller; the process is the proof.
		return state ?? 'running';
	}

	/**
	 * Runs `query` on the VM's monitor without keeping it: our own connection when this process
	 * drives the VM, else a short-lived one. QEMU serves one QMP client at a time, so a poll
	 * must never hold the monitor another controller's finalize needs. Null when it is held.
	 */
	async #briefly<T>(name: string, query: (qmp: QmpClient) => Promise<T>): Promise<T | null> {
		const files = runtimeFiles(this.lab.run, name);
		const own = this.#connections.get(files.key);
		const qmp = own?.connected ? own : await QmpClient.connect(files.qmpSocket, { timeoutMs: STATUS_CONNECT_TIMEOUT_MS }).catch(() => null);
		if (!qmp) return null;
		try {
			return await query(qmp);
		} finally {
			if (qmp !== own) await qmp.close();
		}
	}

	/** Turns a lab VM off (`rundirect lab poweroff`). False when it was not running. */
	async powerOff(name: string): Promise<boolean> {
		if (!(await readDefinition(definitionPath(this.lab.vms, name)))) throw new Error(`there is no lab VM named ${name}`);
		return this.#powerOff(name);
	}

	/** Starts a lab VM on the disks its definition names (`rundirect lab poweron`). False when it already runs. */
	async powerOn(name: string): Promise<boolean> {
		const definition = await readDefinition(definitionPath(this.lab.vms, name));
		if (!definition) throw new Error(`there is no lab VM named ${name}`);
		if ((await runningPid(runtimeFiles(this.lab.run, name))) !== null) return false;
		if (definition.runningFromBackup !== null) {
			// Its disks are a snapshot layer over a backup: the session's own steps restart it correctly.
			throw new Error(`${name} runs from a backup in session ${definition.runningFromBackup}: "rundirect finalize ${definition.runningFromBackup}" restarts it on the way, or "rundirect stop ${definition.runningFromBackup}" discards it`);
		}
		if (definition.setAsideBy !== null) throw new Error(`${name} is set aside by session ${definition.setAsideBy}; it comes back if that session is stopped`);
		await this.#launch({
			name,
			memoryMiB: definition.memoryMiB,
			firmware: 'bios',
			accel: (await this.accelerator()).accel,
			disks: definition.disks.map((disk, index) => ({ index, kind: 'production', path: disk.path, format: disk.format })),
		});
		await this.#forget(runtimeFiles(this.lab.run, name).key);
		return true;
	}

	// ---------------------------------------------------------------- plan, preflight

	async plan(input: PlanInput): Promise<RestorePlan> {
		const vmName = input.target.name;
		const location = input.target.location;
		if (location !== 'original' && !path.isAbsolute(location)) throw new Error(`Target location must be "original" or an absolute folder, not ${location}`);
		const productionDir = location === 'original' ? path.join(this.lab.production, vmName) : path.join(location, vmName);
		const workDir = path.join(this.lab.work, input.sessionId);
		const existing = await readDefinition(definitionPath(this.lab.vms, vmName));
		return {
			sessionId: input.sessionId,
			host: this.id,
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
			// Lab VMs always run with `-nic none`: a drill is isolated as it is; kept so the journal says so.
			...(input.drill ? { drill: input.drill } : {}),
		};
	}

	async preflight(plan: RestorePlan): Promise<string[]> {
		const problems: string[] = [];
		for (const binary of [QEMU_SYSTEM, QEMU_IMG]) {
			const result = await execa(binary, ['--version'], { reject: false, timeout: 10_000 });
			if (result.failed) problems.push(`${binary} is not installed or does not run (${result.shortMessage}); install the qemu-system-x86 and qemu-utils packages`);
		}
		if (problems.length > 0) return problems;
		if (plan.disks.length === 0) problems.push('The restore point has no disks');
		if (plan.settings.firmware === 'uefi' && !(await exists(OVMF_IMAGE))) problems.push(`VM ${plan.vmName} needs UEFI firmware but ${OVMF_IMAGE} is missing; install the ovmf package`);

		// The backup disks: readable, what the manifest says, openable read-only.
		let required = 0;
		for (const disk of plan.disks) {
			try {
				await fs.access(disk.backup, fs.constants.R_OK);
			} catch (error) {
				problems.push(`Backup disk ${disk.backup} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}): check that the backup destination is mounted and readable`);
				continue;
			}
			let info;
			try {
				info = await imageInfo(disk.backup);
			} catch (error) {
				const message = ((error as { stderr?: string }).stderr || (error as Error).message).trim();
				if (/contains a log that needs to be replayed/i.test(message)) {
					// QEMU's own advice (check -r all on this file) would write the backup: never on the backup itself.
					problems.push(
						`Backup disk ${disk.backup} has a pending VHDX log: it was not closed cleanly, and QEMU cannot open it read-only. ` +
							`Do not repair the backup itself: copy it (cp --sparse=always ${disk.backup} <folder>/), replay the log on the copy ` +
							`(qemu-img check -r all <folder>/${path.basename(disk.backup)}) and restore from the copy, or choose another restore point`,
					);
				} else {
					problems.push(`Backup disk ${disk.backup} cannot be opened read-only by qemu-img: ${message.replace(/\s*\n\s*/g, ' ')}`);
				}
				continue;
			}
			if (info.format !== disk.format) {
				problems.push(`Backup disk ${disk.backup} is ${info.format}, but the restore point says ${disk.format}: the restore point is inconsistent`);
				continue;
			}
			if (info.virtualSize !== disk.virtualSize) problems.push(`Backup disk ${disk.backup} has a virtual size of ${info.virtualSize} bytes, but the restore point says ${disk.virtualSize}: the restore point is inconsistent`);
			// A backing or data file would make QEMU open a file outside the restore point (any file on this host).
			if (info.backingFile !== null) problems.push(`Backup disk ${disk.backup} refers to a backing file (${info.backingFile}): a restore point's disks must be self-contained, so it is refused`);
			if (info.dataFile !== null) problems.push(`Backup disk ${disk.backup} keeps its data in an external file (${info.dataFile}): a restore point's disks must be self-contained, so it is refused`);
			if (info.backingFile !== null || info.dataFile !== null) continue;
			const check = await checkImage(disk.backup, info.format);
			if (check.failure !== null) {
				problems.push(`Backup disk ${disk.backup} cannot be checked by qemu-img: ${check.failure}`);
				continue;
			}
			if (check.errors > 0) {
				problems.push(`Backup disk ${disk.backup} is damaged: qemu-img check found ${check.errors} error${check.errors === 1 ? '' : 's'} in its ${info.format} metadata (a truncated or partly copied file?); choose another restore point`);
				continue;
			}
			try {
				required += await measureQcow2(disk.backup, info.format);
			} catch (error) {
				problems.push(`Cannot measure backup disk ${disk.backup}: ${(error as Error).message}`);
			}
		}

		// Name collisions with other sessions.
		const definitions = await listDefinitions(this.lab.vms);
		const current = definitions.find(({ file }) => file === definitionPath(this.lab.vms, plan.vmName))?.definition ?? null;
		if (current?.runningFromBackup && current.runningFromBackup !== plan.sessionId) {
			problems.push(`VM ${plan.vmName} is running from backup in session ${current.runningFromBackup}: finalize or stop that session first`);
		}
		if (current && current.runningFromBackup === null && plan.replaces !== current.name) {
			problems.push(`A VM named ${plan.vmName} exists, but this restore was planned without replacing it: plan the restore again`);
		}
		for (const { definition } of definitions) {
			if (definition.name === plan.vmName && definition.setAsideBy !== null && definition.setAsideBy !== plan.sessionId) {
				problems.push(`VM ${plan.vmName} is set aside by session ${definition.setAsideBy}: finalize or stop that session first`);
			}
		}

		// The production folder must be creatable: its closest existing ancestor a folder we can write in.
		const anchor = await existingAncestor(plan.productionDir);
		const anchorStat = await fs.stat(anchor).catch(() => null);
		if (anchorStat && !anchorStat.isDirectory()) {
			problems.push(`Production folder ${plan.productionDir} cannot be created: ${anchor} is a file, not a folder; choose another location`);
			return problems;
		}
		if (!(await fs.access(anchor, fs.constants.W_OK | fs.constants.X_OK).then(() => true, () => false))) {
			problems.push(`Production folder ${plan.productionDir} cannot be created: ${anchor} is not writable; choose another location`);
			return problems;
		}

		// Production files that are in the way and are not going to be moved by step 1.
		let willMove: string[] = [];
		if (plan.replaces !== null && current) {
			const folder = await dedicatedFolder(this.lab, current, definitionPath(this.lab.vms, plan.vmName));
			willMove = folder ? [folder] : current.disks.map((disk) => disk.path);
		}
		const ownsCurrent = current !== null && current.runningFromBackup === plan.sessionId;
		for (const disk of plan.disks) {
			if (!(await exists(disk.production))) continue;
			const moved = willMove.some((from) => remapPath(disk.production, [{ from, to: '/' }]) !== disk.production);
			if (!moved && !ownsCurrent) problems.push(`Production file ${disk.production} already exists and does not belong to this session: remove it or restore to another location or name`);
		}

		// Room: the production copies (qemu-img measure) plus a margin for the snapshot layers.
		const virtualTotal = plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
		const overlayMargin = Math.min(virtualTotal * 0.1, 10 * 2 ** 30) + 64 * 2 ** 20;
		try {
			const sameDevice = (await deviceOf(plan.productionDir)) === (await deviceOf(plan.workDir));
			const productionNeed = required + (sameDevice ? overlayMargin : 0);
			const productionFree = await freeBytes(plan.productionDir);
			if (productionFree < productionNeed) {
				problems.push(`Not enough room in ${await existingAncestor(plan.productionDir)}: ${formatSize(productionFree)} free, ${formatSize(productionNeed)} needed (production copies${sameDevice ? ' and snapshot layers' : ''}); free space there or restore to another --location`);
			}
			if (!sameDevice) {
				const workFree = await freeBytes(plan.workDir);
				if (workFree < overlayMargin) problems.push(`Not enough room for the snapshot layers in ${await existingAncestor(plan.workDir)}: ${formatSize(workFree)} free, ${formatSize(overlayMargin)} wanted`);
			}
		} catch (error) {
			problems.push(`Cannot check free space for ${plan.productionDir}: ${(error as Error).message}`);
		}
		return problems;
	}

	// ---------------------------------------------------------------- step 1

	async setAsideVm(plan: RestorePlan): Promise<SetAsideRecord | null> {
		const name = plan.replaces;
		if (name === null) return null;
		let record = await readRecord(recordFile(this.lab, plan.sessionId, name));
		if (!record) {
			const wasRunning = (await runningPid(runtimeFiles(this.lab.run, name))) !== null;
			record = await prepareSetAside(this.lab, plan.sessionId, name, wasRunning);
			if (!record) return null;
		}
		// The session's own VM does not exist yet, so whatever runs under this name is the old VM.
		const current = await readDefinition(definitionPath(this.lab.vms, name));
		if (current && current.runningFromBackup !== plan.sessionId) await this.#powerOff(name);
		await completeSetAside(record);
		return record;
	}

	async deleteVm(plan: RestorePlan): Promise<void> {
		const name = plan.replaces;
		if (name === null) return;
		const file = definitionPath(this.lab.vms, name);
		const definition = await readDefinition(file);
		if (!definition || definition.runningFromBackup === plan.sessionId) return;
		await this.#powerOff(name);
		const folder = await dedicatedFolder(this.lab, definition, file);
		if (folder) await fs.rm(folder, { recursive: true, force: true });
		else for (const disk of definition.disks) await fs.rm(disk.path, { force: true });
		// Last, so a rerun still knows what to delete.
		await fs.rm(file, { force: true });
	}

	async purgeSetAside(_plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		await purge(this.lab, record);
	}

	async restoreSetAside(_plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		const details = detailsOf(record);
		const restored = await undoSetAside(this.lab, record);
		if (restored && details.wasRunning && (await runningPid(runtimeFiles(this.lab.run, record.name))) === null) {
			await this.#launch({
				name: restored.name,
				memoryMiB: restored.memoryMiB,
				firmware: 'bios',
				accel: (await this.accelerator()).accel,
				disks: restored.disks.map((disk, index) => ({ index, kind: 'production', path: disk.path, format: disk.format })),
			});
		}
	}

	// ---------------------------------------------------------------- steps 2, 3

	async createDisks(plan: RestorePlan, options: StepOptions = {}): Promise<void> {
		await fs.mkdir(plan.productionDir, { recursive: true });
		const definition = await this.#ownDefinition(plan);
		const qmp = await this.#sessionQmp(plan, definition);
		const nodes = qmp ? await this.#nodeNames(qmp) : new Set<string>();
		const total = plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
		let done = 0;
		for (const disk of plan.disks) {
			// Once step 5 has filled it (or QEMU holds it) the production disk is no longer empty: keep it.
			const inUse = (await exists(copiedMarker(plan, disk.index))) || definition?.disks[disk.index]?.path === disk.production || nodes.has(nodeNames(disk.index).prod);
			if (!inUse) {
				await fs.rm(disk.production, { force: true });
				await createQcow2(disk.production, disk.virtualSize);
			}
			done += disk.virtualSize;
			options.onProgress?.({ done, total, detail: `disk ${disk.index + 1}/${plan.disks.length}` });
		}
	}

	async createSnapshotLayer(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		await fs.mkdir(plan.workDir, { recursive: true });
		for (const disk of plan.disks) {
			if (await exists(disk.overlay)) {
				// An overlay the VM may have written to is the only copy of those writes: never recreate it.
				const info = await imageInfo(disk.overlay).catch(() => null);
				if (info?.format === 'qcow2' && info.backingFile === disk.backup) continue;
				if ((await runningPid(runtimeFiles(this.lab.run, plan.vmName))) !== null) {
					throw new Error(`Snapshot layer ${disk.overlay} is damaged or has the wrong backing file while VM ${plan.vmName} runs: stop the session`);
				}
				await fs.rm(disk.overlay, { force: true });
			}
			await createOverlay(disk.overlay, disk.backup, disk.format);
		}
	}

	// ---------------------------------------------------------------- step 4

	async startVm(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		const file = definitionPath(this.lab.vms, plan.vmName);
		let definition = await readDefinition(file);
		if (definition && !this.#owns(plan, definition)) {
			throw new Error(`VM ${plan.vmName} already exists and is not this session's: step 1 must set it aside first`);
		}
		if (!definition) {
			definition = {
				schemaVersion: 1,
				name: plan.vmName,
				id: randomUUID(),
				cpus: plan.settings.cpus,
				memoryMiB: plan.settings.memoryMiB,
				disks: plan.disks.map((disk) => ({ path: disk.overlay, format: 'qcow2' as const })),
				nics: plan.settings.nics,
				runningFromBackup: plan.sessionId,
				setAsideBy: null,
				createdAt: new Date().toISOString(),
			};
			await writeDefinition(file, definition);
		}
		await this.#ensureRunning(plan, definition);
	}

	/** The session's VM definition, or null (none, or another VM's). */
	async #ownDefinition(plan: RestorePlan): Promise<LabVmDefinition | null> {
		const definition = await readDefinition(definitionPath(this.lab.vms, plan.vmName));
		return definition && this.#owns(plan, definition) ? definition : null;
	}

	#owns(plan: RestorePlan, definition: LabVmDefinition): boolean {
		if (definition.setAsideBy !== null) return false;
		if (definition.runningFromBackup === plan.sessionId) return true;
		const ours = new Set(plan.disks.flatMap((disk) => [disk.overlay, disk.production]));
		return definition.disks.length > 0 && definition.disks.every((disk) => ours.has(disk.path));
	}

	async #sessionQmp(plan: RestorePlan, definition: LabVmDefinition | null): Promise<QmpClient | null> {
		return definition ? this.qmp(plan.vmName) : null;
	}

	#launchSpec(plan: RestorePlan, definition: LabVmDefinition, accel: Accelerator): LaunchSpec {
		const disks: LaunchDisk[] = plan.disks.map((disk) =>
			definition.disks[disk.index]?.path === disk.production
				? { index: disk.index, kind: 'production', path: disk.production, format: 'qcow2' }
				: { index: disk.index, kind: 'backup', backup: disk.backup, format: disk.format, overlay: disk.overlay },
		);
		return { name: plan.vmName, memoryMiB: definition.memoryMiB, firmware: plan.settings.firmware, accel, disks };
	}

	async #launch(spec: LaunchSpec): Promise<QmpClient> {
		await this.#forget(runtimeFiles(this.lab.run, spec.name).key);
		await launch(this.lab.run, spec);
		const qmp = await this.qmp(spec.name);
		if (!qmp) throw new Error(`VM ${spec.name} exited right after it started: see ${runtimeFiles(this.lab.run, spec.name).serialFile}`);
		return qmp;
	}

	/** The session's VM is running (relaunched on what its definition says if QEMU died). */
	async #ensureRunning(plan: RestorePlan, definition: LabVmDefinition): Promise<QmpClient> {
		let qmp = await this.qmp(plan.vmName);
		if (!qmp) qmp = await this.#launch(this.#launchSpec(plan, definition, (await this.accelerator()).accel));
		const status = await qmp.execute<{ status: string }>('query-status');
		if (status.status === 'internal-error') {
			throw new Error(
				`VM ${plan.vmName} stopped with a hypervisor internal error (QEMU status internal-error): the accelerator cannot run this guest; set RUNDIRECT_ACCEL=tcg and retry`,
			);
		}
		return qmp;
	}

	async #requireRunning(plan: RestorePlan): Promise<{ qmp: QmpClient; definition: LabVmDefinition }> {
		const definition = await this.#ownDefinition(plan);
		if (!definition) throw new Error(`VM ${plan.vmName} of session ${plan.sessionId} does not exist: step 4 has not run`);
		return { qmp: await this.#ensureRunning(plan, definition), definition };
	}

	async #nodeNames(qmp: QmpClient): Promise<Set<string>> {
		const nodes = await qmp.execute<NamedNode[]>('query-named-block-nodes', { flat: true });
		return new Set(nodes.map((node) => node['node-name']));
	}

	async #addProductionNodes(qmp: QmpClient, index: number, file: string): Promise<void> {
		const names = nodeNames(index);
		await qmp.execute('blockdev-add', { driver: 'file', filename: file, 'node-name': names.prodFile, discard: 'unmap' });
		await qmp.execute('blockdev-add', { driver: 'qcow2', file: names.prodFile, 'node-name': names.prod, discard: 'unmap', 'detect-zeroes': 'unmap' });
	}

	async #flush(qmp: QmpClient, node: string): Promise<void> {
		// REQUIRED: a concluded backup job has not flushed its target; a crash would lose data.
		const output = await qmp.execute<string>('human-monitor-command', { 'command-line': `qemu-io ${node} "flush"` });
		if (output.trim()) throw new Error(`Flushing ${node} failed: ${output.trim()}`);
	}

	// ---------------------------------------------------------------- step 5

	async copyData(plan: RestorePlan, options: StepOptions = {}): Promise<void> {
		const { qmp, definition } = await this.#requireRunning(plan);
		const progress = new Map<number, { done: number; total: number }>();
		const report = () => {
			let done = 0;
			let total = 0;
			for (const value of progress.values()) {
				done += value.done;
				total += value.total;
			}
			options.onProgress?.({ done, total, detail: `${plan.disks.length} disk${plan.disks.length === 1 ? '' : 's'}` });
		};
		const existingJobs = new Map((await queryJobs(qmp)).map((job) => [job.id, job]));
		const nodes = await this.#nodeNames(qmp);
		const waiting: string[] = [];
		for (const disk of plan.disks) {
			const names = nodeNames(disk.index);
			const jobId = `rd-copy${disk.index}`;
			progress.set(disk.index, { done: 0, total: disk.virtualSize });
			const finished = () => progress.set(disk.index, { done: disk.virtualSize, total: disk.virtualSize });
			if (definition.disks[disk.index]?.path === disk.production || (await exists(copiedMarker(plan, disk.index)))) {
				finished();
				continue;
			}
			const job = existingJobs.get(jobId);
			if (job && job.status !== 'concluded') {
				// A copy started by an earlier controller: adopt it.
				waiting.push(jobId);
				continue;
			}
			if (job) {
				await qmp.execute('job-dismiss', { id: jobId });
				if (!job.error) {
					await this.#flush(qmp, names.prod);
					await fs.writeFile(copiedMarker(plan, disk.index), `${new Date().toISOString()}\n`);
					finished();
					continue;
				}
			}
			// Start from a fresh production image: whatever an interrupted copy left is unknown.
			if (nodes.has(names.prod)) await qmp.execute('blockdev-del', { 'node-name': names.prod });
			if (nodes.has(names.prodFile)) await qmp.execute('blockdev-del', { 'node-name': names.prodFile });
			await fs.mkdir(plan.productionDir, { recursive: true });
			await fs.rm(disk.production, { force: true });
			await createQcow2(disk.production, disk.virtualSize);
			await this.#addProductionNodes(qmp, disk.index, disk.production);
			await startFullCopy(qmp, { 'job-id': jobId, device: names.backup, target: names.prod, sync: 'full', 'auto-dismiss': false, ...speedOf(options) });
			waiting.push(jobId);
		}
		report();
		if (waiting.length === 0) return;
		const jobs = await waitJobs(qmp, waiting, {
			until: 'concluded',
			...(options.signal ? { signal: options.signal } : {}),
			onPoll: (current) => {
				for (const job of current.values()) {
					const index = Number(job.id.slice('rd-copy'.length));
					progress.set(index, { done: job['current-progress'], total: Math.max(job['total-progress'], 1) });
				}
				report();
			},
		});
		const failures: string[] = [];
		for (const job of jobs.values()) {
			const index = Number(job.id.slice('rd-copy'.length));
			await qmp.execute('job-dismiss', { id: job.id });
			if (job.error) {
				failures.push(`disk ${index}: ${job.error}`);
				continue;
			}
			await this.#flush(qmp, nodeNames(index).prod);
			await fs.writeFile(copiedMarker(plan, index), `${new Date().toISOString()}\n`);
		}
		if (failures.length > 0) {
			if (failures.some((failure) => /no space left/i.test(failure))) throw new Error(await this.#noSpaceMessage(plan));
			throw new Error(`Copying the backup to production failed: ${failures.join('; ')}`);
		}
	}

	/** What a full production storage needs, in words the administrator can act on. */
	async #noSpaceMessage(plan: RestorePlan): Promise<string> {
		let needed = 0;
		for (const disk of plan.disks) needed += await measureQcow2(disk.backup, disk.format).catch(() => disk.virtualSize);
		const stats = await fs.statfs(plan.productionDir).catch(() => null);
		const free = stats ? stats.bavail * stats.bsize : null;
		return (
			`Production storage ${plan.productionDir} is full: the copy needs ${formatSize(needed)}${free === null ? '' : ` and ${formatSize(free)} is free`}. ` +
			`The VM keeps running from the backup; free at least ${formatSize(Math.max(needed - (free ?? 0), 0))} there and finalize again`
		);
	}

	// ---------------------------------------------------------------- step 6

	async applyChanges(plan: RestorePlan, options: StepOptions = {}): Promise<ApplyResult> {
		let definition = await this.#ownDefinition(plan);
		if (!definition) throw new Error(`VM ${plan.vmName} of session ${plan.sessionId} does not exist: step 4 has not run`);
		if (plan.disks.every((disk) => definition?.disks[disk.index]?.path === disk.production)) return { pauseMs: 0 };
		for (const disk of plan.disks) {
			if (definition.disks[disk.index]?.path !== disk.production && !(await exists(copiedMarker(plan, disk.index)))) {
				throw new Error(`Disk ${disk.index} of ${plan.vmName} has not been copied to production yet: step 5 must complete first`);
			}
		}
		const qmp = await this.#ensureRunning(plan, definition);
		const onProduction = await this.#disksOnProduction(qmp);
		const pending = plan.disks.filter((disk) => !onProduction.has(disk.index));
		const nodes = await this.#nodeNames(qmp);
		const existingJobs = new Map((await queryJobs(qmp)).map((job) => [job.id, job]));
		const ids: string[] = [];
		for (const disk of pending) {
			const names = nodeNames(disk.index);
			const jobId = `rd-apply${disk.index}`;
			ids.push(jobId);
			const job = existingJobs.get(jobId);
			if (job?.status === 'concluded') await qmp.execute('job-dismiss', { id: jobId });
			else if (job) continue;
			if (!nodes.has(names.prod)) await this.#addProductionNodes(qmp, disk.index, disk.production);
			await qmp.execute('blockdev-mirror', {
				...speedOf(options),
				'job-id': jobId,
				device: names.overlay,
				target: names.prod,
				sync: 'top',
				'copy-mode': 'write-blocking',
				'auto-dismiss': false,
			});
		}
		let pauseMs = 0;
		if (ids.length > 0) {
			const progressOf = (jobs: Map<string, QemuJob>) => {
				let done = 0;
				let total = 0;
				for (const job of jobs.values()) {
					done += job['current-progress'];
					total += job['total-progress'];
				}
				options.onProgress?.({ done, total, detail: 'applying the changes made while running from backup' });
			};
			const ready = await waitJobs(qmp, ids, { until: 'ready', onPoll: progressOf, ...(options.signal ? { signal: options.signal } : {}) });
			const failed = [...ready.values()].filter((job) => job.status === 'concluded');
			if (failed.length > 0) {
				for (const job of failed) await qmp.execute('job-dismiss', { id: job.id });
				throw new Error(`Applying the changes failed before the switch: ${failed.map((job) => `${job.id}: ${job.error ?? 'ended early'}`).join('; ')}`);
			}
			const before = await qmp.execute<{ status: string }>('query-status');
			const pause = before.status === 'running';
			// The switch: the guest is paused only between stop and cont.
			const started = process.hrtime.bigint();
			if (pause) await qmp.execute('stop');
			let concluded: Map<string, QemuJob>;
			try {
				for (const id of ids) await qmp.execute('block-job-complete', { device: id });
				concluded = await waitJobs(qmp, ids, { until: 'concluded', intervalMs: 1, stallMs: 60_000 });
			} finally {
				if (pause) await qmp.execute('cont');
			}
			pauseMs = pause ? Number(process.hrtime.bigint() - started) / 1e6 : 0;
			// Journal the switch at once: from here on production is the truth.
			const switched = await this.#disksOnProduction(qmp);
			definition = await this.#recordSwitch(plan, definition, switched);
			const errors: string[] = [];
			for (const job of concluded.values()) {
				await qmp.execute('job-dismiss', { id: job.id });
				if (job.error) errors.push(`${job.id}: ${job.error}`);
			}
			if (errors.length > 0) throw new Error(`Applying the changes failed: ${errors.join('; ')}`);
		} else {
			definition = await this.#recordSwitch(plan, definition, onProduction);
		}
		const notSwitched = plan.disks.filter((disk) => definition?.disks[disk.index]?.path !== disk.production);
		if (notSwitched.length > 0) throw new Error(`Disk(s) ${notSwitched.map((disk) => disk.index).join(', ')} of ${plan.vmName} did not switch to production`);
		return { pauseMs };
	}

	/** Indexes of the disks whose device runs on its production node. */
	async #disksOnProduction(qmp: QmpClient): Promise<Set<number>> {
		const blocks = await qmp.execute<BlockInfo[]>('query-block');
		const result = new Set<number>();
		for (const block of blocks) {
			const match = /^\/machine\/peripheral\/vd(\d+)\//.exec(block.qdev ?? '');
			const index = match?.[1] === undefined ? NaN : Number(match[1]);
			if (!Number.isNaN(index) && block.inserted?.['node-name'] === nodeNames(index).prod) result.add(index);
		}
		return result;
	}

	async #recordSwitch(plan: RestorePlan, definition: LabVmDefinition, switched: Set<number>): Promise<LabVmDefinition> {
		const disks = definition.disks.map((disk, index) => {
			const placement = plan.disks[index];
			return placement && switched.has(index) ? { path: placement.production, format: 'qcow2' as const } : disk;
		});
		if (disks.every((disk, index) => disk.path === definition.disks[index]?.path)) return definition;
		const updated = { ...definition, disks };
		await writeDefinition(definitionPath(this.lab.vms, plan.vmName), updated);
		return updated;
	}

	// ---------------------------------------------------------------- step 7

	async deleteSnapshotLayer(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		const definition = await this.#ownDefinition(plan);
		if (!definition) throw new Error(`VM ${plan.vmName} of session ${plan.sessionId} does not exist`);
		if (!plan.disks.every((disk) => definition.disks[disk.index]?.path === disk.production)) {
			throw new Error(`VM ${plan.vmName} still runs on its snapshot layer: step 6 must complete first`);
		}
		const qmp = await this.qmp(plan.vmName);
		if (qmp) {
			const nodes = await this.#nodeNames(qmp);
			for (const disk of plan.disks) {
				const names = nodeNames(disk.index);
				// Top-down: a node can go only once nothing uses it.
				for (const node of [names.overlay, names.overlayFile, names.backup, names.backupFile]) {
					if (nodes.has(node)) await qmp.execute('blockdev-del', { 'node-name': node });
				}
			}
		}
		for (const disk of plan.disks) await fs.rm(disk.overlay, { force: true });
		await fs.rm(plan.workDir, { recursive: true, force: true });
		if (definition.runningFromBackup !== null) await writeDefinition(definitionPath(this.lab.vms, plan.vmName), { ...definition, runningFromBackup: null });
	}

	// ---------------------------------------------------------------- stop

	async discard(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		const file = definitionPath(this.lab.vms, plan.vmName);
		const definition = await readDefinition(file);
		const ours = definition ? this.#owns(plan, definition) : await this.#qemuIsOurs(plan);
		if (ours) await this.#powerOff(plan.vmName);
		for (const disk of plan.disks) {
			await fs.rm(disk.overlay, { force: true });
			await fs.rm(disk.production, { force: true });
		}
		await fs.rm(plan.workDir, { recursive: true, force: true });
		// Only the folder we filled: anything else in it is not the session's to delete.
		await fs.rmdir(plan.productionDir).catch(() => undefined);
		if (definition && ours) await fs.rm(file, { force: true });
		// The serial log outlives QEMU; it is the session's VM's, so it goes with it.
		if (ours) await fs.rm(runtimeFiles(this.lab.run, plan.vmName).serialFile, { force: true });
	}

	/** With no definition (crash between launch and writing it): is the QEMU under this name ours? */
	async #qemuIsOurs(plan: RestorePlan): Promise<boolean> {
		const files = runtimeFiles(this.lab.run, plan.vmName);
		const pid = await runningPid(files);
		if (pid === null) return false;
		const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
		return plan.disks.some((disk) => cmdline.includes(disk.overlay) || cmdline.includes(disk.production));
	}

	// ---------------------------------------------------------------- status

	async status(plan: RestorePlan): Promise<RuntimeStatus> {
		const definition = await this.#ownDefinition(plan);
		let bytesChanged: number | null = null;
		for (const disk of plan.disks) {
			const stats = await fs.stat(disk.overlay).catch(() => null);
			if (stats) bytesChanged = (bytesChanged ?? 0) + stats.blocks * 512;
		}
		const fromDefinition = (): RuntimeStatus['runsOn'] => {
			const first = definition?.disks[0]?.path;
			if (first === plan.disks[0]?.production) return 'production';
			if (first === plan.disks[0]?.overlay) return 'backup';
			return 'unknown';
		};
		const files = runtimeFiles(this.lab.run, plan.vmName);
		const alive = definition !== null && (await runningPid(files)) !== null;
		if (!alive) return { vm: definition ? 'off' : 'missing', runsOn: fromDefinition(), guestAlive: null, bytesChanged, job: null };
		const guestAlive = (await this.#readSerial(plan.vmName)).includes(GUEST_MARKER);
		const live = await this.#briefly(plan.vmName, async (qmp): Promise<RuntimeStatus> => {
			const status = await qmp.execute<{ status: string }>('query-status');
			const onProduction = await this.#disksOnProduction(qmp);
			const jobs = (await queryJobs(qmp)).filter((job) => /^rd-(copy|apply)\d+$/.test(job.id));
			return {
				vm: mapRunState(status.status),
				runsOn: onProduction.has(0) ? 'production' : fromDefinition() === 'production' ? 'unknown' : 'backup',
				guestAlive,
				bytesChanged,
				job: summarizeJobs(jobs),
			};
		});
		return live ?? { vm: 'running', runsOn: fromDefinition(), guestAlive, bytesChanged, job: null, note: 'another controller holds the VM monitor' };
	}

	/** The serial console's last lines: what the guest printed (or did not) — a recovery drill's evidence. */
	async captureEvidence(plan: RestorePlan): Promise<Evidence> {
		const file = runtimeFiles(this.lab.run, plan.vmName).serialFile;
		const handle = await fs.open(file, 'r').catch(() => null);
		if (!handle) return { kind: 'serial-tail', text: '', file };
		try {
			const { size } = await handle.stat();
			const length = Math.min(size, EVIDENCE_TAIL_BYTES);
			const buffer = Buffer.alloc(length);
			const { bytesRead } = await handle.read(buffer, 0, length, size - length);
			const lines = buffer.subarray(0, bytesRead).toString('latin1').split(/\r?\n/);
			// A tail cut mid-line starts with a fragment: drop it unless it is all there is.
			if (size > length && lines.length > 1) lines.shift();
			return { kind: 'serial-tail', text: lines.slice(-EVIDENCE_TAIL_LINES).join('\n'), file };
		} finally {
			await handle.close();
		}
	}

	/** The head of the serial log (truncated by QEMU at each start): the marker comes early in boot. */
	async #readSerial(name: string): Promise<string> {
		const handle = await fs.open(runtimeFiles(this.lab.run, name).serialFile, 'r').catch(() => null);
		if (!handle) return '';
		try {
			const buffer = Buffer.alloc(SERIAL_SCAN_BYTES);
			const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
			return buffer.subarray(0, bytesRead).toString('latin1');
		} finally {
			await handle.close();
		}
	}
}

function summarizeJobs(jobs: QemuJob[]): JobStatus | null {
	const first = jobs[0];
	if (!first) return null;
	const active = jobs.find((job) => job.status !== 'concluded') ?? first;
	return {
		id: jobs.map((job) => job.id).join(','),
		kind: first.id.startsWith('rd-copy') ? 'copy' : 'apply',
		status: active.status,
		done: jobs.reduce((sum, job) => sum + job['current-progress'], 0),
		total: jobs.reduce((sum, job) => sum + job['total-progress'], 0),
		error: jobs.map((job) => job.error).find((error) => error !== undefined) ?? null,
	};
}

/** QEMU's block-job `speed` (bytes per second; 0 = unlimited). */
function speedOf(options: StepOptions): { speed?: number } {
	return options.rateLimit && options.rateLimit > 0 ? { speed: Math.round(options.rateLimit) } : {};
}

function formatSize(bytes: number): string {
	return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(bytes / 2 ** 20)} MiB`;
}
