// After a crash, a reboot or an SSH disconnect: what each unfinished session's journal says,
// against what the host really has, and what resuming (or rolling back) would do.
import type { Host } from '../hosts/host.ts';
import { type VmLocks, processAlive } from './lock.ts';
import { allowedPhases, isTerminal, stepOf, type Phase, type SessionRecord } from './session.ts';
import { stepShortTitle } from './steps.ts';

export interface Reconciliation {
	session: SessionRecord;
	/** What resuming does: run a phase, restart the VM, nothing (needs a choice), or wait (busy). */
	action: Phase | 'restart-vm' | 'none' | 'busy';
	/** The safe way back instead, when there is one. */
	rollback?: Phase;
	detail: string;
}

/** What the user can do next with a session, as a command line. */
export function nextActionHint(session: SessionRecord): string {
	const phases = allowedPhases(session);
	const commands = phases.map((phase) => {
		if (phase === 'start') return `"rundirect start ${session.source.vm} --point ${session.source.pointId}${session.vm !== session.source.vm ? ` --name ${session.vm}` : ''}" to retry`;
		return `"rundirect ${phase} ${session.id}"${session.state === 'failed' && phase === session.failedPhase ? ' to retry' : ''}`;
	});
	if (commands.length === 0) return 'nothing left to do';
	return `run ${commands.join(' or ')}`;
}

/**
 * Compares every unfinished session's journal with what the host really has and says what
 * resuming would do. Changes nothing.
 */
export async function reconcileSessions(sessions: SessionRecord[], { host, locks }: { host: Host; locks: VmLocks }): Promise<Reconciliation[]> {
	const result: Reconciliation[] = [];
	for (const session of sessions.filter((candidate) => !isTerminal(candidate))) {
		const holder = await locks.readOperation(host.id, session.vm);
		if (holder && holder.session === session.id && processAlive(holder) !== false) {
			const doing = { start: 'started', finalize: 'finalized', stop: 'stopped' }[holder.operation] ?? holder.operation;
			result.push({ session, action: 'busy', detail: `being ${doing} by pid ${holder.pid} on ${holder.hostname} since ${holder.startedAt}` });
			continue;
		}
		const interrupted = session.steps.find((step) => step.status === 'running');
		const where = interrupted ? ` (in ${interrupted.number === null ? '' : `step ${interrupted.number}, `}${stepShortTitle(interrupted.id)})` : '';
		switch (session.state) {
			case 'starting':
				result.push({ session, action: 'start', rollback: 'stop', detail: `start was interrupted${where}; continue it, or roll back with stop` });
				break;
			case 'finalizing':
				result.push({
					session,
					action: 'finalize',
					rollback: allowedPhases(session).includes('stop') ? 'stop' : undefined,
					detail: `finalize was interrupted${where}; continue it${stepOf(session, 'apply-changes').status === 'done' ? ' (the VM already runs on production: only forward is safe)' : ', or roll back with stop'}`,
				});
				break;
			case 'stopping':
				result.push({ session, action: 'stop', detail: `stop was interrupted${where}; continue it` });
				break;
			case 'failed':
				result.push({ session, action: 'none', detail: `failed in ${session.lastError?.step ? stepShortTitle(session.lastError.step) : (session.failedPhase ?? 'a step')}: ${session.lastError?.message ?? 'unknown error'} — ${nextActionHint(session)}` });
				break;
			case 'running': {
				const status = await host.status(session.plan).catch(() => null);
				if (status && (status.vm === 'off' || status.vm === 'missing')) {
					result.push({ session, action: 'restart-vm', detail: `${session.vm} should be running from its backup but its VM is ${status.vm}: restart it on its snapshot layer (no write is lost: the layer holds them)` });
				} else {
					result.push({ session, action: 'none', detail: `running from backup${status ? ` (VM ${status.vm})` : ''}; finalize or stop it when ready` });
				}
				break;
			}
			default:
				result.push({ session, action: 'none', detail: session.state });
		}
		const last = result[result.length - 1];
		if (session.purpose === 'drill' && last && last.action !== 'busy') {
			// A drill's VM only ever goes away: rolling back (stop) is the way out from any state it can be left in.
			if (allowedPhases(session).includes('stop')) last.rollback = 'stop';
			const drill = session.drillId ? `recovery drill ${session.drillId}` : 'recovery drill';
			last.detail = `${drill}: clean it up with "rundirect resume --rollback" or "rundirect stop ${session.id}" (${last.detail})`;
		}
	}
	return result;
}
