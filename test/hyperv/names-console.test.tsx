// A VM name with a space (common on Hyper-V) in the console: listed, and carried into the start
// form's review as it is. The console over the real Engine and the in-memory host (test/ui's).
import { render } from 'ink-testing-library';
import { afterEach, expect, it } from 'vitest';
import App from '../../source/app.tsx';
import { KEYS, createFixture, tick, waitForFrame, type Fixture } from '../ui/support/fixtures.ts';

let fixture: Fixture | undefined;
let app: ReturnType<typeof render> | undefined;
afterEach(async () => {
	app?.unmount();
	await fixture?.cleanup();
});

it('lists "web 01" and reviews its start under that name', async () => {
	fixture = await createFixture([{ vm: 'web 01', points: 1 }], { existing: ['web 01'] });
	app = render(<App store={fixture.store} size={{ columns: 100, rows: 30 }} onQuit={() => undefined} />);
	await fixture.store.open();
	const first = await waitForFrame(app.lastFrame, (text) => text.includes('▶ Backups') && text.includes('web 01'));
	expect(first).toMatch(/›▸ web 01\s+1 pt/);
	await tick(60);
	for (const key of [KEYS.enter, 'j', KEYS.enter]) {
		app.stdin.write(key);
		await tick(40);
	}
	const review = await waitForFrame(app.lastFrame, (text) => text.includes('Review what will happen'));
	expect(review).toContain('web 01');
	expect(review).not.toMatch(/web_01|web01/);
});
