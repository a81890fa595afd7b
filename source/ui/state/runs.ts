// The phases this console runs (start, finalize, stop): each with listr2's live task tree,
// drawn through the Ink task renderer, and how it ended. A phase's outcome lands in the state,
// never thrown; the journal (the sessions slice) carries the same facts for everyone else.
import type { StartProposal } from '../../restore/engine.ts';
import type { StartRequest } from '../../restore/start-request.ts';
import type { Phase, SessionRecord } from '../../restore/session.ts';
import { AbortedError, EXIT, FinalizeCancelledError, RundirectError } from '../../core/errors.ts';
import type { InkTaskRendererOptions, TaskNode } from '../task-renderer.ts';
import { toUiError, type UiError } from '../model.ts';
import type { EngineLink } from './engine-link.ts';
import { errorNotice, type NoticesSlice } from './notices.ts';
import type { SessionsSlice } from './sessions.ts';
import { Slice, type ChangeFeed } from './slice.ts';

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

export interface RunsState {
	live: Readonly<Record<string, LiveRun>>;
}

export interface RestoreActions {
	/** Everything a start would do, checked; throws the engine's error (shown in the form). */
	propose(request: StartRequest): Promise<StartProposal>;
	/** Claims the VM, journals the session and runs steps 1–4 in the background; the session's id. */
	start(proposal: StartProposal): Promise<string>;
	/** `rateLimit`: bytes per second for the copy (spares production storage); default unlimited. */
	finalize(sessionId: string, rateLimit?: number): void;
	stop(sessionId: string): void;
	/** Starts again the VM of a session that should run and does not (R); the outcome is a notice. */
	restartVm(sessionId: string): void;
	/** Gives up a finalize before step 6, whichever process drives it (x): the VM runs on from its backup. */
	cancelFinalize(sessionId: string): void;
	/** Whether this console drives the session's phase now. */
	isLive(sessionId: string): boolean;
	/** Finalizes these sessions `concurrency` at once, every copy sharing `rateLimit` bytes/s (null: none). */
	finalizeMany(sessionIds: readonly string[], settings: { concurrency: number; rateLimit: number | null }): void;
	/** Changes a running copy, whichever process drives it: a step up or down the rate ladder, or pause/resume. */
	controlCopy(sessionId: string, change: 'faster' | 'slower' | 'pause'): void;
}

/** The rate limits offered (MiB/s; 0 = none), as the finalize dialog offers them. */
export const COPY_RATES = [0, 10, 50, 100, 200, 500] as const;

/** The next rate up or down the ladder from `current` bytes/s (none is above the highest). */
export function nextRate(current: number | null, change: 'faster' | 'slower'): number | null {
	const mib = current === null ? 0 : current / 2 ** 20;
	const ladder = COPY_RATES.filter((rate) => rate > 0);
	if (change === 'faster') {
		if (mib === 0) return null;
		const up = ladder.find((rate) => rate > mib + 1e-9);
		return up === undefined ? null : up * 2 ** 20;
	}
	const down = mib === 0 ? ladder[ladder.length - 1] : [...ladder].reverse().find((rate) => rate < mib - 1e-9);
	return (down ?? ladder[0] ?? 10) * 2 ** 20;
}

/** Operations this console is running (quitting would stop waiting for them). */
export function runningOperations(runs: RunsState): LiveRun[] {
	return Object.values(runs.live).filter((live) => live.running);
}

export class RunsSlice extends Slice<RunsState> implements RestoreActions {
	private readonly active = new Map<string, { controller: AbortController; done: Promise<void> }>();
	/** Finalizes of many sessions: those still waiting for a slot stop waiting on quit. */
	private readonly batches = new Set<AbortController>();
	private closed = false;

	constructor(
		feed: ChangeFeed,
		private readonly link: EngineLink,
		private readonly sessions: SessionsSlice,
		private readonly notices: NoticesSlice,
	) {
		super(feed, { live: {} });
	}

	isLive(sessionId: string): boolean {
		return this.active.has(sessionId);
	}

	async propose(request: StartRequest): Promise<StartProposal> {
		// A key pressed in the first instants may come before the engine has loaded.
		const engine = await this.link.ready;
		return engine.proposeStart(request);
	}

	async start(proposal: StartProposal): Promise<string> {
		const session = await this.link.engine.beginStart(proposal);
		this.sessions.remember(session);
		this.run(session, 'start');
		return session.id;
	}

	finalize(sessionId: string, rateLimit?: number): void {
		this.runById(sessionId, 'finalize', rateLimit);
	}

	stop(sessionId: string): void {
		this.runById(sessionId, 'stop');
	}

	/** Changes are made one after the other, each on what the last wrote: `p` then `+` typed quickly must not undo the pause. */
	private controlling: Promise<void> = Promise.resolve();

	controlCopy(sessionId: string, change: 'faster' | 'slower' | 'pause'): void {
		const vm = this.sessions.record(sessionId)?.vm ?? sessionId;
		this.controlling = this.controlling.then(async () => {
			try {
				const current = this.link.engine.controls.read(sessionId) ?? { rateLimit: null, paused: false };
				const next = await this.link.engine.controlCopy(sessionId, change === 'pause' ? { paused: !current.paused } : { rateLimit: nextRate(current.rateLimit, change) });
				this.notices.info(`${vm}'s copy: ${next.paused ? 'paused' : 'running'}, ${next.rateLimit ? `capped at ${next.rateLimit / 2 ** 20} MiB/s` : 'no cap'} (applied at its next progress poll)`);
				this.sessions.publish();
			} catch (error) {
				this.notices.notify(errorNotice(error));
			}
		});
	}

	restartVm(sessionId: string): void {
		const vm = this.sessions.record(sessionId)?.vm ?? sessionId;
		this.notices.info(`restarting ${vm}'s VM…`);
		this.link.engine.restartVm(sessionId).then(
			() => {
				this.notices.info(`${vm}'s VM runs again, on the disks it ran on (no write lost)`);
				void this.sessions.poll();
			},
			(error: unknown) => this.notices.notify(errorNotice(error)),
		);
	}

	cancelFinalize(sessionId: string): void {
		const vm = this.sessions.record(sessionId)?.vm ?? sessionId;
		this.link.engine.cancelFinalize(sessionId).then(
			(how) => {
				this.notices.info(how === 'asked' ? `asked the process driving ${vm}'s finalize to give it up…` : `${vm}'s finalize is cancelled: it runs from its backup as before`);
				void this.sessions.poll();
			},
			(error: unknown) => this.notices.notify(errorNotice(error)),
		);
	}

	private runById(sessionId: string, phase: Phase, rateLimit?: number): void {
		const record = this.sessions.record(sessionId);
		if (!record) {
			this.notices.notify({ level: 'error', text: `no session ${sessionId}`, hint: 'press r to refresh' });
			return;
		}
		this.run(record, phase, rateLimit);
	}

	finalizeMany(sessionIds: readonly string[], settings: { concurrency: number; rateLimit: number | null }): void {
		const records = sessionIds.map((id) => this.sessions.record(id)).filter((record): record is SessionRecord => record !== undefined && !this.active.has(record.id));
		if (records.length === 0) return;
		const controller = new AbortController();
		this.batches.add(controller);
		for (const record of records) this.setLive({ sessionId: record.id, phase: 'finalize', vm: record.vm, tree: [], running: true, error: null, startedAt: Date.now() });
		this.notices.info(`finalizing ${records.map((record) => record.vm).join(', ')}: ${settings.concurrency} at once, ${settings.rateLimit ? `${settings.rateLimit / 2 ** 20} MiB/s shared by the copies` : 'no rate limit'}`);
		// Each waits for a slot (finalize-many.ts), then runs as a phase of this console, with its own live tree.
		void import('../../drill/finalize-many.ts')
			.then(({ finalizeMany }) =>
				finalizeMany(this.link.engine, records, {
					...settings,
					signal: controller.signal,
					runPhase: (record, options) => this.run(record, 'finalize', options.rateLimit, controller)?.outcome ?? Promise.reject(new Error(`${record.vm} is already being driven by this console`)),
				}),
			)
			.finally(() => this.batches.delete(controller));
	}

	/** Runs a phase with the Ink task renderer; its outcome lands in the state, never thrown (the phase's own outcome is returned, null when it follows one still releasing the VM, for a caller that waits on it). */
	run(record: SessionRecord, phase: Phase, rateLimit?: number, batch?: AbortController): { outcome: Promise<SessionRecord> } | null {
		const previous = this.active.get(record.id);
		if (previous) {
			// The previous phase has done its steps and is releasing the VM's locks: follow it.
			void previous.done.then(() => {
				const latest = this.sessions.record(record.id);
				if (!this.closed && latest) this.run(latest, phase, rateLimit);
			});
			return null;
		}
		const controller = batch ?? new AbortController();
		this.setLive({ sessionId: record.id, phase, vm: record.vm, tree: [], running: true, error: null, startedAt: Date.now() });
		const rendererOptions: InkTaskRendererOptions = {
			throttleMs: 50,
			onUpdate: (tree) => {
				const current = this.state.live[record.id];
				if (current?.phase === phase) this.setLive({ ...current, tree }, false);
			},
		};
		// The renderer brings listr2, which the first frame does without: loaded when a phase first runs.
		const outcome = import('../task-renderer.ts').then(({ InkTaskRenderer }) => this.link.engine.runPhase(record.id, phase, { renderer: InkTaskRenderer, rendererOptions, signal: controller.signal, ...(rateLimit ? { rateLimit } : {}) }));
		const done = outcome
			.then(
				(session) => {
					this.sessions.remember(session);
					this.finish(record.id, null);
				},
				(error: unknown) => {
					// Refused before anything ran (another process drives it): not a failure of the session, so not kept in its tree.
					if (error instanceof RundirectError && error.exitCode === EXIT.refused) this.drop(record.id, toUiError(error));
					else if (error instanceof FinalizeCancelledError) {
						// Given up on purpose: the session runs from its backup, nothing failed; its journal's tree shows it.
						const { [record.id]: _given, ...rest } = this.state.live;
						this.update({ live: rest });
						this.notices.info(error.message);
					} else this.finish(record.id, error instanceof AbortedError ? null : toUiError(error));
				},
			)
			.finally(() => {
				this.active.delete(record.id);
				this.sessions.forgetProgress(record.id);
				this.sessions.publish();
				void this.sessions.poll();
			});
		this.active.set(record.id, { controller, done });
		this.sessions.publish();
		return { outcome };
	}

	private setLive(live: LiveRun, urgent = true): void {
		this.update({ live: { ...this.state.live, [live.sessionId]: live } }, urgent);
	}

	private drop(sessionId: string, error: UiError): void {
		const { [sessionId]: _dropped, ...rest } = this.state.live;
		this.update({ live: rest });
		this.notices.notify({ level: 'error', text: error.message, hint: error.hint });
	}

	private finish(sessionId: string, error: UiError | null): void {
		const current = this.state.live[sessionId];
		if (current) this.setLive({ ...current, running: false, error });
		if (error) this.notices.notify({ level: 'error', text: error.message, hint: error.hint });
	}

	/** Stops waiting for this console's phases; the host carries on. Settles when they have let go. */
	abort(): Promise<void>[] {
		this.closed = true;
		for (const batch of this.batches) batch.abort();
		for (const run of this.active.values()) run.controller.abort();
		return [...this.active.values()].map((run) => run.done);
	}
}
