// Every session on this host, also those a headless command or another console runs: the
// journal is polled (and watched, so other processes' steps show without waiting for a poll),
// the host asked how each open session's VM is doing, and the bytes other processes journal
// every second turned into a rate and ETA. The engine's events bring this console's own runs.
import { watch, type FSWatcher } from 'node:fs';
import { hostname } from 'node:os';
import type { EngineEvent } from '../../restore/engine.ts';
import type { RuntimeStatus } from '../../hosts/host.ts';
import { ProgressMeter } from '../../restore/progress.ts';
import { isTerminal, type SessionRecord } from '../../restore/session.ts';
import { runningStep, sortSessions, toUiError, type Driver, type SessionView, type StepProgress } from '../model.ts';
import type { EngineLink } from './engine-link.ts';
import type { NoticesSlice } from './notices.ts';
import { Slice, type ChangeFeed } from './slice.ts';

export interface SessionsState {
	views: SessionView[];
	journalProblems: string[];
}

/**
 * The lock names this process: a run of this console that has just ended (the poll read the lock
 * before it was released) — not another driver. Unknown until the next poll.
 */
function ownProcess(driver: Driver | null | undefined): boolean {
	return driver !== null && driver !== undefined && driver.pid === process.pid && driver.hostname === hostname();
}

/** How long other processes' journal writes are gathered into one poll. */
const WATCH_GATHER_MS = 500;

export class SessionsSlice extends Slice<SessionsState> {
	private readonly records = new Map<string, SessionRecord>();
	private readonly statuses = new Map<string, { status: RuntimeStatus | null; error: string | null; driver: Driver | null }>();
	private readonly progress = new Map<string, StepProgress & { from: 'console' | 'journal' | 'host' }>();
	/** Rate/ETA of operations this console does not run: from the bytes another process journals, or the host's own job. */
	private readonly meters = new Map<string, { step: string; from: 'journal' | 'host'; meter: ProgressMeter }>();
	private pollTimer: NodeJS.Timeout | null = null;
	private polling: Promise<void> | null = null;
	private watcher: FSWatcher | null = null;
	private watchDebounce: NodeJS.Timeout | null = null;
	private closed = false;

	constructor(
		feed: ChangeFeed,
		private readonly link: EngineLink,
		private readonly notices: NoticesSlice,
		/** Whether this console runs a phase of the session right now (its events are newer than the journal). */
		private readonly isLive: (sessionId: string) => boolean,
	) {
		super(feed, { views: [], journalProblems: [] });
	}

	record(sessionId: string): SessionRecord | undefined {
		return this.records.get(sessionId);
	}

	/** A record this console has newer than the journal (a start just begun, a phase just ended). */
	remember(record: SessionRecord): void {
		this.records.set(record.id, record);
	}

	/** A phase of this console has ended: its progress is stale. */
	forgetProgress(sessionId: string): void {
		this.progress.delete(sessionId);
	}

	handleEvent(event: EngineEvent): void {
		switch (event.type) {
			case 'session':
				this.records.set(event.session.id, event.session);
				this.publish();
				break;
			case 'progress':
				this.progress.set(event.session, { step: event.step, done: event.done, total: event.total, rate: event.rate, etaSeconds: event.etaSeconds, from: 'console' });
				this.publish(false);
				break;
			case 'warning':
				this.notices.info(event.message);
				break;
			case 'step':
				// The 'session' event that accompanies every step carries the same facts.
				break;
		}
	}

	/** The journal and the host again. One poll at a time: a slow host must not pile up status calls. */
	poll(): Promise<void> {
		this.polling ??= this.load().finally(() => {
			this.polling = null;
		});
		return this.polling;
	}

	startPolling(intervalMs: number): void {
		this.pollTimer = setInterval(() => void this.poll(), intervalMs);
		this.pollTimer.unref?.();
	}

	/**
	 * fs.watch on the journal folder makes other processes' steps show without waiting for a poll.
	 * Their writes are gathered for half a second: a process copying journals its progress every
	 * second, and with a few of them each write would be a poll and a frame (≈ 30 ms of CPU on a
	 * small machine, taken from the keys).
	 */
	watch(): void {
		try {
			this.watcher = watch(this.link.engine.journal.dir, () => {
				if (this.watchDebounce) return;
				this.watchDebounce = setTimeout(() => {
					this.watchDebounce = null;
					void this.poll();
				}, WATCH_GATHER_MS);
			});
			this.watcher.on('error', () => this.watcher?.close());
			this.watcher.unref?.();
		} catch {
			// No sessions folder yet (nothing ever ran): polling covers it.
		}
	}

	/** Never throws: a failure to read the journal becomes the notice. */
	async load(): Promise<void> {
		if (this.closed) return;
		try {
			const { sessions, problems } = await this.link.engine.sessions();
			const seen = new Set<string>();
			for (const record of sessions) {
				seen.add(record.id);
				const known = this.records.get(record.id);
				const live = this.isLive(record.id);
				// Our own runs report through events first; a journal read can be a moment older.
				if (!known || !live || record.updatedAt >= known.updatedAt) this.records.set(record.id, record);
			}
			for (const id of [...this.records.keys()]) if (!seen.has(id) && !this.isLive(id)) this.records.delete(id);
			// What a poll finds is drawn with the next frame (at most every notifyMs), never on its own.
			this.update({ journalProblems: problems }, false);
			await this.loadStatuses();
			for (const record of sessions) if (!this.isLive(record.id)) this.trackForeignProgress(record);
		} catch (error) {
			this.notices.notify({ level: 'error', text: `cannot read the sessions: ${toUiError(error).message}`, hint: 'check the state folder (--state-dir), then press r' });
		}
		this.publish(false);
	}

	private async loadStatuses(): Promise<void> {
		for (const record of this.records.values()) {
			if (this.closed) return;
			if (isTerminal(record)) {
				this.statuses.delete(record.id);
				continue;
			}
			const driver = await this.link.engine.driverOf(record).catch(() => null);
			try {
				this.statuses.set(record.id, { status: await this.link.engine.status(record), error: null, driver });
			} catch (error) {
				this.statuses.set(record.id, { status: null, error: toUiError(error).message, driver });
			}
		}
	}

	/**
	 * Progress of a step this console does not run. While a live process drives it, that
	 * process journals bytesDone/bytesTotal every second; when none does (it died mid-copy),
	 * the journal's number is stale and the host's own job (QEMU's, which goes on) is the truth.
	 */
	private trackForeignProgress(record: SessionRecord): void {
		const step = runningStep(record);
		const known = this.statuses.get(record.id);
		const job = known && known.driver === null ? known.status?.job : null;
		const source = isTerminal(record) || !step ? null : job && job.total > 0 ? { from: 'host' as const, done: job.done, total: job.total, at: Date.now() } : step.bytesTotal !== null && step.bytesDone !== null ? { from: 'journal' as const, done: step.bytesDone, total: step.bytesTotal, at: Date.parse(record.updatedAt) } : null;
		if (!step || !source) {
			this.meters.delete(record.id);
			this.progress.delete(record.id);
			return;
		}
		let entry = this.meters.get(record.id);
		if (entry?.step !== step.id || entry.from !== source.from) {
			entry = { step: step.id, from: source.from, meter: new ProgressMeter(10_000) };
			this.meters.set(record.id, entry);
		}
		const snapshot = entry.meter.update(source.done, source.total, source.at);
		this.progress.set(record.id, { step: step.id, ...snapshot, from: source.from });
	}

	/** The views React draws, from the records, statuses and progress known now. */
	publish(urgent = true): void {
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
				progress: progress && current?.id === progress.step && !isTerminal(record) ? progress : null,
				progressFrom: progress?.from,
				live: this.isLive(record.id),
				driver: isTerminal(record) ? null : ownProcess(status?.driver) ? undefined : status?.driver,
				copy: record.state === 'finalizing' ? this.link.engine.controls.read(record.id) : null,
			});
		}
		this.update({ views: sortSessions(views) }, urgent);
	}

	/** Stops polling and watching; settles when a poll under way has ended. */
	stop(): void {
		this.closed = true;
		if (this.pollTimer) clearInterval(this.pollTimer);
		if (this.watchDebounce) clearTimeout(this.watchDebounce);
		this.watcher?.close();
	}

	async settled(): Promise<void> {
		await this.polling?.catch(() => undefined);
	}
}
