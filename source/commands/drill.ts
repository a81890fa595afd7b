// `rundirect drill <vm>... | --plan <file> | --history`: recovery drills, headless. The drill is
// one listr2 tree (listr2's renderer on a terminal, its simple renderer on a pipe, NDJSON with --json).
import { listDrills, prepareDrill, readDrillPlan, resolveDrillSpec, runDrill, type DrillEvent, type DrillReport } from '../drill/index.ts';
import { drillDir, drillsDir } from '../drill/store.ts';
import { EXIT, RundirectError } from '../core/errors.ts';
import { formatDuration } from '../core/format.ts';
import { planTreeRenderer, type CommandContext } from './context.ts';

export interface DrillCommandOptions {
	point?: string;
	concurrency?: string;
	timeout?: string;
	keep?: boolean;
	plan?: string;
	isolatedSwitch?: string;
	check?: string[];
	checkTcp?: string[];
	history?: boolean;
}

export function wholeNumber(value: string | undefined, option: string): number | undefined {
	if (value === undefined) return undefined;
	const number = Number(value);
	if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number)) throw new RundirectError(`${option} must be a whole number, not ${JSON.stringify(value)}`, EXIT.usage);
	return number;
}

/** A measured time for the summary tables: "4.39 s", or — when there is none. */
export function seconds(ms: number | null | undefined): string {
	return ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`;
}

/** Rows as columns two spaces apart, each as wide as its widest cell. */
export function table(rows: string[][]): string {
	const widths: number[] = [];
	for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
	return rows.map((row) => row.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ').trimEnd()).join('\n');
}

export async function drillCommand(context: CommandContext, vms: string[], options: DrillCommandOptions, signal: AbortSignal): Promise<number> {
	if (options.history) {
		if (vms.length > 0 || options.plan) throw new RundirectError('--history lists past drills: give it no VMs and no --plan', EXIT.usage);
		return historyCommand(context);
	}
	const plan = options.plan ? await readDrillPlan(options.plan) : null;
	const spec = resolveDrillSpec(
		{
			vms,
			...(options.point !== undefined ? { point: options.point } : {}),
			...(options.concurrency !== undefined ? { concurrency: wholeNumber(options.concurrency, '--concurrency') } : {}),
			...(options.timeout !== undefined ? { timeoutSeconds: wholeNumber(options.timeout, '--timeout') } : {}),
			...(options.keep ? { keep: true } : {}),
			...(options.isolatedSwitch !== undefined ? { isolatedSwitch: options.isolatedSwitch } : {}),
			...(options.check !== undefined ? { checks: options.check } : {}),
			...(options.checkTcp !== undefined ? { tcpChecks: options.checkTcp.map((port) => wholeNumber(port, '--check-tcp') ?? 0) } : {}),
		},
		plan,
	);
	const { engine } = context;
	const prepared = await prepareDrill(engine, spec);
	for (const warning of prepared.warnings) context.warn(`warning: ${warning}`);
	const dir = drillDir(context.paths.state, prepared.id);
	context.say(`Recovery drill ${prepared.id} on ${engine.host.id}: ${spec.vms.map((entry) => `${entry.vm}${entry.after.length > 0 ? ` (after ${entry.after.join(', ')})` : ''}`).join(', ')} — at most ${spec.concurrency} at once, proof of life within ${[...new Set(spec.vms.map((entry) => entry.timeoutSeconds))].join('/')} s, network: ${prepared.report.network}.`);
	context.say(`Each VM runs under a new name (${prepared.report.vms[0]?.drillName ?? ''}, …); nothing existing is replaced or touched.`);

	const report = await runDrill({
		engine,
		stateDir: context.paths.state,
		drill: prepared,
		...planTreeRenderer(context),
		signal,
		onEvent: (event: DrillEvent) => {
			if (event.type === 'drill') context.emit({ type: 'drill', id: event.drill, dir: event.dir, outcome: event.outcome });
			else context.emit({ type: 'drill-vm', drill: event.drill, vm: event.vm, drillName: event.drillName, session: event.session, milestone: event.milestone, detail: event.detail, timeToRunningMs: event.report.timeToRunningMs, timeToProofMs: event.report.timeToProofMs, timeToReadyMs: event.report.timeToReadyMs });
		},
	});
	return finish(context, report, dir);
}

function finish(context: CommandContext, report: DrillReport, dir: string): number {
	context.emit({ type: 'result', ok: report.outcome === 'passed', drill: report.id, outcome: report.outcome, dir, report: `${dir}/report.json`, markdown: `${dir}/report.md`, vms: report.vms });
	// Fits 80 columns: the drill names are in the tree above, the report and --json.
	const rows = [['VM', 'RESTORE POINT', 'RUNNING', 'PROOF OF LIFE', 'READY', 'OUTCOME', 'CLEANUP']];
	for (const vm of report.vms) rows.push([vm.vm, vm.restorePoint?.id ?? '—', seconds(vm.timeToRunningMs), seconds(vm.timeToProofMs), vm.checks.length > 0 ? seconds(vm.timeToReadyMs) : '—', vm.outcome, vm.cleanup.state]);
	context.say('');
	context.say(table(rows));
	context.say('(times from each VM\'s start)');
	for (const vm of report.vms.filter((candidate) => candidate.reason)) context.say(`  ! ${vm.vm}: ${vm.reason}`);
	context.say(`Report: ${dir}/report.md (and report.json, evidence/)`);
	if (report.outcome === 'interrupted') {
		const left = report.vms.filter((vm) => vm.cleanup.state === 'pending' && vm.session);
		const message =
			left.length > 0
				? `drill ${report.id} was interrupted; its sessions ${left.map((vm) => `${vm.session} (${vm.drillName})`).join(', ')} are marked as a drill in the journal: "rundirect resume --rollback" stops and discards them (or "rundirect stop <session>")`
				: `drill ${report.id} was interrupted before any VM was started; nothing remains`;
		context.warn(message);
		context.emit({ type: 'warning', session: null, message });
		return EXIT.interrupted;
	}
	const kept = report.vms.filter((vm) => vm.cleanup.state === 'kept');
	if (kept.length > 0) context.say(`Kept running (--keep): ${kept.map((vm) => `${vm.drillName} — "rundirect stop ${vm.session}"`).join(', ')}.`);
	if (report.allReadyMs != null) context.say(`The whole plan: every VM running after ${seconds(report.allRunningMs ?? null)}, showing proof of life after ${seconds(report.allAliveMs ?? null)}, ready after ${seconds(report.allReadyMs)}.`);
	context.say(report.outcome === 'passed' ? `Drill ${report.id} PASSED: every VM showed proof of life${report.vms.some((vm) => vm.checks.length > 0) ? ' and passed its application checks' : ''}.` : `Drill ${report.id} FAILED: ${report.vms.filter((vm) => vm.outcome !== 'passed').map((vm) => `${vm.vm} ${vm.outcome}`).join(', ')}.`);
	return report.outcome === 'passed' ? EXIT.ok : EXIT.failed;
}

async function historyCommand(context: CommandContext): Promise<number> {
	const { drills, problems } = await listDrills(context.paths.state);
	context.emit({ type: 'drills', drills, problems });
	for (const problem of problems) context.warn(`warning: ${problem}`);
	if (drills.length === 0) {
		context.say('No drills yet: run "rundirect drill <vm>..." to prove a backup boots.');
		return EXIT.ok;
	}
	const rows = [['DRILL', 'STARTED', 'HOST', 'OUTCOME', 'TOOK', 'VMS (time to proof of life)']];
	for (const drill of drills) {
		rows.push([
			drill.id,
			drill.startedAt,
			drill.host,
			drill.outcome,
			drill.endedAt ? formatDuration((Date.parse(drill.endedAt) - Date.parse(drill.startedAt)) / 1000) : '—',
			drill.vms.map((vm) => `${vm.vm} ${vm.outcome === 'passed' ? seconds(vm.timeToProofMs) : vm.outcome}`).join(', '),
		]);
	}
	context.say(table(rows));
	context.say(`Reports: ${drillsDir(context.paths.state)}/<drill>/report.md`);
	return EXIT.ok;
}
