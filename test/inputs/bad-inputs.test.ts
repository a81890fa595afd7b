// The bad input corpus, end to end: for each broken restore point, name or path the real CLI
// must refuse with a specific message and a 2/3/4 exit code, start no QEMU, and leave every
// file as it was (lab, journal and locks, and the broken destination itself: listing, modes
// and sha256 before and after).
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInitializedLabEnv, describeTree, sha256, snapshotTree, type CliResult, type LabEnv } from '../support/lab-env.ts';
import { recordReliability } from '../support/reliability.ts';
import { SAMPLE_VMS } from '../../source/lab-builder/sample.ts';
import { CASES, type BadInputCase, type CaseContext, type CaseRun } from './cases.ts';

/** The unprivileged user the permission cases run as (nobody on Debian). */
const NOBODY = 65534;
const CLI = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bin', 'rundirect.js');
const CLI_TIMEOUT_MS = 30_000;

let lab: LabEnv;
let labBefore: Record<string, string>;
let caseNumber = 0;

beforeAll(async () => {
	lab = await createInitializedLabEnv();
	// The permission cases run the CLI as nobody: it must be able to reach the lab's folders.
	await fs.chmod(lab.root, 0o711);
	labBefore = await snapshotTree(lab.paths.data);
}, 620_000);

afterAll(async () => {
	if (!lab) return;
	try {
		// A full, uncached checksum pass: the lab (sample backups included) is exactly as lab init left it.
		expect(await snapshotTree(lab.paths.data)).toEqual(labBefore);
	} finally {
		await lab.cleanup();
	}
});

// ---------------------------------------------------------------- snapshots

const hashCache = new Map<string, string>();

/**
 * Every entry under `dir` with its type, mode, size, mtime and (files) sha256. The sha256 is
 * recomputed whenever the inode's ctime, mtime or size moved (any write moves ctime, which no
 * one can set back), so the many snapshots of the same sample backups stay fast.
 */
async function fingerprint(dir: string): Promise<Record<string, string>> {
	return describeTree(dir, async (full, entry) => {
		const stat = await fs.lstat(full, { bigint: true });
		const meta = `${(stat.mode & 0o7777n).toString(8)} ${stat.size} ${stat.mtimeNs}`;
		if (entry.isSymbolicLink()) return `link ${await fs.readlink(full)}`;
		if (entry.isDirectory()) return `dir ${meta}`;
		if (!entry.isFile()) return `special ${meta}`;
		const key = `${full}\0${stat.ino}\0${stat.size}\0${stat.mtimeNs}\0${stat.ctimeNs}`;
		let sum = hashCache.get(key);
		if (sum === undefined) {
			sum = await sha256(full);
			hashCache.set(key, sum);
		}
		return `file ${meta} ${sum}`;
	});
}

async function snapshotAll(caseRoot: string): Promise<Record<string, Record<string, string>>> {
	return {
		lab: await fingerprint(lab.paths.data),
		state: await fingerprint(lab.paths.state),
		case: await fingerprint(caseRoot),
	};
}

// ---------------------------------------------------------------- running the CLI

function parseEvents(stdout: string): Array<Record<string, unknown>> {
	const events: Array<Record<string, unknown>> = [];
	for (const line of stdout.split('\n')) {
		if (!line.startsWith('{')) continue;
		try {
			events.push(JSON.parse(line) as Record<string, unknown>);
		} catch {
			// not a JSON line
		}
	}
	return events;
}

/** The real CLI as an unprivileged user: setpriv drops every privilege before Node starts. */
async function cliAsNobody(args: string[]): Promise<CliResult> {
	const result = await execa('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, CLI, ...args], {
		env: { ...lab.env, HOME: '/nonexistent' },
		extendEnv: false,
		reject: false,
		timeout: CLI_TIMEOUT_MS,
		stdin: 'ignore',
	});
	return { exitCode: result.exitCode, signal: result.signal, stdout: String(result.stdout), stderr: String(result.stderr), events: parseEvents(String(result.stdout)) };
}

function runCli(run: CaseRun, args: string[]): Promise<CliResult> {
	return run.unprivileged ? cliAsNobody(args) : lab.cli(args, { timeoutMs: CLI_TIMEOUT_MS });
}

interface BackupsEvent {
	points: Array<{ vm: string; id: string }>;
	problems: Array<{ file: string; field?: string; message: string }>;
}

function backupsOf(result: CliResult): BackupsEvent {
	const event = result.events.find((candidate) => candidate.type === 'backups');
	if (!event) throw new Error(`backups --json printed no backups record: ${result.stdout}\n${result.stderr}`);
	return event as unknown as BackupsEvent;
}

// ---------------------------------------------------------------- one case

async function caseContext(): Promise<CaseContext> {
	caseNumber += 1;
	const root = path.join(lab.root, 'cases', String(caseNumber).padStart(2, '0'));
	const destination = path.join(root, 'destination');
	await fs.mkdir(destination, { recursive: true, mode: 0o755 });
	await fs.chmod(path.dirname(root), 0o755);
	await fs.chmod(root, 0o755);
	const sample = lab.lab.destination;
	return {
		root,
		destination,
		sample,
		async copyPoint(vm, options = {}) {
			const latest = SAMPLE_VMS.find((candidate) => candidate.name === vm)?.points.at(-1);
			if (!latest) throw new Error(`no sample VM ${vm}`);
			const target = path.join(destination, options.as?.vm ?? vm, options.as?.id ?? latest.id);
			await fs.mkdir(path.dirname(target), { recursive: true });
			await fs.cp(path.join(sample, vm, latest.id), target, { recursive: true, preserveTimestamps: true });
			return target;
		},
	};
}

function firstLine(text: string): string {
	return text.replace(/^error: /, '').trim().slice(0, 600);
}

async function runCase(badInput: BadInputCase): Promise<void> {
	const ctx = await caseContext();
	const run = await badInput.setup(ctx);
	const args = run.destination === false ? run.args : ['--destination', ctx.destination, ...run.args];
	const before = await snapshotAll(ctx.root);

	const [result, listing] = await Promise.all([
		runCli(run, args),
		run.catalog ? runCli(run, ['--destination', ctx.destination, 'backups', '--json']) : Promise.resolve(null),
	]);
	const after = await snapshotAll(ctx.root);
	const pids = await lab.qemuPids();
	const unchanged = JSON.stringify(after) === JSON.stringify(before);
	await recordReliability({
		kind: 'bad-input',
		case: badInput.name,
		category: badInput.category,
		refused: result.exitCode !== 0 && result.exitCode !== 1 && result.exitCode !== undefined && unchanged && pids.length === 0,
		exitCode: result.exitCode ?? null,
		message: firstLine(result.stderr),
	});

	expect(result.stderr, result.stdout).toMatch(run.message);
	expect(result.exitCode, result.stderr).toBe(run.exitCode);
	expect(result.stderr).not.toMatch(/^\s+at .+\(.+:\d+:\d+\)$/m); // no stack trace
	expect(pids).toEqual([]);
	expect(after.lab).toEqual(before.lab);
	expect(after.state).toEqual(before.state);
	expect(after.case).toEqual(before.case);

	if (run.catalog && listing) {
		expect(listing.exitCode, listing.stderr).toBe(0);
		const { problems } = backupsOf(listing);
		const expected = run.catalog;
		const match = problems.find((problem) => problem.file === expected.file && problem.field === expected.field && expected.message.test(problem.message));
		expect(match, `no problem for ${expected.file} (field ${expected.field ?? '-'}) matching ${expected.message} in ${JSON.stringify(problems, null, 1)}`).toBeDefined();
	}

	if (run.undo) {
		// The control: with the permission restored, the same user reads the same destination cleanly,
		// so the refusal above came from the permission and nothing else.
		await run.undo();
		const control = await runCli(run, ['--destination', ctx.destination, 'backups', '--json']);
		expect(control.exitCode, control.stderr).toBe(0);
		const backups = backupsOf(control);
		expect(backups.problems).toEqual([]);
		expect(backups.points.map((point) => point.vm)).toEqual(['web01']);
	}
}

describe('bad input corpus: a clear error, and nothing changes', () => {
	it('has at least 30 distinct cases covering every category', () => {
		expect(new Set(CASES.map((badInput) => badInput.name)).size).toBe(CASES.length);
		expect(CASES.length).toBeGreaterThanOrEqual(30);
		const categories = new Set(CASES.map((badInput) => badInput.category));
		for (const category of [
			'malformed JSON',
			'schema violation',
			'path escape',
			'missing disk file',
			'truncated disk file',
			'VHDX with a pending log',
			'virtual size mismatch',
			'unknown format',
			'name with shell metacharacters',
			'name with PowerShell metacharacters',
			'control characters',
			'1,000-character name',
			'non-ASCII name',
			'destination that is a file',
			'unreadable permissions',
		]) {
			expect(categories, category).toContain(category);
		}
	});

	for (const badInput of CASES) {
		it(badInput.name, () => runCase(badInput), 60_000);
	}
});
