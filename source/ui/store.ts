// The console's controller: the one place that talks to the Engine. It keeps the domain
// state (host, backups, sessions, live task trees) outside React and notifies subscribers;
// components render snapshots of it and call its actions. Sessions started elsewhere (a
// headless command, another console) are picked up by polling the journal and the host.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { StartProposal, StartRequest, EngineEvent, Engine, Reconciliation } from '../restore/engine.ts';
import type { DrillReport, PreparedDrill } from '../drill/index.ts';
import type { CatalogProblem } from '../catalog/catalog.ts';
import type { HostDescription, RuntimeStatus } from '../hosts/host.ts';
import { ProgressMeter } from '../restore/progress.ts';
import { isTerminal, type Phase, type SessionRecord } from '../restore/session.ts';
import { AbortedError } from '../core/errors.ts';
import { InkTaskRenderer, type InkTaskRendererOptions, type TaskNode } from './task-renderer.ts';
import { drillSpecOf, interruptedOf, rollbackPhase, type DrillHistory, type DrillTarget, type LiveDrill } from './drills.ts';
import { groupBackups, runningStep, sortSessions, toUiError, type SessionView, type StepProgress, type UiError, type VmBackups } from './model.ts';

/** A phase this console runs: its live listr2 tree, and how it ended. */
export interface LiveRun {
	sessionId: string;
	phase: Phase;
	vm: string;
	tree: TaskNode[];
	running: boolean;
	/** Set when the phase failed; the session's lastError carries the same with its hint. */
	error: UiError | null;
	startedAt: number;
}

export interface Notice {
	level: 'info' | 'error';
	text: string;
	hint: string | null;
}

/** Building the lab when it does not exist yet (lab host only). */
export interface LabSetup {
	/** True when the lab (its sample destination) has not been built. */
	needed(): Promise<boolean>;
	run(onProgress: (message: string, fraction: number | undefined) => void): Promise<void>;
}

export interface SetupState {
	running: boolean;
	message: string;
	fraction: number | null;
	error: UiError | null;
}

export interface ConsoleState {
	/** `loading` until the first catalog/sessions read; `no-lab` offers to build the lab. */
	phase: 'loading' | 'ready' | 'no-lab';
	host: HostDescription | null;
	hostError: UiError | null;
	destination: string;
	backups: VmBackups[];
	pointCount: number;
	catalogProblems: CatalogProblem[];
	catalogError: UiError | null;
	sessions: SessionView[];
	journalProblems: string[];
	live: Readonly<Record<string, LiveRun>>;
	notice: Notice | null;
	setup: SetupState | null;
	/** Sessions found interrupted when the console opened (engine.reconcile()), awaiting the user's choice. */
	interrupted: Reconciliation[];
	/** The recovery drill this console runs, or ran last. */
	drill: LiveDrill | null;
	/** Past drills (`<state>/drills`), read when the history is shown. */
	drillHistory: DrillHistory | null;
}

export interface ConsoleStoreOptions {
	/** How often the journal and the host are polled (ms). */
	pollMs?: number;
	labSetup?: LabSetup;
	/** Minimum time between two notifications (ms): progress events arrive many times a second. */
	notifyMs?: number;
	/** The state folder (drills are kept under it); default: the journal's parent folder. */
	stateDir?: string;
}

type Listener = () => void;

function errorNotice(error: unknown): Notice {
	const { message, hint } = toUiError(error);
	return { level: 'error', text: message, hint };
}

export class ConsoleStore {
	private state: ConsoleState;
	private readonly listeners = new Set<Listener>();
	private readonly records = new Map<string, SessionRecord>();
	private readonly statuses = new Map<string, { status: RuntimeStatus | null; error: string | null }>();
	private readonly progress = new Map<string, StepProgress>();
	/** Rate/ETA of operations run by other processes, from the bytes they journal every second. */
	private readonly meters = new Map<string, { step: string; meter: ProgressMeter }>();
	private readonly runs = new Map<string, { controller: AbortController; done: Promise<void> }>();
	private pollTimer: NodeJS.Timeout | null = null;
	private polling: Promise<void> | null = null;
	private watcher: FSWatcher | null = null;
	private watchDebounce: NodeJS.Timeout | null = null;
	private notifyTimer: NodeJS.Timeout | null = null;
	private lastNotify = 0;
	private closed = false;
	private drillRun: { controller: AbortController; done: Promise<void> } | null = null;
	private readonly onEngineEvent = (event: EngineEvent): void => this.handleEvent(event);
	/** The engine, once loaded: the console draws its first frame before it (launch.tsx). */
	engine!: Engine;
	/** Settles when the engine is there; open() and refresh() wait for it. */
	private readonly engineReady: Promise<void>;

	constructor(
		engine: Engine | Promise<Engine>,
		private readonly options: ConsoleStoreOptions = {},
	) {
		this.state = {
			phase: 'loading',
			host: null,
			hostError: null,
			destination: engine instanceof Promise ? '' : engine.destination,
			backups: [],
			pointCount: 0,
			catalogProblems: [],
			catalogError: null,
			sessions: [],
			journalProblems: [],
			live: {},
			notice: null,
			setup: null,
			interrupted: [],
			drill: null,
			drillHistory: null,
		};
		const attach = (ready: Engine): void => {
			this.engine = ready;
			ready.on('event', this.onEngineEvent);
			if (this.state.destination !== ready.destination) this.update({ destination: ready.destination });
		};
		if (engine instanceof Promise) {
			this.engineReady = engine.then(attach);
			// Whoever passed the promise reports its failure; open() then never runs.
			this.engineReady.catch(() => undefined);
		} else {
			attach(engine);
			this.engineReady = Promise.resolve();
		}
	}

	// ------------------------------------------------------------------ subscription

	getState = (): ConsoleState => this.state;

	subscribe = (listener: Listener): (() => void) => {
		this.listeners.add(listener);
		return () => this.listeners.delete(listener);
	};

	private update(patch: Partial<ConsoleState>, urgent = true): void {
		this.state = { ...this.state, ...patch };
		this.schedule(urgent);
	}

	/** Urgent changes (keys, steps) go out on the next tick; progress at most every notifyMs. */
	private schedule(urgent: boolean): void {
		if (this.notifyTimer) {
			if (!urgent) return;
			clearTimeout(this.notifyTimer);
		}
		const wait = urgent ? 0 : Math.max(0, (this.options.notifyMs ?? 100) - (performance.now() - this.lastNotify));
		this.notifyTimer = setTimeout(() => {
			this.notifyTimer = null;
			this.lastNotify = performance.now();
			for (const listener of this.listeners) listener();
		}, wait);
	}

	// ------------------------------------------------------------------ loading

	/** First load, then polling. Never throws: every failure lands in the state. */
	async open(): Promise<void> {
		await this.engineReady;
		await Promise.all([this.loadHost(), this.loadCatalog(), this.loadSessions()]);
		if (this.state.catalogError && this.options.labSetup && (await this.options.labSetup.needed().catch(() => false))) {
			this.update({ phase: 'no-lab' });
		} else {
			this.update({ phase: 'ready' });
		}
		this.watchJournal();
		await this.loadInterrupted();
		this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs ?? 1500);
		this.pollTimer.unref?.();
	}

	/** `r`: everything again, including the catalog (which is not polled: it can be large). */
	async refresh(): Promise<void> {
		await this.engineReady;
		await Promise.all([this.loadHost(), this.loadCatalog(), this.poll()]);
		this.update({ notice: { level: 'info', text: `Refreshed: ${this.state.pointCount} restore points, ${this.state.sessions.length} sessions`, hint: null } });
	}

	private async loadHost(): Promise<void> {
		try {
			this.update({ host: await this.engine.host.describe(), hostError: null });
		} catch (error) {
			this.update({ hostError: toUiError(error) });
		}
	}

	private async loadCatalog(): Promise<void> {
		try {
			const catalog = await this.engine.catalog();
			this.update({ destination: catalog.destination, backups: groupBackups(catalog.points), pointCount: catalog.points.length, catalogProblems: catalog.problems, catalogError: null });
		} catch (error) {
			this.update({ backups: [], pointCount: 0, catalogError: toUiError(error) });
		}
	}

	private poll(): Promise<void> {
		// One poll at a time: a slow host must not pile up status calls.
		this.polling ??= this.loadSessions().finally(() => {
			this.polling = null;
		});
		return this.polling;
	}

	private async loadSessions(): Promise<void> {
		if (this.closed) return;
		try {
			const { sessions, problems } = await this.engine.sessions();
			const seen = new Set<string>();
			for (const record of sessions) {
				seen.add(record.id);
				const known = this.records.get(record.id);
				// Our own runs report through events first; a journal read can be a moment older.
				if (!known || !this.runs.has(record.id) || record.updatedAt >= known.updatedAt) this.records.set(record.id, record);
				if (!this.runs.has(record.id)) this.trackForeignProgress(record);
			}
			for (const id of [...this.records.keys()]) if (!seen.has(id) && !this.runs.has(id)) this.records.delete(id);
			this.update({ journalProblems: problems });
			await this.loadStatuses();
		} catch (error) {
			this.update({ notice: { level: 'error', text: `cannot read the sessions: ${toUiError(error).message}`, hint: 'check the state folder (--state-dir), then press r' } });
		}
		this.publishSessions();
	}

	private async loadStatuses(): Promise<void> {
		for (const record of this.records.values()) {
			if (this.closed) return;
			if (isTerminal(record)) {
				this.statuses.delete(record.id);
				continue;
			}
			try {
				this.statuses.set(record.id, { status: await this.engine.status(record), error: null });
			} catch (error) {
				this.statuses.set(record.id, { status: null, error: toUiError(error).message });
			}
		}
	}

	/** Another process journals bytesDone/bytesTotal every second: derive a rate and ETA from it. */
	private trackForeignProgress(record: SessionRecord): void {
		const step = runningStep(record);
		if (!step || step.bytesTotal === null || step.bytesDone === null) {
			this.meters.delete(record.id);
			this.progress.delete(record.id);
			return;
		}
		let entry = this.meters.get(record.id);
		if (entry?.step !== step.id) {
			entry = { step: step.id, meter: new ProgressMeter(10_000) };
			this.meters.set(record.id, entry);
		}
		const snapshot = entry.meter.update(step.bytesDone, step.bytesTotal, Date.parse(record.updatedAt));
		this.progress.set(record.id, { step: step.id, ...snapshot });
	}

	private publishSessions(urgent = true): void {
		const views: SessionView[] = [];
		for (const record of this.records.values()) {
			const status = this.statuses.get(record.id);
			const progress = this.progress.get(record.id);
			const current = runningStep(record);
			views.push({
				record,
				status: status?.status ?? null,
				statusError: status?.error ?? null,
				// Progress of a step that has ended is stale.
				progress: progress && current?.id === progress.step ? progress : null,
				live: this.runs.has(record.id),
			});
		}
		this.update({ sessions: sortSessions(views) }, urgent);
	}

	/** fs.watch on the journal folder makes other processes' steps show without waiting for a poll. */
	private watchJournal(): void {
		try {
			this.watcher = watch(this.engine.journal.dir, () => {
				if (this.watchDebounce) return;
				this.watchDebounce = setTimeout(() => {
					this.watchDebounce = null;
					void this.poll();
				}, 150);
			});
			this.watcher.on('error', () => this.watcher?.close());
			this.watcher.unref?.();
		} catch {
			// No sessions folder yet (nothing ever ran): polling covers it.
		}
	}

	private handleEvent(event: EngineEvent): void {
		switch (event.type) {
			case 'session':
				this.records.set(event.session.id, event.session);
				this.publishSessions();
				break;
			case 'progress':
				this.progress.set(event.session, { step: event.step, done: event.done, total: event.total, rate: event.rate, etaSeconds: event.etaSeconds });
				this.publishSessions(false);
				break;
			case 'warning':
				this.update({ notice: { level: 'info', text: event.message, hint: null } });
				break;
			case 'step':
				// The 'session' event that accompanies every step carries the same facts.
				break;
		}
	}

	// ------------------------------------------------------------------ actions

	/** Everything a start would do, checked; throws the engine's error (shown in the form). */
	async propose(request: StartRequest): Promise<StartProposal> {
		// A key pressed in the first instants may come before the engine has loaded.
		await this.engineReady;
		return this.engine.proposeStart(request);
	}

	/** Claims the VM, journals the session and runs steps 1–4 in the background. */
	async startRestore(proposal: StartProposal): Promise<string> {
		const session = await this.engine.beginStart(proposal);
		this.records.set(session.id, session);
		this.run(session, 'start');
		return session.id;
	}

	/** `rateLimit`: bytes per second for the copy (spares production storage); default unlimited. */
	finalize(sessionId: string, rateLimit?: number): void {
		this.runById(sessionId, 'finalize', rateLimit);
	}

	stop(sessionId: string): void {
		this.runById(sessionId, 'stop');
	}

	private runById(sessionId: string, phase: Phase, rateLimit?: number): void {
		const record = this.records.get(sessionId);
		if (!record) {
			this.update({ notice: { level: 'error', text: `no session ${sessionId}`, hint: 'press r to refresh' } });
			return;
		}
		this.run(record, phase, rateLimit);
	}

	/** Runs a phase with the Ink task renderer; its outcome lands in the state, never thrown. */
	private run(record: SessionRecord, phase: Phase, rateLimit?: number): void {
		const previous = this.runs.get(record.id);
		if (previous) {
			// The previous phase has done its steps and is releasing the VM's locks: follow it.
			void previous.done.then(() => {
				const latest = this.records.get(record.id);
				if (!this.closed && latest) this.run(latest, phase, rateLimit);
			});
			return;
		}
		const controller = new AbortController();
		const live: LiveRun = { sessionId: record.id, phase, vm: record.vm, tree: [], running: true, error: null, startedAt: Date.now() };
		this.setLive(live);
		const rendererOptions: InkTaskRendererOptions = {
			throttleMs: 50,
			onUpdate: (tree) => {
				const current = this.state.live[record.id];
				if (current?.phase === phase) this.setLive({ ...current, tree }, false);
			},
		};
		const done = this.engine
			.runPhase(record.id, phase, { renderer: InkTaskRenderer, rendererOptions, signal: controller.signal, ...(rateLimit ? { rateLimit } : {}) })
			.then(
				(session) => {
					this.records.set(session.id, session);
					this.finishLive(record.id, null);
				},
				(error: unknown) => {
					this.finishLive(record.id, error instanceof AbortedError ? null : toUiError(error));
				},
			)
			.finally(() => {
				this.runs.delete(record.id);
				this.progress.delete(record.id);
				this.publishSessions();
				void this.poll();
			});
		this.runs.set(record.id, { controller, done });
		this.publishSessions();
	}

	private setLive(live: LiveRun, urgent = true): void {
		this.update({ live: { ...this.state.live, [live.sessionId]: live } }, urgent);
	}

	private finishLive(sessionId: string, error: UiError | null): void {
		const current = this.state.live[sessionId];
		if (current) this.setLive({ ...current, running: false, error });
		if (error) this.update({ notice: { level: 'error', text: error.message, hint: error.hint } });
	}

	/** Operations this console is running (quitting would stop waiting for them). */
	runningOperations(): LiveRun[] {
		return Object.values(this.state.live).filter((live) => live.running);
	}

	dismissNotice(): void {
		if (this.state.notice) this.update({ notice: null });
	}

	notify(notice: Notice): void {
		this.update({ notice });
	}

	// ------------------------------------------------------------------ interrupted sessions

	/** On open: what `rundirect resume` would do. Nothing runs until the user chooses (resolveInterrupted). */
	private async loadInterrupted(): Promise<void> {
		try {
			const interrupted = interruptedOf(await this.engine.reconcile());
			if (interrupted.some((finding) => finding.action !== 'busy')) this.update({ interrupted });
			else if (interrupted.length > 0) this.update({ notice: { level: 'info', text: `${interrupted.map((finding) => `${finding.session.vm} is ${finding.detail}`).join('; ')}`, hint: null } });
		} catch (error) {
			this.update({ notice: { level: 'error', text: `cannot check for interrupted sessions: ${toUiError(error).message}`, hint: 'run "rundirect resume --dry-run"' } });
		}
	}

	/** Continues a session found interrupted, rolls it back (stop), or leaves it as it is. */
	resolveInterrupted(sessionId: string, choice: 'continue' | 'rollback' | 'leave'): void {
		const finding = this.state.interrupted.find((candidate) => candidate.session.id === sessionId);
		if (!finding) return;
		this.update({ interrupted: this.state.interrupted.filter((candidate) => candidate !== finding) });
		if (choice === 'leave' || finding.action === 'busy') return;
		const phase = choice === 'rollback' ? rollbackPhase(finding) : finding.action;
		if (phase === null || phase === 'none') return;
		if (phase === 'restart-vm') {
			this.engine.restartVm(sessionId).then(
				() => this.update({ notice: { level: 'info', text: `${finding.session.vm} runs from its backup again`, hint: null } }),
				(error: unknown) => this.update({ notice: errorNotice(error) }),
			);
			return;
		}
		this.run(this.records.get(sessionId) ?? finding.session, phase);
	}

	/** Leaves every remaining interrupted session as it is (they stay in the sessions pane). */
	leaveInterrupted(): void {
		if (this.state.interrupted.length > 0) this.update({ interrupted: [] });
	}

	// ------------------------------------------------------------------ recovery drills

	private get stateDir(): string {
		return this.options.stateDir ?? path.dirname(this.engine.journal.dir);
	}

	/** Checks a drill of these VMs, changing nothing; throws the engine's error (shown in the dialog). */
	async proposeDrill(targets: DrillTarget[], settings: { concurrency: number; timeoutSeconds: number }, id?: string): Promise<PreparedDrill> {
		const { prepareDrill } = await import('../drill/index.ts');
		await this.engineReady;
		return prepareDrill(this.engine, drillSpecOf(targets, settings), id);
	}

	/** Runs a checked drill in the background: its listr2 tree and milestones land in `drill`. */
	runDrill(prepared: PreparedDrill): void {
		if (this.drillRun) {
			this.notify({ level: 'error', text: `drill ${this.state.drill?.id ?? ''} is still running in this console`, hint: 'wait for it to end' });
			return;
		}
		const controller = new AbortController();
		const patch = (change: (drill: LiveDrill) => Partial<LiveDrill>, urgent = true): void => {
			const current = this.state.drill;
			if (current?.id === prepared.id) this.update({ drill: { ...current, ...change(current) } }, urgent);
		};
		this.update({ drill: { id: prepared.id, vms: prepared.report.vms.map((vm) => ({ vm: vm.vm, drillName: vm.drillName })), tree: [], running: true, milestones: {}, report: null, error: null, startedAt: Date.now() } });
		const done = import('../drill/index.ts')
			.then(({ runDrill }) =>
				runDrill({
					engine: this.engine,
					stateDir: this.stateDir,
					drill: prepared,
					renderer: InkTaskRenderer,
					rendererOptions: { throttleMs: 50, onUpdate: (tree) => patch(() => ({ tree }), false) } satisfies InkTaskRendererOptions,
					signal: controller.signal,
					onEvent: (event) => {
						if (event.type === 'drill-vm') patch((drill) => ({ milestones: { ...drill.milestones, [event.vm]: { milestone: event.milestone, detail: event.detail, report: event.report } } }));
					},
				}),
			)
			.then(
				(report: DrillReport) => patch(() => ({ running: false, report })),
				(error: unknown) => {
					patch(() => ({ running: false, error: toUiError(error) }));
					this.update({ notice: errorNotice(error) });
				},
			)
			.finally(() => {
				this.drillRun = null;
				void this.loadDrillHistory();
				void this.poll();
			});
		this.drillRun = { controller, done };
	}

	/** Past drills, newest first, into `drillHistory`. */
	async loadDrillHistory(): Promise<void> {
		try {
			const { listDrills } = await import('../drill/index.ts');
			const { drills, problems } = await listDrills(this.stateDir);
			this.update({ drillHistory: { drills, problems, error: null } });
		} catch (error) {
			this.update({ drillHistory: { drills: [], problems: [], error: toUiError(error) } });
		}
	}

	/** One drill's report, with the tail of each VM's serial evidence (lab). */
	async readDrillReport(id: string): Promise<{ report: DrillReport; evidence: Record<string, string[]> } | null> {
		const { readDrill, drillDir } = await import('../drill/index.ts');
		const report = await readDrill(this.stateDir, id);
		if (!report) return null;
		const evidence: Record<string, string[]> = {};
		const { readFile } = await import('node:fs/promises');
		for (const vm of report.vms) {
			if (vm.evidence?.kind !== 'serial-tail') continue;
			const text = await readFile(path.join(drillDir(this.stateDir, id), vm.evidence.file), 'utf8').catch(() => null);
			if (text !== null) evidence[vm.vm] = text.split('\n').filter((line) => line.trim() !== '').slice(-6);
		}
		return { report, evidence };
	}

	async runLabSetup(): Promise<void> {
		const setup = this.options.labSetup;
		if (!setup || this.state.setup?.running) return;
		this.update({ setup: { running: true, message: 'Starting', fraction: 0, error: null } });
		try {
			await setup.run((message, fraction) => {
				this.update({ setup: { running: true, message, fraction: fraction ?? this.state.setup?.fraction ?? null, error: null } }, false);
			});
			this.update({ setup: null, phase: 'ready' });
			await this.refresh();
		} catch (error) {
			this.update({ setup: { running: false, message: 'lab init failed', fraction: null, error: toUiError(error) } });
		}
	}

	/**
	 * Stops polling and stops waiting for this console's operations. The host carries on with
	 * whatever it was doing (a VM, a block job); the journal says where each step stood.
	 */
	async close(): Promise<void> {
		this.closed = true;
		if (this.pollTimer) clearInterval(this.pollTimer);
		if (this.watchDebounce) clearTimeout(this.watchDebounce);
		if (this.notifyTimer) clearTimeout(this.notifyTimer);
		this.watcher?.close();
		// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when the engine never loaded
		this.engine?.off('event', this.onEngineEvent);
		for (const run of this.runs.values()) run.controller.abort();
		// A drill cut short leaves its sessions marked as a drill: the next console offers to roll them back.
		this.drillRun?.controller.abort();
		const settled = Promise.allSettled([...this.runs.values(), ...(this.drillRun ? [this.drillRun] : [])].map((run) => run.done));
		await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
		await this.polling?.catch(() => undefined);
	}
}
