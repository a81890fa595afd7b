// Step 5 on the libvirt host: each production image is filled from its read-only backup by a
// detached qemu-img (fill.ts) while the guest runs on the overlay; a convert an earlier
// controller started is adopted; the copy is made durable before the step may be journaled done.
import fs from 'node:fs/promises';
import { writePrivate } from '../../core/private-files.ts';
import { HostError } from '../../core/errors.ts';
import type { RestorePlan, StepOptions } from '../host.ts';
import { endFills, fillFiles, fillProcesses, makeDurable, startFill, waitFill } from './fill.ts';
import { createQcow2 } from '../../qemu/qemu-img.ts';
import { onProduction, type SessionDomain } from './session-domain.ts';
import { exists } from '../../core/files.ts';

export async function copyData(session: SessionDomain, plan: RestorePlan, options: StepOptions = {}): Promise<void> {
	const facts = await session.ensureRunning(plan);
	const done = new Map<number, number>();
	const report = () => {
		const bytes = plan.disks.reduce((sum, disk) => sum + (done.get(disk.index) ?? 0), 0);
		options.onProgress?.({ done: bytes, total: plan.disks.reduce((sum, disk) => sum + disk.virtualSize, 0), detail: `${plan.disks.length} disk${plan.disks.length === 1 ? '' : 's'}` });
	};
	for (const disk of plan.disks) {
		const files = fillFiles(plan.workDir, disk.index);
		if (onProduction(facts, plan, disk) || (await exists(files.done))) {
			done.set(disk.index, disk.virtualSize);
			continue;
		}
		for (let attempt = 1; ; attempt++) {
			// A convert still running (an earlier controller's) is adopted, not restarted.
			const running = (await fillProcesses(disk.production)).length > 0;
			const finished = !running && (await fs.readFile(files.rc, 'utf8').catch(() => null))?.trim() === '0';
			if (!running && !finished) {
				// Whatever an interrupted copy left is unknown: start from a fresh empty image. No fill
				// ever started (no log) leaves step 2's image as it made it: that one is used as it is.
				const neverFilled = attempt === 1 && !(await exists(files.log)) && (await exists(disk.production));
				if (!neverFilled) {
					await endFills(disk.production);
					await fs.mkdir(plan.productionDir, { recursive: true });
					await fs.rm(disk.production, { force: true });
					await createQcow2(disk.production, disk.virtualSize);
				}
				await startFill(disk, files, options.rateLimit);
			}
			const outcome = await waitFill(disk, files, {
				onFraction: (fraction) => {
					done.set(disk.index, Math.round(fraction * disk.virtualSize));
					report();
				},
				...(options.signal ? { signal: options.signal } : {}),
			});
			if (outcome.ok === true) break;
			if (outcome.ok === false) {
				if (/no space left/i.test(outcome.reason)) throw new HostError('NO_SPACE', `Production storage ${plan.productionDir} is full; the VM keeps running from the backup: free space there and finalize again (${outcome.reason})`);
				throw new HostError('COPY_FAILED', `Copying backup disk ${disk.index} to ${disk.production} failed: ${outcome.reason}`);
			}
			if (attempt >= 2) throw new HostError('COPY_FAILED', `The copy of disk ${disk.index} to ${disk.production} stopped twice without an exit code`);
			await fs.rm(files.rc, { force: true });
		}
		// Durable before it is journaled done: a crash after this must not lose the copy.
		await makeDurable(disk.production);
		await writePrivate(files.done, `${new Date().toISOString()}\n`);
		await makeDurable(files.done);
		done.set(disk.index, disk.virtualSize);
		report();
	}
}

/**
 * A finalize given up before step 6: the fills stop and what they left goes (a disk filled to the
 * end keeps its mark; the others start from a fresh image next time). The domain is not touched.
 */
export async function cancelCopy(plan: RestorePlan): Promise<void> {
	for (const disk of plan.disks) {
		const files = fillFiles(plan.workDir, disk.index);
		if (await exists(files.done)) continue;
		await endFills(disk.production);
		for (const file of [files.rc, files.log]) await fs.rm(file, { force: true });
	}
}
