// The libvirt host: Run Direct on a real libvirtd, driven through `virsh --connect <uri>` and
// libvirt's own block-job API (no QMP passthrough, which would taint the domain). The session's
// domain is a persistent libvirt domain marked with our metadata; libvirt's live and persistent
// definitions are the truth every step reads before doing only what is missing.
//
// Step 5 fills the production image with qemu-img while the guest runs on the overlay; step 6
// is `blockcopy --shallow --reuse-external --transient-job` of the overlay onto it and a pivot.
// The backup is named only as a read-only backing store with relabel='no', so libvirt's
// security driver never chowns or labels it.
import fs from 'node:fs/promises';
import path from 'node:path';
import type {
	ApplyResult,
	DiskPlacement,
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
import type { BackupResult, PathRules, ProofOfLife } from '../capabilities.ts';
import { backupDomain } from './backup.ts';
import { HostError } from '../../core/errors.ts';
import type { Paths } from '../../core/paths.ts';
import { detectDomainType, type DomainTypeVerdict } from './accel.ts';
import { copyDestinationXml, diskTargets, type DomainDisk, domainXml, type DomainType } from './domain-xml.ts';
import { type DomainFacts, Domains } from './domains.ts';
import { endFills, fillFiles, fillFraction, fillProcesses, makeDurable, startFill, waitFill } from './fill.ts';
import { type LayoutOverrides, type LibvirtLayout, libvirtLayout, serialFileOf } from './layout.ts';
import { freeBytes, preflightProblems } from './preflight.ts';
import { createOverlay, createQcow2, imageInfo } from './qemu-img.ts';
import { AsideRecords, deleteReplaced, purgeAside, restoreAside, setAside } from './set-aside.ts';
import { pathRulesOfUri } from './uri.ts';
import { Virsh } from './virsh.ts';

/** What the lab guest prints on its serial console once booted (source/lab/initrd.ts). */
export const GUEST_MARKER = 'RUNDIRECT-GUEST-ALIVE';
const SERIAL_SCAN_BYTES = 1 << 20;
const EVIDENCE_TAIL_BYTES = 16 * 1024;
const EVIDENCE_TAIL_LINES = 60;
/** A block copy that neither moves nor becomes ready for this long has failed. */
const APPLY_STALL_MS = 5 * 60_000;

export interface LibvirtHostOptions {
	uri: string;
	paths: Paths;
	layout?: LayoutOverrides;
	/** Skips detection (tests, or a user who knows). */
	domainType?: DomainType;
}

async function exists(file: string): Promise<boolean> {
	return fs.access(file).then(
		() => true,
		() => false,
	);
}

export class LibvirtHost implements Host {
	readonly kind = 'libvirt' as const;
	readonly id: string;
	readonly virsh: Virsh;
	readonly domains: Domains;
	readonly layout: LibvirtLayout;
	readonly asideRecords: AsideRecords;
	readonly pathRules: PathRules;
	readonly proofOfLife: ProofOfLife = { name: 'serial marker', pollMs: 1000 };
	readonly evidenceSource = 'the serial console';
	readonly options: LibvirtHostOptions;
	#verdict: Promise<DomainTypeVerdict> | null = null;

	constructor(options: LibvirtHostOptions) {
		this.options = options;
		this.id = `libvirt:${options.uri}`;
		this.virsh = new Virsh(options.uri);
		this.domains = new Domains(this.virsh);
		this.layout = libvirtLayout(options.paths, options.layout);
		this.asideRecords = new AsideRecords(this.layout.aside);
		this.pathRules = pathRulesOfUri(options.uri);
	}

	domainType(): Promise<DomainTypeVerdict> {
		if (!this.#verdict) {
			const forced = this.options.domainType;
			this.#verdict = forced ? Promise.resolve({ type: forced, reason: 'chosen by the caller' }) : detectDomainType(this.virsh, { cacheDir: this.layout.cache, local: this.pathRules.local });
			this.#verdict.catch(() => (this.#verdict = null));
		}
		return this.#verdict;
	}

	drillNetwork(isolatedSwitch: string | null): string {
		return isolatedSwitch ? `NICs on the isolated libvirt network ${isolatedSwitch}` : 'no NIC';
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
		} else {
			warnings.push(version.stderr);
		}
		if (!this.pathRules.local) warnings.push('a remote libvirt: restores need a libvirt on this machine in this version');
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

	preflight(plan: RestorePlan): Promise<string[]> {
		return preflightProblems(this.domains, plan, this.pathRules.local);
	}

	// ---------------------------------------------------------------- step 1

	setAsideVm(plan: RestorePlan): Promise<SetAsideRecord | null> {
		return setAside(this.domains, this.asideRecords, plan);
	}

	deleteVm(plan: RestorePlan): Promise<void> {
		return deleteReplaced(this.domains, plan);
	}

	purgeSetAside(plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		return purgeAside(this.domains, this.asideRecords, plan, record);
	}

	restoreSetAside(_plan: RestorePlan, record: SetAsideRecord): Promise<void> {
		return restoreAside(this.domains, this.asideRecords, record);
	}

	// ---------------------------------------------------------------- steps 2, 3

	async createDisks(plan: RestorePlan, options: StepOptions = {}): Promise<void> {
		await fs.mkdir(plan.productionDir, { recursive: true });
		const own = await this.#own(plan);
		const total = plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
		let done = 0;
		for (const disk of plan.disks) {
			// Once step 5 filled it, or the domain runs on it, the production image is no longer empty: keep it.
			const inUse = (await exists(fillFiles(plan.workDir, disk.index).done)) || this.#onProduction(own, plan, disk) || (await fillProcesses(disk.production)).length > 0;
			if (!inUse) {
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
		await fs.mkdir(plan.workDir, { recursive: true });
		const own = await this.#own(plan);
		for (const disk of plan.disks) {
			if (await exists(disk.overlay)) {
				// An overlay the guest may have written to is the only copy of those writes: never recreate it.
				const info = await imageInfo(disk.overlay).catch(() => null);
				if (info?.format === 'qcow2' && info.backingFile === disk.backup) continue;
				if (own && own.state !== 'off') throw new HostError('OVERLAY_DAMAGED', `Snapshot layer ${disk.overlay} is damaged or has the wrong backing file while ${plan.vmName} runs: stop the session`);
				await fs.rm(disk.overlay, { force: true });
			}
			await createOverlay(disk.overlay, disk.backup, disk.format);
		}
	}

	// ---------------------------------------------------------------- step 4

	async startVm(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		const current = await this.domains.facts(plan.vmName);
		if (current && !this.#owns(plan, current)) throw new HostError('NAME_TAKEN', `Domain ${plan.vmName} already exists and is not this session's: step 1 must set it aside first`);
		if (!current) {
			await fs.mkdir(this.layout.serial, { recursive: true });
			const file = path.join(plan.workDir, 'domain.xml');
			await fs.writeFile(file, domainXml({ plan, type: (await this.domainType()).type, serialFile: serialFileOf(this.layout, plan.sessionId) }));
			await this.virsh.run(['define', file]);
		}
		await this.#ensureRunning(plan);
	}

	/** The session's domain runs (started again on its persistent definition if QEMU died). */
	async #ensureRunning(plan: RestorePlan): Promise<DomainFacts> {
		let facts = await this.#own(plan);
		if (!facts) throw new HostError('NO_DOMAIN', `Domain ${plan.vmName} of session ${plan.sessionId} does not exist: step 4 has not run`);
		if (facts.state === 'off') {
			await this.virsh.run(['start', plan.vmName]);
			facts = await this.#own(plan);
			if (!facts) throw new HostError('NO_DOMAIN', `Domain ${plan.vmName} vanished right after it started`);
		}
		if (facts.state !== 'running') {
			throw new HostError(
				'DOMAIN_NOT_RUNNING',
				`Domain ${plan.vmName} is ${facts.stateText}${/crash/.test(facts.stateText) ? ': the hypervisor could not run this guest (set RUNDIRECT_ACCEL=tcg if KVM cannot run guests here)' : ''}`,
			);
		}
		return facts;
	}

	async #own(plan: RestorePlan): Promise<DomainFacts | null> {
		const facts = await this.domains.facts(plan.vmName);
		return facts && this.#owns(plan, facts) ? facts : null;
	}

	/** Ours: marked with this session, or (after step 7 removed the mark) running only on its files. */
	#owns(plan: RestorePlan, facts: DomainFacts): boolean {
		if (facts.restoreSession !== null) return facts.restoreSession === plan.sessionId;
		const ours = new Set(plan.disks.flatMap((disk) => [disk.overlay, disk.production]));
		const disks = facts.disks.filter((disk) => disk.device === 'disk');
		return disks.length > 0 && disks.every((disk) => disk.source !== null && ours.has(disk.source));
	}

	#diskOf(facts: DomainFacts | null, plan: RestorePlan, disk: DiskPlacement): DomainDisk | undefined {
		const target = diskTargets(plan.disks)[disk.index]?.dev;
		return facts?.disks.find((candidate) => candidate.target === target);
	}

	#onProduction(facts: DomainFacts | null, plan: RestorePlan, disk: DiskPlacement): boolean {
		const live = this.#diskOf(facts, plan, disk);
		return live?.source === disk.production && live.mirror === null;
	}

	// ---------------------------------------------------------------- step 5

	async copyData(plan: RestorePlan, options: StepOptions = {}): Promise<void> {
		const facts = await this.#ensureRunning(plan);
		const done = new Map<number, number>();
		const report = () => {
			const bytes = plan.disks.reduce((sum, disk) => sum + (done.get(disk.index) ?? 0), 0);
			options.onProgress?.({ done: bytes, total: plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0), detail: `${plan.disks.length} disk${plan.disks.length === 1 ? '' : 's'}` });
		};
		for (const disk of plan.disks) {
			const files = fillFiles(plan.workDir, disk.index);
			if (this.#onProduction(facts, plan, disk) || (await exists(files.done))) {
				done.set(disk.index, disk.virtualSize);
				continue;
			}
			for (let attempt = 1; ; attempt++) {
				// A convert still running (an earlier controller's) is adopted, not restarted.
				const running = (await fillProcesses(disk.production)).length > 0;
				const finished = !running && (await fs.readFile(files.rc, 'utf8').catch(() => null))?.trim() === '0';
				if (!running && !finished) {
					// Whatever an interrupted copy left is unknown: start from a fresh empty image.
					await endFills(disk.production);
					await fs.mkdir(plan.productionDir, { recursive: true });
					await fs.rm(disk.production, { force: true });
					await createQcow2(disk.production, disk.virtualSize);
					await startFill(disk, files, options.rateLimit);
				}
				const outcome = await waitFill(disk, files, {
					onFraction: (fraction) => {
						done.set(disk.index, Math.round(fraction * disk.virtualSize));
						report();
					},
					...(options.signal ? { signal: options.signal } : {}),
				});
				if (outcome.ok === true) break;
				if (outcome.ok === false) {
					if (/no space left/i.test(outcome.reason)) throw new HostError('NO_SPACE', `Production storage ${plan.productionDir} is full; the VM keeps running from the backup: free space there and finalize again (${outcome.reason})`);
					throw new HostError('COPY_FAILED', `Copying backup disk ${disk.index} to ${disk.production} failed: ${outcome.reason}`);
				}
				if (attempt >= 2) throw new HostError('COPY_FAILED', `The copy of disk ${disk.index} to ${disk.production} stopped twice without an exit code`);
				await fs.rm(files.rc, { force: true });
			}
			// Durable before it is journaled done: a crash after this must not lose the copy.
			await makeDurable(disk.production);
			await fs.writeFile(files.done, `${new Date().toISOString()}\n`);
			await makeDurable(files.done);
			done.set(disk.index, disk.virtualSize);
			report();
		}
	}

	// ---------------------------------------------------------------- step 6

	async applyChanges(plan: RestorePlan, options: StepOptions = {}): Promise<ApplyResult> {
		let facts = await this.#own(plan);
		if (!facts) throw new HostError('NO_DOMAIN', `Domain ${plan.vmName} of session ${plan.sessionId} does not exist: step 4 has not run`);
		const pending = (current: DomainFacts | null) => plan.disks.filter((disk) => !this.#onProduction(current, plan, disk));
		if (pending(facts).length > 0) {
			for (const disk of pending(facts)) {
				if (!(await exists(fillFiles(plan.workDir, disk.index).done))) throw new HostError('NOT_COPIED', `Disk ${disk.index} of ${plan.vmName} has not been copied to production yet: step 5 must complete first`);
			}
			facts = await this.#ensureRunning(plan);
		}
		const targets = diskTargets(plan.disks);
		const switching = pending(facts);
		for (const disk of switching) {
			const target = targets[disk.index]?.dev ?? '';
			// A copy job an earlier controller started is still running: adopt it.
			if (this.#diskOf(facts, plan, disk)?.mirror) continue;
			const destination = path.join(plan.workDir, `disk${disk.index}-copy.xml`);
			await fs.writeFile(destination, copyDestinationXml(disk.production));
			const bandwidth = options.rateLimit && options.rateLimit > 0 ? ['--bandwidth', String(Math.round(options.rateLimit)), '--bytes'] : [];
			await this.virsh.run(['blockcopy', plan.vmName, target, '--xml', destination, '--shallow', '--reuse-external', '--transient-job', '--synchronous-writes', ...bandwidth]);
		}
		let pauseMs = 0;
		if (switching.length > 0) {
			await this.#waitReady(plan, switching, options);
			// The switch. libvirt does not pause the guest; the pivot drains its I/O, so its duration is the pause.
			for (const disk of switching) {
				const started = process.hrtime.bigint();
				await this.virsh.run(['blockjob', plan.vmName, targets[disk.index]?.dev ?? '', '--pivot']);
				pauseMs += Number(process.hrtime.bigint() - started) / 1e6;
			}
		}
		const after = await this.#own(plan);
		const notSwitched = pending(after);
		if (notSwitched.length > 0) throw new HostError('NOT_SWITCHED', `Disk(s) ${notSwitched.map((disk) => disk.index).join(', ')} of ${plan.vmName} did not switch to production`);
		// --transient-job: libvirt rewrites the persistent definition at the pivot. Prove it did.
		const persistent = await this.domains.persistentDisks(plan.vmName);
		for (const disk of plan.disks) {
			const defined = persistent.find((candidate) => candidate.target === targets[disk.index]?.dev);
			if (defined?.source !== disk.production || defined.hasBacking) {
				throw new HostError('DEFINITION_NOT_SWITCHED', `The persistent definition of ${plan.vmName} still names ${defined?.source ?? 'no image'}${defined?.hasBacking ? ' with a backing store' : ''} for disk ${disk.index}, not ${disk.production}`);
			}
		}
		return { pauseMs };
	}

	async #waitReady(plan: RestorePlan, disks: DiskPlacement[], options: StepOptions): Promise<void> {
		const targets = diskTargets(plan.disks);
		let signature = '';
		let lastChange = Date.now();
		while (true) {
			options.signal?.throwIfAborted();
			const facts = await this.#own(plan);
			if (!facts || facts.state === 'off') throw new HostError('DOMAIN_STOPPED', `Domain ${plan.vmName} stopped while its changes were being applied: finalize again (it restarts on the snapshot layer)`);
			let done = 0;
			let total = 0;
			for (const disk of disks) {
				const raw = await this.virsh.tryRun(['blockjob', plan.vmName, targets[disk.index]?.dev ?? '', '--raw']);
				done += Number(/cur=(\d+)/.exec(raw.stdout)?.[1] ?? 0);
				total += Number(/end=(\d+)/.exec(raw.stdout)?.[1] ?? 0);
			}
			options.onProgress?.({ done, total, detail: 'applying the changes made while running from backup' });
			const mirrors = disks.map((disk) => this.#diskOf(facts, plan, disk)?.mirror ?? null);
			if (mirrors.some((mirror) => mirror === null)) throw new HostError('COPY_JOB_GONE', `The block copy of ${plan.vmName} ended before it was ready: finalize again`);
			if (mirrors.every((mirror) => mirror?.ready)) return;
			const now = `${done}/${total}`;
			if (now !== signature) {
				signature = now;
				lastChange = Date.now();
			} else if (Date.now() - lastChange > APPLY_STALL_MS) throw new HostError('COPY_STALLED', `The block copy of ${plan.vmName} made no progress for ${APPLY_STALL_MS / 1000} s`);
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
	}

	// ---------------------------------------------------------------- step 7

	async deleteSnapshotLayer(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		const facts = await this.#own(plan);
		if (!facts) throw new HostError('NO_DOMAIN', `Domain ${plan.vmName} of session ${plan.sessionId} does not exist`);
		if (!plan.disks.every((disk) => this.#onProduction(facts, plan, disk) || facts.state === 'off')) throw new HostError('NOT_SWITCHED', `Domain ${plan.vmName} still runs on its snapshot layer: step 6 must complete first`);
		for (const disk of plan.disks) await fs.rm(disk.overlay, { force: true });
		await fs.rm(plan.workDir, { recursive: true, force: true });
		// From here it is a plain production domain.
		if (facts.restoreSession !== null) await this.domains.removeMark(plan.vmName, facts.state !== 'off');
	}

	// ---------------------------------------------------------------- stop

	async discard(plan: RestorePlan, _options?: StepOptions): Promise<void> {
		const facts = await this.#own(plan);
		if (facts) {
			if (facts.state !== 'off') await this.virsh.run(['destroy', plan.vmName]);
			await this.domains.undefine(plan.vmName);
		}
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

	async status(plan: RestorePlan): Promise<RuntimeStatus> {
		const facts = await this.#own(plan);
		let bytesChanged: number | null = null;
		for (const disk of plan.disks) {
			const stats = await fs.stat(disk.overlay).catch(() => null);
			if (stats) bytesChanged = (bytesChanged ?? 0) + stats.blocks * 512;
		}
		const first = plan.disks[0];
		const live = first ? this.#diskOf(facts, plan, first) : undefined;
		const runsOn = live?.source === first?.production && !live?.mirror ? 'production' : live?.source === first?.overlay ? 'backup' : 'unknown';
		if (!facts) return { vm: 'missing', runsOn: 'unknown', guestAlive: null, bytesChanged, job: null };
		if (facts.state === 'off') return { vm: 'off', runsOn, guestAlive: null, bytesChanged, job: null };
		const guestAlive = (await this.#serialHead(plan)).includes(GUEST_MARKER);
		return { vm: facts.state, runsOn, guestAlive, bytesChanged, job: await this.#job(plan, facts) };
	}

	async #job(plan: RestorePlan, facts: DomainFacts): Promise<RuntimeStatus['job']> {
		const targets = diskTargets(plan.disks);
		const copying = plan.disks.filter((disk) => this.#diskOf(facts, plan, disk)?.mirror);
		if (copying.length > 0) {
			let done = 0;
			let total = 0;
			for (const disk of copying) {
				const raw = await this.virsh.tryRun(['blockjob', plan.vmName, targets[disk.index]?.dev ?? '', '--raw']);
				done += Number(/cur=(\d+)/.exec(raw.stdout)?.[1] ?? 0);
				total += Number(/end=(\d+)/.exec(raw.stdout)?.[1] ?? 0);
			}
			const ready = copying.every((disk) => this.#diskOf(facts, plan, disk)?.mirror?.ready);
			return { id: copying.map((disk) => `blockcopy:${targets[disk.index]?.dev}`).join(','), kind: 'apply', status: ready ? 'ready' : 'running', done, total, error: null };
		}
		const filling = [];
		for (const disk of plan.disks) if ((await fillProcesses(disk.production)).length > 0) filling.push(disk);
		if (filling.length === 0) return null;
		let done = 0;
		for (const disk of filling) done += Math.round((await fillFraction(fillFiles(plan.workDir, disk.index))) * disk.virtualSize);
		return { id: filling.map((disk) => `fill:disk${disk.index}`).join(','), kind: 'copy', status: 'running', done, total: filling.reduce((sum, disk) => sum + disk.virtualSize, 0), error: null };
	}

	/** The head of the serial log (truncated at each start): the marker comes early in boot. */
	async #serialHead(plan: RestorePlan): Promise<string> {
		const handle = await fs.open(serialFileOf(this.layout, plan.sessionId), 'r').catch(() => null);
		if (!handle) return '';
		try {
			const buffer = Buffer.alloc(SERIAL_SCAN_BYTES);
			const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
			return buffer.subarray(0, bytesRead).toString('latin1');
		} finally {
			await handle.close();
		}
	}

	/** The serial console's last lines: what the guest printed (or did not) — a drill's evidence. */
	async captureEvidence(plan: RestorePlan): Promise<Evidence> {
		const file = serialFileOf(this.layout, plan.sessionId);
		const handle = await fs.open(file, 'r').catch(() => null);
		if (!handle) return { kind: 'serial-tail', text: '', file };
		try {
			const { size } = await handle.stat();
			const length = Math.min(size, EVIDENCE_TAIL_BYTES);
			const buffer = Buffer.alloc(length);
			const { bytesRead } = await handle.read(buffer, 0, length, size - length);
			const lines = buffer.subarray(0, bytesRead).toString('latin1').split(/\r?\n/);
			if (size > length && lines.length > 1) lines.shift();
			return { kind: 'serial-tail', text: lines.slice(-EVIDENCE_TAIL_LINES).join('\n'), file };
		} finally {
			await handle.close();
		}
	}
}
