// The bad input corpus: each case builds a backup destination (or arguments) that is broken
// in exactly one way, starting from a copy of a real sample restore point, and says what the
// CLI must answer: the exit code and a message naming the file and field or the exact problem.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { addPendingLog } from './vhdx-log.ts';

export interface CaseContext {
	/** This case's own folder (outside the lab's folders): holds `destination` and anything else it needs. */
	root: string;
	/** `<root>/destination`, created empty. */
	destination: string;
	/** The lab's sample destination (read only: cases copy from it). */
	sample: string;
	/** Copies the latest sample restore point of `vm` to `<destination>/<vm>/<id>` (files stay 0444); returns its folder. */
	copyPoint(vm: SampleName, options?: { as?: { vm?: string; id?: string } }): Promise<string>;
}

export type SampleName = 'web01' | 'db01' | 'files01';

export interface CaseRun {
	/** CLI arguments after the global `--destination <destination>` (added unless `destination` is false). */
	args: string[];
	destination?: boolean;
	exitCode: 2 | 3 | 4;
	/** Must match the CLI's stderr. */
	message: RegExp;
	/** For catalog-level defects: `backups --json` must list a problem for this file with this field and message. */
	catalog?: { file: string; field?: string; message: RegExp };
	/** Run the CLI as an unprivileged user, so file permissions apply. */
	unprivileged?: boolean;
	/** Undoes the permission change: the same destination must then read cleanly as the same user (the control). */
	undo?: () => Promise<void>;
}

export interface BadInputCase {
	name: string;
	category: string;
	setup(ctx: CaseContext): Promise<CaseRun>;
}

export const MANIFEST = 'restore-point.json';
const GiB = 2 ** 30;

/** The manifest as a plain object, for editing. */
type Json = Record<string, unknown> & { vm: Record<string, unknown>; disks: Array<Record<string, unknown>> };

async function writable<T>(file: string, change: () => Promise<T>): Promise<T> {
	await fs.chmod(file, 0o644);
	try {
		return await change();
	} finally {
		await fs.chmod(file, 0o444).catch(() => undefined);
	}
}

async function editManifest(dir: string, edit: (manifest: Json) => void): Promise<string> {
	const file = path.join(dir, MANIFEST);
	const manifest = JSON.parse(await fs.readFile(file, 'utf8')) as Json;
	edit(manifest);
	await writable(file, () => fs.writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`));
	return file;
}

async function writeManifestText(dir: string, text: string): Promise<string> {
	const file = path.join(dir, MANIFEST);
	await writable(file, () => fs.writeFile(file, text));
	return file;
}

function disk0(manifest: Json): Record<string, unknown> {
	const disk = manifest.disks[0];
	if (!disk) throw new Error('the sample manifest has no disk');
	return disk;
}

async function truncateTo(file: string, size: (current: number) => number): Promise<void> {
	const { size: current } = await fs.stat(file);
	await writable(file, () => fs.truncate(file, size(current)));
}

/** Escapes a string for use inside a RegExp. */
export function re(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A start of `vm` whose manifest is at fault: exit 2 naming the manifest and the field, and the same problem in `backups`. */
function manifestFault(manifestFile: string, field: string | undefined, message: RegExp, vm = 'web01'): CaseRun {
	const fieldPart = field ? ` \\(field ${re(field)}\\)` : '';
	return {
		args: ['start', vm, '--yes'],
		exitCode: 2,
		message: new RegExp(`${re(manifestFile)}${fieldPart}: (.*)?${message.source}`),
		catalog: { file: manifestFile, ...(field ? { field } : {}), message },
	};
}

const PATH_ESCAPE = /must not contain "\.\." \(disk files must stay inside the restore point folder\)/;

export const CASES: BadInputCase[] = [
	// ------------------------------------------------------------------ malformed JSON
	{
		name: 'manifest cut off in the middle (truncated JSON)',
		category: 'malformed JSON',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const text = await fs.readFile(path.join(dir, MANIFEST), 'utf8');
			return manifestFault(await writeManifestText(dir, text.slice(0, Math.floor(text.length / 2))), undefined, /not valid JSON: /);
		},
	},
	{
		name: 'manifest is an empty file',
		category: 'malformed JSON',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await writeManifestText(dir, ''), undefined, /not valid JSON: Unexpected end of JSON input/);
		},
	},
	{
		name: 'manifest with a trailing comma and a comment (not JSON)',
		category: 'malformed JSON',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const text = await fs.readFile(path.join(dir, MANIFEST), 'utf8');
			return manifestFault(await writeManifestText(dir, `// exported by hand\n${text.replace(/\n}\s*$/, ',\n}\n')}`), undefined, /not valid JSON: /);
		},
	},
	{
		name: 'manifest is a JSON array, not an object',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await writeManifestText(dir, '[1, 2, 3]\n'), undefined, /Invalid input: expected object, received array/);
		},
	},
	{
		name: 'restore point folder without a manifest',
		category: 'missing file',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			await fs.rm(path.join(dir, MANIFEST));
			return manifestFault(path.join(dir, MANIFEST), undefined, /missing: every restore point folder needs a restore-point\.json/);
		},
	},
	// ------------------------------------------------------------------ schema violations
	{
		name: 'unsupported schemaVersion 2',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (m.schemaVersion = 2)), 'schemaVersion', /Invalid input: expected 1/);
		},
	},
	{
		name: 'unknown top-level key',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (m.postRestoreScript = 'rm -rf /')), undefined, /Unrecognized key: "postRestoreScript"/);
		},
	},
	{
		name: 'vm.cpus is a string',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (m.vm.cpus = 'two')), 'vm.cpus', /Invalid input: expected number, received string/);
		},
	},
	{
		name: 'takenAt is not a date',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (m.takenAt = 'yesterday')), 'takenAt', /Invalid ISO datetime/);
		},
	},
	{
		name: 'vm.id is not a UUID',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (m.vm.id = 'web01')), 'vm.id', /Invalid UUID/);
		},
	},
	{
		name: 'no disks',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (m.disks = [])), 'disks', /a restore point needs at least one disk/);
		},
	},
	{
		name: 'negative virtual size',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (disk0(m).virtualSize = -1)), 'disks.0.virtualSize', /Too small: expected number to be >0/);
		},
	},
	{
		name: 'unknown disk format (vmdk)',
		category: 'unknown format',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (disk0(m).format = 'vmdk')), 'disks.0.format', /Invalid option: expected one of "qcow2"\|"vhdx"/);
		},
	},
	{
		name: 'NIC MAC address with a PowerShell subexpression',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(
				await editManifest(dir, (m) => ((m.vm.nics as Array<Record<string, unknown>>)[0] = { switch: 'lab-isolated', mac: '$(Stop-Computer -Force)', vlan: null })),
				'vm.nics.0.mac',
				/must be a MAC address such as 00:15:5D:01:02:03/,
			);
		},
	},
	{
		name: 'manifest id differs from its folder name',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (m.id = '2020-01-01T0000Z')), 'id', /is "2020-01-01T0000Z" but the folder is named "[^"]+"/);
		},
	},
	{
		name: 'two disks in the same controller slot',
		category: 'schema violation',
		async setup(ctx) {
			const dir = await ctx.copyPoint('db01');
			const file = await editManifest(dir, (m) => {
				const second = m.disks[1];
				if (second) second.location = 0;
			});
			return manifestFault(file, 'disks.1.location', /controller slot virtio:0:0 is used by another disk/, 'db01');
		},
	},
	{
		name: 'VM name in the manifest with shell metacharacters',
		category: 'name with shell metacharacters',
		async setup(ctx) {
			const evil = 'web01;rm -rf ~';
			const dir = await ctx.copyPoint('web01', { as: { vm: evil } });
			const file = await editManifest(dir, (m) => (m.vm.name = evil));
			return { ...manifestFault(file, 'vm.name', /may contain only ASCII letters/), args: ['start', evil, '--yes'] };
		},
	},
	{
		name: 'restore point id with a PowerShell subexpression',
		category: 'name with PowerShell metacharacters',
		async setup(ctx) {
			const evil = '$(Restart-Computer)';
			const dir = await ctx.copyPoint('web01', { as: { id: evil } });
			return manifestFault(await editManifest(dir, (m) => (m.id = evil)), 'id', /may contain only ASCII letters/);
		},
	},
	// ------------------------------------------------------------------ disk paths escaping the restore point
	{
		name: 'disk path climbing out with ..',
		category: 'path escape',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (disk0(m).file = '../../../../../../etc/shadow')), 'disks.0.file', PATH_ESCAPE);
		},
	},
	{
		name: 'disk path with .. in the middle (sub/../../other point)',
		category: 'path escape',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (disk0(m).file = 'sub/../../2026-11-23T0100Z/disk0.qcow2')), 'disks.0.file', PATH_ESCAPE);
		},
	},
	{
		name: 'absolute disk path to another VM\'s backup',
		category: 'path escape',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const target = path.join(ctx.sample, 'db01', '2026-11-24T0200Z', 'disk0.qcow2');
			return manifestFault(await editManifest(dir, (m) => (disk0(m).file = target)), 'disks.0.file', /must be a path relative to the restore point folder, not an absolute path/);
		},
	},
	{
		name: 'Windows absolute disk path (C:\\…)',
		category: 'path escape',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (disk0(m).file = 'C:\\Backups\\web01\\disk0.qcow2')), 'disks.0.file', /not an absolute path/);
		},
	},
	{
		name: 'disk file is a symbolic link to a file outside the restore point',
		category: 'path escape',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const outside = path.join(ctx.root, 'outside.qcow2');
			await fs.copyFile(path.join(dir, 'disk0.qcow2'), outside);
			await fs.rm(path.join(dir, 'disk0.qcow2'));
			await fs.symlink(outside, path.join(dir, 'disk0.qcow2'));
			return manifestFault(path.join(dir, MANIFEST), 'disks.0.file', new RegExp(`resolves to ${re(outside)}, outside the restore point folder \\(a symbolic link\\?\\)`));
		},
	},
	{
		name: 'disk file inside a symbolically linked sub-folder leading outside',
		category: 'path escape',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const outside = path.join(ctx.root, 'outside');
			await fs.mkdir(outside);
			await fs.copyFile(path.join(dir, 'disk0.qcow2'), path.join(outside, 'disk0.qcow2'));
			await fs.symlink(outside, path.join(dir, 'disks'));
			const file = await editManifest(dir, (m) => (disk0(m).file = 'disks/disk0.qcow2'));
			return manifestFault(file, 'disks.0.file', new RegExp(`resolves to ${re(path.join(outside, 'disk0.qcow2'))}, outside the restore point folder`));
		},
	},
	{
		name: 'restore point folder is a symbolic link to a folder elsewhere',
		category: 'path escape',
		async setup(ctx) {
			const real = await ctx.copyPoint('web01');
			const elsewhere = path.join(ctx.root, 'elsewhere');
			await fs.rename(path.dirname(real), elsewhere);
			await fs.mkdir(path.join(ctx.destination, 'web01'));
			const link = path.join(ctx.destination, 'web01', path.basename(real));
			await fs.symlink(path.join(elsewhere, path.basename(real)), link);
			return {
				args: ['start', 'web01', '--yes'],
				exitCode: 2,
				message: new RegExp(`${re(link)}: is a symbolic link to a folder: restore points must be real folders inside the backup destination`),
				catalog: { file: link, message: /is a symbolic link to a folder/ },
			};
		},
	},
	{
		name: 'disk file name with a control character',
		category: 'control characters',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return manifestFault(await editManifest(dir, (m) => (disk0(m).file = 'disk0\u001b[2J.qcow2')), 'disks.0.file', /must not contain control characters/);
		},
	},
	// ------------------------------------------------------------------ missing, truncated, damaged disk files
	{
		name: 'disk file missing',
		category: 'missing disk file',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			await fs.rm(path.join(dir, 'disk0.qcow2'));
			return manifestFault(path.join(dir, MANIFEST), 'disks.0.file', new RegExp(`disk file ${re(path.join(dir, 'disk0.qcow2'))} does not exist`));
		},
	},
	{
		name: 'disk file is empty (0 bytes)',
		category: 'truncated disk file',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			await truncateTo(path.join(dir, 'disk0.qcow2'), () => 0);
			return manifestFault(path.join(dir, MANIFEST), 'disks.0.file', /disk0\.qcow2 is empty \(an incomplete backup\?\)/);
		},
	},
	{
		name: 'disk file is a folder',
		category: 'missing disk file',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			await fs.rm(path.join(dir, 'disk0.qcow2'));
			await fs.mkdir(path.join(dir, 'disk0.qcow2'));
			return manifestFault(path.join(dir, MANIFEST), 'disks.0.file', /disk0\.qcow2 is not a regular file/);
		},
	},
	{
		name: 'qcow2 disk truncated to half its size',
		category: 'truncated disk file',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const disk = path.join(dir, 'disk0.qcow2');
			await truncateTo(disk, (size) => Math.floor(size / 2));
			return { args: ['start', 'web01', '--yes'], exitCode: 3, message: new RegExp(`Backup disk ${re(disk)} is damaged: qemu-img check found \\d+ errors in its qcow2 metadata \\(a truncated or partly copied file\\?\\)`) };
		},
	},
	{
		name: 'qcow2 disk truncated inside its metadata (first 1000 bytes only)',
		category: 'truncated disk file',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const disk = path.join(dir, 'disk0.qcow2');
			await truncateTo(disk, () => 1000);
			return { args: ['start', 'web01', '--yes'], exitCode: 3, message: new RegExp(`Backup disk ${re(disk)} (is damaged: qemu-img check found|cannot be (opened read-only|checked) by qemu-img)`) };
		},
	},
	{
		name: 'VHDX disk truncated to half its size',
		category: 'truncated disk file',
		async setup(ctx) {
			const dir = await ctx.copyPoint('files01');
			const disk = path.join(dir, 'disk0.vhdx');
			await truncateTo(disk, (size) => Math.floor(size / 2));
			return { args: ['start', 'files01', '--yes'], exitCode: 3, message: new RegExp(`Backup disk ${re(disk)} cannot be opened read-only by qemu-img: .*points after end of file .* Image has probably been truncated`) };
		},
	},
	{
		name: 'VHDX with a non-empty log (not closed cleanly)',
		category: 'VHDX with a pending log',
		async setup(ctx) {
			const dir = await ctx.copyPoint('files01');
			const disk = path.join(dir, 'disk0.vhdx');
			await writable(disk, () => addPendingLog(disk));
			// Proof that the log is real: QEMU itself refuses the file read-only because of it.
			const probe = await execa('qemu-img', ['info', '-U', disk], { reject: false, timeout: 30_000 });
			if (!/contains a log that needs to be replayed/.test(String(probe.stderr))) throw new Error(`the crafted VHDX log is not recognised by QEMU: ${probe.stderr}`);
			return {
				args: ['start', 'files01', '--yes'],
				exitCode: 3,
				message: new RegExp(
					`Backup disk ${re(disk)} has a pending VHDX log: it was not closed cleanly, and QEMU cannot open it read-only\\. Do not repair the backup itself: copy it .*replay the log on the copy \\(qemu-img check -r all <folder>/disk0\\.vhdx\\)`,
				),
			};
		},
	},
	{
		name: 'virtual size in the manifest differs from the disk',
		category: 'virtual size mismatch',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			await editManifest(dir, (m) => (disk0(m).virtualSize = 2 * GiB));
			return { args: ['start', 'web01', '--yes'], exitCode: 3, message: /disk0\.qcow2 has a virtual size of 67108864 bytes, but the restore point says 2147483648: the restore point is inconsistent/ };
		},
	},
	{
		name: 'qcow2 disk declared as vhdx',
		category: 'unknown format',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			await editManifest(dir, (m) => (disk0(m).format = 'vhdx'));
			return { args: ['start', 'web01', '--yes'], exitCode: 3, message: /disk0\.qcow2 is qcow2, but the restore point says vhdx: the restore point is inconsistent/ };
		},
	},
	{
		name: 'disk file is not a disk image (text declared as qcow2)',
		category: 'unknown format',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const disk = path.join(dir, 'disk0.qcow2');
			await writable(disk, () => fs.writeFile(disk, 'this is not a disk image\n'.repeat(1000)));
			return { args: ['start', 'web01', '--yes'], exitCode: 3, message: /disk0\.qcow2 is raw, but the restore point says qcow2: the restore point is inconsistent/ };
		},
	},
	{
		name: 'qcow2 disk with a backing file outside the restore point',
		category: 'path escape',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const disk = path.join(dir, 'disk0.qcow2');
			const target = path.join(ctx.sample, 'db01', '2026-11-24T0200Z', 'disk0.qcow2');
			await fs.rm(disk);
			await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', target, '-F', 'qcow2', disk], { timeout: 30_000 });
			await fs.chmod(disk, 0o444);
			return { args: ['start', 'web01', '--yes'], exitCode: 3, message: new RegExp(`Backup disk ${re(disk)} refers to a backing file \\(${re(target)}\\): a restore point's disks must be self-contained`) };
		},
	},
	{
		name: 'qcow2 disk with an external data file outside the restore point',
		category: 'path escape',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const disk = path.join(dir, 'disk0.qcow2');
			const data = path.join(ctx.root, 'data.raw');
			await fs.rm(disk);
			await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${data}`, disk, '64M'], { timeout: 30_000 });
			await fs.chmod(disk, 0o444);
			return { args: ['start', 'web01', '--yes'], exitCode: 3, message: new RegExp(`Backup disk ${re(disk)} keeps its data in an external file \\(${re(data)}\\)`) };
		},
	},
	// ------------------------------------------------------------------ names
	...(
		[
			['shell metacharacters', 'name with shell metacharacters', 'web01; rm -rf / #', /may contain only ASCII letters/],
			['backticks and $()', 'name with shell metacharacters', 'web01`reboot`$(id)', /may contain only ASCII letters/],
			['a PowerShell subexpression', 'name with PowerShell metacharacters', "$(Remove-Item -Recurse -Force 'C:\\')", /may contain only ASCII letters/],
			['PowerShell quotes and a pipe', 'name with PowerShell metacharacters', "web01' | Stop-VM -Force; '", /may contain only ASCII letters/],
			['a newline', 'control characters', 'web01\nStop-Computer', /may contain only ASCII letters/],
			['an ANSI escape sequence', 'control characters', 'web01\u001b[2J\u0007', /may contain only ASCII letters/],
			['1,000 characters', '1,000-character name', 'w'.repeat(1000), /must be at most 64 characters/],
			['non-ASCII letters', 'non-ASCII name', 'wéb01-сервер-サーバー', /may contain only ASCII letters/],
			['a path (../)', 'path escape', '../../etc', /may contain only ASCII letters/],
			['nothing (empty)', 'schema violation', '', /must not be empty/],
		] as const
	).map(
		([what, category, name, message]): BadInputCase => ({
			name: `--name with ${what}`,
			category,
			async setup(ctx) {
				await ctx.copyPoint('web01');
				return { args: ['start', 'web01', '--name', name, '--yes'], exitCode: 2, message: new RegExp(`VM name ${re(JSON.stringify(name))} ${message.source}`) };
			},
		}),
	),
	{
		name: 'VM argument with a PowerShell subexpression and a newline',
		category: 'name with PowerShell metacharacters',
		async setup(ctx) {
			await ctx.copyPoint('web01');
			const vm = 'web01$(Stop-Computer)\n';
			return { args: ['start', vm, '--yes'], exitCode: 2, message: new RegExp(`VM name ${re(JSON.stringify(vm))} may contain only ASCII letters`) };
		},
	},
	{
		name: '--point climbing out of the VM folder',
		category: 'path escape',
		async setup(ctx) {
			await ctx.copyPoint('web01');
			return { args: ['start', 'web01', '--point', '../../db01/2026-11-24T0200Z', '--yes'], exitCode: 4, message: /web01 has no restore point \.\.\/\.\.\/db01\/2026-11-24T0200Z; it has: 2026-11-24T0100Z/ };
		},
	},
	// ------------------------------------------------------------------ destinations and locations
	{
		name: 'backup destination is a file',
		category: 'destination that is a file',
		async setup(ctx) {
			const file = path.join(ctx.root, 'destination.txt');
			await fs.writeFile(file, 'not a folder\n');
			return { args: ['--destination', file, 'start', 'web01', '--yes'], destination: false, exitCode: 2, message: new RegExp(`backup destination ${re(file)} is not a folder`) };
		},
	},
	{
		name: 'backup destination does not exist',
		category: 'missing file',
		async setup(ctx) {
			const missing = path.join(ctx.root, 'no-such-destination');
			return { args: ['--destination', missing, 'backups'], destination: false, exitCode: 2, message: new RegExp(`backup destination ${re(missing)} does not exist`) };
		},
	},
	{
		name: '--location is a file',
		category: 'destination that is a file',
		async setup(ctx) {
			await ctx.copyPoint('web01');
			const file = path.join(ctx.root, 'production.img');
			await fs.writeFile(file, 'a file, not a folder\n');
			return { args: ['start', 'web01', '--name', 'web01-test', '--location', file, '--yes'], exitCode: 3, message: new RegExp(`Production folder ${re(path.join(file, 'web01-test'))} cannot be created: ${re(file)} is a file, not a folder`) };
		},
	},
	{
		name: '--location below a file',
		category: 'destination that is a file',
		async setup(ctx) {
			await ctx.copyPoint('web01');
			const file = path.join(ctx.root, 'production.img');
			await fs.writeFile(file, 'a file, not a folder\n');
			const location = path.join(file, 'restores', 'today');
			return { args: ['start', 'web01', '--name', 'web01-test', '--location', location, '--yes'], exitCode: 3, message: new RegExp(`cannot be created: ${re(file)} is a file, not a folder`) };
		},
	},
	{
		name: '--location is a relative path',
		category: 'path escape',
		async setup(ctx) {
			await ctx.copyPoint('web01');
			return { args: ['start', 'web01', '--name', 'web01-test', '--location', '../restore', '--yes'], exitCode: 2, message: /location must be "original" or an absolute folder, not "\.\.\/restore"/ };
		},
	},
	{
		name: '--location inside the backup destination',
		category: 'path escape',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			return {
				args: ['start', 'web01', '--name', 'web01-test', '--location', path.dirname(dir), '--yes'],
				exitCode: 2,
				message: new RegExp(`location ${re(path.dirname(dir))} is inside the backup destination ${re(ctx.destination)}: production storage must be outside the backup`),
			};
		},
	},
	// ------------------------------------------------------------------ permissions (as an unprivileged user)
	{
		name: 'disk file unreadable (mode 000)',
		category: 'unreadable permissions',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const disk = path.join(dir, 'disk0.qcow2');
			await fs.chmod(disk, 0o000);
			return { ...manifestFault(path.join(dir, MANIFEST), 'disks.0.file', new RegExp(`${re(disk)} cannot be read: EACCES: permission denied`)), unprivileged: true, undo: () => fs.chmod(disk, 0o444) };
		},
	},
	{
		name: 'manifest unreadable (mode 000)',
		category: 'unreadable permissions',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			await fs.chmod(path.join(dir, MANIFEST), 0o000);
			return { ...manifestFault(path.join(dir, MANIFEST), undefined, /cannot be read: EACCES: permission denied/), unprivileged: true, undo: () => fs.chmod(path.join(dir, MANIFEST), 0o444) };
		},
	},
	{
		name: 'VM folder cannot be listed (mode 000)',
		category: 'unreadable permissions',
		async setup(ctx) {
			const dir = await ctx.copyPoint('web01');
			const vmDir = path.dirname(dir);
			await fs.chmod(vmDir, 0o000);
			return {
				args: ['start', 'web01', '--yes'],
				exitCode: 2,
				message: new RegExp(`${re(vmDir)}: cannot be listed: EACCES: permission denied`),
				catalog: { file: vmDir, message: /cannot be listed: EACCES/ },
				unprivileged: true,
				undo: () => fs.chmod(vmDir, 0o755),
			};
		},
	},
	{
		name: 'backup destination cannot be listed (mode 000)',
		category: 'unreadable permissions',
		async setup(ctx) {
			await ctx.copyPoint('web01');
			await fs.chmod(ctx.destination, 0o000);
			return { args: ['start', 'web01', '--yes'], exitCode: 2, message: new RegExp(`backup destination ${re(ctx.destination)} cannot be listed: EACCES: permission denied`), unprivileged: true, undo: () => fs.chmod(ctx.destination, 0o755) };
		},
	},
];
