// The bottom two rows: a status line (the latest notice or error with what to do next, or
// the filter being typed) and the keymap's hints for whatever takes the keys: the focused
// pane, the filter, or the dialog.
import type React from 'react';
import { Box, Text } from 'ink';
import { TextField } from './TextField.tsx';
import { hintsFor, type Context } from '../keymap.ts';
import type { Notice } from '../state/notices.ts';
import { truncate, wrapText } from '../model.ts';
import { Line } from './Line.tsx';

export interface FooterProps {
	/** Whose keys the hints name. */
	context: Context;
	notice: Notice | null;
	width: number;
	/** When set, the status row is the filter input. */
	filterEdit: { value: string; onChange: (value: string) => void; onSubmit: () => void } | null;
	/** Commands not offered for what is selected now: their hints are left out. */
	notOffered?: ReadonlySet<string>;
}

/** A notice is wrapped, never cut: up to this many rows (the rest in w's message log). */
export const NOTICE_ROWS_MAX = 3;

function noticeText(notice: Notice): string {
	return `${notice.level === 'error' ? '✖ ' : '✓ '}${notice.text}${notice.hint ? ` — ${notice.hint}` : ''}`;
}

function noticeLines(notice: Notice | null, width: number): string[] {
	if (!notice) return [''];
	const lines = wrapText(noticeText(notice), Math.max(1, width - 3));
	if (lines.length <= NOTICE_ROWS_MAX) return lines;
	const kept = lines.slice(0, NOTICE_ROWS_MAX);
	kept[NOTICE_ROWS_MAX - 1] = `${truncate(kept[NOTICE_ROWS_MAX - 1] ?? '', Math.max(1, width - 16))} … (w: in full)`;
	return kept;
}

/** Rows the footer takes: the status (wrapped) and the hints. */
export function footerRows(notice: Notice | null, width: number, editing: boolean): number {
	return (editing ? 1 : noticeLines(notice, width).length) + 1;
}

export function Footer({ context, notice, width, filterEdit, notOffered }: FooterProps): React.JSX.Element {
	let status: React.JSX.Element;
	if (filterEdit) {
		status = (
			<Box height={1} width={width}>
				<Text color="cyan">{' Filter VMs: /'}</Text>
				<TextField value={filterEdit.value} onChange={filterEdit.onChange} onSubmit={filterEdit.onSubmit} />
			</Box>
		);
	} else if (notice) {
		status = (
			<>
				{noticeLines(notice, width).map((text, index) => (
					<Line key={index} text={` ${index === 0 ? '' : '  '}${text}`} color={notice.level === 'error' ? 'red' : 'green'} />
				))}
			</>
		);
	} else {
		status = <Line text="" />;
	}
	return (
		<Box flexDirection="column" width={width} height={footerRows(notice, width, filterEdit !== null)}>
			{status}
			<Line text={truncate(` ${hintsFor(context, notOffered)}`, width)} dim />
		</Box>
	);
}
