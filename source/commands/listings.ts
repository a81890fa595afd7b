// `rundirect backups` and `rundirect sessions`, and the plain-text overview printed when
// the console cannot run (stdin or stdout not a terminal).
import type { Catalog } from '../catalog/catalog.ts';
import { formatProblem } from '../catalog/catalog.ts';
import type { RuntimeStatus } from '../hosts/host.ts';
import { formatAge, formatBytes, formatDuration } from '../core/format.ts';
import { isTerminal, type SessionRecord } from '../restore/session.ts';
import { nextActionHint } from '../restore/reconcile.ts';
import { stepShortTitle } from '../restore/steps.ts';
import { EXIT, RundirectError } from '../core/errors.ts';
import type { CommandContext } from './context.ts';

function table(rows: string[][]): string {
	const widths: number[] = [];
	for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
	return rows.map((row) => row.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ').trimEnd()).join('\n');
}

export function backupsText(catalog: Catalog): string {
	const rows = [['VM', 'RESTORE POINT', 'TAKEN', 'AGE', 'DISKS (VIRTUAL SIZE)', 'DATA']];
	const now = Date.now();
	for (const point of catalog.points) {
		const disks = `${point.disks.length} disk${point.disks.length === 1 ? '' : 's'}: ${point.disks.map((disk) => `${disk.format} ${formatBytes(disk.virtualSize)}`).join(', ')}`;
		rows.push([point.vm, point.id, point.manifest.takenAt, formatAge(point.manifest.takenAt, now), disks, formatBytes(point.size)]);
	}
	const lines = [`Backups in ${catalog.destination}:`, catalog.points.length > 0 ? table(rows) : '  (no restore points)'];
	if (catalog.problems.length > 0) lines.push('', `${catalog.problems.length} restore point problem(s):`, ...catalog.problems.map((problem) => `  ! ${formatProblem(problem)}`));
	return lines.join('\n');
}

/** The step a session is on, in words (`--json` keeps the step ids). */
export function currentStep(session: SessionRecord): string {
	const running = session.steps.find((step) => step.status === 'running' || step.status === 'failed');
	if (running) return `${running.number ?? ''} ${stepShortTitle(running.id)}${running.status === 'failed' ? ' (failed)' : ''}`.trim();
	const done = session.steps.filter((step) => step.status === 'done');
	const last = done[done.length - 1];
	return last ? `${last.number ?? ''} ${stepShortTitle(last.id)} done`.trim() : '-';
}

export function sessionsText(sessions: SessionRecord[], statuses: Map<string, RuntimeStatus | string>): string {
	if (sessions.length === 0) return 'Sessions: none';
	const rows = [['SESSION', 'VM', 'STATE', 'STEP', 'FROM BACKUP FOR', 'CHANGED', 'GUEST']];
	// Active sessions first (the journal's order, newest first, within each group).
	for (const session of [...sessions].sort((a, b) => Number(isTerminal(a)) - Number(isTerminal(b)))) {
		const status = statuses.get(session.id);
		const since = session.runningFromBackupSince && (session.state === 'running' || session.state === 'finalizing' || session.state === 'failed') ? formatDuration((Date.now() - Date.parse(session.runningFromBackupSince)) / 1000) : '-';
		rows.push([
			session.id,
			session.vm,
			session.state,
			currentStep(session),
			since,
			typeof status === 'object' && status.bytesChanged !== null ? formatBytes(status.bytesChanged) : '-',
			typeof status === 'object' ? (status.guestAlive === null ? status.vm : status.guestAlive ? `${status.vm}, alive` : `${status.vm}, no sign of life yet`) : (status ?? '-'),
		]);
	}
	const lines = ['Sessions:', table(rows)];
	for (const session of sessions) {
		if (session.lastError) lines.push(`  ! ${session.id}: ${session.lastError.message} — ${session.lastError.hint}`);
		const disagreement = vmDisagreement(session, statuses.get(session.id));
		if (disagreement) lines.push(`  ! ${session.id}: ${disagreement}`);
	}
	return lines.join('\n');
}

/**
 * A session the journal says runs from its backup whose VM does not run: said, never shown as
 * running. Null when they agree (or the host could not be asked).
 */
export function vmDisagreement(session: SessionRecord, status: RuntimeStatus | string | undefined): string | null {
	if (session.state !== 'running' || typeof status !== 'object' || status.vm === 'running' || status.vm === 'paused') return null;
	return `the journal says ${session.vm} runs from its backup, but its VM is ${status.vm}: "rundirect resume" restarts it on its snapshot layer, or "rundirect stop ${session.id}" discards it`;
}

/** Host status of every unfinished session; a host error is shown in its row, not thrown. */
export async function liveStatuses(context: CommandContext, sessions: SessionRecord[]): Promise<Map<string, RuntimeStatus | string>> {
	const statuses = new Map<string, RuntimeStatus | string>();
	for (const session of sessions.filter((candidate) => !isTerminal(candidate))) {
		try {
			statuses.set(session.id, await context.engine.status(session));
		} catch (error) {
			statuses.set(session.id, `status unavailable: ${(error as Error).message}`);
		}
	}
	return statuses;
}

export async function backupsCommand(context: CommandContext): Promise<number> {
	const catalog = await context.engine.catalog();
	context.emit({
		type: 'backups',
		destination: catalog.destination,
		points: catalog.points.map((point) => ({ vm: point.vm, id: point.id, takenAt: point.manifest.takenAt, size: point.size, dir: point.dir, disks: point.disks.map(({ file, format, virtualSize, fileSize }) => ({ file, format, virtualSize, fileSize })) })),
		problems: catalog.problems,
	});
	context.say(backupsText(catalog));
	return 0;
}

export interface SessionsOptions {
	/** Only the sessions not finished. */
	active?: boolean;
	/** Move the journals of sessions finished more than this many days ago to <state>/archive/sessions/. */
	prune?: boolean;
	olderThan?: string;
}

/** `--prune`: finished sessions older than `days` leave the listings for the archive (kept as an audit record). */
async function pruneSessions(context: CommandContext, sessions: SessionRecord[], days: number): Promise<Set<string>> {
	const cutoff = Date.now() - days * 86_400_000;
	const pruned = new Set<string>();
	for (const session of sessions) {
		if (!isTerminal(session)) continue;
		const ended = Date.parse(session.finalizedAt ?? session.stoppedAt ?? session.updatedAt);
		if (!(ended < cutoff)) continue;
		const where = await context.engine.journal.archive(session.id);
		pruned.add(session.id);
		context.emit({ type: 'pruned', session: session.id, vm: session.vm, state: session.state, archivedTo: where });
	}
	context.say(pruned.size === 0 ? `Nothing to prune: no session finished more than ${days} day${days === 1 ? '' : 's'} ago.` : `Pruned ${pruned.size} finished session${pruned.size === 1 ? '' : 's'} (ended more than ${days} day${days === 1 ? '' : 's'} ago): their journals are kept in ${context.engine.journal.archiveDir}.`);
	return pruned;
}

export async function sessionsCommand(context: CommandContext, options: SessionsOptions = {}): Promise<number> {
	const listed = await context.engine.sessions();
	const { problems } = listed;
	let sessions = listed.sessions;
	if (options.prune) {
		const days = options.olderThan === undefined ? 7 : Number(options.olderThan);
		if (!Number.isFinite(days) || days < 0) throw new RundirectError(`--older-than must be a number of days, not "${options.olderThan ?? ''}"`, EXIT.usage);
		const pruned = await pruneSessions(context, sessions, days);
		sessions = sessions.filter((session) => !pruned.has(session.id));
	}
	if (options.active) sessions = sessions.filter((session) => !isTerminal(session));
	const statuses = await liveStatuses(context, sessions);
	context.emit({
		type: 'sessions',
		sessions: sessions.map((session) => ({
			...session,
			status: statuses.get(session.id) ?? null,
			next: isTerminal(session) ? null : nextActionHint(session),
			problem: vmDisagreement(session, statuses.get(session.id)),
		})),
		problems,
	});
	context.say(sessionsText(sessions, statuses));
	for (const problem of problems) context.warn(`warning: ${problem}`);
	return 0;
}
