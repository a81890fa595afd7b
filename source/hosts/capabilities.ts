// Optional abilities of a host. The seven steps are the one `Host` interface; anything only
// some hosts can do is a small interface here with a type guard, checked where it is used —
// never by asking which driver a host is. A driver has an ability by implementing its members.
import type { RestorePointManifest } from '../catalog/schema.ts';
import type { GuestExecResult } from '../qemu/guest-agent.ts';
import type { TcpProbeAttempt } from '../qemu/segment.ts';
import type { Evidence, Host, PlanInput, RestorePlan, RunbookStep, StepOptions } from './host.ts';

function hasMember(host: Host, member: string): boolean {
	return typeof (host as unknown as Record<string, unknown>)[member] !== 'undefined';
}

// ---- path rules -------------------------------------------------------------------------

/** How the host spells paths, and whether they name this machine's own files. */
export interface PathRules {
	style: 'posix' | 'win32';
	/** True when the host's paths are this machine's: a location can be compared with the backup destination. */
	local: boolean;
}

export interface HasPathRules {
	readonly pathRules: PathRules;
}

/** A host that says nothing about its paths is a local POSIX host. */
export function pathRulesOf(host: Host): PathRules {
	return hasMember(host, 'pathRules') ? (host as Host & HasPathRules).pathRules : { style: 'posix', local: true };
}

// ---- backup -----------------------------------------------------------------------------

export interface BackupResult {
	pointId: string;
	/** The restore point's folder, as the host sees it. */
	dir: string;
	manifest: RestorePointManifest;
}

/** `rundirect backup`: the host writes a restore point of one of its VMs into a destination. */
export interface CanBackup {
	backup(vmName: string, destination: string, options?: StepOptions): Promise<BackupResult>;
}

export function canBackup(host: Host): host is Host & CanBackup {
	return hasMember(host, 'backup');
}

// ---- runbook ----------------------------------------------------------------------------

/** `start --runbook`: every command the phases of a plan will run, for review before running. */
export interface HasRunbook {
	runbook(plan: RestorePlan): RunbookStep[];
	/** The runbook as one script an administrator can read or run by hand (`--runbook-out`). */
	runbookScript(steps: RunbookStep[], meta: { plan: RestorePlan; generatedAt: string }): string;
	/** How to run that script by hand, as the end of a sentence, given its file name. */
	runbookScriptUsage(fileName: string): string;
}

export function hasRunbook(host: Host): host is Host & HasRunbook {
	return hasMember(host, 'runbook') && hasMember(host, 'runbookScript');
}

/**
 * A runbook host that can also plan without being reached — local Hyper-V seen from a machine
 * that is not Windows — so a runbook can be reviewed or handed over from anywhere. What only the
 * host knows is assumed, and every assumption is said.
 */
export interface PlansOffline {
	/** True when the host cannot be asked anything from here. */
	readonly unreachable: boolean;
	planOffline(input: PlanInput): { plan: RestorePlan; assumptions: string[] };
}

export function plansOffline(host: Host): host is Host & PlansOffline {
	return hasMember(host, 'planOffline') && hasMember(host, 'unreachable');
}

/** A host that can stop step 5's copy and leave the VM running from its backup (a finalize given up before step 6). */
export interface CancelsCopy {
	cancelCopy(plan: RestorePlan): Promise<void>;
}

export function cancelsCopy(host: Host): host is Host & CancelsCopy {
	return hasMember(host, 'cancelCopy');
}

// ---- evidence ---------------------------------------------------------------------------

/** Proof of what a session's VM shows right now (drills keep it in their report). */
export interface HasEvidence {
	captureEvidence(plan: RestorePlan): Promise<Evidence>;
	/** What the evidence is taken from, for titles: "the serial console", "the screen". */
	readonly evidenceSource: string;
}

export function hasEvidence(host: Host): host is Host & HasEvidence {
	return hasMember(host, 'captureEvidence') && hasMember(host, 'evidenceSource');
}

// ---- proof of life ----------------------------------------------------------------------

/** How `RuntimeStatus.guestAlive` is judged on this host, and how often it is worth asking. */
export interface ProofOfLife {
	/** e.g. "serial marker", "heartbeat". */
	name: string;
	/** A status poll's cost decides this: a local read can be frequent, a PowerShell round trip cannot. */
	pollMs: number;
}

export interface HasProofOfLife {
	readonly proofOfLife: ProofOfLife;
}

export function proofOfLifeOf(host: Host): ProofOfLife {
	return hasMember(host, 'proofOfLife') ? (host as Host & HasProofOfLife).proofOfLife : { name: 'guest signal', pollMs: 1000 };
}

// ---- commands inside the guest ----------------------------------------------------------

/** What a command run inside a guest did (kept as a drill's evidence of its application): the guest agent's answer, the one shape every host gives. */
export type GuestCommandResult = GuestExecResult;

/**
 * Runs a command inside a session's guest, no network needed (lab, libvirt: the QEMU guest
 * agent's guest-exec; Hyper-V: PowerShell Direct), and waits for it to exit, at most `timeoutMs`.
 */
export interface ExecsInGuest {
	guestExec(plan: RestorePlan, argv: readonly string[], timeoutMs: number): Promise<GuestCommandResult>;
	/** How, in words: "the QEMU guest agent". */
	readonly guestExecVia: string;
	/** Why no command can run in this host's guests as it is configured (e.g. no guest account given); null or absent: none. */
	guestExecProblem?(): string | null;
}

export function execsInGuest(host: Host): host is Host & ExecsInGuest {
	return hasMember(host, 'guestExec') && hasMember(host, 'guestExecVia');
}

// ---- TCP ports on the drill network -----------------------------------------------------

/**
 * Connects to a TCP port of a drill VM from a point on its isolated network (never through a
 * proxy that could answer for the guest): connected means the guest's TCP stack answered.
 */
export interface ProbesTcp {
	probeTcp(plan: RestorePlan, port: number, timeoutMs: number): Promise<TcpProbeAttempt[]>;
	/** How, in words: "a probe in the VM's network namespace". */
	readonly tcpProbeVia: string;
	/** Why a VM of a plan run of this purpose cannot have TCP checks here; null or absent: it can. */
	tcpProbeProblem?(purpose: 'drill' | 'recovery'): Promise<string | null>;
}

export type { TcpProbeAttempt };

export function probesTcp(host: Host): host is Host & ProbesTcp {
	return hasMember(host, 'probeTcp') && hasMember(host, 'tcpProbeVia');
}

// ---- drill network ----------------------------------------------------------------------

/** How a drill's VM is kept off the production network on this host, in words for the report. */
export interface DescribesDrillNetwork {
	drillNetwork(isolatedSwitch: string | null): string;
}

export function drillNetworkOf(host: Host, isolatedSwitch: string | null): string {
	if (hasMember(host, 'drillNetwork')) return (host as Host & DescribesDrillNetwork).drillNetwork(isolatedSwitch);
	return isolatedSwitch ? `NICs on the isolated switch ${isolatedSwitch}` : 'NICs disconnected';
}

// ---- power ------------------------------------------------------------------------------

/** Power a host's VM on or off by name (the lab's own VM controls). True when it changed. */
export interface HasPower {
	powerOn(vmName: string): Promise<boolean>;
	powerOff(vmName: string): Promise<boolean>;
}

export function hasPower(host: Host): host is Host & HasPower {
	return hasMember(host, 'powerOn') && hasMember(host, 'powerOff');
}

// ---- provisioning -----------------------------------------------------------------------

export interface ProvisionSummary {
	destination: string;
	vms: string[];
	restorePoints: number;
	warnings: string[];
	/** Findings worth a line of their own for a person (e.g. the accelerator chosen, and why). */
	notes: string[];
	/** The same and more for scripts (`--json`), e.g. the guest image and the accelerator. */
	details: Record<string, unknown>;
}

export interface ProvisionOptions {
	/** Rebuild what exists (not what a session is using). */
	force?: boolean;
	/** Also build a real guest OS with an application (the lab: Debian with PostgreSQL and the guest agent). */
	withDebian?: boolean;
	/** `fraction` (0…1) is left out for a message that is not a step of the overall progress. */
	onProgress: (message: string, fraction?: number) => void;
}

/** A host that can build its own sample lab: a guest image, a sample destination, VMs (`lab init`). */
export interface CanProvision {
	/** The sample backup destination the provisioning builds. */
	readonly sampleDestination: string;
	/** True when the sample lab has not been built yet. */
	provisionNeeded(): Promise<boolean>;
	provision(options: ProvisionOptions): Promise<ProvisionSummary>;
}

export function canProvision(host: Host): host is Host & CanProvision {
	return hasMember(host, 'provision') && hasMember(host, 'provisionNeeded');
}

// ---- private storage --------------------------------------------------------------------

/** What narrowing a host's storage changed (core/private-files.ts's TightenResult). */
export interface StorageTightened {
	changed: string[];
}

/**
 * A host that keeps guest data in this machine's own files (the lab: production images,
 * snapshot layers, serial logs, definitions). Earlier versions left them to the umask; this
 * narrows them to the user running rundirect, never touching a path in `spare` (backups).
 */
export interface TightensStorage {
	/** `sessionFolders`: the production folders the journals name on this host (earlier sessions' images may sit beside others' files). */
	tightenStorage(spare: readonly string[], sessionFolders?: readonly string[]): Promise<StorageTightened>;
	/** Where that storage is, for the notice: "the lab's data folder /…". */
	readonly storagePlace: string;
}

export function tightensStorage(host: Host): host is Host & TightensStorage {
	return hasMember(host, 'tightenStorage') && hasMember(host, 'storagePlace');
}
