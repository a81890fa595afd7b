// A session is one Run Direct of one restore point onto one host. Its record is the
// journal entry: everything needed to show it, resume it or roll it back after a crash.
import type { ApplyResult, RestorePlan, RestoreTarget, SetAsideRecord } from '../hosts/host.ts';

export type SessionState = 'starting' | 'running' | 'finalizing' | 'finalized' | 'stopping' | 'stopped' | 'failed';
export type Phase = 'start' | 'finalize' | 'stop';

export const STEP_IDS = [
	'replace-vm',
	'create-disks',
	'snapshot-layer',
	'start-vm',
	'copy-data',
	'apply-changes',
	'delete-layer',
	'purge-replaced',
	'discard',
	'restore-replaced',
] as const;
export type StepId = (typeof STEP_IDS)[number];

export const PHASE_STEPS: Record<Phase, StepId[]> = {
	start: ['replace-vm', 'create-disks', 'snapshot-layer', 'start-vm'],
	finalize: ['copy-data', 'apply-changes', 'delete-layer', 'purge-replaced'],
	stop: ['discard', 'restore-replaced'],
};

export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface StepRecord {
	id: StepId;
	/** 1–7 for the Run Direct steps, null for the housekeeping ones. */
	number: number | null;
	status: StepStatus;
	startedAt: string | null;
	endedAt: string | null;
	/** How many times the step was begun (more than 1 = resumed after an interruption). */
	attempts: number;
	bytesDone: number | null;
	bytesTotal: number | null;
	error: string | null;
	note: string | null;
}

export interface SessionSource {
	destination: string;
	vm: string;
	pointId: string;
	takenAt: string;
	manifestPath: string;
}

export interface SessionRecord {
	schemaVersion: 1;
	id: string;
	host: string;
	vm: string;
	source: SessionSource;
	target: RestoreTarget;
	state: SessionState;
	/** The phase that failed, so the right command can retry it. */
	failedPhase: Phase | null;
	createdAt: string;
	updatedAt: string;
	/** Set when step 4 completes: the VM runs from the backup from then until step 6. */
	runningFromBackupSince: string | null;
	finalizedAt: string | null;
	stoppedAt: string | null;
	plan: RestorePlan;
	setAside: SetAsideRecord | null;
	apply: ApplyResult | null;
	steps: StepRecord[];
	lastError: { step: StepId | null; message: string; at: string; hint: string } | null;
	/** Absent for ordinary restores. A drill's session is only ever stopped: `resume --rollback` cleans it up. */
	purpose?: 'drill';
	/** The drill (`<state>/drills/<id>/`) this session belongs to. */
	drillId?: string;
}

const STEP_NUMBERS: Partial<Record<StepId, number>> = {
	'replace-vm': 1,
	'create-disks': 2,
	'snapshot-layer': 3,
	'start-vm': 4,
	'copy-data': 5,
	'apply-changes': 6,
	'delete-layer': 7,
};

export function newStepRecords(): StepRecord[] {
	return STEP_IDS.map((id) => ({
		id,
		number: STEP_NUMBERS[id] ?? null,
		status: 'pending',
		startedAt: null,
		endedAt: null,
		attempts: 0,
		bytesDone: null,
		bytesTotal: null,
		error: null,
		note: null,
	}));
}

export function stepOf(session: SessionRecord, id: StepId): StepRecord {
	const step = session.steps.find((candidate) => candidate.id === id);
	if (!step) throw new Error(`session ${session.id} has no step ${id}`);
	return step;
}

export const TERMINAL_STATES: ReadonlySet<SessionState> = new Set(['finalized', 'stopped']);

export function isTerminal(session: SessionRecord): boolean {
	return TERMINAL_STATES.has(session.state);
}

/** Which phases may run from a state. A failed session may retry its phase or be stopped. */
export function allowedPhases(session: SessionRecord): Phase[] {
	switch (session.state) {
		case 'starting':
			return ['start', 'stop'];
		case 'running':
			return ['finalize', 'stop'];
		case 'finalizing':
			// An interrupted finalize may still be undone until step 6 switched the VM onto production.
			return stepOf(session, 'apply-changes').status === 'done' ? ['finalize'] : ['finalize', 'stop'];
		case 'stopping':
			return ['stop'];
		case 'failed':
			// Once step 6 has switched the VM onto production, discarding would lose the guest's data.
			if (stepOf(session, 'apply-changes').status === 'done') return ['finalize'];
			return session.failedPhase === 'stop' ? ['stop'] : [session.failedPhase ?? 'start', 'stop'];
		default:
			return [];
	}
}

/**
 * Whether the session's VM should be running now: from step 4 on, until a stop removes it
 * (a finalize keeps it running throughout). A VM found off in such a session has crashed.
 */
export function vmShouldRun(session: SessionRecord): boolean {
	if (session.state === 'running' || session.state === 'finalizing') return true;
	return session.state === 'failed' && session.failedPhase === 'finalize';
}

export const PHASE_STATES: Record<Phase, { during: SessionState; after: SessionState }> = {
	start: { during: 'starting', after: 'running' },
	finalize: { during: 'finalizing', after: 'finalized' },
	stop: { during: 'stopping', after: 'stopped' },
};
