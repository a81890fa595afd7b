// A drill's report: what was restored, how fast it came back (time to running, time to proof
// of life), the evidence, the outcome and the cleanup — as JSON for tools and Markdown for people.
import { formatDuration, formatMs } from '../core/format.ts';

export type DrillVmOutcome = 'pending' | 'running' | 'passed' | 'failed' | 'skipped' | 'interrupted';
export type DrillOutcome = 'running' | 'passed' | 'failed' | 'interrupted';

export interface DrillEvidence {
	kind: 'serial-tail' | 'thumbnail';
	/** Relative to the drill's folder, e.g. evidence/web01.serial.txt. */
	file: string;
	/** One line for tables: "12 lines, ends: rundirect-tick 3" or "640×480 PNG". */
	summary: string;
	/** Where the host keeps the original, when it is a file. */
	hostFile?: string;
}

export interface DrillCleanup {
	/** stopped: the session was stopped, nothing remains · kept: --keep · failed: stop failed · pending: not done (interrupted) · none: nothing was started. */
	state: 'stopped' | 'kept' | 'failed' | 'pending' | 'none';
	at: string | null;
	error: string | null;
	/** The command that finishes the cleanup, when something remains. */
	hint: string | null;
}

/** One application check as it ended: its last attempt's exit code and output are the evidence. */
export interface DrillCheckReport {
	/** The command run inside the guest; empty for a TCP check. */
	command: string[];
	/** A TCP check's port (absent: a command). */
	tcp?: number;
	/** A TCP check's last attempt: each address the probe tried and what became of it. */
	connections?: Array<{ target: string; connected: boolean; detail: string }>;
	timeoutSeconds: number;
	outcome: 'pending' | 'passed' | 'failed';
	attempts: number;
	/** Of the last attempt that ended; null when none did (no guest agent, timed out every time). */
	exitCode: number | null;
	/** That attempt's output, at most CHECK_OUTPUT_BYTES of each stream. */
	stdout: string;
	stderr: string;
	/** Why it could not run, when it never ended with an exit code. */
	error: string | null;
	/** When it passed, and how long after the start of the Run Direct. */
	passedAt: string | null;
	timeToPassMs: number | null;
}

export const CHECK_OUTPUT_BYTES = 4096;

/** A TCP check's last attempt: "[fe80::1%rdtap0]:5432 connected in 3 ms". */
export function connectionsText(check: Pick<DrillCheckReport, 'connections'>): string {
	return (check.connections ?? []).map((attempt) => `${attempt.target} ${attempt.detail}`).join('; ') || 'not tried';
}

/** The command, or "TCP port 5432". */
export function checkName(check: Pick<DrillCheckReport, 'command' | 'tcp'>): string {
	return check.tcp !== undefined ? `TCP port ${check.tcp}` : check.command.join(' ');
}

export interface DrillVmReport {
	vm: string;
	/** The name the VM ran under during the drill (`<vm>-drill-<id>`), never an existing VM's. */
	drillName: string;
	session: string | null;
	restorePoint: { id: string; takenAt: string } | null;
	host: string;
	after: string[];
	timeoutSeconds: number;
	/** When the Run Direct start began (the clock of both measured times). */
	startedAt: string | null;
	/** When the VM was running from its backup (step 4 done). */
	runningAt: string | null;
	/** When the guest first showed proof of life. */
	aliveAt: string | null;
	/** When its part of the drill ended (cleaned up, kept, or given up). */
	endedAt: string | null;
	timeToRunningMs: number | null;
	/** The measured recovery time: start → proof of life. */
	timeToProofMs: number | null;
	/** What counted as proof of life: "serial marker" (lab) or "heartbeat" (Hyper-V). */
	proof: string;
	/** The application checks, in the order they ran (none: ready at proof of life). */
	checks: DrillCheckReport[];
	/** When every check had passed: the application is back. */
	readyAt: string | null;
	/** Start → application ready (= time to proof of life without checks). */
	timeToReadyMs: number | null;
	outcome: DrillVmOutcome;
	/** Why it failed or was skipped. */
	reason: string | null;
	evidence: DrillEvidence | null;
	cleanup: DrillCleanup;
}

export interface DrillReport {
	schemaVersion: 1;
	id: string;
	/** Absent: a recovery drill; `recovery`: a site recovery (`start --runbook`), its VMs left running under their own names. */
	kind?: 'recovery';
	host: string;
	destination: string;
	startedAt: string;
	endedAt: string | null;
	outcome: DrillOutcome;
	concurrency: number;
	/** "NICs disconnected" or "NICs on isolated switch X" (lab VMs have none at all). */
	network: string;
	keep: boolean;
	/** Who runs it, so a report left "running" by a killed process can be told apart. */
	pid: number;
	hostname: string;
	vms: DrillVmReport[];
	/** The whole plan, from the drill's start: until every VM was running, showed proof of life, was ready (null until all did). */
	allRunningMs?: number | null;
	allAliveMs?: number | null;
	allReadyMs?: number | null;
}

/** The whole plan's times from its start, once every VM reached the milestone (else null). */
export function planTimes(report: DrillReport): Pick<DrillReport, 'allRunningMs' | 'allAliveMs' | 'allReadyMs'> {
	const start = Date.parse(report.startedAt);
	const last = (field: 'runningAt' | 'aliveAt' | 'readyAt'): number | null => {
		const times = report.vms.map((vm) => vm[field]);
		if (times.length === 0 || times.some((time) => time === null)) return null;
		return Math.max(...times.map((time) => Date.parse(time as string))) - start;
	};
	return { allRunningMs: last('runningAt'), allAliveMs: last('aliveAt'), allReadyMs: last('readyAt') };
}

/** A report's verdict from its VMs. */
export function overallOutcome(vms: DrillVmReport[]): DrillOutcome {
	if (vms.some((vm) => vm.outcome === 'interrupted')) return 'interrupted';
	if (vms.some((vm) => vm.outcome === 'pending' || vm.outcome === 'running')) return 'running';
	return vms.every((vm) => vm.outcome === 'passed') ? 'passed' : 'failed';
}


function cell(text: string): string {
	return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

const OUTCOME_MARK: Record<DrillVmOutcome, string> = { passed: '✅ passed', failed: '❌ failed', skipped: '⏭ skipped', interrupted: '⚠ interrupted', pending: '… pending', running: '… running' };

/** The report for people: a summary table, then each VM with its evidence. */
export function renderMarkdown(report: DrillReport, evidenceText: Map<string, string> = new Map()): string {
	const passed = report.vms.filter((vm) => vm.outcome === 'passed').length;
	const lines = [
		`# ${report.kind === 'recovery' ? 'Site recovery' : 'Recovery drill'} ${report.id}: ${report.outcome.toUpperCase()}`,
		'',
		`- Host: ${report.host}`,
		`- Backup destination: ${report.destination}`,
		`- Started ${report.startedAt}${report.endedAt ? `, ended ${report.endedAt} (${formatDuration((Date.parse(report.endedAt) - Date.parse(report.startedAt)) / 1000)})` : ''}`,
		`- ${passed} of ${report.vms.length} VM(s) passed · at most ${report.concurrency} at once · network: ${report.network}${report.keep ? ' · kept running (--keep)' : ''}`,
		`- The whole plan: every VM running after ${formatMs(report.allRunningMs ?? null)}, showing proof of life after ${formatMs(report.allAliveMs ?? null)}, ready after ${formatMs(report.allReadyMs ?? null)}`,
		'',
		'| VM | restore point | ran as | time to running | time to proof of life | time to application ready | outcome | cleanup |',
		'|---|---|---|---|---|---|---|---|',
	];
	for (const vm of report.vms) {
		lines.push(
			`| ${cell(vm.vm)} | ${cell(vm.restorePoint ? vm.restorePoint.id : '—')} | ${cell(vm.drillName)} | ${formatMs(vm.timeToRunningMs)} | ${formatMs(vm.timeToProofMs)} | ${formatMs(vm.timeToReadyMs)} | ${OUTCOME_MARK[vm.outcome]} | ${cell(vm.cleanup.state)} |`,
		);
	}
	for (const vm of report.vms) {
		lines.push('', `## ${vm.vm} — ${OUTCOME_MARK[vm.outcome]}`, '');
		lines.push(`- Restore point: ${vm.restorePoint ? `${vm.restorePoint.id} (taken ${vm.restorePoint.takenAt})` : '—'}`);
		lines.push(`- Ran as ${vm.drillName} on ${vm.host}${vm.session ? `, session ${vm.session}` : ''}${vm.after.length > 0 ? `, after ${vm.after.join(', ')}` : ''}`);
		lines.push(`- Started ${vm.startedAt ?? '—'}; running after ${formatMs(vm.timeToRunningMs)}; proof of life (${vm.proof}) after ${formatMs(vm.timeToProofMs)} (limit ${vm.timeoutSeconds} s)`);
		if (vm.reason) lines.push(`- ${vm.outcome === 'skipped' ? 'Skipped' : 'Why'}: ${vm.reason}`);
		for (const check of vm.checks) {
			const ended = check.tcp !== undefined ? (check.error ?? connectionsText(check)) : check.exitCode !== null ? `exit code ${check.exitCode}` : (check.error ?? 'did not run');
			lines.push(`- Check \`${cell(checkName(check))}\`: ${check.outcome} after ${check.attempts} attempt(s), ${ended}${check.timeToPassMs !== null ? `, ready after ${formatMs(check.timeToPassMs)}` : ''}`);
			const output = [check.stdout, check.stderr].filter((text) => text.trim().length > 0).join('\n').replace(/\s+$/, '');
			if (output) lines.push('', '```text', output.replace(/```/g, "'''"), '```', '');
		}
		lines.push(`- Cleanup: ${vm.cleanup.state}${vm.cleanup.at ? ` at ${vm.cleanup.at}` : ''}${vm.cleanup.error ? ` — ${vm.cleanup.error}` : ''}${vm.cleanup.hint ? ` — ${vm.cleanup.hint}` : ''}`);
		if (vm.evidence) {
			lines.push(`- Evidence: ${vm.evidence.summary} ([${vm.evidence.file}](${vm.evidence.file}))`);
			const text = evidenceText.get(vm.vm);
			if (vm.evidence.kind === 'thumbnail') lines.push('', `![${vm.vm}'s screen](${vm.evidence.file})`);
			else if (text !== undefined) {
				const shown = text.replace(/^\s*\n|\s+$/g, '');
				lines.push('', '```text', shown.length > 0 ? shown.replace(/```/g, "'''") : '(the guest printed nothing on its serial console)', '```');
			}
		} else {
			lines.push('- Evidence: none captured');
		}
	}
	return `${lines.join('\n')}\n`;
}
