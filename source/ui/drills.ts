// View-model of the console's recovery drills and of the sessions it finds interrupted on
// open: plain types and pure helpers (no React, no I/O). The store runs them; components draw them.
import type { DrillEvent, DrillSpec, DrillSummary, DrillVmReport, DrillReport } from '../drill/index.ts';
import type { Reconciliation } from '../restore/reconcile.ts';
import { allowedPhases, type Phase } from '../restore/session.ts';
import type { TaskNode } from './task-renderer.ts';
import type { UiError } from './model.ts';

/** A VM to drill, from its newest restore point (`latest`) or a chosen one. */
export interface DrillTarget {
	vm: string;
	point: string;
}

export type DrillMilestone = Extract<DrillEvent, { type: 'drill-vm' }>['milestone'];

/** A drill this console runs: listr2's live tree, and each VM's latest milestone (onEvent). */
export interface LiveDrill {
	id: string;
	/** A drill, or a site recovery (`S`). */
	kind: PlanKind;
	vms: Array<{ vm: string; drillName: string }>;
	tree: TaskNode[];
	running: boolean;
	milestones: Record<string, { milestone: DrillMilestone; detail: string | null; report: DrillVmReport }>;
	/** The final report, once the drill has ended. */
	report: DrillReport | null;
	/** The drill could not run at all (a drill's VM failing is in the report, not here). */
	error: UiError | null;
	startedAt: number;
}

export interface DrillHistory {
	drills: DrillSummary[];
	problems: string[];
	error: UiError | null;
}

/** The timeouts the drill dialog offers (its defaults are `rundirect drill`'s, from source/drill). */
export const DRILL_TIMEOUT_STEPS = [10, 30, 60, 120, 300, 600, 1800, 3600] as const;

/** What a plan run from the console is: a drill (new names, isolated, discarded) or a site recovery (own names, kept). */
export type PlanKind = 'drill' | 'recovery';

/** `checks`: the same application checks for every VM (the dialog's Check line). */
export function drillSpecOf(targets: readonly DrillTarget[], settings: { concurrency: number; timeoutSeconds: number }, kind: PlanKind = 'drill', checks: DrillSpec['vms'][number]['checks'] = []): DrillSpec {
	return {
		vms: targets.map((target) => ({ vm: target.vm, point: target.point, after: [], timeoutSeconds: settings.timeoutSeconds, checks })),
		concurrency: settings.concurrency,
		isolatedSwitch: null,
		keep: kind === 'recovery',
		...(kind === 'recovery' ? { purpose: 'recovery' as const } : {}),
	};
}

/** The next (or previous) timeout the dialog offers. */
export function stepTimeout(current: number, direction: 1 | -1): number {
	const steps: readonly number[] = DRILL_TIMEOUT_STEPS;
	if (direction > 0) return steps.find((value) => value > current) ?? current;
	return [...steps].reverse().find((value) => value < current) ?? current;
}

// ---------------------------------------------------------------- interrupted sessions

/** What `rundirect resume` would continue (or a drill's session to clean up), plus sessions another process drives. */
export function interruptedOf(findings: readonly Reconciliation[]): Reconciliation[] {
	return findings.filter(
		(finding) =>
			finding.action === 'busy' ||
			finding.action === 'start' ||
			finding.action === 'finalize' ||
			finding.action === 'stop' ||
			finding.action === 'restart-vm' ||
			(finding.session.purpose === 'drill' && rollbackPhase(finding) !== null),
	);
}

/** The safe way back the engine can take now (as `resume --rollback`), or null. */
export function rollbackPhase(finding: Reconciliation): Phase | null {
	if (finding.action === 'busy') return null;
	const phase = finding.rollback ?? (finding.action === 'stop' ? 'stop' : null);
	return phase !== null && allowedPhases(finding.session).includes(phase) ? phase : null;
}

export function canContinue(finding: Reconciliation): boolean {
	return finding.action === 'start' || finding.action === 'finalize' || finding.action === 'stop' || finding.action === 'restart-vm';
}

/** What continuing does, in words. */
export function continueText(finding: Reconciliation): string {
	const vm = finding.session.vm;
	switch (finding.action) {
		case 'start':
			return `continue the start (steps 1–4) from the journal: ${vm} runs from its backup`;
		case 'finalize':
			return `continue finalize (steps 5–7): a copy QEMU is still doing is adopted, then ${vm} runs from production`;
		case 'stop':
			return `continue the stop: ${vm} is removed and its changes discarded, as was asked`;
		case 'restart-vm':
			return `restart ${vm} on its snapshot layer (no write is lost)`;
		default:
			return 'nothing to continue';
	}
}

/** What rolling back does, in words; null when there is no safe way back. */
export function rollbackText(finding: Reconciliation): string | null {
	if (rollbackPhase(finding) === null) return null;
	const { session } = finding;
	if (session.purpose === 'drill') return `stop ${session.vm} and discard it (a drill's VM: nothing of value is lost)`;
	return `stop ${session.vm}: it is removed and EVERY change made in it is DISCARDED${session.setAside ? `; ${session.setAside.name} comes back as it was` : ''}`;
}
