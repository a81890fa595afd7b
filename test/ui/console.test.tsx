// The console, rendered with ink-testing-library over the real Engine and an in-memory host:
// navigation, filter, help, the start form and its confirmations, finalize/stop, errors,
// sessions started elsewhere, and windowing of long lists.
import { afterEach, describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import App from '../../source/app.tsx';
import { Engine } from '../../source/restore/engine.ts';
import { RundirectError } from '../../source/core/errors.ts';
import { InkTaskRenderer } from '../../source/ui/task-renderer.ts';
import { KEYS, createFixture, tick, waitForFrame, type Fixture, type PointSpec, SAMPLE_DESTINATION } from './support/fixtures.ts';
import type { MemoryHostOptions } from './support/memory-host.ts';

const SIZE = { columns: 100, rows: 30 };

let fixture: Fixture | undefined;
let app: ReturnType<typeof render> | undefined;
let quits = 0;

afterEach(async () => {
	app?.unmount();
	app = undefined;
	await fixture?.cleanup();
	fixture = undefined;
});

async function mount(specs: PointSpec[] = SAMPLE_DESTINATION, hostOptions: MemoryHostOptions = { existing: ['web01', 'db01'] }) {
	fixture = await createFixture(specs, hostOptions);
	quits = 0;
	app = render(<App store={fixture.store} size={SIZE} onQuit={() => quits++} />);
	await fixture.store.open();
	const frame = await waitForFrame(app.lastFrame, (text) => text.includes('▶ Backups') && text.includes(specs[0]?.vm ?? ''));
	// useInput attaches after the first commit: the first key written before that is dropped.
	await tick(60);
	return { fixture, app, frame };
}

/** Types keys one write at a time, letting the app commit between them. */
async function press(...keys: string[]): Promise<void> {
	for (const key of keys) {
		app?.stdin.write(key);
		await tick(40);
	}
}

const frame = (): string => app?.lastFrame() ?? '';
const rowsOf = (text: string): string[] => text.split('\n');

/** Opens the start form on the newest restore point of the VM on the `vmRow`-th row (0-based). */
async function openStartForm(vmRow: number): Promise<void> {
	await press(...Array.from({ length: vmRow }, () => 'j'), KEYS.enter, 'j', KEYS.enter);
	await waitForFrame(frame, (text) => text.includes('Review what will happen'));
}

describe('console layout and navigation', () => {
	it('shows the host, the backups with counts and newest points, and moves with j/k and arrows', async () => {
		const { frame: first } = await mount();
		expect(first).toContain('host memory · in-memory test host');
		expect(first).toContain('3 VMs · 7 restore points');
		expect(first).toMatch(/›▸ db01\s+2 pts 11-24 01:00/);
		expect(first).toMatch(/▸ web01\s+3 pts/);
		await press('j', KEYS.down);
		expect(frame()).toMatch(/›▸ web01/);
		await press('k');
		expect(frame()).toMatch(/›▸ files01/);
		await press(KEYS.enter);
		const expanded = await waitForFrame(frame, (text) => text.includes('▾ files01'));
		expect(expanded).toContain('2026-11-24T0100Z');
		expect(expanded).toContain('2026-11-24T0000Z');
		await press(KEYS.left);
		await waitForFrame(frame, (text) => text.includes('›▸ files01') && !text.includes('2026-11-24T0000Z'));
	});

	it('moves focus with Tab and shows it as text, and every frame fits the terminal', async () => {
		await mount();
		await press(KEYS.tab);
		expect(frame()).toContain('▶ Sessions');
		expect(frame()).toContain('f finalize · s stop');
		await press(KEYS.tab);
		expect(frame()).toContain('▶ Task tree');
		await press(KEYS.tab);
		expect(frame()).toContain('▶ Backups');
		for (const text of app?.frames ?? []) expect(rowsOf(text).length).toBeLessThanOrEqual(SIZE.rows);
	});

	it('filters VMs with / and clears the filter with Esc', async () => {
		await mount();
		await press('/');
		await waitForFrame(frame, (text) => text.includes('Filter VMs: /'));
		await press('w', 'e', 'b');
		const filtered = await waitForFrame(frame, (text) => text.includes('/web') && !text.includes('db01'));
		expect(filtered).toContain('web01');
		expect(filtered).not.toContain('files01');
		await press(KEYS.enter);
		expect(frame()).toContain('web01');
		expect(frame()).not.toContain('files01');
		await press(KEYS.escape);
		await waitForFrame(frame, (text) => text.includes('files01') && text.includes('db01'));
	});

	it('shows the help overlay on ? and closes it on any key', async () => {
		await mount();
		await press('?');
		const help = await waitForFrame(frame, (text) => text.includes('Keys — any key closes this help'));
		expect(help).toContain('finalize the selected session');
		// Its last rows are a page down (PgDn).
		await press('\u001B[6~');
		await waitForFrame(frame, (text) => text.includes('quit — VMs and copies on the host go on'));
		await press('x');
		await waitForFrame(frame, (text) => text.includes('▶ Backups'));
	});

	it('quits on q at once when nothing runs in this console', async () => {
		await mount();
		await press('q');
		expect(quits).toBe(1);
	});
});

describe('starting a restore', () => {
	it('form → confirmation naming what is turned off → steps 1–4 run live in the detail pane', async () => {
		const { fixture } = await mount();
		await openStartForm(2);
		expect(frame()).toContain('Restore web01 from 2026-11-24T0100Z');
		expect(frame()).toMatch(/◉ set aside until finalized/);
		await press(KEYS.enter);
		const confirm = await waitForFrame(frame, (text) => text.includes('Start Run Direct of web01?'));
		expect(confirm).toContain('! VM web01 on memory will be turned off and set aside');
		expect(confirm).toContain('y/Enter: start');
		await press('y');
		const running = await waitForFrame(frame, (text) => /web01\s+running/.test(text) && text.includes('✔ 4. Start web01 running directly from the backup'));
		expect(running).toContain('▶ Sessions');
		expect(running).toMatch(/✔ 1\. .*web01/);
		expect(running).toMatch(/guest alive|running from backup/);
		expect(fixture.host.calls).toContain('startVm');
		expect(fixture.host.vms.get('web01')?.on).toBe('backup');
	});

	it('a destructive start (delete now) does nothing until the VM name is typed', async () => {
		const { fixture } = await mount();
		await openStartForm(2);
		await press(KEYS.down, KEYS.down, KEYS.right);
		expect(frame()).toContain('◉ DELETE now');
		await press(KEYS.enter);
		const confirm = await waitForFrame(frame, (text) => text.includes('Type web01 to delete it and start'));
		expect(confirm).toContain('will be turned off and DELETED with its disks now');
		await press('y', KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('That is not "web01": nothing was done'));
		await press('w', 'e', 'b', KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('nothing was done'));
		expect(fixture.host.calls).not.toContain('deleteVm');
		expect((await fixture.engine.sessions()).sessions).toHaveLength(0);
		// Esc backs out; nothing happened on the host.
		await press(KEYS.escape);
		await waitForFrame(frame, (text) => text.includes('Review what will happen'));
		await press(KEYS.escape);
		await waitForFrame(frame, (text) => text.includes('▶ Backups'));
		expect(fixture.host.vms.get('web01')?.on).toBe('production');
	});

	it('the typed name confirms a destructive start, even typed in one chunk with Enter', async () => {
		const { fixture } = await mount();
		await openStartForm(2);
		await press(KEYS.down, KEYS.down, ' ', KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('Type web01 to delete it and start'));
		// Over SSH the name and Enter often arrive as one chunk: Enter must see the whole name.
		await press('web01\r');
		await waitForFrame(frame, (text) => /web01\s+running/.test(text) && text.includes('✔ 4. Start web01 running directly from the backup'));
		expect(fixture.host.calls).toContain('deleteVm');
	});

	it('shows pre-flight problems and starts nothing', async () => {
		const { fixture } = await mount();
		await openStartForm(2);
		await press(KEYS.down, KEYS.right, KEYS.down);
		await waitForFrame(frame, (text) => text.includes('New name'));
		for (let index = 0; index < 'web01-restored'.length; index++) await press(KEYS.backspace);
		for (const char of 'fullvm') await press(char);
		await press(KEYS.enter);
		const problem = await waitForFrame(frame, (text) => text.includes('Cannot start — nothing was changed'));
		expect(problem).toContain('not enough room on /memory/production for fullvm');
		expect((await fixture.engine.sessions()).sessions).toHaveLength(0);
	});
});

describe('finalize and stop', () => {
	async function startWeb01(): Promise<Fixture> {
		const { fixture } = await mount(SAMPLE_DESTINATION, { existing: ['web01', 'db01'], copyMs: 600 });
		await openStartForm(2);
		await press(KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('Start Run Direct of web01?'));
		await press('y');
		await waitForFrame(frame, (text) => /web01\s+running\s+4 start the VM ✔/.test(text));
		return fixture;
	}

	it('f asks first (naming the set-aside VM that will be deleted), then steps 5–7 run live with progress', async () => {
		const fixture = await startWeb01();
		await press('f');
		const confirm = await waitForFrame(frame, (text) => text.includes('Finalize web01?'));
		expect(confirm).toMatch(/The replaced VM web01, set aside as web01~\S+, will be DELETED/);
		await press('n');
		await waitForFrame(frame, (text) => text.includes('▶ Sessions'));
		expect(fixture.host.calls).not.toContain('copyData');

		await press('f', 'y');
		const copying = await waitForFrame(frame, (text) => text.includes('❯ 5. Copy the data') && /\d+% .*MiB\/64 MiB/.test(text));
		expect(copying).toContain('Finalize — steps 5–7 · running in this console');
		expect(copying).toMatch(/[█▌]+░*/);
		const done = await waitForFrame(frame, (text) => /web01\s+finalized/.test(text) && text.includes('✔ 7. Delete the snapshot layer'));
		expect(done).toMatch(/✔ 5\. Copy the data .*\(\d/);
		expect(done).toContain('✔ 6. Apply the changes made in the VM since it started — switch paused the VM for 1.5 ms');
		expect(done).toContain('✔ Start — steps 1–4: done');
		expect(fixture.host.vms.get('web01')?.on).toBe('production');
	});

	it('s needs the VM name typed; anything else does nothing', async () => {
		const fixture = await startWeb01();
		await press('s');
		const confirm = await waitForFrame(frame, (text) => text.includes('Stop web01 and discard its changes?'));
		expect(confirm).toContain('every change made in it since it started');
		expect(confirm).toContain('will be DISCARDED');
		expect(confirm).toContain('The replaced VM web01 comes back as it was.');
		await press(KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('That is not "web01": nothing was done'));
		expect(fixture.host.calls).not.toContain('discard');
		await press(KEYS.escape);
		await waitForFrame(frame, (text) => text.includes('▶ Sessions'));

		await press('s');
		await waitForFrame(frame, (text) => text.includes('Type web01 to stop it'));
		for (const char of 'web01') await press(char);
		await press(KEYS.enter);
		const stopped = await waitForFrame(frame, (text) => /web01\s+stopped/.test(text) && text.includes('Stop — discard the restore'));
		expect(stopped).toMatch(/✔ Bring back the replaced VM web01/);
		expect(fixture.host.vms.get('web01')?.on).toBe('production');
		expect(fixture.host.vms.get('web01')?.setAside).toBe(false);
	});

	it('refuses a phase the session is not in, and says what can be done', async () => {
		await startWeb01();
		await press('f', 'y');
		await waitForFrame(frame, (text) => /web01\s+finalized/.test(text));
		await press('s');
		const refused = await waitForFrame(frame, (text) => text.includes('web01 is finalized: it cannot be stopped now'));
		expect(refused).toContain('nothing left to do');
	});

	it('shows a host error with what to do next, and keeps running', async () => {
		const fixture = await startWeb01();
		fixture.host.failNext('copyData', new RundirectError('production storage went read-only', 1, 'remount it'));
		await press('f', 'y');
		// The hint line changes once this console's operation has fully ended: wait for that frame.
		const failed = await waitForFrame(frame, (text) => /web01\s+failed/.test(text) && text.includes('→ run') && text.includes('f retries finalize'));
		expect(failed).toContain('✖ 5. Copy the data');
		expect(failed).toContain('production storage went read-only');
		expect(failed).toMatch(/rundirect finalize \S+" to retry/);
		expect(failed).toContain('f retries finalize');
		// Still alive: navigation works, and the retry goes through.
		await press('f', 'y');
		await waitForFrame(frame, (text) => /web01\s+finalized/.test(text));
	});

	it('asks before quitting while an operation of this console runs', async () => {
		await startWeb01();
		await press('f', 'y');
		await waitForFrame(frame, (text) => text.includes('❯ 5. Copy the data'));
		await press('q');
		const ask = await waitForFrame(frame, (text) => text.includes('Quit while an operation runs?'));
		expect(ask).toContain('web01: finalize is running in this console.');
		expect(ask).toContain('The VM keeps running');
		await press('n');
		expect(quits).toBe(0);
		await press('q', 'y');
		expect(quits).toBe(1);
	});
});

describe('sessions started elsewhere', () => {
	it('appear and update from the journal (another process on the same state folder)', async () => {
		const { fixture } = await mount();
		const other = new Engine({ host: fixture.host, stateDir: fixture.engine.journal.dir.replace(/\/sessions$/, ''), destination: fixture.engine.destination });
		const proposal = await other.proposeStart({ vm: 'files01' });
		const session = await other.beginStart(proposal);
		await other.runPhase(session.id, 'start');
		const shown = await waitForFrame(frame, (text) => /files01\s+running\s+4 start the VM ✔/.test(text));
		expect(shown).not.toContain('this console');
		await other.runPhase(session.id, 'stop');
		await waitForFrame(frame, (text) => /files01\s+stopped/.test(text));
	});
});

describe('long lists', () => {
	it('keeps 5,000 restore points windowed: the frame never grows past the terminal', async () => {
		await mount([{ vm: 'big01', points: 5000 }], {});
		await press(KEYS.enter);
		const open = await waitForFrame(frame, (text) => text.includes('▾ big01') && text.includes('1/5001'));
		const rows = rowsOf(open);
		expect(rows.length).toBeLessThanOrEqual(SIZE.rows);
		expect(rows.filter((row) => /20\d\d-\d\d-\d\dT\d{4}Z/.test(row)).length).toBeLessThanOrEqual(SIZE.rows);
		await press('G');
		const end = await waitForFrame(frame, (text) => text.includes('5001/5001'));
		expect(rowsOf(end).length).toBeLessThanOrEqual(SIZE.rows);
		await press('k', KEYS.up);
		await waitForFrame(frame, (text) => text.includes('4999/5001'));
	});
});

describe('the listr2 → Ink renderer', () => {
	it('is usable without a TTY and copies the tree as plain data', () => {
		expect(InkTaskRenderer.nonTTY).toBe(true);
		const updates: unknown[] = [];
		const renderer = new InkTaskRenderer(
			[{ id: 'a', title: '5. Copy', state: 'STARTED', output: 'line 1\n12 MiB / 64 MiB', message: {}, subtasks: [] }],
			{ onUpdate: (tree) => updates.push(tree), throttleMs: 10 },
		);
		renderer.render();
		renderer.end();
		expect(updates.at(-1)).toEqual([{ id: 'a', title: '5. Copy', state: 'running', output: '12 MiB / 64 MiB', durationMs: null, error: null, subtasks: [] }]);
	});
});
