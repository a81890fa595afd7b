// A task's row in a task tree (a restore's steps, a drill's VMs): its state's icon and colour.
import type { TaskState } from '../task-renderer.ts';
import type { StyledLine } from './Line.tsx';

const ICONS: Record<TaskState, { icon: string; color?: string }> = {
	done: { icon: '✔', color: 'green' },
	failed: { icon: '✖', color: 'red' },
	running: { icon: '❯', color: 'yellow' },
	pending: { icon: '◌' },
	skipped: { icon: '↓', color: 'gray' },
};

/** `indent`, the icon, then `text`; a task still to come is dim instead of coloured. */
export function taskLine(key: string, state: TaskState, indent: string, text: string): StyledLine {
	const { icon, color } = ICONS[state];
	return { key, text: `${indent}${icon} ${text}`, color: state === 'pending' ? undefined : color, dim: state === 'pending' };
}
