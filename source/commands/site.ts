// Site recovery from one plan file — the drill plan's format (boot order, `after`, concurrency,
// application checks as gates): `rundirect start --plan <file>` Run Direct-starts every VM under
// its own name, replacing the VM of that name, on its own networks, and leaves them running from
// their backups; `rundirect finalize --plan <file>` moves them to production storage, at most
// `--concurrency` at once, all copies sharing one `--rate-limit`. Both continue where an
// interrupted run stopped: run the same command again.
import path from 'node:path';
import { Listr, type ListrTask } from 'listr2';
import { prepareDrill, readDrillPlan, resolveDrillSpec, runDrill, type DrillReport } from '../drill/index.ts';
import { finalizeManyTasks, type FinalizeManyResult } from '../drill/finalize-many.ts';
import { drillDir } from '../drill/store.ts';
import { EXIT, PreflightError, RundirectError, errorMessage } from '../core/errors.ts';
import { formatDuration } from '../core/format.ts';
import type { EngineEvent } from '../restore/engine.ts';
import { isTerminal, type SessionRecord } from '../restore/session.ts';
import { planTreeRenderer, rendererFor, type CommandContext } from './context.ts';
import { seconds, table, wholeNumber } from './drill.ts';
import { confirm } from './lifecycle.ts';

export interface SiteStartOptions {
	yes?: boolean;
	concurrency?: string;
	timeout?: string;
}

export async function siteStartCommand(context: CommandContext, file: string, options: SiteStartOptions, signal: AbortSignal): Promise<number> {
	const plan = await readDrillPlan(file);
	const concurrency = wholeNumber(options.concurrency, '--concurrency');
	const timeoutSeconds = wholeNumber(options.timeout, '--timeout');
	const spec = { ...resolveDrillSpec({ ...(concurrency !== undefined ? { concurrency } : {}), ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}) }, plan), purpose: 'recovery' as const, keep: true };
	const engine = context.engine;
	const prepared = await prepareDrill(engine, spec);
	for (const warning of prepared.warnings) context.warn(`warning: ${warning}`);
	if (prepared.running.size > 0) context.emit({ type: 'site-continue', running: [...prepared.running.values()].map((session) => ({ vm: session.vm, session: session.id, state: session.state })) });
	if (prepared.running.size > 0) context.say(`Continuing: ${[...prepared.running.values()].map((session) => `${session.vm} (session ${session.id}, ${session.state})`).join(', ')} already started by an earlier run of this plan.`);
	if (!(await confirm(context, prepared.destroys, path.basename(file), options.yes, "the plan file's name"))) {
		context.say('Cancelled; nothing was changed.');
		return EXIT.refused;
	}
	const dir = drillDir(context.paths.state, prepared.id);
	context.say(`Site recovery ${prepared.id} on ${engine.host.id} from ${file}: ${spec.vms.map((entry) => `${entry.vm}${entry.after.length > 0 ? ` (after ${entry.after.join(', ')})` : ''}`).join(', ')} — at most ${spec.concurrency} at once.`);
	const report = await runDrill({
		engine,
		stateDir: context.paths.state,
		drill: prepared,
		...planTreeRenderer(context),
		signal,
		onEvent: (event) => {
			if (event.type === 'drill') context.emit({ type: 'site', id: event.drill, dir: event.dir, outcome: event.outcome });
			else context.emit({ type: 'site-vm', site: event.drill, vm: event.vm, session: event.session, milestone: event.milestone, detail: event.detail, timeToRunningMs: event.report.timeToRunningMs, timeToProofMs: event.report.timeToProofMs, timeToReadyMs: event.report.timeToReadyMs });
		},
	});
	return finishStart(context, report, dir, file);
}

function finishStart(context: CommandContext, report: DrillReport, dir: string, file: string): number {
	context.emit({ type: 'result', ok: report.outcome === 'passed', site: report.id, outcome: report.outcome, dir, report: `${dir}/report.json`, markdown: `${dir}/report.md`, vms: report.vms });
	// Fits 80 columns; the sessions are in --json, the report and "rundirect sessions".
	const rows = [['VM', 'RESTORE POINT', 'TO RUNNING', 'TO PROOF OF LIFE', 'TO READY', 'OUTCOME']];
	for (const vm of report.vms) rows.push([vm.vm, vm.restorePoint?.id ?? '—', seconds(vm.timeToRunningMs), seconds(vm.timeToProofMs), vm.checks.length > 0 ? seconds(vm.timeToReadyMs) : '—', vm.outcome]);
	context.say('');
	context.say(table(rows));
	for (const vm of report.vms.filter((candidate) => candidate.reason)) context.say(`  ! ${vm.vm}: ${vm.reason}`);
	context.say(`Report: ${dir}/report.md (and report.json, evidence/)`);
	if (report.outcome === 'interrupted') {
		context.warn(`site recovery ${report.id} was interrupted: run "rundirect start --plan ${file}" again to go on where it stopped`);
		return EXIT.interrupted;
	}
	if (report.allReadyMs != null) context.say(`Every VM running after ${seconds(report.allRunningMs)}, showing proof of life after ${seconds(report.allAliveMs)}, ready after ${seconds(report.allReadyMs)}.`);
	context.say(
		report.outcome === 'passed'
			? `Site recovery ${report.id}: every VM runs from its backup and is ready. "rundirect finalize --plan ${file}" moves them to production storage.`
			: `Site recovery ${report.id} FAILED: ${report.vms.filter((vm) => vm.outcome !== 'passed').map((vm) => `${vm.vm} ${vm.outcome}`).join(', ')}. The others run from their backups; run the same command again to retry.`,
	);
	return report.outcome === 'passed' ? EXIT.ok : EXIT.failed;
}

export interface SiteFinalizeOptions {
	yes?: boolean;
	concurrency?: string;
	/** MiB/s shared by every copy of the plan. */
	rateLimit?: string;
}

export async function siteFinalizeCommand(context: CommandContext, file: string, options: SiteFinalizeOptions, signal: AbortSignal): Promise<number> {
	const plan = await readDrillPlan(file);
	const spec = resolveDrillSpec({}, plan);
	const concurrency = wholeNumber(options.concurrency, '--concurrency') ?? spec.concurrency;
	if (concurrency < 1 || concurrency > 64) throw new RundirectError(`--concurrency must be a whole number from 1 to 64, not ${concurrency}`, EXIT.usage);
	let total: number | null = null;
	if (options.rateLimit !== undefined) {
		const mib = Number(options.rateLimit);
		if (!Number.isFinite(mib) || mib < 0) throw new RundirectError(`--rate-limit must be a number of MiB/s (0: no cap), not ${JSON.stringify(options.rateLimit)}`, EXIT.usage);
		total = mib > 0 ? mib * 2 ** 20 : null;
	}
	const engine = context.engine;
	const { sessions } = await engine.sessions();
	const todo: SessionRecord[] = [];
	const problems: string[] = [];
	const done: string[] = [];
	for (const entry of spec.vms) {
		const open = sessions.find((session) => session.vm === entry.vm && session.source.vm === entry.vm && !isTerminal(session));
		if (open) {
			try {
				engine.checkPhase(open, 'finalize');
				todo.push(open);
			} catch (error) {
				problems.push(`${entry.vm}: ${errorMessage(error)}`);
			}
			continue;
		}
		if (sessions.some((session) => session.vm === entry.vm && session.state === 'finalized')) done.push(entry.vm);
		else problems.push(`${entry.vm} does not run from a backup (no session): "rundirect start --plan ${file}" starts it`);
	}
	if (problems.length > 0) throw new PreflightError(problems);
	if (done.length > 0) context.say(`Already finalized: ${done.join(', ')}.`);
	const consequences = todo.filter((session) => session.setAside).map((session) => `the replaced VM ${session.setAside?.name}, set aside as ${session.setAside?.asideName}, will be DELETED for good once ${session.vm} runs from production`);
	if (!(await confirm(context, consequences, path.basename(file), options.yes, "the plan file's name"))) {
		context.say('Cancelled; nothing was changed.');
		return EXIT.refused;
	}
	const began = performance.now();
	const results = new Map<string, FinalizeManyResult>();
	// The shared work (finalize-many.ts) runs each session in its turn; listr2 draws one row per
	// session: waiting for a slot, then its steps as the engine reports them, then how it ended.
	const rows = new Map<string, { output?: string; title: string }>();
	const showStep = (event: EngineEvent) => {
		const row = event.type === 'step' ? rows.get(event.session) : undefined;
		if (row && event.type === 'step') row.output = `${event.title}${event.status === 'done' ? ' ✓' : ''}`;
	};
	const runs = finalizeManyTasks(engine, todo, {
		concurrency,
		rateLimit: total,
		signal,
		onSession: (event) => {
			const row = rows.get(event.session.id);
			if (event.kind === 'waiting' && row) row.output = `waiting for a free slot (at most ${concurrency} at once)`;
			if (event.kind !== 'ended') return;
			if (event.state === 'finalized' && row) row.title = `${event.session.vm} runs from production storage — finalized in ${formatDuration(event.ms / 1000)}`;
			context.emit({ type: 'site-finalize', vm: event.session.vm, session: event.session.id, state: event.state, ...(event.error ? { error: event.error } : {}) });
		},
	});
	const tasks: Array<ListrTask> = todo.map((session, index) => ({
		title: `Finalize ${session.vm} (session ${session.id})`,
		task: async (_ctx, task) => {
			rows.set(session.id, task);
			const run = runs[index];
			if (!run) return;
			const result = await run();
			results.set(session.vm, result);
			if (result.state !== 'finalized') throw new Error(result.error ?? result.state);
		},
	}));
	const renderer = rendererFor(context);
	engine.on('event', showStep);
	await new Listr(tasks, { concurrent: true, exitOnError: false, registerSignalListeners: false, renderer, fallbackRenderer: 'simple' })
		.run()
		.catch(() => undefined)
		.finally(() => engine.off('event', showStep));
	const failed = [...results.entries()].filter(([, result]) => result.state !== 'finalized');
	context.emit({ type: 'result', ok: failed.length === 0 && !signal.aborted, finalized: [...results.entries()].filter(([, result]) => result.state === 'finalized').map(([vm]) => vm), failed: failed.map(([vm, result]) => ({ vm, error: result.error })), alreadyFinalized: done, ms: Math.round(performance.now() - began) });
	if (signal.aborted) {
		context.warn(`the finalize of ${file} was interrupted: run "rundirect finalize --plan ${file}" again to go on where it stopped`);
		return EXIT.interrupted;
	}
	for (const [vm, result] of failed) context.say(`  ! ${vm}: ${result.error ?? result.state}`);
	context.say(failed.length === 0 ? `Every VM of ${file} runs from production storage (${formatDuration((performance.now() - began) / 1000)}).` : `${failed.length} of ${todo.length} finalize(s) failed: run the same command again to retry them.`);
	return failed.length === 0 ? EXIT.ok : EXIT.failed;
}
