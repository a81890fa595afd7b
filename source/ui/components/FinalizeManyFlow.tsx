// `A`: finalize several sessions at once — the marked VMs', or every session running from its
// backup — as `rundirect finalize --plan` does: at most N at a time (↑↓ then ←→ to change it),
// every copy sharing one rate limit. It names what each finalize deletes for good (a replaced VM
// set aside); y starts them, each with its own live task tree.
import type React from 'react';
import { useState } from 'react';
import { Text } from 'ink';
import { useKeys } from '../keys.tsx';
import { clamp, wrapText, type SessionView } from '../model.ts';
import type { RestoreActions } from '../state/runs.ts';
import { Dialog, clip, dialogBody, settingLine } from './Dialog.tsx';
import { Lines, type StyledLine } from './Line.tsx';
import { FINALIZE_RATES } from './PhaseConfirm.tsx';

export interface FinalizeManyFlowProps {
	views: SessionView[];
	actions: Pick<RestoreActions, 'finalizeMany'>;
	width: number;
	height: number;
	onClose: () => void;
}

/** As `finalize --plan` does unless told otherwise. */
const DEFAULT_CONCURRENCY = 2;

export function FinalizeManyFlow({ views, actions, width, height, onClose }: FinalizeManyFlowProps): React.JSX.Element {
	const [concurrency, setConcurrency] = useState(Math.min(DEFAULT_CONCURRENCY, Math.max(1, views.length)));
	const [rate, setRate] = useState(0);
	const [field, setField] = useState<'concurrency' | 'rate'>('concurrency');
	const change = (direction: 1 | -1): void => {
		if (field === 'concurrency') setConcurrency((value) => clamp(value + direction, 1, Math.max(1, Math.min(64, views.length))));
		else setRate((index) => clamp(index + direction, 0, FINALIZE_RATES.length - 1));
	};
	const confirm = (): void => {
		if (views.length === 0) return onClose();
		const mib = FINALIZE_RATES[rate] ?? 0;
		actions.finalizeMany(
			views.map((view) => view.record.id),
			{ concurrency, rateLimit: mib > 0 ? mib * 2 ** 20 : null },
		);
		onClose();
	};
	const otherSetting = (): void => setField(field === 'concurrency' ? 'rate' : 'concurrency');
	useKeys('drill', { cancel: onClose, confirm, nextSetting: otherSetting, previousSetting: otherSetting, increase: () => change(1), decrease: () => change(-1) });

	const { rows, columns } = dialogBody(width, height);
	const lines: StyledLine[] = [];
	if (views.length === 0) lines.push({ key: 'gone', text: 'These sessions have ended meanwhile (another console or command?).' });
	for (const view of views) lines.push({ key: `vm:${view.record.id}`, text: `  ${view.record.vm}  (session ${view.record.id})`, bold: true });
	const facts: Array<{ text: string; color?: string; bold?: boolean }> = [
		{ text: 'Each: step 5 copies its backup into the production images while the VM keeps running, step 6 applies its changes in a pause of milliseconds, step 7 drops the snapshot layer. Each then runs from production storage.' },
	];
	for (const view of views) {
		const aside = view.record.setAside;
		if (aside) facts.push({ text: `! The replaced VM ${aside.name}, set aside as ${aside.asideName}, will be DELETED for good once ${view.record.vm} runs from production.`, bold: true, color: 'red' });
	}
	facts.forEach((fact, index) => wrapText(fact.text, columns).forEach((text, part) => lines.push({ key: `f${index}.${part}`, text, color: fact.color, bold: fact.bold })));
	const mib = FINALIZE_RATES[rate] ?? 0;
	const setting = (name: 'concurrency' | 'rate', label: string, value: string, note: string): StyledLine => settingLine(name, label, value, note, field === name);
	const settingLines = [setting('concurrency', 'Concurrency', String(concurrency), 'finalizes at once'), setting('rate', 'Rate limit', mib === 0 ? 'none' : `${mib} MiB/s`, 'shared by every copy')];
	return (
		<Dialog title={`Finalize ${views.length} session${views.length === 1 ? '' : 's'}?`} width={width} height={height} color="yellow">
			<Lines lines={clip(lines, Math.max(1, rows - 4))} />
			<Lines lines={settingLines} />
			<Text> </Text>
			<Text bold wrap="truncate-end">{'y/Enter: finalize them · ↑↓ setting · ←→ change · n/Esc: cancel'}</Text>
		</Dialog>
	);
}
