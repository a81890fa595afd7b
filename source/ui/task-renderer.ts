// The listr2 → Ink bridge. listr2 stays the task engine (Engine.runPhase builds the same
// tree the headless commands run); this renderer draws nothing. On every refresh event it
// copies the task tree into plain objects and hands them to the console's store, which React
// renders. It never writes to the terminal, so Ink stays the only writer.
import { ListrEventType, ListrTaskState, type ListrEventManager, type ListrRenderer } from 'listr2';

/** One task of the tree, as plain data: safe to keep in React state. */
export interface TaskNode {
	id: string;
	title: string;
	state: TaskState;
	/** The task's last output line (listr2's `task.output`), e.g. the progress text. */
	output: string | null;
	/** Milliseconds the task took, once it completed (listr2's message.duration). */
	durationMs: number | null;
	error: string | null;
	subtasks: TaskNode[];
}

export type TaskState = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface InkTaskRendererOptions {
	/** Receives a fresh snapshot of the whole tree, at most once per `throttleMs`. */
	onUpdate: (tree: TaskNode[]) => void;
	throttleMs?: number;
}

/** What the renderer reads off listr2's Task: a structural subset, so tests can build trees too. */
interface ListrTaskLike {
	id: string;
	title?: string;
	initialTitle?: string;
	state: ListrTaskState | string;
	output?: string;
	message: { duration?: number; error?: string; skip?: string };
	subtasks?: ListrTaskLike[];
}

/** listr2's task states, as the tree shows them; any other state is pending. */
const TASK_STATES: Partial<Record<string, TaskState>> = {
	[ListrTaskState.STARTED]: 'running',
	[ListrTaskState.RETRY]: 'running',
	[ListrTaskState.ROLLING_BACK]: 'running',
	[ListrTaskState.PAUSED]: 'running',
	[ListrTaskState.PROMPT]: 'running',
	[ListrTaskState.COMPLETED]: 'done',
	[ListrTaskState.FAILED]: 'failed',
	[ListrTaskState.ROLLED_BACK]: 'failed',
	[ListrTaskState.SKIPPED]: 'skipped',
};

function stateOf(state: string): TaskState {
	return TASK_STATES[state] ?? 'pending';
}

function lastLine(text: string | undefined): string | null {
	if (!text) return null;
	const lines = text.split('\n').filter((line) => line.trim() !== '');
	return lines[lines.length - 1] ?? null;
}

export function snapshotTasks(tasks: readonly ListrTaskLike[]): TaskNode[] {
	return tasks.map((task) => ({
		id: task.id,
		title: task.title ?? task.initialTitle ?? '',
		state: stateOf(task.state),
		output: lastLine(task.output),
		durationMs: task.message.duration ?? null,
		error: task.message.error ?? null,
		subtasks: snapshotTasks(task.subtasks ?? []),
	}));
}

export class InkTaskRenderer implements ListrRenderer {
	// Without this, listr2 swaps in its fallback renderer whenever stdout is not a TTY (tests,
	// pipes), and that one writes to stdout.
	static nonTTY = true;
	static rendererOptions: InkTaskRendererOptions = { onUpdate: () => undefined };
	static rendererTaskOptions: Record<PropertyKey, never> = {};

	private timer: NodeJS.Timeout | null = null;
	private lastSent = 0;
	private readonly refresh = (): void => this.schedule();

	constructor(
		private readonly tasks: ListrTaskLike[],
		private readonly options: InkTaskRendererOptions,
		private readonly events?: ListrEventManager,
	) {}

	render(): void {
		// Every task, subtasks included, announces its changes on the root's event manager.
		this.events?.on(ListrEventType.SHOULD_REFRESH_RENDER, this.refresh);
		this.flush();
	}

	end(): void {
		this.events?.off(ListrEventType.SHOULD_REFRESH_RENDER, this.refresh);
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
		// The final state (the failed step, the last duration) must reach the UI unthrottled.
		this.flush();
	}

	/** Leading edge right away, then at most one snapshot per interval: progress fires often. */
	private schedule(): void {
		if (this.timer) return;
		const wait = (this.options.throttleMs ?? 50) - (performance.now() - this.lastSent);
		if (wait <= 0) {
			this.flush();
			return;
		}
		this.timer = setTimeout(() => {
			this.timer = null;
			this.flush();
		}, wait);
	}

	private flush(): void {
		this.lastSent = performance.now();
		this.options.onUpdate(snapshotTasks(this.tasks));
	}
}
