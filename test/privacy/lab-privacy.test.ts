// Guest data stays private on the lab host (issue 16), with the real CLI and real QEMU (TCG):
// after start, finalize, stop and a drill, a second local user (uid 65534) can read none of
// the production images, snapshot layers, the set-aside VM's disks, the serial log, the drill
// evidence or the journal, and can list none of their folders; the owner still can. The
// backups are never touched (a 0644 backup stays 0644, same owner and times), and an
// installation an earlier version left readable is narrowed on the next start, said once.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLabEnv, type LabEnv, resultOf } from '../support/lab-env.ts';
import { runtimeFiles } from '../../source/hosts/lab/runtime.ts';
import { Journal } from '../../source/restore/journal.ts';
import { markerFile } from '../../source/restore/privacy.ts';
import type { SessionRecord } from '../../source/restore/session.ts';
import { notPrivate, readableByNobody, walk, type Entry } from './probe.ts';

let lab: LabEnv;
/** A file any user may read, to prove the probe sees what is readable. */
let control: string;

beforeAll(async () => {
	lab = await createLabEnv();
	// Only rundirect's own modes may stand between uid 65534 and the files: the test's folders
	// are open (as a home's ~/.local/state and ~/.local/share usually are).
	await fs.chmod(lab.root, 0o755);
	await fs.mkdir(lab.env.XDG_STATE_HOME ?? '', { mode: 0o755 });
	await fs.mkdir(lab.env.XDG_DATA_HOME ?? '', { mode: 0o755 });
	control = path.join(lab.root, 'control.txt');
	await fs.writeFile(control, 'anyone\n', { mode: 0o644 });
	const init = await lab.cli(['lab', 'init'], { timeoutMs: 600_000 });
	if (init.exitCode !== 0) throw new Error(`rundirect lab init failed (exit ${init.exitCode}): ${init.stderr}`);
	// The administrator keeps the backups world-readable: rundirect must leave them so.
	for (const entry of await walk(lab.lab.destination)) await fs.chmod(entry.path, entry.kind === 'dir' ? 0o755 : 0o644);
}, 620_000);

afterAll(async () => {
	await lab?.cleanup();
});

async function session(id: string): Promise<SessionRecord> {
	const record = await new Journal(lab.paths.state).read(id);
	if (!record) throw new Error(`no journal entry ${id}`);
	return record;
}

/** Every file and folder of guest data: the state folder and all of the lab's folder but the sample destination (a backup) and the folder that holds it. */
async function guestData(): Promise<Entry[]> {
	const labFiles = await walk(lab.lab.root, (entry) => entry === lab.lab.destination);
	return [...(await walk(lab.paths.state)), ...labFiles.filter((entry) => entry.path !== lab.lab.root)];
}

/** The backups' metadata: a chmod, chown or re-ACL would change mode, owner or ctime. */
async function backupMetadata(): Promise<Record<string, string>> {
	const result: Record<string, string> = {};
	for (const entry of await walk(lab.lab.destination)) {
		const stat = await fs.lstat(entry.path);
		result[entry.path] = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid} m${stat.mtimeMs} c${stat.ctimeMs}`;
	}
	return result;
}

/** What must hold at any moment: all guest data private, none of it open to uid 65534, the owner reading it all. */
async function expectPrivate(mustInclude: string[]): Promise<void> {
	const entries = await guestData();
	const paths = entries.map((entry) => entry.path);
	for (const file of mustInclude) expect(paths, `${file} is part of what is checked`).toContain(file);
	expect(notPrivate(entries)).toEqual([]);
	expect(await readableByNobody(entries)).toEqual([]);
	for (const entry of entries) if (entry.kind === 'file') await fs.access(entry.path, fs.constants.R_OK | fs.constants.W_OK);
}

describe('guest data on the lab host is private to its owner', () => {
	it('the probe as uid 65534 sees what is readable', async () => {
		expect(await readableByNobody([{ path: control, kind: 'file', mode: 0o644 }, { path: lab.root, kind: 'dir', mode: 0o755 }])).toEqual([`read ${control}`, `listed ${lab.root}`]);
	});

	it('after lab init: the sample VMs’ production disks and their definitions', async () => {
		await expectPrivate([path.join(lab.lab.production, 'web01', 'disk0.qcow2'), path.join(lab.lab.vms, 'web01.json')]);
	});

	it('start → finalize: production images, snapshot layer, set-aside disks, serial log and journal; the backups untouched', async () => {
		const backups = await backupMetadata();
		const start = await lab.cli(['start', 'web01', '--yes', '--json']);
		expect(start.exitCode, start.stderr).toBe(0);
		const id = String(resultOf(start.events).session);
		const running = await session(id);
		const disk = running.plan.disks[0];
		if (!disk) throw new Error('no disk in the plan');
		const setAside = path.join(lab.lab.production, '.set-aside', id, 'web01', 'disk0.qcow2');
		const serial = runtimeFiles(lab.lab.run, 'web01').serialFile;
		await expectPrivate([disk.production, disk.overlay, running.plan.workDir, setAside, serial, new Journal(lab.paths.state).file(id)]);

		const finalize = await lab.cli(['finalize', id, '--yes', '--json']);
		expect(finalize.exitCode, finalize.stderr).toBe(0);
		await expectPrivate([disk.production, running.plan.productionDir, serial, new Journal(lab.paths.state).file(id)]);
		expect(await backupMetadata()).toEqual(backups);
		const poweroff = await lab.cli(['lab', 'poweroff', 'web01']);
		expect(poweroff.exitCode, poweroff.stderr).toBe(0);
	}, 240_000);

	it('start → stop: the replaced VM comes back private, the journal stays private', async () => {
		const backups = await backupMetadata();
		const start = await lab.cli(['start', 'db01', '--yes', '--json']);
		expect(start.exitCode, start.stderr).toBe(0);
		const id = String(resultOf(start.events).session);
		const stop = await lab.cli(['stop', id, '--yes', '--json']);
		expect(stop.exitCode, stop.stderr).toBe(0);
		await expectPrivate([path.join(lab.lab.production, 'db01', 'disk0.qcow2'), path.join(lab.lab.vms, 'db01.json'), new Journal(lab.paths.state).file(id)]);
		expect(await backupMetadata()).toEqual(backups);
	}, 240_000);

	it('a drill: its evidence and report are private', async () => {
		const drill = await lab.cli(['drill', 'files01', '--timeout', '90', '--json']);
		expect(drill.exitCode, drill.stderr).toBe(0);
		const report = String(resultOf(drill.events).report);
		const dir = path.dirname(report);
		const evidence = (await fs.readdir(path.join(dir, 'evidence'))).map((name) => path.join(dir, 'evidence', name));
		expect(evidence.length).toBeGreaterThan(0);
		await expectPrivate([dir, path.join(dir, 'report.json'), path.join(dir, 'report.md'), ...evidence]);
	}, 240_000);

	it('an installation an earlier version left readable is narrowed on the next start, said once; the backups are not touched', async () => {
		// What an earlier version left: everything to the umask (0644 files, 0755 folders), and no marker.
		const old = await guestData();
		for (const entry of old) await fs.chmod(entry.path, entry.kind === 'dir' ? 0o755 : 0o644);
		await fs.rm(markerFile(lab.paths.state), { force: true });
		expect((await readableByNobody(old)).length).toBeGreaterThan(0);
		const backups = await backupMetadata();

		const first = await lab.cli(['sessions']);
		expect(first.exitCode, first.stderr).toBe(0);
		expect(first.stderr).toMatch(/warning: made existing files and folders private to this user \(\d+ changed/);
		expect(first.stderr.match(/private to this user/g)).toHaveLength(1);
		await expectPrivate([markerFile(lab.paths.state)]);
		expect(await backupMetadata()).toEqual(backups);

		const second = await lab.cli(['sessions']);
		expect(second.exitCode, second.stderr).toBe(0);
		expect(second.stderr).not.toMatch(/private/);
	}, 120_000);
});
