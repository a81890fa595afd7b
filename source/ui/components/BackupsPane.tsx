// The backups pane: VMs with their restore-point count, newest point and size; an expanded VM
// lists its restore points. Only the visible window of rows is rendered, whatever the count.
import type React from 'react';
import { formatBytes } from '../../core/format.ts';
import { pad, shortTime, wrapText, type BackupRow } from '../model.ts';
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
}

/** A row's text in `width` columns: the name first, then as many facts as fit, in order of use. */
export function backupRowText(row: BackupRow, width: number): string {
	const fit = (head: string, minName: number, name: string, facts: string[]): string => {
		let tail = '';
		for (const fact of facts) if (head.length + minName + tail.length + fact.length <= width) tail += fact;
		return `${head}${pad(name, Math.max(1, width - head.length - tail.length))}${tail}`;
	};
	if (row.kind === 'vm') {
		const newest = row.group.points[0];
		const count = row.group.points.length;
		const facts = newest ? [` ${`${count} pt${count === 1 ? '' : 's'}`.padStart(7)}`, ` ${shortTime(newest.manifest.takenAt)}`, ` ${formatBytes(newest.size).padStart(8)}`] : [];
		return fit(`${row.expanded ? '▾' : '▸'} `, Math.min(row.group.vm.length, 10), row.group.vm, facts);
	}
	return fit('   ', Math.min(row.point.id.length, 16), row.point.id, [` ${formatBytes(row.point.size).padStart(8)}`, ` ${row.point.disks.length}d`]);
}

/** A marked VM shows ✓ after its arrow; a point it is marked at shows ✓ before its id. */
function markRow(row: BackupRow, text: string, marked: ReadonlyMap<string, string> | undefined): string {
	const mark = marked?.get(row.group.vm);
	if (mark === undefined) return text;
	if (row.kind === 'vm') return `${text.slice(0, 1)}✓${text.slice(2)}`;
	const newest = row.index === 0 && mark === 'latest';
	return newest || mark === row.point.id ? `${text.slice(0, 2)}✓${text.slice(3)}` : text;
}

export function BackupsPane({ rows, cursor, offset, focused, width, height, filter, error, loading, marked }: BackupsPaneProps): React.JSX.Element {
	const body = paneBodyRows(height);
	const inner = width - 2;
	const lines: StyledLine[] = [];
	if (error) {
		wrapText(`✖ ${error}`, inner).forEach((text, index) => lines.push({ key: `error${index}`, text, color: 'red' }));
	} else if (loading) {
		lines.push({ key: 'loading', text: 'Reading the backup destination…', dim: true });
	} else if (rows.length === 0) {
		lines.push({ key: 'empty', text: filter ? `No VM matches "${filter}"` : 'No restore points in the destination', dim: true });
	} else {
		for (let index = offset; index < Math.min(rows.length, offset + body); index++) {
			const row = rows[index];
			if (!row) continue;
			const selected = index === cursor;
			lines.push({ key: row.key, text: `${selected ? '›' : ' '}${markRow(row, backupRowText(row, inner - 1), marked)}`, inverse: selected && focused, bold: selected || row.kind === 'vm', dim: row.kind === 'point' && !selected });
		}
	}
	const marks = marked && marked.size > 0 ? ` · ✓${marked.size} marked` : '';
	const info = rows.length > 0 ? `${cursor + 1}/${rows.length}${filter ? ` /${filter}` : ''}${marks}` : filter ? `/${filter}` : '';
	return (
		<Pane title="Backups" info={info} focused={focused} width={width} height={height}>
			<Lines lines={lines.slice(0, body)} />
		</Pane>
	);
}
