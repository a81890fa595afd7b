// A recovery drill: each VM is Run Direct-started under a new drill name with its network
// isolated, watched until the guest shows proof of life (timed: the measured recovery time),
// its evidence kept, then stopped so nothing remains. One listr2 tree — a task per VM, its
// steps as subtasks — rendered by listr2 headless, or by the console's own renderer class.
import { setTimeout as sleep } from 'node:timers/promises';
import { formatMs } from '../core/format.ts';
import { Listr, type ListrRendererValue, type ListrTask } from 'listr2';
import { execsInGuest, hasEvidence, probesTcp } from '../hosts/capabilities.ts';
import type { Host } from '../hosts/host.ts';
import type { Engine, EngineEvent, StartProposal } from '../restore/engine.ts';
import { AbortedError, EXIT, RundirectError, errorMessage } from '../core/errors.ts';
import type { SessionRecord } from '../restore/session.ts';
import type { RendererChoice } from '../restore/renderer.ts';
import type { DrillSpec, DrillVmSpec } from './plan.ts';
import { waitForProofOfLife } from './proof.ts';
import { CHECK_OUTPUT_BYTES, checkName, connectionsText, overallOutcome, planTimes, type DrillCheckReport, type DrillReport, type DrillVmReport } from './report.ts';
import { Milestone, Slots, unlessAborted } from './schedule.ts';
import { drillDir, saveReport, writeEvidence } from './store.ts';
import { prepareDrill, type PreparedDrill } from './prepare.ts';

/** What the drill tells its watchers (the command's NDJSON, the console) as it goes. */
export type DrillEvent =
	| { type: 'drill'; drill: string; dir: string; outcome: DrillReport['outcome'] }
	| { type: 'drill-vm'; drill: string; vm: string; drillName: string; session: string | null; milestone: 'waiting' | 'starting' | 'running' | 'alive' | 'no-proof' | 'check' | 'ready' | 'evidence' | 'stopped' | 'kept' | 'skipped' | 'failed' | 'interrupted'; detail: string | null; report: DrillVmReport };

/** `renderer`: as Engine.runPhase ('silent' unless given). */
export interface DrillRunOptions<Renderer extends ListrRendererValue = ListrRendererValue> extends RendererChoice<Renderer> {
	engine: Engine;
	stateDir: string;
	/** From prepareDrill (the console shows it first), or a spec to prepare now. */
	drill: PreparedDrill | DrillSpec;
	signal?: AbortSignal;
	onEvent?: (event: DrillEvent) => void;
}

/** One VM's part of the drill, shared by its subtasks and by the VMs that depend on it. */
interface VmRun {
	spec: DrillVmSpec;
	report: DrillVmReport;
	/** Null for a VM an earlier run of the same site recovery already started (`session` is set). */
	proposal: StartProposal | null;
	session: SessionRecord | null;
	/** performance.now() when the start began: the clock of both measured times. */
	t0: number | null;
	/** Settled true once ready (proof of life, then every application check passed), false when it will never be (failed, skipped, interrupted). */
	alive: Milestone<boolean>;
	/** Settled when its part is over: a dependency stays up until then. */
	finished: Milestone<void>;
	dependents: string[];
	release: (() => void) | null;
	/** No further subtask of this VM runs (skipped, failed before a session, interrupted). */
	over: boolean;
	/** Sets the VM's row title (its verdict, once known). */
	retitle?: (title: string) => void;
}

export interface DrillContext {
	drill: string;
}

/** Runs a drill to its end and returns its report (also kept under `<state>/drills/<id>/`). Never throws for a VM's failure: that is a result. */
export async function runDrill<Renderer extends ListrRendererValue = 'silent'>(options: DrillRunOptions<Renderer>): Promise<DrillReport> {
	const { engine, stateDir } = options;
	const prepared = 'proposals' in options.drill ? options.drill : await prepareDrill(engine, options.drill);
	const { report, spec } = prepared;
	const signal = options.signal ?? new AbortController().signal;
	const emit = (event: DrillEvent) => options.onEvent?.(event);
	const dir = drillDir(stateDir, report.id);

	// Reports are rewritten as the drill goes; writes are chained so they never interleave.
	let saving: Promise<unknown> = Promise.resolve();
	const persist = (): Promise<void> => {
		report.outcome = overallOutcome(report.vms);
		Object.assign(report, planTimes(report));
		const snapshot = structuredClone(report);
		const next = saving.then(() => saveReport(stateDir, snapshot));
		saving = next.catch(() => undefined);
		return next.then(() => undefined);
	};

	const runs = new Map<string, VmRun>();
	for (const [index, entry] of spec.vms.entries()) {
		const proposal = prepared.proposals.get(entry.vm) ?? null;
		const earlier = prepared.running.get(entry.vm) ?? null;
		const vmReport = report.vms[index];
		if ((!proposal && !earlier) || !vmReport) throw new RundirectError(`drill ${report.id} has no checked start for ${entry.vm}`, EXIT.failed);
		runs.set(entry.vm, { spec: entry, report: vmReport, proposal, session: earlier, t0: null, alive: new Milestone(), finished: new Milestone(), dependents: [], release: null, over: false });
	}
	for (const run of runs.values()) for (const dependency of run.spec.after) runs.get(dependency)?.dependents.push(run.spec.vm);

	const slots = new Slots(spec.concurrency);
	const milestone = (run: VmRun, name: Extract<DrillEvent, { type: 'drill-vm' }>['milestone'], detail: string | null = null) => {
		emit({ type: 'drill-vm', drill: report.id, vm: run.spec.vm, drillName: run.report.drillName, session: run.session?.id ?? null, milestone: name, detail, report: structuredClone(run.report) });
		void persist().catch(() => undefined);
	};

	await persist();
	emit({ type: 'drill', drill: report.id, dir, outcome: report.outcome });

	const tasks = [...runs.values()].map((run) => vmTask(run, { engine, stateDir, report, runs, slots, signal, milestone, keep: spec.keep, recovery: spec.purpose === 'recovery' }));
	const listr = new Listr<DrillContext, Renderer | 'silent', 'simple'>(tasks, {
		ctx: { drill: report.id },
		concurrent: true,
		exitOnError: false,
		registerSignalListeners: false,
		renderer: options.renderer ?? 'silent',
		rendererOptions: options.rendererOptions,
		fallbackRenderer: 'simple',
	});
	try {
		await listr.run();
	} finally {
		// Whatever happened, nobody may wait forever and no slot stays taken.
		for (const run of runs.values()) {
			run.alive.settle(false);
			run.finished.settle();
			run.release?.();
			if (run.report.outcome === 'pending' || run.report.outcome === 'running') {
				run.report.outcome = signal.aborted ? 'interrupted' : 'failed';
				run.report.reason ??= signal.aborted ? 'the drill was interrupted' : 'the drill ended before this VM was done';
			}
		}
		report.endedAt = new Date().toISOString();
		await persist().catch(() => undefined);
		await saving;
	}
	emit({ type: 'drill', drill: report.id, dir, outcome: report.outcome });
	return structuredClone(report);
}

interface Shared {
	engine: Engine;
	stateDir: string;
	report: DrillReport;
	runs: Map<string, VmRun>;
	slots: Slots;
	signal: AbortSignal;
	keep: boolean;
	/** A site recovery: own names and networks, left running (no stop). */
	recovery: boolean;
	milestone: (run: VmRun, name: Extract<DrillEvent, { type: 'drill-vm' }>['milestone'], detail?: string | null) => void;
}


function elapsed(run: VmRun): number {
	return run.t0 === null ? 0 : Math.round(performance.now() - run.t0);
}

/** What is left behind after an interruption, and the command that cleans it up. */
function markInterrupted(run: VmRun): void {
	run.over = true;
	run.report.outcome = 'interrupted';
	run.report.reason ??= 'the drill was interrupted';
	if (run.session && run.report.cleanup.state !== 'stopped') {
		run.report.cleanup = { state: 'pending', at: null, error: null, hint: `"rundirect resume --rollback" (or "rundirect stop ${run.session.id}") stops ${run.report.drillName} and discards it` };
	}
	run.alive.settle(false);
}

function fail(run: VmRun, reason: string): void {
	run.report.outcome = 'failed';
	run.report.reason ??= reason;
	run.alive.settle(false);
}

/** The VM's subtasks: its turn, start, proof of life, evidence, (hold for dependents), stop, result. */
function vmTask(run: VmRun, shared: Shared): ListrTask<DrillContext> {
	const { engine, signal } = shared;
	const { spec, report } = run;
	const pointId = report.restorePoint?.id ?? '?';
	const isAborted = (error: unknown) => error instanceof AbortedError || signal.aborted;
	/** Rethrows a subtask's error, the VM marked interrupted first when the drill was. */
	const interrupted = (error: unknown): never => {
		if (isAborted(error)) {
			markInterrupted(run);
			shared.milestone(run, 'interrupted');
		}
		throw error;
	};
	const subtasks: Array<ListrTask<DrillContext>> = [
		{
			title: spec.after.length > 0 ? `Wait for ${spec.after.join(', ')} to show proof of life, and for a free slot (at most ${shared.slots.limit} at once)` : `Wait for a free slot (at most ${shared.slots.limit} at once)`,
			task: async (_ctx, task) => {
				shared.milestone(run, 'waiting');
				try {
					for (const dependency of spec.after) {
						const other = shared.runs.get(dependency);
						if (!other) continue;
						task.output = `waiting for ${dependency}'s proof of life`;
						if (!(await unlessAborted(other.alive.promise, signal))) {
							run.over = true;
							report.outcome = 'skipped';
							report.reason = `${dependency}, which it starts after, showed no proof of life`;
							report.endedAt = new Date().toISOString();
							run.alive.settle(false);
							run.finished.settle();
							shared.milestone(run, 'skipped', report.reason);
							task.skip(`Skipped: ${report.reason}`);
							return;
						}
					}
					task.output = 'waiting for a free slot';
					run.release = await shared.slots.acquire(signal);
				} catch (error) {
					if (isAborted(error)) markInterrupted(run);
					throw error;
				}
			},
			exitOnError: false,
		},
		{
			title: run.proposal ? `Start ${report.drillName} from ${spec.vm}/${pointId} (Run Direct${shared.recovery ? '' : ', network isolated'})` : `${report.drillName} already runs from its backup (${pointId}, session ${run.session?.id ?? '?'})`,
			skip: () => run.over,
			task: async (_ctx, task) => {
				run.t0 = performance.now();
				report.startedAt = new Date().toISOString();
				report.outcome = 'running';
				const proposal = run.proposal;
				if (!proposal) {
					// Started by an earlier, interrupted run of this site recovery: only its proof of life and checks are left to see.
					report.timeToRunningMs = 0;
					report.runningAt = report.startedAt;
					shared.milestone(run, 'running', 'started by an earlier run of this plan');
					return;
				}
				const follow = (event: EngineEvent) => {
					if (event.type === 'step' && event.session === run.session?.id) task.output = `${event.title}${event.status === 'done' ? ' ✓' : ''}`;
				};
				engine.on('event', follow);
				try {
					run.session = await engine.beginStart(proposal);
					report.session = run.session.id;
					shared.milestone(run, 'starting');
					run.session = await engine.runPhase(run.session.id, 'start', { signal });
					report.timeToRunningMs = elapsed(run);
					report.runningAt = new Date().toISOString();
					task.title = `${report.drillName} runs from its backup (${pointId}) — after ${formatMs(report.timeToRunningMs)}`;
					shared.milestone(run, 'running');
				} catch (error) {
					if (isAborted(error)) {
						markInterrupted(run);
						shared.milestone(run, 'interrupted');
					} else {
						fail(run, `the Run Direct start failed: ${errorMessage(error)}`);
						// Without a session nothing was changed, so nothing is left to clean up.
						if (!run.session) run.over = true;
						shared.milestone(run, 'failed', report.reason);
					}
					throw error;
				} finally {
					engine.off('event', follow);
				}
			},
			exitOnError: false,
		},
		{
			title: `Wait for proof of life (${report.proof}, within ${spec.timeoutSeconds} s of the start)`,
			skip: () => run.over || report.outcome !== 'running',
			task: async (_ctx, task) => {
				const session = run.session;
				if (!session || run.t0 === null) return;
				try {
					const deadline = run.t0 + spec.timeoutSeconds * 1000;
					let shown = '';
					const result = await waitForProofOfLife(engine.host, session.plan, deadline, signal, (status, remaining) => {
						// Every 5 s at most: a piped (simple) renderer prints each change on a line of its own.
						const text = `${status ? `VM ${status.vm}` : 'VM status unknown'}, no ${report.proof} yet — ${Math.max(0, Math.ceil(remaining / 5000) * 5)} s left`;
						if (text !== shown) task.output = shown = text;
					});
					if (!result.alive) {
						fail(run, result.reason.replace('within the timeout', `within ${spec.timeoutSeconds} s`));
						shared.milestone(run, 'no-proof', report.reason);
						throw new Error(report.reason ?? 'no proof of life');
					}
					report.timeToProofMs = Math.round(result.at - run.t0);
					report.aliveAt = new Date().toISOString();
					task.title = `Proof of life (${report.proof}) after ${formatMs(report.timeToProofMs)}`;
					shared.milestone(run, 'alive');
					if (spec.checks.length === 0) ready(run, report.timeToProofMs, report.aliveAt);
				} catch (error) {
					interrupted(error);
				}
			},
			exitOnError: false,
		},
		...(spec.checks.length > 0
			? [
					{
						title: `Application check${spec.checks.length === 1 ? '' : 's'}: ${report.checks.map(checkName).join('; ')}`,
						skip: () => run.over || report.outcome !== 'running' || report.aliveAt === null,
						task: async (_ctx, task) => {
							try {
								for (const [index, check] of report.checks.entries()) {
									const passed = await runCheck(run, shared, check, (text) => (task.output = text));
									shared.milestone(run, 'check', `${checkName(check)}: ${check.outcome}`);
									if (!passed) {
										fail(run, `application check ${index + 1} (${checkName(check)}) ${failure(check)} within ${check.timeoutSeconds} s of proof of life${firstLine(check) ? `: ${firstLine(check)}` : ''}`);
										shared.milestone(run, 'failed', report.reason);
										throw new Error(report.reason ?? 'an application check failed');
									}
								}
								ready(run, elapsed(run), new Date().toISOString());
								task.title = `Application ready after ${formatMs(report.timeToReadyMs)} (${report.checks.length} check${report.checks.length === 1 ? '' : 's'} passed)`;
							} catch (error) {
								interrupted(error);
							}
						},
						exitOnError: false,
					} satisfies ListrTask<DrillContext>,
				]
			: []),
		{
			title: hasEvidence(engine.host) ? `Capture evidence (${engine.host.evidenceSource})` : 'Capture evidence',
			skip: () => (run.over || !run.session ? true : hasEvidence(engine.host) ? false : `the host ${engine.host.id} offers no evidence`),
			task: async (_ctx, task) => {
				const session = run.session;
				const host = engine.host;
				if (!session || !hasEvidence(host)) return;
				try {
					const evidence = await host.captureEvidence(session.plan);
					const written = await writeEvidence(shared.stateDir, shared.report.id, spec.vm, evidence);
					const summary = evidence.kind === 'thumbnail' ? 'screen thumbnail (PNG)' : summarizeSerial(written.text ?? '');
					report.evidence = { kind: evidence.kind, file: written.file, summary, ...(evidence.file ? { hostFile: evidence.file } : {}) };
					task.title = `Evidence: ${summary} → ${written.file}`;
					shared.milestone(run, 'evidence', summary);
				} catch (error) {
					// Missing evidence does not change whether the guest came up; the report says it is missing.
					task.title = `Evidence could not be captured: ${errorMessage(error)}`;
				}
			},
		},
		// A site recovery leaves every VM running anyway: nothing to hold up for dependents.
		...(run.dependents.length > 0 && !shared.recovery
			? [
					{
						title: `Keep ${report.drillName} up until ${run.dependents.join(', ')} ${run.dependents.length === 1 ? 'is' : 'are'} done`,
						skip: () => run.over || !run.session || report.outcome !== 'passed',
						task: async () => {
							try {
								for (const dependent of run.dependents) await unlessAborted(shared.runs.get(dependent)?.finished.promise ?? Promise.resolve(), signal);
							} catch (error) {
								if (isAborted(error)) markInterrupted(run);
								throw error;
							}
						},
						exitOnError: false,
					} satisfies ListrTask<DrillContext>,
				]
			: []),
		{
			title: shared.recovery ? `Leave ${report.drillName} running from its backup` : shared.keep ? `Keep ${report.drillName} running (--keep)` : `Stop ${report.drillName} and discard it`,
			skip: () => run.over || !run.session,
			task: async (_ctx, task) => {
				const session = run.session;
				if (!session) return;
				if (shared.recovery) {
					report.cleanup = { state: 'kept', at: null, error: null, hint: `"rundirect finalize --plan <file>" (or "rundirect finalize ${session.id}") keeps it on production storage; "rundirect stop ${session.id}" discards it` };
					task.title = `${report.drillName} runs from its backup: "rundirect finalize --plan <file>" moves the plan's VMs to production`;
					shared.milestone(run, 'kept');
					return;
				}
				if (shared.keep) {
					report.cleanup = { state: 'kept', at: null, error: null, hint: `"rundirect stop ${session.id}" stops ${report.drillName} and discards it` };
					task.title = `${report.drillName} keeps running (--keep): "rundirect stop ${session.id}" discards it`;
					shared.milestone(run, 'kept');
					return;
				}
				try {
					await engine.runPhase(session.id, 'stop', { signal });
					report.cleanup = { state: 'stopped', at: new Date().toISOString(), error: null, hint: null };
					task.title = `${report.drillName} stopped; nothing of it remains`;
					shared.milestone(run, 'stopped');
				} catch (error) {
					if (isAborted(error)) {
						markInterrupted(run);
						shared.milestone(run, 'interrupted');
						throw error;
					}
					report.cleanup = { state: 'failed', at: new Date().toISOString(), error: errorMessage(error), hint: `run "rundirect stop ${session.id}" again` };
					// A drill that cannot clean up after itself did not pass, whatever the guest did.
					if (report.outcome === 'passed') {
						report.outcome = 'failed';
						report.reason = `the cleanup failed: ${errorMessage(error)}`;
					}
					throw error;
				}
			},
			exitOnError: false,
		},
		{
			title: 'Result',
			task: (_ctx, task) => {
				report.endedAt ??= new Date().toISOString();
				run.release?.();
				run.release = null;
				run.alive.settle(report.outcome === 'passed');
				run.finished.settle();
				const readyText = report.checks.length > 0 ? `, application ready after ${formatMs(report.timeToReadyMs)}` : '';
				const verdict = report.outcome === 'passed' ? `passed — proof of life after ${formatMs(report.timeToProofMs)}${readyText}` : report.outcome === 'interrupted' ? 'interrupted' : `${report.outcome.toUpperCase()} — ${report.reason ?? ''}`;
				run.retitle?.(`${shared.recovery ? spec.vm : `${spec.vm} → ${report.drillName}`}: ${verdict}`);
				if (report.outcome === 'interrupted') throw new AbortedError();
				if (report.outcome === 'passed') {
					task.title = `Passed: running after ${formatMs(report.timeToRunningMs)}, proof of life after ${formatMs(report.timeToProofMs)}${readyText}`;
					return;
				}
				if (report.outcome === 'skipped') throw new Error(`Skipped: ${report.reason ?? ''}`);
				throw new Error(`Failed: ${report.reason ?? 'unknown'}`);
			},
		},
	];
	return {
		title: shared.recovery ? `${spec.vm} (restore point ${pointId})` : `${spec.vm} → ${report.drillName} (restore point ${pointId})`,
		task: (_ctx, task) => {
			run.retitle = (title) => (task.title = title);
			return task.newListr(subtasks, { concurrent: false, exitOnError: true });
		},
	};
}

/** The VM is ready (proof of life, then its checks): it passed, and its dependents may start. */
function ready(run: VmRun, ms: number, at: string): void {
	run.report.timeToReadyMs = ms;
	run.report.readyAt = at;
	run.report.outcome = 'passed';
	run.alive.settle(true);
	// Kept up for its dependents, it no longer counts as booting: its slot goes to the next VM.
	if (run.dependents.length > 0) {
		run.release?.();
		run.release = null;
	}
}

const CHECK_RETRY_MS = 2000;
/** One attempt may take this long (a check that hangs is tried again while time is left). */
const CHECK_ATTEMPT_MS = 30_000;
/** An attempt begun within the check's time gets at least this long to end (a loaded guest answers slowly; a 1 s remnant would only time out). */
const CHECK_MIN_ATTEMPT_MS = 5000;

function clip(text: string): string {
	return Buffer.byteLength(text) <= CHECK_OUTPUT_BYTES ? text : `${Buffer.from(text).subarray(0, CHECK_OUTPUT_BYTES).toString('utf8')}\n… (cut at ${CHECK_OUTPUT_BYTES} bytes)`;
}

function firstLine(check: DrillCheckReport): string {
	const text = check.tcp !== undefined ? (check.error ?? connectionsText(check)) : check.stderr.trim() || check.stdout.trim() || check.error || '';
	return text.split('\n')[0]?.slice(0, 160) ?? '';
}

/** What a failed check did: "exited 2", "did not answer", "did not run: …". */
function failure(check: DrillCheckReport): string {
	if (check.tcp !== undefined) return check.connections && check.connections.length > 0 ? 'did not answer' : 'could not be probed';
	return check.exitCode !== null ? `exited ${check.exitCode}` : `did not run: ${check.error ?? 'unknown'}`;
}

/** Runs one check until it passes or its time (from proof of life) is up; the check's report records every attempt's end. */
async function runCheck(run: VmRun, shared: Shared, check: DrillCheckReport, say: (text: string) => void): Promise<boolean> {
	const attempt = attemptOf(shared.engine.host, run, check, say);
	if (!attempt) return false;
	const deadline = performance.now() + check.timeoutSeconds * 1000;
	while (true) {
		if (shared.signal.aborted) throw new AbortedError();
		check.attempts++;
		let passed = false;
		try {
			passed = await attempt(Math.max(CHECK_MIN_ATTEMPT_MS, Math.round(Math.min(CHECK_ATTEMPT_MS, deadline - performance.now()))));
		} catch (error) {
			// An attempt that did not end keeps the evidence of the last one that did (its exit code and output); the error says what became of this one.
			check.error = errorMessage(error);
		}
		if (passed) {
			check.outcome = 'passed';
			check.passedAt = new Date().toISOString();
			check.timeToPassMs = elapsed(run);
			return true;
		}
		if (performance.now() + CHECK_RETRY_MS >= deadline) {
			check.outcome = 'failed';
			return false;
		}
		await sleep(CHECK_RETRY_MS, undefined, { signal: shared.signal }).catch(() => undefined);
	}
}

/** One attempt of the check (true: it passed), recording its evidence; null when the host cannot run it at all (then the check has failed). */
function attemptOf(host: Host, run: VmRun, check: DrillCheckReport, say: (text: string) => void): ((timeoutMs: number) => Promise<boolean>) | null {
	const session = run.session;
	const cannot = (why: string) => {
		check.outcome = 'failed';
		check.error = why;
		return null;
	};
	if (check.tcp !== undefined) {
		const port = check.tcp;
		if (!session || !probesTcp(host)) return cannot(`the host ${host.id} has no probe on its drill networks`);
		return async (timeoutMs) => {
			say(`TCP port ${port} (attempt ${check.attempts}, through ${host.tcpProbeVia})`);
			const connections = await host.probeTcp(session.plan, port, timeoutMs);
			check.connections = connections;
			check.error = null;
			return connections.some((connection) => connection.connected);
		};
	}
	if (!session || !execsInGuest(host)) return cannot(`the host ${host.id} cannot run commands inside its guests`);
	return async (timeoutMs) => {
		say(`${check.command.join(' ')} (attempt ${check.attempts}, through ${host.guestExecVia})`);
		const result = await host.guestExec(session.plan, check.command, timeoutMs);
		check.exitCode = result.exitCode;
		check.stdout = clip(result.stdout);
		check.stderr = clip(result.stderr);
		check.error = result.exitCode === null ? `ended by signal ${result.signal ?? '?'}` : null;
		return result.exitCode === 0;
	};
}

/** "14 lines; last: rundirect-tick 3", or that the console was empty. */
function summarizeSerial(text: string): string {
	const lines = text.split('\n').filter((line) => line.trim().length > 0);
	if (lines.length === 0) return 'serial console empty (the guest printed nothing)';
	return `serial console tail, ${lines.length} line${lines.length === 1 ? '' : 's'}; last: ${(lines[lines.length - 1] ?? '').trim().slice(0, 80)}`;
}
