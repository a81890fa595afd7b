// The one seam between the Run Direct engine and the places VMs run. The engine knows
// hosts only through this interface; drivers never import the engine or the UI.
//
// Every step operation is idempotent: it inspects the host (not memory) and does only
// what is still missing, so a step interrupted by a crash can simply be run again.
import type { DiskFormat, NicManifest } from '../catalog/schema.ts';

/** Progress of a long operation, in bytes. `total` may grow (a mirror chases the guest). */
export interface ProgressReport {
	done: number;
	total: number;
	/** Optional human detail, e.g. "disk 2/3". */
	detail?: string;
}
export type ProgressCallback = (report: ProgressReport) => void;

export interface StepOptions {
	onProgress?: ProgressCallback;
	signal?: AbortSignal;
	/** Bytes per second the copy (5) and the apply (6) may use, to spare production I/O; none = as fast as possible. */
	rateLimit?: number;
	/** Asked while a copy runs, so the operator can change its cap or pause it; a host that cannot keeps `rateLimit`. */
	control?: CopyControl;
}

/** What the operator wants of a running copy now (read at each progress poll). */
export interface CopyControl {
	/** Bytes per second, or undefined for as fast as possible. */
	rateLimit(): number | undefined;
	paused(): boolean;
}

/** One disk of a restore, with every path the session uses for it. */
export interface DiskPlacement {
	index: number;
	/** The backup disk file: opened read-only, never written. */
	backup: string;
	format: DiskFormat;
	virtualSize: number;
	/** The empty production image of step 2, which becomes the VM's disk after step 6. */
	production: string;
	/** The snapshot layer of step 3 (backing file: the backup). */
	overlay: string;
	controller: 'scsi' | 'ide' | 'virtio';
	controllerNumber: number;
	location: number;
}

export interface VmSettings {
	generation: 1 | 2;
	firmware: 'bios' | 'uefi';
	secureBoot: boolean;
	secureBootTemplate: string | null;
	cpus: number;
	memoryMiB: number;
	nics: NicManifest[];
}

/** How the VM being replaced is handled in step 1. */
export type ReplaceMode = 'set-aside' | 'delete';

/** What the user asked for. */
export interface RestoreTarget {
	/** The restored VM's name (the backed-up name, or a new one). */
	name: string;
	/** `original` = the host's production storage; otherwise an absolute folder. */
	location: 'original' | (string & {});
	replaceMode: ReplaceMode;
}

/**
 * A recovery drill's restore (`rundirect drill`): the VM must not reach the production network,
 * and its proof of life is awaited (and timed) by the drill, not by step 4.
 */
export interface DrillIsolation {
	/** Connect the NICs only to this isolated switch (Hyper-V: Private or Internal); null = leave them disconnected. */
	isolatedSwitch: string | null;
	/** The drill probes TCP ports of the VM (ProbesTcp): its isolated network must be one the probe is on. */
	tcpProbe?: boolean;
}

/** What a drill keeps as proof that the guest booted (or did not): the serial console's tail, or a screen thumbnail. */
export interface Evidence {
	kind: 'serial-tail' | 'thumbnail';
	/** The serial console's last lines (lab). */
	text?: string;
	/** A PNG of the VM's screen, base64 (Hyper-V). */
	pngBase64?: string;
	/** Where the host keeps the original, when it is a file (e.g. the lab's serial log). */
	file?: string;
}

/** Computed once by the host before step 1 and kept in the journal: every path is fixed. */
export interface RestorePlan {
	sessionId: string;
	host: string;
	vmName: string;
	/** Name of the existing VM that step 1 replaces, or null when there is none. */
	replaces: string | null;
	replaceMode: ReplaceMode;
	productionDir: string;
	workDir: string;
	disks: DiskPlacement[];
	settings: VmSettings;
	/** Set for a recovery drill: networking isolated, no wait for the guest in step 4. */
	drill?: DrillIsolation;
	/**
	 * Set when the restored VM takes the backed-up VM's identity (a restore under its own name, from
	 * a restore point that keeps the VM's configuration): step 4 imports that configuration.
	 */
	identity?: { vmId: string; configFile: string };
}

/** Enough to bring a set-aside VM back (stop) or purge it (finalize). Host-specific. */
export interface SetAsideRecord {
	name: string;
	/** The name/handle it is kept under meanwhile. */
	asideName: string;
	/** Host-specific details (paths moved, VM id, …), JSON-serialisable. */
	details: Record<string, unknown>;
}

export interface HostVm {
	name: string;
	id: string;
	state: 'running' | 'paused' | 'off' | 'error';
	/** Session id when the VM runs from a backup (not finalized). */
	runningFromBackup: string | null;
	/** True for a VM that step 1 set aside (turned off, kept until finalize or stop). */
	setAside: boolean;
	disks: string[];
}

export interface JobStatus {
	id: string;
	kind: 'copy' | 'apply';
	status: string;
	done: number;
	total: number;
	error: string | null;
}

export interface RuntimeStatus {
	vm: 'running' | 'paused' | 'off' | 'missing' | 'error';
	/** Which storage the VM's disks are on right now. */
	runsOn: 'backup' | 'production' | 'unknown';
	/** Proof of life from inside the guest (lab: serial marker; Hyper-V: heartbeat); null = unknown. */
	guestAlive: boolean | null;
	/** Bytes the guest has written since start: the growth of the snapshot layer. */
	bytesChanged: number | null;
	job: JobStatus | null;
	/** What could not be seen, e.g. while another controller holds the VM's monitor. */
	note?: string;
}

export interface HostDescription {
	/** What sort of host this is, in a word ("lab", "hyperv"), for people and logs. */
	kind: string;
	id: string;
	/** e.g. "QEMU 7.2.22, TCG" or "Hyper-V on HOST01". */
	summary: string;
	productionStorage: string;
	freeBytes: number | null;
	warnings: string[];
}

export interface ApplyResult {
	/** How long the guest was paused (lab) or offline (Hyper-V) for the switch, in ms. */
	pauseMs: number;
}

export interface PlanInput {
	sessionId: string;
	target: RestoreTarget;
	/** Absolute paths of the backup disks with their manifest data, in manifest order. */
	disks: Array<Omit<DiskPlacement, 'production' | 'overlay' | 'index'>>;
	settings: VmSettings;
	drill?: DrillIsolation;
	/** The backed-up VM: its name and id, and its exported configuration when the restore point keeps one. */
	origin?: { name: string; id: string; configFile: string | null };
}

/** One command of a runbook: what a step will run, for review before running (`start --runbook`). */
export interface RunbookStep {
	phase: 'start' | 'finalize' | 'stop';
	/** The engine's step id (e.g. "start-vm"), or a sub-step such as "start-vm:wait". */
	step: string;
	title: string;
	language: 'powershell' | 'shell';
	/** Name of the script (PowerShell) or program (shell). */
	scriptName: string;
	/** The constant script text, identical whatever the parameters. */
	script: string;
	/** The parameters, decoded. */
	params: unknown;
	/** Exactly what is sent (for PowerShell: one line, values only as base64). */
	invocation: string;
	/** Repeat until this holds (PowerShell condition over `$data`, the envelope's data), for waits. */
	repeatUntil?: string;
}

/**
 * The seven steps and what every host can do. Anything only some hosts can do (backup, a
 * runbook, evidence, power, provisioning, their path rules…) is a capability: see
 * capabilities.ts, and ask its type guards — never which driver a host is.
 */
export interface Host {
	/** What sort of host this is, in a word ("lab", "hyperv"), for people and logs: never a branch. */
	readonly kind: string;
	/** Stable identifier used in journals and locks, e.g. "lab" or "hyperv://server". */
	readonly id: string;

	describe(): Promise<HostDescription>;
	inventory(): Promise<HostVm[]>;

	/** Fixes every path of the restore. Pure apart from reading the host. */
	plan(input: PlanInput): Promise<RestorePlan>;
	/** Problems that forbid starting (room, name collisions, capabilities). Empty = go. */
	preflight(plan: RestorePlan): Promise<string[]>;

	// Step 1
	setAsideVm(plan: RestorePlan): Promise<SetAsideRecord | null>;
	deleteVm(plan: RestorePlan): Promise<void>;
	// Step 2
	createDisks(plan: RestorePlan, options?: StepOptions): Promise<void>;
	// Step 3
	createSnapshotLayer(plan: RestorePlan, options?: StepOptions): Promise<void>;
	// Step 4: resolves once the VM is proven to run (not just started); may return a note for the journal (e.g. an accelerator fallback).
	startVm(plan: RestorePlan, options?: StepOptions): Promise<string | void>;
	// Step 5
	copyData(plan: RestorePlan, options?: StepOptions): Promise<void>;
	// Step 6
	applyChanges(plan: RestorePlan, options?: StepOptions): Promise<ApplyResult>;
	// Step 7
	deleteSnapshotLayer(plan: RestorePlan, options?: StepOptions): Promise<void>;
	/** After finalize: the replaced VM is purged for good. */
	purgeSetAside(plan: RestorePlan, record: SetAsideRecord): Promise<void>;

	/** Stop: the VM, its snapshot layer and the production copies go; nothing of the session remains. */
	discard(plan: RestorePlan, options?: StepOptions): Promise<void>;
	/** After stop: the replaced VM comes back under its name, as it was. */
	restoreSetAside(plan: RestorePlan, record: SetAsideRecord): Promise<void>;

	status(plan: RestorePlan): Promise<RuntimeStatus>;

	/**
	 * Releases connections — of one session's VM, or all — so other controllers can reach the
	 * VM. Never stops VMs or jobs.
	 */
	close(plan?: RestorePlan): Promise<void>;
}
