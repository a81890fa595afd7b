// End to end on the real lab host: the real CLI, real QEMU guests booted from real backups,
// bytes read back off the production disks.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupSums, createInitializedLabEnv, type LabEnv, processAlive, resultOf, sha256, snapshotTree, waitFor } from '../support/lab-env.ts';
import { writeManifest } from '../support/restore-points.ts';
import { readGuestLog } from '../../source/lab-builder/guest.ts';
import { readDefinition, definitionPath } from '../../source/hosts/lab/definition.ts';
import { Journal } from '../../source/restore/journal.ts';
import type { SessionRecord } from '../../source/restore/session.ts';

let lab: LabEnv;

beforeAll(async () => {
	lab = await createInitializedLabEnv();
}, 620_000);

afterAll(async () => {
	await lab?.cleanup();
});

async function session(id: string): Promise<SessionRecord> {
	const record = await new Journal(lab.paths.state).read(id);
	if (!record) throw new Error(`no journal entry ${id}`);
	return record;
}

async function guestAlive(id: string): Promise<boolean> {
	const listing = await lab.cli(['sessions', '--json']);
	const sessions = (listing.events.find((event) => event.type === 'sessions') as { sessions: Array<{ id: string; status: { guestAlive: boolean | null } | null }> }).sessions;
	return sessions.find((candidate) => candidate.id === id)?.status?.guestAlive === true;
}

describe('Run Direct on the lab host', () => {
	it('start → finalize: the guest boots from the backup, its writes land on production, the backup is untouched', async () => {
		const before = await backupSums(lab, 'web01');
		const start = await lab.cli(['start', 'web01', '--yes', '--json']);
		expect(start.exitCode, start.stderr).toBe(0);
		const id = String(resultOf(start.events).session);
		expect(resultOf(start.events).state).toBe('running');

		const running = await session(id);
		expect(running.steps.filter((step) => step.number !== null && step.number <= 4).every((step) => step.status === 'done' && step.startedAt && step.endedAt)).toBe(true);
		expect(running.setAside?.name).toBe('web01');

		await waitFor('the guest to print its marker', 90_000, async () => ((await guestAlive(id)) ? true : undefined), 1000);
		// Ticks written while running from the backup, read off the snapshot layer.
		const overlay = running.plan.disks[0]?.overlay ?? '';
		const fromBackup = await waitFor('three guest ticks in the snapshot layer', 60_000, async () => {
			const log = await readGuestLog(overlay, 'qcow2');
			const ticks = log.split('\n').filter((line) => line.startsWith('tick '));
			return ticks.length >= 3 ? ticks : undefined;
		}, 1000);

		const finalize = await lab.cli(['finalize', id, '--yes', '--json']);
		expect(finalize.exitCode, finalize.stderr).toBe(0);
		const done = await session(id);
		expect(done.state).toBe('finalized');
		expect(done.steps.filter((step) => step.number !== null).every((step) => step.status === 'done')).toBe(true);
		expect(done.apply?.pauseMs).toBeGreaterThanOrEqual(0);
		await expect(fs.access(overlay)).rejects.toThrow();

		// The VM now runs from production storage; the replaced VM was purged.
		const definition = await readDefinition(definitionPath(lab.lab.vms, 'web01'));
		expect(definition?.runningFromBackup).toBeNull();
		expect(definition?.disks.map((disk) => disk.path)).toEqual(done.plan.disks.map((disk) => disk.production));
		expect(await fs.readdir(lab.lab.vms)).not.toContain(expect.stringContaining('~'));
		const pids = await lab.qemuPids();
		expect(pids).toHaveLength(1);
		const [pid] = pids;
		for (const target of pids) process.kill(target, 'SIGKILL');
		await waitFor('QEMU to exit', 10_000, async () => ((await processAlive(pid ?? 0)) ? undefined : true));

		const production = await readGuestLog(done.plan.disks[0]?.production ?? '', 'qcow2');
		for (const tick of fromBackup) expect(production).toContain(tick);
		for (const [file, sum] of before) expect(await sha256(file)).toBe(sum);
	});

	it('start → stop: the VM and its files are gone, the replaced VM is back, the backup is untouched', async () => {
		const before = await backupSums(lab, 'db01');
		const replacedBefore = await snapshotTree(path.join(lab.lab.production, 'db01'));
		const definitionBefore = await fs.readFile(definitionPath(lab.lab.vms, 'db01'), 'utf8');

		const start = await lab.cli(['start', 'db01', '--yes', '--json']);
		expect(start.exitCode, start.stderr).toBe(0);
		const id = String(resultOf(start.events).session);
		const running = await session(id);
		expect(running.plan.disks).toHaveLength(2);
		const pids = await lab.qemuPids();
		expect(pids).toHaveLength(1);

		const stop = await lab.cli(['stop', id, '--yes', '--json']);
		expect(stop.exitCode, stop.stderr).toBe(0);
		expect((await session(id)).state).toBe('stopped');
		expect(await processAlive(pids[0] ?? 0)).toBe(false);
		for (const disk of running.plan.disks) {
			await expect(fs.access(disk.overlay)).rejects.toThrow();
		}
		await expect(fs.access(running.plan.workDir)).rejects.toThrow();
		expect(await snapshotTree(path.join(lab.lab.production, 'db01'))).toEqual(replacedBefore);
		expect(await fs.readFile(definitionPath(lab.lab.vms, 'db01'), 'utf8')).toBe(definitionBefore);
		for (const [file, sum] of before) expect(await sha256(file)).toBe(sum);
	});

	it('refuses a second start of a VM a session holds, naming the session', async () => {
		const first = await lab.cli(['start', 'files01', '--yes', '--json']);
		expect(first.exitCode, first.stderr).toBe(0);
		const id = String(resultOf(first.events).session);
		try {
			const second = await lab.cli(['start', 'files01', '--yes']);
			expect(second.exitCode).toBe(3);
			expect(second.stderr).toContain(id);
			expect(second.stderr).toMatch(/one session per VM/);
		} finally {
			const stop = await lab.cli(['stop', id, '--yes']);
			expect(stop.exitCode, stop.stderr).toBe(0);
		}
	});

	it('refuses a corrupt or incomplete restore point with a clear error and changes nothing', async () => {
		const destination = path.join(lab.root, 'broken-destination');
		const point = path.join(destination, 'web01', 'p1');
		await fs.mkdir(point, { recursive: true });
		await fs.writeFile(path.join(point, 'restore-point.json'), JSON.stringify({ schemaVersion: 1, id: 'p1', takenAt: '2026-11-24T01:00:00Z', vm: { name: 'web01' }, disks: [] }));
		// Valid in every field, but its disk file was never written.
		await writeManifest(path.join(destination, 'db01', 'p1'), { disks: [{ file: 'disk0.qcow2', format: 'qcow2', virtualSize: 67108864 }] });
		const labBefore = await snapshotTree(lab.lab.root);
		const stateBefore = await snapshotTree(lab.paths.state);

		const corrupt = await lab.cli(['--destination', destination, 'start', 'web01', '--yes']);
		expect(corrupt.exitCode).toBe(2);
		expect(corrupt.stderr).toContain(path.join(point, 'restore-point.json'));
		expect(corrupt.stderr).toMatch(/field vm\.id/);

		const missing = await lab.cli(['--destination', destination, 'start', 'db01', '--yes']);
		expect(missing.exitCode).toBe(2);
		expect(missing.stderr).toMatch(/disk0\.qcow2 does not exist/);

		expect(await snapshotTree(lab.lab.root)).toEqual(labBefore);
		expect(await snapshotTree(lab.paths.state)).toEqual(stateBefore);
	});

	it('journals every step with times, and a controller killed between steps is continued by running the command again', async () => {
		const killed = await lab.cli(['start', 'web01', '--yes', '--json'], { env: { RUNDIRECT_FAULT: 'kill-after:snapshot-layer' } });
		expect(killed.signal).toBe('SIGKILL');
		const id = String(killed.events.find((event) => event.type === 'session')?.id);
		const interrupted = await session(id);
		expect(interrupted.state).toBe('starting');
		expect(interrupted.steps.filter((step) => step.status === 'done').map((step) => step.id)).toEqual(['replace-vm', 'create-disks', 'snapshot-layer']);
		for (const step of interrupted.steps.filter((candidate) => candidate.status === 'done')) {
			expect(Date.parse(step.endedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(step.startedAt ?? ''));
		}
		expect(await lab.qemuPids()).toHaveLength(0);

		const resumed = await lab.cli(['start', 'web01', '--yes', '--json']);
		expect(resumed.exitCode, resumed.stderr).toBe(0);
		expect(resumed.stderr).toContain(`continuing session ${id}`);
		const running = await session(id);
		expect(running.state).toBe('running');
		expect(running.steps.find((step) => step.id === 'snapshot-layer')?.attempts).toBe(1);
		expect(running.steps.find((step) => step.id === 'start-vm')?.attempts).toBe(1);

		// Kill it again in the middle of finalize (after the copy) and finish it with the same command.
		const killedFinalize = await lab.cli(['finalize', id, '--yes', '--json'], { env: { RUNDIRECT_FAULT: 'kill-after:copy-data' } });
		expect(killedFinalize.signal).toBe('SIGKILL');
		expect((await session(id)).state).toBe('finalizing');
		const finalize = await lab.cli(['finalize', id, '--yes', '--json']);
		expect(finalize.exitCode, finalize.stderr).toBe(0);
		expect(finalize.events.some((event) => event.type === 'warning' && String(event.message).includes('is gone; continuing from the journal'))).toBe(true);
		const done = await session(id);
		expect(done.state).toBe('finalized');
		expect(done.steps.find((step) => step.id === 'copy-data')?.attempts).toBe(1);
		for (const pid of await lab.qemuPids()) process.kill(pid, 'SIGKILL');
	});

	it('says so when "latest" skips a broken restore point', async () => {
		const destination = path.join(lab.root, 'partly-broken');
		const source = path.join(lab.lab.destination, 'web01');
		await fs.cp(source, path.join(destination, 'web01'), { recursive: true });
		const ids = (await fs.readdir(path.join(destination, 'web01'))).sort();
		const newest = ids[ids.length - 1] ?? '';
		const manifest = path.join(destination, 'web01', newest, 'restore-point.json');
		await fs.chmod(manifest, 0o644);
		await fs.writeFile(manifest, '{"schemaVersion": 1,');
		const start = await lab.cli(['--destination', destination, 'start', 'web01', '--yes', '--json']);
		expect(start.exitCode, start.stderr).toBe(0);
		expect(start.stderr).toContain(`"latest" is ${ids[ids.length - 2]}`);
		expect(start.stderr).toContain(manifest);
		const id = String(resultOf(start.events).session);
		expect((await session(id)).source.pointId).toBe(ids[ids.length - 2]);
		const stop = await lab.cli(['--destination', destination, 'stop', id, '--yes']);
		expect(stop.exitCode, stop.stderr).toBe(0);
	});
});
