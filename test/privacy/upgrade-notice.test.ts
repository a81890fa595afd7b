// An installation an earlier version left readable is narrowed on the next start and the
// console says so once, in its notices (the headless commands' stderr line is proven in
// lab-privacy.test.ts); a second start says nothing.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../source/restore/engine.ts';
import { backupPlaces, markerFile } from '../../source/restore/privacy.ts';
import { Journal } from '../../source/restore/journal.ts';
import { ConsoleStore } from '../../source/ui/store.ts';
import { createFixture, type Fixture } from '../ui/support/fixtures.ts';
import { readableByNobody, walk } from './probe.ts';

let fixture: Fixture | null = null;

afterEach(async () => {
	await fixture?.cleanup();
	fixture = null;
});

/** The state folder as an earlier version left it: a journal entry 0644 in 0755 folders. */
async function oldState(state: string): Promise<string> {
	await fs.mkdir(path.join(state, 'sessions'), { recursive: true, mode: 0o755 });
	await fs.chmod(state, 0o755);
	await fs.chmod(path.join(state, 'sessions'), 0o755);
	const entry = path.join(state, 'sessions', 'old.json');
	await fs.writeFile(entry, 'not a session: the notice must not depend on it', { mode: 0o644 });
	await fs.chmod(entry, 0o644);
	return entry;
}

describe('narrowing an old installation', () => {
	it('the console shows it in its notices, once', async () => {
		fixture = await createFixture([{ vm: 'web01', points: 1 }]);
		const state = path.join(fixture.root, 'state');
		const entry = await oldState(state);
		await fs.chmod(fixture.root, 0o755);
		expect(await readableByNobody([{ path: entry, kind: 'file', mode: 0o644 }])).toEqual([`read ${entry}`]);

		await fixture.store.open();
		expect(fixture.store.getState().notices.notice?.text).toMatch(/made existing files and folders private to this user \(3 changed/);
		expect(await readableByNobody(await walk(state))).toEqual([]);
		expect(((await fs.stat(entry)).mode & 0o777).toString(8)).toBe('600');
		await fs.access(markerFile(state));

		// A second console over the same installation: nothing to say.
		const again = new ConsoleStore(new Engine({ host: fixture.host, stateDir: state, destination: path.join(fixture.root, 'destination') }), { pollMs: 200, notifyMs: 20 });
		try {
			await again.open();
			expect(again.getState().notices.notice?.text ?? '').not.toMatch(/private/);
		} finally {
			await again.close();
		}
	});

	it('an engine says it once however often it is asked, and a fresh installation has nothing to say', async () => {
		fixture = await createFixture([{ vm: 'web01', points: 1 }]);
		const warnings: string[] = [];
		fixture.engine.on('event', (event) => {
			if (event.type === 'warning') warnings.push(event.message);
		});
		expect(await fixture.engine.keepPrivate()).toBeNull();
		expect(warnings).toEqual([]);
		// Nothing had to change, so nothing was written: a refused command changes nothing.
		await expect(fs.access(markerFile(path.join(fixture.root, 'state')))).rejects.toThrow();

		const state = path.join(fixture.root, 'state2');
		await oldState(state);
		const engine = new Engine({ host: fixture.host, stateDir: state, destination: path.join(fixture.root, 'destination') });
		engine.on('event', (event) => {
			if (event.type === 'warning') warnings.push(event.message);
		});
		const [first, second] = await Promise.all([engine.keepPrivate(), engine.keepPrivate()]);
		expect(first).toMatch(/private to this user/);
		expect(second).toBe(first);
		expect(warnings).toHaveLength(1);
	});

	it('spares the destination and every restore point a session ran from, even one another command named', async () => {
		fixture = await createFixture([{ vm: 'web01', points: 1 }]);
		const journal = new Journal(path.join(fixture.root, 'state'));
		const disks = ['/srv/other-destination/web01/p1/disk0.qcow2', '/srv/other-destination/web01/p1/disk1.qcow2', '\\\\nas\\backups\\db01\\disk0.vhdx'].map((backup) => ({ backup }));
		await journal.write({ id: 's1', createdAt: new Date().toISOString(), plan: { disks } } as never);
		expect(await backupPlaces(journal, '/srv/destination')).toEqual(['/srv/destination', '/srv/other-destination/web01/p1']);
	});
});
