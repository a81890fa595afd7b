// The sessions pane: two rows per session — VM, state, current step and time from backup;
// then the running step's progress bar (bytes, rate, ETA), or bytes changed and guest life.
import type React from 'react';
import { formatBytes, formatDuration } from '../../core/format.ts';
import { isTerminal } from '../../restore/session.ts';
import { bar, fromBackupSeconds, guestLabel, pad, progressText, shortTime, stepLabel, type SessionView } from '../model.ts';
import { Lines, type StyledLine } from './Line.tsx';
import { Pane, paneBodyRows } from './Pane.tsx';

export const SESSION_ROWS = 2;

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

export function sessionFirstRow(view: SessionView, width: number, now: number): string {
	const seconds = fromBackupSeconds(view.record, now);
	const tail = seconds === null ? '' : ` ${formatDuration(seconds)}`;
	const head = `${pad(view.record.vm, 10)} ${pad(view.record.state, 10)} `;
	return `${head}${pad(stepLabel(view.record), Math.max(0, width - head.length - tail.length))}${tail}`;
}

export function sessionSecondRow(view: SessionView, width: number): { text: string; color?: string } {
	const { record } = view;
	if (view.progress) {
		const text = progressText(view.progress);
		const barWidth = Math.max(4, Math.min(20, width - text.length - 5));
		return { text: `  ${bar(view.progress.total > 0 ? view.progress.done / view.progress.total : 0, barWidth)} ${text}`, color: 'cyan' };
	}
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

export function SessionsPane({ views, cursor, offset, focused, width, height, filter, now }: SessionsPaneProps): React.JSX.Element {
	const body = paneBodyRows(height);
	const inner = width - 3;
	const visible = Math.max(1, Math.floor(body / SESSION_ROWS));
	const lines: StyledLine[] = [];
	if (views.length === 0) {
		lines.push({ key: 'empty', text: filter ? `No session of a VM matching "${filter}"` : 'No sessions yet — pick a restore point and press Enter', dim: true });
	}
	for (let index = offset; index < Math.min(views.length, offset + visible); index++) {
		const view = views[index];
		if (!view) continue;
		const selected = index === cursor;
		const second = sessionSecondRow(view, inner);
		const faded = isTerminal(view.record);
		lines.push({ key: `${view.record.id}:1`, text: `${selected ? '›' : ' '}${sessionFirstRow(view, inner, now)}`, inverse: selected && focused, bold: selected, color: selected && focused ? undefined : STATE_COLORS[view.record.state], dim: faded && !selected });
		lines.push({ key: `${view.record.id}:2`, text: ` ${second.text}`, color: second.color, dim: faded });
	}
	const info = views.length > 0 ? `${cursor + 1}/${views.length}${filter ? ` /${filter}` : ''}` : '';
	return (
		<Pane title="Sessions" info={info} focused={focused} width={width} height={height}>
			<Lines lines={lines.slice(0, body)} />
		</Pane>
	);
}
