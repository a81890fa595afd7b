// On open: sessions a crash, a reboot or an SSH disconnect interrupted (engine.reconcile(), as
// `rundirect resume`). Each says what continuing does and the safe way back; nothing happens
// until a key is pressed. Rolling back an ordinary session discards its changes, so it needs
// the VM's name typed; a drill's VM is only ever thrown away. Sessions another live process
// drives are only shown.
import type React from 'react';
import { useState } from 'react';
import { Text } from 'ink';
import type { Reconciliation } from '../../restore/reconcile.ts';
import { useKeys } from '../keys.tsx';
import { hintsFor } from '../keymap.ts';
import { clamp, wrapText } from '../model.ts';
import type { InterruptedActions } from '../state/interrupted.ts';
import { canContinue, continueText, rollbackPhase, rollbackText } from '../drills.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { Dialog, clip, dialogBody } from './Dialog.tsx';
import { Lines, type StyledLine } from './Line.tsx';

export interface ResumeDialogProps {
	actions: InterruptedActions;
	findings: readonly Reconciliation[];
	width: number;
	height: number;
}

export function ResumeDialog({ actions, findings, width, height }: ResumeDialogProps): React.JSX.Element {
	const [cursor, setCursor] = useState(0);
	const [confirming, setConfirming] = useState<Reconciliation | null>(null);
	const index = clamp(cursor, 0, Math.max(0, findings.length - 1));
	const selected = findings[index];

	useKeys(
		'resume',
		{
			leaveAll: () => actions.leaveAll(),
			up: () => setCursor(Math.max(0, index - 1)),
			down: () => setCursor(Math.min(findings.length - 1, index + 1)),
			continueAll: () => {
				for (const finding of findings) if (canContinue(finding)) actions.resolve(finding.session.id, 'continue');
			},
			leave: () => selected && actions.resolve(selected.session.id, 'leave'),
			continue: () => selected && canContinue(selected) && actions.resolve(selected.session.id, 'continue'),
			rollBack: () => {
				if (!selected || rollbackPhase(selected) === null) return;
				if (selected.session.purpose === 'drill') actions.resolve(selected.session.id, 'rollback');
				else setConfirming(selected);
			},
		},
		confirming === null,
	);

	if (confirming) {
		const { session } = confirming;
		return (
			<ConfirmDialog
				title={`Roll back ${session.vm} and discard its changes?`}
				facts={[
					{ text: `Session ${session.id}: ${confirming.detail}`, bold: true },
					{ text: `! ${rollbackText(confirming) ?? ''}`, color: 'red', bold: true },
					{ text: 'Its snapshot layer and production images are deleted; the backup is untouched.' },
				]}
				typeToConfirm={session.vm}
				confirmLabel="roll it back"
				onConfirm={() => {
					setConfirming(null);
					actions.resolve(session.id, 'rollback');
				}}
				onCancel={() => setConfirming(null)}
				width={width}
				height={height}
			/>
		);
	}

	const { rows, columns } = dialogBody(width, height);
	const lines: StyledLine[] = [];
	findings.forEach((finding, at) => {
		const { session } = finding;
		const mark = at === index ? '›' : ' ';
		const kind = session.purpose === 'drill' ? ' · recovery drill' : '';
		lines.push({ key: `${session.id}:h`, text: `${mark} ${session.vm} · ${session.state}${kind} · session ${session.id}`, bold: true, inverse: at === index, color: finding.action === 'busy' ? 'gray' : undefined });
		const detail = (text: string, key: string, color?: string) => wrapText(text, columns - 4).forEach((part, n) => lines.push({ key: `${session.id}:${key}${n}`, text: `    ${part}`, color }));
		if (finding.action === 'busy') {
			detail(`${finding.detail} — shown only: that process carries on with it`, 'b', 'gray');
			return;
		}
		detail(finding.detail, 'd');
		if (canContinue(finding)) detail(`c continue: ${continueText(finding)}`, 'c', 'cyan');
		const back = rollbackText(finding);
		detail(back ? `b roll back: ${back}` : 'no rollback from here: only forward is safe (continue it; if it then fails, s stops it while it can be)', 'r', back ? 'yellow' : 'gray');
	});
	return (
		<Dialog title={`Interrupted sessions (${findings.filter((finding) => finding.action !== 'busy').length}) — nothing happens until you choose`} width={width} height={height} color="yellow">
			<Lines lines={clip(lines, Math.max(1, rows - 2))} />
			<Text> </Text>
			<Text bold wrap="truncate-end">
				{hintsFor('resume')}
			</Text>
		</Dialog>
	);
}
