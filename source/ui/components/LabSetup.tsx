// Shown when the lab host has no lab yet: offers `lab init` and shows its progress.
import type React from 'react';
import { useKeys } from '../keys.tsx';
import { bar, wrapText } from '../model.ts';
import type { SetupProgress } from '../state/setup.ts';
import { Dialog, dialogBody } from './Dialog.tsx';
import { Lines, type StyledLine } from './Line.tsx';

export interface LabSetupProps {
	setup: SetupProgress | null;
	destination: string;
	width: number;
	height: number;
	onRun: () => void;
	onQuit: () => void;
}

export function LabSetup({ setup, destination, width, height, onRun, onQuit }: LabSetupProps): React.JSX.Element {
	const running = setup?.running === true;
	useKeys('lab', { runLabInit: onRun, quit: onQuit }, !running);
	const { columns } = dialogBody(width, height);
	const lines: StyledLine[] = [];
	wrapText(`The lab host has no lab yet (no backup destination at ${destination}).`, columns).forEach((text, index) => lines.push({ key: `a${index}`, text }));
	wrapText('"lab init" builds a tiny bootable guest from Debian packages (about 60 MB to download the first time), a sample backup destination of 3 VMs and the lab host\'s existing VMs.', columns).forEach((text, index) => lines.push({ key: `b${index}`, text, dim: true }));
	lines.push({ key: 'gap', text: '' });
	if (setup) {
		const fraction = setup.fraction ?? 0;
		lines.push({ key: 'bar', text: `${bar(fraction, Math.min(40, columns - 6))} ${String(Math.round(fraction * 100)).padStart(3)}%`, color: 'cyan' });
		lines.push({ key: 'msg', text: setup.message, dim: true });
		if (setup.error) {
			wrapText(`✖ ${setup.error.message}`, columns).forEach((text, index) => lines.push({ key: `e${index}`, text, color: 'red' }));
			if (setup.error.hint) lines.push({ key: 'hint', text: `→ ${setup.error.hint}`, color: 'yellow' });
		}
	}
	if (!running) lines.push({ key: 'keys', text: setup?.error ? 'Enter: try again · q: quit' : 'Enter: run lab init now · q: quit', bold: true });
	return (
		<Dialog title="No lab yet" width={width} height={height}>
			<Lines lines={lines} />
		</Dialog>
	);
}
