// Starting step 5's copy job, and waiting for QEMU block jobs by polling query-jobs. Polling
// (not events) because events sent while no controller was connected are lost: the job's
// state must always be re-read. A job's status-change event only wakes the poll early, so a
// finished job is seen at once.
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { QmpError, type QmpClient, type QmpEvent } from './qmp.ts';
import { LabError } from './errors.ts';
import { QEMU_IMG } from '../../qemu/qemu-img.ts';

export interface QemuJob {
	id: string;
	type: string;
	status: string;
	'current-progress': number;
	'total-progress': number;
	error?: string;
}

/**
 * Starts step 5's blockdev-backup with the copy offloaded to the kernel (copy_file_range)
 * instead of QEMU's 1 MiB read/write buffers: a 1 GiB step 5 went from 1.26 s to 1.04–1.19 s
 * here (README "Measured"). Block-copy falls back to read/write by itself where the kernel
 * cannot offload. `x-perf` is QEMU's unstable tuning knob, so a QEMU that does not know it gets
 * the plain job instead of an error.
 */
export async function startFullCopy(qmp: QmpClient, args: Record<string, unknown>, perf: Record<string, unknown> = {}): Promise<void> {
	try {
		await qmp.execute('blockdev-backup', { ...args, 'x-perf': { 'use-copy-range': true, ...perf } });
	} catch (error) {
		if (!(error instanceof QmpError && /x-perf|use-copy-range|max-chunk|max-workers/.test(error.desc))) throw error;
		await qmp.execute('blockdev-backup', args);
	}
}

export async function queryJobs(qmp: QmpClient): Promise<QemuJob[]> {
	return qmp.execute<QemuJob[]>('query-jobs');
}

export interface WaitJobsOptions {
	/** 'ready' (mirror) or 'concluded'. A job that concludes while waiting for ready ends the wait too. */
	until: 'ready' | 'concluded';
	/** Awaited before the next poll (it may steer the jobs). */
	onPoll?: (jobs: Map<string, QemuJob>) => void | Promise<void>;
	signal?: AbortSignal;
	/** Fail when nothing moved (no progress, no status change) for this long. */
	stallMs?: number;
	intervalMs?: number;
}

/** Polls until every job in `ids` reached `until`; returns their last state. */
export async function waitJobs(qmp: QmpClient, ids: string[], options: WaitJobsOptions): Promise<Map<string, QemuJob>> {
	const intervalMs = options.intervalMs ?? 200;
	const stallMs = options.stallMs ?? 5 * 60_000;
	let lastSignature = '';
	let lastChange = Date.now();
	while (true) {
		options.signal?.throwIfAborted();
		const all = await queryJobs(qmp);
		const jobs = new Map(all.filter((job) => ids.includes(job.id)).map((job) => [job.id, job]));
		const missing = ids.filter((id) => !jobs.has(id));
		if (missing.length > 0) throw new LabError('JOB_DISAPPEARED', `QEMU block job ${missing.join(', ')} disappeared`);
		await options.onPoll?.(jobs);
		const reached = [...jobs.values()].every((job) => job.status === 'concluded' || (options.until === 'ready' && job.status === 'ready'));
		if (reached) return jobs;
		const signature = [...jobs.values()].map((job) => `${job.status}:${job['current-progress']}:${job['total-progress']}`).join('|');
		// A job the operator paused is not stalled.
		if (signature !== lastSignature || [...jobs.values()].some((job) => job.status === 'paused')) {
			lastSignature = signature;
			lastChange = Date.now();
		} else if (Date.now() - lastChange > stallMs) {
			throw new LabError('JOB_STALLED', `QEMU block job(s) ${ids.join(', ')} made no progress for ${Math.round(stallMs / 1000)} s (${signature})`);
		}
		await nextPoll(qmp, ids, intervalMs, options.signal);
	}
}

/** Sleeps for `intervalMs`, or less when one of the jobs changes status. */
async function nextPoll(qmp: QmpClient, ids: string[], intervalMs: number, signal: AbortSignal | undefined): Promise<void> {
	const wake = new AbortController();
	const onEvent = (event: QmpEvent) => {
		const id = (event.data as { id?: unknown } | undefined)?.id;
		if (event.event === 'JOB_STATUS_CHANGE' && typeof id === 'string' && ids.includes(id)) wake.abort();
	};
	qmp.on('event', onEvent);
	try {
		await sleep(intervalMs, undefined, { signal: signal ? AbortSignal.any([signal, wake.signal]) : wake.signal });
	} catch (error) {
		signal?.throwIfAborted();
		if (!wake.signal.aborted) throw error;
	} finally {
		qmp.off('event', onEvent);
	}
}

/** Where a backup disk holds data (qemu-img map): a copy's rate limit counts these bytes, not the zeros between. */
export interface DataMap {
	/** Data extents, in offset order. */
	extents: Array<{ start: number; length: number }>;
	dataBytes: number;
}

export async function dataMap(file: string, format: string): Promise<DataMap> {
	const { stdout } = await execa(QEMU_IMG, ['map', '--output=json', '-U', '-f', format, file], { timeout: 60_000 });
	const entries = JSON.parse(stdout) as Array<{ start: number; length: number; data: boolean; zero: boolean }>;
	const extents = entries.filter((entry) => entry.data && !entry.zero).map(({ start, length }) => ({ start, length }));
	return { extents, dataBytes: extents.reduce((sum, extent) => sum + extent.length, 0) };
}

/** Data bytes below `offset`: how much of the data a sequential copy at `offset` has done. */
export function dataBelow(map: DataMap, offset: number): number {
	let done = 0;
	for (const { start, length } of map.extents) {
		if (start >= offset) break;
		done += Math.min(length, offset - start);
	}
	return done;
}

/** Whether there is data in [offset, offset + window). */
export function dataAhead(map: DataMap, offset: number, window: number): boolean {
	return map.extents.some(({ start, length }) => start < offset + window && start + length > offset);
}

/**
 * A copy capped at `rate` data bytes per second. QEMU's own `speed` counts every byte the job
 * passes, zeros included (a 2 GiB mostly-empty disk took 19 s at 100 MiB/s against 1.6 s
 * uncapped), and a job with large chunks and many workers moves in bursts. So the job runs
 * sequentially in small chunks, at `rate` where data lies ahead and unlimited over the zeros
 * (block-job-set-speed on the running job), and reports progress in data bytes.
 */
export class DataRateLimit {
	private readonly speeds = new Map<string, number>();

	constructor(
		private readonly qmp: QmpClient,
		/** Bytes per second; 0 = as fast as possible. The operator may change it while the copy runs. */
		public rate: number,
	) {}

	/** The x-perf settings of a capped job: one worker, chunks of about a tenth of a second of data. */
	perf(): Record<string, unknown> {
		const chunk = Math.min(16 * 2 ** 20, Math.max(64 * 1024, 2 ** Math.floor(Math.log2(Math.max(1, this.rate) / 10))));
		return { 'max-workers': 1, 'max-chunk': chunk };
	}

	/** Sets the job's speed for what lies ahead of it; the data bytes it has done. */
	async steer(job: QemuJob, map: DataMap): Promise<number> {
		const position = job['current-progress'];
		const speed = this.rate > 0 && dataAhead(map, position, Math.max(2 * 2 ** 20, this.rate / 2)) ? Math.round(this.rate) : 0;
		if (job.status === 'running' && this.speeds.get(job.id) !== speed) {
			await setJobSpeed(this.qmp, job, speed);
			this.speeds.set(job.id, speed);
		}
		return dataBelow(map, position);
	}
}

/**
 * Sets a job's speed. A job seen running may have ended by the time the command arrives (QEMU
 * then refuses the verb in that state): there is nothing left to steer, so that is no error.
 */
export async function setJobSpeed(qmp: QmpClient, job: QemuJob, speed: number): Promise<void> {
	try {
		await qmp.execute('block-job-set-speed', { device: job.id, speed });
	} catch (error) {
		if (!/cannot accept command verb 'set-speed'|No active block job/.test((error as Error).message)) throw error;
	}
}

/** Pauses or resumes a job as the operator wants it (job-pause / job-resume are no-ops on a job already so). */
export async function holdJob(qmp: QmpClient, job: QemuJob, paused: boolean): Promise<void> {
	if (paused && job.status === 'running') await qmp.execute('job-pause', { id: job.id });
	else if (!paused && job.status === 'paused') await qmp.execute('job-resume', { id: job.id });
}
