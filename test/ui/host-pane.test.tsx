// `v`: the host's VMs at 80×24 (issue 12, item 5) — a VM running from its backup, the VM its
// session set aside, the others — with power on and off from the same keymap: off asks first, and
// a VM a session holds is refused with the way on. Waits are on frames; keys are pressed again
// only until the frame shows their effect.
import { afterEach, describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import App from '../../source/app.tsx';
import { SAMPLE_DESTINATION, createFixture, keyboard, tick, waitForFrame, type Fixture } from './support/fixtures.ts';

const SIZE = { columns: 80, rows: 24 };

let fixture: Fixture | undefined;
let app: ReturnType<typeof render> | undefined;

afterEach(async () => {
	app?.unmount();
	app = undefined;
	await fixture?.cleanup();
	fixture = undefined;
});

const { frame, pressUntil } = keyboard(() => app);

describe('the host pane', () => {
	it('lists the host’s VMs with what rundirect knows of them, and powers them on and off', async () => {
		const f = (fixture = await createFixture(SAMPLE_DESTINATION, { existing: ['web01', 'db01'] }));
		app = render(<App store={f.store} size={SIZE} />);
		await f.store.open();
		await waitForFrame(frame, (text) => text.includes('▶ Backups'));
		await tick(60);
		const session = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'web01' }));
		await f.engine.runPhase(session.id, 'start');
		await waitForFrame(frame, (text) => /web01\s+running/.test(text));

		const pane = await pressUntil('v', (text) => text.includes('Host VMs (memory)') && text.includes('POWER'));
		expect(pane).toMatch(/› db01\s+running/);
		expect(pane).toMatch(/web01\s+running\s+runs from its backup in a session/);
		expect(pane).toMatch(/web01~\S+\s+off\s+set aside by a session \(kept off\)/);
		expect(pane).toContain('o power on');

		// Off asks first; yes turns it off.
		await pressUntil('x', (text) => text.includes('Power off db01?'));
		await pressUntil('y', (text) => /› db01\s+off/.test(text));
		expect(f.host.vms.get('db01')?.running).toBe(false);
		await pressUntil('o', (text) => /› db01\s+running/.test(text));
		expect(f.host.vms.get('db01')?.running).toBe(true);

		// A VM a session holds is not powered here.
		await pressUntil('j', (text) => /› web01\s/.test(text));
		await pressUntil('x', (text) => text.includes('Power off web01?'));
		await pressUntil('y', (text) => text.includes(`web01 runs from its backup in session ${session.id}`));
		expect(f.host.vms.get('web01')?.running).toBe(true);

		// v again: back to the task tree; the host is no longer read.
		await pressUntil('v', (text) => !text.includes('Host VMs'));
		expect(f.store.getState().hostVms.shown).toBe(false);
	});
});
