// The console's view state — focus, cursors, filter, marks, which dialog is open, what the
// detail pane shows — and what is derived from it and a state snapshot. Domain state is the
// store's (source/ui/store.ts); this is only how it is looked at.
import { useReducer, useRef, type RefObject } from 'react';
import type { RestorePoint } from '../catalog/catalog.ts';
import type { DrillReport } from '../drill/index.ts';
import type { DrillTarget } from './drills.ts';
import type { Context, PaneContext } from './keymap.ts';
import { backupRows, clamp, folded, matchesFilter, type BackupRow, type SessionView, type VmBackups } from './model.ts';
import type { ConsoleState } from './store.ts';
import type { StyledLine } from './components/Line.tsx';
import { historyLines, liveDrillLines, reportLines } from './components/DrillPane.tsx';
import { screenLines } from './components/ScreenLines.ts';
import { hostVmLines } from './components/HostPane.ts';

export type Focus = 'backups' | 'sessions' | 'detail';
export const FOCUS_ORDER: readonly Focus[] = ['backups', 'sessions', 'detail'];

export type Modal = { kind: 'powerOff'; vm: string } | { kind: 'help' } | { kind: 'warnings' } | { kind: 'start'; point: RestorePoint } | { kind: 'drill' | 'site'; targets: DrillTarget[]; /** Whose keys the dialog takes now (its Checks line, or a word typed to confirm): the footer names their hints. */ keys?: 'drill' | 'drill-check' | 'confirm-typed' } | { kind: 'finalizeMany'; sessionIds: string[] } | { kind: 'finalize'; sessionId: string } | { kind: 'stop'; sessionId: string } | { kind: 'quit' } | null;

export interface ViewState {
	focus: Focus;
	modal: Modal;
	filter: string;
	editingFilter: boolean;
	expanded: ReadonlySet<string>;
	backupCursor: number;
	selectedId: string | null;
	detailScroll: number;
	backupOffset: number;
	sessionOffset: number;
	/** VMs marked for a drill (Space): VM → restore point (`latest` or an id). */
	marked: ReadonlyMap<string, string>;
	/** What the detail pane shows: the selected session's task tree, this console's drill, past drills, one drill's report, or a session's VM screen (`c`). */
	detailView: 'session' | 'drill' | 'history' | 'report' | 'screen' | 'host';
	/** The selected VM of the host pane (`v`). */
	hostCursor: number;
	historyCursor: number;
	report: { report: DrillReport; evidence: Record<string, string[]> } | null;
	/** F: finished sessions are all listed, not only the recent ones. */
	showFinished: boolean;
	/** The header's warning shown (w shows the next). */
	warningIndex: number;
}

export interface Derived {
	rowsOfBackups: BackupRow[];
	sessions: SessionView[];
	/** Finished sessions folded out of `sessions`. */
	hiddenFinished: number;
	cursor: number;
	sessionCursor: number;
	selected: SessionView | undefined;
}

export interface ViewHandle {
	/** In a ref, not in useState: keys that arrive in one chunk are handled one after the other before React re-renders, and each must see what the previous one did. */
	view: RefObject<ViewState>;
	set: (patch: Partial<ViewState>) => void;
	/** Derived from the latest view state and snapshot (not the last render's), for key handlers. */
	derive: () => Derived;
}

/** The backups tree is rebuilt only when its inputs change (5,000 rows cost a few ms). */
function memoRows(): (backups: VmBackups[], expanded: ReadonlySet<string>, filter: string) => BackupRow[] {
	let last: { backups: VmBackups[]; expanded: ReadonlySet<string>; filter: string; rows: BackupRow[] } | null = null;
	return (backups, expanded, filter) => {
		if (last?.backups !== backups || last.expanded !== expanded || last.filter !== filter) last = { backups, expanded, filter, rows: backupRows(backups, expanded, filter) };
		return last.rows;
	};
}

/** The sessions the pane lists (filtered, finished ones folded unless asked for), and how many were folded. */
function memoSessions(): (sessions: SessionView[], filter: string, showFinished: boolean, minute: number) => { shown: SessionView[]; hidden: number } {
	let last: { sessions: SessionView[]; filter: string; showFinished: boolean; minute: number; result: { shown: SessionView[]; hidden: number } } | null = null;
	return (sessions, filter, showFinished, minute) => {
		if (last?.sessions !== sessions || last.filter !== filter || last.showFinished !== showFinished || last.minute !== minute) {
			const matching = sessions.filter((candidate) => matchesFilter(filter, candidate.record.vm, candidate.record.source.vm));
			const now = minute * 60_000;
			const shown = showFinished ? matching : matching.filter((candidate) => !folded(candidate, now));
			last = { sessions, filter, showFinished, minute, result: { shown, hidden: matching.length - shown.length } };
		}
		return last.result;
	};
}

export function useView(getState: () => ConsoleState): ViewHandle {
	const view = useRef<ViewState>({ focus: 'backups', modal: null, filter: '', editingFilter: false, expanded: new Set(), backupCursor: 0, selectedId: null, detailScroll: 0, backupOffset: 0, sessionOffset: 0, marked: new Map(), detailView: 'session', hostCursor: 0, historyCursor: 0, report: null, showFinished: false, warningIndex: 0 });
	const [, rerender] = useReducer((count: number) => count + 1, 0);
	const rows = useRef(memoRows());
	const sessions = useRef(memoSessions());
	return {
		view,
		set(patch) {
			Object.assign(view.current, patch);
			rerender();
		},
		derive() {
			const current = view.current;
			const latest = getState();
			const rowsOfBackups = rows.current(latest.catalog.backups, current.expanded, current.filter);
			// Folding is decided to the minute: a list that changes with every frame cannot be followed.
			const { shown, hidden } = sessions.current(latest.sessions.views, current.filter, current.showFinished, Math.floor(Date.now() / 60_000));
			const cursor = clamp(current.backupCursor, 0, Math.max(0, rowsOfBackups.length - 1));
			const found = shown.findIndex((candidate) => candidate.record.id === current.selectedId);
			const sessionCursor = found >= 0 ? found : 0;
			return { rowsOfBackups, sessions: shown, hiddenFinished: hidden, cursor, sessionCursor, selected: shown[sessionCursor] };
		},
	};
}

/** The keymap context of the panes: the focused pane, and for the detail pane what it shows. */
export function paneContext(view: ViewState): PaneContext {
	if (view.focus !== 'detail') return view.focus;
	return view.detailView === 'history' ? 'history' : view.detailView === 'report' ? 'report' : view.detailView === 'host' ? 'host' : 'detail';
}

/** Sessions found interrupted on open, still awaiting a choice, take the screen. */
export function resuming(state: ConsoleState): boolean {
	return state.interrupted.findings.some((finding) => finding.action !== 'busy');
}

/** Whose keys the footer names: the lab offer, the interrupted sessions, the dialog, the filter, or the panes. */
export function screenContext(view: ViewState, state: ConsoleState): Context {
	if (state.setup.phase === 'no-lab') return 'lab';
	if (resuming(state)) return 'resume';
	switch (view.modal?.kind) {
		case 'drill':
		case 'site':
			return view.modal.keys ?? 'drill';
		case 'finalizeMany':
			return 'drill';
		case 'help':
			return 'help';
		case 'warnings':
			return 'warnings';
		case 'start':
			return 'start';
		case 'finalize':
			return 'finalize';
		case 'stop':
			return 'confirm-typed';
		case 'quit':
			return 'quit';
		case 'powerOff':
			return 'confirm';
		case undefined:
			return view.editingFilter ? 'filter' : paneContext(view);
	}
}

/** The detail pane's lines when it shows a drill, the drill history, a report or a VM's screen (`rows`: the pane's, for a picture). */
export function drillViewLines(view: ViewState, state: ConsoleState, width: number, rows = 20, now = Date.now()): StyledLine[] {
	const { current, history } = state.drills;
	if (view.detailView === 'host') return hostVmLines(state.hostVms, state.sessions.views, view.hostCursor, width);
	if (view.detailView === 'screen') {
		const vm = state.sessions.views.find((candidate) => candidate.record.id === state.screen.sessionId)?.record.vm ?? state.screen.sessionId ?? '';
		return screenLines(state.screen, vm, width, rows, now);
	}
	if (view.detailView === 'drill' && current) return liveDrillLines(current, width);
	if (view.detailView === 'report' && view.report) return reportLines(view.report.report, view.report.evidence, width);
	return historyLines(history, view.historyCursor, view.focus === 'detail');
}
