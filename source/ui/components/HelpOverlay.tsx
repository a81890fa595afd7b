// `?`: every key (the keymap's help rows), what a Run Direct restore does, and the current
// warnings in full — scrolling, so nothing is cut at 80×24.
import type React from 'react';
import { helpRows } from '../keymap.ts';
import { wrapText } from '../model.ts';
import { dialogBody } from './Dialog.tsx';
import type { StyledLine } from './Line.tsx';
import { ScrollDialog } from './ScrollDialog.tsx';

export function helpLines(columns: number, warnings: readonly string[]): StyledLine[] {
	const lines: StyledLine[] = [];
	for (const { keys, text } of helpRows()) {
		wrapText(text, Math.max(10, columns - 17)).forEach((part, index) => lines.push({ key: `${keys}.${index}`, text: `${(index === 0 ? keys : '').padEnd(16)} ${part}` }));
	}
	lines.push({ key: 'gap', text: '' });
	wrapText('Run Direct: steps 1–4 start the VM straight from its backup (read-only) with writes going to a snapshot layer; finalize copies the backup to production while the VM runs and switches over in milliseconds; stop discards the layer and brings the replaced VM back.', columns).forEach((text, index) => lines.push({ key: `rd${index}`, text, dim: true }));
	for (const [index, warning] of warnings.entries()) wrapText(`⚠ ${warning}`, columns).forEach((text, part) => lines.push({ key: `w${index}.${part}`, text, color: 'yellow' }));
	return lines;
}

export function HelpOverlay({ width, height, warnings, onClose }: { width: number; height: number; warnings: readonly string[]; onClose: () => void }): React.JSX.Element {
	const { columns } = dialogBody(width, height);
	return <ScrollDialog title="Keys — any key closes this help (↑↓ scroll)" context="help" lines={helpLines(columns, warnings)} width={width} height={height} onClose={onClose} />;
}
