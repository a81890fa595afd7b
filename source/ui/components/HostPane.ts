// The detail pane's `v` view: every VM of the host with its power state and what rundirect knows
// of it — running from its backup in a session, set aside by one, a drill's, restored and
// finalized by one — so a finalized VM still running or a drill VM left behind is seen at once.
import type { HostVm } from '../../hosts/host.ts';
import { isTerminal } from '../../restore/session.ts';
import type { HostVmsState } from '../state/host-vms.ts';
import { middleTruncate, pad, shortTime, wrapText, type SessionView } from '../model.ts';
import type { StyledLine } from './Line.tsx';

const STATE_COLORS: Record<HostVm['state'], string | undefined> = { running: 'green', paused: 'yellow', off: undefined, error: 'red' };

/** What the sessions say of a host VM, in a few words. */
function roleOf(vm: HostVm, sessions: readonly SessionView[]): string {
	if (vm.runningFromBackup) return 'runs from its backup in a session';
	if (vm.setAside) return 'set aside by a session (kept off)';
	const mine = sessions.filter((view) => view.record.vm === vm.name);
	const drill = mine.find((view) => view.record.purpose === 'drill' && !isTerminal(view.record));
	if (drill) return `a drill's VM (${drill.record.drillId ?? drill.record.id})`;
	const finalized = mine.filter((view) => view.record.state === 'finalized').sort((a, b) => b.record.updatedAt.localeCompare(a.record.updatedAt))[0];
	if (finalized) return `finalized by rundirect ${shortTime(finalized.record.updatedAt)}`;
	return '';
}

export function hostVmLines(state: HostVmsState, sessions: readonly SessionView[], cursor: number, width: number): StyledLine[] {
	const lines: StyledLine[] = [];
	if (state.error) {
		wrapText(`✖ ${state.error.message}${state.error.hint ? ` — ${state.error.hint}` : ''}`, width).forEach((text, index) => lines.push({ key: `e${index}`, text, color: 'red' }));
	}
	if (state.vms === null) {
		if (!state.error) lines.push({ key: 'reading', text: 'Reading the host’s VMs…', dim: true });
		return lines;
	}
	if (state.vms.length === 0) {
		lines.push({ key: 'none', text: 'The host has no VMs.', dim: true });
		return lines;
	}
	const nameWidth = Math.min(Math.max(4, ...state.vms.map((vm) => vm.name.length)), Math.max(8, Math.floor(width / 3)));
	lines.push({ key: 'columns', text: `  ${pad('VM', nameWidth)}  ${pad('POWER', 8)}  WHAT RUNDIRECT KNOWS OF IT`, dim: true });
	state.vms.forEach((vm, index) => {
		const selected = index === cursor;
		const changing = state.changing === vm.name ? ' (changing…)' : '';
		const text = `${selected ? '›' : ' '} ${pad(middleTruncate(vm.name, nameWidth), nameWidth)}  ${pad(vm.state, 8)}  ${roleOf(vm, sessions)}${changing}`;
		lines.push({ key: `vm:${vm.name}`, text, bold: selected, inverse: selected, color: STATE_COLORS[vm.state] });
	});
	return lines;
}
