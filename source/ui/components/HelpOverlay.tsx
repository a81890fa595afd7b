// `?`: every key, what a Run Direct restore does, and the current warnings in full.
import React from 'react';
import { useInput } from 'ink';
import { wrapText } from '../model.ts';
import { Dialog, clip, dialogBody } from './Dialog.tsx';
import { Lines, type StyledLine } from './Line.tsx';

const KEYS: Array<[string, string]> = [
	['↑ ↓  j k', 'move in the focused pane (PgUp/PgDn, Home/End or g/G jump)'],
	['Tab  Shift+Tab', 'next / previous pane: backups → sessions → task tree'],
	['→ / Enter', 'on a VM: show its restore points (← hides them)'],
	['Enter', 'on a restore point: restore it (a short form, then a confirmation)'],
	['f', 'finalize the selected session: steps 5–7, the VM keeps running'],
	['s', 'stop the selected session: the VM is removed, every change discarded'],
	['Space', 'mark / unmark a VM (or a restore point) for a recovery drill'],
	['d', 'drill the marked VMs, or the selected one: boot each under a new name, isolated'],
	['H', 'drill history: pass/fail and times (Enter: report and evidence, Esc back)'],
	['/', 'filter VMs by name (Enter keeps the filter, Esc clears it)'],
	['r', 'read the backups, sessions and host again'],
	['Esc', 'close a dialog, clear a message'],
	['q  Ctrl+C', 'quit — VMs and copies on the host go on; reopen to see them'],
];

export function HelpOverlay({ width, height, warnings, onClose }: { width: number; height: number; warnings: readonly string[]; onClose: () => void }): React.JSX.Element {
	useInput(() => onClose());
	const { rows, columns } = dialogBody(width, height);
	const lines: StyledLine[] = KEYS.map(([keys, what]) => ({ key: keys, text: `${keys.padEnd(16)} ${what}` }));
	lines.push({ key: 'gap', text: '' });
	wrapText('Run Direct: steps 1–4 start the VM straight from its backup (read-only) with writes going to a snapshot layer; finalize copies the backup to production while the VM runs and switches over in milliseconds; stop discards the layer and brings the replaced VM back.', columns).forEach((text, index) => lines.push({ key: `rd${index}`, text, dim: true }));
	for (const [index, warning] of warnings.entries()) wrapText(`⚠ ${warning}`, columns).forEach((text, part) => lines.push({ key: `w${index}.${part}`, text, color: 'yellow' }));
	return (
		<Dialog title="Keys — any key closes this help" width={width} height={height}>
			<Lines lines={clip(lines, rows)} />
		</Dialog>
	);
}
