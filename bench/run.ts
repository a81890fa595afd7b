// `npm run bench`: Run Direct against the lab host, then the libvirt host (bench/libvirt.ts) on
// the same backups, measured in one run and printed as one table. Lab targets (issue 2): time
// to running independent of disk size (100 GiB / 1 GiB ≤ 1.3) and under 1 s to QMP running;
// step 5 ≥ 0.8× qemu-img convert; switch pause < 50 ms. `npm run bench -- --libvirt-only`
// measures the libvirt rows alone, `-- --real-size-only` issue 15's real sizes (real-size.ts).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { resolvePaths, labPaths, type Paths } from '../source/core/paths.ts';
import { initLab } from '../source/lab-builder/init.ts';
import { LabHost } from '../source/hosts/lab/driver.ts';
import { launch, powerOff, runtimeFiles } from '../source/hosts/lab/runtime.ts';
import { detectAccelerator } from '../source/hosts/lab/accel.ts';
import { legacyHardware } from '../source/hosts/lab/hardware.ts';
import { Engine, type EngineEvent } from '../source/restore/engine.ts';
import { GUEST_MARKER } from '../source/qemu/lab-guest.ts';
import { formatBytes } from '../source/core/format.ts';
import { consoleBench } from './console.ts';
import { libvirtBench } from './libvirt.ts';
import { realSizeBench } from './real-size.ts';
import { makePoint } from './guest-point.ts';
import { killLabQemus } from '../test/support/lab-env.ts';

const GiB = 2 ** 30;
const COPY_ROUNDS = 5;
const LIBVIRT_ONLY = process.argv.includes('--libvirt-only');
const REAL_SIZE_ONLY = process.argv.includes('--real-size-only');

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
const MiB = 2 ** 20;

interface Row {
	measure: string;
	value: string;
	target: string;
	verdict: string;
}
const rows: Row[] = [];
function record(measure: string, value: string, target = '', ok?: boolean): void {
	rows.push({ measure, value, target, verdict: ok === undefined ? '' : ok ? 'met' : 'MISSED' });
	console.error(`  ${measure}: ${value}`);
}

async function dropCaches(): Promise<void> {
	await execa('sync');
	await fs.writeFile('/proc/sys/vm/drop_caches', '3').catch(() => undefined);
}

async function waitForMarker(serialFile: string, timeoutMs: number): Promise<number> {
	const began = performance.now();
	while (performance.now() - began < timeoutMs) {
		const text = await fs.readFile(serialFile, 'utf8').catch(() => '');
		if (text.includes(GUEST_MARKER)) return performance.now();
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
	throw new Error(`no guest marker in ${serialFile} after ${timeoutMs} ms`);
}

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
	const began = performance.now();
	const value = await run();
	return { ms: performance.now() - began, value };
}

function printTable(accel: string): void {
	const widths = [0, 0, 0, 0];
	const table = [{ measure: 'measure', value: 'value', target: 'target', verdict: '' }, ...rows];
	for (const row of table) [row.measure, row.value, row.target, row.verdict].forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
	const line = (cells: string[]) => `| ${cells.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join(' | ')} |`;
	console.log(`\nrundirect bench — ${new Date().toISOString()}, ${os.cpus().length} CPUs, QEMU accelerator ${accel}\n`);
	console.log(line(['measure', 'value', 'target', '']));
	console.log(line(widths.map((width) => '-'.repeat(width))));
	for (const row of rows) console.log(line([row.measure, row.value, row.target, row.verdict]));
}

async function main(): Promise<void> {
	const root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-bench-'));
	const shared = resolvePaths();
	const paths: Paths = { state: path.join(root, 'state'), data: path.join(root, 'data'), cache: shared.cache };
	const lab = labPaths(paths);
	const started: number[] = [];
	try {
		console.error('Preparing the lab (guest image from the cache)…');
		const summary = await initLab(paths);
		const accel = await detectAccelerator({ cacheDir: lab.cache, probeImage: summary.guestImage });
		const realSize = () => realSizeBench({ root, guestImage: summary.guestImage, cacheHome: path.dirname(shared.cache), accel: accel.accel, record });
		if (REAL_SIZE_ONLY) {
			await realSize();
			printTable(accel.accel);
			return;
		}
		const destination = path.join(root, 'destination');
		console.error('Writing benchmark backups (1 GiB, 100 GiB sparse, 4 GiB with 1 GiB of random data)…');
		await makePoint(destination, 'bench1g', summary.guestImage, GiB);
		await makePoint(destination, 'bench100g', summary.guestImage, 100 * GiB);
		const dataDisk = await makePoint(destination, 'benchdata', summary.guestImage, 4 * GiB, GiB);

		if (LIBVIRT_ONLY) {
			await libvirtBench({ root, destination, accel: accel.accel, dataDisk, record });
			printTable(accel.accel);
			return;
		}
		const host = new LabHost({ paths, accel: accel.accel });
		const engine = new Engine({ host, stateDir: paths.state, destination });
		const copyMs = new Map<string, number>();
		engine.on('event', (event: EngineEvent) => {
			if (event.type === 'step' && event.step === 'copy-data' && event.status === 'done' && event.durationMs !== null) copyMs.set(event.session, event.durationMs);
		});

		const runDirect = async (vm: string) => {
			const began = performance.now();
			const proposal = await engine.proposeStart({ vm });
			const session = await engine.beginStart(proposal);
			await engine.runPhase(session.id, 'start');
			const runningAt = performance.now();
			const files = runtimeFiles(lab.run, vm);
			const markerAt = await waitForMarker(files.serialFile, 120_000);
			return { session, toRunning: runningAt - began, toMarker: markerAt - began };
		};

		const startTimes: Record<string, { toRunning: number; toMarker: number }> = {};
		for (const vm of ['bench1g', 'bench100g']) {
			const result = await runDirect(vm);
			startTimes[vm] = result;
			await engine.runPhase(result.session.id, 'stop');
		}
		const small = startTimes.bench1g;
		const large = startTimes.bench100g;
		if (!small || !large) throw new Error('start measurements missing');
		record(`Run Direct start → QMP running, 1 GiB (${accel.accel})`, `${small.toRunning.toFixed(0)} ms`, '< 1000 ms', small.toRunning < 1000);
		record(`Run Direct start → QMP running, 100 GiB sparse`, `${large.toRunning.toFixed(0)} ms`, '< 1000 ms', large.toRunning < 1000);
		const ratio = large.toRunning / small.toRunning;
		record('time to running, 100 GiB / 1 GiB', ratio.toFixed(2), '≤ 1.3', ratio <= 1.3);
		record('Run Direct start → guest marker, 1 GiB', `${small.toMarker.toFixed(0)} ms`);
		record('Run Direct start → guest marker, 100 GiB sparse', `${large.toMarker.toFixed(0)} ms`);

		// The alternative: a full restore copies everything first, then boots.
		for (const [vm, label] of [['bench1g', '1 GiB sparse'], ['bench100g', '100 GiB sparse'], ['benchdata', '4 GiB with 1 GiB of data']] as const) {
			const backup = path.join(destination, vm, 'p1', 'disk0.qcow2');
			const target = path.join(root, `${vm}-full.qcow2`);
			await dropCaches();
			const began = performance.now();
			await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'qcow2', backup, target]);
			const { pid, files } = await launch(path.join(root, 'run-full'), { name: `${vm}-full`, memoryMiB: 256, hardware: legacyHardware(1, 1), accel: accel.accel, disks: [{ index: 0, kind: 'production', path: target, format: 'qcow2' }], network: 'user' });
			started.push(pid);
			const markerAt = await waitForMarker(files.serialFile, 120_000);
			await powerOff(files, null);
			record(`full restore (copy, then boot) → guest marker, ${label}`, `${(markerAt - began).toFixed(0)} ms`);
			await fs.rm(target);
		}
		const dataStart = await runDirect('benchdata');
		await engine.runPhase(dataStart.session.id, 'stop');
		record('Run Direct start → guest marker, 4 GiB with 1 GiB of data', `${dataStart.toMarker.toFixed(0)} ms`);

		// Step 5 throughput beside the tools an administrator would use. This disk's speed drifts
		// by 2× over minutes, so each round runs all four copies back to back (page cache dropped
		// before each) and the verdict is the median of the rounds' own ratios.
		const dataBytes = (await fs.stat(dataDisk)).size;
		const copies: number[] = [];
		const pauses: number[] = [];
		const converts: number[] = [];
		const durableConverts: number[] = [];
		const cps: number[] = [];
		const timeCopy = async (args: string[], target: string) => {
			await dropCaches();
			const { ms } = await timed(() => execa(args[0] ?? '', args.slice(1)));
			await fs.rm(target);
			return ms;
		};
		for (let round = 0; round < COPY_ROUNDS; round++) {
			const session = (await runDirect('benchdata')).session;
			await dropCaches();
			const finalized = await engine.runPhase(session.id, 'finalize');
			copies.push(copyMs.get(session.id) ?? Number.NaN);
			pauses.push(finalized.apply?.pauseMs ?? Number.NaN);
			await powerOff(runtimeFiles(lab.run, 'benchdata'), null);
			const convertTarget = path.join(root, 'convert.qcow2');
			converts.push(await timeCopy(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'qcow2', dataDisk, convertTarget], convertTarget));
			// qemu-img convert's default cache mode is "unsafe": it never flushes. Step 5 must (a crash
			// after it would otherwise lose copied data), so the like-for-like figure flushes too.
			durableConverts.push(await timeCopy(['qemu-img', 'convert', '-t', 'writeback', '-f', 'qcow2', '-O', 'qcow2', dataDisk, convertTarget], convertTarget));
			const cpTarget = path.join(root, 'cp.qcow2');
			cps.push(await timeCopy(['cp', '--sparse=always', dataDisk, cpTarget], cpTarget));
			console.error(`  round ${round + 1}: step 5 ${copies.at(-1)?.toFixed(0)} ms, convert ${converts.at(-1)?.toFixed(0)} ms, convert -t writeback ${durableConverts.at(-1)?.toFixed(0)} ms, cp ${cps.at(-1)?.toFixed(0)} ms`);
		}
		const mbps = (ms: number) => dataBytes / MiB / (ms / 1000);
		// Throughput ratio of one round: the other tool's time over step 5's.
		const ratios = (others: number[]) => others.map((other, round) => other / (copies[round] ?? Number.NaN));
		const formatRatios = (values: number[]) => values.map((value) => value.toFixed(2)).join(' ');
		const vsConvert = ratios(converts);
		const vsDurable = ratios(durableConverts);
		const step5 = median(copies);
		record(`step 5 copy (blockdev-backup) of ${formatBytes(dataBytes)}, guest running; median of ${COPY_ROUNDS}`, `${mbps(step5).toFixed(0)} MiB/s (${step5.toFixed(0)} ms)`);
		record(`qemu-img convert, same backup (default cache=unsafe: no flush); median of ${COPY_ROUNDS}`, `${mbps(median(converts)).toFixed(0)} MiB/s (${median(converts).toFixed(0)} ms)`);
		record(`step 5 ÷ qemu-img convert, median of the rounds (${formatRatios(vsConvert)})`, `${median(vsConvert).toFixed(2)} ×`, '≥ 0.8 ×', median(vsConvert) >= 0.8);
		record(`qemu-img convert -t writeback (flushed, as step 5 is); median of ${COPY_ROUNDS}`, `${mbps(median(durableConverts)).toFixed(0)} MiB/s (${median(durableConverts).toFixed(0)} ms)`);
		record(`step 5 ÷ qemu-img convert -t writeback, median of the rounds (${formatRatios(vsDurable)})`, `${median(vsDurable).toFixed(2)} ×`);
		record(`cp --sparse=always, same backup; median of ${COPY_ROUNDS}`, `${mbps(median(cps)).toFixed(0)} MiB/s (${median(cps).toFixed(0)} ms)`);
		const pause = Math.max(...pauses);
		record(`step 6 switch pause (stop → complete → cont), worst of ${COPY_ROUNDS}`, `${pause.toFixed(1)} ms`, '< 50 ms', pause < 50);
		await engine.close();
		await consoleBench({ root, guestImage: summary.guestImage, cacheHome: path.dirname(shared.cache), record });
		await libvirtBench({ root, destination, accel: accel.accel, dataDisk, record });
		await realSize();
		printTable(accel.accel);
	} finally {
		for (const pid of started) {
			try {
				process.kill(pid, 'SIGKILL');
			} catch {
				// already gone
			}
		}
		await killLabQemus(lab.run);
		await fs.rm(root, { recursive: true, force: true });
	}
}

await main();
