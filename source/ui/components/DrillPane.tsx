// The detail pane's drill views: the drill this console runs (listr2's live tree — a task per
// VM, its steps as subtasks — and the measured times), the history of past drills (`H`), and
// one past drill's report with its evidence (Enter on a drill of the history).
import type React from 'react';
import { formatDuration, formatMs } from '../../core/format.ts';
import type { DrillReport, DrillSummary } from '../../drill/index.ts';
import { checkName, connectionsText } from '../../drill/report.ts';
import type { TaskNode } from '../task-renderer.ts';
import { pad, shortTime, wrapText } from '../model.ts';
import type { DrillHistory, LiveDrill } from '../drills.ts';
import { Lines, type StyledLine } from './Line.tsx';
import { Pane, paneBodyRows } from './Pane.tsx';
import { taskLine } from './task-line.ts';

const OUTCOME_COLORS: Record<string, string> = { passed: 'green', failed: 'red', interrupted: 'yellow', running: 'yellow', skipped: 'gray' };

function took(startedAt: string, endedAt: string | null): string {
	return endedAt ? formatDuration(Math.max(0, Date.parse(endedAt) - Date.parse(startedAt)) / 1000) : '—';
}

function nodeLines(node: TaskNode, depth: number, width: number, lines: StyledLine[]): void {
	const indent = '  '.repeat(depth + 1);
	const duration = node.durationMs !== null && depth > 0 ? ` (${formatDuration(node.durationMs / 1000)})` : '';
	lines.push({ ...taskLine(node.id, node.state, indent, `${node.title}${duration}`), bold: depth === 0 });
	if (node.state === 'running' && node.output) lines.push({ key: `${node.id}:o`, text: `${indent}    ${node.output}`, dim: true });
	if (node.state === 'failed' && node.error && node.subtasks.length === 0) wrapText(node.error, Math.max(10, width - indent.length - 4)).forEach((text, index) => lines.push({ key: `${node.id}:e${index}`, text: `${indent}    ${text}`, color: 'red' }));
	// A VM whose part went well collapses to its verdict; one under way shows the steps done (with
	// their times) and the one running; the steps still to come are counted, so every VM keeps its
	// heading in view however many run at once.
	if (depth === 0 && node.state === 'done') return;
	const pending = node.subtasks.filter((sub) => sub.state === 'pending');
	for (const sub of node.subtasks) if (sub.state !== 'pending' || node.state === 'pending' || node.state === 'failed') nodeLines(sub, depth + 1, width, lines);
	if (node.state === 'running' && pending.length > 0) lines.push({ key: `${node.id}:more`, text: `${'  '.repeat(depth + 2)}◌ ${pending.length} more step${pending.length === 1 ? '' : 's'}`, dim: true });
}

/** The drill this console runs, or ran last. */
export function liveDrillLines(drill: LiveDrill, width: number): StyledLine[] {
	const outcome = drill.report?.outcome ?? (drill.running ? 'running' : drill.error ? 'failed' : 'running');
	const lines: StyledLine[] = [
		{ key: 'h', text: `${drill.kind === 'recovery' ? 'Site recovery' : 'Recovery drill'} ${drill.id} · ${drill.running ? 'running in this console' : outcome.toUpperCase()}`, bold: true, color: OUTCOME_COLORS[outcome] },
	];
	if (drill.tree.length === 0 && drill.running) lines.push({ key: 'wait', text: `  Starting ${drill.vms.map((vm) => vm.drillName).join(', ')}…`, dim: true });
	for (const node of drill.tree) nodeLines(node, 0, width, lines);
	if (drill.error) wrapText(`✖ ${drill.error.message}`, width).forEach((text, index) => lines.push({ key: `err${index}`, text, color: 'red' }));
	if (drill.report) {
		lines.push({ key: 'gap', text: '' });
		lines.push(...summaryLines(drill.report, width));
		lines.push({ key: 'next', text: drill.kind === 'recovery' ? 'A: finalize them · H: drill history' : 'H: drill history (Enter on a drill: its report and evidence)', dim: true });
	} else if (drill.running) {
		const alive = Object.values(drill.milestones).filter((entry) => entry.report.timeToProofMs !== null);
		if (alive.length > 0) lines.push({ key: 'alive', text: `Proof of life so far: ${alive.map((entry) => `${entry.report.vm} ${formatMs(entry.report.timeToProofMs)}`).join(', ')}`, color: 'green' });
	}
	return lines;
}

/** Per VM: outcome and the measured times (to application ready, when a VM had checks). */
function summaryLines(report: DrillReport, width: number): StyledLine[] {
	const checked = report.vms.some((vm) => vm.checks.length > 0);
	const lines: StyledLine[] = [{ key: 's:h', text: `${pad('VM', 12)} ${pad('OUTCOME', 12)} ${pad('TO RUNNING', 11)} ${checked ? `${pad('TO PROOF OF LIFE', 17)} TO READY` : 'TO PROOF OF LIFE'}`, bold: true }];
	for (const vm of report.vms) {
		const ready = checked ? ` ${vm.checks.length > 0 ? formatMs(vm.timeToReadyMs) : '—'}` : '';
		lines.push({ key: `s:${vm.vm}`, text: `${pad(vm.vm, 12)} ${pad(vm.outcome, 12)} ${pad(formatMs(vm.timeToRunningMs), 11)} ${checked ? pad(formatMs(vm.timeToProofMs), 17) : formatMs(vm.timeToProofMs)}${ready}`, color: OUTCOME_COLORS[vm.outcome] });
		if (vm.reason) wrapText(`  ${vm.reason}`, width).forEach((text, index) => lines.push({ key: `s:${vm.vm}:r${index}`, text, color: 'red' }));
	}
	return lines;
}

function historyRow(drill: DrillSummary): string {
	const vms = drill.vms.map((vm) => `${vm.vm} ${vm.outcome === 'passed' ? formatMs(vm.timeToProofMs) : vm.outcome}`).join(', ');
	return `${drill.id}  ${shortTime(drill.startedAt)}  ${pad(drill.outcome.toUpperCase(), 11)} ${pad(took(drill.startedAt, drill.endedAt), 7)} ${vms}`;
}

/** Past drills, newest first; the cursor row is highlighted when the pane has the focus. */
export function historyLines(history: DrillHistory | null, cursor: number, focused: boolean): StyledLine[] {
	if (!history) return [{ key: 'loading', text: 'Reading past drills…', dim: true }];
	const lines: StyledLine[] = [];
	if (history.error) lines.push({ key: 'err', text: `✖ ${history.error.message}`, color: 'red' });
	for (const [index, problem] of history.problems.entries()) lines.push({ key: `p${index}`, text: `⚠ ${problem}`, color: 'yellow' });
	if (history.drills.length === 0 && !history.error) {
		lines.push({ key: 'empty', text: 'No drills yet: mark VMs with Space in the backups pane, then d.', dim: true });
		return lines;
	}
	lines.push({ key: 'head', text: ` ${pad('DRILL', 20)}  ${pad('STARTED', 11)}  ${pad('OUTCOME', 11)} ${pad('TOOK', 7)} VMS (time to proof of life)`, bold: true });
	history.drills.forEach((drill, index) => {
		const selected = index === cursor;
		lines.push({ key: drill.id, text: `${selected ? '›' : ' '}${historyRow(drill)}`, color: selected && focused ? undefined : OUTCOME_COLORS[drill.outcome], inverse: selected && focused, bold: selected });
	});
	return lines;
}

/** One past drill: what ran where, the times, the outcome, the evidence and the cleanup. */
export function reportLines(report: DrillReport, evidence: Record<string, string[]>, width: number): StyledLine[] {
	const lines: StyledLine[] = [
		{ key: 'h', text: `Drill ${report.id} · ${report.outcome.toUpperCase()} · host ${report.host} · ${shortTime(report.startedAt)} · took ${took(report.startedAt, report.endedAt)}`, bold: true, color: OUTCOME_COLORS[report.outcome] },
		{ key: 'net', text: `network: ${report.network} · at most ${report.concurrency} at once`, dim: true },
	];
	for (const vm of report.vms) {
		const mark = vm.outcome === 'passed' ? '✔' : vm.outcome === 'failed' ? '✖' : '·';
		lines.push({ key: `${vm.vm}:h`, text: `${mark} ${vm.vm} → ${vm.drillName} from ${vm.restorePoint?.id ?? '?'}: ${vm.outcome}`, bold: true, color: OUTCOME_COLORS[vm.outcome] });
		wrapText(`time to running ${formatMs(vm.timeToRunningMs)} · time to proof of life ${formatMs(vm.timeToProofMs)} (${vm.proof})${vm.checks.length > 0 ? ` · application ready ${formatMs(vm.timeToReadyMs)}` : ''}`, width - 4).forEach((text, part) => lines.push({ key: `${vm.vm}:t${part}`, text: `    ${text}` }));
		for (const [index, check] of vm.checks.entries()) {
			const how = check.tcp !== undefined ? (check.error ?? connectionsText(check)) : check.exitCode !== null ? `exit ${check.exitCode}${(check.stderr.trim() || check.stdout.trim()) ? `: ${(check.stderr.trim() || check.stdout.trim()).split('\n')[0] ?? ''}` : ''}` : (check.error ?? 'did not run');
			wrapText(`check ${checkName(check)}: ${check.outcome} after ${check.attempts} attempt(s) — ${how}`, width - 4).forEach((text, part) => lines.push({ key: `${vm.vm}:k${index}.${part}`, text: `    ${text}`, color: check.outcome === 'failed' ? 'red' : undefined }));
		}
		if (vm.reason) wrapText(`reason: ${vm.reason}`, width - 4).forEach((text, index) => lines.push({ key: `${vm.vm}:r${index}`, text: `    ${text}`, color: 'red' }));
		if (vm.evidence) {
			wrapText(`evidence: ${vm.evidence.summary} → ${vm.evidence.file}`, width - 4).forEach((text, index) => lines.push({ key: `${vm.vm}:e${index}`, text: `    ${text}` }));
			for (const [index, line] of (evidence[vm.vm] ?? []).entries()) lines.push({ key: `${vm.vm}:x${index}`, text: `      │ ${line}`, dim: true });
		} else lines.push({ key: `${vm.vm}:e`, text: '    evidence: none', dim: true });
		lines.push({ key: `${vm.vm}:c`, text: `    cleanup: ${vm.cleanup.state}${vm.cleanup.error ? ` — ${vm.cleanup.error}` : ''}${vm.cleanup.hint ? ` — ${vm.cleanup.hint}` : ''}`, color: vm.cleanup.state === 'failed' || vm.cleanup.state === 'pending' ? 'yellow' : undefined });
	}
	return lines;
}

export interface DrillPaneProps {
	title: string;
	lines: StyledLine[];
	focused: boolean;
	width: number;
	height: number;
	scroll: number;
	/** Keep this line in view (the history's cursor) instead of following `scroll`. */
	follow?: number;
}

/** Renders drill lines in the detail pane's frame, windowed like the task tree. */
export function DrillPane({ title, lines, focused, width, height, scroll, follow }: DrillPaneProps): React.JSX.Element {
	const body = paneBodyRows(height);
	let shown = lines;
	let more = '';
	if (lines.length > body) {
		let first: number;
		if (follow !== undefined) first = Math.max(0, Math.min(follow - Math.floor(body / 2), lines.length - body));
		else if (!focused) first = lines.length - body;
		else first = Math.max(0, Math.min(scroll, lines.length - body));
		// The heading stays; the newest part (the VMs under way, the verdict) takes the rest when unfocused.
		shown = first === 0 ? lines.slice(0, body) : [...lines.slice(0, 1), ...lines.slice(first + 1, first + body)];
		more = `${first + 1}–${Math.min(lines.length, first + body)}/${lines.length}${focused ? ' ↑↓' : ' · Tab here to scroll'}`;
	}
	return (
		<Pane title={title} info={more} focused={focused} width={width} height={height}>
			<Lines lines={shown} />
		</Pane>
	);
}
