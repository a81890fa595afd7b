// f and s ask first. Finalize needs a yes, and offers a copy rate limit (←→); stop discards
// the VM's changes, so it needs the VM's name typed.
import type React from 'react';
import { useState } from 'react';
import { formatBytes } from '../../core/format.ts';
import { isTerminal } from '../../restore/session.ts';
import type { SessionView } from '../model.ts';
import type { RestoreActions } from '../state/runs.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';

/** Copy rates finalize offers (MiB/s; 0 = unlimited): a cap spares production storage other VMs use. */
export const FINALIZE_RATES = [0, 10, 50, 100, 200, 500] as const;

export interface PhaseConfirmProps {
	phase: 'finalize' | 'stop';
	/** The session, as the sessions slice has it now (undefined: gone meanwhile). */
	view: SessionView | undefined;
	actions: Pick<RestoreActions, 'finalize' | 'stop'>;
	width: number;
	height: number;
	onClose: () => void;
}

type Fact = { text: string; color?: string; bold?: boolean };

export function PhaseConfirm({ phase, view, actions, width, height, onClose }: PhaseConfirmProps): React.JSX.Element {
	const [rate, setRate] = useState(0);
	if (!view || isTerminal(view.record)) {
		return <ConfirmDialog title="Session gone" facts={[{ text: 'The session has ended meanwhile (another console or command?).' }]} confirmLabel="close" onConfirm={onClose} onCancel={onClose} width={width} height={height} />;
	}
	const { record } = view;
	const aside = record.setAside;
	if (phase === 'finalize') {
		const facts: Fact[] = [
			{ text: `Finalize ${record.vm} (session ${record.id})`, bold: true },
			{ text: 'Step 5 copies the backup into the production images while the VM keeps running; step 6 applies its changes in a pause of milliseconds; step 7 drops the snapshot layer. The VM then runs from production storage.' },
		];
		if (aside) facts.push({ text: `! The replaced VM ${aside.name}, set aside as ${aside.asideName}, will be DELETED for good.`, bold: true });
		facts.push({ text: `Copy rate (←→): ${FINALIZE_RATES.map((value, index) => `${index === rate ? '◉' : '○'} ${value === 0 ? 'unlimited' : `${value} MiB/s`}`).join('  ')}`, color: 'cyan' });
		const mib = FINALIZE_RATES[rate] ?? 0;
		return (
			<ConfirmDialog
				title={`Finalize ${record.vm}?`}
				facts={facts}
				confirmLabel="finalize"
				context="finalize"
				adjust={{ increase: () => setRate((index) => Math.min(FINALIZE_RATES.length - 1, index + 1)), decrease: () => setRate((index) => Math.max(0, index - 1)) }}
				onConfirm={() => {
					actions.finalize(record.id, mib > 0 ? mib * 2 ** 20 : undefined);
					onClose();
				}}
				onCancel={onClose}
				width={width}
				height={height}
			/>
		);
	}
	const changed = view.status?.bytesChanged;
	const facts: Fact[] = [
		{ text: `Stop ${record.vm} (session ${record.id})`, bold: true },
		{ text: `! ${record.vm} will be turned off and removed, and every change made in it since it started${changed ? ` (${formatBytes(changed)} written)` : ''} will be DISCARDED.`, color: 'red', bold: true },
		{ text: 'Its snapshot layer and the production images created in step 2 are deleted; the backup is untouched.' },
	];
	if (aside) facts.push({ text: `The replaced VM ${aside.name} comes back as it was.`, color: 'green' });
	// A stop already under way (state stopping) was confirmed when it began.
	const typed = record.state === 'stopping' ? undefined : record.vm;
	return (
		<ConfirmDialog
			title={`Stop ${record.vm} and discard its changes?`}
			facts={facts}
			typeToConfirm={typed}
			confirmLabel="stop it"
			onConfirm={() => {
				actions.stop(record.id);
				onClose();
			}}
			onCancel={onClose}
			width={width}
			height={height}
		/>
	);
}
