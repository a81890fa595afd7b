// The detail pane: the selected session's task tree — live from listr2 while this console
// runs a phase, from the journal otherwise (a phase run by another process, or one that has
// ended) — with step durations, progress, errors and what to do next.
import type React from 'react';
import { formatBytes, formatDuration } from '../../core/format.ts';
import { PHASE_STEPS, allowedPhases, type Phase, type StepRecord } from '../../restore/session.ts';
import { stepTitle } from '../../restore/steps.ts';
import type { LiveRun } from '../state/runs.ts';
import { bar, driverLabel, fromBackupSeconds, guestLabel, progressText, sessionHealth, shortTime, wrapText, type SessionView } from '../model.ts';
import { Lines, type StyledLine } from './Line.tsx';
import { Pane, paneBodyRows } from './Pane.tsx';
import { taskLine } from './task-line.ts';

const PHASE_NAMES: Record<Phase, string> = { start: 'Start — steps 1–4', finalize: 'Finalize — steps 5–7', stop: 'Stop — discard the restore' };

function ms(value: number | null): string {
	return value === null ? '' : ` (${formatDuration(value / 1000)})`;
}

function stepMs(step: StepRecord, now: number): number | null {
	if (!step.startedAt) return null;
	const end = step.endedAt ? Date.parse(step.endedAt) : step.status === 'running' ? now : null;
	return end === null ? null : Math.max(0, end - Date.parse(step.startedAt));
}

function progressLine(key: string, view: SessionView, width: number): StyledLine | null {
	if (!view.progress) return null;
	const text = progressText(view.progress, view.copy);
	const barWidth = Math.max(6, Math.min(30, width - text.length - 8));
	return { key, text: `      ${bar(view.progress.total > 0 ? view.progress.done / view.progress.total : 0, barWidth)} ${text}`, color: 'cyan' };
}

/** A phase drawn from listr2's live tree (this console runs it). */
function liveLines(live: LiveRun, view: SessionView, width: number): StyledLine[] {
	const lines: StyledLine[] = [{ key: `${live.phase}:h`, text: `${PHASE_NAMES[live.phase]}${live.running ? ' · running in this console' : ''}`, bold: true }];
	for (const node of live.tree) {
		lines.push(taskLine(node.id, node.state, '  ', `${node.title}${ms(node.durationMs)}`));
		if (node.state === 'running') {
			const bytes = progressLine(`${node.id}:p`, view, width);
			if (bytes) lines.push(bytes);
			else if (node.output) lines.push({ key: `${node.id}:o`, text: `      ${node.output}`, dim: true });
		}
		if (node.state === 'failed' && node.error) lines.push({ key: `${node.id}:e`, text: `      ${node.error}`, color: 'red' });
	}
	return lines;
}

/** A phase drawn from the journal (run elsewhere, or over). */
function journalLines(phase: Phase, view: SessionView, width: number, now: number, collapse: boolean): StyledLine[] {
	const { record } = view;
	const steps = PHASE_STEPS[phase].map((id) => record.steps.find((step) => step.id === id)).filter((step): step is StepRecord => step !== undefined);
	const total = steps.reduce((sum, step) => sum + (stepMs(step, now) ?? 0), 0);
	if (collapse && steps.every((step) => step.status === 'done')) {
		return [{ key: `${phase}:h`, text: `✔ ${PHASE_NAMES[phase]}: done${ms(total)}`, color: 'green' }];
	}
	const lines: StyledLine[] = [{ key: `${phase}:h`, text: PHASE_NAMES[phase], bold: true }];
	for (const step of steps) {
		const note = step.note ? ` — ${step.note}` : '';
		lines.push(taskLine(`${phase}:${step.id}`, step.status, '  ', `${stepTitle(record, step.id)}${note}${ms(stepMs(step, now))}`));
		if (step.status === 'running') {
			const bytes = progressLine(`${step.id}:p`, view, width);
			if (bytes) lines.push(bytes);
			else if (step.bytesTotal !== null && step.bytesDone !== null) lines.push({ key: `${step.id}:b`, text: `      ${formatBytes(step.bytesDone)} / ${formatBytes(step.bytesTotal)}`, dim: true });
		}
		if (step.status === 'failed' && step.error) lines.push({ key: `${step.id}:e`, text: `      ${step.error}`, color: 'red' });
	}
	return lines;
}

function nextKeys(view: SessionView): string {
	if (view.live) return 'Running in this console: q quits without stopping it (the host carries on).';
	const health = sessionHealth(view);
	if (health === 'elsewhere') return '';
	if (health === 'vm-down') return `Next: R restarts its VM${allowedPhases(view.record).includes('stop') ? ' · s stops it (discards every change)' : ''}`;
	const phases = allowedPhases(view.record);
	const keys: string[] = [];
	if (phases.includes('finalize')) keys.push(`f ${view.record.state === 'failed' ? 'retries finalize' : 'finalizes (keeps it)'}`);
	if (phases.includes('stop')) keys.push('s stops it (discards every change)');
	if (phases.includes('start') && view.record.state === 'failed') keys.push('Enter on its restore point retries the start');
	return keys.length > 0 ? `Next: ${keys.join(' · ')}` : '';
}

export function detailLines(view: SessionView | undefined, live: LiveRun | undefined, width: number, now: number): StyledLine[] {
	if (!view) return [{ key: 'none', text: 'Select a session to see its task tree.', dim: true }];
	const { record } = view;
	const lines: StyledLine[] = [];
	lines.push({ key: 'title', text: `${record.vm} · ${record.state} · session ${record.id}`, bold: true });
	const target = record.target.location === 'original' ? 'original location' : record.target.location;
	const replaced = record.plan.replaces ? ` · replaces ${record.plan.replaces} (${record.plan.replaceMode === 'delete' ? 'deleted' : 'set aside'})` : '';
	lines.push({ key: 'source', text: `from ${record.source.vm}/${record.source.pointId} (taken ${shortTime(record.source.takenAt)}) → ${target}${replaced}`, dim: true });
	const facts: string[] = [];
	const seconds = fromBackupSeconds(record, now);
	if (seconds !== null) facts.push(`running from backup for ${formatDuration(seconds)}`);
	if (view.status?.bytesChanged !== null && view.status?.bytesChanged !== undefined) facts.push(`${formatBytes(view.status.bytesChanged)} changed since start`);
	const guest = guestLabel(view);
	if (guest) facts.push(guest);
	if (view.statusError) facts.push(`host status unavailable: ${view.statusError}`);
	if (facts.length > 0) wrapText(facts.join(' · '), width).forEach((text, index) => lines.push({ key: `facts${index}`, text }));
	const health = sessionHealth(view);
	const truth =
		health === 'vm-down'
			? { text: `✖ Its VM is ${view.status?.vm ?? 'off'} but should be running (the journal says ${record.state}). R restarts it on the disks it ran on — no write is lost; s rolls the restore back.`, color: 'red' }
			: health === 'undriven'
				? { text: `⚠ No process drives this ${record.state}: the one that did is gone.${view.progressFrom === 'host' && view.progress ? ` The host's own job goes on: ${progressText(view.progress)}.` : ''} ${nextKeys({ ...view, live: false }).replace(/^Next: /, '')}`, color: 'magenta' }
				: health === 'elsewhere' && view.driver
					? { text: `Driven by ${driverLabel(view.driver)} since ${shortTime(view.driver.startedAt)}: its progress shows here; f and s are not offered until it ends.`, color: 'yellow' }
					: null;
	if (truth) wrapText(truth.text, width).forEach((text, index) => lines.push({ key: `truth${index}`, text, color: truth.color }));

	const phases = (['start', 'finalize', 'stop'] as const).filter((phase) => live?.phase === phase || PHASE_STEPS[phase].some((id) => (record.steps.find((step) => step.id === id)?.attempts ?? 0) > 0));
	const latest = phases[phases.length - 1];
	for (const phase of phases) {
		if (live?.phase === phase && live.tree.length > 0) lines.push(...liveLines(live, view, width));
		else lines.push(...journalLines(phase, view, width, now, phase !== latest));
	}
	if (record.lastError) {
		wrapText(`✖ ${record.lastError.message}`, width).forEach((text, index) => lines.push({ key: `err${index}`, text, color: 'red' }));
		wrapText(`→ ${record.lastError.hint}`, width).forEach((text, index) => lines.push({ key: `hint${index}`, text, color: 'yellow' }));
	} else if (live?.error) {
		wrapText(`✖ ${live.error.message}`, width).forEach((text, index) => lines.push({ key: `lerr${index}`, text, color: 'red' }));
		if (live.error.hint) wrapText(`→ ${live.error.hint}`, width).forEach((text, index) => lines.push({ key: `lhint${index}`, text, color: 'yellow' }));
	}
	const next = nextKeys(view);
	if (next) lines.push({ key: 'next', text: next, dim: true });
	return lines;
}

export interface DetailPaneProps {
	view: SessionView | undefined;
	live: LiveRun | undefined;
	focused: boolean;
	width: number;
	height: number;
	/** First visible line (the pane scrolls when focused). */
	scroll: number;
	now: number;
}

export function DetailPane({ view, live, focused, width, height, scroll, now }: DetailPaneProps): React.JSX.Element {
	const body = paneBodyRows(height);
	const lines = detailLines(view, live, width - 2, now);
	let shown: StyledLine[];
	let more = '';
	if (lines.length <= body) shown = lines;
	else if (!focused) {
		// Unfocused, the title stays and the newest part of the tree (the phase under way, its
		// error, the next step) takes the rest; focus the pane to scroll through all of it.
		shown = [...lines.slice(0, 1), ...lines.slice(lines.length - (body - 1))];
		more = `${lines.length - body} lines hidden · Tab here to scroll`;
	} else {
		const first = Math.max(0, Math.min(scroll, lines.length - body));
		shown = lines.slice(first, first + body);
		more = `${first + 1}–${Math.min(lines.length, first + body)}/${lines.length} ↑↓`;
	}
	return (
		<Pane title={view ? `Task tree — ${view.record.vm}` : 'Task tree'} info={more} focused={focused} width={width} height={height}>
			<Lines lines={shown} />
		</Pane>
	);
}
