// The header: host and accelerator, production space, destination, counts, and warnings
// (the host's own, low space, sessions left running from backup for long).
import type React from 'react';
import { Box } from 'ink';
import { formatBytes } from '../../core/format.ts';
import { isTerminal } from '../../restore/session.ts';
import type { CatalogState } from '../state/catalog.ts';
import { truncate, type SessionView } from '../model.ts';
import { Line } from './Line.tsx';

export function headerRows(warnings: readonly string[]): number {
	return warnings.length > 0 ? 3 : 2;
}

export interface HeaderProps {
	catalog: CatalogState;
	sessions: readonly SessionView[];
	warnings: readonly string[];
	width: number;
}

export function Header({ catalog, sessions, warnings, width }: HeaderProps): React.JSX.Element {
	const { host, hostError } = catalog;
	const hostText = host ? `host ${host.id} · ${host.summary}` : hostError ? `host: ✖ ${hostError.message}` : 'host …';
	const free = host?.freeBytes !== null && host?.freeBytes !== undefined ? ` │ production ${formatBytes(host.freeBytes)} free` : '';
	const open = sessions.filter((view) => !isTerminal(view.record));
	const fromBackup = open.filter((view) => view.record.state === 'running').length;
	const busy = open.filter((view) => view.record.state === 'starting' || view.record.state === 'finalizing' || view.record.state === 'stopping').length;
	const failed = open.filter((view) => view.record.state === 'failed').length;
	const counts = [`${catalog.backups.length} VMs · ${catalog.pointCount} restore points`, `${fromBackup} running from backup`];
	if (busy > 0) counts.push(`${busy} in progress`);
	if (failed > 0) counts.push(`${failed} failed`);
	const more = warnings.length > 1 ? ` (+${warnings.length - 1} more: ?)` : '';
	return (
		<Box flexDirection="column" width={width} height={headerRows(warnings)}>
			<Line text={truncate(` rundirect │ ${hostText}${free}`, width)} bold color="cyan" />
			<Line text={truncate(` ${counts.join(' · ')} │ ${catalog.destination}`, width)} />
			{warnings.length > 0 ? <Line text={truncate(` ⚠ ${warnings[0] ?? ''}${more}`, width)} color="yellow" /> : null}
		</Box>
	);
}
