// A dialog whose lines scroll (↑↓ j k, PgUp/PgDn) and that any other key closes: the help and
// the warnings & messages. Nothing in them is cut at 80×24; the title says where you are.
import type React from 'react';
import { useState } from 'react';
import { useKeys } from '../keys.tsx';
import { clamp } from '../model.ts';
import { Dialog, dialogBody } from './Dialog.tsx';
import { Lines, type StyledLine } from './Line.tsx';

export interface ScrollDialogProps {
	title: string;
	context: 'help' | 'warnings';
	lines: StyledLine[];
	width: number;
	height: number;
	onClose: () => void;
	color?: string;
}

export function ScrollDialog({ title, context, lines, width, height, onClose, color }: ScrollDialogProps): React.JSX.Element {
	const { rows } = dialogBody(width, height);
	const [first, setFirst] = useState(0);
	const last = Math.max(0, lines.length - rows);
	const move = (delta: number): void => setFirst((current) => clamp(current + delta, 0, last));
	useKeys(context, { up: () => move(-1), down: () => move(1), pageUp: () => move(-Math.max(1, rows - 1)), pageDown: () => move(Math.max(1, rows - 1)), close: onClose });
	const top = Math.min(first, last);
	const where = lines.length > rows ? ` · lines ${top + 1}–${Math.min(lines.length, top + rows)} of ${lines.length}, ↑↓ scroll` : '';
	return (
		<Dialog title={`${title}${where}`} width={width} height={height} color={color}>
			<Lines lines={lines.slice(top, top + rows)} />
		</Dialog>
	);
}
