// The console end to end: the real `rundirect` in a real terminal (tmux) on the lab host,
// driven by keys only. Start → running from backup → finalize, reading the finished task
// tree off the screen; and start → stop.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, REPO, type LabEnv } from '../support/lab-env.ts';
import { openTerminal, type Terminal } from '../support/tmux.ts';
import { Journal } from '../../source/restore/journal.ts';

let lab: LabEnv;
let terminal: Terminal | undefined;

beforeAll(async () => {
	lab = await createInitializedLabEnv();
	terminal = await openTerminal({ command: [process.execPath, '--max-semi-space-size=2', path.join(REPO, 'bin', 'rundirect.js')], cwd: REPO, env: lab.env, columns: 100, rows: 30 });
	await terminal.waitFor('the backups', (screen) => screen.includes('▶ Backups') && screen.includes('web01'), 20_000);
	// Keys typed before Ink listens are lost.
	await new Promise((resolve) => setTimeout(resolve, 300));
}, 620_000);

afterAll(async () => {
	await terminal?.kill();
	await lab?.cleanup();
});

function term(): Terminal {
	if (!terminal) throw new Error('no terminal');
	return terminal;
}

/** From the backups pane: the VM on row `row` (0-based), its newest point, the form, its confirmation. */
async function startFromKeyboard(row: number, vm: string): Promise<void> {
	const t = term();
	const focused = (screen: string): string => /▶ (\w+)/.exec(screen)?.[1] ?? '';
	for (let tabs = 0; tabs < 3; tabs++) {
		const before = focused(await t.screen());
		if (before === 'Backups') break;
		await t.keys('Tab');
		await t.waitFor('the focus to move', (screen) => focused(screen) !== before, 5_000);
	}
	await t.keys('Home');
	await t.waitFor('the cursor on the first VM', (screen) => screen.includes('›▸ db01') || screen.includes('›▾ db01'));
	if (row > 0) await t.type('j'.repeat(row));
	await t.keys('Enter');
	await t.waitFor(`${vm}'s restore points`, (screen) => new RegExp(`›▾ ${vm}`).test(screen));
	await t.keys('Down', 'Enter');
	await t.waitFor('the start form', (screen) => screen.includes(`Restore ${vm} from`));
	await t.keys('Enter');
	await t.waitFor('the confirmation', (screen) => screen.includes(`Start Run Direct of ${vm}?`), 20_000);
	await t.type('y');
}

describe('the console on the lab host, by keyboard', () => {
	it('starts a restore, shows it running from backup, finalizes it and shows the finished task tree', async () => {
		const t = term();
		await startFromKeyboard(2, 'web01');
		const running = await t.waitFor('web01 running from backup', (screen) => /web01\s+running\s+4 start the VM ✔/.test(screen) && screen.includes('running from backup for'), 30_000);
		expect(running).toContain('✔ 4. Start web01 running directly from the backup');
		await t.keys('f');
		await t.waitFor('the finalize confirmation', (screen) => screen.includes('Finalize web01?'));
		await t.type('y');
		const done = await t.waitFor('web01 finalized', (screen) => /web01\s+finalized/.test(screen) && screen.includes('✔ 7. Delete the snapshot layer'), 45_000);
		const tree = done.split('\n').filter((line) => /[✔✖❯◌]/.test(line));
		expect(tree.some((line) => line.includes('✔ Start — steps 1–4: done'))).toBe(true);
		expect(tree.some((line) => /✔ 5\. Copy the data from the backup into the production images/.test(line))).toBe(true);
		expect(tree.some((line) => /✔ 6\. Apply the changes made in the VM since it started — switch paused the VM for [\d.]+ ms/.test(line))).toBe(true);
		expect(tree.some((line) => /✔ Purge the replaced VM web01/.test(line))).toBe(true);
		const { sessions } = await new Journal(lab.paths.state).list();
		expect(sessions.find((session) => session.vm === 'web01')?.state).toBe('finalized');
	}, 90_000);

	it('starts a restore and stops it, the VM name typed to confirm', async () => {
		const t = term();
		await startFromKeyboard(0, 'db01');
		await t.waitFor('db01 running from backup', (screen) => /db01\s+running\s+4 start the VM ✔/.test(screen), 30_000);
		await t.keys('s');
		await t.waitFor('the stop confirmation', (screen) => screen.includes('Type db01 to stop it'));
		await t.keys('Enter');
		await t.waitFor('the refusal of an empty name', (screen) => screen.includes('nothing was done'));
		await t.type('db01');
		await t.keys('Enter');
		const stopped = await t.waitFor('db01 stopped', (screen) => /db01\s+stopped/.test(screen) && screen.includes('Bring back the replaced VM db01'), 30_000);
		expect(stopped).toMatch(/✔ Turn off and remove db01, discard every change/);
		const { sessions } = await new Journal(lab.paths.state).list();
		expect(sessions.find((session) => session.vm === 'db01')?.state).toBe('stopped');
		expect(await lab.qemuPids()).toHaveLength(1); // web01, finalized in the first test, still runs
	}, 90_000);

	it('quits on q, leaving the finalized VM running', async () => {
		const t = term();
		await t.keys('Escape', 'q');
		await t.waitFor('the console to exit', (screen) => !screen.includes('▶ '), 10_000);
		expect(await lab.qemuPids()).toHaveLength(1);
	});
});
