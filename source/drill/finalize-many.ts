// Finalizing many sessions at once (a site recovery's second half, from `finalize --plan` or the
// console's marked VMs): at most `concurrency` at a time, every copy sharing one rate limit — each
// of the n finalizes under way gets an nth of it, re-divided as they begin and end (through each
// session's copy wishes, which the process driving it reads at its next progress poll).
import { errorMessage } from '../core/errors.ts';
import type { Engine } from '../restore/engine.ts';
import type { SessionRecord } from '../restore/session.ts';
import { Slots } from './schedule.ts';

export interface FinalizeManyOptions {
	concurrency: number;
	/** Bytes per second shared by every copy; null: no cap. */
	rateLimit: number | null;
	signal?: AbortSignal;
	/** A session waits for a slot, or has ended (`ms` from when its slot was free). */
	onSession?: (event: FinalizeManyEvent) => void;
	/** How a session's finalize runs (the console: as a phase of its own, with its live tree); default engine.runPhase. */
	runPhase?: (session: SessionRecord, options: { signal?: AbortSignal; rateLimit?: number }) => Promise<SessionRecord>;
}

export type FinalizeManyEvent =
	| { kind: 'waiting'; session: SessionRecord }
	| { kind: 'ended'; session: SessionRecord; state: string; error: string | null; ms: number };

export interface FinalizeManyResult {
	vm: string;
	session: string;
	state: string;
	error: string | null;
	ms: number | null;
}

class SharedRate {
	readonly #active = new Set<string>();

	constructor(
		private readonly engine: Engine,
		private readonly total: number | null,
	) {}

	share(): number | undefined {
		return this.total === null ? undefined : Math.max(1, Math.floor(this.total / Math.max(1, this.#active.size)));
	}

	async enter(id: string): Promise<number | undefined> {
		this.#active.add(id);
		await this.#rebalance(id);
		return this.share();
	}

	async leave(id: string): Promise<void> {
		this.#active.delete(id);
		await this.#rebalance(null);
	}

	async #rebalance(except: string | null): Promise<void> {
		const share = this.share();
		if (share === undefined) return;
		for (const id of this.#active) if (id !== except) await this.engine.controlCopy(id, { rateLimit: share }).catch(() => undefined);
	}
}

/** One finalize of `session`, in its turn; never throws (its outcome is the result). */
export function finalizeManyTasks(engine: Engine, sessions: readonly SessionRecord[], options: FinalizeManyOptions): Array<() => Promise<FinalizeManyResult>> {
	const slots = new Slots(options.concurrency);
	const rate = new SharedRate(engine, options.rateLimit);
	return sessions.map((session) => async () => {
		options.onSession?.({ kind: 'waiting', session });
		let release: (() => void) | null = null;
		let began = performance.now();
		try {
			release = await slots.acquire(options.signal);
			// The finalize's own time, as `finalize --plan` reports it, starts with its slot.
			began = performance.now();
			const share = await rate.enter(session.id);
			const phaseOptions = { ...(options.signal ? { signal: options.signal } : {}), ...(share ? { rateLimit: share } : {}) };
			const ended = await (options.runPhase ? options.runPhase(session, phaseOptions) : engine.runPhase(session.id, 'finalize', phaseOptions));
			const ms = Math.round(performance.now() - began);
			options.onSession?.({ kind: 'ended', session, state: ended.state, error: null, ms });
			return { vm: session.vm, session: session.id, state: ended.state, error: null, ms };
		} catch (error) {
			const ms = Math.round(performance.now() - began);
			options.onSession?.({ kind: 'ended', session, state: 'failed', error: errorMessage(error), ms });
			return { vm: session.vm, session: session.id, state: 'failed', error: errorMessage(error), ms: null };
		} finally {
			if (release) {
				await rate.leave(session.id);
				release();
			}
		}
	});
}

/** Finalizes `sessions`, `concurrency` at once, one shared rate limit; resolves when all ended. */
export async function finalizeMany(engine: Engine, sessions: readonly SessionRecord[], options: FinalizeManyOptions): Promise<FinalizeManyResult[]> {
	return Promise.all(finalizeManyTasks(engine, sessions, options).map((task) => task()));
}
