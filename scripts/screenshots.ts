// Screenshots of the real console for the README: runs `rundirect` against a fresh lab in a
// real terminal (tmux, 80×24 first, then one at 120×40), drives it by keys, captures the screen with its colours
// (capture-pane -e) and renders the ANSI text to PNG with ImageMagick (MVG drawing, DejaVu
// Sans Mono). Run: `npx tsx scripts/screenshots.ts` (needs tmux and imagemagick).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { openTerminal, type Terminal } from '../test/support/tmux.ts';
import { killLabQemus } from '../test/support/lab-env.ts';
import { runningPid, runtimeFiles } from '../source/hosts/lab/runtime.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MEDIA = path.join(REPO, 'media');
const CELL = { width: 8.4, height: 17, font: 14 };
const BACKGROUND = '#1b1d23';
const FOREGROUND = '#d7dae0';
// xterm's 16 colours, tuned for a dark background.
const PALETTE = ['#2e3440', '#e06c75', '#98c379', '#e5c07b', '#61afef', '#c678dd', '#56b6c2', '#d7dae0', '#5c6370', '#ff7b86', '#b5e890', '#ffd68a', '#82c4ff', '#de9cf0', '#7fd6e0', '#ffffff'];

interface Style {
	fg: string | null;
	bg: string | null;
	bold: boolean;
	dim: boolean;
	inverse: boolean;
}

function color256(index: number): string {
	if (index < 16) return PALETTE[index] ?? FOREGROUND;
	if (index >= 232) {
		const level = 8 + (index - 232) * 10;
		return `rgb(${level},${level},${level})`;
	}
	const cube = index - 16;
	const channel = (value: number) => (value === 0 ? 0 : 55 + value * 40);
	return `rgb(${channel(Math.floor(cube / 36))},${channel(Math.floor(cube / 6) % 6)},${channel(cube % 6)})`;
}

function applySgr(style: Style, codes: number[]): Style {
	const next = { ...style };
	for (let index = 0; index < codes.length; index++) {
		const code = codes[index] ?? 0;
		if (code === 0) Object.assign(next, { fg: null, bg: null, bold: false, dim: false, inverse: false });
		else if (code === 1) next.bold = true;
		else if (code === 2) next.dim = true;
		else if (code === 22) Object.assign(next, { bold: false, dim: false });
		else if (code === 7) next.inverse = true;
		else if (code === 27) next.inverse = false;
		else if (code >= 30 && code <= 37) next.fg = PALETTE[code - 30] ?? null;
		else if (code >= 90 && code <= 97) next.fg = PALETTE[code - 90 + 8] ?? null;
		else if (code === 39) next.fg = null;
		else if (code >= 40 && code <= 47) next.bg = PALETTE[code - 40] ?? null;
		else if (code >= 100 && code <= 107) next.bg = PALETTE[code - 100 + 8] ?? null;
		else if (code === 49) next.bg = null;
		else if ((code === 38 || code === 48) && codes[index + 1] === 5) {
			const value = color256(codes[index + 2] ?? 7);
			if (code === 38) next.fg = value;
			else next.bg = value;
			index += 2;
		} else if ((code === 38 || code === 48) && codes[index + 1] === 2) {
			const value = `rgb(${codes[index + 2] ?? 0},${codes[index + 3] ?? 0},${codes[index + 4] ?? 0})`;
			if (code === 38) next.fg = value;
			else next.bg = value;
			index += 4;
		}
	}
	return next;
}

function mvgText(text: string): string {
	return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** ANSI screen text → an MVG drawing: a background rectangle and a text run per style change. */
export function ansiToMvg(screen: string, columns: number, rows: number): string {
	const width = Math.ceil(columns * CELL.width + 24);
	const height = rows * CELL.height + 24;
	const out = [`viewbox 0 0 ${width} ${height}`, `fill '${BACKGROUND}'`, `rectangle 0,0 ${width},${height}`, `font 'DejaVu-Sans-Mono'`, `font-size ${CELL.font}`, 'text-antialias 1'];
	screen.split('\n').slice(0, rows).forEach((line, row) => {
		let style: Style = { fg: null, bg: null, bold: false, dim: false, inverse: false };
		let column = 0;
		const runs: Array<{ column: number; text: string; style: Style }> = [];
		/* eslint-disable no-control-regex -- terminal output: the ESC character is what these match */
		for (const part of line.split(/(\u001B\[[0-9;]*m)/)) {
			const sgr = /^\u001B\[([0-9;]*)m$/.exec(part);
			if (sgr) {
				style = applySgr(style, (sgr[1] || '0').split(';').map((code) => Number.parseInt(code || '0', 10)));
				continue;
			}
			const text = part.replace(/\u001B\[[^a-zA-Z]*[a-zA-Z]/g, '');
			if (text) runs.push({ column, text, style });
			column += [...text].length;
		}
		/* eslint-enable no-control-regex */
		for (const run of runs) {
			const fg = run.style.inverse ? (run.style.bg ?? BACKGROUND) : (run.style.fg ?? FOREGROUND);
			const bg = run.style.inverse ? (run.style.fg ?? FOREGROUND) : run.style.bg;
			const x = 12 + run.column * CELL.width;
			const y = 12 + row * CELL.height;
			const width = [...run.text].length * CELL.width;
			if (bg) out.push(`fill '${bg}'`, `rectangle ${x.toFixed(1)},${y} ${(x + width).toFixed(1)},${y + CELL.height}`);
			if (run.text.trim() === '') continue;
			out.push(`fill '${fg}'`, `fill-opacity ${run.style.dim ? 0.55 : 1}`, `font-weight ${run.style.bold ? 700 : 400}`);
			// One text call per character keeps every glyph on its cell, box-drawing included.
			[...run.text].forEach((char, offset) => {
				if (char !== ' ') out.push(`text ${(x + offset * CELL.width).toFixed(1)},${y + CELL.height - 4} ${mvgText(char)}`);
			});
			out.push('fill-opacity 1');
		}
	});
	return out.join('\n');
}

async function shoot(terminal: Terminal, name: string, columns: number, rows: number): Promise<void> {
	const screen = await terminal.screen({ ansi: true });
	const mvg = path.join(os.tmpdir(), `rundirect-${name}.mvg`);
	await fs.writeFile(mvg, ansiToMvg(screen, columns, rows));
	const width = Math.ceil(columns * CELL.width + 24);
	const height = rows * CELL.height + 24;
	// `-draw @file` is refused by Debian's ImageMagick policy; the MVG reader is not.
	await execa('/usr/bin/convert', ['-size', `${width}x${height}`, `mvg:${mvg}`, path.join(MEDIA, `${name}.png`)]);
	await fs.writeFile(path.join(MEDIA, `${name}.txt`), (await terminal.screen()).replace(/\s+$/gm, '') + '\n');
	await fs.rm(mvg);
	console.log(`media/${name}.png`);
}

/** The console at a size, on a lab: a fresh terminal (one is opened again to show the resume dialog). */
async function openConsole(cli: string[], env: Record<string, string>, columns: number, rows: number): Promise<Terminal> {
	const terminal = await openTerminal({ command: cli, cwd: REPO, env, columns, rows });
	await terminal.waitFor('the console', (screen) => screen.includes('▶ ') || screen.includes('Interrupted sessions'), 20_000);
	await new Promise((resolve) => setTimeout(resolve, 300));
	return terminal;
}

async function main(): Promise<void> {
	// 80×24 first: what an operator over SSH gets; one wide shot at the end.
	const columns = 80;
	const rows = 24;
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-shots-'));
	const env = { XDG_STATE_HOME: path.join(root, 'state'), XDG_DATA_HOME: path.join(root, 'data'), XDG_CACHE_HOME: process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), RUNDIRECT_HOST: 'lab' };
	const cli = [process.execPath, '--max-semi-space-size=2', path.join(REPO, 'bin', 'rundirect.js')];
	const headless = (args: string[]) => execa(cli[0] ?? 'node', [...cli.slice(1), ...args], { env: { ...process.env, ...env }, reject: false });
	const run = path.join(env.XDG_DATA_HOME, 'rundirect', 'lab', 'run');
	await fs.mkdir(MEDIA, { recursive: true });
	console.log('Building a lab in a temp folder…');
	await execa(cli[0] ?? 'node', [...cli.slice(1), 'lab', 'init'], { env: { ...process.env, ...env }, stdio: 'inherit' });
	let terminal = await openConsole(cli, env, columns, rows);
	try {
		// Keys typed before Ink listens are lost (longer on a loaded machine): move until the cursor does.
		for (let tries = 0; tries < 20 && !(await terminal.screen()).includes('›▸ files01'); tries++) {
			await terminal.type('j');
			await new Promise((resolve) => setTimeout(resolve, 500));
		}
		await terminal.type('j');
		await terminal.waitFor('the cursor on web01', (screen) => screen.includes('›▸ web01'));
		await terminal.keys('Enter');
		await terminal.waitFor('web01 expanded', (screen) => screen.includes('›▾ web01'));
		await terminal.keys('Down');
		await shoot(terminal, 'console-backups', columns, rows);

		await terminal.keys('Enter');
		await terminal.waitFor('the form', (screen) => screen.includes('Review what will happen'));
		await shoot(terminal, 'console-start-form', columns, rows);
		await terminal.keys('Enter');
		await terminal.waitFor('the confirmation', (screen) => screen.includes('Start Run Direct of web01?'), 20_000);
		await terminal.type('y');
		await terminal.waitFor('web01 running, its guest alive', (screen) => /web01\s+running/.test(screen) && screen.includes('guest alive'), 90_000);
		await new Promise((resolve) => setTimeout(resolve, 3000));
		await shoot(terminal, 'console-running-from-backup', columns, rows);
		// c: the VM's serial console, live, in the detail pane.
		await terminal.type('c');
		await terminal.waitFor('the VM console', (screen) => screen.includes('VM console') && screen.includes('the serial console · read'), 15_000);
		await new Promise((resolve) => setTimeout(resolve, 2500));
		await shoot(terminal, 'console-vm-console', columns, rows);
		await terminal.type('c');
		await terminal.waitFor('the task tree again', (screen) => !screen.includes('VM console'));
		// v: the host pane — web01 from its backup, the VM it set aside, the lab's others.
		await terminal.type('v');
		await terminal.waitFor('the host pane', (screen) => screen.includes('Host VMs') && screen.includes('set aside by a session'), 15_000);
		await shoot(terminal, 'console-host-pane', columns, rows);
		await terminal.type('v');
		await terminal.waitFor('the task tree again', (screen) => !screen.includes('Host VMs'));

		// A copy in progress, capped at 1 MiB/s, driven by a headless finalize beside the console.
		const finalizing = headless(['finalize', 'web01', '--yes', '--rate-limit', '1']);
		await terminal.waitFor('the copy under way', (screen) => /web01\s+finalizing/.test(screen) && /\d+% [\d.]+ MiB\/[\d.]+ MiB/.test(screen), 30_000);
		await new Promise((resolve) => setTimeout(resolve, 3000));
		await shoot(terminal, 'console-copy-in-progress', columns, rows);
		// Its controller dies: the row says so, and QEMU's own job goes on.
		finalizing.kill('SIGKILL');
		await finalizing;
		await terminal.waitFor('the copy undriven', (screen) => screen.includes('no driver · host job'), 15_000);
		await shoot(terminal, 'console-undriven', columns, rows);
		await terminal.keys('Tab');
		await terminal.type('f');
		await terminal.waitFor('the finalize confirmation', (screen) => screen.includes('Finalize web01?'));
		await terminal.type('y');
		await terminal.waitFor('the finalized tree', (screen) => /web01\s+finalized/.test(screen) && screen.includes('✔ 7. Delete the snapshot layer'), 90_000);
		await shoot(terminal, 'console-finalize-tree', columns, rows);

		await terminal.type('?');
		await terminal.waitFor('the help', (screen) => screen.includes('Keys — any key closes this help'));
		await shoot(terminal, 'console-help', columns, rows);
		await terminal.keys('Escape');

		// A VM that should run and does not: db01 started headless, its QEMU killed.
		await headless(['start', 'db01', '--yes']);
		await terminal.waitFor('db01 running', (screen) => /db01\s+running/.test(screen), 30_000);
		const pid = await runningPid(runtimeFiles(run, 'db01'));
		if (pid !== null) process.kill(pid, 'SIGKILL');
		await terminal.waitFor('db01 flagged', (screen) => /db01\s+VM off/.test(screen) && screen.includes('1 VM down'), 10_000);
		await shoot(terminal, 'console-vm-down', columns, rows);
		// R acts on the selected session: select db01 (the most urgent, listed first) in the sessions pane.
		for (let presses = 0; presses < 3 && !(await terminal.screen()).includes('▶ Sessions'); presses++) {
			await terminal.keys('Tab');
			await new Promise((resolve) => setTimeout(resolve, 200));
		}
		await terminal.type('g');
		await terminal.waitFor('db01 selected', (screen) => screen.includes('›db01'));
		await terminal.type('R');
		await terminal.waitFor('db01 running again', (screen) => /db01\s+running/.test(screen) && !screen.includes('VM down'), 60_000);

		// The resume dialog: files01's finalize cut off while this console was closed.
		await terminal.kill();
		await headless(['start', 'files01', '--yes']);
		const cut = headless(['finalize', 'files01', '--yes', '--rate-limit', '1']);
		await new Promise((resolve) => setTimeout(resolve, 4000));
		cut.kill('SIGKILL');
		await cut;
		terminal = await openConsole(cli, env, columns, rows);
		await terminal.waitFor('the resume dialog', (screen) => screen.includes('Interrupted sessions'), 20_000);
		await shoot(terminal, 'console-resume', columns, rows);
		// Esc leaves them all (a key sent while the dialog draws can be lost: until it is gone).
		for (let presses = 0; presses < 5 && (await terminal.screen()).includes('Interrupted sessions'); presses++) {
			await terminal.keys('Escape');
			await new Promise((resolve) => setTimeout(resolve, 500));
		}

		// A recovery drill of two marked VMs, run from the backups pane.
		for (let presses = 0; presses < 3 && !(await terminal.screen()).includes('▶ Backups'); presses++) {
			await terminal.keys('Tab');
			await new Promise((resolve) => setTimeout(resolve, 200));
		}
		await terminal.waitFor('the backups pane focused', (screen) => screen.includes('▶ Backups'));
		await terminal.type('g');
		await terminal.keys('Space');
		await terminal.keys('Space');
		await terminal.type('d');
		// The dialog takes keys once its pre-flight check has passed.
		await terminal.waitFor('the drill confirmation', (screen) => screen.includes('Recovery drill of') && screen.includes('y/Enter: run the drill'), 20_000);
		await terminal.type('y');
		await terminal.waitFor('the drill passed', (screen) => /Recovery drill \S+ · PASSED/.test(screen), 120_000);
		await shoot(terminal, 'console-drill', columns, rows);

		// One wide: the same console at 120×40.
		await terminal.resize(120, 40);
		await terminal.waitFor('the wide frame', (screen) => screen.split('\n').some((line) => line.length > 100), 10_000).catch(() => undefined);
		await new Promise((resolve) => setTimeout(resolve, 500));
		await shoot(terminal, 'console-wide', 120, 40);
	} finally {
		await terminal.kill();
		await killLabQemus(run);
		await fs.rm(root, { recursive: true, force: true });
	}
}

await main();
