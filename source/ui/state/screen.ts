// `c` on a session: what its VM shows, read from the host every couple of seconds while the
// detail pane shows it — the serial console's last lines (lab, libvirt) or a thumbnail of its
// screen (Hyper-V), for any session whose VM exists, not only a drill's. A read that fails is
// shown in place (the VM may be gone); the next one tries again.
import type { Evidence } from '../../hosts/host.ts';
import { toUiError, type UiError } from '../model.ts';
import type { EngineLink } from './engine-link.ts';
import { Slice, type ChangeFeed } from './slice.ts';

export interface ScreenState {
	/** The session whose VM is shown, or null when none is. */
	sessionId: string | null;
	evidence: Evidence | null;
	/** "the serial console", "screen": where it comes from. */
	source: string | null;
	/** When it was read (ms since the epoch). */
	at: number | null;
	error: UiError | null;
	/** How often it is read again (ms). */
	everyMs: number;
}

export interface ScreenActions {
	show(sessionId: string): void;
	hide(): void;
}


export class ScreenSlice extends Slice<ScreenState> implements ScreenActions {
	private timer: NodeJS.Timeout | null = null;
	/** Reads of a session no longer shown are dropped (a slow host answering late). */
	private generation = 0;

	constructor(
		feed: ChangeFeed,
		private readonly link: EngineLink,
		private readonly intervalMs = 2000,
	) {
		super(feed, { sessionId: null, evidence: null, source: null, at: null, error: null, everyMs: intervalMs });
	}

	private get empty(): ScreenState {
		return { sessionId: null, evidence: null, source: null, at: null, error: null, everyMs: this.intervalMs };
	}

	show(sessionId: string): void {
		this.hide();
		const generation = this.generation;
		this.update({ ...this.empty, sessionId });
		const read = async (): Promise<void> => {
			try {
				const engine = await this.link.ready;
				const { evidence, source } = await engine.screen(sessionId);
				if (generation === this.generation) this.update({ evidence, source, at: Date.now(), error: null });
			} catch (error) {
				if (generation === this.generation) this.update({ error: toUiError(error), at: Date.now() });
			}
			if (generation === this.generation) this.timer = setTimeout(() => void read(), this.intervalMs);
		};
		void read();
	}

	hide(): void {
		this.generation++;
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
		if (this.state.sessionId !== null) this.update(this.empty);
	}
}
