// The journal's listing, which the console repeats every 1.5 s: it must see every write,
// removal and damaged entry at once although it keeps unchanged entries from the last read.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Journal } from '../../source/restore/journal.ts';
import { newStepRecords, type SessionRecord } from '../../source/restore/session.ts';

let state: string;

beforeEach(async () => {
	state = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-journal-'));
});
afterEach(async () => {
	await fs.rm(state, { recursive: true, force: true });
});

/** The fields the listing reads; the rest of a record is opaque to the journal. */
function record(id: string, createdAt: string): SessionRecord {
	return { schemaVersion: 1, id, host: 'lab', vm: `vm-${id}`, state: 'running', createdAt, updatedAt: createdAt, steps: newStepRecords() } as Partial<SessionRecord> as SessionRecord;
}

it('lists newest first and sees writes, removals and damage between two listings', async () => {
	const journal = new Journal(state);
	for (let i = 0; i < 150; i++) await journal.write(record(`s${String(i).padStart(3, '0')}`, new Date(Date.UTC(2026, 10, 1, 0, i)).toISOString()));
	const first = await journal.list();
	expect(first.problems).toEqual([]);
	expect(first.sessions).toHaveLength(150);
	expect(first.sessions[0]?.id).toBe('s149');
	expect(first.sessions.at(-1)?.id).toBe('s000');

	const changed = record('s010', new Date(Date.UTC(2026, 10, 1, 0, 10)).toISOString());
	changed.state = 'finalized';
	await journal.write(changed);
	await fs.rm(journal.file('s020'));
	await fs.writeFile(journal.file('s030'), '{ torn');

	const second = await journal.list();
	expect(second.sessions).toHaveLength(148);
	expect(second.sessions.find((session) => session.id === 's010')?.state).toBe('finalized');
	expect(second.sessions.some((session) => session.id === 's020' || session.id === 's030')).toBe(false);
	expect(second.problems).toHaveLength(1);
	expect(second.problems[0]).toContain(journal.file('s030'));

	// Mended, it comes back; records handed out are the caller's own to change.
	await journal.write(record('s030', new Date(Date.UTC(2026, 10, 1, 0, 30)).toISOString()));
	const third = await journal.list();
	expect(third.problems).toEqual([]);
	expect(third.sessions).toHaveLength(149);
	const mine = third.sessions.find((session) => session.id === 's040');
	if (!mine) throw new Error('s040 missing');
	mine.state = 'stopped';
	expect((await journal.list()).sessions.find((session) => session.id === 's040')?.state).toBe('running');
});

it('lists nothing, without error, before the first session', async () => {
	expect(await new Journal(state).list()).toEqual({ sessions: [], problems: [] });
});
