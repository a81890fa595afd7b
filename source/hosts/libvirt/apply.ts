// Step 6 on the libvirt host: `virsh blockcopy --shallow --reuse-external --transient-job` of
// each overlay onto its (already filled) production image, wait for the mirror to be READY,
// pivot. A copy job still attached to a disk (an earlier controller's) is adopted. After the
// pivot, libvirt's persistent definition must name the production image with no backing store.
import { writePrivate } from '../../core/private-files.ts';
import path from 'node:path';
import { HostError } from '../../core/errors.ts';
import type { ApplyResult, DiskPlacement, RestorePlan, StepOptions } from '../host.ts';
import { copyDestinationXml, diskTargets } from './domain-xml.ts';
import type { DomainFacts } from './domains.ts';
import { fillFiles } from './fill.ts';
import { diskOf, onProduction, type SessionDomain } from './session-domain.ts';
import { exists } from '../../core/files.ts';

/** A block copy that neither moves nor becomes ready for this long has failed. */
const APPLY_STALL_MS = 5 * 60_000;

/**
 * Runs a call that changes the domain; if it fails (libvirtd restarting under it may lose the
 * answer of a call it did carry out), the domain is asked whether the change happened after all.
 */
async function settled(session: SessionDomain, plan: RestorePlan, call: () => Promise<unknown>, happened: (facts: DomainFacts | null) => boolean): Promise<void> {
	try {
		await call();
	} catch (error) {
		if (!happened(await session.own(plan))) throw error;
	}
}

export async function applyChanges(session: SessionDomain, plan: RestorePlan, options: StepOptions = {}): Promise<ApplyResult> {
	let facts = await session.own(plan);
	if (!facts) throw new HostError('NO_DOMAIN', `Domain ${plan.vmName} of session ${plan.sessionId} does not exist: step 4 has not run`);
	const pending = (current: DomainFacts | null) => plan.disks.filter((disk) => !onProduction(current, plan, disk));
	if (pending(facts).length > 0) {
		for (const disk of pending(facts)) {
			if (!(await exists(fillFiles(plan.workDir, disk.index).done))) throw new HostError('NOT_COPIED', `Disk ${disk.index} of ${plan.vmName} has not been copied to production yet: step 5 must complete first`);
		}
		facts = await session.ensureRunning(plan);
	}
	const targets = diskTargets(plan.disks);
	const switching = pending(facts);
	for (const disk of switching) {
		const target = targets[disk.index]?.dev ?? '';
		// A copy job an earlier controller started is still running: adopt it.
		if (diskOf(facts, plan, disk)?.mirror) continue;
		const destination = path.join(plan.workDir, `disk${disk.index}-copy.xml`);
		await writePrivate(destination, copyDestinationXml(disk.production));
		const bandwidth = options.rateLimit && options.rateLimit > 0 ? ['--bandwidth', String(Math.round(options.rateLimit)), '--bytes'] : [];
		await settled(session, plan, () => session.virsh.run(['blockcopy', plan.vmName, target, '--xml', destination, '--shallow', '--reuse-external', '--transient-job', '--synchronous-writes', ...bandwidth]), (facts) => diskOf(facts, plan, disk)?.mirror != null);
	}
	let pauseMs = 0;
	if (switching.length > 0) {
		await waitReady(session, plan, switching, options);
		// The switch. libvirt does not pause the guest; the pivot drains its I/O, so its duration is the pause.
		for (const disk of switching) {
			const started = process.hrtime.bigint();
			await settled(session, plan, () => session.virsh.run(['blockjob', plan.vmName, targets[disk.index]?.dev ?? '', '--pivot']), (facts) => onProduction(facts, plan, disk));
			pauseMs += Number(process.hrtime.bigint() - started) / 1e6;
		}
	}
	const after = await session.own(plan);
	const notSwitched = pending(after);
	if (notSwitched.length > 0) throw new HostError('NOT_SWITCHED', `Disk(s) ${notSwitched.map((disk) => disk.index).join(', ')} of ${plan.vmName} did not switch to production`);
	// --transient-job: libvirt rewrites the persistent definition at the pivot. Prove it did.
	const persistent = await session.domains.persistentDisks(plan.vmName);
	for (const disk of plan.disks) {
		const defined = persistent.find((candidate) => candidate.target === targets[disk.index]?.dev);
		if (defined?.source !== disk.production || defined.hasBacking) {
			throw new HostError('DEFINITION_NOT_SWITCHED', `The persistent definition of ${plan.vmName} still names ${defined?.source ?? 'no image'}${defined?.hasBacking ? ' with a backing store' : ''} for disk ${disk.index}, not ${disk.production}`);
		}
	}
	return { pauseMs };
}

async function waitReady(session: SessionDomain, plan: RestorePlan, disks: DiskPlacement[], options: StepOptions): Promise<void> {
	const targets = diskTargets(plan.disks);
	let signature = '';
	let lastChange = Date.now();
	while (true) {
		options.signal?.throwIfAborted();
		const facts = await session.own(plan);
		if (!facts || facts.state === 'off') throw new HostError('DOMAIN_STOPPED', `Domain ${plan.vmName} stopped while its changes were being applied: finalize again (it restarts on the snapshot layer)`);
		let done = 0;
		let total = 0;
		for (const disk of disks) {
			const raw = await session.virsh.tryRun(['blockjob', plan.vmName, targets[disk.index]?.dev ?? '', '--raw']);
			done += Number(/cur=(\d+)/.exec(raw.stdout)?.[1] ?? 0);
			total += Number(/end=(\d+)/.exec(raw.stdout)?.[1] ?? 0);
		}
		options.onProgress?.({ done, total, detail: 'applying the changes made while running from backup' });
		const mirrors = disks.map((disk) => diskOf(facts, plan, disk)?.mirror ?? null);
		if (mirrors.some((mirror) => mirror === null)) throw new HostError('COPY_JOB_GONE', `The block copy of ${plan.vmName} ended before it was ready: finalize again`);
		if (mirrors.every((mirror) => mirror?.ready)) return;
		const now = `${done}/${total}`;
		if (now !== signature) {
			signature = now;
			lastChange = Date.now();
		} else if (Date.now() - lastChange > APPLY_STALL_MS) throw new HostError('COPY_STALLED', `The block copy of ${plan.vmName} made no progress for ${APPLY_STALL_MS / 1000} s`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}
