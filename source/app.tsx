// The console's root component: layout and focus. Domain state lives in the ConsoleStore
// (source/ui/store.ts) and the view state in a ref (source/ui/view.ts); every key goes
// through the keymap (source/ui/keymap.ts) to the panes' commands (source/ui/pane-commands.ts)
// or to the dialog shown (source/ui/components/Overlay.tsx). Exactly one screen of rows is
// rendered, whatever the number of backups or sessions.
import type React from 'react';
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { Box, Text, useApp, useWindowSize } from 'ink';
import type { ConsoleStore } from './ui/store.ts';
import { isTerminal } from './restore/session.ts';
import { KeyRouterProvider, useKeyRouter, useKeyTarget, useKeys } from './ui/keys.tsx';
import { clamp, headerWarnings, scrollOffset } from './ui/model.ts';
import { notOffered, paneKeys } from './ui/pane-commands.ts';
import { drillViewLines, resuming, screenContext, useView } from './ui/view.ts';
import { BackupsPane, backupsVisible } from './ui/components/BackupsPane.tsx';
import { DetailPane } from './ui/components/DetailPane.tsx';
import { DrillPane } from './ui/components/DrillPane.tsx';
import { Footer, footerRows } from './ui/components/Footer.tsx';
import { Header, headerRows } from './ui/components/Header.tsx';
import { Overlay, hasOverlay } from './ui/components/Overlay.tsx';
import { paneBodyRows } from './ui/components/Pane.tsx';
import { SessionsPane, sessionsVisible as sessionsFitting } from './ui/components/SessionsPane.tsx';

export interface AppProps {
	store: ConsoleStore;
	/** A fixed size (tests, benchmarks); otherwise the terminal's, following resizes. */
	size?: { columns: number; rows: number };
	/** Called when the user quits; defaults to unmounting the app. */
	onQuit?: () => void;
}

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
	const { actions } = store;
	const terminal = useWindowSize();
	const { columns, rows } = size ?? terminal;
	const { exit } = useApp();
	const now = useNow();
	const quit = onQuit ?? (() => exit());
	const handle = useView(store.getState);
	const { view, set, derive } = handle;
	const ui = view.current;
	const { rowsOfBackups, sessions, hiddenFinished, cursor, sessionCursor, selected } = derive();
	const { catalog } = state;
	// The backed-up VMs an active session restores, or runs under the name of: ● in the backups pane.
	const inSession = useMemo(() => new Set(state.sessions.views.filter((view) => !isTerminal(view.record)).flatMap((view) => [view.record.vm, view.record.source.vm])), [state.sessions.views]);
	const warnings = useMemo(() => headerWarnings(catalog.host, state.sessions.views, catalog.backups, now), [catalog.host, state.sessions.views, catalog.backups, now]);

	const problems = catalog.problems;
	const notice = state.notices.notice ?? (problems.length > 0 ? { level: 'error' as const, text: `${problems.length} restore point problem(s), e.g. ${problems[0]?.file ?? ''}: ${problems[0]?.message ?? ''}`, hint: 'run "rundirect backups" for the list' } : null);

	// ---------------------------------------------------------------- layout
	const headHeight = headerRows(warnings);
	const bodyHeight = Math.max(0, rows - headHeight - footerRows(notice, columns, ui.editingFilter));
	const topHeight = clamp(Math.floor(bodyHeight * 0.5), 5, Math.max(5, bodyHeight - 6));
	const detailHeight = Math.max(0, bodyHeight - topHeight);
	const leftWidth = clamp(Math.round(columns * 0.42), 30, Math.max(30, columns - 34));
	const rightWidth = Math.max(0, columns - leftWidth);
	const backupRowsVisible = backupsVisible(topHeight);
	ui.backupOffset = scrollOffset(ui.backupOffset, cursor, backupRowsVisible, rowsOfBackups.length);
	const sessionsVisible = sessionsFitting(topHeight);
	ui.sessionOffset = scrollOffset(ui.sessionOffset, sessionCursor, sessionsVisible, sessions.length);

	// ---------------------------------------------------------------- keys
	const router = useKeyRouter();
	// As drawn (a dialog still on screen keeps the keys until the frame without it is committed)…
	const panesTakeKeys = state.setup.phase !== 'no-lab' && !resuming(state) && ui.modal === null && !ui.editingFilter;
	useKeyTarget(
		paneKeys({
			...handle,
			getState: store.getState,
			actions,
			quit,
			layout: { columns, backupRows: backupRowsVisible, sessionRows: sessionsVisible, detailRows: paneBodyRows(detailHeight), now },
			// …and key by key: once a key opens a dialog or the filter, the rest of its chunk is not for the panes.
			active: () => panesTakeKeys && view.current.modal === null && !view.current.editingFilter,
		}),
		router,
	);
	// The VM screen is read from the host only while it is shown.
	const screenShown = ui.detailView === 'screen';
	useEffect(() => {
		if (!screenShown && state.screen.sessionId !== null) actions.screen.hide();
	}, [screenShown, state.screen.sessionId, actions.screen]);
	// The host's VMs likewise.
	const hostShown = ui.detailView === 'host';
	useEffect(() => {
		if (!hostShown && state.hostVms.shown) actions.hostVms.hide();
	}, [hostShown, state.hostVms.shown, actions.hostVms]);
	// Esc while typing the filter clears it; Enter (the field's) keeps it. Both leave the input.
	useKeys('filter', { clear: () => set({ filter: '', editingFilter: false, backupCursor: 0 }) }, ui.editingFilter, router);

	if (columns < MIN_SIZE.columns || rows < MIN_SIZE.rows) {
		return (
			<Box width={columns} height={rows}>
				<Text wrap="wrap">{`Terminal ${columns}×${rows} is too small: rundirect needs at least ${MIN_SIZE.columns}×${MIN_SIZE.rows}. q quits.`}</Text>
			</Box>
		);
	}

	// ---------------------------------------------------------------- body
	const { focus, filter } = ui;
	const drill = state.drills.current;
	const body = hasOverlay(state, ui.modal) ? (
		<Overlay
			state={state}
			actions={actions}
			modal={ui.modal}
			warnings={warnings}
			width={columns}
			height={bodyHeight}
			onClose={() => set({ modal: null })}
			onRestoreStarted={(sessionId) => set({ modal: null, filter: '', selectedId: sessionId, detailScroll: 0, focus: 'sessions' })}
			onDrillStarted={() => set({ modal: null, marked: new Map(), detailView: 'drill', detailScroll: 0 })}
			onDrillKeys={(keys) => {
				const modal = view.current.modal;
				if ((modal?.kind === 'drill' || modal?.kind === 'site') && (modal.keys ?? 'drill') !== keys) set({ modal: { ...modal, keys } });
			}}
			quit={quit}
		/>
	) : (
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
					error={catalog.error ? `${catalog.error.message}${catalog.error.hint ? ` — ${catalog.error.hint}` : ''}` : null}
					loading={state.setup.phase === 'loading'}
					marked={ui.marked}
					inSession={inSession}
					now={now}
				/>
				<SessionsPane views={sessions} cursor={sessionCursor} offset={ui.sessionOffset} focused={focus === 'sessions'} width={rightWidth} height={topHeight} filter={filter} now={now} hiddenFinished={hiddenFinished} />
			</Box>
			{ui.detailView === 'session' || (ui.detailView === 'drill' && !drill) ? (
				<DetailPane view={selected} live={selected ? state.runs.live[selected.record.id] : undefined} focused={focus === 'detail'} width={columns} height={detailHeight} scroll={ui.detailScroll} now={now} />
			) : (
				<DrillPane
					title={ui.detailView === 'drill' ? `${drill?.kind === 'recovery' ? 'Site recovery' : 'Recovery drill'} ${drill?.id ?? ''}` : ui.detailView === 'report' ? 'Drill report — Esc: back to the history' : ui.detailView === 'screen' ? 'VM console — c: back to the task tree' : ui.detailView === 'host' ? `Host VMs (${catalog.host?.id ?? 'host'}) — o on · x off · v back` : 'Drill history — Enter: report · H: back'}
					lines={drillViewLines(ui, state, columns - 2, paneBodyRows(detailHeight), now)}
					focused={focus === 'detail'}
					width={columns}
					height={detailHeight}
					scroll={ui.detailScroll}
					follow={ui.detailView === 'history' ? ui.historyCursor + 1 + (state.drills.history?.problems.length ?? 0) + (state.drills.history?.error ? 1 : 0) : ui.detailView === 'host' ? ui.hostCursor + 1 + (state.hostVms.error ? 1 : 0) : undefined}
				/>
			)}
		</Box>
	);

	return (
		<KeyRouterProvider router={router}>
			<Box flexDirection="column" width={columns} height={rows}>
				<Header catalog={catalog} sessions={state.sessions.views} warnings={warnings} width={columns} now={now} />
				{body}
				<Footer
					context={screenContext(ui, state)}
					notice={notice}
					notOffered={notOffered(selected, hiddenFinished, ui.showFinished, warnings.length)}
					width={columns}
					filterEdit={ui.editingFilter ? { value: filter, onChange: (next) => set({ filter: next, backupCursor: 0 }), onSubmit: () => set({ editingFilter: false }) } : null}
				/>
			</Box>
		</KeyRouterProvider>
	);
}
