// The drill's two kinds of waiting: for a free slot (the concurrency limit) and for other VMs'
// milestones (a dependency's proof of life; a dependency stays up until its dependents are done).
import { AbortedError } from '../core/errors.ts';

/** At most `limit` holders at once, served first come, first served. */
export class Slots {
	#free: number;
	readonly #queue: Array<() => void> = [];

	constructor(readonly limit: number) {
		this.#free = limit;
	}

	/** Resolves with a release function once a slot is held. */
	async acquire(signal?: AbortSignal): Promise<() => void> {
		if (this.#free > 0) {
			this.#free--;
			return this.#releaser();
		}
		await new Promise<void>((resolve, reject) => {
			const grant = () => {
				signal?.removeEventListener('abort', cancel);
				resolve();
			};
			const cancel = () => {
				const position = this.#queue.indexOf(grant);
				if (position >= 0) this.#queue.splice(position, 1);
				reject(new AbortedError());
			};
			this.#queue.push(grant);
			signal?.addEventListener('abort', cancel, { once: true });
		});
		return this.#releaser();
	}

	#releaser(): () => void {
		let released = false;
		return () => {
			if (released) return;
			released = true;
			// Hand the slot straight to the next in line, or give it back.
			const next = this.#queue.shift();
			if (next) next();
			else this.#free++;
		};
	}
}

/** A value settled once, awaited by any number of VMs. */
export class Milestone<T> {
	readonly promise: Promise<T>;
	#resolve!: (value: T) => void;
	#settled = false;

	constructor() {
		this.promise = new Promise<T>((resolve) => (this.#resolve = resolve));
	}

	get settled(): boolean {
		return this.#settled;
	}

	settle(value: T): void {
		if (this.#settled) return;
		this.#settled = true;
		this.#resolve(value);
	}
}

/** Waits for a promise unless the signal aborts first. */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
	if (signal.aborted) return Promise.reject(new AbortedError());
	return new Promise<T>((resolve, reject) => {
		const cancel = () => reject(new AbortedError());
		signal.addEventListener('abort', cancel, { once: true });
		promise.then(
			(value) => {
				signal.removeEventListener('abort', cancel);
				resolve(value);
			},
			(error: unknown) => {
				signal.removeEventListener('abort', cancel);
				reject(error);
			},
		);
	});
}
