// What every slice of the console's state is built on: a slice replaces its state object on
// each change (never mutates it), so a snapshot of all slices compares by identity; and one
// feed tells React's subscribers, at once for what a key or a step changed, at most every
// `notifyMs` for progress (it arrives many times a second).

type Listener = () => void;

export class ChangeFeed {
	private readonly listeners = new Set<Listener>();
	private timer: NodeJS.Timeout | null = null;
	private last = 0;

	constructor(private readonly notifyMs: number) {}

	subscribe = (listener: Listener): (() => void) => {
		this.listeners.add(listener);
		return () => this.listeners.delete(listener);
	};

	changed(urgent: boolean): void {
		if (this.timer) {
			if (!urgent) return;
			clearTimeout(this.timer);
		}
		const wait = urgent ? 0 : Math.max(0, this.notifyMs - (performance.now() - this.last));
		this.timer = setTimeout(() => {
			this.timer = null;
			this.last = performance.now();
			for (const listener of this.listeners) listener();
		}, wait);
	}

	/** Drops a notification still waiting (a change after this schedules a new one). */
	cancel(): void {
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
	}
}

export abstract class Slice<S extends object> {
	private current: S;

	constructor(
		private readonly feed: ChangeFeed,
		initial: S,
	) {
		this.current = initial;
	}

	get state(): S {
		return this.current;
	}

	protected update(patch: Partial<S>, urgent = true): void {
		this.current = { ...this.current, ...patch };
		this.feed.changed(urgent);
	}
}
