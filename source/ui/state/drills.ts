// Recovery drills from the console: checking one (nothing changes), running it in the
// background (listr2's tree and each VM's milestones), and the drills kept in the state
// folder with their reports. The drill code is imported when first needed: it brings zod,
// which the first frame does without.
import path from 'node:path';
import type { DrillReport, PreparedDrill } from '../../drill/index.ts';
import { drillSpecOf, type DrillHistory, type DrillTarget, type LiveDrill, type PlanKind } from '../drills.ts';
import type { InkTaskRendererOptions } from '../task-renderer.ts';
import { toUiError } from '../model.ts';
import type { EngineLink } from './engine-link.ts';
import { errorNotice, type NoticesSlice } from './notices.ts';
import type { SessionsSlice } from './sessions.ts';
import { Slice, type ChangeFeed } from './slice.ts';

export interface DrillsState {
	/** The drill this console runs, or ran last. */
	current: LiveDrill | null;
	/** Past drills (`<state>/drills`), read when the history is shown. */
	history: DrillHistory | null;
}

export interface DrillSettings {
	concurrency: number;
	timeoutSeconds: number;
	/** Application checks for every VM, as typed: `;` between, each a command or `tcp:PORT` (checksFromText); each may take `timeoutSeconds` from proof of life. */
	checks?: string;
}

export interface DrillReportView {
	report: DrillReport;
	/** The tail of each VM's serial evidence (lab), by VM. */
	evidence: Record<string, string[]>;
}

export interface DrillActions {
	/** What `rundirect drill` does unless told otherwise. */
	defaults(): Promise<DrillSettings>;
	/** Checks a drill of these VMs, changing nothing; throws the engine's error (shown in the dialog). */
	propose(targets: DrillTarget[], settings: DrillSettings, id?: string, kind?: PlanKind): Promise<PreparedDrill>;
	/** Runs a checked drill in the background. */
	run(prepared: PreparedDrill): void;
	/** Past drills, newest first, into `history`. */
	loadHistory(): Promise<void>;
	readReport(id: string): Promise<DrillReportView | null>;
}

export class DrillsSlice extends Slice<DrillsState> implements DrillActions {
	private running: { controller: AbortController; done: Promise<void> } | null = null;

	constructor(
		feed: ChangeFeed,
		private readonly link: EngineLink,
		/** Drills are kept under the state folder. */
		private readonly stateDir: () => string,
		private readonly sessions: SessionsSlice,
		private readonly notices: NoticesSlice,
	) {
		super(feed, { current: null, history: null });
	}

	async defaults(): Promise<DrillSettings> {
		const { DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_SECONDS } = await import('../../drill/index.ts');
		return { concurrency: DEFAULT_CONCURRENCY, timeoutSeconds: DEFAULT_TIMEOUT_SECONDS };
	}

	async propose(targets: DrillTarget[], settings: DrillSettings, id?: string, kind: PlanKind = 'drill'): Promise<PreparedDrill> {
		const { checksFromText, prepareDrill } = await import('../../drill/index.ts');
		const engine = await this.link.ready;
		return prepareDrill(engine, drillSpecOf(targets, settings, kind, checksFromText(settings.checks ?? '', settings.timeoutSeconds)), id);
	}

	run(prepared: PreparedDrill): void {
		if (this.running) {
			this.notices.notify({ level: 'error', text: `drill ${this.state.current?.id ?? ''} is still running in this console`, hint: 'wait for it to end' });
			return;
		}
		const controller = new AbortController();
		const patch = (change: (drill: LiveDrill) => Partial<LiveDrill>, urgent = true): void => {
			const current = this.state.current;
			if (current?.id === prepared.id) this.update({ current: { ...current, ...change(current) } }, urgent);
		};
		this.update({ current: { id: prepared.id, kind: prepared.spec.purpose === 'recovery' ? 'recovery' : 'drill', vms: prepared.report.vms.map((vm) => ({ vm: vm.vm, drillName: vm.drillName })), tree: [], running: true, milestones: {}, report: null, error: null, startedAt: Date.now() } });
		// The drill code and the renderer (listr2) load when a drill first runs: the first frame does without them.
		const done = Promise.all([import('../../drill/index.ts'), import('../task-renderer.ts')])
			.then(([{ runDrill }, { InkTaskRenderer }]) =>
				runDrill({
					engine: this.link.engine,
					stateDir: this.stateDir(),
					drill: prepared,
					renderer: InkTaskRenderer,
					rendererOptions: { throttleMs: 50, onUpdate: (tree) => patch(() => ({ tree }), false) } satisfies InkTaskRendererOptions,
					signal: controller.signal,
					onEvent: (event) => {
						if (event.type === 'drill-vm') patch((drill) => ({ milestones: { ...drill.milestones, [event.vm]: { milestone: event.milestone, detail: event.detail, report: event.report } } }));
					},
				}),
			)
			.then(
				(report: DrillReport) => patch(() => ({ running: false, report })),
				(error: unknown) => {
					patch(() => ({ running: false, error: toUiError(error) }));
					this.notices.notify(errorNotice(error));
				},
			)
			.finally(() => {
				this.running = null;
				void this.loadHistory();
				void this.sessions.poll();
			});
		this.running = { controller, done };
	}

	async loadHistory(): Promise<void> {
		try {
			const { listDrills } = await import('../../drill/index.ts');
			const { drills, problems } = await listDrills(this.stateDir());
			this.update({ history: { drills, problems, error: null } });
		} catch (error) {
			this.update({ history: { drills: [], problems: [], error: toUiError(error) } });
		}
	}

	async readReport(id: string): Promise<DrillReportView | null> {
		const { readDrill, drillDir } = await import('../../drill/index.ts');
		const report = await readDrill(this.stateDir(), id);
		if (!report) return null;
		const evidence: Record<string, string[]> = {};
		const { readFile } = await import('node:fs/promises');
		for (const vm of report.vms) {
			if (vm.evidence?.kind !== 'serial-tail') continue;
			const text = await readFile(path.join(drillDir(this.stateDir(), id), vm.evidence.file), 'utf8').catch(() => null);
			if (text !== null) evidence[vm.vm] = text.split('\n').filter((line) => line.trim() !== '').slice(-6);
		}
		return { report, evidence };
	}

	/** A drill cut short leaves its sessions marked as a drill: the next console offers to roll them back. */
	abort(): Promise<void>[] {
		this.running?.controller.abort();
		return this.running ? [this.running.done] : [];
	}
}
