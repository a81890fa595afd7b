// One tmux control-mode client (`tmux -C`): commands go in on its stdin and their output comes
// back between %begin and %end, without a tmux process per command. A process per screen read
// cost ≈ 10 ms of CPU (node's spawn and the tmux client), i.e. most of a core when a test or a
// benchmark read the screen every few ms: on two cores that starved the program being watched.
// The pane's output arrives as %output notifications, so a wait can read the screen as soon as
// the program has written something instead of on a timer.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface ControlClient {
	/** Runs one tmux command; resolves with its output lines, rejects with tmux's error. */
	command(line: string): Promise<string>;
	/** Resolves at the pane's next output, or after `ms`, whichever comes first. */
	outputOrTimeout(ms: number): Promise<void>;
	/** The screen is about to be read: what the pane wrote until now will be in it. */
	markRead(): void;
	close(): Promise<void>;
}

interface Pending {
	resolve: (output: string) => void;
	reject: (error: Error) => void;
}

export async function attachControl(socket: string, session: string): Promise<ControlClient> {
	const child = spawn('tmux', ['-L', socket, '-C', 'attach-session', '-t', session], { stdio: ['pipe', 'pipe', 'ignore'] });
	await once(child, 'spawn');
	const pending: Pending[] = [];
	// The attach itself answers first with an empty block: the first command waits behind it.
	let attached!: () => void;
	const ready = new Promise<void>((resolve) => {
		attached = resolve;
	});
	pending.push({ resolve: () => attached(), reject: () => attached() });
	let block: { tag: string; lines: string[] } | null = null;
	let output = false;
	let wake: (() => void) | null = null;
	const lines = createInterface({ input: child.stdout });
	lines.on('line', (line) => {
		if (block) {
			if (line === `%end ${block.tag}` || line === `%error ${block.tag}`) {
				const done = pending.shift();
				const text = block.lines.join('\n');
				if (line.startsWith('%end')) done?.resolve(text);
				else done?.reject(new Error(`tmux: ${text}`));
				block = null;
			} else block.lines.push(line);
			return;
		}
		if (line.startsWith('%begin ')) block = { tag: line.slice('%begin '.length), lines: [] };
		else if (line.startsWith('%output ')) {
			output = true;
			wake?.();
		}
	});
	const closed = once(child, 'close');
	void closed.then(() => {
		for (const waiting of pending.splice(0)) waiting.reject(new Error('the tmux control client ended'));
		wake?.();
	});
	await ready;
	return {
		command(line) {
			return new Promise((resolve, reject) => {
				if (child.exitCode !== null || child.signalCode !== null) return reject(new Error('the tmux control client ended'));
				pending.push({ resolve, reject });
				child.stdin.write(`${line}\n`);
			});
		},
		markRead() {
			output = false;
		},
		async outputOrTimeout(ms) {
			if (output) return;
			let timer: NodeJS.Timeout | undefined;
			await new Promise<void>((resolve) => {
				wake = resolve;
				timer = setTimeout(resolve, ms);
			});
			clearTimeout(timer);
			wake = null;
		},
		async close() {
			if (child.exitCode !== null || child.signalCode !== null) return;
			child.kill('SIGTERM');
			await closed;
		},
	};
}

/** One word, single-quoted: nothing in it is special to sh or to tmux's command parser but the quote itself. */
export function singleQuoted(text: string): string {
	return `'${text.replace(/'/g, `'\\''`)}'`;
}
