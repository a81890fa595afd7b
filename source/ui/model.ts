// Pure view-model helpers of the console: grouping, rows, windows, labels. No React, no I/O,
// so they are cheap to test and cheap to call on every frame.
import type { RestorePoint } from '../catalog/catalog.ts';
import type { HostDescription, RuntimeStatus } from '../hosts/host.ts';
import { formatAge, formatBytes, formatDuration } from '../core/format.ts';

/** How old a restore point is: "45 min ago", "5 h ago", "3 days ago". */
export const ageText = formatAge;
import { allowedPhases, isTerminal, vmShouldRun, type SessionRecord, type StepId, type StepRecord } from '../restore/session.ts';
import { stepShortTitle } from '../restore/steps.ts';

export interface UiError {
	message: string;
	/** What to do next, when known (RundirectError.hint, SessionRecord.lastError.hint). */
	hint: string | null;
}

export function toUiError(error: unknown): UiError {
	const message = error instanceof Error ? error.message : String(error);
	const hint = typeof error === 'object' && error !== null && 'hint' in error && typeof error.hint === 'string' ? error.hint : null;
	return { message, hint };
}

export interface VmBackups {
	vm: string;
	/** Newest first (the catalog's order). */
	points: RestorePoint[];
}

/** The catalog lists points VM by VM, newest first within each: one pass groups them. */
export function groupBackups(points: readonly RestorePoint[]): VmBackups[] {
	const groups: VmBackups[] = [];
	let current: VmBackups | undefined;
	for (const point of points) {
		if (current?.vm !== point.vm) {
			current = { vm: point.vm, points: [] };
			groups.push(current);
		}
		current.points.push(point);
	}
	return groups;
}

export type BackupRow = { kind: 'vm'; key: string; group: VmBackups; expanded: boolean } | { kind: 'point'; key: string; group: VmBackups; point: RestorePoint; index: number };

export function matchesFilter(filter: string, ...texts: string[]): boolean {
	if (filter === '') return true;
	const needle = filter.toLowerCase();
	return texts.some((text) => text.toLowerCase().includes(needle));
}

/** The flattened backups tree: a row per VM, plus its restore points when expanded. */
export function backupRows(groups: readonly VmBackups[], expanded: ReadonlySet<string>, filter: string): BackupRow[] {
	const rows: BackupRow[] = [];
	for (const group of groups) {
		if (!matchesFilter(filter, group.vm)) continue;
		const open = expanded.has(group.vm);
		rows.push({ kind: 'vm', key: `vm:${group.vm}`, group, expanded: open });
		if (open) group.points.forEach((point, index) => rows.push({ kind: 'point', key: `pt:${group.vm}/${point.id}`, group, point, index }));
	}
	return rows;
}

/**
 * The first visible row of a window of `height` rows, moved only as far as needed to keep
 * the cursor visible (a window that jumps on every keypress is hard to follow).
 */
export function scrollOffset(previous: number, cursor: number, height: number, total: number): number {
	if (height <= 0 || total <= height) return 0;
	let offset = previous;
	if (cursor < offset) offset = cursor;
	if (cursor >= offset + height) offset = cursor - height + 1;
	return Math.max(0, Math.min(offset, total - height));
}

export function clamp(value: number, min: number, max: number): number {
	return Math.max(min, Math.min(max, value));
}

export function truncate(text: string, width: number): string {
	if (width <= 0) return '';
	if (text.length <= width) return text;
	return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
}

export function pad(text: string, width: number): string {
	return truncate(text, width).padEnd(width);
}

/** Cuts the middle, not the end: names that differ only at their end stay apart ("app-serv…-042"). */
export function middleTruncate(text: string, width: number): string {
	if (width <= 0) return '';
	if (text.length <= width) return text;
	if (width < 5) return truncate(text, width);
	const tail = Math.floor((width - 1) / 2);
	return `${text.slice(0, width - 1 - tail)}…${text.slice(text.length - tail)}`;
}

/** The width a name column needs for these names, within [min, max]. */
export function nameWidth(names: readonly string[], min: number, max: number): number {
	return clamp(Math.max(min, ...names.map((name) => name.length)), min, Math.max(min, max));
}

/** `2026-11-24T01:00:00Z` → `11-24 01:00` (the year is noise in a 30-column pane). */
export function shortTime(iso: string): string {
	const match = /^\d{4}-(\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
	return match ? `${match[1]} ${match[2]}` : iso;
}

export function bar(fraction: number, width: number): string {
	if (width <= 0) return '';
	const filled = clamp(fraction, 0, 1) * width;
	const whole = Math.floor(filled);
	const partial = filled - whole >= 0.5 && whole < width ? '▌' : '';
	return `${'█'.repeat(whole)}${partial}`.padEnd(width, '░');
}

export interface StepProgress {
	step: StepId;
	done: number;
	total: number;
	rate: number | null;
	etaSeconds: number | null;
}

export function progressText(progress: StepProgress, copy?: SessionView['copy']): string {
	if (copy?.paused) return `paused at ${formatBytes(progress.done)}/${formatBytes(progress.total)}`;
	const percent = progress.total > 0 ? Math.min(100, (progress.done / progress.total) * 100) : 0;
	const parts = [`${percent.toFixed(0)}%`, `${formatBytes(progress.done)}/${formatBytes(progress.total)}`];
	if (progress.rate !== null) parts.push(`${formatBytes(progress.rate)}/s`);
	if (progress.etaSeconds !== null) parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
	if (copy?.rateLimit) parts.push(`cap ${formatBytes(copy.rateLimit)}/s`);
	return parts.join(' ');
}

/** The process driving a session now (another console, a headless command). */
export interface Driver {
	pid: number;
	hostname: string;
	operation: string;
	startedAt: string;
}

export interface SessionView {
	record: SessionRecord;
	status: RuntimeStatus | null;
	statusError: string | null;
	progress: StepProgress | null;
	/** Where `progress` comes from: this console's run, the journal another process writes, or the host's own job. */
	progressFrom?: 'console' | 'journal' | 'host';
	/** This console is running a phase of it right now. */
	live: boolean;
	/** The live process driving it (this console's included); null: none does; undefined: not known yet. */
	driver?: Driver | null;
	/** What the operator asked of its running copy (rate limit in bytes/s, paused), when a finalize copies. */
	copy?: { rateLimit: number | null; paused: boolean } | null;
}

/** Whether the session's step 5 is copying now (its rate can be changed, it can be paused). */
export function copying(view: SessionView): boolean {
	return view.record.state === 'finalizing' && runningStep(view.record)?.id === 'copy-data';
}

/**
 * The session as the host and the locks say it is, not only as the journal does:
 * `vm-down` — its VM should run (from backup, or mid-finalize) and does not;
 * `undriven` — a phase is under way in the journal but no live process drives it;
 * `elsewhere` — another process (console or command) drives it now.
 */
export type SessionHealth = 'ok' | 'vm-down' | 'undriven' | 'elsewhere';

export function sessionHealth(view: SessionView): SessionHealth {
	const { record, status } = view;
	if (isTerminal(record)) return 'ok';
	const down = status !== null && (status.vm === 'off' || status.vm === 'missing' || status.vm === 'error');
	// While this console starts or stops it, a VM that is not up yet (or any more) is expected.
	if (down && vmShouldRun(record) && !(view.live && record.state !== 'running' && record.state !== 'finalizing')) return 'vm-down';
	if (view.live || view.driver === undefined) return 'ok';
	if (view.driver) return 'elsewhere';
	return record.state === 'starting' || record.state === 'finalizing' || record.state === 'stopping' ? 'undriven' : 'ok';
}

/** "pid 4242 on host1 (finalize)" */
export function driverLabel(driver: Driver): string {
	return `pid ${driver.pid} on ${driver.hostname} (${driver.operation})`;
}

/** The step a session is on, for one cell: "5 copy data", "4 start the VM ✔" — never a step id. */
export function stepLabel(session: SessionRecord): string {
	if (session.state === 'finalized') return 'steps 1–7 ✔';
	if (session.state === 'stopped') return 'discarded ✔';
	const active = session.steps.find((step) => step.status === 'running' || step.status === 'failed');
	if (active) return `${active.number ?? '·'} ${stepShortTitle(active.id)}${active.status === 'failed' ? ' ✖' : ''}`;
	const done = session.steps.filter((step) => step.status === 'done');
	const last = done[done.length - 1];
	return last ? `${last.number ?? '·'} ${stepShortTitle(last.id)} ✔` : '-';
}

export function runningStep(session: SessionRecord): StepRecord | undefined {
	return session.steps.find((step) => step.status === 'running');
}

/** Seconds the VM has run from the backup (steps 4 → 6), or null when it does not. */
export function fromBackupSeconds(session: SessionRecord, now: number): number | null {
	if (!session.runningFromBackupSince) return null;
	if (session.state !== 'running' && session.state !== 'finalizing' && session.state !== 'failed' && session.state !== 'stopping') return null;
	if (session.steps.find((step) => step.id === 'apply-changes')?.status === 'done') return null;
	return Math.max(0, (now - Date.parse(session.runningFromBackupSince)) / 1000);
}

export function guestLabel(view: SessionView): string {
	if (isTerminal(view.record)) return '';
	if (view.statusError) return 'status ?';
	const status = view.status;
	if (!status) return '';
	if (status.vm !== 'running') return `VM ${status.vm}`;
	if (status.guestAlive === null) return 'running';
	return status.guestAlive ? 'guest alive' : 'no sign of life yet';
}

/** What needs the operator first: a VM down, an undriven phase, work under way, failures, then running from backup; finished last. */
function urgency(view: SessionView): number {
	if (isTerminal(view.record)) return 9;
	switch (sessionHealth(view)) {
		case 'vm-down':
			return 0;
		case 'undriven':
			return 1;
		default:
			break;
	}
	const { state } = view.record;
	if (state === 'starting' || state === 'finalizing' || state === 'stopping') return 2;
	return state === 'failed' ? 3 : 4;
}

/** Active sessions first (the most urgent, then the newest), finished ones last (newest first). */
export function sortSessions(views: SessionView[]): SessionView[] {
	return [...views].sort((a, b) => urgency(a) - urgency(b) || b.record.createdAt.localeCompare(a.record.createdAt));
}

/** Finished sessions older than this are folded out of the sessions pane until asked for (F). */
export const FOLD_FINISHED_AFTER_MS = 15 * 60 * 1000;

export function finishedAt(record: SessionRecord): number {
	return Date.parse(record.finalizedAt ?? record.stoppedAt ?? record.updatedAt);
}

/** Whether a session stays out of sight while finished sessions are folded. */
export function folded(view: SessionView, now: number): boolean {
	return isTerminal(view.record) && now - finishedAt(view.record) > FOLD_FINISHED_AFTER_MS;
}

/** A session that has run from its backup this long should be finalized or stopped. */
export const LONG_FROM_BACKUP_SECONDS = 60 * 60;
const LOW_SPACE_FLOOR = 1024 ** 3;

/** Header warnings: the host's own, low production space, sessions left running from backup. */
export function headerWarnings(host: HostDescription | null, sessions: readonly SessionView[], backups: readonly VmBackups[], now: number): string[] {
	const warnings = [...(host?.warnings ?? [])];
	if (host?.freeBytes !== null && host?.freeBytes !== undefined) {
		let largest = 0;
		for (const group of backups) {
			const point = group.points[0];
			if (!point) continue;
			largest = Math.max(largest, point.disks.reduce((sum, disk) => sum + disk.virtualSize, 0));
		}
		if (host.freeBytes < Math.max(LOW_SPACE_FLOOR, largest)) {
			warnings.push(`low space on production storage: ${formatBytes(host.freeBytes)} free${largest > 0 ? `, the largest backup needs up to ${formatBytes(largest)}` : ''}`);
		}
	}
	// What needs the operator now comes first: a VM down, then a phase no process drives.
	const urgent: string[] = [];
	const down = sessions.filter((view) => sessionHealth(view) === 'vm-down');
	if (down.length > 0) {
		const names = down.map((view) => `${view.record.vm} (VM ${view.status?.vm ?? 'off'})`).join(', ');
		urgent.push(`${down.length === 1 ? '1 VM is' : `${down.length} VMs are`} down that should run: ${names} — R restarts it, s rolls the restore back`);
	}
	for (const view of sessions) {
		if (sessionHealth(view) !== 'undriven') continue;
		const can = allowedPhases(view.record);
		const keys = [can.includes('finalize') ? 'f continues it' : null, can.includes('stop') ? 's rolls it back' : null, can.includes('start') ? 'Enter on its restore point continues it' : null].filter((key) => key !== null);
		urgent.push(`${view.record.vm} is ${view.record.state} but no process drives it${keys.length > 0 ? `: ${keys.join(', ')}` : ''}`);
	}
	warnings.unshift(...urgent);
	for (const view of sessions) {
		const seconds = fromBackupSeconds(view.record, now);
		if (seconds !== null && seconds > LONG_FROM_BACKUP_SECONDS) {
			warnings.push(`${view.record.vm} has run from backup for ${formatDuration(seconds)}: finalize (f) or stop (s) it`);
		}
	}
	return warnings;
}

/** Greedy word wrap to `width` columns; words longer than a line are cut. */
export function wrapText(text: string, width: number): string[] {
	if (width <= 0) return [];
	const lines: string[] = [];
	for (const paragraph of text.split('\n')) {
		let line = '';
		for (const word of paragraph.split(' ')) {
			let rest = word;
			while (rest.length > width) {
				if (line) lines.push(line);
				line = '';
				lines.push(rest.slice(0, width));
				rest = rest.slice(width);
			}
			if (line === '') line = rest;
			else if (line.length + 1 + rest.length <= width) line += ` ${rest}`;
			else {
				lines.push(line);
				line = rest;
			}
		}
		lines.push(line);
	}
	return lines;
}
