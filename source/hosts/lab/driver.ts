// The lab host: VMs are detached QEMU processes driven over QMP, production storage and the
// work area are folders, VM definitions are JSON files. Every step reads the host's state
// (definition, pid file, QMP queries, marker files) and does only what is missing, so it can
// be run again after any crash of the controller or of QEMU.
//
// This class is the facade the engine sees: each job lives in a module of its own (plan,
// preflight, start, finalize, stop, status), sharing a LabContext; the monitors (one QMP
// connection per VM) and the accelerator verdict are held here, once per host.
import type {
	ApplyResult,
	Evidence,
	Host,
	HostDescription,
	HostVm,
	PlanInput,
	RestorePlan,
	RuntimeStatus,
	SetAsideRecord,
	StepOptions,
} from '../host.ts';
import type { CanProvision, DescribesDrillNetwork, ExecsInGuest, GuestCommandResult, ProbesTcp, TcpProbeAttempt, HasEvidence, HasPower, HasProofOfLife, PathRules, ProofOfLife, ProvisionOptions, ProvisionSummary, StorageTightened, TightensStorage } from '../capabilities.ts';
import { exists } from '../../core/files.ts';
import { labPaths, type LabPaths, type Paths } from '../../core/paths.ts';
import { tightenTree } from '../../core/private-files.ts';
import { type AcceleratorVerdict, detectAccelerator, rememberKvmFailure } from './accel.ts';
import type { LabContext } from './context.ts';
import { definitionPath, readDefinition } from './definition.ts';
import { LabError } from './errors.ts';
import { applyChanges, cancelCopy, copyData, deleteSnapshotLayer } from './finalize.ts';
import { Monitors } from './monitor.ts';
import { planRestore } from './plan.ts';
import { launchOnOwnDisks, powerOffVm } from './power.ts';
import { preflight } from './preflight.ts';
import type { QmpClient } from './qmp.ts';
import { type Accelerator, runningPid, runtimeFiles } from './runtime.ts';
import { serialTail } from './serial.ts';
import { agentFailure, guestExec, GuestAgentError } from '../../qemu/guest-agent.ts';
import { purge } from './set-aside.ts';
import { probeSessionTcp, TCP_PROBE_VIA, tcpProbeProblem } from './tcp-check.ts';
import { createDisks, createSnapshotLayer, deleteVm, setAsideVm, startVm } from './start.ts';
import { describeLab, inventory, sessionStatus } from './status.ts';
import { discard, restoreSetAside } from './stop.ts';

export interface LabHostOptions {
	paths: Paths;
	/** Skips detection (tests, or a user who knows). */
	accel?: Accelerator;
	/** The lab guest image, for a conclusive KVM probe (see accel.ts). */
	probeImage?: string;
	/** Finds or builds the lab guest when there is no probeImage (given by the registry: the driver never imports the lab builder). */
	probeGuest?: () => Promise<string | null>;
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

export class LabHost implements Host, HasEvidence, ExecsInGuest, ProbesTcp, HasProofOfLife, DescribesDrillNetwork, HasPower, TightensStorage, Partial<CanProvision> {
	readonly kind = 'lab' as const;
	readonly id = 'lab';
	readonly lab: LabPaths;
	/** The lab's paths are this machine's own files: a location can be checked against the destination. */
	readonly pathRules: PathRules = { style: 'posix', local: true };
	/** The lab guest shows its marker ~2.5 s after boot under TCG: poll often enough to time it well. */
	readonly proofOfLife: ProofOfLife = { name: 'guest agent or serial marker', pollMs: 150 };
	readonly evidenceSource = 'the serial console';
	readonly guestExecVia = 'the QEMU guest agent';
	readonly tcpProbeVia = TCP_PROBE_VIA;
	/** Set only when a builder was given: without one, canProvision says no. */
	readonly provision?: (options: ProvisionOptions) => Promise<ProvisionSummary>;
	readonly #options: LabHostOptions;
	#verdict: Promise<AcceleratorVerdict> | null = null;
	/** At most one QMP connection per VM (QEMU serves only one client at a time). */
	readonly #monitors: Monitors;
	readonly #context: LabContext;

	constructor(options: LabHostOptions) {
		this.#options = options;
		this.lab = labPaths(options.paths);
		this.#monitors = new Monitors(this.lab.run);
		this.#context = { lab: this.lab, monitors: this.#monitors, accelerator: () => this.accelerator(), kvmFailed: (reason) => this.#kvmFailed(reason) };
		const build = options.provision;
		if (build) this.provision = (provisionOptions) => this.#provision(build, provisionOptions);
	}

	// ---------------------------------------------------------------- drills, provisioning

	drillNetwork(): string {
		return 'each NIC on a restricted user-mode network that reaches nothing outside the VM; a VM with TCP checks on taps in a network namespace of its own, the probe their only other end (none when the restore point has no NIC)';
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

	// ---------------------------------------------------------------- private storage

	get storagePlace(): string {
		return `the lab's data folder ${this.lab.root}`;
	}

	/** What earlier versions left to the umask under the lab's folder, narrowed; the sample destination (a backup) is never touched. */
	tightenStorage(spare: readonly string[]): Promise<StorageTightened> {
		return tightenTree(this.lab.root, [this.lab.destination, ...spare]);
	}

	// ---------------------------------------------------------------- accelerator, QMP

	accelerator(): Promise<AcceleratorVerdict> {
		if (!this.#verdict) {
			const forced = this.#options.accel;
			this.#verdict = forced
				? Promise.resolve({ accel: forced, reason: 'chosen by the caller', source: 'env', probe: null })
				: detectAccelerator({
						cacheDir: this.lab.cache,
						...(this.#options.probeImage ? { probeImage: this.#options.probeImage } : {}),
						...(this.#options.probeGuest ? { probeGuest: this.#options.probeGuest } : {}),
					});
			// A failed detection must not stick: the next call probes again.
			this.#verdict.catch(() => (this.#verdict = null));
		}
		return this.#verdict;
	}

	/** From now on TCG, here and (through the cache) for every later controller. */
	async #kvmFailed(reason: string): Promise<void> {
		const verdict = await rememberKvmFailure(this.lab.cache, reason);
		this.#verdict = Promise.resolve(verdict);
	}

	/** The VM's QMP connection, or null when it does not run. */
	qmp(name: string): Promise<QmpClient | null> {
		return this.#monitors.open(name);
	}

	async close(plan?: RestorePlan): Promise<void> {
		if (plan) await this.#monitors.release(plan.vmName);
		else await this.#monitors.releaseAll();
	}

	// ---------------------------------------------------------------- describe, inventory, power

	describe(): Promise<HostDescription> {
		return describeLab(this.#context, this.id);
	}

	inventory(): Promise<HostVm[]> {
		return inventory(this.#context);
	}

	/** Turns a lab VM off (`rundirect lab poweroff`). False when it was not running. */
	async powerOff(name: string): Promise<boolean> {
		if (!(await readDefinition(definitionPath(this.lab.vms, name)))) throw new LabError('NO_SUCH_VM', `there is no lab VM named ${name}`);
		return powerOffVm(this.#context, name);
	}

	/** Starts a lab VM on the disks its definition names (`rundirect lab poweron`). False when it already runs. */
	async powerOn(name: string): Promise<boolean> {
		const definition = await readDefinition(definitionPath(this.lab.vms, name));
		if (!definition) throw new LabError('NO_SUCH_VM', `there is no lab VM named ${name}`);
		if ((await runningPid(runtimeFiles(this.lab.run, name))) !== null) return false;
		if (definition.runningFromBackup !== null) {
			// Its disks are a snapshot layer over a backup: the session's own steps restart it correctly.
			throw new LabError(
				'VM_IN_SESSION',
				`${name} runs from a backup in session ${definition.runningFromBackup}: "rundirect finalize ${definition.runningFromBackup}" restarts it on the way, or "rundirect stop ${definition.runningFromBackup}" discards it`,
			);
		}
		if (definition.setAsideBy !== null) throw new LabError('VM_IN_SESSION', `${name} is set aside by session ${definition.setAsideBy}; it comes back if that session is stopped`);
		await launchOnOwnDisks(this.#context, name, definition);
		// A command of its own: leave the monitor free for whoever drives the VM next.
		await this.#monitors.release(name);
		return true;
	}

	// ---------------------------------------------------------------- plan, preflight

	plan(input: PlanInput): Promise<RestorePlan> {
		return planRestore(this.lab, this.id, input);
	}

	preflight(plan: RestorePlan): Promise<string[]> {
		return preflight(this.lab, plan);
	}

	// ---------------------------------------------------------------- steps 1–4 (start.ts)

	setAsideVm(plan: RestorePlan): Promise<SetAsideRecord | null> {
		return setAsideVm(this.#context, plan);
	}

	deleteVm(plan: RestorePlan): Promise<void> {
		return deleteVm(this.#context, plan);
	}

	createDisks(plan: RestorePlan, options: StepOptions = {}): Promise<void> {
		return createDisks(this.#context, plan, options);
	}

	createSnapshotLayer(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		return createSnapshotLayer(this.#context, plan);
	}

	startVm(plan: RestorePlan, _options?: StepOptions): Promise<string | undefined> {
		return startVm(this.#context, plan);
	}

	// ---------------------------------------------------------------- steps 5–7 (finalize.ts)

	copyData(plan: RestorePlan, options: StepOptions = {}): Promise<void> {
		return copyData(this.#context, plan, options);
	}

	/** A finalize given up before step 6: its copy stops, the VM runs on from its backup. */
	cancelCopy(plan: RestorePlan): Promise<void> {
		return cancelCopy(this.#context, plan);
	}

	applyChanges(plan: RestorePlan, options: StepOptions = {}): Promise<ApplyResult> {
		return applyChanges(this.#context, plan, options);
	}

	deleteSnapshotLayer(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		return deleteSnapshotLayer(this.#context, plan);
	}

	async purgeSetAside(_plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		await purge(this.lab, record);
	}

	// ---------------------------------------------------------------- stop (stop.ts)

	discard(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		return discard(this.#context, plan);
	}

	restoreSetAside(_plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		return restoreSetAside(this.#context, record);
	}

	// ---------------------------------------------------------------- status (status.ts, serial.ts)

	status(plan: RestorePlan): Promise<RuntimeStatus> {
		return sessionStatus(this.#context, plan);
	}

	/** The serial console's last lines: what the guest printed (or did not) — a recovery drill's evidence. */
	async captureEvidence(plan: RestorePlan): Promise<Evidence> {
		return serialTail(runtimeFiles(this.lab.run, plan.vmName).serialFile);
	}

	/** A command inside the session's guest, through the QEMU guest agent (guest-exec). */
	async guestExec(plan: RestorePlan, argv: readonly string[], timeoutMs: number): Promise<GuestCommandResult> {
		const files = runtimeFiles(this.lab.run, plan.vmName);
		if ((await runningPid(files)) === null) throw new LabError('GUEST_EXEC_FAILED', `VM ${plan.vmName} is not running: nothing can run inside it`);
		try {
			return await guestExec(files.qgaSocket, argv, timeoutMs);
		} catch (error) {
			if (!(error instanceof GuestAgentError)) throw error;
			throw new LabError('GUEST_EXEC_FAILED', agentFailure(argv, `VM ${plan.vmName}`, error));
		}
	}

	/** Connects to a port of the session's guest from inside its network namespace (a drill VM with TCP checks). */
	probeTcp(plan: RestorePlan, port: number, timeoutMs: number): Promise<TcpProbeAttempt[]> {
		return probeSessionTcp(this.#context, plan, port, timeoutMs);
	}

	tcpProbeProblem(purpose: 'drill' | 'recovery'): Promise<string | null> {
		return tcpProbeProblem(purpose);
	}
}
