// An in-memory Host for the console's component tests ONLY: VMs, disks and block jobs are
// plain objects, and long steps report progress over a few hundred milliseconds the way the
// lab host does over QMP. Real hosts are exercised by test/lab-host and test/e2e.
import path from 'node:path';
import { execa } from 'execa';
import type { DescribesDrillNetwork, ExecsInGuest, GuestCommandResult, HasEvidence, HasProofOfLife, PathRules, ProofOfLife } from '../../../source/hosts/capabilities.ts';
import type { ApplyResult, Evidence, Host, HostDescription, HostVm, PlanInput, RestorePlan, RuntimeStatus, SetAsideRecord, StepOptions } from '../../../source/hosts/host.ts';

interface MemoryVm {
	name: string;
	running: boolean;
	/** Where its disks are: the snapshot layer over the backup, or production storage. */
	on: 'backup' | 'production';
	startedAt: number;
	setAside: boolean;
	/** The session whose start created it, while it runs from the backup. */
	session?: string;
}

export interface MemoryHostOptions {
	/** VMs that exist before any restore (replaced by a restore of the same name). */
	existing?: string[];
	/** How long copy-data takes, in ms (progress is reported along the way). */
	copyMs?: number;
	freeBytes?: number;
	warnings?: string[];
	/** VMs (by name prefix, so drill names match) whose guest never boots: off 300 ms after its start, no proof of life. */
	deadGuests?: string[];
	/** Path rules of another kind of host (Hyper-V's win32: names that differ only in case are one folder). */
	pathRules?: PathRules;
}

type StepName = 'setAsideVm' | 'deleteVm' | 'createDisks' | 'createSnapshotLayer' | 'startVm' | 'copyData' | 'applyChanges' | 'deleteSnapshotLayer' | 'discard' | 'statusOf';

export class MemoryHost implements Host, HasEvidence, HasProofOfLife, DescribesDrillNetwork, ExecsInGuest {
	readonly kind = 'memory';
	readonly id = 'memory';
	/** Plain folders on this machine's terms, as the lab's are: a location inside the destination is refused. */
	readonly pathRules: PathRules;
	/** Its guests "print" on a serial console and are alive within 0.2 s: poll as often as the lab does. */
	readonly proofOfLife: ProofOfLife = { name: 'serial marker', pollMs: 150 };
	readonly evidenceSource = 'the serial console';
	readonly vms = new Map<string, MemoryVm>();
	readonly calls: string[] = [];
	private readonly failures = new Map<StepName, Error>();
	private readonly copyMs: number;
	/** The rate limit the last copy-data was given (bytes/s), to check the console passes it on. */
	lastRateLimit: number | undefined;
	/** Block jobs the host carries on by itself (as QEMU does when its controller dies), by VM name. */
	private readonly jobs = new Map<string, { began: number; total: number; ms: number }>();

	constructor(private readonly options: MemoryHostOptions = {}) {
		this.pathRules = options.pathRules ?? { style: 'posix', local: true };
		for (const name of options.existing ?? []) this.vms.set(name, { name, running: true, on: 'production', startedAt: Date.now(), setAside: false });
		this.copyMs = options.copyMs ?? 300;
	}

	/** The VM's process dies (a crash, a kill -9): it is off, its disks as they were. */
	crash(name: string): void {
		const vm = this.vms.get(name);
		if (vm) vm.running = false;
	}

	/** A copy job of `total` bytes over `ms` that the host runs on its own (status() reports it). */
	runJob(name: string, total: number, ms: number): void {
		this.jobs.set(name, { began: Date.now(), total, ms });
	}

	/** The next call of `step` throws `error` (once). */
	failNext(step: StepName, error: Error): void {
		this.failures.set(step, error);
	}

	private check(step: StepName): void {
		this.calls.push(step);
		const failure = this.failures.get(step);
		if (failure) {
			this.failures.delete(step);
			throw failure;
		}
	}

	async describe(): Promise<HostDescription> {
		return { kind: 'memory', id: this.id, summary: 'in-memory test host', productionStorage: '/memory/production', freeBytes: this.options.freeBytes ?? 500 * 2 ** 30, warnings: this.options.warnings ?? [] };
	}

	async inventory(): Promise<HostVm[]> {
		return [...this.vms.values()].map((vm) => ({ name: vm.name, id: vm.name, state: vm.running ? 'running' : 'off', runningFromBackup: vm.on === 'backup' ? (vm.session ?? null) : null, setAside: vm.setAside, disks: [] }));
	}

	/** The host's own power controls (as the lab's and libvirt's): true when the state changed. */
	async powerOn(vmName: string): Promise<boolean> {
		const vm = this.vms.get(vmName);
		if (!vm) throw new Error(`no VM ${vmName}`);
		if (vm.running) return false;
		this.vms.set(vmName, { ...vm, running: true, startedAt: Date.now() });
		return true;
	}

	async powerOff(vmName: string): Promise<boolean> {
		const vm = this.vms.get(vmName);
		if (!vm) throw new Error(`no VM ${vmName}`);
		if (!vm.running) return false;
		this.vms.set(vmName, { ...vm, running: false });
		return true;
	}

	async plan(input: PlanInput): Promise<RestorePlan> {
		const name = input.target.name;
		const productionDir = input.target.location === 'original' ? `/memory/production/${name}` : path.join(input.target.location, name);
		const existing = this.vms.get(name);
		return {
			sessionId: input.sessionId,
			host: this.id,
			vmName: name,
			replaces: existing && !existing.setAside ? name : null,
			replaceMode: input.target.replaceMode,
			productionDir,
			workDir: `/memory/work/${input.sessionId}`,
			disks: input.disks.map((disk, index) => ({ ...disk, index, production: `${productionDir}/disk${index}.qcow2`, overlay: `/memory/work/${input.sessionId}/disk${index}.qcow2` })),
			settings: input.settings,
		};
	}

	async preflight(plan: RestorePlan): Promise<string[]> {
		const existing = this.vms.get(plan.vmName);
		// As every host does: a plan made before a VM of that name existed must not run over it.
		if (existing && !existing.setAside && plan.replaces !== plan.vmName) return [`A VM named ${plan.vmName} exists, but this restore was planned without replacing it`];
		return plan.vmName.startsWith('full') ? [`not enough room on /memory/production for ${plan.vmName}`] : [];
	}

	async setAsideVm(plan: RestorePlan): Promise<SetAsideRecord | null> {
		this.check('setAsideVm');
		const vm = this.vms.get(plan.vmName);
		const asideName = `${plan.vmName}~${plan.sessionId}`;
		// Run again (a crash before the journal kept the record): the same record.
		if (plan.replaces && this.vms.get(asideName)?.setAside) return { name: plan.vmName, asideName, details: {} };
		if (!plan.replaces || !vm) return null;
		this.vms.delete(plan.vmName);
		this.vms.set(asideName, { ...vm, name: asideName, running: false, setAside: true });
		return { name: plan.vmName, asideName, details: {} };
	}

	async deleteVm(plan: RestorePlan): Promise<void> {
		this.check('deleteVm');
		this.vms.delete(plan.vmName);
	}

	async createDisks(_plan: RestorePlan, options?: StepOptions): Promise<void> {
		this.check('createDisks');
		await this.work(30, 64 * 2 ** 20, options);
	}

	async createSnapshotLayer(_plan: RestorePlan, options?: StepOptions): Promise<void> {
		this.check('createSnapshotLayer');
		await this.work(10, 1, options);
	}

	async startVm(plan: RestorePlan, options?: StepOptions): Promise<void> {
		this.check('startVm');
		await this.work(20, 1, options);
		const existing = this.vms.get(plan.vmName);
		// Started again after a crash: on the disks it ran on.
		if (existing?.session === plan.sessionId) existing.running = true;
		else this.vms.set(plan.vmName, { name: plan.vmName, running: true, on: 'backup', startedAt: Date.now(), setAside: false, session: plan.sessionId });
	}

	async copyData(plan: RestorePlan, options?: StepOptions): Promise<void> {
		this.check('copyData');
		this.lastRateLimit = options?.rateLimit;
		await this.work(this.copyMs, plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0), options);
	}

	async applyChanges(plan: RestorePlan, options?: StepOptions): Promise<ApplyResult> {
		this.check('applyChanges');
		await this.work(40, 256 * 1024, options);
		const vm = this.vms.get(plan.vmName);
		if (vm) vm.on = 'production';
		return { pauseMs: 1.5 };
	}

	async deleteSnapshotLayer(): Promise<void> {
		this.check('deleteSnapshotLayer');
	}

	async purgeSetAside(_plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		this.vms.delete(record.asideName);
	}

	async discard(plan: RestorePlan, options?: StepOptions): Promise<void> {
		this.check('discard');
		await this.work(40, 1, options);
		this.vms.delete(plan.vmName);
	}

	async restoreSetAside(_plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		const vm = this.vms.get(record.asideName);
		this.vms.delete(record.asideName);
		if (vm) this.vms.set(record.name, { ...vm, name: record.name, running: true, setAside: false });
	}

	async status(plan: RestorePlan): Promise<RuntimeStatus> {
		this.check('statusOf');
		const vm = this.vms.get(plan.vmName);
		if (!vm || vm.setAside) return { vm: 'missing', runsOn: 'unknown', guestAlive: null, bytesChanged: null, job: null };
		const seconds = (Date.now() - vm.startedAt) / 1000;
		if (this.deadGuest(plan.vmName)) return { vm: seconds > 0.3 ? 'off' : 'running', runsOn: vm.on, guestAlive: false, bytesChanged: null, job: null };
		// The guest writes about 64 KiB a second to its snapshot layer; it is "alive" after its first.
		const job = this.jobs.get(plan.vmName);
		const done = job ? Math.min(job.total, Math.round((job.total * (Date.now() - job.began)) / job.ms)) : 0;
		return {
			vm: vm.running ? 'running' : 'off',
			runsOn: vm.on,
			guestAlive: seconds > 0.2,
			bytesChanged: vm.on === 'backup' ? Math.round(196 * 1024 + seconds * 64 * 1024) : null,
			job: job ? { id: 'rd-copy0', kind: 'copy', status: done < job.total ? 'running' : 'concluded', done, total: job.total, error: null } : null,
		};
	}

	/** What a test makes a VM show (by VM name), instead of the default serial console. */
	readonly screens = new Map<string, Evidence>();

	/** The "serial console" of the guest, as the lab host keeps it for drills. */
	async captureEvidence(plan: RestorePlan): Promise<Evidence> {
		const shown = this.screens.get(plan.vmName);
		if (shown) return shown;
		const text = this.deadGuest(plan.vmName) ? 'SeaBIOS (version memory)\nBooting from Hard Disk...\nBoot failed: not a bootable disk' : 'SeaBIOS (version memory)\nBooting from Hard Disk...\nrundirect-guest alive';
		return { kind: 'serial-tail', text };
	}

	readonly guestExecVia = 'a process of this machine (the in-memory guest)';

	/** A drill's application check: its "guest" runs real processes of this machine, so exit codes and output are real. */
	async guestExec(plan: RestorePlan, argv: readonly string[], timeoutMs: number): Promise<GuestCommandResult> {
		if (!this.vms.get(plan.vmName)?.running) throw new Error(`VM ${plan.vmName} is not running: nothing can run inside it`);
		const began = Date.now();
		const [command = '', ...args] = argv;
		const result = await execa(command, args, { reject: false, timeout: timeoutMs, stdin: 'ignore' });
		return { exitCode: result.exitCode ?? null, signal: null, stdout: String(result.stdout), stderr: String(result.stderr), truncated: false, ms: Date.now() - began };
	}

	/** Its VMs have no network device, as the lab's have none (the console tests read the lab's words). */
	drillNetwork(): string {
		return 'none (lab VMs run without a network device)';
	}

	private deadGuest(name: string): boolean {
		return (this.options.deadGuests ?? []).some((prefix) => name.startsWith(prefix));
	}

	async close(): Promise<void> {}

	/** A long operation: `total` bytes over `ms`, reported every 20 ms, abortable. */
	private async work(ms: number, total: number, options?: StepOptions): Promise<void> {
		const began = Date.now();
		for (;;) {
			options?.signal?.throwIfAborted();
			const done = Math.min(total, Math.round((total * (Date.now() - began)) / Math.max(1, ms)));
			options?.onProgress?.({ done, total });
			if (done >= total) return;
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
	}
}
