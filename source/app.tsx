// The console's root component: layout, focus and the key map. Domain state lives in the
// ConsoleStore (source/ui/store.ts), which talks to the Engine; this component keeps only
// view state (focus, cursors, filter, which dialog is open) and renders exactly one screen
// of rows, whatever the number of backups or sessions.
import React, { useEffect, useMemo, useReducer, useRef, useState, useSyncExternalStore } from 'react';
import { Box, Text, useApp, useInput, useWindowSize, type Key } from 'ink';
import type { RestorePoint } from './catalog/catalog.ts';
import { formatBytes } from './core/format.ts';
import { PHASE_STATES, allowedPhases, isTerminal } from './restore/session.ts';
import type { ConsoleStore } from './ui/store.ts';
import { backupRows, clamp, headerWarnings, matchesFilter, scrollOffset, type BackupRow, type SessionView, type VmBackups } from './ui/model.ts';
import { BackupsPane } from './ui/components/BackupsPane.tsx';
import { ConfirmDialog } from './ui/components/ConfirmDialog.tsx';
import { DetailPane, detailLines } from './ui/components/DetailPane.tsx';
import { Footer, type Focus } from './ui/components/Footer.tsx';
import { Header, headerRows } from './ui/components/Header.tsx';
import { HelpOverlay } from './ui/components/HelpOverlay.tsx';
import { LabSetup } from './ui/components/LabSetup.tsx';
import { paneBodyRows } from './ui/components/Pane.tsx';
import { SESSION_ROWS, SessionsPane } from './ui/components/SessionsPane.tsx';
import { StartFlow } from './ui/components/StartFlow.tsx';
import { DrillFlow } from './ui/components/DrillFlow.tsx';
import { DrillPane, historyLines, liveDrillLines, reportLines } from './ui/components/DrillPane.tsx';
import { RESUME_HINTS, ResumeDialog } from './ui/components/ResumeDialog.tsx';
import type { DrillReport } from './drill/index.ts';
import type { DrillTarget } from './ui/drills.ts';
import type { StyledLine } from './ui/components/Line.tsx';

export interface AppProps {
	store: ConsoleStore;
	/** A fixed size (tests, benchmarks); otherwise the terminal's, following resizes. */
	size?: { columns: number; rows: number };
	/** Called when the user quits; defaults to unmounting the app. */
	onQuit?: () => void;
}

type Modal = { kind: 'help' } | { kind: 'start'; point: RestorePoint } | { kind: 'drill'; targets: DrillTarget[] } | { kind: 'finalize'; sessionId: string } | { kind: 'stop'; sessionId: string } | { kind: 'quit' } | null;

interface ViewState {
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
	/** What the detail pane shows: the selected session's task tree, this console's drill, past drills, or one drill's report. */
	detailView: 'session' | 'drill' | 'history' | 'report';
	historyCursor: number;
	report: { report: DrillReport; evidence: Record<string, string[]> } | null;
}

/** The backups tree is rebuilt only when its inputs change (5,000 rows cost a few ms). */
function memoRows(): (backups: VmBackups[], expanded: ReadonlySet<string>, filter: string) => BackupRow[] {
	let last: { backups: VmBackups[]; expanded: ReadonlySet<string>; filter: string; rows: BackupRow[] } | null = null;
	return (backups, expanded, filter) => {
		if (last?.backups !== backups || last.expanded !== expanded || last.filter !== filter) last = { backups, expanded, filter, rows: backupRows(backups, expanded, filter) };
		return last.rows;
	};
}

function memoSessions(): (sessions: SessionView[], filter: string) => SessionView[] {
	let last: { sessions: SessionView[]; filter: string; result: SessionView[] } | null = null;
	return (sessions, filter) => {
		if (last?.sessions !== sessions || last.filter !== filter) last = { sessions, filter, result: sessions.filter((candidate) => matchesFilter(filter, candidate.record.vm, candidate.record.source.vm)) };
		return last.result;
	};
}

const NO_KEY: Key = {
	upArrow: false,
	downArrow: false,
	leftArrow: false,
	rightArrow: false,
	pageDown: false,
	pageUp: false,
	home: false,
	end: false,
	return: false,
	escape: false,
	ctrl: false,
	shift: false,
	tab: false,
	backspace: false,
	delete: false,
	meta: false,
	super: false,
	hyper: false,
	capsLock: false,
	numLock: false,
};

const FOCUS_ORDER: Focus[] = ['backups', 'sessions', 'detail'];
export const MIN_SIZE = { columns: 60, rows: 16 };

/** Re-renders once a second so durations ("from backup for 1m20s") move. */
function useNow(intervalMs = 1000): number {
	const [now, setNow] = useState(() => Date.now());
	useEffect(() => {
		const timer = setInterval(() => setNow(Date.now()), intervalMs);
		return () => clearInterval(timer);
	}, [intervalMs]);
	return now;
}

export default function App({ store, size, onQuit }: AppProps): React.JSX.Element {
	const state = useSyncExternalStore(store.subscribe, store.getState);
	const terminal = useWindowSize();
	const { columns, rows } = size ?? terminal;
	const { exit } = useApp();
	const now = useNow();
	const quit = onQuit ?? (() => exit());

	// View state lives in a ref, not in useState: keys that arrive in one chunk (a fast
	// typist, key repeat over SSH) are handled one after the other before React re-renders,
	// and each must see what the previous one did.
	const view = useRef<ViewState>({ focus: 'backups', modal: null, filter: '', editingFilter: false, expanded: new Set(), backupCursor: 0, selectedId: null, detailScroll: 0, backupOffset: 0, sessionOffset: 0, marked: new Map(), detailView: 'session', historyCursor: 0, report: null });
	const [, rerender] = useReducer((count: number) => count + 1, 0);
	const set = (patch: Partial<ViewState>): void => {
		Object.assign(view.current, patch);
		rerender();
	};
	const rowsMemo = useRef(memoRows());
	const sessionsMemo = useRef(memoSessions());
	const ui = view.current;
	const { focus, modal, filter, editingFilter } = ui;

	// ---------------------------------------------------------------- derived view state
	/** Derived from the latest view state (not the last render's), for key handlers. */
	const derive = () => {
		const current = view.current;
		const latest = store.getState();
		const rowsOfBackups = rowsMemo.current(latest.backups, current.expanded, current.filter);
		const sessions = sessionsMemo.current(latest.sessions, current.filter);
		const cursor = clamp(current.backupCursor, 0, Math.max(0, rowsOfBackups.length - 1));
		const found = sessions.findIndex((candidate) => candidate.record.id === current.selectedId);
		const sessionCursor = found >= 0 ? found : 0;
		return { rowsOfBackups, sessions, cursor, sessionCursor, selected: sessions[sessionCursor] };
	};
	const { rowsOfBackups, sessions, cursor, sessionCursor, selected } = derive();
	const warnings = useMemo(() => headerWarnings(state.host, state.sessions, state.backups, now), [state.host, state.sessions, state.backups, now]);

	const headHeight = headerRows(warnings);
	const bodyHeight = Math.max(0, rows - headHeight - 2);
	const topHeight = clamp(Math.floor(bodyHeight * 0.5), 5, Math.max(5, bodyHeight - 6));
	const detailHeight = Math.max(0, bodyHeight - topHeight);
	const leftWidth = clamp(Math.round(columns * 0.42), 30, Math.max(30, columns - 34));
	const rightWidth = Math.max(0, columns - leftWidth);

	const backupRowsVisible = paneBodyRows(topHeight);
	ui.backupOffset = scrollOffset(ui.backupOffset, cursor, backupRowsVisible, rowsOfBackups.length);
	const sessionsVisible = Math.max(1, Math.floor(paneBodyRows(topHeight) / SESSION_ROWS));
	ui.sessionOffset = scrollOffset(ui.sessionOffset, sessionCursor, sessionsVisible, sessions.length);
	const live = selected ? state.live[selected.record.id] : undefined;
	const setModal = (next: Modal): void => set({ modal: next });
	const setFilter = (next: string): void => set({ filter: next, backupCursor: 0 });

	// ---------------------------------------------------------------- actions
	const selectSession = (index: number): void => {
		const list = derive().sessions;
		const target = list[clamp(index, 0, list.length - 1)];
		if (target) set({ selectedId: target.record.id, detailScroll: 0, detailView: 'session' });
	};

	const requestPhase = (phase: 'finalize' | 'stop'): void => {
		const { selected } = derive();
		if (!selected) {
			store.notify({ level: 'error', text: 'no session selected', hint: 'Tab to the sessions pane and pick one' });
			return;
		}
		const { record } = selected;
		if (!allowedPhases(record).includes(phase)) {
			const can = allowedPhases(record);
			store.notify({
				level: 'error',
				text: `${record.vm} is ${record.state}: it cannot be ${phase === 'stop' ? 'stopped' : 'finalized'} now`,
				hint: can.length > 0 ? `it can be: ${can.map((candidate) => (candidate === 'stop' ? 'stopped (s)' : candidate === 'finalize' ? 'finalized (f)' : 'started again (Enter on its restore point)')).join(', ')}` : 'nothing left to do',
			});
			return;
		}
		// A phase that has reached its end state is only releasing its locks: the next one queues behind it.
		const running = state.live[record.id];
		if (selected.live && running && PHASE_STATES[running.phase].during === record.state) {
			store.notify({ level: 'error', text: `${record.vm}: ${running.phase} is running in this console`, hint: 'wait for it to end' });
			return;
		}
		setModal({ kind: phase, sessionId: record.id });
	};

	const requestQuit = (): void => {
		if (store.runningOperations().length > 0 || store.getState().drill?.running) setModal({ kind: 'quit' });
		else quit();
	};

	const moveBackups = (delta: number): void => {
		const { cursor, rowsOfBackups } = derive();
		set({ backupCursor: clamp(cursor + delta, 0, Math.max(0, rowsOfBackups.length - 1)) });
	};

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
		const total = view.current.detailView === 'session' ? detailLines(selected, selected ? state.live[selected.record.id] : undefined, columns - 2, now).length : drillViewLines().length;
		set({ detailScroll: clamp(view.current.detailScroll + delta, 0, Math.max(0, total - paneBodyRows(detailHeight))) });
	};

	// ---------------------------------------------------------------- drills
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

	/** d: a drill of the marked VMs, or of the VM (or point) under the cursor. */
	const requestDrill = (): void => {
		if (store.getState().drill?.running) {
			store.notify({ level: 'error', text: `drill ${store.getState().drill?.id ?? ''} is still running in this console`, hint: 'wait for it to end (H shows past drills)' });
			return;
		}
		let targets: DrillTarget[] = [...view.current.marked].map(([vm, point]) => ({ vm, point }));
		if (targets.length === 0) {
			const { cursor, rowsOfBackups, selected } = derive();
			const row = view.current.focus === 'backups' ? rowsOfBackups[cursor] : undefined;
			if (row) targets = [{ vm: row.group.vm, point: row.kind === 'point' ? row.point.id : 'latest' }];
			else if (selected) targets = [{ vm: selected.record.source.vm, point: selected.record.source.pointId }];
		}
		if (targets.length === 0) {
			store.notify({ level: 'error', text: 'nothing to drill', hint: 'mark VMs with Space in the backups pane, then press d' });
			return;
		}
		setModal({ kind: 'drill', targets });
	};

	const showHistory = (): void => {
		set({ detailView: 'history', historyCursor: 0, detailScroll: 0, focus: 'detail', report: null });
		void store.loadDrillHistory();
	};

	const openReport = (): void => {
		const drill = store.getState().drillHistory?.drills[view.current.historyCursor];
		if (!drill) return;
		store.readDrillReport(drill.id).then(
			(found) => {
				if (found && view.current.detailView === 'history') set({ detailView: 'report', report: found, detailScroll: 0 });
				else if (!found) store.notify({ level: 'error', text: `drill ${drill.id} has no report any more`, hint: 'H reads the history again' });
			},
			(error: unknown) => store.notify({ level: 'error', text: (error as Error).message, hint: null }),
		);
	};

	function drillViewLines(): StyledLine[] {
		const current = view.current;
		const latest = store.getState();
		if (current.detailView === 'drill' && latest.drill) return liveDrillLines(latest.drill, columns - 2);
		if (current.detailView === 'report' && current.report) return reportLines(current.report.report, current.report.evidence, columns - 2);
		return historyLines(latest.drillHistory, current.historyCursor, current.focus === 'detail');
	}

	const resuming = state.interrupted.some((finding) => finding.action !== 'busy');
	const mainKeysActive = modal === null && !editingFilter && state.phase !== 'no-lab' && !resuming;
	const onKey = (input: string, key: Key): void => {
			if (key.tab) {
				const step = key.shift ? FOCUS_ORDER.length - 1 : 1;
				set({ focus: FOCUS_ORDER[(FOCUS_ORDER.indexOf(view.current.focus) + step) % FOCUS_ORDER.length] ?? 'backups' });
				return;
			}
			if (input === 'q' || (key.ctrl && input === 'c')) return requestQuit();
			if (input === '?') return setModal({ kind: 'help' });
			if (input === '/') return set({ editingFilter: true });
			if (input === 'r') return void store.refresh();
			if (input === 'f') return requestPhase('finalize');
			if (input === 's') return requestPhase('stop');
			if (input === 'd') return requestDrill();
			if (input === 'H') return view.current.detailView === 'history' || view.current.detailView === 'report' ? set({ detailView: store.getState().drill ? 'drill' : 'session', detailScroll: 0 }) : showHistory();
			if (key.escape && view.current.focus === 'detail' && view.current.detailView === 'report') return set({ detailView: 'history', report: null, detailScroll: 0 });
			if (key.escape) {
				if (store.getState().notice) store.dismissNotice();
				else if (view.current.filter) setFilter('');
				return;
			}
			const up = key.upArrow || input === 'k';
			const down = key.downArrow || input === 'j';
			const page = Math.max(1, backupRowsVisible - 1);
			const { cursor, rowsOfBackups, sessionCursor, sessions } = derive();
			const focus = view.current.focus;
			if (focus === 'backups') {
				if (up) moveBackups(-1);
				else if (down) moveBackups(1);
				else if (key.pageUp) moveBackups(-page);
				else if (key.pageDown) moveBackups(page);
				else if (key.home || input === 'g') set({ backupCursor: 0 });
				else if (key.end || input === 'G') set({ backupCursor: rowsOfBackups.length - 1 });
				else if (key.return || key.rightArrow || input === 'l') {
					const row = rowsOfBackups[cursor];
					if (key.rightArrow && row?.kind === 'vm' && row.expanded) moveBackups(1);
					else if (!(key.rightArrow && row?.kind === 'point')) openBackupRow();
				} else if (key.leftArrow || input === 'h') collapseBackupRow();
				else if (input === ' ') toggleMark();
			} else if (focus === 'sessions') {
				if (up) selectSession(sessionCursor - 1);
				else if (down) selectSession(sessionCursor + 1);
				else if (key.pageUp) selectSession(sessionCursor - sessionsVisible);
				else if (key.pageDown) selectSession(sessionCursor + sessionsVisible);
				else if (key.home || input === 'g') selectSession(0);
				else if (key.end || input === 'G') selectSession(sessions.length - 1);
				else if (key.return) set({ focus: 'detail', detailView: 'session', detailScroll: 0 });
			} else if (view.current.detailView === 'history') {
				const count = store.getState().drillHistory?.drills.length ?? 0;
				if (up) set({ historyCursor: Math.max(0, view.current.historyCursor - 1) });
				else if (down) set({ historyCursor: clamp(view.current.historyCursor + 1, 0, Math.max(0, count - 1)) });
				else if (key.home || input === 'g') set({ historyCursor: 0 });
				else if (key.end || input === 'G') set({ historyCursor: Math.max(0, count - 1) });
				else if (key.return || key.rightArrow) openReport();
			} else if (view.current.detailView === 'report' && (key.leftArrow || key.backspace)) {
				set({ detailView: 'history', report: null, detailScroll: 0 });
			} else {
				if (up) scrollDetail(-1);
				else if (down) scrollDetail(1);
				else if (key.pageUp) scrollDetail(-paneBodyRows(detailHeight));
				else if (key.pageDown) scrollDetail(paneBodyRows(detailHeight));
			}
	};
	useInput(
		(input, key) => {
			// Ink delivers printable keys that arrive in one chunk ("jjj" from key repeat over SSH,
			// or a script) as one string: replay them one by one, each on the state the last left.
			if (input.length > 1 && !key.ctrl && !key.meta) {
				for (const char of input) {
					onKey(char === '\r' || char === '\n' ? '' : char, char === '\r' || char === '\n' ? { ...NO_KEY, return: true } : char === '\t' ? { ...NO_KEY, tab: true } : NO_KEY);
					// Once a key opens a dialog or the filter, the rest of the chunk is not meant for the panes.
					if (view.current.modal !== null || view.current.editingFilter) break;
				}
			} else onKey(input, key);
		},
		{ isActive: mainKeysActive },
	);

	// Esc while typing the filter clears it; Enter keeps it. Both leave the input.
	useInput(
		(_input, key) => {
			if (key.escape) set({ filter: '', editingFilter: false, backupCursor: 0 });
		},
		{ isActive: editingFilter },
	);

	if (columns < MIN_SIZE.columns || rows < MIN_SIZE.rows) {
		return (
			<Box width={columns} height={rows}>
				<Text wrap="truncate-end">{`Terminal ${columns}×${rows} is too small: rundirect needs at least ${MIN_SIZE.columns}×${MIN_SIZE.rows}. q quits.`}</Text>
			</Box>
		);
	}

	// ---------------------------------------------------------------- body
	let body: React.JSX.Element;
	let hints: string | undefined;
	if (state.phase === 'no-lab') {
		body = <LabSetup setup={state.setup} destination={state.destination} width={columns} height={bodyHeight} onRun={() => void store.runLabSetup()} onQuit={quit} />;
		hints = 'Enter run lab init · q quit';
	} else if (resuming) {
		body = <ResumeDialog store={store} findings={state.interrupted} width={columns} height={bodyHeight} />;
		hints = RESUME_HINTS;
	} else if (modal?.kind === 'drill') {
		body = <DrillFlow store={store} targets={modal.targets} width={columns} height={bodyHeight} onCancel={() => setModal(null)} onStarted={() => set({ modal: null, marked: new Map(), detailView: 'drill', detailScroll: 0 })} />;
		hints = 'y/Enter run · ←→ change · n/Esc cancel';
	} else if (modal?.kind === 'help') {
		body = <HelpOverlay width={columns} height={bodyHeight} warnings={warnings} onClose={() => setModal(null)} />;
		hints = 'any key: close help';
	} else if (modal?.kind === 'start') {
		body = (
			<StartFlow
				store={store}
				point={modal.point}
				width={columns}
				height={bodyHeight}
				onCancel={() => setModal(null)}
				onStarted={(sessionId) => set({ modal: null, filter: '', selectedId: sessionId, detailScroll: 0, focus: 'sessions' })}
			/>
		);
		hints = 'Esc cancel';
	} else if (modal?.kind === 'finalize' || modal?.kind === 'stop') {
		body = <PhaseConfirm store={store} modal={modal} width={columns} height={bodyHeight} onClose={() => setModal(null)} />;
		hints = 'Esc cancel';
	} else if (modal?.kind === 'quit') {
		const running = store.runningOperations();
		body = (
			<ConfirmDialog
				title="Quit while an operation runs?"
				facts={[
					...running.map((run) => ({ text: `${run.vm}: ${run.phase} is running in this console.`, bold: true })),
					...(state.drill?.running ? [{ text: `Recovery drill ${state.drill.id} is running: its VMs are left marked as a drill, and reopening rundirect offers to clean them up (or "rundirect resume --rollback").`, bold: true }] : []),
					{ text: 'Quitting stops waiting for it. The VM keeps running and QEMU finishes any copy it is doing; the journal records where each step stood.' },
					{ text: 'Reopen rundirect (or run "rundirect finalize|stop <session>") to continue from there.', color: 'cyan' },
				]}
				confirmLabel="quit"
				onConfirm={quit}
				onCancel={() => setModal(null)}
				width={columns}
				height={bodyHeight}
			/>
		);
		hints = 'y quit · n/Esc stay';
	} else {
		body = (
			<Box flexDirection="column" width={columns} height={bodyHeight}>
				<Box flexDirection="row" height={topHeight}>
					<BackupsPane
						rows={rowsOfBackups}
						cursor={cursor}
						offset={ui.backupOffset}
						focused={focus === 'backups'}
						width={leftWidth}
						height={topHeight}
						filter={filter}
						error={state.catalogError ? `${state.catalogError.message}${state.catalogError.hint ? ` — ${state.catalogError.hint}` : ''}` : null}
						loading={state.phase === 'loading'}
						marked={ui.marked}
					/>
					<SessionsPane views={sessions} cursor={sessionCursor} offset={ui.sessionOffset} focused={focus === 'sessions'} width={rightWidth} height={topHeight} filter={filter} now={now} />
				</Box>
				{ui.detailView === 'session' || (ui.detailView === 'drill' && !state.drill) ? (
					<DetailPane view={selected} live={live} focused={focus === 'detail'} width={columns} height={detailHeight} scroll={ui.detailScroll} now={now} />
				) : (
					<DrillPane
						title={ui.detailView === 'drill' ? `Recovery drill ${state.drill?.id ?? ''}` : ui.detailView === 'report' ? 'Drill report — Esc: back to the history' : 'Drill history — Enter: report · H: back'}
						lines={drillViewLines()}
						focused={focus === 'detail'}
						width={columns}
						height={detailHeight}
						scroll={ui.detailScroll}
						follow={ui.detailView === 'history' ? ui.historyCursor + 1 + (state.drillHistory?.problems.length ?? 0) + (state.drillHistory?.error ? 1 : 0) : undefined}
					/>
				)}
			</Box>
		);
	}

	const notice = state.notice ?? (state.catalogProblems.length > 0 ? { level: 'error' as const, text: `${state.catalogProblems.length} restore point problem(s), e.g. ${state.catalogProblems[0]?.file ?? ''}: ${state.catalogProblems[0]?.message ?? ''}`, hint: 'run "rundirect backups" for the list' } : null);
	return (
		<Box flexDirection="column" width={columns} height={rows}>
			<Header state={state} warnings={warnings} width={columns} />
			{body}
			<Footer
				focus={focus}
				notice={notice}
				width={columns}
				hints={hints}
				filterEdit={editingFilter ? { value: filter, onChange: setFilter, onSubmit: () => set({ editingFilter: false }) } : null}
			/>
		</Box>
	);
}

interface PhaseConfirmProps {
	store: ConsoleStore;
	modal: { kind: 'finalize' | 'stop'; sessionId: string };
	width: number;
	height: number;
	onClose: () => void;
}

/** Copy rates finalize offers (MiB/s; 0 = unlimited): a cap spares production storage other VMs use. */
export const FINALIZE_RATES = [0, 10, 50, 100, 200, 500] as const;

/** Finalize needs a yes; stop discards the VM's changes, so it needs the VM's name typed. */
function PhaseConfirm({ store, modal, width, height, onClose }: PhaseConfirmProps): React.JSX.Element {
	const [rate, setRate] = useState(0);
	useInput(
		(_input, key) => {
			if (key.rightArrow) setRate((index) => Math.min(FINALIZE_RATES.length - 1, index + 1));
			else if (key.leftArrow) setRate((index) => Math.max(0, index - 1));
		},
		{ isActive: modal.kind === 'finalize' },
	);
	const view = store.getState().sessions.find((candidate) => candidate.record.id === modal.sessionId);
	if (!view || isTerminal(view.record)) {
		return <ConfirmDialog title="Session gone" facts={[{ text: 'The session has ended meanwhile (another console or command?).' }]} confirmLabel="close" onConfirm={onClose} onCancel={onClose} width={width} height={height} />;
	}
	const { record } = view;
	const aside = record.setAside;
	if (modal.kind === 'finalize') {
		const facts: Array<{ text: string; color?: string; bold?: boolean }> = [
			{ text: `Finalize ${record.vm} (session ${record.id})`, bold: true },
			{ text: 'Step 5 copies the backup into the production images while the VM keeps running; step 6 applies its changes in a pause of milliseconds; step 7 drops the snapshot layer. The VM then runs from production storage.' },
		];
		if (aside) facts.push({ text: `! The replaced VM ${aside.name}, set aside as ${aside.asideName}, will be DELETED for good.`, bold: true });
		facts.push({ text: `Copy rate (←→): ${FINALIZE_RATES.map((value, index) => `${index === rate ? '◉' : '○'} ${value === 0 ? 'unlimited' : `${value} MiB/s`}`).join('  ')}`, color: 'cyan' });
		const mib = FINALIZE_RATES[rate] ?? 0;
		return (
			<ConfirmDialog
				title={`Finalize ${record.vm}?`}
				facts={facts}
				confirmLabel="finalize"
				onConfirm={() => {
					store.finalize(record.id, mib > 0 ? mib * 2 ** 20 : undefined);
					onClose();
				}}
				onCancel={onClose}
				width={width}
				height={height}
			/>
		);
	}
	const changed = view.status?.bytesChanged;
	const facts: Array<{ text: string; color?: string; bold?: boolean }> = [
		{ text: `Stop ${record.vm} (session ${record.id})`, bold: true },
		{ text: `! ${record.vm} will be turned off and removed, and every change made in it since it started${changed ? ` (${formatBytes(changed)} written)` : ''} will be DISCARDED.`, color: 'red', bold: true },
		{ text: 'Its snapshot layer and the production images created in step 2 are deleted; the backup is untouched.' },
	];
	if (aside) facts.push({ text: `The replaced VM ${aside.name} comes back as it was.`, color: 'green' });
	// A stop already under way (state stopping) was confirmed when it began.
	const typed = record.state === 'stopping' ? undefined : record.vm;
	return (
		<ConfirmDialog
			title={`Stop ${record.vm} and discard its changes?`}
			facts={facts}
			typeToConfirm={typed}
			confirmLabel="stop it"
			onConfirm={() => {
				store.stop(record.id);
				onClose();
			}}
			onCancel={onClose}
			width={width}
			height={height}
		/>
	);
}
