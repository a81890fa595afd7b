// A confirmation that names exactly what will happen. Destructive ones need a name typed:
// anything else, or Esc, does nothing.
import type React from 'react';
import { useState } from 'react';
import { Box, Text } from 'ink';
import { useKeys } from '../keys.tsx';
import { TextField } from './TextField.tsx';
import { wrapText } from '../model.ts';
import { Lines, type StyledLine } from './Line.tsx';
import { Dialog, clip, dialogBody } from './Dialog.tsx';

export interface ConfirmDialogProps {
	title: string;
	/** What will happen, one fact per entry (wrapped to the dialog's width). */
	facts: Array<{ text: string; color?: string; bold?: boolean }>;
	/** When set, the user must type this exactly; otherwise y or Enter confirms. */
	typeToConfirm?: string;
	confirmLabel: string;
	onConfirm: () => void;
	onCancel: () => void;
	width: number;
	height: number;
	/** Shown under the facts, e.g. an error from a first attempt. */
	footer?: StyledLine[];
	/** The keymap context of a yes/no confirmation (finalize adds ←→ for its rate: `adjust`). */
	context?: 'confirm' | 'finalize' | 'quit';
	adjust?: { increase: () => void; decrease: () => void };
}

const NOTHING = (): void => undefined;

export function ConfirmDialog({ title, facts, typeToConfirm, confirmLabel, onConfirm, onCancel, width, height, footer = [], context = 'confirm', adjust }: ConfirmDialogProps): React.JSX.Element {
	const [typed, setTyped] = useState('');
	const [mismatch, setMismatch] = useState(false);
	// A name to type: its field takes every key but Esc.
	useKeys('confirm-typed', { cancel: onCancel }, typeToConfirm !== undefined);
	useKeys(context, { confirm: onConfirm, cancel: onCancel, increase: adjust?.increase ?? NOTHING, decrease: adjust?.decrease ?? NOTHING }, typeToConfirm === undefined);
	const { rows, columns } = dialogBody(width, height);
	const lines: StyledLine[] = [];
	facts.forEach((fact, index) => wrapText(fact.text, columns).forEach((text, part) => lines.push({ key: `f${index}.${part}`, text, color: fact.color, bold: fact.bold })));
	// Footer lines (an error, a notice) wrap like the facts: never cut mid-sentence.
	for (const line of footer) wrapText(line.text, columns).forEach((text, part) => lines.push({ ...line, key: `${line.key}.${part}`, text }));
	if (mismatch) lines.push({ key: 'mismatch', text: `That is not "${typeToConfirm}": nothing was done. Type it exactly, or Esc to cancel.`, color: 'red' });
	const reserved = 2;
	return (
		<Dialog title={title} width={width} height={height} color={typeToConfirm ? 'red' : 'yellow'}>
			<Lines lines={clip(lines, Math.max(1, rows - reserved))} />
			<Text> </Text>
			{typeToConfirm ? (
				<Box height={1}>
					<Text bold>{`Type ${typeToConfirm} to ${confirmLabel}: `}</Text>
					<TextField
						value={typed}
						onChange={(value) => {
							setTyped(value);
							setMismatch(false);
						}}
						onSubmit={(value) => {
							if (value.trim() === typeToConfirm) onConfirm();
							else setMismatch(true);
						}}
					/>
				</Box>
			) : (
				<Text bold wrap="truncate-end">{`y/Enter: ${confirmLabel} · n/Esc: cancel`}</Text>
			)}
		</Dialog>
	);
}
