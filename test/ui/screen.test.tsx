// `c`: any session's VM as it is now, in the detail pane at 80×24 — its serial console (lab,
// libvirt) read again while shown, the guest's escape sequences taken out before they reach the
// terminal, or a Hyper-V screen thumbnail drawn in characters; `c` again goes back to the task
// tree and the host is not read any more. Every wait is on a frame, never on a fixed delay.
import { afterEach, describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import App from '../../source/app.tsx';
import { rgb565ToPng } from '../../source/hosts/hyperv/png.ts';
import { decodePng, textPicture } from '../../source/core/picture.ts';
import { printable } from '../../source/ui/components/ScreenLines.ts';
import { KEYS, SAMPLE_DESTINATION, createFixture, keyboard, waitForFrame, type Fixture } from './support/fixtures.ts';

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

async function mountWithSession(): Promise<Fixture> {
	const f = (fixture = await createFixture(SAMPLE_DESTINATION, { existing: ['web01'] }));
	app = render(<App store={f.store} size={SIZE} />);
	await f.store.open();
	const session = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'web01' }));
	await f.engine.runPhase(session.id, 'start');
	await waitForFrame(frame, (text) => /web01\s+running/.test(text));
	await pressUntil(KEYS.tab, (text) => text.includes('▶ Sessions') && text.includes('c console'));
	return f;
}

/** A 64×48 screen, black with a white block in its upper left quarter, as Hyper-V's RGB 565. */
function blockScreen(): Buffer {
	const [width, height] = [64, 48];
	const pixels = Buffer.alloc(width * height * 2);
	for (let y = 0; y < height / 2; y++) for (let x = 0; x < width / 2; x++) pixels.writeUInt16LE(0xffff, (y * width + x) * 2);
	return rgb565ToPng(pixels, width, height);
}

describe('a session’s VM console in the console', () => {
	it('c shows its serial console, read again while shown, escape sequences taken out; c again goes back', async () => {
		const f = await mountWithSession();
		f.host.screens.set('web01', { kind: 'serial-tail', text: 'login: \u001b]0;evil title\u0007root\u001b[31m ok\u001b[0m\r\nfirst screen' });
		const shown = await pressUntil('c', (text) => text.includes('VM console') && text.includes('first screen'));
		expect(shown).toContain('login: root ok');
		expect(shown).not.toContain('evil title');
		expect(shown).toMatch(/web01 · the serial console · read/);
		// What the guest prints next appears without a key.
		f.host.screens.set('web01', { kind: 'serial-tail', text: 'second screen' });
		await waitForFrame(frame, (text) => text.includes('second screen'));
		const back = await pressUntil('c', (text) => !text.includes('VM console') && text.includes('4 start the VM'));
		expect(back).not.toContain('second screen');
		// Not shown, not read: a change on the host no longer reaches the frame.
		expect(f.store.getState().screen.sessionId).toBeNull();
	});

	it('a Hyper-V screen thumbnail is drawn in characters, its bright part where it is', async () => {
		const f = await mountWithSession();
		f.host.screens.set('web01', { kind: 'thumbnail', pngBase64: blockScreen().toString('base64') });
		const shown = await pressUntil('c', (text) => text.includes('VM console') && text.includes('@@@@'));
		const rows = shown.split('\n').filter((row) => row.includes('@'));
		expect(rows.length).toBeGreaterThan(1);
		// The block is the left half: each bright row starts bright and ends dark (blank).
		for (const row of rows) expect(row).toMatch(/^[│║] ?@+\s+[│║]$/);
	});
});

describe('the picture and the guest text', () => {
	it('decodes the host’s PNG and keeps the picture’s layout and aspect', () => {
		const picture = decodePng(blockScreen());
		expect([picture.width, picture.height]).toEqual([64, 48]);
		const lines = textPicture(picture, 16, 20);
		expect(lines).toHaveLength(6);
		expect(lines.slice(0, 3)).toEqual(['@@@@@@@@', '@@@@@@@@', '@@@@@@@@']);
		expect(lines.slice(3)).toEqual(['', '', '']);
		expect(() => decodePng(Buffer.from('not a png'))).toThrow('not a PNG');
	});

	it('takes every escape sequence and control character out of a guest line', () => {
		expect(printable('a\u001b[2J\u001b[Hb\u001b]2;x\u001b\\c\u0007\u0008d\te')).toBe('abcd    e');
	});
});
