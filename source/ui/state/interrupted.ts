// Sessions found interrupted when the console opens (engine.reconcile(), what `rundirect resume`
// would do). Nothing runs until the user chooses: continue, roll back (stop) or leave each one.
import type { Reconciliation } from '../../restore/reconcile.ts';
import { interruptedOf, rollbackPhase } from '../drills.ts';
import { toUiError } from '../model.ts';
import type { EngineLink } from './engine-link.ts';
import { errorNotice, type NoticesSlice } from './notices.ts';
import type { RunsSlice } from './runs.ts';
import type { SessionsSlice } from './sessions.ts';
import { Slice, type ChangeFeed } from './slice.ts';

export interface InterruptedState {
	/** Awaiting the user's choice. */
	findings: Reconciliation[];
}

export interface InterruptedActions {
	/** Continues a session found interrupted, rolls it back (stop), or leaves it as it is. */
	resolve(sessionId: string, choice: 'continue' | 'rollback' | 'leave'): void;
	/** Leaves every remaining interrupted session as it is (they stay in the sessions pane). */
	leaveAll(): void;
}

export class InterruptedSlice extends Slice<InterruptedState> implements InterruptedActions {
	constructor(
		feed: ChangeFeed,
		private readonly link: EngineLink,
		private readonly sessions: SessionsSlice,
		private readonly runs: RunsSlice,
		private readonly notices: NoticesSlice,
	) {
		super(feed, { findings: [] });
	}

	/** On open. Sessions another process drives leave nothing to choose: the status line names them. */
	async load(): Promise<void> {
		try {
			const findings = interruptedOf(await this.link.engine.reconcile());
			if (findings.some((finding) => finding.action !== 'busy')) this.update({ findings });
			else if (findings.length > 0) this.notices.info(findings.map((finding) => `${finding.session.vm} is ${finding.detail}`).join('; '));
		} catch (error) {
			this.notices.notify({ level: 'error', text: `cannot check for interrupted sessions: ${toUiError(error).message}`, hint: 'run "rundirect resume --dry-run"' });
		}
	}

	resolve(sessionId: string, choice: 'continue' | 'rollback' | 'leave'): void {
		const finding = this.state.findings.find((candidate) => candidate.session.id === sessionId);
		if (!finding) return;
		this.update({ findings: this.state.findings.filter((candidate) => candidate !== finding) });
		if (choice === 'leave' || finding.action === 'busy') return;
		const phase = choice === 'rollback' ? rollbackPhase(finding) : finding.action;
		if (phase === null || phase === 'none') return;
		if (phase === 'restart-vm') {
			this.link.engine.restartVm(sessionId).then(
				() => this.notices.info(`${finding.session.vm} runs from its backup again`),
				(error: unknown) => this.notices.notify(errorNotice(error)),
			);
			return;
		}
		this.runs.run(this.sessions.record(sessionId) ?? finding.session, phase);
	}

	leaveAll(): void {
		if (this.state.findings.length > 0) this.update({ findings: [] });
	}
}
