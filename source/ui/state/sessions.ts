// Every session on this host, also those a headless command or another console runs: the
// journal is polled (and watched, so other processes' steps show without waiting for a poll),
// the host asked how each open session's VM is doing, and the bytes other processes journal
// every second turned into a rate and ETA. The engine's events bring this console's own runs.
import { watch, type FSWatcher } from 'node:fs';
import type { EngineEvent } from '../../restore/engine.ts';
import type { RuntimeStatus } from '../../hosts/host.ts';
import { ProgressMeter } from '../../restore/progress.ts';
import { isTerminal, type SessionRecord } from '../../restore/session.ts';
import { runningStep, sortSessions, toUiError, type SessionView, type StepProgress } from '../model.ts';
import type { EngineLink } from './engine-link.ts';
import type { NoticesSlice } from './notices.ts';
import { Slice, type ChangeFeed } from './slice.ts';

export interface SessionsState {
	views: SessionView[];
	journalProblems: string[];
}

export class SessionsSlice extends Slice<SessionsState> {
	private readonly records = new Map<string, SessionRecord>();
	private readonly statuses = new Map<string, { status: RuntimeStatus | null; error: string | null }>();
	private readonly progress = new Map<string, StepProgress>();
	/** Rate/ETA of operations run by other processes, from the bytes they journal every second. */
	private readonly meters = new Map<string, { step: string; meter: ProgressMeter }>();
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
				this.progress.set(event.session, { step: event.step, done: event.done, total: event.total, rate: event.rate, etaSeconds: event.etaSeconds });
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

	/** fs.watch on the journal folder makes other processes' steps show without waiting for a poll. */
	watch(): void {
		try {
			this.watcher = watch(this.link.engine.journal.dir, () => {
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
				if (!live) this.trackForeignProgress(record);
			}
			for (const id of [...this.records.keys()]) if (!seen.has(id) && !this.isLive(id)) this.records.delete(id);
			this.update({ journalProblems: problems });
			await this.loadStatuses();
		} catch (error) {
			this.notices.notify({ level: 'error', text: `cannot read the sessions: ${toUiError(error).message}`, hint: 'check the state folder (--state-dir), then press r' });
		}
		this.publish();
	}

	private async loadStatuses(): Promise<void> {
		for (const record of this.records.values()) {
			if (this.closed) return;
			if (isTerminal(record)) {
				this.statuses.delete(record.id);
				continue;
			}
			try {
				this.statuses.set(record.id, { status: await this.link.engine.status(record), error: null });
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
				progress: progress && current?.id === progress.step ? progress : null,
				live: this.isLive(record.id),
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
