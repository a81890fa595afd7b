import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCatalog, readRestorePoint, RestorePointError, CatalogError } from '../../source/catalog/catalog.ts';

let root: string;

function manifest(vm: string, id: string, overrides: Record<string, unknown> = {}) {
	return {
		schemaVersion: 1,
		id,
		takenAt: '2026-11-24T01:00:00Z',
		vm: { name: vm, id: '1b4e28ba-2fa1-41d2-883f-0016d3cca427', generation: 2, firmware: 'uefi', cpus: 1, memoryMiB: 256, nics: [{ switch: 'lab', mac: null, vlan: null }] },
		disks: [{ controller: 'virtio', controllerNumber: 0, location: 0, file: 'disk0.qcow2', format: 'qcow2', virtualSize: 1048576 }],
		...overrides,
	};
}

async function writePoint(vm: string, id: string, content: unknown, files: Record<string, string> = { 'disk0.qcow2': 'data' }) {
	const dir = path.join(root, vm, id);
	await fs.mkdir(dir, { recursive: true });
	await fs.writeFile(path.join(dir, 'restore-point.json'), typeof content === 'string' ? content : JSON.stringify(content));
	for (const [name, data] of Object.entries(files)) await fs.writeFile(path.join(dir, name), data);
	return dir;
}

beforeEach(async () => {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-cat-'));
});
afterEach(async () => {
	await fs.rm(root, { recursive: true, force: true });
});

describe('catalog', () => {
	it('lists healthy restore points newest first and reports broken ones without hiding the rest', async () => {
		await writePoint('web01', 'p1', manifest('web01', 'p1'));
		await writePoint('web01', 'p2', manifest('web01', 'p2', { takenAt: '2026-11-25T01:00:00Z' }));
		await writePoint('db01', 'p1', '{ not json');
		const catalog = await readCatalog(root);
		expect(catalog.points.map((point) => `${point.vm}/${point.id}`)).toEqual(['web01/p2', 'web01/p1']);
		expect(catalog.problems).toHaveLength(1);
		expect(catalog.problems[0]?.file).toBe(path.join(root, 'db01', 'p1', 'restore-point.json'));
		expect(catalog.problems[0]?.message).toMatch(/not valid JSON/);
	});

	it('names the file and the field of a schema violation', async () => {
		const dir = await writePoint('web01', 'p1', manifest('web01', 'p1', { vm: { ...manifest('web01', 'p1').vm, cpus: 0 } }));
		const error = await readRestorePoint(dir).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(RestorePointError);
		expect((error as RestorePointError).problems).toContainEqual(expect.objectContaining({ file: path.join(dir, 'restore-point.json'), field: 'vm.cpus' }));
	});

	it.each([
		['a parent path', '../escape.qcow2', /"\.\."/],
		['an absolute path', '/etc/passwd', /absolute/],
		['a Windows absolute path', 'C:\\backups\\disk.vhdx', /absolute/],
		['a missing file', 'missing.qcow2', /does not exist/],
	])('refuses a disk file given as %s', async (_label, file, pattern) => {
		const dir = await writePoint('web01', 'p1', manifest('web01', 'p1', { disks: [{ controller: 'virtio', controllerNumber: 0, location: 0, file, format: 'qcow2', virtualSize: 1048576 }] }));
		const error = (await readRestorePoint(dir).catch((caught: unknown) => caught)) as RestorePointError;
		expect(error.problems[0]?.field).toBe('disks.0.file');
		expect(error.problems[0]?.message).toMatch(pattern);
	});

	it('reads the VM configuration a restore point keeps, proven inside its folder', async () => {
		const dir = await writePoint('web01', 'p1', manifest('web01', 'p1', { config: { file: 'config/Virtual Machines/VM.vmcx' } }));
		await fs.mkdir(path.join(dir, 'config', 'Virtual Machines'), { recursive: true });
		await fs.writeFile(path.join(dir, 'config', 'Virtual Machines', 'VM.vmcx'), 'configuration');
		expect((await readRestorePoint(dir)).configFile).toBe(path.join(dir, 'config', 'Virtual Machines', 'VM.vmcx'));
		expect((await readRestorePoint(await writePoint('web01', 'p2', manifest('web01', 'p2')))).configFile).toBeNull();
	});

	it.each([
		['a parent path', '../VM.vmcx', /"\.\."/],
		['a missing file', 'config/VM.vmcx', /does not exist/],
		['a folder', 'config', /not a regular file/],
	])('refuses a configuration file given as %s', async (_label, file, pattern) => {
		const dir = await writePoint('web01', 'p1', manifest('web01', 'p1', { config: { file } }));
		if (file === 'config') await fs.mkdir(path.join(dir, 'config'));
		const error = (await readRestorePoint(dir).catch((caught: unknown) => caught)) as RestorePointError;
		expect(error.problems.map((problem) => problem.field)).toEqual(['config.file']);
		expect(error.problems[0]?.message).toMatch(pattern);
	});

	it('refuses a disk that is a symbolic link leading outside the restore point', async () => {
		const outside = path.join(root, 'outside.qcow2');
		await fs.writeFile(outside, 'secret');
		const dir = await writePoint('web01', 'p1', manifest('web01', 'p1'), {});
		await fs.symlink(outside, path.join(dir, 'disk0.qcow2'));
		const error = (await readRestorePoint(dir).catch((caught: unknown) => caught)) as RestorePointError;
		expect(error.problems[0]?.message).toMatch(/outside the restore point folder/);
	});

	it('refuses an empty disk file and a manifest whose names disagree with its folders', async () => {
		const dir = await writePoint('web01', 'p1', manifest('db01', 'p9'), { 'disk0.qcow2': '' });
		const error = (await readRestorePoint(dir).catch((caught: unknown) => caught)) as RestorePointError;
		const fields = error.problems.map((problem) => problem.field);
		expect(fields).toEqual(expect.arrayContaining(['id', 'vm.name', 'disks.0.file']));
		expect(error.message).toMatch(/is empty/);
	});

	it('gives a clear error for a destination that is missing or is a file', async () => {
		await expect(readCatalog(path.join(root, 'nope'))).rejects.toThrow(CatalogError);
		await fs.writeFile(path.join(root, 'file'), 'x');
		await expect(readCatalog(path.join(root, 'file'))).rejects.toThrow(/is not a folder/);
	});
});
