// The libvirt host: Run Direct on a real libvirtd, driven through `virsh --connect <uri>` and
// libvirt's own block-job API (no QMP passthrough, which would taint the domain). The session's
// domain is a persistent libvirt domain marked with our metadata; libvirt's live and persistent
// definitions are the truth every step reads before doing only what is missing.
//
// Step 5 fills the production image with qemu-img while the guest runs on the overlay; step 6
// is `blockcopy --shallow --reuse-external --transient-job` of the overlay onto it and a pivot.
// The backup is named only as a read-only backing store with relabel='no', so libvirt's
// security driver never chowns or labels it.
//
// Over 400 lines on purpose: the facade of every Host method and capability; each step with a
// body of its own is a module (copy, apply, set-aside, preflight, status, fill, backup, runbook),
// and what stays here is a few lines of glue per step.
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
	ApplyResult,
	RunbookStep,
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
import type { BackupResult, GuestCommandResult, PathRules, ProbesTcp, ProofOfLife, StorageTightened } from '../capabilities.ts';
import { agentFailure, GuestAgentError } from '../../qemu/guest-agent.ts';
import { libvirtGuestExec } from './guest-exec.ts';
import { backupDomain } from './backup.ts';
import { EXIT, HostError } from '../../core/errors.ts';
import type { Paths } from '../../core/paths.ts';
import { detectDomainType, type DomainTypeVerdict } from './accel.ts';
import { domainXml, type DomainType } from './domain-xml.ts';
import { type DomainFacts, Domains } from './domains.ts';
import { endFills, fillFiles, fillProcesses } from './fill.ts';
import { type LayoutOverrides, type LibvirtLayout, libvirtLayout, serialFileOf } from './layout.ts';
import { preflightProblems } from './preflight.ts';
import { freeBytes } from '../../core/space.ts';
import { createOverlay, createQcow2, imageInfo } from '../../qemu/qemu-img.ts';
import { AsideRecords, deleteReplaced, purgeAside, restoreAside, setAside } from './set-aside.ts';
import { libvirtRunbook, libvirtRunbookScript } from './runbook.ts';
import { applyChanges } from './apply.ts';
import { cancelCopy, copyData } from './copy.ts';
import { ownsDomain, onProduction, SessionDomain } from './session-domain.ts';
import { serialEvidence, serialHead, sessionStatus } from './status.ts';
import { isLocalUri, pathRulesOfUri } from './uri.ts';
import { probeDomainTcp, probed, sessionSegment, TCP_PROBE_VIA, tcpProbeProblem } from './tcp-check.ts';
import { deleteSegment, type TcpProbeAttempt } from '../../qemu/segment.ts';
import { Virsh } from './virsh.ts';
import { mkdirForQemu, qemuAccount, type QemuAccount } from './privacy.ts';
import { tightenTree, writePrivate } from '../../core/private-files.ts';
import { exists } from '../../core/files.ts';

/** Step 4 watches the domain this long after it started: a guest that cannot run dies within it. */
const STEP4_SETTLE_MS = 1000;
const STEP4_POLL_MS = 200;
/** …and up to this long for a first sign on its serial console. */
const STEP4_SIGN_MS = 5000;

export { GUEST_MARKER } from '../../qemu/lab-guest.ts';

export interface LibvirtHostOptions {
	uri: string;
	paths: Paths;
	layout?: LayoutOverrides;
	/** Skips detection (tests, or a user who knows). */
	domainType?: DomainType;
	/**
	 * A remote libvirt whose storage this machine sees at the same paths (NFS or a cluster file
	 * system mounted alike on both): the file steps then run here. Without it a remote URI is refused.
	 */
	sharedStorage?: boolean;
	/** The lab guest image, for a conclusive KVM probe (see accel.ts). */
	probeImage?: string;
}

export class LibvirtHost implements Host, ProbesTcp {
	readonly kind = 'libvirt' as const;
	readonly id: string;
	readonly virsh: Virsh;
	readonly domains: Domains;
	readonly layout: LibvirtLayout;
	readonly asideRecords: AsideRecords;
	readonly session: SessionDomain;
	readonly pathRules: PathRules;
	readonly proofOfLife: ProofOfLife = { name: 'guest agent or serial marker', pollMs: 1000 };
	readonly guestExecVia = 'the QEMU guest agent (virsh qemu-agent-command)';
	readonly tcpProbeVia = TCP_PROBE_VIA;
	readonly evidenceSource = 'the serial console';
	readonly options: LibvirtHostOptions;
	#verdict: Promise<DomainTypeVerdict> | null = null;
	/** The verdict once known, for what must be answered without waiting (the runbook). */
	#knownType: DomainType | null = null;
	#qemu: Promise<QemuAccount | null> | null = null;
	/** QEMU's account once known, when it is not this process's (the runbook cannot wait). */
	#knownQemu: QemuAccount | null = null;
	readonly runbookScriptExtension = '.sh';

	constructor(options: LibvirtHostOptions) {
		this.options = options;
		this.id = `libvirt:${options.uri}`;
		this.virsh = new Virsh(options.uri);
		this.domains = new Domains(this.virsh);
		this.layout = libvirtLayout(options.paths, options.layout);
		this.asideRecords = new AsideRecords(this.layout.aside);
		this.session = new SessionDomain(this.domains, this.layout);
		this.pathRules = { style: 'posix', local: pathRulesOfUri(options.uri).local || options.sharedStorage === true };
	}

	domainType(): Promise<DomainTypeVerdict> {
		if (!this.#verdict) {
			const forced = this.options.domainType;
			this.#verdict = forced ? Promise.resolve({ type: forced, reason: 'chosen by the caller' }) : detectDomainType(this.virsh, { cacheDir: this.layout.cache, local: isLocalUri(this.virsh.uri), ...(this.options.probeImage ? { probeImage: this.options.probeImage } : {}) });
			this.#verdict.then(
				(verdict) => (this.#knownType = verdict.type),
				() => (this.#verdict = null),
			);
		}
		return this.#verdict;
	}

	/** The account QEMU runs as, which must reach the session's folders (see privacy.ts). */
	#qemuAccount(): Promise<QemuAccount | null> {
		if (!this.#qemu) {
			this.#qemu = this.domainType().then((verdict) => qemuAccount(this.virsh, verdict.type));
			this.#qemu.then(
				(account) => (this.#knownQemu = account && account.uid !== process.getuid?.() ? account : null),
				() => (this.#qemu = null),
			);
		}
		return this.#qemu;
	}

	drillNetwork(isolatedSwitch: string | null): string {
		return `${isolatedSwitch ? `NICs on the isolated libvirt network ${isolatedSwitch}` : 'no NIC'}; a VM with TCP checks: its NICs on taps in a network namespace of its own, the probe their only other end`;
	}

	async close(_plan?: RestorePlan): Promise<void> {
		// virsh calls hold no connection between them.
	}

	// ---------------------------------------------------------------- describe, inventory

	async describe(): Promise<HostDescription> {
		const warnings: string[] = [];
		let summary = `libvirt at ${this.virsh.uri} (not answering)`;
		const version = await this.virsh.tryRun(['version'], { timeoutMs: 60_000, reconnectMs: 5_000 });
		if (version.ok) {
			const library = /Using library: libvirt (\S+)/.exec(version.stdout)?.[1] ?? '?';
			const hypervisor = /Running hypervisor: (.+)/.exec(version.stdout)?.[1]?.trim() ?? 'QEMU';
			const verdict = await this.domainType().catch((error: Error) => ({ type: 'qemu' as const, reason: error.message }));
			summary = `libvirt ${library}, ${hypervisor}, ${verdict.type === 'kvm' ? 'KVM' : 'TCG'} (${this.virsh.uri})`;
			if (verdict.type === 'qemu' && /KVM is present|KVM is offered/.test(verdict.reason)) warnings.push(verdict.reason);
			if (verdict.type === 'kvm' && verdict.probe === 'boot-sector') warnings.push('KVM was only probed with a boot sector: run `lab init` so the lab guest confirms it can run guests');
		} else {
			warnings.push(version.stderr);
		}
		if (!this.pathRules.local) warnings.push('a remote libvirt without shared storage: restores need a libvirt on this machine, or RUNDIRECT_LIBVIRT_SHARED_STORAGE=1 where its storage is mounted here at the same paths');
		const free = await freeBytes(this.layout.images).catch(() => null);
		return { kind: 'libvirt', id: this.id, summary, productionStorage: this.layout.images, freeBytes: free, warnings };
	}

	async inventory(): Promise<HostVm[]> {
		const result: HostVm[] = [];
		for (const name of await this.domains.names()) {
			const facts = await this.domains.facts(name);
			if (!facts) continue;
			const uuid = (await this.virsh.tryRun(['domuuid', name])).stdout.trim();
			const aside = await this.asideRecords.read(name);
			result.push({
				name,
				id: uuid || name,
				state: facts.state,
				runningFromBackup: facts.restoreSession,
				setAside: aside !== null,
				disks: facts.disks.flatMap((disk) => (disk.source === null ? [] : [disk.source])),
			});
		}
		return result;
	}

	/** Starts a domain that is not a session's (`lab poweron` on this host). False when it already runs. */
	async powerOn(name: string): Promise<boolean> {
		const facts = await this.#plainDomain(name);
		if (facts.state !== 'off') return false;
		await this.virsh.run(['start', name]);
		return true;
	}

	async powerOff(name: string): Promise<boolean> {
		const facts = await this.#plainDomain(name);
		if (facts.state === 'off') return false;
		await this.domains.destroy(name);
		return true;
	}

	async #plainDomain(name: string): Promise<DomainFacts> {
		const facts = await this.domains.facts(name);
		if (!facts) throw new HostError('NO_DOMAIN', `there is no libvirt domain named ${name} on ${this.virsh.uri}`);
		if (facts.restoreSession !== null) throw new HostError('SESSION_DOMAIN', `${name} runs from a backup in session ${facts.restoreSession}: finalize or stop that session`);
		const aside = await this.asideRecords.read(name);
		if (aside) throw new HostError('SET_ASIDE', `${name} is set aside for the restore of ${aside.name}; it comes back if that session is stopped`);
		return facts;
	}

	/** `rundirect backup <domain>`: a restore point of one of this host's domains. */
	backup(vmName: string, destination: string, options?: StepOptions): Promise<BackupResult> {
		return backupDomain(this.domains, vmName, destination, options);
	}

	/** Every command the phases of `plan` run, for review (`start --runbook`). */
	runbook(plan: RestorePlan): RunbookStep[] {
		return libvirtRunbook(plan, { uri: this.virsh.uri, domainType: this.#knownType ?? this.options.domainType ?? 'qemu', serialFile: serialFileOf(this.layout, plan.sessionId), qemuAccount: this.#knownQemu });
	}

	runbookScript(steps: RunbookStep[], meta: { plan: RestorePlan; generatedAt: string }): string {
		return libvirtRunbookScript(steps, meta);
	}

	// ---------------------------------------------------------------- plan, preflight

	async plan(input: PlanInput): Promise<RestorePlan> {
		const vmName = input.target.name;
		const location = input.target.location;
		let productionDir: string;
		let fileName = (index: number) => `disk${index}.qcow2`;
		if (location === 'original') productionDir = path.join(this.layout.images, vmName);
		else if (location.startsWith('pool:')) {
			// A directory pool's volumes sit directly in its folder.
			const pool = location.slice('pool:'.length);
			const xml = await this.virsh.run(['pool-dumpxml', pool]);
			const target = /<target>\s*<path>([^<]+)<\/path>/.exec(xml)?.[1];
			if (!target) throw new HostError('POOL_NOT_A_FOLDER', `libvirt storage pool ${pool} has no target folder: use a directory pool`);
			productionDir = target;
			fileName = (index) => `${vmName}-disk${index}.qcow2`;
		} else if (path.isAbsolute(location)) productionDir = path.join(location, vmName);
		else throw new HostError('BAD_LOCATION', `Target location must be "original", pool:<name> or an absolute folder, not ${location}`);
		const workDir = path.join(this.layout.work, input.sessionId);
		const existing = await this.domains.facts(vmName);
		// The replaced domain keeps its disks while set aside (stop brings it back on them): where
		// one already sits at a production path (an earlier restore's), this restore's goes beside it.
		const taken = new Set(existing ? [...existing.disks, ...(await this.domains.persistentDisks(vmName).catch(() => []))].flatMap((disk) => (disk.source ? [disk.source] : [])) : []);
		const defaultName = fileName;
		fileName = (index) => (taken.has(path.join(productionDir, defaultName(index))) ? defaultName(index).replace(/\.qcow2$/, `-${input.sessionId}.qcow2`) : defaultName(index));
		return {
			sessionId: input.sessionId,
			host: this.id,
			vmName,
			replaces: existing && existing.restoreSession !== input.sessionId ? vmName : null,
			replaceMode: input.target.replaceMode,
			productionDir,
			workDir,
			disks: input.disks.map((disk, index) => ({
				...disk,
				index,
				production: path.join(productionDir, fileName(index)),
				overlay: path.join(workDir, `disk${index}-overlay.qcow2`),
			})),
			settings: input.settings,
			...(input.drill ? { drill: input.drill } : {}),
		};
	}

	async preflight(plan: RestorePlan): Promise<string[]> {
		const problems = await preflightProblems(this.domains, plan, this.pathRules.local);
		// Known before step 4 (and before a runbook is shown); a failed detection means TCG.
		if (problems.length === 0) await this.domainType().catch(() => undefined);
		return problems;
	}

	// ---------------------------------------------------------------- step 1

	setAsideVm(plan: RestorePlan): Promise<SetAsideRecord | null> {
		return setAside(this.domains, this.asideRecords, plan);
	}

	deleteVm(plan: RestorePlan): Promise<void> {
		return deleteReplaced(this.domains, plan);
	}

	purgeSetAside(plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		return purgeAside(this.domains, this.asideRecords, plan, record, this.layout.serial);
	}

	restoreSetAside(_plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		return restoreAside(this.domains, this.asideRecords, record);
	}

	// ---------------------------------------------------------------- private storage

	get storagePlace(): string {
		return `the libvirt host's folder ${this.layout.root}`;
	}

	/**
	 * What earlier versions left to the umask, narrowed: rundirect's own folder, and the production
	 * folders its sessions made (a libvirt images folder holds others' files too: only those). What
	 * was given to QEMU's account is not this user's and stays; a session's folders are shared again
	 * when it next creates or starts anything (mkdirForQemu walks the chain from the root).
	 */
	async tightenStorage(spare: readonly string[], sessionFolders: readonly string[] = []): Promise<StorageTightened> {
		const changed: string[] = [];
		for (const folder of [this.layout.root, ...new Set(sessionFolders)]) changed.push(...(await tightenTree(folder, spare)).changed);
		return { changed };
	}

	// ---------------------------------------------------------------- steps 2, 3

	async createDisks(plan: RestorePlan, options: StepOptions = {}): Promise<void> {
		await mkdirForQemu(plan.productionDir, await this.#qemuAccount());
		const own = await this.session.own(plan);
		const total = plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
		let done = 0;
		for (const disk of plan.disks) {
			// Once step 5 filled it, or the domain runs on it, the production image is no longer empty: keep it.
			const inUse = (await exists(fillFiles(plan.workDir, disk.index).done)) || onProduction(own, plan, disk) || (await fillProcesses(disk.production)).length > 0;
			// Step 2 alone only ever makes an empty image: one of the right kind is this step's own, done.
			const info = inUse ? null : await imageInfo(disk.production).catch(() => null);
			const made = info?.format === 'qcow2' && info.virtualSize === disk.virtualSize && info.backing === null && info.dataFile === null;
			if (!inUse && !made) {
				await fs.rm(disk.production, { force: true });
				await createQcow2(disk.production, disk.virtualSize);
			}
			done += disk.virtualSize;
			options.onProgress?.({ done, total, detail: `disk ${disk.index + 1}/${plan.disks.length}` });
		}
		await this.#refreshPoolOf(plan.productionDir);
	}

	/** Images put in a storage pool's folder become its volumes once libvirt refreshes it. */
	async #refreshPoolOf(folder: string): Promise<void> {
		const pools = await this.virsh.tryRun(['pool-list', '--all', '--name']);
		for (const pool of pools.stdout.split('\n').map((line) => line.trim()).filter(Boolean)) {
			const xml = await this.virsh.tryRun(['pool-dumpxml', pool]);
			if (/<target>\s*<path>([^<]+)<\/path>/.exec(xml.stdout)?.[1] === folder) await this.virsh.tryRun(['pool-refresh', pool]);
		}
	}

	async createSnapshotLayer(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		await mkdirForQemu(plan.workDir, await this.#qemuAccount(), this.layout.root);
		const own = await this.session.own(plan);
		for (const disk of plan.disks) {
			if (await exists(disk.overlay)) {
				// An overlay the guest may have written to is the only copy of those writes: never recreate it.
				const info = await imageInfo(disk.overlay).catch(() => null);
				if (info?.format === 'qcow2' && info.backing === disk.backup) continue;
				if (own && own.state !== 'off') throw new HostError('OVERLAY_DAMAGED', `Snapshot layer ${disk.overlay} is damaged or has the wrong backing file while ${plan.vmName} runs: stop the session`);
				await fs.rm(disk.overlay, { force: true });
			}
			await createOverlay(disk.overlay, disk.backup, disk.format);
		}
	}

	// ---------------------------------------------------------------- step 4

	async startVm(plan: RestorePlan, _options?: StepOptions): Promise<string | undefined> {
		const current = await this.domains.facts(plan.vmName);
		if (current && !ownsDomain(plan, current)) throw new HostError('NAME_TAKEN', `Domain ${plan.vmName} already exists and is not this session's: step 1 must set it aside first`);
		if (!current) {
			await mkdirForQemu(this.layout.serial, await this.#qemuAccount(), this.layout.root);
			const file = path.join(plan.workDir, 'domain.xml');
			await writePrivate(file, domainXml({ plan, type: (await this.domainType()).type, serialFile: serialFileOf(this.layout, plan.sessionId) }));
			await this.virsh.run(['define', file]);
		}
		await this.session.ensureRunning(plan);
		return this.#proveRunning(plan);
	}

	/**
	 * Step 4 is done only when the domain stays up: a guest that crashes, shuts off or is paused by
	 * an error after it started fails the step with its state and serial tail, never reported
	 * running. It is watched for a settle period, and up to a few seconds for a first sign on its
	 * serial console (firmware and boot code run then); a guest that prints nothing is still
	 * running, and the note says so.
	 */
	async #proveRunning(plan: RestorePlan): Promise<string | undefined> {
		const started = performance.now();
		while (true) {
			await sleep(STEP4_POLL_MS);
			const facts = await this.domains.facts(plan.vmName);
			if (facts?.state !== 'running') {
				const tail = (await serialEvidence(this.layout, plan)).text?.trim().split('\n').slice(-10).join('\n') ?? '';
				throw new HostError(
					'VM_DIED',
					`Domain ${plan.vmName} did not stay running after it started: it is ${facts?.stateText ?? 'gone'}${tail ? `; the serial console's last lines:\n${tail}` : ' (nothing on its serial console)'}`,
					EXIT.failed,
					`check the restore point's hardware and the domain's log (virsh domstate ${plan.vmName} --reason); stop the session, or run start again once fixed`,
				);
			}
			const elapsed = performance.now() - started;
			if (elapsed < STEP4_SETTLE_MS) continue;
			if ((await serialHead(this.layout, plan)).length > 0) return undefined;
			if (elapsed >= STEP4_SIGN_MS) return `${plan.vmName} runs but printed nothing on its serial console within ${STEP4_SIGN_MS / 1000} s (a guest without a serial console shows nothing there)`;
		}
	}


	copyData(plan: RestorePlan, options?: StepOptions): Promise<void> {
		return copyData(this.session, plan, options);
	}

	/** A finalize given up before step 6: its fills stop, the domain runs on from its backup. */
	cancelCopy(plan: RestorePlan): Promise<void> {
		return cancelCopy(plan);
	}

	// ---------------------------------------------------------------- step 6

	applyChanges(plan: RestorePlan, options?: StepOptions): Promise<ApplyResult> {
		return applyChanges(this.session, plan, options);
	}

	// ---------------------------------------------------------------- step 7

	async deleteSnapshotLayer(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		const facts = await this.session.own(plan);
		if (!facts) throw new HostError('NO_DOMAIN', `Domain ${plan.vmName} of session ${plan.sessionId} does not exist`);
		if (!plan.disks.every((disk) => onProduction(facts, plan, disk) || facts.state === 'off')) throw new HostError('NOT_SWITCHED', `Domain ${plan.vmName} still runs on its snapshot layer: step 6 must complete first`);
		for (const disk of plan.disks) await fs.rm(disk.overlay, { force: true });
		await fs.rm(plan.workDir, { recursive: true, force: true });
		// From here it is a plain production domain.
		if (facts.restoreSession !== null) await this.domains.removeMark(plan.vmName, facts.state !== 'off');
	}

	// ---------------------------------------------------------------- stop

	async discard(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		const facts = await this.session.own(plan);
		if (facts) {
			if (facts.state !== 'off') await this.virsh.run(['destroy', plan.vmName]);
			await this.domains.undefine(plan.vmName);
		}
		// The taps went with QEMU; their namespace would not.
		if (probed(plan)) await deleteSegment(sessionSegment(plan));
		for (const disk of plan.disks) {
			await endFills(disk.production);
			await fs.rm(disk.overlay, { force: true });
			await fs.rm(disk.production, { force: true });
		}
		await fs.rm(plan.workDir, { recursive: true, force: true });
		// Only the folder we filled: anything else in it is not the session's to delete.
		if (path.basename(plan.productionDir) === plan.vmName) await fs.rmdir(plan.productionDir).catch(() => undefined);
		await fs.rm(serialFileOf(this.layout, plan.sessionId), { force: true });
	}

	// ---------------------------------------------------------------- status, evidence

	status(plan: RestorePlan): Promise<RuntimeStatus> {
		return sessionStatus(this.session, plan);
	}

	/** The serial console's last lines: what the guest printed (or did not) — a drill's evidence. */
	captureEvidence(plan: RestorePlan): Promise<Evidence> {
		return serialEvidence(this.layout, plan);
	}

	/** A command inside the session's guest, through its QEMU guest agent (guest-exec). */
	async guestExec(plan: RestorePlan, argv: readonly string[], timeoutMs: number): Promise<GuestCommandResult> {
		const facts = await this.session.own(plan);
		if (facts?.state !== 'running') throw new HostError('GUEST_EXEC_FAILED', `domain ${plan.vmName} is ${facts ? facts.state : 'missing'}: nothing can run inside it`);
		try {
			return await libvirtGuestExec(this.virsh, plan.vmName, argv, timeoutMs);
		} catch (error) {
			if (!(error instanceof GuestAgentError)) throw error;
			throw new HostError('GUEST_EXEC_FAILED', agentFailure(argv, `domain ${plan.vmName}`, error));
		}
	}

	/** Connects to a port of the session's guest from inside the session's network namespace (a drill VM with TCP checks). */
	async probeTcp(plan: RestorePlan, port: number, timeoutMs: number): Promise<TcpProbeAttempt[]> {
		const facts = await this.session.own(plan);
		if (facts?.state !== 'running') throw new HostError('PROBE_FAILED', `domain ${plan.vmName} is ${facts ? facts.state : 'missing'}: no port of it can answer`);
		return probeDomainTcp(this.virsh, plan, port, timeoutMs);
	}

	tcpProbeProblem(purpose: 'drill' | 'recovery'): Promise<string | null> {
		return tcpProbeProblem(purpose, isLocalUri(this.virsh.uri));
	}
}
