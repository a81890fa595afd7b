// initLab end to end: real packages (cached), real images, temp data folders.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restorePointSchema, type RestorePointManifest } from '../../source/catalog/schema.ts';
import { definitionPath, readDefinition, writeDefinition } from '../../source/hosts/lab/definition.ts';
import { readGuestFile } from '../../source/lab-builder/guest.ts';
import { initLab, type LabSummary } from '../../source/lab-builder/init.ts';
import { labPaths, type Paths } from '../../source/core/paths.ts';
import { listFiles, removeTree, snapshotTree, testPaths } from './helpers.ts';
import { imageInfo } from '../../source/qemu/qemu-img.ts';

let root: string;
let paths: Paths;
let summary: LabSummary;
let coldMs: number;
const progress: Array<[string, number | undefined]> = [];

beforeAll(async () => {
	({ root, paths } = await testPaths());
	const started = Date.now();
	summary = await initLab(paths, { onProgress: (message, fraction) => progress.push([message, fraction]) });
	coldMs = Date.now() - started;
	console.log(`initLab (cold data, cached packages where present): ${coldMs} ms`);
}, 600_000);

afterAll(async () => {
	if (root) await removeTree(root);
});

async function manifests(destination: string): Promise<Array<{ dir: string; manifest: RestorePointManifest }>> {
	const files = (await listFiles(destination)).filter((file) => path.basename(file) === 'restore-point.json');
	return Promise.all(
		files.map(async (file) => ({ dir: path.dirname(file), manifest: restorePointSchema.parse(JSON.parse(await fs.readFile(file, 'utf8'))) })),
	);
}

describe('initLab', () => {
	it('builds a destination of valid restore points with the required shape', async () => {
		const lab = labPaths(paths);
		expect(summary.destination).toBe(lab.destination);
		expect(summary.vms).toEqual(['web01', 'db01', 'files01']);
		expect(summary.warnings).toEqual([]);
		const points = await manifests(lab.destination);
		expect(points).toHaveLength(summary.restorePoints);
		const byVm = new Map<string, RestorePointManifest[]>();
		for (const { dir, manifest } of points) {
			// Layout: <destination>/<vm>/<id>/restore-point.json
			expect(path.relative(lab.destination, dir)).toBe(path.join(manifest.vm.name, manifest.id));
			byVm.set(manifest.vm.name, [...(byVm.get(manifest.vm.name) ?? []), manifest]);
			for (const disk of manifest.disks) {
				const file = path.join(dir, disk.file);
				expect(path.dirname(file)).toBe(dir);
				const stat = await fs.stat(file);
				expect(stat.mode & 0o777).toBe(0o444);
				const info = await imageInfo(file);
				expect(info.format).toBe(disk.format);
				expect(info.virtualSize).toBe(disk.virtualSize);
				expect(info.backing).toBeNull();
			}
			expect((await fs.stat(path.join(dir, 'restore-point.json'))).mode & 0o777).toBe(0o444);
		}
		expect(byVm.size).toBeGreaterThanOrEqual(3);
		for (const list of byVm.values()) {
			expect(list.length).toBeGreaterThanOrEqual(2);
			// A VM keeps its id across restore points.
			expect(new Set(list.map((manifest) => manifest.vm.id)).size).toBe(1);
		}
		const all = [...byVm.values()].flat();
		expect(all.some((manifest) => manifest.disks.length === 2)).toBe(true);
		expect(all.some((manifest) => manifest.disks.every((disk) => disk.format === 'vhdx'))).toBe(true);
		expect(all.some((manifest) => manifest.disks.every((disk) => disk.format === 'qcow2'))).toBe(true);
		expect(all.find((manifest) => manifest.disks[0]?.format === 'qcow2')?.disks[0]?.virtualSize).toBe(64 * 2 ** 20);
	});

	it('makes each restore point distinguishable by its point.txt', async () => {
		for (const { dir, manifest } of await manifests(labPaths(paths).destination)) {
			for (const disk of manifest.disks) {
				const text = await readGuestFile(path.join(dir, disk.file), disk.format, 'point.txt');
				expect(text).toContain(`point=${manifest.id}`);
				expect(text).toContain(`vm=${manifest.vm.name}`);
			}
		}
	});

	it('defines stopped lab VMs on standalone production copies of the oldest restore point', async () => {
		const lab = labPaths(paths);
		for (const name of summary.vms) {
			const definition = await readDefinition(definitionPath(lab.vms, name));
			expect(definition).not.toBeNull();
			expect(definition?.runningFromBackup).toBeNull();
			expect(definition?.setAsideBy).toBeNull();
			const oldest = (await manifests(path.join(lab.destination, name))).map((entry) => entry.manifest).sort((a, b) => a.takenAt.localeCompare(b.takenAt))[0];
			expect(definition?.id).toBe(oldest?.vm.id);
			expect(definition?.disks).toHaveLength(oldest?.disks.length ?? -1);
			for (const [index, disk] of (definition?.disks ?? []).entries()) {
				expect(disk.format).toBe('qcow2');
				expect(disk.path).toBe(path.join(lab.production, name, `disk${index}.qcow2`));
				const info = await imageInfo(disk.path);
				expect(info.backing).toBeNull();
				expect(await readGuestFile(disk.path, 'qcow2', 'point.txt')).toContain(`point=${oldest?.id}`);
			}
		}
	});

	it('reports progress through every stage', () => {
		const messages = progress.map(([message]) => message);
		for (const stage of ['Downloading packages', 'Building initrd and guest image', 'Writing restore points', 'Creating lab VMs']) expect(messages).toContain(stage);
		const fractions = progress.map(([, fraction]) => fraction).filter((fraction): fraction is number => fraction !== undefined);
		expect(fractions.every((fraction) => fraction >= 0 && fraction <= 1)).toBe(true);
		expect(fractions.at(-1)).toBe(1);
	});

	it('is idempotent and does no work the second time', async () => {
		const lab = labPaths(paths);
		const before = await snapshotTree(lab.root);
		const started = Date.now();
		const messages: string[] = [];
		const again = await initLab(paths, { onProgress: (message) => messages.push(message) });
		// How fast is the benchmark's business (bench/); here: nothing is downloaded, built or written again.
		console.log(`initLab (warm): ${Date.now() - started} ms`);
		expect(messages.filter((message) => /^(Downloading (?!packages$)|Building (initrd|guest image|data disk)$|Writing restore point |Creating lab VM |Package lists)/.test(message))).toEqual([]);
		expect(messages).toContain('Guest image up to date');
		expect(again).toEqual(summary);
		expect(await snapshotTree(lab.root)).toEqual(before);
	});

	it('warns, and keeps the destination, when it was built from another guest image', async () => {
		const stamp = path.join(labPaths(paths).root, 'sample-build.json');
		const original = await fs.readFile(stamp, 'utf8');
		await fs.writeFile(stamp, JSON.stringify({ guestHash: '0000000000000000' }));
		try {
			const before = await snapshotTree(labPaths(paths).destination);
			const result = await initLab(paths);
			expect(result.warnings.join('\n')).toMatch(/older guest image.*--force/);
			expect(await snapshotTree(labPaths(paths).destination)).toEqual(before);
		} finally {
			await fs.writeFile(stamp, original);
		}
	});

	it('with force rebuilds, but leaves alone VMs a session is using', async () => {
		const lab = labPaths(paths);
		const web = await readDefinition(definitionPath(lab.vms, 'web01'));
		if (!web) throw new Error('web01 has no definition');
		await writeDefinition(definitionPath(lab.vms, 'web01'), { ...web, runningFromBackup: 'session-a' });
		const db = await readDefinition(definitionPath(lab.vms, 'db01'));
		if (!db) throw new Error('db01 has no definition');
		await fs.rename(definitionPath(lab.vms, 'db01'), definitionPath(lab.vms, 'db01~session-b'));
		await writeDefinition(definitionPath(lab.vms, 'db01~session-b'), { ...db, setAsideBy: 'session-b' });

		const protectedFiles = [...(await snapshotTree(lab.root))].filter(([file]) => /[/\\](web01|db01)[/\\~.]/.test(file));
		const expected = new Map(protectedFiles);
		const filesBefore = await snapshotTree(path.join(lab.destination, 'files01'));

		const forced = await initLab(paths, { force: true });
		expect(forced.warnings).toHaveLength(2);
		expect(forced.warnings.join('\n')).toMatch(/web01 left alone: .*running from backup/);
		expect(forced.warnings.join('\n')).toMatch(/db01 left alone: .*set aside/);
		const after = await snapshotTree(lab.root);
		for (const [file, state] of expected) expect(after.get(file), file).toBe(state);
		// files01 was rebuilt: same files, new mtimes.
		const filesAfter = await snapshotTree(path.join(lab.destination, 'files01'));
		expect([...filesAfter.keys()]).toEqual([...filesBefore.keys()]);
		for (const [file, state] of filesAfter) expect(state.split(' ')[0]).not.toBe(filesBefore.get(file)?.split(' ')[0]);
		expect(await readDefinition(definitionPath(lab.vms, 'db01'))).toBeNull();
		expect((await readDefinition(definitionPath(lab.vms, 'web01')))?.runningFromBackup).toBe('session-a');
	});
});
