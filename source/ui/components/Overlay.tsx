// What takes the panes' place: the offer to build the lab, the sessions found interrupted on
// open, or the dialog a key opened (help, warnings, start, drill, finalize/stop, quit). Each gets the
// slice it shows and the actions it may call.
import type React from 'react';
import type { ConsoleActions, ConsoleState } from '../store.ts';
import { runningOperations } from '../state/runs.ts';
import { resuming, type Modal } from '../view.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { DrillFlow } from './DrillFlow.tsx';
import { FinalizeManyFlow } from './FinalizeManyFlow.tsx';
import { HelpOverlay } from './HelpOverlay.tsx';
import { WarningsOverlay } from './WarningsOverlay.tsx';
import { LabSetup } from './LabSetup.tsx';
import { PhaseConfirm } from './PhaseConfirm.tsx';
import { ResumeDialog } from './ResumeDialog.tsx';
import { StartFlow } from './StartFlow.tsx';
import { isTerminal } from '../../restore/session.ts';

export interface OverlayProps {
	state: ConsoleState;
	actions: ConsoleActions;
	modal: Modal;
	warnings: readonly string[];
	width: number;
	height: number;
	onClose: () => void;
	onRestoreStarted: (sessionId: string) => void;
	onDrillStarted: () => void;
	/** Whose keys the drill dialog takes now (its Checks line, a word typed to confirm, or its own). */
	onDrillKeys: (keys: 'drill' | 'drill-check' | 'confirm-typed') => void;
	quit: () => void;
}

/** Whether something takes the panes' place. */
export function hasOverlay(state: ConsoleState, modal: Modal): boolean {
	return state.setup.phase === 'no-lab' || resuming(state) || modal !== null;
}

export function Overlay({ state, actions, modal, warnings, width, height, onClose, onRestoreStarted, onDrillStarted, onDrillKeys, quit }: OverlayProps): React.JSX.Element | null {
	if (state.setup.phase === 'no-lab') return <LabSetup setup={state.setup.progress} destination={state.catalog.destination} width={width} height={height} onRun={() => void actions.setup.run()} onQuit={quit} />;
	if (resuming(state)) return <ResumeDialog actions={actions.interrupted} findings={state.interrupted.findings} width={width} height={height} />;
	switch (modal?.kind) {
		case undefined:
			return null;
		case 'drill':
		case 'site':
			return <DrillFlow actions={actions.drills} targets={modal.targets} kind={modal.kind === 'site' ? 'recovery' : 'drill'} width={width} height={height} onCancel={onClose} onStarted={onDrillStarted} onKeys={onDrillKeys} />;
		case 'finalizeMany': {
			const views = state.sessions.views.filter((view) => modal.sessionIds.includes(view.record.id) && !isTerminal(view.record));
			return <FinalizeManyFlow views={views} actions={actions.restores} width={width} height={height} onClose={onClose} />;
		}
		case 'help':
			return <HelpOverlay width={width} height={height} warnings={warnings} onClose={onClose} />;
		case 'warnings':
			return <WarningsOverlay width={width} height={height} warnings={warnings} log={state.notices.log} onClose={onClose} />;
		case 'start': {
			const held = state.sessions.views.find((view) => view.record.vm === modal.point.vm && !isTerminal(view.record));
			return <StartFlow actions={actions.restores} point={modal.point} width={width} height={height} onCancel={onClose} onStarted={onRestoreStarted} heldBy={held ? { id: held.record.id, state: held.record.state } : null} />;
		}
		case 'finalize':
		case 'stop': {
			const view = state.sessions.views.find((candidate) => candidate.record.id === modal.sessionId);
			return <PhaseConfirm phase={modal.kind} view={view} actions={actions.restores} width={width} height={height} onClose={onClose} />;
		}
		case 'powerOff':
			return (
				<ConfirmDialog
					title={`Power off ${modal.vm}?`}
					facts={[
						{ text: `${modal.vm} is turned off at once, as by pulling its plug: its guest is not shut down, and what it has not written to its disks is lost.`, bold: true },
						{ text: 'Shutting it down from inside the guest is the gentle way.' },
					]}
					confirmLabel="power off"
					onConfirm={() => {
						actions.hostVms.setPower(modal.vm, false);
						onClose();
					}}
					onCancel={onClose}
					width={width}
					height={height}
				/>
			);
		case 'quit': {
			const drill = state.drills.current;
			return (
				<ConfirmDialog
					title="Quit while an operation runs?"
					facts={[
						...runningOperations(state.runs).map((run) => ({ text: `${run.vm}: ${run.phase} is running in this console.`, bold: true })),
						...(drill?.running ? [{ text: drill.kind === 'recovery' ? `Site recovery ${drill.id} is running: the VMs it started run on; those not started yet are not ("rundirect start --plan" or S again goes on).` : `Recovery drill ${drill.id} is running: its VMs are left marked as a drill, and reopening rundirect offers to clean them up (or "rundirect resume --rollback").`, bold: true }] : []),
						{ text: 'Quitting stops waiting for it. The VM keeps running and QEMU finishes any copy it is doing; the journal records where each step stood.' },
						{ text: 'Reopen rundirect (or run "rundirect finalize|stop <session>") to continue from there.', color: 'cyan' },
					]}
					confirmLabel="quit"
					context="quit"
					onConfirm={quit}
					onCancel={onClose}
					width={width}
					height={height}
				/>
			);
		}
	}
}
