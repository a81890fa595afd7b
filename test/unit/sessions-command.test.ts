// `rundirect sessions`: plain words for the steps (JSON keeps the ids), --active, and --prune
// moving old finished journals to <state>/archive/sessions/ where they stay as an audit record.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupsText, sessionsCommand } from '../../source/commands/listings.ts';
import { finalizeCommand, stopCommand } from '../../source/commands/lifecycle.ts';
import type { CommandContext } from '../../source/commands/context.ts';
import { resolvePaths } from '../../source/core/paths.ts';
import { STEP_IDS } from '../../source/restore/session.ts';
import type { EngineEvent } from '../../source/restore/engine.ts';
import { createFixture, SAMPLE_DESTINATION, type Fixture } from '../ui/support/fixtures.ts';

let fixture: Fixture | undefined;
afterEach(async () => {
	await fixture?.cleanup();
	fixture = undefined;
});

function contextOf(f: Fixture, json = false): { context: CommandContext; out: string[]; records: Array<Record<string, unknown>> } {
	const out: string[] = [];
	const records: Array<Record<string, unknown>> = [];
	const context: CommandContext = { paths: resolvePaths({ state: path.dirname(f.engine.journal.dir) }), engine: f.engine, json, emit: (record) => records.push(record), say: (text) => out.push(text), warn: (text) => out.push(text) };
	return { context, out, records };
}

const STEP_ID = new RegExp(`\\b(${STEP_IDS.filter((id) => id.includes('-')).join('|')})\\b`);

describe('rundirect sessions', () => {
	it('names steps in words, lists only active ones with --active, and prunes old finished ones to the archive', async () => {
		const f = (fixture = await createFixture(SAMPLE_DESTINATION, { existing: ['web01'] }));
		const web = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'web01' }));
		await f.engine.runPhase(web.id, 'start');
		const old = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'files01' }));
		await f.engine.runPhase(old.id, 'start');
		const stopped = await f.engine.runPhase(old.id, 'stop');
		await f.engine.journal.write({ ...stopped, stoppedAt: new Date(Date.now() - 10 * 86_400_000).toISOString() });

		const all = contextOf(f);
		await sessionsCommand(all.context);
		const text = all.out.join('\n');
		expect(text).toContain('4 start the VM done');
		expect(text).toContain('bring the old VM back done');
		expect(text).not.toMatch(STEP_ID);

		const active = contextOf(f);
		await sessionsCommand(active.context, { active: true });
		expect(active.out.join('\n')).toContain(web.id);
		expect(active.out.join('\n')).not.toContain(old.id);

		const json = contextOf(f, true);
		await sessionsCommand(json.context, { prune: true });
		expect(json.records.find((record) => record.type === 'pruned')).toMatchObject({ session: old.id, state: 'stopped' });
		const listed = json.records.find((record) => record.type === 'sessions') as { sessions: Array<{ id: string; steps: Array<{ id: string }> }> };
		expect(listed.sessions.map((session) => session.id)).toEqual([web.id]);
		// JSON keeps the ids as ids.
		expect(listed.sessions[0]?.steps.map((step) => step.id)).toContain('start-vm');
		expect(await f.engine.journal.read(old.id)).toBeNull();
		const archived = JSON.parse(await fs.readFile(path.join(f.engine.journal.archiveDir, `${old.id}.json`), 'utf8')) as { state: string };
		expect(archived.state).toBe('stopped');
	});

	it('refuses a finished session alike by id and by VM name (exit 3), and finalize asks before purging', async () => {
		const f = (fixture = await createFixture(SAMPLE_DESTINATION, { existing: ['web01'] }));
		const web = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'web01' }));
		await f.engine.runPhase(web.id, 'start');
		const { context } = contextOf(f, true);
		const events: EngineEvent[] = [];
		f.engine.on('event', (event: EngineEvent) => events.push(event));
		const signal = new AbortController().signal;
		// Off a terminal, purging the set-aside web01 needs --yes: refused, nothing done.
		await expect(finalizeCommand(context, 'web01', {}, signal)).rejects.toMatchObject({ exitCode: 3, message: expect.stringContaining('will be DELETED for good') as unknown });
		expect((await f.engine.journal.read(web.id))?.state).toBe('running');
		// A crashed VM is never restarted unseen: without --yes refused and untouched; with it,
		// restarted with a warning before the copy, then finalized.
		f.host.crash('web01');
		await expect(finalizeCommand(context, 'web01', {}, signal)).rejects.toMatchObject({ exitCode: 3, message: expect.stringContaining("web01's VM is off but should be running") as unknown });
		expect(f.host.calls).not.toContain('copyData');
		const calls = f.host.calls.length;
		await finalizeCommand(context, 'web01', { yes: true }, signal);
		const after = f.host.calls.slice(calls);
		expect(after.indexOf('startVm')).toBeGreaterThanOrEqual(0);
		expect(after.indexOf('startVm')).toBeLessThan(after.indexOf('copyData'));
		expect(events.find((event) => event.type === 'warning')).toMatchObject({ session: web.id, message: expect.stringContaining('restarted web01') as unknown });
		expect((await f.engine.journal.read(web.id))?.state).toBe('finalized');
		// Finished: refused alike by id and by VM name.
		for (const ref of [web.id, 'web01']) await expect(stopCommand(context, ref, { yes: true }, signal)).rejects.toMatchObject({ exitCode: 3, message: expect.stringContaining('is finalized; it cannot be stopped now') as unknown });
	});

	it('labels the units of the backups listing and the age of each point', async () => {
		const f = (fixture = await createFixture(SAMPLE_DESTINATION, {}));
		const text = backupsText(await f.engine.catalog());
		expect(text).toMatch(/DISKS \(VIRTUAL SIZE\)\s+DATA/);
		expect(text).toContain('2 disks: qcow2 64 MiB, qcow2 64 MiB');
		expect(text).toContain('1 disk: qcow2 64 MiB');
		expect(text).toMatch(/\d+ days ago/);
	});
	it('after a stop, says the set-aside VM is back rather than that its name is gone', async () => {
		const f = (fixture = await createFixture(SAMPLE_DESTINATION, { existing: ['web01'] }));
		const signal = new AbortController().signal;
		const web = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'web01' }));
		await f.engine.runPhase(web.id, 'start');
		const files = await f.engine.beginStart(await f.engine.proposeStart({ vm: 'files01' }));
		await f.engine.runPhase(files.id, 'start');
		const { context, out } = contextOf(f);
		await stopCommand({ ...context, json: true, say: (text) => out.push(text) }, 'web01', { yes: true }, signal);
		await stopCommand({ ...context, json: true, say: (text) => out.push(text) }, 'files01', { yes: true }, signal);
		expect(out.join('\n')).toMatch(/The restored web01 is gone with every change it made; web01, set aside in step 1, is back as it was — /);
		expect(out.join('\n')).toMatch(/files01 is gone and every change was discarded — /);
		expect(f.host.vms.get('web01')?.setAside).toBe(false);
	});
});
