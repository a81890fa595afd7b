// The terminal the console's end-to-end tests and the bench drive: text typed arrives as typed
// (quotes and tmux's own special characters included), keys arrive by name, the screen comes
// back whole and in UTF-8, and a wait sees output as soon as it is written.
import { afterEach, expect, it } from 'vitest';
import { openTerminal, type Terminal } from '../support/tmux.ts';
import { processAlive, waitFor } from '../support/lab-env.ts';

let terminal: Terminal | null = null;

afterEach(async () => {
	await terminal?.kill();
	terminal = null;
});

// Reads two lines and prints them back, bracketed; then a box-drawing line.
const ECHO = `read -r a; read -r b; printf '[%s]\\n[%s]\\n│ ✔ done\\n' "$a" "$b"; sleep 30`;

it('types text literally, sends named keys, and reads the whole screen', async () => {
	terminal = await openTerminal({ command: ['sh', '-c', ECHO], cwd: process.cwd(), env: {}, columns: 80, rows: 6 });
	const typed = `it's "quoted"; $HOME #not a comment ~ \\`;
	await terminal.type(typed);
	await terminal.keys('Enter');
	await terminal.type('second');
	await terminal.keys('Enter');
	const screen = await terminal.waitFor('the echo', (text) => text.includes('✔ done'), 10_000);
	expect(screen).toContain(`[${typed}]`);
	expect(screen).toContain('[second]');
	expect(screen).toContain('│ ✔ done');
	expect(screen.split('\n')).toHaveLength(6);
});

it('kill ends the program in it', async () => {
	terminal = await openTerminal({ command: ['sleep', '60'], cwd: process.cwd(), env: {}, columns: 40, rows: 6 });
	const pid = await terminal.panePid();
	expect(await processAlive(pid)).toBe(true);
	await terminal.kill();
	await waitFor('the program to end', 10_000, async () => ((await processAlive(pid)) ? undefined : true), 20);
	terminal = null;
});
