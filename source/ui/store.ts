// The console's controller: the one place that talks to the Engine, as a few slices of state
// (source/ui/state/) behind this facade. Each slice keeps its part outside React and replaces
// it on change; getState() is a snapshot of all of them, and `actions` is what components may
// ask for — they get the slice they draw and the actions they need, never the store.
import path from 'node:path';
import type { Engine, EngineEvent } from '../restore/engine.ts';
import { CatalogSlice, type CatalogState } from './state/catalog.ts';
import { DrillsSlice, type DrillActions, type DrillsState } from './state/drills.ts';
import { EngineLink } from './state/engine-link.ts';
import { InterruptedSlice, type InterruptedActions, type InterruptedState } from './state/interrupted.ts';
import { NoticesSlice, type NoticeActions, type NoticesState } from './state/notices.ts';
import { RunsSlice, type RestoreActions, type RunsState } from './state/runs.ts';
import { HostVmsSlice, type HostVmsActions, type HostVmsState } from './state/host-vms.ts';
import { ScreenSlice, type ScreenActions, type ScreenState } from './state/screen.ts';
import { SessionsSlice, type SessionsState } from './state/sessions.ts';
import { SetupSlice, type LabSetup, type SetupActions, type SetupState } from './state/setup.ts';
import { ChangeFeed } from './state/slice.ts';

export type { LabSetup } from './state/setup.ts';

export interface ConsoleState {
	catalog: CatalogState;
	sessions: SessionsState;
	runs: RunsState;
	interrupted: InterruptedState;
	drills: DrillsState;
	setup: SetupState;
	notices: NoticesState;
	screen: ScreenState;
	hostVms: HostVmsState;
}

export interface ConsoleActions {
	/** `r`: everything again, including the catalog (which is not polled: it can be large). */
	refresh(): Promise<void>;
	notices: NoticeActions;
	restores: RestoreActions;
	interrupted: InterruptedActions;
	drills: DrillActions;
	setup: SetupActions;
	/** `c`: a session's VM screen (serial console or thumbnail), read again while shown. */
	screen: ScreenActions;
	/** `v`: the host's VMs, read again while shown, with power on/off. */
	hostVms: HostVmsActions;
}

export interface ConsoleStoreOptions {
	/** How often the journal and the host are polled (ms). */
	pollMs?: number;
	labSetup?: LabSetup;
	/** Minimum time between two notifications (ms): progress events arrive many times a second. */
	notifyMs?: number;
	/** The state folder (drills are kept under it); default: the journal's parent folder. */
	stateDir?: string;
	/** How often a shown VM screen is read again (ms). */
	screenMs?: number;
}

export class ConsoleStore {
	readonly actions: ConsoleActions;
	private readonly feed: ChangeFeed;
	private readonly link: EngineLink;
	private readonly notices: NoticesSlice;
	private readonly catalog: CatalogSlice;
	private readonly sessions: SessionsSlice;
	private readonly runs: RunsSlice;
	private readonly interrupted: InterruptedSlice;
	private readonly drills: DrillsSlice;
	private readonly setup: SetupSlice;
	private readonly screen: ScreenSlice;
	private readonly hostVms: HostVmsSlice;
	private snapshot: ConsoleState;
	private readonly onEngineEvent = (event: EngineEvent): void => this.sessions.handleEvent(event);

	constructor(
		engine: Engine | Promise<Engine>,
		private readonly options: ConsoleStoreOptions = {},
	) {
		const feed = (this.feed = new ChangeFeed(options.notifyMs ?? 100));
		const link = (this.link = new EngineLink(engine));
		this.notices = new NoticesSlice(feed, { notice: null, log: [] });
		this.catalog = new CatalogSlice(feed, link, engine instanceof Promise ? '' : engine.destination);
		this.sessions = new SessionsSlice(feed, link, this.notices, (id) => this.runs.isLive(id));
		this.runs = new RunsSlice(feed, link, this.sessions, this.notices);
		this.interrupted = new InterruptedSlice(feed, link, this.sessions, this.runs, this.notices);
		this.drills = new DrillsSlice(feed, link, () => this.options.stateDir ?? path.dirname(link.engine.journal.dir), this.sessions, this.notices);
		this.setup = new SetupSlice(feed, options.labSetup, () => this.refresh());
		this.screen = new ScreenSlice(feed, link, options.screenMs);
		this.hostVms = new HostVmsSlice(feed, link, this.notices, options.screenMs);
		link.onReady((ready) => {
			ready.on('event', this.onEngineEvent);
			this.catalog.setDestination(ready.destination);
		});
		this.snapshot = this.collect();
		this.actions = {
			refresh: () => this.refresh(),
			notices: this.notices,
			restores: this.runs,
			interrupted: this.interrupted,
			drills: this.drills,
			setup: this.setup,
			screen: this.screen,
			hostVms: this.hostVms,
		};
	}

	subscribe = (listener: () => void): (() => void) => this.feed.subscribe(listener);

	/** The same object until a slice changes (useSyncExternalStore compares by identity). */
	getState = (): ConsoleState => {
		const { snapshot } = this;
		const changed =
			snapshot.catalog !== this.catalog.state ||
			snapshot.sessions !== this.sessions.state ||
			snapshot.runs !== this.runs.state ||
			snapshot.interrupted !== this.interrupted.state ||
			snapshot.drills !== this.drills.state ||
			snapshot.setup !== this.setup.state ||
			snapshot.notices !== this.notices.state ||
			snapshot.screen !== this.screen.state ||
			snapshot.hostVms !== this.hostVms.state;
		if (changed) this.snapshot = this.collect();
		return this.snapshot;
	};

	private collect(): ConsoleState {
		return {
			catalog: this.catalog.state,
			sessions: this.sessions.state,
			runs: this.runs.state,
			interrupted: this.interrupted.state,
			drills: this.drills.state,
			setup: this.setup.state,
			notices: this.notices.state,
			screen: this.screen.state,
			hostVms: this.hostVms.state,
		};
	}

	/** First load, then polling. Never throws once the engine is there: every failure lands in the state. */
	async open(): Promise<void> {
		await this.link.ready;
		// Its warning (once per installation) lands in the notices through the engine's events.
		await this.link.engine.keepPrivate();
		await Promise.all([this.catalog.load(), this.sessions.load()]);
		await this.setup.settle(this.catalog.state.error !== null);
		this.sessions.watch();
		await this.interrupted.load();
		this.sessions.startPolling(this.options.pollMs ?? 1500);
	}

	async refresh(): Promise<void> {
		await this.link.ready;
		await Promise.all([this.catalog.load(), this.sessions.poll()]);
		this.notices.info(`Refreshed: ${this.catalog.state.pointCount} restore points, ${this.sessions.state.views.length} sessions`);
	}

	/**
	 * Stops polling and stops waiting for this console's operations. The host carries on with
	 * whatever it was doing (a VM, a block job); the journal says where each step stood.
	 */
	async close(): Promise<void> {
		this.sessions.stop();
		this.screen.hide();
		this.hostVms.hide();
		this.feed.cancel();
		this.link.loaded?.off('event', this.onEngineEvent);
		const settled = Promise.allSettled([...this.runs.abort(), ...this.drills.abort()]);
		await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
		await this.sessions.settled();
	}
}
