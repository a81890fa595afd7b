// The console's recovery drills (mark VMs, d, the live tree, the history and a drill's report),
// the interrupted-sessions dialog it opens with (continue / roll back / leave — nothing without a
// key), and finalize's copy-rate choice. ink-testing-library over the real Engine and drill code
// on the in-memory host.
import { afterEach, describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import App from '../../source/app.tsx';
import { readDrill } from '../../source/drill/index.ts';
import { KEYS, createFixture, tick, waitForFrame, type Fixture, SAMPLE_DESTINATION } from './support/fixtures.ts';
import type { MemoryHostOptions } from './support/memory-host.ts';

const SIZE = { columns: 110, rows: 34 };

let fixture: Fixture | undefined;
let app: ReturnType<typeof render> | undefined;
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
	app?.unmount();
	app = undefined;
	for (const cleanup of cleanups.splice(0)) await cleanup();
	await fixture?.cleanup();
	fixture = undefined;
});

async function prepare(hostOptions: MemoryHostOptions = { existing: ['web01', 'db01'] }): Promise<Fixture> {
	fixture = await createFixture(SAMPLE_DESTINATION, hostOptions);
	return fixture;
}

async function mount(ready: (frame: string) => boolean = (text) => text.includes('▶ Backups') && text.includes('db01')): Promise<void> {
	if (!fixture) throw new Error('no fixture');
	app = render(<App store={fixture.store} size={SIZE} onQuit={() => undefined} />);
	await fixture.store.open();
	await waitForFrame(frame, ready);
	// useInput attaches after the first commit: the first key written before that is dropped.
	await tick(60);
}

async function press(...keys: string[]): Promise<void> {
	for (const key of keys) {
		app?.stdin.write(key);
		await tick(40);
	}
}

const frame = (): string => app?.lastFrame() ?? '';
const stateDir = (f: Fixture): string => f.engine.journal.dir.replace(/\/sessions$/, '');

describe('recovery drills in the console', () => {
	it('marks two VMs with Space, drills them with d: a confirmation naming the drill VMs, a live tree, then the history lists the drill as passed', async () => {
		const f = await prepare();
		await mount();
		// db01 is marked and the cursor moves on; web01 is two rows down.
		await press(' ', 'j', ' ');
		const marked = await waitForFrame(frame, (text) => text.includes('✓2 marked'));
		expect(marked).toMatch(/ ▸✓db01/);
		expect(marked).toMatch(/›▸✓web01/);
		expect(marked).toMatch(/▸ files01/);

		await press('d');
		const confirm = await waitForFrame(frame, (text) => text.includes('y/Enter: run the drill'));
		expect(confirm).toContain('Recovery drill of db01, web01');
		expect(confirm).toMatch(/db01\/2026-11-24T0100Z → db01-drill-[0-9a-f]{6}\s+\(new VM\)/);
		expect(confirm).toMatch(/web01\/2026-11-24T0100Z → web01-drill-[0-9a-f]{6}\s+\(new VM\)/);
		expect(confirm).toContain('nothing existing is replaced or touched');
		expect(confirm).toContain('Network isolated: none (lab VMs run without a network device)');
		expect(confirm).toMatch(/› Concurrency\s+◂ 2 ▸/);
		expect(confirm).toMatch(/Timeout\s+◂ 300 s ▸/);
		expect(f.host.calls).not.toContain('startVm');

		await press('y');
		const done = await waitForFrame(frame, (text) => /Recovery drill \S+ · PASSED/.test(text), 20_000);
		// The live tree was drawn from listr2 while the drill ran: a task per VM with its steps.
		const live = (app?.frames ?? []).filter((text) => text.includes('running in this console') && /❯ .*drill-/.test(text));
		expect(live.length).toBeGreaterThan(0);
		expect(live.some((text) => /(Wait for proof of life|Start \S+-drill-\S+ from)/.test(text))).toBe(true);
		expect(done).toMatch(/db01\s+passed\s+\d+\.\d\d s\s+\d+\.\d\d s/);
		expect(done).toMatch(/web01\s+passed\s+\d+\.\d\d s\s+\d+\.\d\d s/);
		expect(done).not.toContain('✓2 marked');
		// Nothing of the drill VMs remains; the VMs it was made from were never touched.
		expect([...f.host.vms.keys()].filter((name) => name.includes('-drill-'))).toEqual([]);
		expect(f.host.vms.get('web01')).toMatchObject({ on: 'production', setAside: false, running: true });
		expect(f.host.calls).not.toContain('setAsideVm');

		await press('H');
		const history = await waitForFrame(frame, (text) => text.includes('Drill history') && /› ?\d{8}T\d{4}-[0-9a-f]{6}.*PASSED/.test(text));
		expect(history).toMatch(/PASSED\s+[\d.]+ ?\w+\s+db01 \d+\.\d\d s, web01 \d+\.\d\d s/);
		await press(KEYS.enter);
		const report = await waitForFrame(frame, (text) => text.includes('Drill report'));
		expect(report).toMatch(/✔ db01 → db01-drill-\S+ from 2026-11-24T0100Z: passed/);
		expect(report).toMatch(/time to running \d+\.\d\d s · time to proof of life \d+\.\d\d s \(serial marker\)/);
		expect(report).toContain('last: rundirect-guest alive');
		expect(report).toContain('│ rundirect-guest alive');
		expect(report).toContain('cleanup: stopped');
		await press(KEYS.escape);
		await waitForFrame(frame, (text) => text.includes('Drill history —'));
		for (const text of app?.frames ?? []) expect(text.split('\n').length).toBeLessThanOrEqual(SIZE.rows);
	});

	it('application checks typed in the dialog go to every VM: letters go to the field (y too), a passing check makes the VM ready, a failing one fails it with its exit code, a TCP check the host cannot probe is refused before anything runs', async () => {
		await prepare();
		await mount();
		const typeChecks = async (text: string): Promise<void> => {
			await press('d');
			await waitForFrame(frame, (shown) => shown.includes('y/Enter: run the drill'));
			// The timeout is for proof of life and for each check: 10 s, so the failing check gives up soon.
			await press(KEYS.down, KEYS.left, KEYS.left, KEYS.left, KEYS.left);
			await waitForFrame(frame, (shown) => /› Timeout\s+◂ 10 s ▸/.test(shown));
			await press(KEYS.down);
			await waitForFrame(frame, (shown) => shown.includes('type the checks'));
			// The footer names the Checks line's keys, not the dialog's y/n.
			expect(await waitForFrame(frame, (shown) => /Enter run · type checks/.test(shown.trimEnd().split('\n').at(-1) ?? ''))).not.toMatch(/y\/Enter run/);
			await press(text);
			await waitForFrame(frame, (shown) => shown.includes(`› Checks        ${text}▏`));
			await press(KEYS.enter);
		};
		// "printf y": the y is typed into the field, it does not run the drill half typed.
		await typeChecks('printf y');
		const passed = await waitForFrame(frame, (text) => /Recovery drill \S+ · PASSED/.test(text), 20_000);
		expect(passed).toMatch(/db01\s+passed/);
		const first = (await readDrill(stateDir(fixture as Fixture), /Recovery drill (\S+) · PASSED/.exec(passed)?.[1] ?? ''))?.vms[0];
		expect(first?.checks).toMatchObject([{ command: ['printf', 'y'], outcome: 'passed', exitCode: 0, stdout: 'y' }]);
		expect(first?.timeToReadyMs).toBeGreaterThanOrEqual(first?.timeToProofMs ?? Number.POSITIVE_INFINITY);

		await typeChecks('true; false');
		const failed = await waitForFrame(frame, (text) => /Recovery drill \S+ · FAILED/.test(text), 30_000);
		const second = (await readDrill(stateDir(fixture as Fixture), /Recovery drill (\S+) · FAILED/.exec(failed)?.[1] ?? ''))?.vms[0];
		expect(second?.checks).toMatchObject([{ command: ['true'], outcome: 'passed' }, { command: ['false'], outcome: 'failed', exitCode: 1 }]);
		expect(second?.reason).toMatch(/application check 2 \(false\) exited 1/);

		await typeChecks('tcp:5432');
		const refused = await waitForFrame(frame, (text) => text.includes('so its TCP checks cannot run'));
		expect(refused).toMatch(/the host memory has no probe on its drill/);
		expect([...(fixture as Fixture).host.vms.keys()].filter((name) => name.includes('-drill-'))).toEqual([]);
		for (const text of app?.frames ?? []) expect(text.split('\n').length).toBeLessThanOrEqual(SIZE.rows);
	});

	it('a drill whose guest never boots is shown failed, with the reason and the evidence', async () => {
		const f = await prepare({ existing: ['web01', 'db01'], deadGuests: ['files01'] });
		await mount();
		await press('j', 'd');
		await waitForFrame(frame, (text) => text.includes('Recovery drill of files01') && text.includes('y/Enter: run the drill'));
		// A shorter timeout: ↓ to the setting, ← twice (300 → 120 → 60 s).
		await press(KEYS.down, KEYS.left, KEYS.left);
		await waitForFrame(frame, (text) => /› Timeout\s+◂ 60 s ▸/.test(text));
		await press(KEYS.enter);
		const failed = await waitForFrame(frame, (text) => /Recovery drill \S+ · FAILED/.test(text), 20_000);
		expect(failed).toMatch(/files01\s+failed\s+\d+\.\d\d s\s+—/);
		expect(failed).toContain('the VM is off (it stopped before showing proof of life)');
		const drillId = /Recovery drill (\S+) · FAILED/.exec(failed)?.[1] ?? '';
		expect((await readDrill(stateDir(f), drillId))?.vms[0]?.timeoutSeconds).toBe(60);

		await press('H');
		const history = await waitForFrame(frame, (text) => text.includes('Drill history') && text.includes(drillId));
		expect(history).toMatch(/FAILED\s+[\d.]+ ?\w+\s+files01 failed/);
		await press(KEYS.enter);
		const report = await waitForFrame(frame, (text) => text.includes('Drill report'));
		expect(report).toMatch(/✖ files01 → files01-drill-\S+ from 2026-11-24T0100Z: failed/);
		expect(report).toContain('reason: the VM is off (it stopped before showing proof of life)');
		expect(report).toContain('evidence: serial console tail, 3 lines; last: Boot failed: not a bootable disk');
		expect(report).toContain('│ Boot failed: not a bootable disk');
		expect(report).toContain('cleanup: stopped');
		expect([...f.host.vms.keys()].filter((name) => name.includes('-drill-'))).toEqual([]);
	});

	it('finalize offers a copy rate limit (←→) and passes it to the copy', async () => {
		const f = await prepare({ existing: ['web01', 'db01'], copyMs: 300 });
		const session = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'web01' }));
		await f.engine.runPhase(session.id, 'start');
		await mount((text) => /web01\s+running/.test(text));
		await press('f');
		await waitForFrame(frame, (text) => text.includes('Finalize web01?') && text.includes('◉ unlimited'));
		await press(KEYS.right, KEYS.right);
		await waitForFrame(frame, (text) => text.includes('◉ 50 MiB/s'));
		await press('y');
		await waitForFrame(frame, (text) => /web01\s+finalized/.test(text));
		expect(f.host.lastRateLimit).toBe(50 * 2 ** 20);
	});
});

describe('site recovery in the console', () => {
	it('S starts the marked VMs under their own names (what they replace typed to confirm); A finalizes them at once under one shared rate limit', async () => {
		const f = await prepare({ existing: ['web01', 'db01'], copyMs: 400 });
		await mount();
		await press(' ', 'j', ' ');
		await waitForFrame(frame, (text) => text.includes('✓2 marked'));
		await press('S');
		const confirm = await waitForFrame(frame, (text) => text.includes('y/Enter: start them'));
		expect(confirm).toContain('Site recovery of db01, web01');
		expect(confirm).toMatch(/db01\/2026-11-24T0100Z → db01\s+\(replaces db01, set aside\)/);
		expect(confirm).toMatch(/web01\/2026-11-24T0100Z → web01\s+\(replaces web01, set aside\)/);
		expect(confirm).toContain('under its own name');
		expect(f.host.calls).not.toContain('setAsideVm');
		// y is not enough for a start that replaces VMs: the word must be typed.
		// A check the host cannot run is refused before the word is asked for.
		await press(KEYS.down, KEYS.down, ...'tcp:80', KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('pre-flight checks failed') && text.includes('has no probe on its drill'));
		expect(frame()).not.toContain('Type recover');
		await press(...Array.from({ length: 6 }, () => KEYS.backspace), KEYS.up, KEYS.up);
		await waitForFrame(frame, (text) => /› Concurrency/.test(text) && /Checks\s+none/.test(text));
		await press('y');
		// The footer then names the typed confirmation's keys, not the dialog's y/n.
		await waitForFrame(frame, (text) => text.includes('Type recover to start 2 VMs') && /^ Esc cancel/.test(text.trimEnd().split('\n').at(-1) ?? ''));
		await press('x', KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('That is not "recover"'));
		expect(f.host.calls).not.toContain('setAsideVm');
		await press(KEYS.backspace, ...'recover', KEYS.enter);
		await waitForFrame(frame, (text) => /Site recovery \S+ · PASSED/.test(text), 20_000);
		await waitForFrame(frame, (text) => /db01\s+running/.test(text) && /web01\s+running/.test(text), 10_000);
		expect(f.host.vms.get('web01')).toMatchObject({ running: true });
		expect(f.host.calls.filter((call) => call === 'setAsideVm')).toHaveLength(2);
		const { sessions } = await f.engine.sessions();
		// Ordinary sessions under the VMs' own names (not a drill's, which the next console would roll back).
		expect(sessions.filter((session) => session.state === 'running').map((session) => [session.vm, session.purpose ?? null]).sort()).toEqual([
			['db01', null],
			['web01', null],
		]);

		// A: none marked any more, so every session running from its backup; ←→ on the rate, then y.
		await press('A');
		await waitForFrame(frame, (text) => text.includes('Finalize 2 sessions?'));
		expect(frame()).toMatch(/The replaced VM db01, set aside as \S+, will be DELETED for good/);
		await press(KEYS.down, KEYS.right, KEYS.right);
		await waitForFrame(frame, (text) => /› Rate limit\s+◂ 50 MiB\/s ▸/.test(text));
		await press('y');
		await waitForFrame(frame, (text) => /db01\s+finalized/.test(text) && /web01\s+finalized/.test(text), 20_000);
		// Two at once (the default), each copy given its share of the one limit.
		expect(f.host.lastRateLimit).toBe(25 * 2 ** 20);
		const after = await f.engine.sessions();
		expect(after.sessions.filter((session) => session.state === 'finalized')).toHaveLength(2);
		for (const text of app?.frames ?? []) expect(text.split('\n').length).toBeLessThanOrEqual(SIZE.rows);
	});
});

describe('interrupted sessions on open', () => {
	it('lists them with what continuing and rolling back do, does nothing without a key, then continues and rolls back by key', async () => {
		const f = await prepare({ existing: ['web01', 'db01'], copyMs: 3000 });
		const { engine, host } = f;
		// web01: finalize interrupted in the middle of step 5 (the controller went away).
		const web = await engine.beginStart(await engine.proposeStart({ vm: 'web01' }));
		await engine.runPhase(web.id, 'start');
		const abort = new AbortController();
		const finalizing = engine.runPhase(web.id, 'finalize', { signal: abort.signal });
		const copying = (async () => {
			for (let wait = 0; wait < 100 && !host.calls.includes('copyData'); wait++) await tick(20);
		})();
		await copying;
		await tick(100);
		abort.abort();
		await expect(finalizing).rejects.toThrow();
		// A drill's session left running by a drill that was cut short.
		const drill = await engine.beginStart(await engine.proposeStart({ vm: 'files01', name: 'files01-drill-abc123', drill: { id: '20261126T0102-abc123', isolatedSwitch: null } }));
		await engine.runPhase(drill.id, 'start');
		// db01: another live process (this one) is finalizing it.
		const db = await engine.beginStart(await engine.proposeStart({ vm: 'db01' }));
		await engine.runPhase(db.id, 'start');
		const operation = await engine.locks.beginOperation(host.id, 'db01', db.id, 'finalize');
		cleanups.push(() => operation.release());
		const copies = host.calls.filter((call) => call === 'copyData').length;

		await mount((text) => text.includes('Interrupted sessions (2)'));
		const dialog = frame();
		expect(dialog).toContain('nothing happens until you choose');
		expect(dialog).toMatch(/web01 · finalizing · session/);
		expect(dialog).toContain('finalize was interrupted (in step 5, copy data)');
		expect(dialog).toContain('c continue: continue finalize (steps 5–7)');
		// Before step 6 switched it onto production, an interrupted finalize can still be undone.
		expect(dialog).toContain('b roll back: stop web01');
		expect(dialog).toMatch(/files01-drill-abc123 · running · recovery drill/);
		expect(dialog).toContain('b roll back: stop files01-drill-abc123 and discard it');
		expect(dialog).toMatch(/db01 · running · session/);
		expect(dialog).toMatch(/being finalized by pid \d+/);
		expect(dialog).toContain('shown only');

		// Nothing happens without a key.
		await tick(1500);
		expect(host.calls.filter((call) => call === 'copyData').length).toBe(copies);
		expect((await engine.journal.read(web.id))?.state).toBe('finalizing');
		expect((await engine.journal.read(drill.id))?.state).toBe('running');
		expect(frame()).toContain('Interrupted sessions (2)');

		// The first session listed is the newest; find each by moving the cursor.
		const selectRow = async (vm: string): Promise<void> => {
			for (let moves = 0; moves < 4 && !new RegExp(`› ${vm} ·`).test(frame()); moves++) await press('j');
			for (let moves = 0; moves < 4 && !new RegExp(`› ${vm} ·`).test(frame()); moves++) await press('k');
			expect(frame()).toMatch(new RegExp(`› ${vm} ·`));
		};
		await selectRow('db01');
		await press('c', 'b');
		expect(frame()).toContain('Interrupted sessions (2)');
		await selectRow('web01');
		await press('c');
		await waitForFrame(frame, (text) => text.includes('Interrupted sessions (1)'));
		await selectRow('files01-drill-abc123');
		await press('b');
		await waitForFrame(frame, (text) => text.includes('▶ Backups') && !text.includes('Interrupted sessions'));
		await waitForFrame(frame, (text) => /web01\s+finalized/.test(text), 20_000);
		for (let wait = 0; wait < 100 && (await engine.journal.read(drill.id))?.state !== 'stopped'; wait++) await tick(50);
		expect((await engine.journal.read(drill.id))?.state).toBe('stopped');
		expect((await engine.journal.read(web.id))?.state).toBe('finalized');
		expect(host.vms.get('web01')?.on).toBe('production');
		// The busy session was only shown.
		expect((await engine.journal.read(db.id))?.state).toBe('running');
	});

	it('rolling back an ordinary session needs its name typed; Esc leaves everything as it is', async () => {
		const f = await prepare();
		const { engine, host } = f;
		// A start interrupted before its first step.
		const web = await engine.beginStart(await engine.proposeStart({ vm: 'web01' }));
		await mount((text) => text.includes('Interrupted sessions (1)'));
		expect(frame()).toContain('start was interrupted');
		expect(frame()).toContain('b roll back: stop web01: it is removed and EVERY change made in it is DISCARDED');
		await press('b');
		await waitForFrame(frame, (text) => text.includes('Type web01 to roll it back'));
		await press(KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('That is not "web01": nothing was done'));
		await press(KEYS.escape);
		await waitForFrame(frame, (text) => text.includes('Interrupted sessions (1)'));
		await press(KEYS.escape);
		await waitForFrame(frame, (text) => text.includes('▶ Backups') && !text.includes('Interrupted sessions'));
		await tick(300);
		expect((await engine.journal.read(web.id))?.state).toBe('starting');
		expect(host.calls).not.toContain('discard');
		expect(host.calls).not.toContain('setAsideVm');
		// Still there to act on from the sessions pane.
		expect(frame()).toMatch(/web01\s+starting/);
	});
});
