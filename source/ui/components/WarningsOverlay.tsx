// `w`: every warning of the header in full (a VM down, a session no process drives, one left
// running from backup, low space, the host's own), then the last messages of the status line,
// newest first — scrolling, so none is out of reach at 80×24.
import type React from 'react';
import type { LoggedNotice } from '../state/notices.ts';
import { wrapText } from '../model.ts';
import { dialogBody } from './Dialog.tsx';
import type { StyledLine } from './Line.tsx';
import { ScrollDialog } from './ScrollDialog.tsx';

function clock(at: number): string {
	return new Date(at).toTimeString().slice(0, 8);
}

export function warningLines(columns: number, warnings: readonly string[], log: readonly LoggedNotice[]): StyledLine[] {
	const lines: StyledLine[] = [{ key: 'wh', text: warnings.length === 0 ? 'No warnings.' : `${warnings.length} warning${warnings.length === 1 ? '' : 's'}:`, bold: true }];
	for (const [index, warning] of warnings.entries()) wrapText(`⚠ ${warning}`, columns).forEach((text, part) => lines.push({ key: `w${index}.${part}`, text, color: 'yellow' }));
	lines.push({ key: 'gap', text: '' }, { key: 'lh', text: log.length === 0 ? 'No messages yet.' : `Messages (${log.length}, newest first):`, bold: true });
	[...log].reverse().forEach((notice, index) => {
		const text = `${clock(notice.at)} ${notice.level === 'error' ? '✖' : '✓'} ${notice.text}${notice.hint ? ` — ${notice.hint}` : ''}`;
		wrapText(text, columns).forEach((part, line) => lines.push({ key: `m${index}.${line}`, text: line === 0 ? part : `  ${part}`, color: notice.level === 'error' ? 'red' : undefined }));
	});
	return lines;
}

export function WarningsOverlay({ width, height, warnings, log, onClose }: { width: number; height: number; warnings: readonly string[]; log: readonly LoggedNotice[]; onClose: () => void }): React.JSX.Element {
	const { columns } = dialogBody(width, height);
	return <ScrollDialog title="Warnings and messages — any other key closes" context="warnings" lines={warningLines(columns, warnings, log)} width={width} height={height} onClose={onClose} color="yellow" />;
}
