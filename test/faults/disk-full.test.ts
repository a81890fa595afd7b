// Production storage full: pre-flight refuses a start that cannot fit; a disk that fills up
// during step 5 leaves the VM running from its backup with a clear error naming the space
// needed, and finalize succeeds once space is freed. The filesystems are tmpfs mounts of a
// fixed size that the test makes itself (it runs as root, as CI does).
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, sha256, snapshotTree, type LabEnv } from '../support/lab-env.ts';
import { writeManifest } from '../support/restore-points.ts';
import { expectedBytes, makeBackup } from '../lab-host/helpers.ts';
import { recordReliability } from '../support/reliability.ts';
import { Journal } from '../../source/restore/journal.ts';

const MiB = 2 ** 20;
const isRoot = process.getuid?.() === 0;
let lab: LabEnv;
let destination: string;
let backupSum = '';
const mounts: string[] = [];

async function mountTmpfs(dir: string, sizeMiB: number): Promise<void> {
	await fs.mkdir(dir, { recursive: true });
	await execa('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}M`, 'tmpfs', dir]);
	mounts.push(dir);
}

beforeAll(async () => {
	lab = await createInitializedLabEnv();
	destination = path.join(lab.root, 'destination');
	const pointDir = path.join(destination, 'big01', 'p1');
	backupSum = await sha256(await makeBackup(pointDir, 'disk0', 48 * MiB, [{ pattern: 0x42, offset: 0, length: 24 * MiB }]));
	await writeManifest(pointDir, { disks: [{ file: 'disk0.qcow2', format: 'qcow2', virtualSize: 48 * MiB }] });
}, 620_000);

afterAll(async () => {
	for (const pid of (await lab?.qemuPids()) ?? []) process.kill(pid, 'SIGKILL');
	for (const dir of mounts.reverse()) await execa('umount', ['-l', dir], { reject: false });
	await lab?.cleanup();
});

/** Guest-visible bytes, converted outside the (full) tmpfs. */
async function guestBytes(image: string): Promise<Buffer> {
	const raw = path.join(lab.root, 'check.raw');
	await execa('qemu-img', ['convert', '-U', '-O', 'raw', image, raw]);
	try {
		return await fs.readFile(raw);
	} finally {
		await fs.rm(raw, { force: true });
	}
}

describe.runIf(isRoot)('production storage full', () => {
	it('pre-flight refuses a start that cannot fit, and changes nothing', async () => {
		const tiny = path.join(lab.root, 'tiny');
		await mountTmpfs(tiny, 4);
		const before = { lab: await snapshotTree(lab.lab.root), state: await snapshotTree(lab.paths.state) };
		const result = await lab.cli(['--destination', destination, 'start', 'big01', '--location', tiny, '--yes']);
		expect(result.exitCode).toBe(3);
		expect(result.stderr).toMatch(/Not enough room in .*tiny: 4 MiB free, \d+ MiB needed/);
		expect(await snapshotTree(lab.lab.root)).toEqual(before.lab);
		expect(await snapshotTree(lab.paths.state)).toEqual(before.state);
		await recordReliability({ kind: 'disk-full', case: 'start that cannot fit is refused by pre-flight', survived: result.exitCode === 3 });
	});

	it('a disk that fills during step 5 keeps the VM on its backup; finalize succeeds once space is freed', async () => {
		const small = path.join(lab.root, 'small');
		await mountTmpfs(small, 40);
		const start = await lab.cli(['--destination', destination, 'start', 'big01', '--location', small, '--yes', '--json']);
		expect(start.exitCode, start.stderr).toBe(0);
		const id = String(start.events.find((event) => event.type === 'result')?.session);
		// Something else fills the volume after pre-flight passed.
		const ballast = path.join(small, 'ballast');
		await execa('dd', ['if=/dev/zero', `of=${ballast}`, 'bs=1M', 'count=30'], { reject: false });

		const full = await lab.cli(['--destination', destination, 'finalize', id, '--yes']);
		expect(full.exitCode).toBe(1);
		expect(full.stderr).toMatch(/Production storage .*small\/big01 is full: the copy needs \d+ MiB and \d+ MiB is free/);
		expect(full.stderr).toMatch(/The VM keeps running from the backup/);
		const failed = await new Journal(lab.paths.state).read(id);
		expect(failed?.state).toBe('failed');
		expect(failed?.lastError?.hint).toContain(`rundirect finalize ${id}`);
		const sessions = await lab.cli(['--destination', destination, 'sessions', '--json']);
		const row = (sessions.events.find((event) => event.type === 'sessions') as { sessions: Array<{ id: string; status: { vm: string; runsOn: string } }> }).sessions.find((session) => session.id === id);
		expect(row?.status).toMatchObject({ vm: 'running', runsOn: 'backup' });

		await fs.rm(ballast);
		const retried = await lab.cli(['--destination', destination, 'finalize', id, '--yes']);
		expect(retried.exitCode, retried.stderr).toBe(0);
		const done = await new Journal(lab.paths.state).read(id);
		expect(done?.state).toBe('finalized');
		for (const pid of await lab.qemuPids()) process.kill(pid, 'SIGKILL');
		const production = done?.plan.disks[0]?.production ?? '';
		const bytesLost = Buffer.compare(await guestBytes(production), expectedBytes(48 * MiB, [{ pattern: 0x42, offset: 0, length: 24 * MiB }])) === 0 ? 0 : 1;
		await recordReliability({ kind: 'disk-full', case: 'production storage fills during step 5, then space is freed', survived: bytesLost === 0, bytesLost });
		expect(bytesLost).toBe(0);
		expect(await sha256(path.join(destination, 'big01', 'p1', 'disk0.qcow2'))).toBe(backupSum);
	});
});
