// The bottom two rows: a status line (the latest notice or error with what to do next, or
// the filter being typed) and the keymap's hints for whatever takes the keys: the focused
// pane, the filter, or the dialog.
import type React from 'react';
import { Box, Text } from 'ink';
import { TextField } from './TextField.tsx';
import { hintsFor, type Context } from '../keymap.ts';
import type { Notice } from '../state/notices.ts';
import { truncate } from '../model.ts';
import { Line } from './Line.tsx';

export interface FooterProps {
	/** Whose keys the hints name. */
	context: Context;
	notice: Notice | null;
	width: number;
	/** When set, the status row is the filter input. */
	filterEdit: { value: string; onChange: (value: string) => void; onSubmit: () => void } | null;
}

export function Footer({ context, notice, width, filterEdit }: FooterProps): React.JSX.Element {
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
			<Line text={truncate(` ${hintsFor(context)}`, width)} dim />
		</Box>
	);
}
