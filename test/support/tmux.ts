// Drives a program in a real terminal: a tmux server on a private socket (so nothing else's
// sessions are touched), keys in with send-keys, the screen out with capture-pane, both through
// one control-mode client (tmux-control.ts). No native addons. `kill()` ends the server — and
// with it the program, which gets SIGHUP.
import { execa } from 'execa';
import { attachControl, singleQuoted } from './tmux-control.ts';

export interface Terminal {
	socket: string;
	/** The screen as text (`ansi`: with colours, for screenshots). */
	screen(options?: { ansi?: boolean }): Promise<string>;
	/** Named keys (Enter, Tab, Up, Escape, C-c…) one by one. */
	keys(...names: string[]): Promise<void>;
	/** Literal text, typed as-is. */
	type(text: string): Promise<void>;
	/** Polls the screen until `predicate` holds; throws with the last screen after `timeoutMs`. */
	waitFor(what: string, predicate: (screen: string) => boolean, timeoutMs?: number, pollMs?: number): Promise<string>;
	resize(columns: number, rows: number): Promise<void>;
	/** The pid of the program in the pane (for /proc figures). */
	panePid(): Promise<number>;
	kill(): Promise<void>;
}

export interface TerminalOptions {
	command: string[];
	cwd: string;
	env: Record<string, string>;
	columns?: number;
	rows?: number;
}

export async function openTerminal(options: TerminalOptions): Promise<Terminal> {
	const socket = `rd-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
	const tmux = (...args: string[]) => execa('tmux', ['-L', socket, ...args], { timeout: 10_000 });
	const env = { TERM: 'xterm-256color', ...options.env };
	const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
	// `exec` so the pane's process is the program itself; the pane stays when it exits, to read its last words.
	// Where CI is set at all, Ink renders nothing until exit and chalk drops colours (even CI=0):
	// this is a real terminal, so the program must not see it.
	const command = ['env', '-u', 'CI', '-u', 'CONTINUOUS_INTEGRATION', ...options.command];
	await tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'main', '-x', String(options.columns ?? 100), '-y', String(options.rows ?? 30), '-c', options.cwd, ...envArgs, `exec ${command.map(singleQuoted).join(' ')}`);
	await tmux('set-option', '-t', 'main', 'remain-on-exit', 'on');
	const control = await attachControl(socket, 'main');
	const terminal: Terminal = {
		socket,
		async screen({ ansi = false } = {}) {
			control.markRead();
			return control.command(`capture-pane -p${ansi ? ' -e' : ''} -t main`);
		},
		async keys(...names) {
			for (const name of names) await control.command(`send-keys -t main ${singleQuoted(name)}`);
		},
		async type(text) {
			await control.command(`send-keys -t main -l ${singleQuoted(text)}`);
		},
		// The screen is read again as soon as the program writes, and at least every pollMs.
		async waitFor(what, predicate, timeoutMs = 30_000, pollMs = 100) {
			const deadline = Date.now() + timeoutMs;
			let screen = '';
			while (Date.now() < deadline) {
				screen = await terminal.screen();
				if (predicate(screen)) return screen;
				await control.outputOrTimeout(Math.min(pollMs, Math.max(0, deadline - Date.now())));
			}
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the screen:\n${screen}`);
		},
		async resize(columns, rows) {
			await control.command(`resize-window -t main -x ${columns} -y ${rows}`);
		},
		async panePid() {
			return Number.parseInt((await control.command("display-message -p -t main '#{pane_pid}'")).trim(), 10);
		},
		async kill() {
			await tmux('kill-server').catch(() => undefined);
			await control.close();
		},
	};
	return terminal;
}
