// The console's figures (issue 3), added to `npm run bench`: a destination of 1,000 VMs × 10
// restore points (tiny fake disks) plus one real lab-guest point with 1 GiB of data to copy;
// the real `rundirect` in a real terminal (tmux). Measures catalog read time, launch → first
// frame, keypress → frame while step 5 copies, and the console process's peak RSS.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { readCatalog } from '../source/catalog/catalog.ts';
import { openTerminal, type Terminal } from '../test/support/tmux.ts';
import { killLabQemus, processAlive, waitFor } from '../test/support/lab-env.ts';
import { makePoint } from './guest-point.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 2 ** 20;
/** How often, at the least, the screen is read while waiting for a frame (it is read at once when the console writes). */
const POLL_MS = 5;
const GiB = 2 ** 30;

export type RecordFigure = (measure: string, value: string, target?: string, ok?: boolean) => void;

export interface ConsoleBenchInput {
	/** A scratch folder, removed by the caller. */
	root: string;
	/** The lab guest disk (raw), for the one restore point that really boots. */
	guestImage: string;
	/** XDG_CACHE_HOME holding the built lab guest (the accelerator verdict is cached there). */
	cacheHome: string;
	record: RecordFigure;
}

/** `points` restore points of tiny fake disks, `perVm` per VM (the last VM takes what is left). */
export async function writeFakeDestination(destination: string, points: number, perVm: number): Promise<void> {
	const disk = { controller: 'virtio', controllerNumber: 0, location: 0, file: 'disk0.qcow2', format: 'qcow2', virtualSize: 64 * MiB };
	const writeVm = async (index: number): Promise<void> => {
		const vm = `vm${String(index).padStart(4, '0')}`;
		for (let point = 0; point < Math.min(perVm, points - index * perVm); point++) {
			const taken = new Date(Date.UTC(2026, 10, 24, 1) - point * 86_400_000).toISOString().replace('.000Z', 'Z');
			const id = `${taken.slice(0, 10)}T0100Z`;
			const dir = path.join(destination, vm, id);
			await fs.mkdir(dir, { recursive: true });
			await fs.writeFile(path.join(dir, 'disk0.qcow2'), 'fake disk');
			await fs.writeFile(path.join(dir, 'restore-point.json'), JSON.stringify({ schemaVersion: 1, id, takenAt: taken, vm: { name: vm, id: '0f8fad5b-d9cb-469f-a165-70867728950e', generation: 1, firmware: 'bios', cpus: 1, memoryMiB: 256, nics: [] }, disks: [disk] }));
		}
	};
	const vms = Math.ceil(points / perVm);
	for (let start = 0; start < vms; start += 50) await Promise.all(Array.from({ length: Math.min(50, vms - start) }, (_, offset) => writeVm(start + offset)));
}

export function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

export async function peakRss(pid: number): Promise<number> {
	const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
	const kib = Number.parseInt(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 'NaN', 10);
	return kib * 1024;
}

export async function consoleBench({ root, guestImage, cacheHome, record }: ConsoleBenchInput): Promise<void> {
	const destination = path.join(root, 'console-destination');
	console.error('Console: writing 1,000 VMs × 10 restore points and a 2 GiB point with 1 GiB of data…');
	await writeFakeDestination(destination, 10_000, 10);
	// The lab guest with 1 GiB of random data: step 5 takes a few seconds.
	await makePoint(destination, 'aaa-copy', guestImage, 2 * GiB, GiB);

	const reads: number[] = [];
	for (let run = 0; run < 3; run++) {
		const began = performance.now();
		const catalog = await readCatalog(destination);
		reads.push(performance.now() - began);
		if (catalog.points.length !== 10_001) throw new Error(`expected 10,001 restore points, read ${catalog.points.length}`);
	}
	record('catalog read, 10,001 restore points (median of 3)', `${percentile(reads, 0.5).toFixed(0)} ms`);

	const env = { XDG_STATE_HOME: path.join(root, 'console-state'), XDG_DATA_HOME: path.join(root, 'console-data'), XDG_CACHE_HOME: cacheHome, RUNDIRECT_HOST: 'lab' };
	try {
		const measured = await measureConsole({
			env,
			destination,
			columns: 100,
			rows: 30,
			listed: (screen) => screen.includes('1001 VMs · 10001 restore points') && screen.includes('aaa-copy'),
			// Start aaa-copy (first row), then finalize it: the keys are pressed while step 5 copies.
			async before(terminal) {
				await new Promise((resolve) => setTimeout(resolve, 300));
				await terminal.keys('Enter');
				await terminal.waitFor('the restore points of aaa-copy', (screen) => screen.includes('›▾ aaa-copy'));
				await terminal.keys('Down', 'Enter');
				await terminal.waitFor('the form', (screen) => screen.includes('Review what will happen'));
				await terminal.keys('Enter');
				await terminal.waitFor('the confirmation', (screen) => screen.includes('Start Run Direct of aaa-copy?'), 20_000);
				await terminal.type('y');
				await terminal.waitFor('aaa-copy running from backup', (screen) => /aaa-copy\s+running\s+4 start-vm ✔/.test(screen), 60_000);
				await terminal.keys('f');
				await terminal.waitFor('the finalize confirmation', (screen) => screen.includes('Finalize aaa-copy?'));
				await terminal.type('y');
				await terminal.waitFor('step 5 under way', (screen) => screen.includes('❯ 5. Copy the data'), 20_000);
				await terminal.keys('Tab', 'Tab');
				await terminal.waitFor('the backups pane focused', (screen) => screen.includes('▶ Backups'));
			},
			busy: (screen) => screen.includes('❯ 5. Copy the data'),
			after: (terminal) => terminal.waitFor('the finalize to end', (screen) => /aaa-copy\s+finalized/.test(screen), 120_000).then(() => undefined),
		});
		record('console: launch → first frame, first launch after a build (Node compiles the bundle)', `${measured.coldFirstFrameMs.toFixed(0)} ms`);
		record('console: launch → first frame (header and panes, 100×30, via tmux)', `${measured.firstFrameMs.toFixed(0)} ms`, '< 500 ms', measured.firstFrameMs < 500);
		record('console: launch → 10,001 restore points listed', `${measured.listedMs.toFixed(0)} ms`);
		// tmux adds its own round trips (send-keys, then capture-pane once the console writes): the figure is an upper bound.
		record(`console: keypress → frame while step 5 copies (median of ${measured.latencies.length}, via tmux)`, `${measured.median.toFixed(0)} ms (p90 ${measured.p90.toFixed(0)} ms)`, '< 50 ms', measured.median < 50);
		record('console: peak RSS (VmHWM) over the whole run', `${(measured.peakRss / MiB).toFixed(0)} MiB`, '< 150 MiB', measured.peakRss < 150 * MiB);
	} finally {
		// The finalized VM runs detached: end it by its pid file.
		await killLabQemus(path.join(env.XDG_DATA_HOME, 'rundirect', 'lab', 'run'));
	}
}

export interface ConsoleRun {
	env: Record<string, string>;
	destination: string;
	columns: number;
	rows: number;
	/** The screen once every restore point is listed. */
	listed: (screen: string) => boolean;
	/** What to do before the keys are pressed (the Backups pane must be focused after it). */
	before?: (terminal: Terminal) => Promise<void>;
	/** Keys are pressed (30 at most) while this holds. */
	busy: (screen: string) => boolean;
	/** What to wait for before the peak RSS is read. */
	after?: (terminal: Terminal) => Promise<void>;
}

export interface ConsoleFigures {
	/** The first launch after a build: Node compiles the bundle's chunks (then keeps them in its compile cache). */
	coldFirstFrameMs: number;
	firstFrameMs: number;
	listedMs: number;
	latencies: number[];
	median: number;
	p90: number;
	peakRss: number;
}

/** The real `rundirect` console in a real terminal (tmux): launch → first frame, keypress → frame, peak RSS. */
export async function measureConsole(run: ConsoleRun): Promise<ConsoleFigures> {
	// The launcher rebuilds its bundle when a source file has changed since the last run (a
	// developer's edit; an installed copy builds once): do that here, outside the measure.
	await execa(process.execPath, [path.join(REPO, 'bin', 'rundirect.js'), '--help'], { stdin: 'ignore' });
	// The same V8 flag as the launcher's shebang (the launcher sets the others itself).
	const open = () => openTerminal({ command: [process.execPath, '--max-semi-space-size=2', path.join(REPO, 'bin', 'rundirect.js'), '--destination', run.destination], cwd: REPO, env: run.env, columns: run.columns, rows: run.rows });
	// The first frame: the console's header and panes (still reading), not a splash. The screen is
	// read through one tmux control-mode client (test/support/tmux-control.ts): a tmux process per
	// read, every 5 ms, took most of a core from the console being measured.
	const firstFrameOf = (terminal: Terminal) => terminal.waitFor('the first frame', (screen) => screen.includes('rundirect │') && screen.includes('▶ Backups'), 20_000, POLL_MS).then(() => performance.now());
	// Once after a build Node compiles the chunks the console loads (--help loads none of them):
	// timed apart, as a user meets it once per install.
	const coldAt = performance.now();
	const cold = await open();
	const coldFirstFrameMs = (await firstFrameOf(cold)) - coldAt;
	// Ended (by its pid) before the measured launch: a console still quitting would share the CPU with it.
	const coldPid = await cold.panePid();
	await cold.kill();
	await waitFor('the first console to quit', 20_000, async () => ((await processAlive(coldPid)) ? undefined : true), 20).catch(() => process.kill(coldPid, 'SIGKILL'));
	const launchedAt = performance.now();
	const terminal = await open();
	try {
		const firstFrame = await firstFrameOf(terminal);
		// Where the launch's time went: on a CPU, or waiting in the run queue for one (a loaded machine).
		if (process.env.RD_BENCH_VERBOSE) {
			const [onCpu = 0, waiting = 0] = (await fs.readFile(`/proc/${await terminal.panePid()}/schedstat`, 'utf8')).split(' ').map(Number);
			console.error(`    console launch → first frame ${(firstFrame - launchedAt).toFixed(0)} ms: ${(onCpu / 1e6).toFixed(0)} ms on a CPU, ${(waiting / 1e6).toFixed(0)} ms waiting for one (by then)`);
		}
		await terminal.waitFor('the backups', run.listed, 30_000, POLL_MS);
		const listed = performance.now();
		await run.before?.(terminal);
		const latencies: number[] = [];
		// The Backups pane's title row: "▶ Backups … 12/10011 · ●10 in a session".
		const cursorRow = (screen: string) => /▶ Backups.*?(\d+)\/\d+/.exec(screen)?.[1] ?? '';
		for (let press = 0; press < 30; press++) {
			const before = await terminal.screen();
			if (!run.busy(before)) break;
			const row = cursorRow(before);
			const sent = performance.now();
			await terminal.keys(press % 2 === 0 ? 'j' : 'k');
			await terminal.waitFor('the cursor to move', (screen) => cursorRow(screen) !== row, 5_000, POLL_MS);
			latencies.push(performance.now() - sent);
		}
		if (latencies.length < 5) throw new Error(`the copies ended after ${latencies.length} keypresses: give them more data`);
		await run.after?.(terminal);
		return { coldFirstFrameMs, firstFrameMs: firstFrame - launchedAt, listedMs: listed - launchedAt, latencies, median: percentile(latencies, 0.5), p90: percentile(latencies, 0.9), peakRss: await peakRss(await terminal.panePid()) };
	} finally {
		await terminal.kill();
	}
}

// `npx tsx bench/console.ts`: these figures alone (npm run bench runs them after the others).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const os = await import('node:os');
	const { resolvePaths } = await import('../source/core/paths.ts');
	const { initLab } = await import('../source/lab-builder/init.ts');
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-bench-console-'));
	const shared = resolvePaths();
	try {
		const summary = await initLab({ state: path.join(root, 'state'), data: path.join(root, 'data'), cache: shared.cache });
		const rows: string[][] = [];
		await consoleBench({ root, guestImage: summary.guestImage, cacheHome: path.dirname(shared.cache), record: (measure, value, target = '', ok) => rows.push([measure, value, target, ok === undefined ? '' : ok ? 'met' : 'MISSED']) });
		for (const row of rows) console.log(`| ${row.join(' | ')} |`);
	} finally {
		await fs.rm(root, { recursive: true, force: true });
	}
}
