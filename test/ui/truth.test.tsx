// The console tells the truth at 80×24: a crashed VM is red and counted, a session no live
// process drives says so and shows the host's own job, a session another process drives
// offers no f/s, a rolled-back session shows its final state, every warning can be reached,
// long names stay apart, and no internal step id is ever drawn. Every wait is on a frame
// showing a state, never on a fixed delay.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import App from '../../source/app.tsx';
import { STEP_IDS, type SessionRecord } from '../../source/restore/session.ts';
import { KEYS, SAMPLE_DESTINATION, createFixture, keyboard, tick, waitForFrame, type Fixture, type PointSpec } from './support/fixtures.ts';
import type { MemoryHostOptions } from './support/memory-host.ts';

const SIZE = { columns: 80, rows: 24 };
const MiB = 2 ** 20;

let fixture: Fixture | undefined;
let app: ReturnType<typeof render> | undefined;
const children: ChildProcess[] = [];

afterEach(async () => {
	app?.unmount();
	app = undefined;
	for (const child of children.splice(0)) child.kill('SIGKILL');
	await fixture?.cleanup();
	fixture = undefined;
});

async function mount(specs: PointSpec[] = SAMPLE_DESTINATION, hostOptions: MemoryHostOptions = { existing: ['web01', 'db01'] }, ready = (text: string) => text.includes('▶ Backups')): Promise<Fixture> {
	fixture = await createFixture(specs, hostOptions);
	app = render(<App store={fixture.store} size={SIZE} />);
	await fixture.store.open();
	await waitForFrame(frame, ready);
	await tick(60);
	return fixture;
}

const { frame, press, pressUntil } = keyboard(() => app);
// eslint-disable-next-line no-control-regex -- colour codes are what is stripped
const plain = (text: string): string => text.replace(/\u001B\[[0-9;]*m/g, '');
/** The frame's row that contains `text`, with its colour codes. */
const rowWith = (text: string): string => frame().split('\n').find((row) => plain(row).includes(text)) ?? '';

/** The bytes the row says the host's own job has copied ("host job 3% 1.9 MiB/64 MiB"). */
function hostBytes(text: string): number {
	const match = /host job \d+% ([\d.]+) (B|KiB|MiB)/.exec(plain(text));
	if (!match) return Number.NaN;
	return Number(match[1]) * { B: 1, KiB: 1024, MiB: MiB }[match[2] as 'B' | 'KiB' | 'MiB'];
}

/** A session started by another engine on the same state folder (as a headless command would). */
async function startElsewhere(f: Fixture, vm: string): Promise<SessionRecord> {
	const session = await f.engine.beginStart(await f.engine.proposeStart({ vm }));
	return f.engine.runPhase(session.id, 'start');
}

/** A live process that is not this one, holding the session's operation lock (a second console, a headless finalize). */
async function driveElsewhere(f: Fixture, session: SessionRecord, operation: string): Promise<ChildProcess> {
	const child = spawn('sleep', ['60'], { stdio: 'ignore' });
	children.push(child);
	const file = f.engine.locks.operationFile(f.host.id, session.vm);
	await fs.mkdir(f.engine.locks.dir, { recursive: true });
	await fs.writeFile(file, JSON.stringify({ pid: child.pid, hostname: os.hostname(), startTime: null, session: session.id, operation, startedAt: new Date().toISOString() }));
	return child;
}

/** The journal as a finalize left it mid-copy: step 5 running at `done` bytes. */
async function journalMidCopy(f: Fixture, session: SessionRecord, done: number): Promise<void> {
	const record = structuredClone(session);
	record.state = 'finalizing';
	const copy = record.steps.find((step) => step.id === 'copy-data');
	if (copy) Object.assign(copy, { status: 'running', startedAt: new Date().toISOString(), attempts: 1, bytesDone: done, bytesTotal: 64 * MiB });
	record.updatedAt = new Date().toISOString();
	await f.engine.journal.write(record);
}

describe('the truth, at 80×24', () => {
	it('a VM that should run and does not is red, counted in the header, and f does not restart it unseen; R does', async () => {
		const f = await mount();
		await startElsewhere(f, 'web01');
		await waitForFrame(frame, (text) => /web01\s+running/.test(text) && text.includes('1 running from backup'));
		f.host.crash('web01');
		const flagged = await waitForFrame(frame, (text) => /web01\s+VM off/.test(text) && text.includes('1 VM down'));
		expect(flagged).toContain('0 running from backup');
		expect(flagged).toMatch(/⚠ .*VM is down that should run: web01/);
		expect(flagged).toContain('✖ should run: R restart · s roll back');
		// The test renderer draws no colour: the words carry it (the row is red and bold on a terminal).
		expect(rowWith('web01 VM off')).toMatch(/›web01 VM off\s+4 start the VM ✔/);
		await press(KEYS.tab);
		await waitForFrame(frame, (text) => text.includes('▶ Sessions') && text.includes('R restart VM'));
		expect(plain(frame()).split('\n').at(-1)).not.toContain('f finalize');
		await press('f');
		await waitForFrame(frame, (text) => text.includes('finalize would start it again'));
		expect(f.host.calls).not.toContain('copyData');
		expect(f.host.vms.get('web01')?.running).toBe(false);
		await press('R');
		await waitForFrame(frame, (text) => /web01\s+running/.test(text) && !text.includes('VM down'));
		expect(f.host.vms.get('web01')?.running).toBe(true);
	});

	it('a session whose driving process died says so and shows the host job, not the journal’s last number', async () => {
		const f = await mount();
		const session = await startElsewhere(f, 'web01');
		const driver = await driveElsewhere(f, session, 'finalize');
		await journalMidCopy(f, session, 15 * MiB);
		const driven = await waitForFrame(frame, (text) => /web01\s+finalizing/.test(text) && text.includes('15 MiB/64 MiB'));
		expect(driven).not.toContain('no driver');
		// The host carries the copy on after its controller is gone.
		f.host.runJob('web01', 64 * MiB, 30_000);
		driver.kill('SIGKILL');
		const undriven = await waitForFrame(frame, (text) => text.includes('no driver · host job'));
		expect(undriven).toContain('⚠ web01 is finalizing but no process drives it');
		await pressUntil('w', (text) => text.includes('web01 is finalizing but no process drives it: f continues it, s rolls it'));
		await press(KEYS.escape);
		const first = hostBytes(undriven);
		expect(first).toBeGreaterThanOrEqual(0);
		await waitForFrame(frame, (text) => text.includes('▶ Backups') && hostBytes(text) > first);
	});

	it('f and s are not offered on a session another process drives; its progress is shown', async () => {
		const f = await mount();
		const session = await startElsewhere(f, 'web01');
		await driveElsewhere(f, session, 'finalize');
		await journalMidCopy(f, session, 20 * MiB);
		await press(KEYS.tab);
		await waitForFrame(frame, (text) => text.includes('▶ Sessions') && text.includes('20 MiB/64 MiB'));
		const hints = plain(frame()).split('\n').at(-1) ?? '';
		expect(hints).not.toContain('f finalize');
		expect(hints).not.toContain('s stop');
		await press('s');
		await waitForFrame(frame, (text) => /web01 is driven by pid \d+ on \S+ \(finalize\)/.test(text));
		expect(frame()).not.toContain('Stop web01 and discard');
		// The refusal goes with the next action: it is not kept in the session's tree.
		await press(KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('▶ Task tree') && !text.includes('is driven by pid'));
	});

	it('a running copy, whoever drives it, takes +/- for its rate limit and p to pause it', async () => {
		const f = await mount();
		const session = await startElsewhere(f, 'web01');
		await driveElsewhere(f, session, 'finalize');
		await journalMidCopy(f, session, 20 * MiB);
		await press(KEYS.tab);
		await waitForFrame(frame, (text) => text.includes('▶ Sessions') && text.includes('20 MiB/64 MiB') && text.includes('+/- copy rate'));
		await press('-');
		await waitForFrame(frame, (text) => text.includes('capped at 500 MiB/s'));
		await press('-');
		await waitForFrame(frame, (text) => text.includes('capped at 200 MiB/s') && text.includes('cap 200 MiB/s'));
		expect(f.engine.controls.read(session.id)).toEqual({ rateLimit: 200 * MiB, paused: false, cancel: false });
		await press('p');
		await waitForFrame(frame, (text) => text.includes('paused at 20 MiB/64 MiB'));
		expect(f.engine.controls.read(session.id)?.paused).toBe(true);
		await press('p', '+');
		await waitForFrame(frame, (text) => text.includes('running, capped at 500 MiB/s'));
	});

	it('a rolled-back finalize shows its final state: stopped, no progress, step 5 not running', async () => {
		const f = await mount();
		const session = await startElsewhere(f, 'web01');
		await journalMidCopy(f, session, 15 * MiB);
		await f.engine.runPhase(session.id, 'stop');
		const stopped = await waitForFrame(frame, (text) => /web01\s+stopped\s+discarded ✔/.test(text));
		expect(stopped).not.toMatch(/\d+% \S+ MiB\/64 MiB/);
		expect(stopped).not.toContain('❯');
		const journal = await f.engine.journal.read(session.id);
		expect(journal?.steps.find((step) => step.id === 'copy-data')?.status).toBe('skipped');
		expect(journal?.steps.filter((step) => step.status === 'running')).toEqual([]);
	});
});

describe('80×24 first', () => {
	it('every warning is reachable: counted in the header, all of them in full with w, scrolling', async () => {
		const warnings = [
			'KVM is present but not usable by this user: add yourself to the kvm group, then log in again (guests run with TCG meanwhile, much slower)',
			'production storage is on a network share with high latency: copies will be slow',
			'the backup destination is mounted read-write: mount it read-only where you can',
			'fourth warning, to need scrolling in a 24-row terminal with the message log below it',
		];
		await mount(SAMPLE_DESTINATION, { existing: ['web01'], warnings });
		const header = await waitForFrame(frame, (text) => text.includes('⚠ 1/4'));
		expect(header).toContain('(w: all)');
		for (const row of header.split('\n')) expect(plain(row).length).toBeLessThanOrEqual(SIZE.columns);
		const all = await pressUntil('w', (text) => text.includes('Warnings and messages'));
		expect(all).toContain('4 warnings:');
		expect(all).toContain('then log in again (guests run with TCG');
		expect(all).toContain('production storage is on a network share');
		await press('j', 'j', 'j', 'j', 'j', 'j');
		await waitForFrame(frame, (text) => text.includes('fourth warning'));
		await press('x');
		await waitForFrame(frame, (text) => text.includes('▶ Backups'));
	});

	it('help scrolls to its last line at 80×24', async () => {
		await mount();
		await press('?');
		await waitForFrame(frame, (text) => text.includes('Keys — any key closes this help'));
		expect(frame()).not.toContain('enlarge the terminal');
		for (let page = 0; page < 4; page++) await press('\u001B[6~');
		await waitForFrame(frame, (text) => text.includes('brings the replaced VM back'));
	});

	it('an error is wrapped, never cut, and the next action clears it', async () => {
		await mount();
		await press(KEYS.tab, 'f');
		const error = await waitForFrame(frame, (text) => text.includes('no session selected'));
		expect(error).toContain('Tab to the sessions pane and pick one');
		await press('H');
		await waitForFrame(frame, (text) => !text.includes('no session selected'));
	});

	it('long names stay apart: the name column takes the room it needs, cut in the middle', async () => {
		const specs = Array.from({ length: 12 }, (_, index) => ({ vm: `app-server-with-a-long-name-${String(index).padStart(3, '0')}`, points: 1 }));
		await mount(specs, {}, (text) => text.includes('▶ Backups') && text.includes('app-'));
		const rows = plain(frame()).split('\n').filter((row) => row.includes('app-'));
		const names = rows.map((row) => /app-\S+/.exec(row)?.[0]);
		expect(new Set(names).size).toBe(names.length);
		expect(names[0]).toMatch(/^app-server.*….*000$/);
	});

	it('finished sessions are folded after a while, active ones first; F shows them', async () => {
		const f = await mount();
		const old = await startElsewhere(f, 'files01');
		await f.engine.runPhase(old.id, 'stop');
		const record = await f.engine.journal.read(old.id);
		if (record) await f.engine.journal.write({ ...record, stoppedAt: new Date(Date.now() - 3_600_000).toISOString(), updatedAt: new Date().toISOString() });
		await startElsewhere(f, 'web01');
		const shown = await waitForFrame(frame, (text) => /web01\s+running/.test(text) && text.includes('1 finished session folded — F shows them'));
		expect(shown).not.toMatch(/files01\s+stopped/);
		await press(KEYS.tab, 'F');
		await waitForFrame(frame, (text) => /files01\s+stopped/.test(text));
	});
});

describe('plain words', () => {
	it('never draws an internal step id: start, finalize and stop, every frame', async () => {
		const f = await mount(SAMPLE_DESTINATION, { existing: ['web01', 'db01'], copyMs: 300 });
		const session = await startElsewhere(f, 'web01');
		await waitForFrame(frame, (text) => /web01\s+running/.test(text));
		await pressUntil(KEYS.tab, (text) => text.includes('▶ Sessions'));
		await pressUntil('f', (text) => text.includes('Finalize web01?'));
		// A second y (a key lost under load) is bound to nothing in the panes.
		await pressUntil('y', (text) => !text.includes('Finalize web01?'));
		await waitForFrame(frame, (text) => /web01\s+finalized/.test(text) && text.includes('▶ Sessions'), 30_000);
		const db = await startElsewhere(f, 'db01');
		await f.engine.runPhase(db.id, 'stop');
		await waitForFrame(frame, (text) => /db01\s+stopped/.test(text));
		await pressUntil(KEYS.enter, (text) => text.includes('▶ Task tree'));
		const ids = new RegExp(`\\b(${STEP_IDS.filter((id) => id.includes('-')).join('|')})\\b`);
		for (const text of app?.frames ?? []) expect(plain(text)).not.toMatch(ids);
		expect(session.id).toBeTruthy();
	});
});
