// The backups pane: column headers, then VMs with their restore-point count, newest point and
// data size; an expanded VM lists its restore points (data size, disks, age). Names take the
// room they need and are cut in the middle, so names that differ at their end stay apart.
// Only the visible window of rows is rendered, whatever the count.
import type React from 'react';
import { formatBytes } from '../../core/format.ts';
import { ageText, middleTruncate, pad, shortTime, wrapText, type BackupRow } from '../model.ts';
import { Lines, type StyledLine } from './Line.tsx';
import { Pane, paneBodyRows } from './Pane.tsx';

export interface BackupsPaneProps {
	rows: readonly BackupRow[];
	cursor: number;
	offset: number;
	focused: boolean;
	width: number;
	height: number;
	filter: string;
	/** Shown instead of rows when the destination cannot be read. */
	error: string | null;
	loading: boolean;
	/** VMs marked for a drill (Space), with the restore point each is marked at (`latest` or an id). */
	marked?: ReadonlyMap<string, string>;
	/** VMs an active session restores (or runs under the name): ● on their row. */
	inSession?: ReadonlySet<string>;
	now?: number;
}

/** Rows of a backups pane of this height (its column headers taken). */
export function backupsVisible(height: number): number {
	return Math.max(1, paneBodyRows(height) - 1);
}

/** A name keeps at least this much of its column before facts are dropped (then cut in the middle). */
const NAME_FLOOR = 16;

/** The name first, then as many facts as fit in order of use; the name takes the rest, cut in the middle. */
function fit(width: number, head: string, needed: number, name: string, facts: string[]): string {
	let tail = '';
	for (const fact of facts) if (head.length + Math.min(needed, NAME_FLOOR) + tail.length + fact.length <= width) tail += fact;
	return `${head}${pad(middleTruncate(name, Math.max(1, width - head.length - tail.length)), Math.max(1, width - head.length - tail.length))}${tail}`;
}

function vmFacts(count: number, takenAt: string, size: string): string[] {
	return [` ${count.toString().padStart(3)} pt${count === 1 ? ' ' : 's'}`, ` ${takenAt}`, ` ${size.padStart(9)}`];
}

/** A row's text in `width` columns. `needed`: the longest name of the list (the column's room). */
export function backupRowText(row: BackupRow, width: number, needed = 10, now = Date.now()): string {
	if (row.kind === 'vm') {
		const newest = row.group.points[0];
		const facts = newest ? vmFacts(row.group.points.length, shortTime(newest.manifest.takenAt), `${formatBytes(newest.size)}`) : [];
		return fit(width, `${row.expanded ? '▾' : '▸'} `, needed, row.group.vm, facts);
	}
	const disks = row.point.disks.length;
	return fit(width, '   ', row.point.id.length, row.point.id, [` ${formatBytes(row.point.size).padStart(9)}`, ` ${disks} disk${disks === 1 ? ' ' : 's'}`, ` ${ageText(row.point.manifest.takenAt, now).padStart(9)}`]);
}

/** The column headers, laid out as the VM rows are. */
export function backupHeaderText(width: number, needed: number): string {
	const sample = fit(width, '  ', needed, 'VM', vmFacts(0, 'newest     ', 'data'));
	return sample.replace('   0 pts', '  points');
}

/** A marked VM shows ✓ after its arrow (else ● when a session holds it); a point it is marked at shows ✓ before its id. */
function markRow(row: BackupRow, text: string, marked: ReadonlyMap<string, string> | undefined, inSession: ReadonlySet<string> | undefined): string {
	const mark = marked?.get(row.group.vm);
	if (mark === undefined) return row.kind === 'vm' && inSession?.has(row.group.vm) ? `${text.slice(0, 1)}●${text.slice(2)}` : text;
	if (row.kind === 'vm') return `${text.slice(0, 1)}✓${text.slice(2)}`;
	const newest = row.index === 0 && mark === 'latest';
	return newest || mark === row.point.id ? `${text.slice(0, 2)}✓${text.slice(3)}` : text;
}

export function BackupsPane({ rows, cursor, offset, focused, width, height, filter, error, loading, marked, inSession, now = Date.now() }: BackupsPaneProps): React.JSX.Element {
	const body = backupsVisible(height);
	const inner = width - 2;
	const lines: StyledLine[] = [];
	if (error) {
		wrapText(`✖ ${error}`, inner).forEach((text, index) => lines.push({ key: `error${index}`, text, color: 'red' }));
	} else if (loading) {
		lines.push({ key: 'loading', text: 'Reading the backup destination…', dim: true });
	} else if (rows.length === 0) {
		lines.push({ key: 'empty', text: filter ? `No VM matches "${filter}"` : 'No restore points in the destination', dim: true });
	} else {
		let needed = 0;
		for (let index = offset; index < Math.min(rows.length, offset + body); index++) {
			const row = rows[index];
			if (row?.kind === 'vm') needed = Math.max(needed, row.group.vm.length);
		}
		lines.push({ key: 'columns', text: ` ${backupHeaderText(inner - 1, needed)}`, dim: true });
		for (let index = offset; index < Math.min(rows.length, offset + body); index++) {
			const row = rows[index];
			if (!row) continue;
			const selected = index === cursor;
			lines.push({ key: row.key, text: `${selected ? '›' : ' '}${markRow(row, backupRowText(row, inner - 1, needed, now), marked, inSession)}`, inverse: selected && focused, bold: selected || row.kind === 'vm', dim: row.kind === 'point' && !selected });
		}
	}
	const held = rows.filter((row) => row.kind === 'vm' && inSession?.has(row.group.vm)).length;
	const marks = `${marked && marked.size > 0 ? ` · ✓${marked.size} marked` : ''}${held > 0 ? ` · ●${held} in a session` : ''}`;
	const info = rows.length > 0 ? `${cursor + 1}/${rows.length}${filter ? ` /${filter}` : ''}${marks}` : filter ? `/${filter}` : '';
	return (
		<Pane title="Backups" info={info} focused={focused} width={width} height={height}>
			<Lines lines={lines.slice(0, body + 1)} />
		</Pane>
	);
}
