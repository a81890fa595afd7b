// The engine, once it is there: launchConsole draws the first frame before the engine, the
// hosts and their packages are loaded (source/ui/launch.tsx), so the slices reach it through
// this link, and what a key asks for in the first instants waits for `ready`.
import type { Engine } from '../../restore/engine.ts';

export class EngineLink {
	private current: Engine | null = null;
	/** Settles when the engine is there; rejects when it could not be opened (whoever passed the promise reports that). */
	readonly ready: Promise<Engine>;

	constructor(engine: Engine | Promise<Engine>) {
		if (engine instanceof Promise) {
			this.ready = engine.then((ready) => (this.current = ready));
			this.ready.catch(() => undefined);
		} else {
			this.current = engine;
			this.ready = Promise.resolve(engine);
		}
	}

	/** Runs `attach` with the engine: now if it is there, else once it is. */
	onReady(attach: (engine: Engine) => void): void {
		if (this.current) attach(this.current);
		else this.ready.then(attach, () => undefined);
	}

	/** The engine; only called on paths that waited for `ready` (open, refresh, a proposal). */
	get engine(): Engine {
		if (!this.current) throw new Error('the engine is not loaded yet');
		return this.current;
	}

	/** The engine if it is loaded, else null (closing a console whose engine never came). */
	get loaded(): Engine | null {
		return this.current;
	}
}
