// The sessions pane: column headers, then two rows per session — VM, state as the host and the
// locks show it, current step and time from backup; then the running step's progress bar, or
// what is wrong (a VM down, no process driving it) and the key that fixes it, or bytes changed
// and guest life. Finished sessions older than a while are folded into one line (F shows them).
import type React from 'react';
import { formatBytes, formatDuration } from '../../core/format.ts';
import { isTerminal } from '../../restore/session.ts';
import { bar, driverLabel, fromBackupSeconds, guestLabel, middleTruncate, nameWidth, pad, progressText, sessionHealth, shortTime, stepLabel, type SessionView } from '../model.ts';
import { Lines, type StyledLine } from './Line.tsx';
import { Pane, paneBodyRows } from './Pane.tsx';

export const SESSION_ROWS = 2;
/** The column headers' row. */
export const SESSION_HEADER_ROWS = 1;

export interface SessionsPaneProps {
	views: readonly SessionView[];
	cursor: number;
	/** Index of the first visible session. */
	offset: number;
	focused: boolean;
	width: number;
	height: number;
	filter: string;
	now: number;
	/** Finished sessions folded out of `views` (shown with F). */
	hiddenFinished?: number;
}

const STATE_COLORS: Record<string, string> = {
	starting: 'yellow',
	running: 'cyan',
	finalizing: 'yellow',
	stopping: 'yellow',
	finalized: 'green',
	stopped: 'gray',
	failed: 'red',
};
const STATE_WIDTH = 10;

/** Sessions that fit in a pane of this height (column headers and the folded line taken). */
export function sessionsVisible(height: number): number {
	return Math.max(1, Math.floor((paneBodyRows(height) - SESSION_HEADER_ROWS - 1) / SESSION_ROWS));
}

/** The state cell: the journal's state, or what the host says when that contradicts it. */
export function stateLabel(view: SessionView): string {
	const health = sessionHealth(view);
	if (health === 'vm-down') return `VM ${view.status?.vm ?? 'off'}`;
	return view.record.state;
}

function columns(views: readonly SessionView[], width: number): { name: number } {
	return { name: nameWidth(views.map((view) => view.record.vm), 4, Math.floor(width * 0.4)) };
}

export function sessionHeaderRow(views: readonly SessionView[], width: number): string {
	const { name } = columns(views, width);
	return truncate(`${pad('VM', name)} ${pad('STATE', STATE_WIDTH)} STEP`.padEnd(Math.max(0, width - 8)) + ' BACKUP', width);
}

function truncate(text: string, width: number): string {
	return text.length <= width ? text : text.slice(0, Math.max(0, width));
}

export function sessionFirstRow(view: SessionView, width: number, now: number, nameColumn = 10): string {
	const seconds = sessionHealth(view) === 'vm-down' ? null : fromBackupSeconds(view.record, now);
	const tail = seconds === null ? '' : ` ${formatDuration(seconds)}`;
	const head = `${pad(middleTruncate(view.record.vm, nameColumn), nameColumn)} ${pad(stateLabel(view), STATE_WIDTH)} `;
	return `${head}${pad(stepLabel(view.record), Math.max(0, width - head.length - tail.length))}${tail}`;
}

export function sessionSecondRow(view: SessionView, width: number): { text: string; color?: string } {
	const { record } = view;
	const health = sessionHealth(view);
	if (health === 'vm-down') return { text: ' ✖ should run: R restart · s roll back', color: 'red' };
	if (health === 'undriven') {
		// The detail pane and the header say it in full; the row has ~43 columns at 80×24.
		const what = view.progress ? `${view.progressFrom === 'host' ? 'host job' : 'last seen'} ${progressText(view.progress)}` : 'f continue · s roll back';
		return { text: ` ⚠ no driver · ${what}`, color: 'magenta' };
	}
	if (view.progress) {
		const text = progressText(view.progress, view.copy);
		const barWidth = Math.max(4, Math.min(20, width - text.length - 5));
		return { text: `  ${bar(view.progress.total > 0 ? view.progress.done / view.progress.total : 0, barWidth)} ${text}`, color: 'cyan' };
	}
	if (health === 'elsewhere' && view.driver) return { text: `  driven by ${driverLabel(view.driver)}`, color: 'yellow' };
	if (record.state === 'failed' && record.lastError) return { text: `  ✖ ${record.lastError.message}`, color: 'red' };
	if (isTerminal(record)) {
		const at = record.finalizedAt ?? record.stoppedAt ?? record.updatedAt;
		return { text: `  ${record.state} ${shortTime(at)} · ${record.source.vm}/${record.source.pointId}` };
	}
	const parts: string[] = [];
	if (view.status?.bytesChanged !== null && view.status?.bytesChanged !== undefined) parts.push(`Δ ${formatBytes(view.status.bytesChanged)} changed`);
	const guest = guestLabel(view);
	if (guest) parts.push(guest);
	if (view.status?.note) parts.push(view.status.note);
	if (view.live) parts.push('this console');
	return { text: `  ${parts.join(' · ') || `${record.source.vm}/${record.source.pointId}`}`, color: view.status?.guestAlive === false ? 'yellow' : undefined };
}

export function SessionsPane({ views, cursor, offset, focused, width, height, filter, now, hiddenFinished = 0 }: SessionsPaneProps): React.JSX.Element {
	const body = paneBodyRows(height);
	const inner = width - 3;
	const visible = sessionsVisible(height);
	const { name } = columns(views, inner - 1);
	const lines: StyledLine[] = [];
	if (views.length === 0) {
		lines.push({ key: 'empty', text: filter ? `No session of a VM matching "${filter}"` : hiddenFinished > 0 ? 'No active session' : 'No sessions yet — pick a restore point and press Enter', dim: true });
	} else {
		lines.push({ key: 'columns', text: `  ${sessionHeaderRow(views, inner - 1)}`, dim: true });
	}
	for (let index = offset; index < Math.min(views.length, offset + visible); index++) {
		const view = views[index];
		if (!view) continue;
		const selected = index === cursor;
		const second = sessionSecondRow(view, inner);
		const faded = isTerminal(view.record);
		const health = sessionHealth(view);
		const color = health === 'vm-down' ? 'red' : health === 'undriven' ? 'magenta' : STATE_COLORS[view.record.state];
		lines.push({ key: `${view.record.id}:1`, text: `${selected ? '›' : ' '}${sessionFirstRow(view, inner, now, name)}`, inverse: selected && focused, bold: selected || health === 'vm-down', color: selected && focused ? undefined : color, dim: faded && !selected });
		lines.push({ key: `${view.record.id}:2`, text: ` ${second.text}`, color: second.color, dim: faded });
	}
	if (hiddenFinished > 0) lines.push({ key: 'folded', text: `  + ${hiddenFinished} finished session${hiddenFinished === 1 ? '' : 's'} folded — F shows them`, dim: true });
	const info = views.length > 0 ? `${cursor + 1}/${views.length}${filter ? ` /${filter}` : ''}` : '';
	return (
		<Pane title="Sessions" info={info} focused={focused} width={width} height={height}>
			<Lines lines={lines.slice(0, body)} />
		</Pane>
	);
}
