// What the panes' keys do: a handler for every action the keymap binds in each pane context.
// They read the latest view state and snapshot (several keys can arrive before a re-render),
// change the view, open dialogs, and call the store's actions; refusals say why, and what
// can be done instead, in the status line.
import { PHASE_STATES, allowedPhases, vmShouldRun } from '../restore/session.ts';
import type { DrillTarget } from './drills.ts';
import type { KeyTarget } from './keys.tsx';
import type { ActionId, Handlers, PaneContext } from './keymap.ts';
import { clamp, copying, driverLabel, sessionHealth, type SessionView } from './model.ts';
import type { ConsoleActions, ConsoleState } from './store.ts';
import { runningOperations } from './state/runs.ts';
import { FOCUS_ORDER, drillViewLines, paneContext, type Modal, type ViewHandle } from './view.ts';
import { detailLines } from './components/DetailPane.tsx';

export interface PaneLayout {
	columns: number;
	/** Rows of the backups pane's window (a page). */
	backupRows: number;
	/** Sessions the sessions pane shows at once (a page). */
	sessionRows: number;
	/** Lines of the detail pane's window (a page). */
	detailRows: number;
	now: number;
}

export interface PaneCommandsOptions extends ViewHandle {
	getState: () => ConsoleState;
	actions: ConsoleActions;
	layout: PaneLayout;
	quit: () => void;
	/** False while a dialog, the filter, the lab offer or the interrupted sessions take the keys. */
	active: () => boolean;
}

type PaneHandlers = { readonly [C in PaneContext]: Handlers<C> };

/** Moving about does not end what a message says; any other key starts the next action. */
const KEEPS_NOTICE: ReadonlySet<ActionId> = new Set(['up', 'down', 'pageUp', 'pageDown', 'first', 'last', 'nextPane', 'previousPane', 'warnings', 'help', 'dismiss']);

/** A finalize still before step 6 (what x can give up). */
function cancellable(view: SessionView): boolean {
	const { record } = view;
	const finalizing = record.state === 'finalizing' || (record.state === 'failed' && record.failedPhase === 'finalize');
	return finalizing && record.steps.find((step) => step.id === 'apply-changes')?.status === 'pending';
}

/** The commands not offered for the selected session (the footer leaves them out). */
export function notOffered(selected: SessionView | undefined, hiddenFinished: number, showFinished: boolean, warningCount: number): Set<string> {
	const hidden = new Set<string>();
	const health = selected ? sessionHealth(selected) : null;
	const phases = selected ? allowedPhases(selected.record) : [];
	// With nothing selected the keys stay listed: pressing one says how to select a session.
	if (selected && (health === 'elsewhere' || health === 'vm-down' || !phases.includes('finalize'))) hidden.add('finalize');
	if (selected && (health === 'elsewhere' || !phases.includes('stop'))) hidden.add('stop');
	if (health !== 'vm-down') hidden.add('restartVm');
	if (!selected || !cancellable(selected)) hidden.add('cancelFinalize');
	if (!selected || !copying(selected)) for (const action of ['faster', 'slower', 'pauseCopy']) hidden.add(action);
	if (hiddenFinished === 0 && !showFinished) hidden.add('showFinished');
	if (warningCount === 0) hidden.add('warnings');
	return hidden;
}

/** The panes' key target: its context follows the focus, key after key. */
export function paneKeys(options: PaneCommandsOptions): KeyTarget {
	const handlers = paneHandlers(options);
	const context = (): PaneContext => paneContext(options.view.current);
	return {
		context,
		run: (action: ActionId) => {
			if (!KEEPS_NOTICE.has(action)) options.actions.notices.dismissError();
			(handlers[context()] as Partial<Record<ActionId, () => void>>)[action]?.();
		},
		active: options.active,
		replay: true,
	};
}

function paneHandlers({ view, set, derive, getState, actions, layout, quit }: PaneCommandsOptions): PaneHandlers {
	const notify = actions.notices.notify.bind(actions.notices);
	const setModal = (modal: Modal): void => set({ modal });

	const selectSession = (index: number): void => {
		const list = derive().sessions;
		const target = list[clamp(index, 0, list.length - 1)];
		if (target) set({ selectedId: target.record.id, detailScroll: 0, detailView: 'session' });
	};

	const requestPhase = (phase: 'finalize' | 'stop'): void => {
		const { selected } = derive();
		if (!selected) {
			notify({ level: 'error', text: 'no session selected', hint: 'Tab to the sessions pane and pick one' });
			return;
		}
		const { record } = selected;
		const health = sessionHealth(selected);
		if (health === 'elsewhere' && selected.driver) {
			notify({ level: 'error', text: `${record.vm} is driven by ${driverLabel(selected.driver)} since ${selected.driver.startedAt}`, hint: 'its progress shows here; wait for it to end' });
			return;
		}
		if (health === 'vm-down' && phase === 'finalize') {
			notify({ level: 'error', text: `${record.vm}'s VM is ${selected.status?.vm ?? 'off'} but should be running: finalize would start it again unseen`, hint: 'R restarts it (no write is lost), s rolls the restore back' });
			return;
		}
		const can = allowedPhases(record);
		if (!can.includes(phase)) {
			notify({
				level: 'error',
				text: `${record.vm} is ${record.state}: it cannot be ${phase === 'stop' ? 'stopped' : 'finalized'} now`,
				hint: can.length > 0 ? `it can be: ${can.map((candidate) => (candidate === 'stop' ? 'stopped (s)' : candidate === 'finalize' ? 'finalized (f)' : 'started again (Enter on its restore point)')).join(', ')}` : 'nothing left to do',
			});
			return;
		}
		// A phase that has reached its end state is only releasing its locks: the next one queues behind it.
		const running = getState().runs.live[record.id];
		if (selected.live && running && PHASE_STATES[running.phase].during === record.state) {
			notify({ level: 'error', text: `${record.vm}: ${running.phase} is running in this console`, hint: 'wait for it to end' });
			return;
		}
		setModal({ kind: phase, sessionId: record.id });
	};

	/** +/-/p: the selected session's running copy, whoever drives it (this console, another, a headless finalize). */
	const controlCopy = (change: 'faster' | 'slower' | 'pause'): void => {
		const { selected } = derive();
		if (!selected || !copying(selected)) {
			notify({ level: 'error', text: selected ? `${selected.record.vm} has no copy running (step 5 of a finalize)` : 'no session selected', hint: selected ? 'f finalizes it, with a rate limit to choose' : 'Tab to the sessions pane and pick one' });
			return;
		}
		actions.restores.controlCopy(selected.record.id, change);
	};

	const requestRestart = (): void => {
		const { selected } = derive();
		if (!selected || sessionHealth(selected) !== 'vm-down' || !vmShouldRun(selected.record)) {
			notify({ level: 'error', text: selected ? `${selected.record.vm}: its VM is not down, nothing to restart` : 'no session selected', hint: null });
			return;
		}
		actions.restores.restartVm(selected.record.id);
	};

	const requestQuit = (): void => {
		const { runs, drills } = getState();
		if (runningOperations(runs).length > 0 || drills.current?.running) setModal({ kind: 'quit' });
		else quit();
	};

	const moveBackups = (delta: number): void => {
		const { cursor, rowsOfBackups } = derive();
		set({ backupCursor: clamp(cursor + delta, 0, Math.max(0, rowsOfBackups.length - 1)) });
	};

	/** Enter: a point opens the start form; a VM shows (or hides) its restore points. */
	const openBackupRow = (): void => {
		const { cursor, rowsOfBackups } = derive();
		const row = rowsOfBackups[cursor];
		if (!row) return;
		if (row.kind === 'point') {
			setModal({ kind: 'start', point: row.point });
			return;
		}
		const next = new Set(view.current.expanded);
		if (next.has(row.group.vm)) next.delete(row.group.vm);
		else next.add(row.group.vm);
		set({ expanded: next });
	};

	/** →: shows a VM's restore points, or steps into them when they are shown; nothing on a point. */
	const expandBackupRow = (): void => {
		const { cursor, rowsOfBackups } = derive();
		const row = rowsOfBackups[cursor];
		if (row?.kind === 'vm' && row.expanded) moveBackups(1);
		else if (row?.kind !== 'point') openBackupRow();
	};

	const collapseBackupRow = (): void => {
		const { cursor, rowsOfBackups } = derive();
		const row = rowsOfBackups[cursor];
		if (!row) return;
		const vm = row.group.vm;
		if (!view.current.expanded.has(vm)) return;
		const next = new Set(view.current.expanded);
		next.delete(vm);
		const vmRow = rowsOfBackups.findIndex((candidate) => candidate.kind === 'vm' && candidate.group.vm === vm);
		set({ expanded: next, backupCursor: Math.max(0, vmRow) });
	};

	const scrollDetail = (delta: number): void => {
		const { selected } = derive();
		const state = getState();
		const width = layout.columns - 2;
		const total = view.current.detailView === 'session' ? detailLines(selected, selected ? state.runs.live[selected.record.id] : undefined, width, layout.now).length : drillViewLines(view.current, state, width, layout.detailRows, layout.now).length;
		const max = Math.max(0, total - layout.detailRows);
		// A view opened at its end (a serial console) scrolls from there.
		set({ detailScroll: clamp(Math.min(view.current.detailScroll, max) + delta, 0, max) });
	};

	/** Space: marks (or unmarks) the VM of the row for a drill — at the point, on a point row. */
	const toggleMark = (): void => {
		const { cursor, rowsOfBackups } = derive();
		const row = rowsOfBackups[cursor];
		if (!row) return;
		const next = new Map(view.current.marked);
		const point = row.kind === 'point' ? row.point.id : 'latest';
		if (next.get(row.group.vm) === point || (row.kind === 'vm' && next.has(row.group.vm))) next.delete(row.group.vm);
		else next.set(row.group.vm, point);
		set({ marked: next });
		if (row.kind === 'vm') moveBackups(1);
	};

	/** The marked VMs, or the VM (or point) under the cursor, or the selected session's. */
	const targetsOfKey = (): DrillTarget[] => {
		const marked: DrillTarget[] = [...view.current.marked].map(([vm, point]) => ({ vm, point }));
		if (marked.length > 0) return marked;
		const { cursor, rowsOfBackups, selected } = derive();
		const row = view.current.focus === 'backups' ? rowsOfBackups[cursor] : undefined;
		if (row) return [{ vm: row.group.vm, point: row.kind === 'point' ? row.point.id : 'latest' }];
		return selected ? [{ vm: selected.record.source.vm, point: selected.record.source.pointId }] : [];
	};

	/** A console runs one plan (drill or site recovery) at a time: says so when one is running. */
	const planRunning = (): boolean => {
		const drill = getState().drills.current;
		if (drill?.running) notify({ level: 'error', text: `${drill.kind === 'recovery' ? 'site recovery' : 'drill'} ${drill.id} is still running in this console`, hint: 'wait for it to end (H shows past drills)' });
		return drill?.running === true;
	};

	/** d: a drill of the marked VMs, or of the VM (or point) under the cursor. */
	const requestDrill = (): void => {
		if (planRunning()) return;
		const targets = targetsOfKey();
		if (targets.length === 0) {
			notify({ level: 'error', text: 'nothing to drill', hint: 'mark VMs with Space in the backups pane, then press d' });
			return;
		}
		setModal({ kind: 'drill', targets });
	};

	/** S: a site recovery of the marked VMs (or the one under the cursor), under their own names. */
	const requestSiteStart = (): void => {
		if (planRunning()) return;
		const targets = targetsOfKey();
		if (targets.length === 0) notify({ level: 'error', text: 'nothing to recover', hint: 'mark VMs with Space in the backups pane, then press S' });
		else setModal({ kind: 'site', targets });
	};

	/** A: finalize the marked VMs' sessions at once (none marked: every session running from its backup). */
	const requestFinalizeMany = (): void => {
		const marked = view.current.marked;
		const open = getState().sessions.views.filter((candidate) => candidate.record.state === 'running' && !actions.restores.isLive(candidate.record.id));
		const chosen = marked.size > 0 ? open.filter((candidate) => marked.has(candidate.record.vm)) : open;
		if (chosen.length === 0) {
			notify({ level: 'error', text: marked.size > 0 ? 'no marked VM runs from its backup' : 'no session runs from its backup', hint: marked.size > 0 ? 'start them first (S), or unmark them (Space)' : 'start one first (Enter, or S for the marked VMs)' });
			return;
		}
		setModal({ kind: 'finalizeMany', sessionIds: chosen.map((candidate) => candidate.record.id) });
	};

	/** H: the drill history, or back from it (to this console's drill when there is one). */
	const toggleHistory = (): void => {
		if (view.current.detailView === 'history' || view.current.detailView === 'report') {
			set({ detailView: getState().drills.current ? 'drill' : 'session', detailScroll: 0 });
			return;
		}
		set({ detailView: 'history', historyCursor: 0, detailScroll: 0, focus: 'detail', report: null });
		void actions.drills.loadHistory();
	};

	const openReport = (): void => {
		const drill = getState().drills.history?.drills[view.current.historyCursor];
		if (!drill) return;
		actions.drills.readReport(drill.id).then(
			(found) => {
				if (found && view.current.detailView === 'history') set({ detailView: 'report', report: found, detailScroll: 0 });
				else if (!found) notify({ level: 'error', text: `drill ${drill.id} has no report any more`, hint: 'H reads the history again' });
			},
			(error: unknown) => notify({ level: 'error', text: (error as Error).message, hint: null }),
		);
	};

	const moveHistory = (to: (cursor: number, last: number) => number): void => {
		const last = Math.max(0, (getState().drills.history?.drills.length ?? 0) - 1);
		set({ historyCursor: clamp(to(view.current.historyCursor, last), 0, last) });
	};

	/** c: the selected session's VM screen in the detail pane (its end first), or back to the task tree. */
	const toggleScreen = (): void => {
		if (view.current.detailView === 'screen') {
			set({ detailView: 'session', detailScroll: 0 });
			return;
		}
		const { selected } = derive();
		if (!selected) {
			notify({ level: 'error', text: 'no session selected', hint: 'select one in the sessions pane (Tab), then press c' });
			return;
		}
		actions.screen.show(selected.record.id);
		set({ detailView: 'screen', detailScroll: Number.MAX_SAFE_INTEGER, focus: 'detail' });
	};

	/** v: the host's VMs in the detail pane, or back to the task tree. */
	const toggleHostVms = (): void => {
		if (view.current.detailView === 'host') {
			set({ detailView: 'session', detailScroll: 0 });
			return;
		}
		actions.hostVms.show();
		set({ detailView: 'host', hostCursor: 0, detailScroll: 0, focus: 'detail' });
	};
	const selectedHostVm = (): string | undefined => getState().hostVms.vms?.[view.current.hostCursor]?.name;
	const moveHost = (to: (cursor: number, last: number) => number): void => {
		const last = Math.max(0, (getState().hostVms.vms?.length ?? 0) - 1);
		set({ hostCursor: clamp(to(view.current.hostCursor, last), 0, last) });
	};
	const hostKeys = {
		up: () => moveHost((cursor) => cursor - 1),
		down: () => moveHost((cursor) => cursor + 1),
		first: () => moveHost(() => 0),
		last: () => moveHost((_cursor, last) => last),
		powerOn: () => {
			const vm = selectedHostVm();
			if (vm) actions.hostVms.setPower(vm, true);
		},
		// Off is a pulled plug: it is confirmed.
		powerOff: () => {
			const vm = selectedHostVm();
			if (vm) setModal({ kind: 'powerOff', vm });
		},
	};

	/** x: the selected session's finalize given up before step 6. */
	const cancelFinalize = (): void => {
		const { selected } = derive();
		if (!selected) {
			notify({ level: 'error', text: 'no session selected', hint: 'select one in the sessions pane (Tab), then press x' });
			return;
		}
		if (!cancellable(selected)) {
			notify({ level: 'error', text: `${selected.record.vm} has no finalize to cancel before step 6`, hint: null });
			return;
		}
		actions.restores.cancelFinalize(selected.record.id);
	};

	const stepFocus = (step: number): void => {
		const at = FOCUS_ORDER.indexOf(view.current.focus);
		set({ focus: FOCUS_ORDER[(at + step + FOCUS_ORDER.length) % FOCUS_ORDER.length] ?? 'backups' });
	};

	const everywhere = {
		finalize: () => requestPhase('finalize'),
		stop: () => requestPhase('stop'),
		drill: requestDrill,
		siteStart: requestSiteStart,
		finalizeMany: requestFinalizeMany,
		history: toggleHistory,
		nextPane: () => stepFocus(1),
		previousPane: () => stepFocus(-1),
		filter: () => set({ editingFilter: true }),
		refresh: () => void actions.refresh(),
		help: () => setModal({ kind: 'help' }),
		warnings: () => setModal({ kind: 'warnings' }),
		hostVms: toggleHostVms,
		restartVm: requestRestart,
		quit: requestQuit,
	};
	const toggleFinished = (): void => set({ showFinished: !view.current.showFinished });
	const copyKeys = { faster: () => controlCopy('faster'), slower: () => controlCopy('slower'), pauseCopy: () => controlCopy('pause') };
	const dismiss = (): void => {
		if (getState().notices.notice) actions.notices.dismiss();
		else if (view.current.filter) set({ filter: '', backupCursor: 0 });
	};
	const scroll = {
		up: () => scrollDetail(-1),
		down: () => scrollDetail(1),
		pageUp: () => scrollDetail(-layout.detailRows),
		pageDown: () => scrollDetail(layout.detailRows),
	};
	const backupPage = Math.max(1, layout.backupRows - 1);

	return {
		backups: {
			...everywhere,
			dismiss,
			up: () => moveBackups(-1),
			down: () => moveBackups(1),
			pageUp: () => moveBackups(-backupPage),
			pageDown: () => moveBackups(backupPage),
			first: () => set({ backupCursor: 0 }),
			last: () => set({ backupCursor: derive().rowsOfBackups.length - 1 }),
			expand: expandBackupRow,
			open: openBackupRow,
			collapse: collapseBackupRow,
			mark: toggleMark,
		},
		sessions: {
			...everywhere,
			dismiss,
			up: () => selectSession(derive().sessionCursor - 1),
			down: () => selectSession(derive().sessionCursor + 1),
			pageUp: () => selectSession(derive().sessionCursor - layout.sessionRows),
			pageDown: () => selectSession(derive().sessionCursor + layout.sessionRows),
			first: () => selectSession(0),
			last: () => selectSession(derive().sessions.length - 1),
			showTaskTree: () => set({ focus: 'detail', detailView: 'session', detailScroll: 0 }),
			showFinished: toggleFinished,
			screen: toggleScreen,
			cancelFinalize,
			...copyKeys,
		},
		detail: { ...everywhere, ...scroll, dismiss, showFinished: toggleFinished, screen: toggleScreen, cancelFinalize, ...copyKeys },
		history: {
			...everywhere,
			dismiss,
			up: () => moveHistory((cursor) => cursor - 1),
			down: () => moveHistory((cursor) => cursor + 1),
			first: () => moveHistory(() => 0),
			last: () => moveHistory((_cursor, last) => last),
			openReport,
		},
		host: { ...everywhere, ...hostKeys, dismiss },
		report: { ...everywhere, ...scroll, backToHistory: () => set({ detailView: 'history', report: null, detailScroll: 0 }) },
	};
}
