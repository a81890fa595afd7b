// A drill checked before it runs: every VM as a start under its drill name would be, changing
// nothing, and the report it will fill in.
import os from 'node:os';
import { PreflightError } from '../core/errors.ts';
import { drillNetworkOf, execsInGuest, probesTcp } from '../hosts/capabilities.ts';
import type { Engine, StartProposal } from '../restore/engine.ts';
import { isTerminal, type SessionRecord } from '../restore/session.ts';
import type { DrillSpec } from './plan.ts';
import { proofName } from './proof.ts';
import type { DrillReport } from './report.ts';
import { newDrillId } from './store.ts';

export interface PreparedDrill {
	id: string;
	spec: DrillSpec;
	/** Checked starts, in drill order: nothing has been changed yet. */
	proposals: Map<string, StartProposal>;
	/** A site recovery run again: the VMs an earlier run already started, with their sessions (they are not started again). */
	running: Map<string, SessionRecord>;
	/** What the starts will turn off or delete (a site recovery replaces VMs): to confirm. */
	destroys: string[];
	/** Worth reading before starting (e.g. broken restore points skipped by "latest"). */
	warnings: string[];
	report: DrillReport;
}

/** The name a VM runs under: its own in a site recovery, else its drill name. */
export function runName(spec: DrillSpec, vm: string, drillId: string): string {
	return spec.purpose === 'recovery' ? vm : drillVmName(vm, drillId);
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
	const recovery = spec.purpose === 'recovery';
	const proposals = new Map<string, StartProposal>();
	const running = new Map<string, SessionRecord>();
	const problems: string[] = [];
	const warnings: string[] = [];
	const destroys: string[] = [];
	const { sessions } = recovery ? await engine.sessions() : { sessions: [] };
	for (const entry of spec.vms) {
		const name = runName(spec, entry.vm, id);
		// Run again after an interruption, a site recovery goes on where it stopped: a VM it already started is not started again.
		const started = sessions.find((session) => session.vm === name && session.source.vm === entry.vm && !isTerminal(session) && session.state !== 'starting' && !(session.state === 'failed' && session.failedPhase === 'start'));
		if (started) {
			running.set(entry.vm, started);
			continue;
		}
		const tcpProbe = entry.checks.some((check) => 'tcp' in check);
		const proposal = await engine.proposeStart(recovery ? { vm: entry.vm, point: entry.point, location: 'original', replaceMode: 'set-aside' } : { vm: entry.vm, point: entry.point, name, location: 'original', replaceMode: 'set-aside', drill: { id, isolatedSwitch: spec.isolatedSwitch, ...(tcpProbe ? { tcpProbe } : {}) } });
		const mine = [...proposal.problems];
		if (!recovery && proposal.plan.replaces !== null && mine.length === 0) mine.push(`a VM named ${name} exists on ${engine.host.id}: a drill never replaces a VM`);
		if (!recovery && proposal.resume) mine.push(`${name} is held by session ${proposal.resume.id}: a drill never continues another session`);
		if (recovery && !proposal.resume) destroys.push(...proposal.destroys);
		const host = engine.host;
		if (entry.checks.some((check) => 'exec' in check)) {
			const problem = execsInGuest(host) ? (host.guestExecProblem?.() ?? null) : `the host ${host.id} cannot run commands inside its guests`;
			if (problem) mine.push(`${problem}, so its application checks cannot run`);
		}
		if (tcpProbe) {
			const problem = probesTcp(host) ? ((await host.tcpProbeProblem?.(recovery ? 'recovery' : 'drill')) ?? null) : `the host ${host.id} has no probe on its drill networks (a TCP check needs a point on the VM's isolated network, where only the guest can answer)`;
			if (problem) mine.push(`${problem}, so its TCP checks cannot run`);
		}
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
		...(recovery ? { kind: 'recovery' as const } : {}),
		vms: spec.vms.map((entry) => {
			const proposal = proposals.get(entry.vm);
			const earlier = running.get(entry.vm);
			return {
				vm: entry.vm,
				drillName: runName(spec, entry.vm, id),
				session: earlier?.id ?? null,
				restorePoint: proposal ? { id: proposal.point.id, takenAt: proposal.point.manifest.takenAt } : earlier ? { id: earlier.source.pointId, takenAt: earlier.source.takenAt } : null,
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
				checks: entry.checks.map((check) => ({ command: 'exec' in check ? check.exec : [], ...('tcp' in check ? { tcp: check.tcp } : {}), timeoutSeconds: check.timeoutSeconds, outcome: 'pending' as const, attempts: 0, exitCode: null, stdout: '', stderr: '', error: null, passedAt: null, timeToPassMs: null })),
				readyAt: null,
				timeToReadyMs: null,
				outcome: 'pending',
				reason: null,
				evidence: null,
				cleanup: { state: 'none', at: null, error: null, hint: null },
			};
		}),
	};
	return { id, spec, proposals, running, destroys, warnings, report };
}
