// The header: host and accelerator, production space, destination, counts, and warnings
// (a VM down that should run, a session no process drives, the host's own, low space, a
// session left running from backup for long) — the first in full width, with their count:
// w lists them all.
import type React from 'react';
import { Box } from 'ink';
import { formatBytes } from '../../core/format.ts';
import { isTerminal } from '../../restore/session.ts';
import type { CatalogState } from '../state/catalog.ts';
import { fromBackupSeconds, sessionHealth, truncate, type SessionView } from '../model.ts';
import { Line } from './Line.tsx';

export function headerRows(warnings: readonly string[]): number {
	return warnings.length > 0 ? 3 : 2;
}

export interface HeaderProps {
	catalog: CatalogState;
	sessions: readonly SessionView[];
	warnings: readonly string[];
	width: number;
	now?: number;
}

export function Header({ catalog, sessions, warnings, width, now = Date.now() }: HeaderProps): React.JSX.Element {
	const { host, hostError } = catalog;
	const hostText = host ? `host ${host.id} · ${host.summary}` : hostError ? `host: ✖ ${hostError.message}` : 'host …';
	const free = host?.freeBytes !== null && host?.freeBytes !== undefined ? ` │ production ${formatBytes(host.freeBytes)} free` : '';
	const open = sessions.filter((view) => !isTerminal(view.record));
	// Finalizing VMs run from the backup too, until step 6 switches them; a VM that is down runs from nothing.
	const fromBackup = open.filter((view) => fromBackupSeconds(view.record, now) !== null && sessionHealth(view) !== 'vm-down').length;
	const down = open.filter((view) => sessionHealth(view) === 'vm-down').length;
	const busy = open.filter((view) => view.record.state === 'starting' || view.record.state === 'finalizing' || view.record.state === 'stopping').length;
	const failed = open.filter((view) => view.record.state === 'failed').length;
	const counts = [`${catalog.backups.length} VMs · ${catalog.pointCount} restore points`, `${fromBackup} running from backup`];
	if (down > 0) counts.push(`${down} VM${down === 1 ? '' : 's'} down`);
	if (busy > 0) counts.push(`${busy} in progress`);
	if (failed > 0) counts.push(`${failed} failed`);
	const count = warnings.length > 1 ? `1/${warnings.length} ` : '';
	const more = ' (w: all)';
	const first = warnings[0] ?? '';
	const room = Math.max(0, width - 3 - count.length - more.length);
	return (
		<Box flexDirection="column" width={width} height={headerRows(warnings)}>
			<Line text={truncate(` rundirect │ ${hostText}${free}`, width)} bold color="cyan" />
			<Line text={truncate(` ${counts.join(' · ')} │ ${catalog.destination}`, width)} />
			{warnings.length > 0 ? <Line text={` ⚠ ${count}${truncate(first, room)}${more}`} color={down > 0 ? 'red' : 'yellow'} bold={down > 0} /> : null}
		</Box>
	);
}
