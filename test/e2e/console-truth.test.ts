// The console tells the truth on the real lab host, at 80×24 in tmux: a session's QEMU killed
// is flagged (red, counted) within 3 s; the process driving a copy killed, the row says no
// process drives it and its bytes keep rising from QEMU's own job.
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, REPO, type LabEnv } from '../support/lab-env.ts';
import { openTerminal, type Terminal } from '../support/tmux.ts';

let lab: LabEnv;
let terminal: Terminal | undefined;
let driver: ResultPromise | undefined;

beforeAll(async () => {
	lab = await createInitializedLabEnv();
	terminal = await openTerminal({ command: [process.execPath, '--max-semi-space-size=2', path.join(REPO, 'bin', 'rundirect.js')], cwd: REPO, env: lab.env, columns: 80, rows: 24 });
	await terminal.waitFor('the backups', (screen) => screen.includes('▶ Backups') && screen.includes('web01'), 20_000);
}, 620_000);

afterAll(async () => {
	driver?.kill('SIGKILL');
	await terminal?.kill();
	await lab?.cleanup();
});

function term(): Terminal {
	if (!terminal) throw new Error('no terminal');
	return terminal;
}

/** The first number of MiB in the row that says no process drives the session. */
function hostBytes(screen: string): number {
	const match = /no driver · host job \d+% ([\d.]+) (KiB|MiB)/.exec(screen);
	if (!match) return Number.NaN;
	return Number(match[1]) * (match[2] === 'KiB' ? 1 / 1024 : 1);
}

describe('the console on the lab host tells the truth', () => {
	it('flags a session whose QEMU was killed within 3 s, red and counted; R restarts it', async () => {
		const t = term();
		const started = await lab.cli(['start', 'web01', '--yes', '--json'], { timeoutMs: 60_000 });
		expect(started.exitCode).toBe(0);
		await t.waitFor('web01 running from backup', (screen) => /web01\s+running\s+4 start the VM ✔/.test(screen) && screen.includes('1 running from backup'), 20_000);
		// The lab's own VMs are off (web01's original is set aside): the only QEMU is the restored web01's.
		const running = await lab.qemuPids();
		expect(running).toHaveLength(1);
		process.kill(running[0] ?? 0, 'SIGKILL');
		const killedAt = Date.now();
		const flagged = await t.waitFor('web01 flagged as down', (screen) => /web01\s+VM (off|missing)/.test(screen) && screen.includes('1 VM down'), 3_000, 50);
		expect(Date.now() - killedAt).toBeLessThan(3_000);
		expect(flagged).toMatch(/⚠ .*VM is down that should run: web01/);
		expect(flagged).toContain('should run: R restart · s roll back');
		await t.keys('Tab');
		await t.waitFor('the sessions pane', (screen) => screen.includes('▶ Sessions') && screen.includes('R restart VM'), 5_000);
		await t.type('R');
		await t.waitFor('web01 running again', (screen) => /web01\s+running\s+4 start the VM ✔/.test(screen) && !screen.includes('VM down'), 30_000);
		expect(await lab.qemuPids()).toHaveLength(1);
	}, 120_000);

	it('says no process drives a copy whose controller was killed, and shows QEMU’s bytes rising', async () => {
		const t = term();
		// A slow copy (capped), driven by a headless finalize: the process that will die.
		driver = execa(process.execPath, [path.join(REPO, 'bin', 'rundirect.js'), 'finalize', 'web01', '--yes', '--rate-limit', '1', '--json'], { env: lab.env, reject: false });
		await t.waitFor('the copy under way, driven elsewhere', (screen) => /web01\s+finalizing\s+5 copy data/.test(screen) && /\d+% [\d.]+ (KiB|MiB)\/[\d.]+ MiB/.test(screen), 30_000);
		driver.kill('SIGKILL');
		await driver;
		const undriven = await t.waitFor('the row to say nothing drives it', (screen) => screen.includes('no driver · host job'), 10_000);
		expect(undriven).toContain('web01 is finalizing but no process drives it');
		const first = hostBytes(undriven);
		expect(first).toBeGreaterThanOrEqual(0);
		const later = await t.waitFor('QEMU’s bytes to rise', (screen) => hostBytes(screen) > first, 15_000);
		expect(hostBytes(later)).toBeGreaterThan(first);
		// Continuing from the console finishes it (f continues an undriven finalize).
		await t.type('f');
		await t.waitFor('the finalize confirmation', (screen) => screen.includes('Finalize web01?'), 5_000);
		await t.type('y');
		await t.waitFor('web01 finalized', (screen) => /web01\s+finalized/.test(screen), 120_000);
	}, 240_000);
});
