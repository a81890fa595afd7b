// The start form where a VM already has a session (issue 12, item 9): the backups pane marks the
// VM (●), the form says so before anything is filled in and offers a new name first, Ctrl+U
// clears a text field, and a field's error goes with the first change after it. Waits are on
// frames, and keys are pressed again only until the frame shows their effect.
import { afterEach, describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import App from '../../source/app.tsx';
import { KEYS, SAMPLE_DESTINATION, createFixture, keyboard, tick, waitForFrame, type Fixture } from './support/fixtures.ts';

const SIZE = { columns: 80, rows: 24 };
const CTRL_U = '\u0015';

let fixture: Fixture | undefined;
let app: ReturnType<typeof render> | undefined;

afterEach(async () => {
	app?.unmount();
	app = undefined;
	await fixture?.cleanup();
	fixture = undefined;
});

const { frame, press, pressUntil } = keyboard(() => app);

/** The console on the in-memory host at 80×24, its backups shown. */
async function mount(): Promise<Fixture> {
	const f = (fixture = await createFixture(SAMPLE_DESTINATION, { existing: ['web01'] }));
	app = render(<App store={f.store} size={SIZE} />);
	await f.store.open();
	await waitForFrame(frame, (text) => text.includes('▶ Backups'));
	await tick(60);
	return f;
}

/** web01's newest restore point opened (`mark`: how web01's row reads, ● when a session holds it), up to its start form. */
async function openForm(mark = ' '): Promise<string> {
	await pressUntil('j', (text) => /›▸ files01/.test(text));
	await pressUntil('j', (text) => text.includes(`›▸${mark}web01`));
	await pressUntil(KEYS.enter, (text) => text.includes('2026-11-24T0100Z'));
	await pressUntil('j', (text) => /›\s+2026-11-24T0100Z/.test(text));
	return pressUntil(KEYS.enter, (text) => text.includes('Review what will happen'));
}

describe('restoring a VM that has a session', () => {
	it('is marked in the backups pane, said in the form before it is filled, and offered a new name first', async () => {
		const f = await mount();
		const session = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'web01' }));
		await f.engine.runPhase(session.id, 'start');
		const marked = await waitForFrame(frame, (text) => /▸●web01/.test(text));
		expect(marked).toContain('●1 in a session');
		expect(marked).toMatch(/▸ db01/);

		const form = await openForm('●');
		expect(form).toContain(`● web01 has an active session (${session.id}, running)`);
		expect(form).toContain('◉ new name');
		expect(form).toMatch(/taken 11-24 01:00 · 1 disk · data [\d.]+ \w?i?B · virtual/);
	});

	it('Ctrl+U clears a field, and an error goes with the first change after it', async () => {
		await mount();
		await openForm();
		// VM name: new name; then its field.
		await pressUntil(KEYS.down, (text) => /› VM name/.test(text));
		await pressUntil(KEYS.right, (text) => text.includes('◉ new name'));
		await pressUntil(KEYS.down, (text) => /› {3}New name/.test(text));
		await pressUntil(CTRL_U, (text) => !text.includes('web01-restored'));
		await press('bad name!', KEYS.enter);
		const refused = await waitForFrame(frame, (text) => text.includes('✖'));
		expect(refused).toMatch(/✖ .*name/i);
		await press('x');
		await waitForFrame(frame, (text) => !text.includes('✖') && text.includes('bad name!x'));
		await pressUntil(CTRL_U, (text) => !text.includes('bad name!x'));
		await press('web01-b', KEYS.enter);
		await waitForFrame(frame, (text) => text.includes('Start Run Direct of web01-b?'));
	});
	it('keys typed in the same write as Enter are not the confirmation, and the confirmation says so', async () => {
		const f = await mount();
		await openForm();
		// One write: Enter (review), then y — as a script or a fast typist sends them.
		await press(`${KEYS.enter}y`);
		const confirm = await waitForFrame(frame, (text) => text.includes('Start Run Direct of web01?'));
		await tick(200);
		expect(f.host.calls).not.toContain('startVm');
		expect(frame()).toContain('A key typed while this was being checked was not taken as the answer');
		// Wrapped at 80 columns, not cut.
		expect(frame()).toMatch(/│ here\.\s+│/);
		expect(confirm).toContain('y/Enter: start');
		await pressUntil('y', (text) => text.includes('1 running from backup'));
		expect(f.host.calls).toContain('startVm');
	});

	it('a plain Enter shows no such notice', async () => {
		await mount();
		await openForm();
		await pressUntil(KEYS.enter, (text) => text.includes('Start Run Direct of web01?'));
		await tick(200);
		expect(frame()).not.toContain('was not taken as the answer');
	});
});
