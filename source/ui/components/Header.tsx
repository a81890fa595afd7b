// The header: host and accelerator, production space, destination, counts, and warnings
// (the host's own, low space, sessions left running from backup for long).
import React from 'react';
import { Box } from 'ink';
import { formatBytes } from '../../core/format.ts';
import { isTerminal } from '../../restore/session.ts';
import type { ConsoleState } from '../store.ts';
import { truncate } from '../model.ts';
import { Line } from './Line.tsx';

export function headerRows(warnings: readonly string[]): number {
	return warnings.length > 0 ? 3 : 2;
}

export function Header({ state, warnings, width }: { state: ConsoleState; warnings: readonly string[]; width: number }): React.JSX.Element {
	const host = state.host;
	const hostText = host ? `host ${host.id} · ${host.summary}` : state.hostError ? `host: ✖ ${state.hostError.message}` : 'host …';
	const free = host?.freeBytes !== null && host?.freeBytes !== undefined ? ` │ production ${formatBytes(host.freeBytes)} free` : '';
	const open = state.sessions.filter((view) => !isTerminal(view.record));
	const fromBackup = open.filter((view) => view.record.state === 'running').length;
	const busy = open.filter((view) => view.record.state === 'starting' || view.record.state === 'finalizing' || view.record.state === 'stopping').length;
	const failed = open.filter((view) => view.record.state === 'failed').length;
	const counts = [`${state.backups.length} VMs · ${state.pointCount} restore points`, `${fromBackup} running from backup`];
	if (busy > 0) counts.push(`${busy} in progress`);
	if (failed > 0) counts.push(`${failed} failed`);
	const more = warnings.length > 1 ? ` (+${warnings.length - 1} more: ?)` : '';
	return (
		<Box flexDirection="column" width={width} height={headerRows(warnings)}>
			<Line text={truncate(` rundirect │ ${hostText}${free}`, width)} bold color="cyan" />
			<Line text={truncate(` ${counts.join(' · ')} │ ${state.destination}`, width)} />
			{warnings.length > 0 ? <Line text={truncate(` ⚠ ${warnings[0] ?? ''}${more}`, width)} color="yellow" /> : null}
		</Box>
	);
}
