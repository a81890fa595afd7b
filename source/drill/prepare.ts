// A drill checked before it runs: every VM as a start under its drill name would be, changing
// nothing, and the report it will fill in.
import os from 'node:os';
import { PreflightError } from '../core/errors.ts';
import { drillNetworkOf, execsInGuest } from '../hosts/capabilities.ts';
import type { Engine, StartProposal } from '../restore/engine.ts';
import type { DrillSpec } from './plan.ts';
import { proofName } from './proof.ts';
import type { DrillReport } from './report.ts';
import { newDrillId } from './store.ts';

export interface PreparedDrill {
	id: string;
	spec: DrillSpec;
	/** Checked starts, in drill order: nothing has been changed yet. */
	proposals: Map<string, StartProposal>;
	/** Worth reading before starting (e.g. broken restore points skipped by "latest"). */
	warnings: string[];
	report: DrillReport;
}

/** The name a VM runs under during a drill: clearly marked, unique to the drill, within the 64-character limit. */
export function drillVmName(vm: string, drillId: string): string {
	const suffix = `-drill-${drillId.slice(-6)}`;
	return `${vm.slice(0, 64 - suffix.length)}${suffix}`;
}


/**
 * Checks every VM of the drill as a start under its drill name would, changing nothing: the
 * restore point exists and is usable, the host can run it, and the drill name is free (a drill
 * never replaces a VM). Throws a PreflightError listing every problem.
 */
export async function prepareDrill(engine: Engine, spec: DrillSpec, id = newDrillId()): Promise<PreparedDrill> {
	const proposals = new Map<string, StartProposal>();
	const problems: string[] = [];
	const warnings: string[] = [];
	for (const entry of spec.vms) {
		const name = drillVmName(entry.vm, id);
		const proposal = await engine.proposeStart({ vm: entry.vm, point: entry.point, name, location: 'original', replaceMode: 'set-aside', drill: { id, isolatedSwitch: spec.isolatedSwitch } });
		const mine = [...proposal.problems];
		if (proposal.plan.replaces !== null && mine.length === 0) mine.push(`a VM named ${name} exists on ${engine.host.id}: a drill never replaces a VM`);
		if (proposal.resume) mine.push(`${name} is held by session ${proposal.resume.id}: a drill never continues another session`);
		if (entry.checks.length > 0 && !execsInGuest(engine.host)) mine.push(`the host ${engine.host.id} cannot run commands inside its guests, so its application checks cannot run (on the lab host they go through the QEMU guest agent)`);
		problems.push(...mine.map((problem) => `${entry.vm}: ${problem}`));
		warnings.push(...proposal.warnings);
		proposals.set(entry.vm, proposal);
	}
	if (problems.length > 0) throw new PreflightError(problems);
	const now = new Date().toISOString();
	const report: DrillReport = {
		schemaVersion: 1,
		id,
		host: engine.host.id,
		destination: engine.destination,
		startedAt: now,
		endedAt: null,
		outcome: 'running',
		concurrency: spec.concurrency,
		network: drillNetworkOf(engine.host, spec.isolatedSwitch),
		keep: spec.keep,
		pid: process.pid,
		hostname: os.hostname(),
		vms: spec.vms.map((entry) => {
			const proposal = proposals.get(entry.vm);
			return {
				vm: entry.vm,
				drillName: drillVmName(entry.vm, id),
				session: null,
				restorePoint: proposal ? { id: proposal.point.id, takenAt: proposal.point.manifest.takenAt } : null,
				host: engine.host.id,
				after: entry.after,
				timeoutSeconds: entry.timeoutSeconds,
				startedAt: null,
				runningAt: null,
				aliveAt: null,
				endedAt: null,
				timeToRunningMs: null,
				timeToProofMs: null,
				proof: proofName(engine.host),
				checks: entry.checks.map((check) => ({ command: check.exec, timeoutSeconds: check.timeoutSeconds, outcome: 'pending' as const, attempts: 0, exitCode: null, stdout: '', stderr: '', error: null, passedAt: null, timeToPassMs: null })),
				readyAt: null,
				timeToReadyMs: null,
				outcome: 'pending',
				reason: null,
				evidence: null,
				cleanup: { state: 'none', at: null, error: null, hint: null },
			};
		}),
	};
	return { id, spec, proposals, warnings, report };
}
