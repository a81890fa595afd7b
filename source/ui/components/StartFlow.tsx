// Starting a restore from a restore point: a short form (location, name, what happens to the
// VM being replaced), then a confirmation built from the engine's own proposal — its
// problems block, its `destroys` are named, and deleting a VM needs that VM's name typed.
import type React from 'react';
import { useRef, useState } from 'react';
import { Box, Text } from 'ink';
import { TextField } from './TextField.tsx';
import type { RestorePoint } from '../../catalog/catalog.ts';
import type { ReplaceMode } from '../../hosts/host.ts';
import type { StartProposal } from '../../restore/engine.ts';
import type { StartRequest } from '../../restore/start-request.ts';
import { formatBytes } from '../../core/format.ts';
import { shortTime, toUiError, wrapText, type UiError } from '../model.ts';
import { useKeyTarget, useKeys } from '../keys.tsx';
import type { RestoreActions } from '../state/runs.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { Dialog } from './Dialog.tsx';
import { Line } from './Line.tsx';

export interface StartForm {
	location: 'original' | 'alternate';
	folder: string;
	naming: 'keep' | 'new';
	newName: string;
	replaceMode: ReplaceMode;
}

type Field = 'location' | 'folder' | 'naming' | 'newName' | 'replaceMode' | 'power' | 'review';

function fieldsOf(form: StartForm): Field[] {
	const fields: Field[] = ['location'];
	if (form.location === 'alternate') fields.push('folder');
	fields.push('naming');
	if (form.naming === 'new') fields.push('newName');
	fields.push('replaceMode', 'power', 'review');
	return fields;
}

export function requestOf(point: RestorePoint, form: StartForm): StartRequest {
	return {
		vm: point.vm,
		point: point.id,
		...(form.naming === 'new' ? { name: form.newName.trim() } : {}),
		location: form.location === 'alternate' ? form.folder.trim() : 'original',
		replaceMode: form.replaceMode,
	};
}

function choice<T extends string>(options: Array<[T, string]>, value: T): string {
	return options.map(([option, label]) => `${option === value ? '◉' : '○'} ${label}`).join('   ');
}

export interface StartFlowProps {
	actions: Pick<RestoreActions, 'propose' | 'start'>;
	point: RestorePoint;
	width: number;
	height: number;
	onCancel: () => void;
	/** Called once the session exists and steps 1–4 run. */
	onStarted: (sessionId: string) => void;
	/** The active session that holds the VM's own name: keeping it would be refused, so a new name is offered first. */
	heldBy?: { id: string; state: string } | null;
}

type Stage = { kind: 'form'; error: UiError | null } | { kind: 'checking' } | { kind: 'confirm'; proposal: StartProposal; error: UiError | null } | { kind: 'starting' };

export function StartFlow({ actions, point, width, height, onCancel, onStarted, heldBy = null }: StartFlowProps): React.JSX.Element {
	const [form, setFormState] = useState<StartForm>({ location: 'original', folder: '', naming: heldBy ? 'new' : 'keep', newName: `${point.vm}-restored`, replaceMode: 'set-aside' });
	const [cursor, setCursor] = useState(0);
	const [stage, setStage] = useState<Stage>({ kind: 'form', error: null });
	// An error is about what was reviewed: the first change to the form takes it away.
	const setForm = (next: StartForm): void => {
		setFormState(next);
		if (stage.kind === 'form' && stage.error) setStage({ kind: 'form', error: null });
	};
	const fields = fieldsOf(form);
	const field = fields[Math.min(cursor, fields.length - 1)] ?? 'review';

	// Keys typed while the start is checked (`Enter y` in one write) are never the confirmation:
	// a start is confirmed on the screen that names what it turns off. They are said, not dropped unseen.
	const checking = useRef<'no' | 'began' | 'yes'>('no');
	const [typedAhead, setTypedAhead] = useState(false);

	/** `typed`: a text field's value submitted in the same keystrokes, ahead of the form state. */
	const review = (typed: Partial<StartForm> = {}): void => {
		checking.current = 'began';
		setTypedAhead(false);
		setStage({ kind: 'checking' });
		const done = (): void => {
			checking.current = 'no';
		};
		actions.propose(requestOf(point, { ...form, ...typed })).then(
			(proposal) => {
				done();
				setStage({ kind: 'confirm', proposal, error: null });
			},
			(error: unknown) => {
				done();
				setStage({ kind: 'form', error: toUiError(error) });
			},
		);
	};

	const start = (proposal: StartProposal): void => {
		setStage({ kind: 'starting' });
		actions.start(proposal).then(onStarted, (error: unknown) => setStage({ kind: 'confirm', proposal, error: toUiError(error) }));
	};

	useKeys(
		'start',
		{
			cancel: onCancel,
			previousField: () => setCursor((value) => Math.max(0, Math.min(value, fields.length - 1) - 1)),
			nextField: () => setCursor((value) => Math.min(fields.length - 1, value + 1)),
			// A text field submits itself (with what was typed in the same chunk).
			review: () => (field === 'folder' || field === 'newName' ? undefined : review()),
			change: () => {
				if (field === 'location') setForm({ ...form, location: form.location === 'original' ? 'alternate' : 'original' });
				if (field === 'naming') setForm({ ...form, naming: form.naming === 'keep' ? 'new' : 'keep' });
				if (field === 'replaceMode') setForm({ ...form, replaceMode: form.replaceMode === 'set-aside' ? 'delete' : 'set-aside' });
			},
		},
		stage.kind === 'form',
	);
	// After the form's keys (registration order is dispatch order): it sees the Enter that began the check.
	useKeyTarget({
		text: (input, key) => {
			if (checking.current === 'no') {
				// Several keys in one write with an Enter among them (a script, a fast typist): the
				// form's keymap takes a chunk as one key and would drop it all; the Enter is acted on here.
				const enter = input.indexOf('\r');
				if (stage.kind !== 'form' || input.length < 2 || enter < 0 || field === 'folder' || field === 'newName') return;
				review();
				checking.current = 'yes';
				if (input.slice(enter + 1).length > 0) setTypedAhead(true);
				return;
			}
			// The keys of the write that began the check, up to its Enter, were the form's.
			const began = checking.current === 'began';
			checking.current = 'yes';
			const after = began ? (input.includes('\r') ? input.slice(input.indexOf('\r') + 1) : key.return ? '' : input) : input || (key.return ? '\r' : '');
			if (after.length > 0) setTypedAhead(true);
		},
		active: () => stage.kind === 'form' || checking.current !== 'no',
	});

	if (stage.kind === 'starting') return <Dialog title="Claiming the VM and writing the journal…" width={width} height={height} />;
	if (stage.kind === 'confirm') {
		const { proposal } = stage;
		return <StartConfirm proposal={proposal} error={stage.error} typedAhead={typedAhead} width={width} height={height} onConfirm={() => start(proposal)} onCancel={() => setStage({ kind: 'form', error: null })} />;
	}

	const row = (name: Field, label: string, value: React.ReactNode): React.JSX.Element => (
		<Box key={name} height={1}>
			<Text bold={field === name} color={field === name ? 'cyan' : undefined}>{`${field === name ? '›' : ' '} ${label.padEnd(16)}`}</Text>
			{value}
		</Box>
	);
	const size = point.disks.reduce((sum, disk) => sum + disk.virtualSize, 0);
	return (
		<Dialog title={`Restore ${point.vm} from ${point.id}`} width={width} height={height}>
			{/* The facts on a line of their own: in a title they were cut at 80 columns. */}
			<Line text={`  taken ${shortTime(point.manifest.takenAt)} · ${point.disks.length} disk${point.disks.length === 1 ? '' : 's'} · data ${formatBytes(point.size)} · virtual ${formatBytes(size)}`} dim />
			{heldBy ? wrapText(`● ${point.vm} has an active session (${heldBy.id}, ${heldBy.state}): keeping its name is refused — restore under a new name, or finalize or stop that session first`, Math.max(1, width - 4)).map((text, index) => <Line key={`held${index}`} text={text} color="yellow" />) : null}
			{row('location', 'Location', <Text>{choice([['original', 'original (production storage)'], ['alternate', 'alternate folder']], form.location)}</Text>)}
			{form.location === 'alternate' ? row('folder', '  Folder', <TextField value={form.folder} placeholder="/absolute/folder" focus={field === 'folder' && stage.kind === 'form'} onChange={(folder) => setForm({ ...form, folder })} onSubmit={(folder) => review({ folder })} />) : null}
			{row('naming', 'VM name', <Text>{choice([['keep', `keep ${point.vm}`], ['new', 'new name']], form.naming)}</Text>)}
			{form.naming === 'new' ? row('newName', '  New name', <TextField value={form.newName} focus={field === 'newName' && stage.kind === 'form'} onChange={(newName) => setForm({ ...form, newName })} onSubmit={(newName) => review({ newName })} />) : null}
			{row('replaceMode', 'Replaced VM', <Text>{choice([['set-aside', 'set aside until finalized'], ['delete', 'DELETE now']], form.replaceMode)}</Text>)}
			{row('power', 'Power on', <Text dimColor>yes — Run Direct starts the VM from the backup in step 4</Text>)}
			{row('review', '', <Text bold inverse={field === 'review'}>{' Review what will happen → '}</Text>)}
			<Text> </Text>
			{stage.kind === 'checking' ? <Line text="Checking the restore point and the host (pre-flight)…" color="yellow" /> : null}
			{stage.kind === 'form' && stage.error ? wrapText(`✖ ${stage.error.message}`, Math.max(1, width - 4)).map((text, index) => <Line key={`e${index}`} text={text} color="red" />) : null}
			{stage.kind === 'form' && stage.error?.hint ? wrapText(`→ ${stage.error.hint}`, Math.max(1, width - 4)).map((text, index) => <Line key={`h${index}`} text={text} color="yellow" />) : null}
			<Line text="↑↓ field · ←→/Space change · Enter review · Esc cancel" dim />
		</Dialog>
	);
}

interface StartConfirmProps {
	proposal: StartProposal;
	error: UiError | null;
	/** Keys came while it was being checked: they were not taken as the answer. */
	typedAhead: boolean;
	width: number;
	height: number;
	onConfirm: () => void;
	onCancel: () => void;
}

function StartConfirm({ proposal, error, typedAhead, width, height, onConfirm, onCancel }: StartConfirmProps): React.JSX.Element {
	const { plan, point } = proposal;
	const facts: Array<{ text: string; color?: string; bold?: boolean }> = [
		{ text: `${point.vm}/${point.id} → VM ${plan.vmName} on ${plan.host}, disks in ${plan.productionDir}`, bold: true },
		{ text: 'Steps 1–4: replace the VM, create empty production disks, create the snapshot layer (the backup stays read-only), start the VM running from the backup.' },
	];
	if (proposal.resume) facts.push({ text: `Continues session ${proposal.resume.id}, interrupted while ${proposal.resume.state}, from its journal.`, color: 'yellow' });
	if (!plan.replaces) facts.push({ text: `Nothing is turned off or deleted: there is no VM named ${plan.vmName} on ${plan.host}.`, color: 'green' });
	for (const text of proposal.destroys) facts.push({ text: `! ${text}`, color: plan.replaceMode === 'delete' ? 'red' : 'yellow', bold: true });
	if (proposal.problems.length > 0) {
		facts.push({ text: 'Cannot start — nothing was changed:', color: 'red', bold: true });
		for (const problem of proposal.problems) facts.push({ text: `  - ${problem}`, color: 'red' });
		return <ConfirmDialog title="Pre-flight failed" facts={facts} typeToConfirm={undefined} confirmLabel="go back" onConfirm={onCancel} onCancel={onCancel} width={width} height={height} />;
	}
	const footer = [
		...(typedAhead ? [{ key: 't', text: 'A key typed while this was being checked was not taken as the answer: answer here.', color: 'yellow' }] : []),
		...(error
			? [
					{ key: 'e', text: `✖ ${error.message}`, color: 'red' },
					...(error.hint ? [{ key: 'h', text: `→ ${error.hint}`, color: 'yellow' }] : []),
				]
			: []),
	];
	const destructive = plan.replaceMode === 'delete' && plan.replaces !== null && !proposal.resume;
	return (
		<ConfirmDialog
			title={`Start Run Direct of ${plan.vmName}?`}
			facts={facts}
			typeToConfirm={destructive ? (plan.replaces ?? undefined) : undefined}
			confirmLabel={destructive ? 'delete it and start' : 'start'}
			onConfirm={onConfirm}
			onCancel={onCancel}
			width={width}
			height={height}
			footer={footer}
		/>
	);
}
