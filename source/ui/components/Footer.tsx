// The bottom two rows: a status line (the latest notice or error with what to do next, or
// the filter being typed) and the key hints that apply to the focused pane.
import React from 'react';
import { Box, Text } from 'ink';
import { TextField } from './TextField.tsx';
import type { Notice } from '../store.ts';
import { truncate } from '../model.ts';
import { Line } from './Line.tsx';

export type Focus = 'backups' | 'sessions' | 'detail';

const HINTS: Record<Focus, string> = {
	backups: '↑↓ move · Enter open/restore · Space mark · d drill · H drills · Tab pane · / filter · r refresh · ? help · q quit',
	sessions: '↑↓/jk select · Enter task tree · f finalize · s stop · d drill · H drills · Tab pane · / filter · ? help · q quit',
	detail: '↑↓/jk scroll · f finalize · s stop · d drill · H drills · Tab pane · / filter · r refresh · ? help · q quit',
};

export function hintsFor(focus: Focus): string {
	return HINTS[focus];
}

export interface FooterProps {
	focus: Focus;
	notice: Notice | null;
	width: number;
	/** When set, the status row is the filter input. */
	filterEdit: { value: string; onChange: (value: string) => void; onSubmit: () => void } | null;
	/** Overrides the key hints (dialogs have their own keys). */
	hints?: string;
}

export function Footer({ focus, notice, width, filterEdit, hints }: FooterProps): React.JSX.Element {
	let status: React.JSX.Element;
	if (filterEdit) {
		status = (
			<Box height={1} width={width}>
				<Text color="cyan">{' Filter VMs: /'}</Text>
				<TextField value={filterEdit.value} onChange={filterEdit.onChange} onSubmit={filterEdit.onSubmit} />
			</Box>
		);
	} else if (notice) {
		const text = `${notice.level === 'error' ? ' ✖ ' : ' ✓ '}${notice.text}${notice.hint ? ` — ${notice.hint}` : ''}`;
		status = <Line text={truncate(text, width)} color={notice.level === 'error' ? 'red' : 'green'} />;
	} else {
		status = <Line text="" />;
	}
	return (
		<Box flexDirection="column" width={width} height={2}>
			{status}
			<Line text={truncate(` ${hints ?? (filterEdit ? 'type to filter · Enter keep · Esc clear' : HINTS[focus])}`, width)} dim />
		</Box>
	);
}
