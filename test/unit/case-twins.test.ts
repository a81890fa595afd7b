// On a host with Windows paths (Hyper-V), WEB01 and web01 are one production folder: a start
// under a name that differs only in case from a VM an active session holds is refused before
// anything changes. On a POSIX host they are two names, and the start goes ahead.
import { afterEach, describe, expect, it } from 'vitest';
import { createFixture, SAMPLE_DESTINATION, type Fixture } from '../ui/support/fixtures.ts';

let fixture: Fixture | undefined;
afterEach(async () => {
	await fixture?.cleanup();
	fixture = undefined;
});

describe('names that differ only in case', () => {
	it('are one name where the host’s paths are Windows’, refused while a session holds the other', async () => {
		const f = (fixture = await createFixture(SAMPLE_DESTINATION, { existing: ['web01'], pathRules: { style: 'win32', local: false } }));
		const web = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'web01', location: 'D:\\VMs' }));
		await f.engine.runPhase(web.id, 'start');
		await expect(f.engine.proposeStart({ vm: 'web01', name: 'WEB01', location: 'D:\\VMs' })).rejects.toMatchObject({ exitCode: 3, message: expect.stringContaining(`session ${web.id} holds web01, and on memory WEB01 is the same name`) as unknown });
		expect((await f.engine.sessions()).sessions.map((session) => session.vm)).toEqual(['web01']);
		// Once that session is over, the name is free again.
		await f.engine.runPhase(web.id, 'stop');
		await expect(f.engine.proposeStart({ vm: 'web01', name: 'WEB01', location: 'D:\\VMs' })).resolves.toMatchObject({ plan: { vmName: 'WEB01' } });
	});

	it('are two names on a POSIX host', async () => {
		const f = (fixture = await createFixture(SAMPLE_DESTINATION, { existing: ['web01'] }));
		const web = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'web01' }));
		await f.engine.runPhase(web.id, 'start');
		await expect(f.engine.proposeStart({ vm: 'web01', name: 'WEB01' })).resolves.toMatchObject({ plan: { vmName: 'WEB01' } });
	});
});
