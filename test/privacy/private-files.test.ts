// The one rule for guest data's files (source/core/private-files.ts): modes set explicitly
// whatever the umask, and the narrowing of an old installation, which never touches a
// spared path (a backup), follows no symlink and leaves other users' files alone.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrivateFile, mkdirPrivate, privateAtomic, tightenTree, writePrivate } from '../../source/core/private-files.ts';
import { Journal } from '../../source/restore/journal.ts';
import { VmLocks } from '../../source/restore/lock.ts';
import { writeEvidence, saveReport } from '../../source/drill/store.ts';
import { NOBODY } from './probe.ts';

let root: string;
let umask: number;

const modeOf = async (file: string): Promise<string> => ((await fs.lstat(file)).mode & 0o7777).toString(8);

beforeEach(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-private-'));
	// The loosest umask there is: nothing may depend on it.
	umask = process.umask(0);
});

afterEach(async () => {
	process.umask(umask);
	await fs.rm(root, { recursive: true, force: true });
});

describe('private files', () => {
	it('mkdirPrivate makes every folder it creates 0700 and leaves an existing one alone', async () => {
		await fs.mkdir(path.join(root, 'open'), { mode: 0o755 });
		await mkdirPrivate(path.join(root, 'open', 'a', 'b'));
		expect(await modeOf(path.join(root, 'open'))).toBe('755');
		expect(await modeOf(path.join(root, 'open', 'a'))).toBe('700');
		expect(await modeOf(path.join(root, 'open', 'a', 'b'))).toBe('700');
		await mkdirPrivate(path.join(root, 'open', 'a', 'b'));
	});

	it('writePrivate, createPrivateFile and write-file-atomic with privateAtomic give 0600, also over an existing 0644 file', async () => {
		for (const [name, write] of [
			['w', (file: string) => writePrivate(file, 'x')],
			['c', (file: string) => createPrivateFile(file)],
			['a', (file: string) => writeFileAtomic(file, 'x', privateAtomic())],
		] as const) {
			const file = path.join(root, name);
			await write(file);
			expect(await modeOf(file)).toBe('600');
			await fs.chmod(file, 0o644);
			await write(file);
			expect(await modeOf(file)).toBe('600');
		}
	});

	it('journals, locks, drill evidence and reports are created private (umask 0)', async () => {
		const state = path.join(root, 'state');
		const journal = new Journal(state);
		await journal.write({ id: 's1', createdAt: new Date().toISOString() } as never);
		const locks = new VmLocks(state);
		expect(await locks.claim('lab', 'web01', 's1')).toBe(true);
		const operation = await locks.beginOperation('lab', 'web01', 's1', 'start');
		const id = '20261201T0000-abcdef';
		const evidence = await writeEvidence(state, id, 'web01', { kind: 'serial-tail', text: 'secret printed at boot' });
		const report = await saveReport(state, { id, vms: [], outcome: 'passed' } as never);
		for (const dir of [state, journal.dir, locks.dir, path.join(state, 'drills', id), path.join(state, 'drills', id, 'evidence')]) expect(await modeOf(dir), dir).toBe('700');
		const files = [journal.file('s1'), locks.claimFile('lab', 'web01'), locks.operationFile('lab', 'web01'), path.join(state, 'drills', id, evidence.file), report.json, report.markdown];
		for (const file of files) expect(await modeOf(file), file).toBe('600');
		await operation.release();
	});

	it('tightenTree narrows files and folders, spares a backup and the folders holding it, follows no symlink', async () => {
		const data = path.join(root, 'data');
		const backup = path.join(data, 'destination', 'web01', 'p1');
		await fs.mkdir(backup, { recursive: true, mode: 0o755 });
		await fs.writeFile(path.join(backup, 'disk0.qcow2'), 'backup', { mode: 0o644 });
		await fs.mkdir(path.join(data, 'production', 'web01'), { recursive: true, mode: 0o755 });
		await fs.writeFile(path.join(data, 'production', 'web01', 'disk0.qcow2'), 'guest', { mode: 0o644 });
		const outside = path.join(root, 'outside.txt');
		await fs.writeFile(outside, 'not ours to change', { mode: 0o644 });
		await fs.symlink(outside, path.join(data, 'production', 'link'));
		const backupBefore = await fs.stat(path.join(backup, 'disk0.qcow2'));

		const { changed } = await tightenTree(path.join(data, 'production'), [path.join(data, 'destination')]);
		expect(changed.sort()).toEqual([path.join(data, 'production'), path.join(data, 'production', 'web01'), path.join(data, 'production', 'web01', 'disk0.qcow2')].sort());
		expect(await modeOf(path.join(data, 'production', 'web01', 'disk0.qcow2'))).toBe('600');
		expect(await modeOf(outside)).toBe('644');

		// The whole data folder: the destination and the folder holding it stay as they are.
		await tightenTree(data, [path.join(data, 'destination')]);
		expect(await modeOf(data)).toBe('755');
		expect(await modeOf(path.join(data, 'destination'))).toBe('755');
		const backupAfter = await fs.stat(path.join(backup, 'disk0.qcow2'));
		expect({ mode: backupAfter.mode, uid: backupAfter.uid, ctime: backupAfter.ctimeMs }).toEqual({ mode: backupBefore.mode, uid: backupBefore.uid, ctime: backupBefore.ctimeMs });
		expect((await tightenTree(path.join(root, 'missing'))).changed).toEqual([]);
	});

	it('tightenTree leaves a file another user owns as it is', async () => {
		const file = path.join(root, 'theirs');
		await fs.writeFile(file, 'x', { mode: 0o644 });
		await fs.chown(file, NOBODY, NOBODY);
		await fs.chmod(root, 0o755);
		const { changed } = await tightenTree(root);
		expect(changed).toEqual([root]);
		expect(await modeOf(file)).toBe('644');
	});
});
