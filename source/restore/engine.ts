// The Run Direct engine: turns a restore point into a session and drives it through its
// phases (start = steps 1–4, finalize = 5–7, stop) as one listr2 task tree, journaling
// before and after every step so any interruption can be resumed.
//
// Over 400 lines on purpose: this is the session's one state machine (propose, claim, begin, the
// phase runner with its journal writes around each step, restart), and its methods share the
// journal, the locks and the host; what has a job of its own lives beside it (start-request.ts,
// reconcile.ts, steps.ts, session.ts).
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Listr, type ListrRendererValue, type ListrTask } from 'listr2';
import { formatProblem, readCatalog, type Catalog, type RestorePoint } from '../catalog/catalog.ts';
import type { Evidence, Host, HostVm, RestorePlan, RuntimeStatus } from '../hosts/host.ts';
import { cancelsCopy, hasEvidence, hasPower, pathRulesOf, plansOffline } from '../hosts/capabilities.ts';
import { AbortedError, EXIT, FinalizeCancelledError, PreflightError, RundirectError, errorMessage } from '../core/errors.ts';
import { CopyControls, type CopyWishes } from './copy-control.ts';
import { Journal } from './journal.ts';
import { VmLocks, processAlive, type OperationInfo } from './lock.ts';
import { ProgressMeter, formatProgress, type ProgressSnapshot } from './progress.ts';
import {
	PHASE_STATES,
	PHASE_STEPS,
	allowedPhases,
	isTerminal,
	newStepRecords,
	stepOf,
	vmShouldRun,
	type Phase,
	type SessionRecord,
	type StepId,
	type StepStatus,
} from './session.ts';
import { STEP_ACTIONS, stepShortTitle, stepTitle } from './steps.ts';
import { maybeInjectFault } from './fault.ts';
import type { RendererChoice } from './renderer.ts';
import { checkTarget, planInputFor, resolveRestorePoint, type StartRequest } from './start-request.ts';
import { nextActionHint, reconcileSessions, type Reconciliation } from './reconcile.ts';
import { privacyNotice } from './privacy.ts';

export type EngineEvent =
	| { type: 'session'; session: SessionRecord }
	| { type: 'step'; session: string; step: StepId; number: number | null; title: string; status: StepStatus; note: string | null; error: string | null; durationMs: number | null }
	| ({ type: 'progress'; session: string; step: StepId } & ProgressSnapshot)
	| { type: 'warning'; session: string | null; message: string };


export interface StartProposal {
	request: StartRequest;
	point: RestorePoint;
	plan: RestorePlan;
	/** Blocking problems: nothing may happen while there are any. */
	problems: string[];
	/** Human descriptions of what the start will turn off or delete (to confirm). */
	destroys: string[];
	/** Worth reading before confirming, but not blocking (e.g. broken restore points skipped). */
	warnings: string[];
	/** Set when this start continues an interrupted session instead of creating one. */
	resume: SessionRecord | null;
	/** A plan made without reaching the host (`offline`): what was assumed instead of asked. */
	assumptions: string[];
}

/** How to draw the phase's task tree, and what limits it. */
export interface RunOptions<Renderer extends ListrRendererValue = ListrRendererValue> extends RendererChoice<Renderer> {
	signal?: AbortSignal;
	/** Bytes per second for the copy and apply steps (spares production storage); default unlimited. */
	rateLimit?: number;
}

export interface PhaseContext {
	session: SessionRecord;
	/** Set when the operator gave the finalize up in step 5: the steps after it are not reached. */
	cancelled?: FinalizeCancelledError;
}

export interface EngineOptions {
	host: Host;
	stateDir: string;
	destination: string;
}

const JOURNAL_PROGRESS_INTERVAL_MS = 1000;
/** How often a running step 5 looks for the operator's wish to give the finalize up. */
const CANCEL_POLL_MS = 250;

function newSessionId(): string {
	const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 13); // 20261126T0102
	return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export class Engine extends EventEmitter<{ event: [EngineEvent] }> {
	readonly host: Host;
	readonly journal: Journal;
	readonly locks: VmLocks;
	readonly controls: CopyControls;
	readonly destination: string;
	readonly #stateDir: string;
	#private: Promise<string | null> | null = null;

	constructor(options: EngineOptions) {
		super();
		// One listener per session followed (each VM of a plan, each finalize, the console): a plan
		// of many VMs is not a leak, and Node's warning at 11 would be printed to the operator.
		this.setMaxListeners(0);
		this.host = options.host;
		this.destination = options.destination;
		this.#stateDir = options.stateDir;
		this.journal = new Journal(options.stateDir);
		this.locks = new VmLocks(options.stateDir);
		this.controls = new CopyControls(options.stateDir);
	}

	/** Changes the rate limit of a session's running copy, or pauses/resumes it — whichever process drives it. */
	async controlCopy(sessionId: string, wishes: Partial<CopyWishes>): Promise<CopyWishes> {
		return this.controls.write(sessionId, wishes);
	}

	private emitEvent(event: EngineEvent): void {
		this.emit('event', event);
	}

	/** Once per installation: what earlier versions left readable by other users is narrowed, and said (privacy.ts). */
	keepPrivate(): Promise<string | null> {
		this.#private ??= privacyNotice(this.#stateDir, this.host, this.journal, this.destination).then((notice) => {
			if (notice) this.emitEvent({ type: 'warning', session: null, message: notice });
			return notice;
		});
		return this.#private;
	}

	catalog(): Promise<Catalog> {
		return readCatalog(this.destination);
	}

	async sessions(): Promise<{ sessions: SessionRecord[]; problems: string[] }> {
		const listed = await this.journal.list();
		return { sessions: listed.sessions.filter((session) => session.host === this.host.id), problems: listed.problems };
	}

	/** A session by id, or the unfinished session of a VM by the VM's name. */
	async findSession(ref: string): Promise<SessionRecord> {
		const byId = /^[A-Za-z0-9T-]+$/.test(ref) ? await this.journal.read(ref) : null;
		if (byId) return byId;
		const { sessions } = await this.sessions();
		const open = sessions.filter((session) => session.vm === ref && !isTerminal(session));
		if (open.length === 1 && open[0]) return open[0];
		if (open.length > 1) throw new RundirectError(`VM ${ref} has ${open.length} unfinished sessions; name one: ${open.map((session) => session.id).join(', ')}`, EXIT.usage);
		// Only finished ones: its newest, so that asking again by name is refused as it is by id (exit 3, not 4).
		const finished = sessions.find((session) => session.vm === ref);
		if (finished) return finished;
		throw new RundirectError(`no session ${ref} and no unfinished session of a VM named ${ref} on host ${this.host.id}`, EXIT.notFound, 'list them with "rundirect sessions"');
	}

	async status(session: SessionRecord): Promise<RuntimeStatus> {
		return this.host.status(session.plan);
	}

	/** Every VM on the host, as it reports them (the console's host pane). */
	hostVms(): Promise<HostVm[]> {
		return this.host.inventory();
	}

	/**
	 * Powers a VM of the host on or off by name — not one a session holds: a VM running from its
	 * backup is stopped or finalized, a set-aside one is kept off until its session ends.
	 * True when the state changed.
	 */
	async setPower(vmName: string, on: boolean): Promise<boolean> {
		if (!hasPower(this.host)) throw new RundirectError(`the host ${this.host.id} has no VM power controls of its own`, EXIT.refused);
		const vm = (await this.host.inventory()).find((candidate) => candidate.name === vmName);
		if (!vm) throw new RundirectError(`there is no VM named ${vmName} on ${this.host.id}`, EXIT.refused);
		if (vm.runningFromBackup) throw new RundirectError(`${vmName} runs from its backup in session ${vm.runningFromBackup}`, EXIT.refused, 'finalize the session to keep it, or stop it to discard it');
		if (vm.setAside) throw new RundirectError(`${vmName} is set aside by a session and stays off until that session ends`, EXIT.refused, 'stopping the session brings it back; finalizing deletes it');
		return on ? this.host.powerOn(vmName) : this.host.powerOff(vmName);
	}

	/**
	 * What the session's VM shows — its serial console's last lines, or a thumbnail of its screen —
	 * and where it comes from; for any session whose VM exists, not only a drill's.
	 */
	async screen(sessionId: string): Promise<{ evidence: Evidence; source: string }> {
		const session = await this.journal.read(sessionId);
		if (!session) throw new RundirectError(`no session ${sessionId} in the journal`, EXIT.refused);
		if (!hasEvidence(this.host)) throw new RundirectError(`the host ${this.host.id} cannot show a VM's screen or console`, EXIT.refused);
		return { evidence: await this.host.captureEvidence(session.plan), source: this.host.evidenceSource };
	}

	/** The live process driving the session right now (this one included), or null when none does. */
	async driverOf(session: SessionRecord): Promise<OperationInfo | null> {
		const holder = await this.locks.readOperation(this.host.id, session.vm);
		return holder && holder.session === session.id && processAlive(holder) !== false ? holder : null;
	}

	/** Everything a start would do, checked, without changing anything. */
	/**
	 * What a start of `request` would do, checked by pre-flight. `offline`: for a runbook only, on a
	 * host that cannot be reached from here but can plan without it (no pre-flight then).
	 */
	async proposeStart(request: StartRequest, options: { offline?: boolean } = {}): Promise<StartProposal> {
		const catalog = await this.catalog();
		const { point, broken, pointRef } = resolveRestorePoint(catalog, request);
		const { name, location } = checkTarget(catalog, this.host, request, point);

		await this.refuseCaseTwin(name);
		const resume = await this.claimedBy(name, point);
		const sessionId = resume?.id ?? newSessionId();
		const input = planInputFor(point, sessionId, { name, location, replaceMode: request.replaceMode ?? 'set-aside' }, request.drill);
		const offline = options.offline === true && plansOffline(this.host) ? this.host.planOffline(input) : null;
		const plan = resume?.plan ?? offline?.plan ?? (await this.host.plan(input));
		const problems = resume || offline ? [] : await this.host.preflight(plan);
		if (!resume && plan.replaces && name !== point.vm) {
			problems.push(`a VM named ${name} already exists on ${this.host.id}; choose another name, or restore under the original name ${point.vm} to replace that VM`);
		}
		const destroys: string[] = [];
		if (plan.replaces && !resume) {
			destroys.push(
				plan.replaceMode === 'delete'
					? `VM ${plan.replaces} on ${this.host.id} will be turned off and DELETED with its disks now`
					: `VM ${plan.replaces} on ${this.host.id} will be turned off and set aside (deleted when the restore is finalized, brought back if it is stopped)`,
			);
		}
		// "latest" means the newest usable point: say so when newer or other points are broken.
		const warnings = pointRef === 'latest' && broken.length > 0 && !resume ? [`${broken.length} restore point problem(s) of ${request.vm} were skipped; "latest" is ${point.id} (taken ${point.manifest.takenAt}):`, ...broken.map((problem) => `  ${formatProblem(problem)}`)] : [];
		return { request, point, plan, problems, destroys, warnings, resume, assumptions: offline?.assumptions ?? [] };
	}

	/** On Windows paths WEB01 and web01 are one folder: a session of either holds both names. */
	private async refuseCaseTwin(name: string): Promise<void> {
		if (pathRulesOf(this.host).style !== 'win32') return;
		const { sessions } = await this.journal.list();
		const twin = sessions.find((session) => !isTerminal(session) && session.host === this.host.id && session.vm !== name && session.vm.toLowerCase() === name.toLowerCase());
		if (twin) {
			throw new RundirectError(
				`session ${twin.id} holds ${twin.vm}, and on ${this.host.id} ${name} is the same name: its folders and VM names do not tell case apart`,
				EXIT.refused,
				`finalize or stop ${twin.vm} first ("rundirect finalize|stop ${twin.id}"), or choose another name`,
			);
		}
	}

	/**
	 * The session holding the VM name, when it can be continued by this start; null when the
	 * name is free. Throws when another session holds it.
	 */
	private async claimedBy(name: string, point: RestorePoint): Promise<SessionRecord | null> {
		const claim = await this.locks.readClaim(this.host.id, name);
		if (!claim) return null;
		const holder = await this.journal.read(claim.session);
		if (!holder) {
			throw new RundirectError(
				`VM ${name} is locked by session ${claim.session} (pid ${claim.pid} on ${claim.hostname}, since ${claim.createdAt}), which has no journal entry: a start interrupted before its first step. Nothing was changed by it.`,
				EXIT.refused,
				`if no rundirect process is working on ${name}, clear the stale lock with "rundirect unlock ${name}"`,
			);
		}
		if (isTerminal(holder)) {
			// The session ended but the process died before releasing its claim: the claim guards nothing.
			this.emitEvent({ type: 'warning', session: holder.id, message: `removed the stale lock of session ${holder.id}, which had already ${holder.state === 'finalized' ? 'been finalized' : 'been stopped'}` });
			await this.locks.releaseClaim(this.host.id, name, holder.id);
			return null;
		}
		const driver = await this.locks.readOperation(this.host.id, name);
		if (driver && driver.session === holder.id && processAlive(driver) !== false) {
			throw new RundirectError(
				`VM ${name} is held by session ${holder.id}, which pid ${driver.pid} on ${driver.hostname} is running (${driver.operation} since ${driver.startedAt}); one session per VM`,
				EXIT.refused,
				'wait for it to finish; see it with "rundirect sessions"',
			);
		}
		const resumable = holder.state === 'starting' || (holder.state === 'failed' && holder.failedPhase === 'start');
		if (resumable && holder.source.vm === point.vm && holder.source.pointId === point.id) return holder;
		throw new RundirectError(
			`VM ${name} is held by session ${holder.id} (${holder.state}, restore point ${holder.source.pointId} of ${holder.source.vm}); one session per VM`,
			EXIT.refused,
			resumable
				? `continue it with "rundirect start ${holder.source.vm} --point ${holder.source.pointId}${holder.vm !== holder.source.vm ? ` --name ${holder.vm}` : ''}", or stop it with "rundirect stop ${holder.id}"`
				: `finalize it with "rundirect finalize ${holder.id}" or stop it with "rundirect stop ${holder.id}"`,
		);
	}

	/** Claims the VM and writes the session's first journal entry. Changes nothing on the host. */
	async beginStart(proposal: StartProposal): Promise<SessionRecord> {
		if (proposal.resume) return proposal.resume;
		if (proposal.problems.length > 0) throw new PreflightError(proposal.problems);
		const { plan, point } = proposal;
		if (!(await this.locks.claim(this.host.id, plan.vmName, plan.sessionId))) {
			// Lost a race with another start between proposal and claim: name the winner.
			const winner = await this.locks.readClaim(this.host.id, plan.vmName);
			throw new RundirectError(
				`VM ${plan.vmName} was claimed a moment ago by session ${winner?.session ?? '(unknown)'} (pid ${winner?.pid ?? '?'} on ${winner?.hostname ?? '?'}); one session per VM`,
				EXIT.refused,
				'see it with "rundirect sessions"',
			);
		}
		const now = new Date().toISOString();
		const session: SessionRecord = {
			schemaVersion: 1,
			id: plan.sessionId,
			host: this.host.id,
			vm: plan.vmName,
			source: { destination: this.destination, vm: point.vm, pointId: point.id, takenAt: point.manifest.takenAt, manifestPath: point.manifestPath },
			target: { name: plan.vmName, location: proposal.request.location ?? 'original', replaceMode: plan.replaceMode },
			state: 'starting',
			failedPhase: null,
			createdAt: now,
			updatedAt: now,
			runningFromBackupSince: null,
			finalizedAt: null,
			stoppedAt: null,
			plan,
			setAside: null,
			apply: null,
			steps: newStepRecords(),
			lastError: null,
			...(proposal.request.drill ? { purpose: 'drill' as const, drillId: proposal.request.drill.id } : {}),
		};
		try {
			await this.save(session);
		} catch (error) {
			await this.locks.releaseClaim(this.host.id, plan.vmName, plan.sessionId);
			throw error;
		}
		return session;
	}

	private async save(session: SessionRecord): Promise<void> {
		await this.journal.write(session);
		this.emitEvent({ type: 'session', session: structuredClone(session) });
	}

	/** The listr2 task definitions of a phase: the one tree the console, the commands and the tests run. */
	phaseTasks(phase: Phase, signal: AbortSignal, rateLimit?: number, session?: SessionRecord): Array<ListrTask<PhaseContext>> {
		// Steps still to come show their title for people too (piped output, the console's live tree).
		return PHASE_STEPS[phase].map((id) => ({
			title: session ? stepTitle(session, id) : stepShortTitle(id),
			skip: (ctx) => (ctx.cancelled ? 'not reached: the finalize was cancelled' : false),
			task: async (ctx, task) => {
				const { session } = ctx;
				const title = stepTitle(session, id);
				task.title = title;
				const step = stepOf(session, id);
				if (step.status === 'done') {
					task.title = `${title} — done earlier${step.note ? ` (${step.note})` : ''}`;
					return;
				}
				let note: string | null;
				try {
					note = await this.runStep(session, id, { signal, rateLimit }, (text) => {
						task.output = text;
					});
				} catch (error) {
					// Given up on purpose: shown as cancelled, not failed; runPhase ends the phase with it.
					if (!(error instanceof FinalizeCancelledError)) throw error;
					ctx.cancelled = error;
					task.skip(`${title} — cancelled by the operator: the VM runs from its backup as before`);
					return;
				}
				if (note) task.title = `${title} — ${note}`;
			},
		}));
	}

	private async runStep(session: SessionRecord, id: StepId, run: { signal: AbortSignal; rateLimit?: number }, show: (text: string) => void): Promise<string | null> {
		const { signal } = run;
		if (signal.aborted) throw new AbortedError();
		const step = stepOf(session, id);
		const began = performance.now();
		Object.assign(step, { status: 'running', startedAt: new Date().toISOString(), endedAt: null, error: null, attempts: step.attempts + 1 });
		await this.save(session);
		this.emitStep(session, id, null);
		const meter = new ProgressMeter();
		let lastJournal = 0;
		const onProgress = (report: { done: number; total: number; detail?: string }) => {
			maybeInjectFault(id, 'during');
			const snapshot = meter.update(report.done, report.total);
			step.bytesDone = report.done;
			step.bytesTotal = report.total;
			show(`${formatProgress(snapshot)}${report.detail ? ` · ${report.detail}` : ''}`);
			this.emitEvent({ type: 'progress', session: session.id, step: id, ...snapshot });
			const now = performance.now();
			if (now - lastJournal > JOURNAL_PROGRESS_INTERVAL_MS) {
				lastJournal = now;
				void this.journal.write(session).catch(() => undefined);
			}
		};
		// Step 5 can be given up (finalize --cancel, the console's x): the wish is read as the copy runs.
		const cancelling = id === 'copy-data' && cancelsCopy(this.host) ? new AbortController() : null;
		const watch = cancelling ? setInterval(() => this.controls.read(session.id)?.cancel && cancelling.abort(), CANCEL_POLL_MS) : null;
		const stepSignal = cancelling ? AbortSignal.any([signal, cancelling.signal]) : signal;
		try {
			const control = this.controls.controlOf(session.id, run.rateLimit);
			const note = (await STEP_ACTIONS[id]({ host: this.host, session, options: { onProgress, signal: stepSignal, control, ...(run.rateLimit ? { rateLimit: run.rateLimit } : {}) } })) ?? null;
			if (cancelling?.signal.aborted && !signal.aborted) throw new FinalizeCancelledError(session.vm);
			if (signal.aborted) throw new AbortedError();
			Object.assign(step, { status: 'done', endedAt: new Date().toISOString(), note });
			await this.save(session);
			this.emitStep(session, id, performance.now() - began);
			maybeInjectFault(id, 'after');
			return note;
		} catch (error) {
			if (cancelling?.signal.aborted && !signal.aborted) {
				await this.giveUpCopy(session, step);
				throw new FinalizeCancelledError(session.vm);
			}
			if (signal.aborted || error instanceof AbortedError) {
				step.note = 'interrupted; the host goes on — run the command again to continue';
				await this.save(session);
				throw new AbortedError();
			}
			Object.assign(step, { status: 'failed', endedAt: new Date().toISOString(), error: errorMessage(error) });
			await this.save(session);
			this.emitStep(session, id, performance.now() - began);
			throw error;
		} finally {
			if (watch) clearInterval(watch);
		}
	}

	/** Step 5 given up: the host's copy stops, the step is to do again, the session runs from its backup. */
	private async giveUpCopy(session: SessionRecord, step: SessionRecord['steps'][number]): Promise<void> {
		if (cancelsCopy(this.host)) await this.host.cancelCopy(session.plan);
		Object.assign(step, { status: 'pending', endedAt: new Date().toISOString(), note: 'cancelled by the operator: the VM runs from its backup as before', bytesDone: 0 });
		session.state = 'running';
		session.failedPhase = null;
		await this.save(session);
		this.emitEvent({ type: 'warning', session: session.id, message: `the finalize of ${session.vm} was cancelled before step 6: it runs from its backup as before` });
		await this.controls.clear(session.id).catch(() => undefined);
	}

	/**
	 * Gives up a finalize before step 6 switches the VM (where the host can stop its copy): the
	 * process driving it is asked through the copy wishes; a finalize no process drives any more is
	 * given up here. The VM keeps running from its backup, every change kept in its layer.
	 */
	async cancelFinalize(sessionId: string): Promise<'asked' | 'cancelled'> {
		const session = await this.journal.read(sessionId);
		if (!session) throw new RundirectError(`no session ${sessionId}`, EXIT.notFound);
		if (!cancelsCopy(this.host)) throw new RundirectError(`the host ${this.host.id} cannot stop a copy it has begun`, EXIT.refused, 'let the finalize end, or stop the session');
		const switched = session.steps.find((candidate) => candidate.id === 'apply-changes');
		const finalizing = session.state === 'finalizing' || (session.state === 'failed' && session.failedPhase === 'finalize');
		if (!finalizing) throw new RundirectError(`${session.vm} is ${session.state}: there is no finalize to cancel`, EXIT.refused);
		if (switched && switched.status !== 'pending') throw new RundirectError(`${session.vm}'s finalize is past step 5 (step 6 has begun switching it to production): it cannot go back`, EXIT.refused, 'let the finalize end');
		const driver = await this.driverOf(session);
		if (driver) {
			await this.controls.write(session.id, { cancel: true });
			return 'asked';
		}
		const operation = await this.locks.beginOperation(this.host.id, session.vm, session.id, 'finalize');
		try {
			await this.giveUpCopy(session, stepOf(session, 'copy-data'));
		} finally {
			await this.host.close(session.plan).catch(() => undefined);
			await operation.release();
		}
		return 'cancelled';
	}

	private emitStep(session: SessionRecord, id: StepId, durationMs: number | null): void {
		const step = stepOf(session, id);
		this.emitEvent({ type: 'step', session: session.id, step: id, number: step.number, title: stepTitle(session, id), status: step.status, note: step.note, error: step.error, durationMs });
	}

	/** Throws the refusal (exit 3, with what can be done) when the session cannot run `phase` now. */
	checkPhase(session: SessionRecord, phase: Phase): void {
		if (!allowedPhases(session).includes(phase)) {
			throw new RundirectError(`session ${session.id} of ${session.vm} is ${session.state}; it cannot be ${phase === 'stop' ? 'stopped' : `${phase}d`} now`, EXIT.refused, nextActionHint(session));
		}
	}

	/** Runs a phase of a session to its end, under the session's operation lock. */
	async runPhase<Renderer extends ListrRendererValue = 'silent'>(sessionId: string, phase: Phase, options: RunOptions<Renderer> = {}): Promise<SessionRecord> {
		const session = await this.journal.read(sessionId);
		if (!session) throw new RundirectError(`no session ${sessionId}`, EXIT.notFound);
		if (session.host !== this.host.id) throw new RundirectError(`session ${sessionId} belongs to host ${session.host}, not ${this.host.id}`, EXIT.usage, `add --host ${session.host}`);
		this.checkPhase(session, phase);
		const operation = await this.locks.beginOperation(this.host.id, session.vm, session.id, phase);
		if (operation.tookOverFrom) {
			const from = operation.tookOverFrom;
			this.emitEvent({
				type: 'warning',
				session: session.id,
				message: `the process that was ${from.operation === 'stop' ? 'stopping' : `${from.operation === 'start' ? 'starting' : 'finalizing'}`} this session (pid ${from.pid}, since ${from.startedAt}) is gone; continuing from the journal`,
			});
		}
		const controller = new AbortController();
		const forward = () => controller.abort();
		options.signal?.addEventListener('abort', forward, { once: true });
		// A phase begins with the rate it was given (wishes left by an earlier run do not carry over); others may change it.
		await this.controls.clear(session.id).catch(() => undefined);
		if (phase === 'finalize') await this.controls.write(session.id, { rateLimit: options.rateLimit ?? null, paused: false }).catch(() => undefined);
		try {
			session.state = PHASE_STATES[phase].during;
			// A step another phase left running (a finalize interrupted mid-copy, then rolled back) will not go on: say so.
			for (const step of session.steps) {
				if (step.status === 'running' && !PHASE_STEPS[phase].includes(step.id)) {
					Object.assign(step, { status: 'skipped', endedAt: new Date().toISOString(), note: `interrupted, then given up for ${phase}` });
				}
			}
			await this.save(session);
			const listr = new Listr<PhaseContext, Renderer | 'silent', 'simple'>(this.phaseTasks(phase, controller.signal, options.rateLimit, session), {
				ctx: { session },
				concurrent: false,
				exitOnError: true,
				registerSignalListeners: false,
				renderer: options.renderer ?? 'silent',
				rendererOptions: options.rendererOptions,
				fallbackRenderer: 'simple',
			});
			const ran = await listr.run();
			if (ran.cancelled) throw ran.cancelled;
			session.state = PHASE_STATES[phase].after;
			session.failedPhase = null;
			session.lastError = null;
			if (phase === 'finalize') session.finalizedAt = new Date().toISOString();
			if (phase === 'stop') session.stoppedAt = new Date().toISOString();
			await this.save(session);
			if (isTerminal(session)) await this.locks.releaseClaim(this.host.id, session.vm, session.id);
			return session;
		} catch (error) {
			if (error instanceof AbortedError || controller.signal.aborted) throw new AbortedError();
			// Given up by the operator: the session is back to running (giveUpCopy), not failed.
			if (error instanceof FinalizeCancelledError) throw error;
			const failed = session.steps.find((step) => step.status === 'failed');
			session.state = 'failed';
			session.failedPhase = phase;
			const hint = nextActionHint(session);
			session.lastError = { step: failed?.id ?? null, message: errorMessage(error), at: new Date().toISOString(), hint };
			await this.save(session);
			const where = failed ? `${failed.number === null ? '' : `step ${failed.number}, `}${stepShortTitle(failed.id)},` : phase;
			throw new RundirectError(`${where} failed: ${errorMessage(error)}`, EXIT.failed, hint);
		} finally {
			options.signal?.removeEventListener('abort', forward);
			if (isTerminal(session)) await this.controls.clear(session.id).catch(() => undefined);
			// Hand the VM's monitor back: a console or another command may need it next.
			await this.host.close(session.plan).catch(() => undefined);
			await operation.release();
		}
	}

	/**
	 * Compares every unfinished session's journal with what the host really has and says what
	 * resuming would do. Changes nothing.
	 */
	async reconcile(): Promise<Reconciliation[]> {
		const { sessions } = await this.sessions();
		return reconcileSessions(sessions, { host: this.host, locks: this.locks });
	}

	/**
	 * Restarts the VM of a session whose VM should run but stopped (host reboot, crash): running
	 * from backup, or left mid-finalize. It starts on whatever disks it last ran on, writes kept.
	 */
	async restartVm(sessionId: string): Promise<void> {
		const session = await this.journal.read(sessionId);
		if (!session || !vmShouldRun(session)) throw new RundirectError(`session ${sessionId} has no VM that should be running (it is ${session?.state ?? 'not in the journal'})`, EXIT.refused);
		const operation = await this.locks.beginOperation(this.host.id, session.vm, session.id, 'start');
		try {
			const note = await this.host.startVm(session.plan);
			this.emitEvent({ type: 'warning', session: session.id, message: `restarted ${session.vm} on its snapshot layer: its VM was not running${note ? ` (${note})` : ''}` });
		} finally {
			await this.host.close(session.plan).catch(() => undefined);
			await operation.release();
		}
	}

	async close(): Promise<void> {
		await this.host.close();
	}
}
