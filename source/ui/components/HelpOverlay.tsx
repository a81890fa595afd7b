// `?`: every key (the keymap's help rows), what a Run Direct restore does, and the current
// warnings in full.
import type React from 'react';
import { useKeys } from '../keys.tsx';
import { helpRows } from '../keymap.ts';
import { wrapText } from '../model.ts';
import { Dialog, clip, dialogBody } from './Dialog.tsx';
import { Lines, type StyledLine } from './Line.tsx';

export function HelpOverlay({ width, height, warnings, onClose }: { width: number; height: number; warnings: readonly string[]; onClose: () => void }): React.JSX.Element {
	useKeys('help', { close: onClose });
	const { rows, columns } = dialogBody(width, height);
	const lines: StyledLine[] = helpRows().map(({ keys, text }) => ({ key: keys, text: `${keys.padEnd(16)} ${text}` }));
	lines.push({ key: 'gap', text: '' });
	wrapText('Run Direct: steps 1–4 start the VM straight from its backup (read-only) with writes going to a snapshot layer; finalize copies the backup to production while the VM runs and switches over in milliseconds; stop discards the layer and brings the replaced VM back.', columns).forEach((text, index) => lines.push({ key: `rd${index}`, text, dim: true }));
	for (const [index, warning] of warnings.entries()) wrapText(`⚠ ${warning}`, columns).forEach((text, part) => lines.push({ key: `w${index}.${part}`, text, color: 'yellow' }));
	return (
		<Dialog title="Keys — any key closes this help" width={width} height={height}>
			<Lines lines={clip(lines, rows)} />
		</Dialog>
	);
}
