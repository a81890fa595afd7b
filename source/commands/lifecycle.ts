// `rundirect start | finalize | stop | unlock`: the headless face of the engine.
import { createInterface } from 'node:readline/promises';
import type { ReplaceMode } from '../hosts/host.ts';
import { EXIT, PreflightError, RundirectError } from '../core/errors.ts';
import { vmShouldRun, type Phase, type SessionRecord } from '../restore/session.ts';
import { formatDuration } from '../core/format.ts';
import { rendererFor, type CommandContext } from './context.ts';

export interface StartOptions {
	point?: string;
	name?: string;
	location?: string;
	deleteReplaced?: boolean;
	yes?: boolean;
}

/**
 * Destructive actions need the VM's name typed on a terminal, or --yes where there is none.
 * Returns false when the user declined.
 */
export async function confirm(context: CommandContext, consequences: string[], vm: string, yes: boolean | undefined, what = 'the VM name'): Promise<boolean> {
	if (consequences.length === 0 || yes) return true;
	if (context.json || !process.stdin.isTTY || !process.stdout.isTTY) {
		throw new RundirectError(`confirmation needed:\n${consequences.map((line) => `  - ${line}`).join('\n')}`, EXIT.refused, 'add --yes to confirm when not on a terminal');
	}
	const prompt = createInterface({ input: process.stdin, output: process.stdout });
	try {
		context.say(consequences.map((line) => `! ${line}`).join('\n'));
		const answer = await prompt.question(`Type ${what} (${vm}) to confirm, anything else to cancel: `);
		return answer.trim() === vm;
	} finally {
		prompt.close();
	}
}

function summary(session: SessionRecord): Record<string, unknown> {
	return {
		session: session.id,
		vm: session.vm,
		state: session.state,
		host: session.host,
		restorePoint: `${session.source.vm}/${session.source.pointId}`,
		steps: session.steps.filter((step) => step.attempts > 0).map((step) => ({ id: step.id, number: step.number, status: step.status, startedAt: step.startedAt, endedAt: step.endedAt, attempts: step.attempts, note: step.note, error: step.error })),
		switchPauseMs: session.apply?.pauseMs ?? null,
	};
}

async function runPhase(context: CommandContext, session: SessionRecord, phase: Phase, signal: AbortSignal, rateLimit?: number): Promise<SessionRecord> {
	const began = performance.now();
	const done = await context.engine.runPhase(session.id, phase, { renderer: rendererFor(context), signal, ...(rateLimit ? { rateLimit } : {}) });
	context.emit({ type: 'result', ok: true, ...summary(done) });
	const seconds = (performance.now() - began) / 1000;
	// After a stop the name may belong again to the VM step 1 set aside: say it is back, not "gone".
	const line =
		phase === 'start'
			? `${done.vm} is running from the backup (session ${done.id})`
			: phase === 'finalize'
				? `${done.vm} runs from production storage; the restore is finalized`
				: done.setAside
					? `The restored ${done.vm} is gone with every change it made; ${done.setAside.name}, set aside in step 1, is back as it was`
					: `${done.vm} is gone and every change was discarded`;
	context.say(`${line} — ${formatDuration(seconds)}.`);
	if (phase === 'start') context.say(`Next: "rundirect finalize ${done.id}" to keep it, or "rundirect stop ${done.id}" to discard it.`);
	return done;
}

export async function startCommand(context: CommandContext, vm: string, options: StartOptions, signal: AbortSignal): Promise<number> {
	const replaceMode: ReplaceMode = options.deleteReplaced ? 'delete' : 'set-aside';
	const proposal = await context.engine.proposeStart({ vm, point: options.point, name: options.name, location: options.location, replaceMode });
	if (proposal.resume) {
		context.warn(`continuing session ${proposal.resume.id} (${proposal.resume.state}) from its journal`);
	} else {
		for (const warning of proposal.warnings) context.warn(`warning: ${warning}`);
		if (proposal.warnings.length > 0) context.emit({ type: 'warning', session: null, message: proposal.warnings.join('\n') });
		if (proposal.problems.length > 0) throw new PreflightError(proposal.problems);
		if (!(await confirm(context, proposal.destroys, proposal.plan.replaces ?? proposal.plan.vmName, options.yes))) {
			context.say('Cancelled; nothing was changed.');
			return EXIT.refused;
		}
	}
	const session = await context.engine.beginStart(proposal);
	context.emit({ type: 'session', id: session.id, vm: session.vm, state: session.state, restorePoint: `${proposal.point.vm}/${proposal.point.id}` });
	await runPhase(context, session, 'start', signal);
	return EXIT.ok;
}

export interface FinalizeOptions {
	/** MiB/s; 0 lifts the cap of a running copy. */
	rateLimit?: string;
	yes?: boolean;
	pause?: boolean;
	resume?: boolean;
	/** Give up the finalize before step 6: the VM runs on from its backup. */
	cancel?: boolean;
}

/** How long `finalize --cancel` waits for the process driving the finalize to give it up. */
const CANCEL_WAIT_MS = 60_000;

async function cancelFinalizeCommand(context: CommandContext, session: SessionRecord): Promise<number> {
	const how = await context.engine.cancelFinalize(session.id);
	if (how === 'asked') {
		// The driving process gives it up at its next look (a quarter second): report what happened, not what was asked.
		const deadline = Date.now() + CANCEL_WAIT_MS;
		while (Date.now() < deadline) {
			const now = await context.engine.journal.read(session.id);
			if (now?.state === 'running') break;
			if (now && now.state !== 'finalizing') throw new RundirectError(`${session.vm}'s finalize ended as ${now.state} before it could be cancelled`, EXIT.refused);
			await new Promise((resolve) => setTimeout(resolve, 200));
		}
		if ((await context.engine.journal.read(session.id))?.state !== 'running') throw new RundirectError(`the process driving ${session.vm}'s finalize did not give it up within ${CANCEL_WAIT_MS / 1000} s`, EXIT.failed, 'see it with "rundirect sessions"');
	}
	context.emit({ type: 'result', ok: true, session: session.id, vm: session.vm, state: 'running', cancelled: 'finalize' });
	context.say(`The finalize of ${session.vm} is cancelled: it runs from its backup as before (session ${session.id}); "rundirect finalize ${session.vm}" starts it again.`);
	return EXIT.ok;
}

export async function finalizeCommand(context: CommandContext, ref: string, options: FinalizeOptions, signal: AbortSignal): Promise<number> {
	const session = await context.engine.findSession(ref);
	if (options.cancel) {
		if (options.pause || options.resume || options.rateLimit !== undefined) throw new RundirectError('--cancel gives the finalize up: it takes no --rate-limit, --pause or --resume', EXIT.usage);
		return cancelFinalizeCommand(context, session);
	}
	let rateLimit: number | undefined;
	if (options.rateLimit !== undefined) {
		const mib = Number(options.rateLimit);
		if (!Number.isFinite(mib) || mib < 0) throw new RundirectError(`--rate-limit must be a number of MiB/s (0: no cap), not ${JSON.stringify(options.rateLimit)}`, EXIT.usage);
		rateLimit = mib * 2 ** 20;
	}
	if (options.pause && options.resume) throw new RundirectError('--pause and --resume together: choose one', EXIT.usage);
	// A finalize another process is running: change what its copy does, there and then.
	const driver = session.state === 'finalizing' ? await context.engine.driverOf(session) : null;
	if (driver && driver.pid !== process.pid) {
		if (rateLimit === undefined && !options.pause && !options.resume) {
			throw new RundirectError(`${session.vm} is being finalized by pid ${driver.pid} on ${driver.hostname} since ${driver.startedAt}`, EXIT.refused, 'see it with "rundirect sessions"; --rate-limit <MiB/s>, --pause or --resume change its copy');
		}
		const wishes = await context.engine.controlCopy(session.id, { ...(rateLimit !== undefined ? { rateLimit: rateLimit || null } : {}), ...(options.pause ? { paused: true } : {}), ...(options.resume ? { paused: false } : {}) });
		context.emit({ type: 'copy-control', session: session.id, vm: session.vm, rateLimit: wishes.rateLimit, paused: wishes.paused, drivenBy: driver.pid });
		context.say(`${session.vm}'s copy (finalize by pid ${driver.pid}): ${wishes.paused ? 'paused' : 'running'}, ${wishes.rateLimit ? `capped at ${wishes.rateLimit / 2 ** 20} MiB/s` : 'no cap'} — applied at its next progress poll.`);
		return EXIT.ok;
	}
	if (options.pause || options.resume) throw new RundirectError(`${session.vm} has no copy running to ${options.pause ? 'pause' : 'resume'}`, EXIT.refused, `"rundirect finalize ${session.vm}" starts (or continues) it`);
	if (rateLimit === 0) rateLimit = undefined;
	context.engine.checkPhase(session, 'finalize');
	// A VM that should run and does not has crashed. Finalizing starts it again: never unseen —
	// it is confirmed like a deletion, and the restart is reported before the copy begins.
	const status = vmShouldRun(session) ? await context.engine.status(session).catch(() => null) : null;
	const crashed = status !== null && (status.vm === 'off' || status.vm === 'missing' || status.vm === 'error');
	const consequences = crashed ? [`${session.vm}'s VM is ${status.vm} but should be running (session ${session.id} is ${session.state}): it will be started again on the disks it ran on (no write is lost), then finalized`] : [];
	// The same rule as start and stop: what is deleted for good is confirmed (typed, or --yes off a terminal).
	if (session.setAside && session.steps.find((step) => step.id === 'purge-replaced')?.status !== 'done') {
		consequences.push(`the replaced VM ${session.setAside.name}, set aside as ${session.setAside.asideName} in step 1, will be DELETED for good once ${session.vm} runs from production`);
	}
	if (!(await confirm(context, consequences, session.vm, options.yes))) {
		context.say('Cancelled; nothing was changed.');
		return EXIT.refused;
	}
	if (crashed) await context.engine.restartVm(session.id);
	await runPhase(context, session, 'finalize', signal, rateLimit);
	return EXIT.ok;
}

export async function stopCommand(context: CommandContext, ref: string, options: { yes?: boolean }, signal: AbortSignal): Promise<number> {
	const session = await context.engine.findSession(ref);
	context.engine.checkPhase(session, 'stop');
	const consequences = [`VM ${session.vm} (session ${session.id}) will be turned off and removed, and every change made in it since it started will be discarded`];
	if (session.setAside) consequences.push(`the replaced VM ${session.setAside.name} will be brought back`);
	if (session.state !== 'stopping' && !(await confirm(context, consequences, session.vm, options.yes))) {
		context.say('Cancelled; nothing was changed.');
		return EXIT.refused;
	}
	await runPhase(context, session, 'stop', signal);
	return EXIT.ok;
}

export async function unlockCommand(context: CommandContext, vm: string): Promise<number> {
	const claim = await context.engine.locks.readClaim(context.engine.host.id, vm);
	if (!claim) {
		context.say(`VM ${vm} is not locked.`);
		context.emit({ type: 'result', ok: true, vm, released: null });
		return EXIT.ok;
	}
	const holder = await context.engine.journal.read(claim.session);
	if (holder && holder.state !== 'finalized' && holder.state !== 'stopped') {
		throw new RundirectError(
			`VM ${vm} is held by session ${holder.id}, which is ${holder.state}; removing its lock would let a second session replace a VM in use`,
			EXIT.refused,
			`finalize it with "rundirect finalize ${holder.id}" or stop it with "rundirect stop ${holder.id}"`,
		);
	}
	const released = await context.engine.locks.forceRelease(context.engine.host.id, vm);
	context.say(`Removed the lock of session ${released?.session ?? claim.session} on ${vm} (it was left by pid ${claim.pid} on ${claim.hostname}).`);
	context.emit({ type: 'result', ok: true, vm, released });
	return EXIT.ok;
}

/**
 * `rundirect resume`: after a crash, a reboot or a closed SSH session, reconciles every
 * unfinished session with the host and continues what was interrupted (or, with
 * --rollback, takes the safe way back where there is one).
 */
export async function resumeCommand(context: CommandContext, options: { rollback?: boolean; dryRun?: boolean; yes?: boolean }, signal: AbortSignal): Promise<number> {
	const findings = await context.engine.reconcile();
	context.emit({ type: 'reconcile', sessions: findings.map(({ session, action, rollback, detail }) => ({ session: session.id, vm: session.vm, state: session.state, action, rollback: rollback ?? null, detail })) });
	if (findings.length === 0) {
		context.say('No unfinished sessions: nothing to resume.');
		return EXIT.ok;
	}
	for (const { session, detail } of findings) context.say(`${session.id} ${session.vm} (${session.state}): ${detail}`);
	if (options.dryRun) return EXIT.ok;
	if (options.rollback) {
		const discarded = findings.filter((finding) => finding.rollback === 'stop' || finding.action === 'stop').map(({ session }) => `${session.vm} (session ${session.id}) will be turned off and removed, every change made in it discarded${session.setAside ? `, and ${session.setAside.name} brought back` : ''}`);
		if (!(await confirm(context, discarded, 'rollback', options.yes, 'the word'))) {
			context.say('Cancelled; nothing was changed.');
			return EXIT.refused;
		}
	}
	let exitCode: number = EXIT.ok;
	for (const finding of findings) {
		const phase = options.rollback ? (finding.rollback ?? (finding.action === 'stop' ? 'stop' : null)) : finding.action;
		if (phase === 'none' || phase === 'busy' || phase === null) continue;
		try {
			if (phase === 'restart-vm') {
				await context.engine.restartVm(finding.session.id);
				context.say(`${finding.session.vm} runs from its backup again (session ${finding.session.id}).`);
			} else {
				await runPhase(context, finding.session, phase, signal);
			}
		} catch (error) {
			if (signal.aborted) throw error;
			// One session's failure must not keep the others from being resumed.
			exitCode = EXIT.failed;
			const hint = error instanceof RundirectError && error.hint ? ` — ${error.hint}` : '';
			context.warn(`error: ${finding.session.id} ${finding.session.vm}: ${(error as Error).message}${hint}`);
			context.emit({ type: 'error', session: finding.session.id, message: (error as Error).message });
		}
	}
	return exitCode;
}
