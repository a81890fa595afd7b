// Issue 15's figures at real sizes, added to `npm run bench` (`-- --real-size-only` runs them
// alone): a 32 GiB backup holding 16 GiB of data, Run Direct against a full restore; the Debian
// guest to PostgreSQL answering; ten VMs started from one plan; four finalizes at once against
// one flushed `qemu-img convert`; and the console watching that site recovery at 80×24. Every
// figure comes from the real `rundirect` command (a child process, --json) on the lab host.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { type Accelerator, launch, powerOff, runtimeFiles } from '../source/hosts/lab/runtime.ts';
import { legacyHardware } from '../source/hosts/lab/hardware.ts';
import type { DrillReport } from '../source/drill/report.ts';
import { GUEST_MARKER } from '../source/qemu/lab-guest.ts';
import { evictFromCache, makePoint } from './guest-point.ts';
import { measureConsole, peakRss, writeFakeDestination, type RecordFigure } from './console.ts';
import { killLabQemus } from '../test/support/lab-env.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(REPO, 'bin', 'rundirect.js');
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const SITE_VMS = 10;
const START_ROUNDS = 3;
/** `npm run bench -- --real-size-only --parts site`: some of the parts only (big, debian, site). */
const PARTS = new Set((process.argv.find((arg, index) => process.argv[index - 1] === '--parts') ?? 'big,debian,site').split(','));
const COPIES = 4;
const COPY_DATA = 2 * GiB;

export interface RealSizeInput {
	root: string;
	guestImage: string;
	/** XDG_CACHE_HOME holding the lab guest, the accelerator verdict and the Debian image. */
	cacheHome: string;
	accel: Accelerator;
	record: RecordFigure;
}

type CliEnv = {
	XDG_STATE_HOME: string;
	XDG_DATA_HOME: string;
	XDG_CACHE_HOME: string;
	RUNDIRECT_HOST: string;
	RUNDIRECT_DESTINATION?: string;
};

interface Cli {
	env: CliEnv;
	run(args: string[], timeoutMs?: number): Promise<{ events: Array<Record<string, unknown>>; peakRss: number; ms: number }>;
	spawn(args: string[]): ResultPromise;
}

function cliIn(root: string, cacheHome: string, destination: string): Cli {
	const env: CliEnv = { XDG_STATE_HOME: path.join(root, 'state'), XDG_DATA_HOME: path.join(root, 'data'), XDG_CACHE_HOME: cacheHome, RUNDIRECT_HOST: 'lab', ...(destination ? { RUNDIRECT_DESTINATION: destination } : {}) };
	const spawn = (args: string[]) => execa(process.execPath, [CLI, ...args], { env, reject: false, stdin: 'ignore', timeout: 1_800_000 });
	return {
		env,
		spawn,
		async run(args) {
			const began = performance.now();
			const child = spawn(args);
			// VmHWM only grows: its last reading before the exit is the peak.
			let peak = 0;
			const sample = setInterval(() => {
				if (child.pid) void peakRss(child.pid).then((rss) => (peak = Math.max(peak, rss))).catch(() => undefined);
			}, 50);
			const result = await child.finally(() => clearInterval(sample));
			const events = ndjson(result.stdout);
			if (result.exitCode !== 0) throw new Error(`rundirect ${args.join(' ')} exited ${result.exitCode}: ${String(result.stderr).slice(-2000)}`);
			return { events, peakRss: peak, ms: performance.now() - began };
		},
	};
}

/** The records a command printed with --json. */
function ndjson(stdout: unknown): Array<Record<string, unknown>> {
	return String(stdout)
		.split('\n')
		.filter((line) => line.startsWith('{'))
		.map((line) => JSON.parse(line) as Record<string, unknown>);
}

function resultOf(events: Array<Record<string, unknown>>): Record<string, unknown> {
	const result = events.find((event) => event.type === 'result');
	if (!result) throw new Error(`no result in ${JSON.stringify(events).slice(0, 1000)}`);
	return result;
}

/** Polls the serial log for the first byte (the firmware runs: the vCPUs execute) and for the guest's marker. */
async function watchSerial(serialFile: string, since: number, timeoutMs: number): Promise<{ firstOutput: number; marker: number }> {
	let firstOutput = Number.NaN;
	while (performance.now() - since < timeoutMs) {
		const text = await fs.readFile(serialFile, 'latin1').catch(() => '');
		if (Number.isNaN(firstOutput) && text.length > 0) firstOutput = performance.now() - since;
		if (text.includes(GUEST_MARKER)) return { firstOutput, marker: performance.now() - since };
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
	throw new Error(`no guest marker in ${serialFile} after ${timeoutMs} ms`);
}

async function sitePlan(file: string, vms: string[], concurrency: number): Promise<void> {
	await fs.writeFile(file, JSON.stringify({ concurrency, timeoutSeconds: 600, vms: vms.map((vm) => ({ vm })) }));
}

interface Span {
	startedAt: string | null;
	endedAt: string | null;
}

/** Step 5's span of each finalized session, from `rundirect sessions --json`. */
async function copySpans(cli: Cli, vms: string[]): Promise<Span[]> {
	const { events } = await cli.run(['sessions', '--json']);
	const sessions = (events.find((event) => event.type === 'sessions')?.sessions ?? []) as Array<{ vm: string; state: string; steps: Array<{ id: string } & Span> }>;
	return vms.map((vm) => {
		const session = sessions.find((candidate) => candidate.vm === vm && candidate.state === 'finalized');
		const step = session?.steps.find((candidate) => candidate.id === 'copy-data');
		if (!step?.startedAt || !step.endedAt) throw new Error(`no finished step 5 for ${vm}`);
		return step;
	});
}

export async function realSizeBench({ root, guestImage, cacheHome, accel, record }: RealSizeInput): Promise<void> {
	const destination = path.join(root, 'real-destination');
	const cli = cliIn(root, cacheHome, destination);
	const run = path.join(cli.env.XDG_DATA_HOME, 'rundirect', 'lab', 'run');
	const started: number[] = [];
	try {
		if (PARTS.has('big')) await bigBackup({ root, destination, guestImage, cli, run, accel, record, started });
		if (PARTS.has('debian')) await debianBench(cli, record);
		if (PARTS.has('site')) await siteBench({ root, destination, guestImage, cli, record });
	} finally {
		for (const pid of started) {
			try {
				process.kill(pid, 'SIGKILL');
			} catch {
				// already gone
			}
		}
		await killLabQemus(run);
		await killLabQemus(path.join(root, 'run-full'));
	}
}

interface StartFigures {
	firstOutput: number;
	marker: number;
	proven: number;
}

interface BigInput {
	root: string;
	destination: string;
	guestImage: string;
	cli: Cli;
	run: string;
	accel: Accelerator;
	record: RecordFigure;
	/** QEMUs this part launched itself, for the caller to end. */
	started: number[];
}

/** A 32 GiB backup holding 16 GiB of data: Run Direct against the full restore. */
async function bigBackup({ root, destination, guestImage, cli, run, accel, record, started }: BigInput): Promise<void> {
	{
		console.error('Real sizes: writing a 32 GiB backup with 16 GiB of data (and a 1 GiB one)…');
		await makePoint(destination, 'small1g', guestImage, GiB, 0, 'raw');
		const big = await makePoint(destination, 'big32g', guestImage, 32 * GiB, 16 * GiB, 'raw');

		// Run Direct: `rundirect start`, timed to the guest's first serial output (its vCPUs run) and
		// its boot marker; the command itself returns once step 4 has watched it stay up. One
		// warm-up start first (page cache of node, QEMU and the guest's boot files), then medians.
		const runDirect = async (vm: string): Promise<StartFigures> => {
			await evictFromCache(path.join(destination, vm, 'p1', 'disk0.raw'));
			const began = performance.now();
			const child = cli.run(['start', vm, '--yes', '--json']);
			const serial = watchSerial(runtimeFiles(run, vm).serialFile, began, 120_000);
			const [{ events, ms }, seen] = await Promise.all([child, serial]);
			const session = String(resultOf(events).session);
			await cli.run(['stop', session, '--yes', '--json']);
			return { ...seen, proven: ms };
		};
		const medianOf = async (vm: string) => {
			const runs: StartFigures[] = [];
			for (let round = 0; round < START_ROUNDS; round++) runs.push(await runDirect(vm));
			const middle = (pick: (entry: StartFigures) => number) => runs.map(pick).sort((a, b) => a - b)[Math.floor(runs.length / 2)] ?? Number.NaN;
			return { firstOutput: middle((entry) => entry.firstOutput), marker: middle((entry) => entry.marker), proven: middle((entry) => entry.proven) };
		};
		await runDirect('small1g');
		const small = await medianOf('small1g');
		const large = await medianOf('big32g');
		record(`real size: \`rundirect start\` → guest runs (its first serial output), 1 GiB backup; median of ${START_ROUNDS}`, `${small.firstOutput.toFixed(0)} ms`);
		record(`real size: \`rundirect start\` → guest runs, 32 GiB backup with 16 GiB of data; median of ${START_ROUNDS}`, `${large.firstOutput.toFixed(0)} ms`, '< 1000 ms', large.firstOutput < 1000);
		record('real size: time to running, 32 GiB / 1 GiB', (large.firstOutput / small.firstOutput).toFixed(2), '≤ 1.3', large.firstOutput / small.firstOutput <= 1.3);
		record('real size: `rundirect start` returns (step 4 proven, ≥ 1 s watched), 1 GiB / 32 GiB', `${small.proven.toFixed(0)} / ${large.proven.toFixed(0)} ms`);
		record('real size: Run Direct → guest ready (boot marker), 1 GiB / 32 GiB', `${small.marker.toFixed(0)} / ${large.marker.toFixed(0)} ms`);

		// The full restore an administrator would otherwise do: copy every byte (flushed), then boot.
		await evictFromCache(big);
		const target = path.join(root, 'big32g-full.qcow2');
		const began = performance.now();
		await execa('qemu-img', ['convert', '-t', 'writeback', '-f', 'raw', '-O', 'qcow2', big, target]);
		const copied = performance.now() - began;
		const { pid, files } = await launch(path.join(root, 'run-full'), { name: 'big32g-full', memoryMiB: 256, hardware: legacyHardware(1, 1), accel, disks: [{ index: 0, kind: 'production', path: target, format: 'qcow2' }], network: 'user' });
		started.push(pid);
		const full = await watchSerial(files.serialFile, began, 120_000);
		await powerOff(files, null);
		await fs.rm(target);
		record('real size: full restore (flushed copy of 16 GiB of data, then boot) → guest runs', `${(full.firstOutput / 1000).toFixed(1)} s (copy ${(copied / 1000).toFixed(1)} s)`);
		record('real size: full restore → guest runs ÷ Run Direct → guest runs, 16 GiB of data', `${(full.firstOutput / large.firstOutput).toFixed(0)} ×`, '≥ 15 ×', full.firstOutput / large.firstOutput >= 15);
		record('real size: full restore → guest ready (boot marker), 16 GiB of data', `${(full.marker / 1000).toFixed(1)} s (Run Direct ${(large.marker / 1000).toFixed(1)} s)`);
		await fs.rm(path.join(destination, 'big32g'), { recursive: true, force: true });
		await fs.rm(path.join(destination, 'small1g'), { recursive: true, force: true });
	}
}

/** The Debian guest (where it can be built: root, debootstrap) from `rundirect drill` to `pg_isready` answering. */
async function debianBench(cli: Cli, record: RecordFigure): Promise<void> {
	if (process.getuid?.() !== 0) {
		record('real size: Debian guest → PostgreSQL answering', 'not measured: building the Debian guest needs root');
		return;
	}
	console.error('Real sizes: the Debian guest (lab init --with-debian; built once, then cached)…');
	// Its own lab (the sample destination with pg01 and pg02), beside the bench's.
	const debian = cliIn(path.join(path.dirname(cli.env.XDG_STATE_HOME), 'debian'), cli.env.XDG_CACHE_HOME, '');
	const env = debian.env;
	const init = await debian.spawn(['lab', 'init', '--with-debian', '--json']);
	if (init.exitCode !== 0) throw new Error(`lab init --with-debian failed: ${String(init.stderr).slice(-2000)}`);
	// A drill that fails is a figure too (its outcome in the row), so not cli.run, which throws on it.
	const events = ndjson((await debian.spawn(['drill', 'pg01', 'pg02', '--check', 'pg_isready', '--timeout', '600', '--json'])).stdout);
	const vms = (resultOf(events).vms ?? []) as Array<{ vm: string; outcome: string; timeToRunningMs: number | null; timeToProofMs: number | null; timeToReadyMs: number | null }>;
	const s = (ms: number | null) => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);
	for (const vm of vms) record(`real size: Debian ${vm.vm} drill → running / guest agent answers / pg_isready answers (${vm.outcome})`, `${s(vm.timeToRunningMs)} / ${s(vm.timeToProofMs)} / ${s(vm.timeToReadyMs)}`);
	await killLabQemus(path.join(env.XDG_DATA_HOME, 'rundirect', 'lab', 'run'));
	await fs.rm(path.dirname(env.XDG_STATE_HOME), { recursive: true, force: true });
}

interface SiteInput {
	root: string;
	destination: string;
	guestImage: string;
	cli: Cli;
	record: RecordFigure;
}

/** Ten VMs from one plan, four finalizes at once, and the console watching them. */
async function siteBench({ root, destination, guestImage, cli, record }: SiteInput): Promise<void> {
	console.error(`Real sizes: ${SITE_VMS} VMs (${COPIES} with ${COPY_DATA / GiB} GiB of data) and 9,991 other restore points…`);
	const vms = Array.from({ length: SITE_VMS }, (_, index) => `site${String(index + 1).padStart(2, '0')}`);
	const copying = vms.slice(0, COPIES);
	for (const vm of vms) await makePoint(destination, vm, guestImage, copying.includes(vm) ? 4 * GiB : GiB, copying.includes(vm) ? COPY_DATA : 0, copying.includes(vm) ? 'raw' : 'qcow2');
	// 10,001 restore points in all, as the console's targets name.
	await writeFakeDestination(destination, 10_001 - SITE_VMS, 10);

	const one = path.join(root, 'one.json');
	const all = path.join(root, 'site.json');
	const four = path.join(root, 'four.json');
	await sitePlan(one, [vms[SITE_VMS - 1] ?? ''], 1);
	await sitePlan(all, vms, SITE_VMS);
	await sitePlan(four, copying, COPIES);

	const alone = await cli.run(['start', '--plan', one, '--yes', '--json']);
	const aloneReport = await reportOf(alone.events);
	const aloneMs = aloneReport.allRunningMs;
	await cli.run(['stop', aloneReport.vms[0]?.session ?? '', '--yes', '--json']);
	const site = await cli.run(['start', '--plan', all, '--yes', '--json']);
	const siteReport = await reportOf(site.events);
	const siteMs = siteReport.allRunningMs;
	if (process.env.RD_BENCH_VERBOSE) for (const vm of siteReport.vms) console.error(`    ${vm.vm}: started +${Date.parse(vm.startedAt ?? '') - Date.parse(siteReport.startedAt)} ms, running after ${vm.timeToRunningMs} ms`);
	record(`site recovery: one VM from a plan → running (proven)`, `${(aloneMs / 1000).toFixed(2)} s`);
	record(`site recovery: ${SITE_VMS} VMs from one plan → all running (proven)`, `${(siteMs / 1000).toFixed(2)} s (${(siteMs / aloneMs).toFixed(2)} × one)`, '≤ 2 × one VM', siteMs <= 2 * aloneMs);
	record(`site recovery: controller (start --plan) peak RSS, ${SITE_VMS} sessions`, `${(site.peakRss / MiB).toFixed(0)} MiB`, '< 200 MB', site.peakRss < 200e6);

	// One flushed convert of one of those images: what a copy alone gets from this disk.
	const image = path.join(destination, copying[0] ?? '', 'p1', 'disk0.raw');
	await evictFromCache(image);
	const target = path.join(root, 'convert.qcow2');
	const convertBegan = performance.now();
	await execa('qemu-img', ['convert', '-t', 'writeback', '-f', 'raw', '-O', 'qcow2', image, target]);
	const convertMs = performance.now() - convertBegan;
	await fs.rm(target);

	// The four finalizes, with the console open on the same state at 80×24 while they copy.
	for (const vm of copying) await evictFromCache(path.join(destination, vm, 'p1', 'disk0.raw'));
	let copying4 = true;
	const finalize = cli.run(['finalize', '--plan', four, '--concurrency', String(COPIES), '--yes', '--json']).finally(() => (copying4 = false));
	const figures = await measureConsole({ env: cli.env, destination, columns: 80, rows: 24, listed: (screen) => screen.includes('10001') && screen.includes('site01'), busy: () => copying4 }).catch((error: unknown) => ({ error }));
	const finalized = await finalize;
	const spans = await copySpans(cli, copying);
	const first = Math.min(...spans.map((span) => Date.parse(span.startedAt ?? '')));
	const last = Math.max(...spans.map((span) => Date.parse(span.endedAt ?? '')));
	const aggregate = (COPIES * COPY_DATA) / MiB / ((last - first) / 1000);
	const single = COPY_DATA / MiB / (convertMs / 1000);
	record(`${COPIES} finalizes at once (finalize --plan): aggregate step 5 throughput, ${COPIES} × ${COPY_DATA / GiB} GiB`, `${aggregate.toFixed(0)} MiB/s (${((last - first) / 1000).toFixed(1)} s)`);
	record(`one flushed qemu-img convert -t writeback of one of them`, `${single.toFixed(0)} MiB/s (${(convertMs / 1000).toFixed(1)} s)`);
	record(`${COPIES} finalizes at once ÷ one flushed convert`, `${(aggregate / single).toFixed(2)} ×`, '≥ 0.8 ×', aggregate / single >= 0.8);
	record(`site recovery: controller (finalize --plan) peak RSS, ${COPIES} copies`, `${(finalized.peakRss / MiB).toFixed(0)} MiB`, '< 200 MB', finalized.peakRss < 200e6);
	if ('error' in figures) {
		record('console during the site recovery (80×24)', `not measured: ${String(figures.error).slice(0, 200)}`);
		return;
	}
	record('console during the site recovery: launch → first frame, first launch after a build (Node compiles the bundle)', `${figures.coldFirstFrameMs.toFixed(0)} ms`);
	record(`console during the site recovery (${SITE_VMS} live sessions, ${COPIES} copies, 10,001 restore points, 80×24): launch → first frame`, `${figures.firstFrameMs.toFixed(0)} ms`, '< 200 ms', figures.firstFrameMs < 200);
	record(`console during the site recovery: keypress → frame (${figures.latencies.length} presses while the copies ran)`, `p90 ${figures.p90.toFixed(0)} ms (median ${figures.median.toFixed(0)} ms)`, 'p90 < 50 ms', figures.p90 < 50);
	record('console during the site recovery: peak RSS', `${(figures.peakRss / MiB).toFixed(0)} MiB`, '< 120 MiB', figures.peakRss < 120 * MiB);
}

/** The site recovery's report.json, which the result record names. */
async function reportOf(events: Array<Record<string, unknown>>): Promise<Pick<DrillReport, 'allRunningMs' | 'vms' | 'startedAt'> & { allRunningMs: number }> {
	const report = JSON.parse(await fs.readFile(String(resultOf(events).report), 'utf8')) as DrillReport;
	if (report.outcome !== 'passed' || report.allRunningMs == null) throw new Error(`the site recovery did not pass: ${JSON.stringify(report.vms.map((vm) => [vm.vm, vm.outcome, vm.reason]))}`);
	return { ...report, allRunningMs: report.allRunningMs };
}
