// Pure view-model helpers of the console: grouping, rows, windows, labels. No React, no I/O,
// so they are cheap to test and cheap to call on every frame.
import type { RestorePoint } from '../catalog/catalog.ts';
import type { HostDescription, RuntimeStatus } from '../hosts/host.ts';
import { formatBytes, formatDuration } from '../core/format.ts';
import { isTerminal, type SessionRecord, type StepId, type StepRecord } from '../restore/session.ts';

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

export function progressText(progress: StepProgress): string {
	const percent = progress.total > 0 ? Math.min(100, (progress.done / progress.total) * 100) : 0;
	const parts = [`${percent.toFixed(0)}%`, `${formatBytes(progress.done)}/${formatBytes(progress.total)}`];
	if (progress.rate !== null) parts.push(`${formatBytes(progress.rate)}/s`);
	if (progress.etaSeconds !== null) parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
	return parts.join(' ');
}

export interface SessionView {
	record: SessionRecord;
	status: RuntimeStatus | null;
	statusError: string | null;
	progress: StepProgress | null;
	/** This console is running a phase of it right now. */
	live: boolean;
}

/** The step a session is on, for one cell: "5 copy-data", "4 start-vm ✔". */
export function stepLabel(session: SessionRecord): string {
	if (session.state === 'finalized') return 'steps 1–7 ✔';
	if (session.state === 'stopped') return 'discarded ✔';
	const active = session.steps.find((step) => step.status === 'running' || step.status === 'failed');
	if (active) return `${active.number ?? '·'} ${active.id}${active.status === 'failed' ? ' ✖' : ''}`;
	const done = session.steps.filter((step) => step.status === 'done');
	const last = done[done.length - 1];
	return last ? `${last.number ?? '·'} ${last.id} ✔` : '-';
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

/** Unfinished sessions first (newest first), then finished ones (newest first). */
export function sortSessions(views: SessionView[]): SessionView[] {
	return [...views].sort((a, b) => {
		const finished = Number(isTerminal(a.record)) - Number(isTerminal(b.record));
		return finished !== 0 ? finished : b.record.createdAt.localeCompare(a.record.createdAt);
	});
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
