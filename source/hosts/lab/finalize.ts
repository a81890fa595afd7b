// Steps 5–7 on the lab host, while the VM keeps running: copy the backup to production
// (blockdev-backup), switch each disk to production with the guest paused only for the
// switch (blockdev-mirror of what changed meanwhile), then drop the snapshot layers. Jobs a
// crashed controller left behind are adopted or restarted, never duplicated.
import fs from 'node:fs/promises';
import { exists } from '../../core/files.ts';
import { formatSpace } from '../../core/format.ts';
import { mkdirPrivate, writePrivate } from '../../core/private-files.ts';
import type { ApplyResult, RestorePlan, StepOptions } from '../host.ts';
import { addProductionNodes, disksOnProduction, flushNode, namedNodes } from './block-nodes.ts';
import type { LabContext } from './context.ts';
import { definitionPath, type LabVmDefinition, writeDefinition } from './definition.ts';
import { LabError } from './errors.ts';
import { DataRateLimit, type DataMap, type QemuJob, dataMap, holdJob, queryJobs, setJobSpeed, startFullCopy, waitJobs } from './jobs.ts';
import { createQcow2, measureQcow2 } from '../../qemu/qemu-img.ts';
import { nodeNames } from './runtime.ts';
import { copiedMarker, ensureRunning, ownDefinition, requireRunning } from './session-vm.ts';

/** QEMU's block-job `speed` (bytes per second; 0 = unlimited). */
function speedOf(options: StepOptions): { speed?: number } {
	return options.rateLimit && options.rateLimit > 0 ? { speed: Math.round(options.rateLimit) } : {};
}

/**
 * A finalize given up before step 6: step 5's copy jobs are cancelled (QEMU stops writing the
 * production images; a disk copied to the end keeps its mark, the others start afresh next time).
 * The VM goes on from its snapshot layer, untouched.
 */
export async function cancelCopy(context: LabContext, plan: RestorePlan): Promise<void> {
	const { qmp } = await requireRunning(context, plan);
	const ours = (await queryJobs(qmp)).filter((job) => job.id.startsWith('rd-copy'));
	for (const job of ours) if (job.status !== 'concluded') await qmp.execute('job-cancel', { id: job.id }).catch(() => undefined);
	if (ours.length > 0) await waitJobs(qmp, ours.map((job) => job.id), { until: 'concluded' });
	for (const job of ours) await qmp.execute('job-dismiss', { id: job.id }).catch(() => undefined);
}

/** Step 5: a full copy of each backup disk into its production image, flushed and marked done. */
export async function copyData(context: LabContext, plan: RestorePlan, options: StepOptions = {}): Promise<void> {
	const { qmp, definition } = await requireRunning(context, plan);
	const progress = new Map<number, { done: number; total: number }>();
	const report = () => {
		let done = 0;
		let total = 0;
		for (const value of progress.values()) {
			done += value.done;
			total += value.total;
		}
		options.onProgress?.({ done, total, detail: `${plan.disks.length} disk${plan.disks.length === 1 ? '' : 's'}` });
	};
	const existingJobs = new Map((await queryJobs(qmp)).map((job) => [job.id, job]));
	const nodes = await namedNodes(qmp);
	const waiting: string[] = [];
	// Under a rate limit, the cap and the progress count the backup's data, not its zeros (see DataRateLimit).
	const limit = options.rateLimit && options.rateLimit > 0 ? new DataRateLimit(qmp, options.rateLimit) : null;
	const maps = new Map<number, DataMap>();
	const speedsSet = new Map<string, number>();
	if (limit) for (const disk of plan.disks) maps.set(disk.index, await dataMap(disk.backup, disk.format).catch(() => ({ extents: [{ start: 0, length: disk.virtualSize }], dataBytes: disk.virtualSize })));
	for (const disk of plan.disks) {
		const names = nodeNames(disk.index);
		const jobId = `rd-copy${disk.index}`;
		const size = maps.get(disk.index)?.dataBytes ?? disk.virtualSize;
		progress.set(disk.index, { done: 0, total: size });
		const finished = () => progress.set(disk.index, { done: size, total: size });
		if (definition.disks[disk.index]?.path === disk.production || (await exists(copiedMarker(plan, disk.index)))) {
			finished();
			continue;
		}
		const job = existingJobs.get(jobId);
		if (job && job.status !== 'concluded') {
			// A copy started by an earlier controller: adopt it.
			waiting.push(jobId);
			continue;
		}
		if (job) {
			await qmp.execute('job-dismiss', { id: jobId });
			if (!job.error) {
				await flushNode(qmp, names.prod);
				await writePrivate(copiedMarker(plan, disk.index), `${new Date().toISOString()}\n`);
				finished();
				continue;
			}
		}
		// Start from a fresh production image: whatever an interrupted copy left is unknown.
		if (nodes.has(names.prod)) await qmp.execute('blockdev-del', { 'node-name': names.prod });
		if (nodes.has(names.prodFile)) await qmp.execute('blockdev-del', { 'node-name': names.prodFile });
		await mkdirPrivate(plan.productionDir);
		await fs.rm(disk.production, { force: true });
		await createQcow2(disk.production, disk.virtualSize);
		await addProductionNodes(qmp, disk.index, disk.production);
		await startFullCopy(qmp, { 'job-id': jobId, device: names.backup, target: names.prod, sync: 'full', 'auto-dismiss': false, ...speedOf(options) }, limit?.perf());
		waiting.push(jobId);
	}
	report();
	if (waiting.length === 0) return;
	const jobs = await waitJobs(qmp, waiting, {
		until: 'concluded',
		...(options.signal ? { signal: options.signal } : {}),
		onPoll: async (current) => {
			// The operator may change the cap, or pause the copy, while it runs (options.control).
			const wanted = options.control ? (options.control.rateLimit() ?? 0) : (options.rateLimit ?? 0);
			if (limit) limit.rate = wanted;
			for (const job of current.values()) {
				const index = Number(job.id.slice('rd-copy'.length));
				await holdJob(qmp, job, options.control?.paused() ?? false);
				// A copy begun uncapped keeps QEMU's own speed (which counts the zeros too) when a cap is set later.
				if (!limit && job.status === 'running' && speedsSet.get(job.id) !== wanted) {
					await setJobSpeed(qmp, job, Math.round(wanted));
					speedsSet.set(job.id, wanted);
				}
				const map = maps.get(index);
				if (limit && map) progress.set(index, { done: await limit.steer(job, map), total: Math.max(map.dataBytes, 1) });
				else progress.set(index, { done: job['current-progress'], total: Math.max(job['total-progress'], 1) });
			}
			report();
		},
	});
	const failures: string[] = [];
	for (const job of jobs.values()) {
		const index = Number(job.id.slice('rd-copy'.length));
		await qmp.execute('job-dismiss', { id: job.id });
		if (job.error) {
			failures.push(`disk ${index}: ${job.error}`);
			continue;
		}
		await flushNode(qmp, nodeNames(index).prod);
		await writePrivate(copiedMarker(plan, index), `${new Date().toISOString()}\n`);
	}
	if (failures.length > 0) {
		if (failures.some((failure) => /no space left/i.test(failure))) throw new LabError('NO_SPACE', await noSpaceMessage(plan));
		throw new LabError('COPY_FAILED', `Copying the backup to production failed: ${failures.join('; ')}`);
	}
}

/** What a full production storage needs, in words the administrator can act on. */
async function noSpaceMessage(plan: RestorePlan): Promise<string> {
	let needed = 0;
	for (const disk of plan.disks) needed += await measureQcow2(disk.backup, disk.format).catch(() => disk.virtualSize);
	const stats = await fs.statfs(plan.productionDir).catch(() => null);
	const free = stats ? stats.bavail * stats.bsize : null;
	return (
		`Production storage ${plan.productionDir} is full: the copy needs ${formatSpace(needed)}${free === null ? '' : ` and ${formatSpace(free)} is free`}. ` +
		`The VM keeps running from the backup; free at least ${formatSpace(Math.max(needed - (free ?? 0), 0))} there and finalize again`
	);
}

/** Step 6: mirror what changed since the copy, then switch every disk to production in one pause. */
export async function applyChanges(context: LabContext, plan: RestorePlan, options: StepOptions = {}): Promise<ApplyResult> {
	let definition = await ownDefinition(context, plan);
	if (!definition) throw new LabError('STEP_OUT_OF_ORDER', `VM ${plan.vmName} of session ${plan.sessionId} does not exist: step 4 has not run`);
	if (plan.disks.every((disk) => definition?.disks[disk.index]?.path === disk.production)) return { pauseMs: 0 };
	for (const disk of plan.disks) {
		if (definition.disks[disk.index]?.path !== disk.production && !(await exists(copiedMarker(plan, disk.index)))) {
			throw new LabError('STEP_OUT_OF_ORDER', `Disk ${disk.index} of ${plan.vmName} has not been copied to production yet: step 5 must complete first`);
		}
	}
	const qmp = await ensureRunning(context, plan, definition);
	const onProduction = await disksOnProduction(qmp);
	const pending = plan.disks.filter((disk) => !onProduction.has(disk.index));
	const nodes = await namedNodes(qmp);
	const existingJobs = new Map((await queryJobs(qmp)).map((job) => [job.id, job]));
	const ids: string[] = [];
	for (const disk of pending) {
		const names = nodeNames(disk.index);
		const jobId = `rd-apply${disk.index}`;
		ids.push(jobId);
		const job = existingJobs.get(jobId);
		if (job?.status === 'concluded') await qmp.execute('job-dismiss', { id: jobId });
		else if (job) continue;
		if (!nodes.has(names.prod)) await addProductionNodes(qmp, disk.index, disk.production);
		await qmp.execute('blockdev-mirror', {
			...speedOf(options),
			'job-id': jobId,
			device: names.overlay,
			target: names.prod,
			sync: 'top',
			'copy-mode': 'write-blocking',
			'auto-dismiss': false,
		});
	}
	let pauseMs = 0;
	if (ids.length > 0) {
		const progressOf = (jobs: Map<string, QemuJob>) => {
			let done = 0;
			let total = 0;
			for (const job of jobs.values()) {
				done += job['current-progress'];
				total += job['total-progress'];
			}
			options.onProgress?.({ done, total, detail: 'applying the changes made while running from backup' });
		};
		const ready = await waitJobs(qmp, ids, { until: 'ready', onPoll: progressOf, ...(options.signal ? { signal: options.signal } : {}) });
		const failed = [...ready.values()].filter((job) => job.status === 'concluded');
		if (failed.length > 0) {
			for (const job of failed) await qmp.execute('job-dismiss', { id: job.id });
			throw new LabError('APPLY_FAILED', `Applying the changes failed before the switch: ${failed.map((job) => `${job.id}: ${job.error ?? 'ended early'}`).join('; ')}`);
		}
		const before = await qmp.execute<{ status: string }>('query-status');
		const pause = before.status === 'running';
		// The switch: the guest is paused only between stop and cont.
		const started = process.hrtime.bigint();
		if (pause) await qmp.execute('stop');
		let concluded: Map<string, QemuJob>;
		try {
			for (const id of ids) await qmp.execute('block-job-complete', { device: id });
			concluded = await waitJobs(qmp, ids, { until: 'concluded', intervalMs: 1, stallMs: 60_000 });
		} finally {
			if (pause) await qmp.execute('cont');
		}
		pauseMs = pause ? Number(process.hrtime.bigint() - started) / 1e6 : 0;
		// Journal the switch at once: from here on production is the truth.
		const switched = await disksOnProduction(qmp);
		definition = await recordSwitch(context, plan, definition, switched);
		const errors: string[] = [];
		for (const job of concluded.values()) {
			await qmp.execute('job-dismiss', { id: job.id });
			if (job.error) errors.push(`${job.id}: ${job.error}`);
		}
		if (errors.length > 0) throw new LabError('APPLY_FAILED', `Applying the changes failed: ${errors.join('; ')}`);
	} else {
		definition = await recordSwitch(context, plan, definition, onProduction);
	}
	const notSwitched = plan.disks.filter((disk) => definition?.disks[disk.index]?.path !== disk.production);
	if (notSwitched.length > 0) throw new LabError('NOT_SWITCHED', `Disk(s) ${notSwitched.map((disk) => disk.index).join(', ')} of ${plan.vmName} did not switch to production`);
	return { pauseMs };
}

/** The definition names production for every switched disk (so a relaunch runs on production). */
async function recordSwitch(context: LabContext, plan: RestorePlan, definition: LabVmDefinition, switched: Set<number>): Promise<LabVmDefinition> {
	const disks = definition.disks.map((disk, index) => {
		const placement = plan.disks[index];
		return placement && switched.has(index) ? { path: placement.production, format: 'qcow2' as const } : disk;
	});
	if (disks.every((disk, index) => disk.path === definition.disks[index]?.path)) return definition;
	const updated = { ...definition, disks };
	await writeDefinition(definitionPath(context.lab.vms, plan.vmName), updated);
	return updated;
}

/** Step 7: the snapshot layers leave the block graph and the disk; the VM no longer runs from a backup. */
export async function deleteSnapshotLayer(context: LabContext, plan: RestorePlan): Promise<void> {
	const definition = await ownDefinition(context, plan);
	if (!definition) throw new LabError('STEP_OUT_OF_ORDER', `VM ${plan.vmName} of session ${plan.sessionId} does not exist`);
	if (!plan.disks.every((disk) => definition.disks[disk.index]?.path === disk.production)) {
		throw new LabError('STEP_OUT_OF_ORDER', `VM ${plan.vmName} still runs on its snapshot layer: step 6 must complete first`);
	}
	const qmp = await context.monitors.open(plan.vmName);
	if (qmp) {
		const nodes = await namedNodes(qmp);
		for (const disk of plan.disks) {
			const names = nodeNames(disk.index);
			// Top-down: a node can go only once nothing uses it.
			for (const node of [names.overlay, names.overlayFile, names.backup, names.backupFile]) {
				if (nodes.has(node)) await qmp.execute('blockdev-del', { 'node-name': node });
			}
		}
	}
	for (const disk of plan.disks) await fs.rm(disk.overlay, { force: true });
	await fs.rm(plan.workDir, { recursive: true, force: true });
	if (definition.runningFromBackup !== null) await writeDefinition(definitionPath(context.lab.vms, plan.vmName), { ...definition, runningFromBackup: null });
}
