// `d`: a recovery drill of the marked VMs (or the selected one). The drill is checked first
// (prepareDrill changes nothing); the confirmation names every drill VM — new, clearly marked
// names, nothing replaced, network isolated — with how many boot at once and how long each has
// to show proof of life (←→ change them; they start at `rundirect drill`'s defaults), and the
// application checks every VM must pass (typed: a command, or tcp:PORT; `;` between). y starts
// it; it runs in the background. `S`: the same flow as a site recovery (`start --plan`): each VM
// under its own name on its own networks, left running; a VM it replaces is named, and then the
// word "recover" must be typed.
import type React from 'react';
import { useEffect, useState } from 'react';
import { Text } from 'ink';
import type { PreparedDrill } from '../../drill/index.ts';
import { useKeys, useTextInput } from '../keys.tsx';
import { clamp, toUiError, wrapText, type UiError } from '../model.ts';
import type { DrillActions, DrillSettings } from '../state/drills.ts';
import { stepTimeout, type DrillTarget, type PlanKind } from '../drills.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { Dialog, clip, dialogBody, settingLine } from './Dialog.tsx';
import { Lines, type StyledLine } from './Line.tsx';

export interface DrillFlowProps {
	actions: Pick<DrillActions, 'defaults' | 'propose' | 'run'>;
	targets: DrillTarget[];
	kind?: PlanKind;
	width: number;
	height: number;
	onCancel: () => void;
	/** Called once the drill runs (in the background). */
	onStarted: (drillId: string) => void;
	/** Whose keys the dialog takes now (the footer names their hints). */
	onKeys?: (keys: 'drill' | 'drill-check' | 'confirm-typed') => void;
}

type Field = 'concurrency' | 'timeout' | 'checks';
const FIELDS: readonly Field[] = ['concurrency', 'timeout', 'checks'];

type Stage = { kind: 'checking' } | { kind: 'confirm'; prepared: PreparedDrill; error: UiError | null } | { kind: 'typed'; prepared: PreparedDrill } | { kind: 'refused'; error: UiError } | { kind: 'starting' };

/** What a site recovery replaces must be confirmed by typing this. */
export const RECOVER_WORD = 'recover';

export function DrillFlow({ actions, targets, kind = 'drill', width, height, onCancel, onStarted, onKeys }: DrillFlowProps): React.JSX.Element {
	const recovery = kind === 'recovery';
	const [stage, setStage] = useState<Stage>({ kind: 'checking' });
	/** Known once the drill code has loaded (the first check waits for it too). */
	const [settings, setSettings] = useState<DrillSettings | null>(null);
	const [field, setField] = useState<Field>('concurrency');
	useEffect(() => {
		let live = true;
		actions
			.defaults()
			.then((defaults) => {
				const initial = { concurrency: Math.min(defaults.concurrency, Math.max(1, targets.length)), timeoutSeconds: defaults.timeoutSeconds };
				if (live) setSettings(initial);
				return actions.propose(targets, initial, undefined, kind);
			})
			.then(
				(prepared) => live && setStage({ kind: 'confirm', prepared, error: null }),
				(error: unknown) => live && setStage({ kind: 'refused', error: toUiError(error) }),
			);
		return () => {
			live = false;
		};
		// eslint-disable-next-line react-hooks/exhaustive-deps -- checked once, when the dialog opens; the settings do not change what is checked
	}, []);

	const run = (final: PreparedDrill): void => {
		actions.run(final);
		onStarted(final.id);
	};
	// Checked again with the chosen settings (checks included) before anything is asked or done, under the same id (the names shown stay the names used).
	const start = (prepared: PreparedDrill, chosen: DrillSettings): void => {
		setStage({ kind: 'starting' });
		actions.propose(targets, chosen, prepared.id, kind).then(
			(final) => (recovery && final.destroys.length > 0 ? setStage({ kind: 'typed', prepared: final }) : run(final)),
			(error: unknown) => setStage({ kind: 'confirm', prepared, error: toUiError(error) }),
		);
	};

	const change = (direction: 1 | -1): void => {
		if (stage.kind !== 'confirm' || !settings) return;
		if (field === 'concurrency') setSettings({ ...settings, concurrency: clamp(settings.concurrency + direction, 1, 64) });
		else setSettings({ ...settings, timeoutSeconds: stepTimeout(settings.timeoutSeconds, direction) });
	};
	const confirm = (): void => {
		if (stage.kind === 'confirm' && settings) start(stage.prepared, settings);
	};
	const moveSetting = (by: 1 | -1): void => {
		if (stage.kind === 'confirm') setField(FIELDS[(FIELDS.indexOf(field) + by + FIELDS.length) % FIELDS.length] ?? 'concurrency');
	};
	const nextSetting = (): void => moveSetting(1);
	const previousSetting = (): void => moveSetting(-1);
	const typing = field === 'checks' && stage.kind === 'confirm';
	const keys = stage.kind === 'typed' ? 'confirm-typed' : typing ? 'drill-check' : 'drill';
	useEffect(() => onKeys?.(keys), [keys, onKeys]);
	useKeys('drill', { cancel: onCancel, confirm, nextSetting, previousSetting, increase: () => change(1), decrease: () => change(-1) }, !typing && stage.kind !== 'refused' && stage.kind !== 'typed');
	// The Check line is a text field: letters are its own (y and n too), Enter still runs.
	useKeys('drill-check', { cancel: onCancel, confirm, nextSetting, previousSetting }, typing);
	useTextInput((input, key) => {
		if (!settings || key.return || key.escape || key.tab || key.upArrow || key.downArrow || key.ctrl || key.meta) return;
		const text = settings.checks ?? '';
		if (key.backspace || key.delete) setSettings({ ...settings, checks: text.slice(0, -1) });
		else setSettings({ ...settings, checks: text + [...input].filter((char) => char >= ' ' && char !== '\u007F').join('') });
	}, typing);
	useKeys('drill-refused', { close: onCancel }, stage.kind === 'refused');

	const { rows, columns } = dialogBody(width, height);
	const names = targets.map((target) => target.vm).join(', ');
	const title = recovery ? `Site recovery of ${names} — Run Direct under their own names` : `Recovery drill of ${names} — prove the backups boot`;
	if (stage.kind === 'typed' && settings) {
		const typed = stage.prepared;
		return (
			<ConfirmDialog
				title={title}
				facts={[{ text: 'This replaces VMs that exist now:', bold: true, color: 'red' }, ...typed.destroys.map((text) => ({ text: `• ${text}`, color: 'red' })), { text: 'Each is set aside, not deleted, until its VM is finalized; stopping a session brings it back.' }]}
				typeToConfirm={RECOVER_WORD}
				confirmLabel={`start ${typed.report.vms.length} VM${typed.report.vms.length === 1 ? '' : 's'}`}
				onConfirm={() => run(typed)}
				onCancel={() => setStage({ kind: 'confirm', prepared: typed, error: null })}
				width={width}
				height={height}
			/>
		);
	}
	if (stage.kind === 'refused') {
		const lines: StyledLine[] = [{ key: 'h', text: `Cannot ${recovery ? 'recover' : 'drill'} — nothing was changed:`, color: 'red', bold: true }];
		wrapText(stage.error.message, columns).forEach((text, index) => lines.push({ key: `e${index}`, text, color: 'red' }));
		if (stage.error.hint) wrapText(`→ ${stage.error.hint}`, columns).forEach((text, index) => lines.push({ key: `h${index}`, text, color: 'yellow' }));
		return (
			<Dialog title={title} width={width} height={height} color="red">
				<Lines lines={clip(lines, Math.max(1, rows - 2))} />
				<Text> </Text>
				<Text bold>any key: back</Text>
			</Dialog>
		);
	}
	if (stage.kind !== 'confirm' || !settings) {
		return (
			<Dialog title={title} width={width} height={height}>
				<Lines lines={[{ key: 'wait', text: stage.kind === 'starting' ? (recovery ? 'Checking the site recovery with the chosen settings (pre-flight)…' : 'Checking the drill with the chosen settings, then starting it…') : 'Checking the restore points and the host (pre-flight)…', color: 'yellow' }]} />
			</Dialog>
		);
	}
	const { prepared } = stage;
	const { report } = prepared;
	const lines: StyledLine[] = [];
	for (const vm of report.vms) {
		const earlier = prepared.running.get(vm.vm);
		const replaces = prepared.proposals.get(vm.vm)?.plan.replaces;
		const what = earlier ? `already running, session ${earlier.id}` : recovery && replaces ? `replaces ${replaces}, set aside` : 'new VM';
		lines.push({ key: `vm:${vm.vm}`, text: `  ${vm.vm}/${vm.restorePoint?.id ?? '?'} → ${vm.drillName}  (${what})`, bold: true, ...(recovery && replaces && !earlier ? { color: 'yellow' } : {}) });
	}
	const facts: Array<{ text: string; color?: string }> = recovery
		? [
				{ text: `Each VM runs from its backup under its own name on ${report.host}, on its own networks, and is left running: finalize them with A (or "rundirect finalize").`, color: 'green' },
				{ text: `Each counts as up once it shows proof of life (${report.vms[0]?.proof ?? 'proof of life'}); the report keeps the times.` },
			]
		: [
				{ text: `Each VM runs under a new, clearly marked name on ${report.host}: nothing existing is replaced or touched.`, color: 'green' },
				{ text: `Network isolated: ${report.network}.`, color: 'green' },
				{ text: `Each waits for proof of life (${report.vms[0]?.proof ?? 'proof of life'}), keeps its evidence, and is stopped and discarded after.` },
			];
	for (const warning of prepared.warnings) facts.push({ text: `⚠ ${warning}`, color: 'yellow' });
	facts.forEach((fact, index) => wrapText(fact.text, columns).forEach((text, part) => lines.push({ key: `f${index}.${part}`, text, color: fact.color })));
	const setting = (name: Field, label: string, value: string, note: string): StyledLine => settingLine(name, label, value, note, field === name);
	const checks = settings.checks ?? '';
	const settingLines = [
		setting('concurrency', 'Concurrency', String(settings.concurrency), 'VMs booting at once'),
		setting('timeout', 'Timeout', `${settings.timeoutSeconds} s`, checks ? 'for proof of life, and for each check after it' : 'for proof of life, from each VM’s start'),
		{ key: 'checks', text: `${typing ? '›' : ' '} ${'Checks'.padEnd(13)} ${typing ? `${checks}▏` : checks || 'none'}${typing && !checks ? '  a command in each guest, or tcp:PORT; ; between' : ''}`, bold: typing, color: typing ? 'cyan' : undefined },
	];
	// Wrapped, not cut: a pre-flight refusal is read to the end (at most half the dialog; the VM lines give way first).
	const errorLines: StyledLine[] = stage.error ? wrapText(`✖ ${stage.error.message}${stage.error.hint ? ` — ${stage.error.hint}` : ''}`, columns).slice(0, Math.max(1, Math.floor(rows / 2))).map((text, index) => ({ key: `err${index}`, text, color: 'red' })) : [];
	return (
		<Dialog title={title} width={width} height={height}>
			<Lines lines={clip(lines, Math.max(1, rows - 5 - errorLines.length))} />
			<Lines lines={[...settingLines, ...errorLines]} />
			<Text> </Text>
			<Text bold wrap="truncate-end">{typing ? `Enter: ${recovery ? 'start them' : 'run the drill'} · type the checks · ↑↓ setting · Esc: cancel` : `y/Enter: ${recovery ? 'start them' : 'run the drill'} · ↑↓ setting · ←→ change · n/Esc: cancel`}</Text>
		</Dialog>
	);
}
