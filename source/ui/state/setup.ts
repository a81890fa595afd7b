// Where the console stands on open — loading, ready, or offering to build the lab because the
// lab host has none yet — and the progress of that build.
import { toUiError, type UiError } from '../model.ts';
import { Slice, type ChangeFeed } from './slice.ts';

/** Building the lab when it does not exist yet (lab host only). */
export interface LabSetup {
	/** True when the lab (its sample destination) has not been built. */
	needed(): Promise<boolean>;
	run(onProgress: (message: string, fraction: number | undefined) => void): Promise<void>;
}

export interface SetupProgress {
	running: boolean;
	message: string;
	fraction: number | null;
	error: UiError | null;
}

export interface SetupState {
	/** `loading` until the first catalog/sessions read; `no-lab` offers to build the lab. */
	phase: 'loading' | 'ready' | 'no-lab';
	progress: SetupProgress | null;
}

export interface SetupActions {
	/** `lab init`, then everything read again. */
	run(): Promise<void>;
}

export class SetupSlice extends Slice<SetupState> implements SetupActions {
	constructor(
		feed: ChangeFeed,
		private readonly labSetup: LabSetup | undefined,
		private readonly refresh: () => Promise<void>,
	) {
		super(feed, { phase: 'loading', progress: null });
	}

	/** After the first read: a destination that cannot be read may be a lab not built yet. */
	async settle(catalogFailed: boolean): Promise<void> {
		const noLab = catalogFailed && this.labSetup !== undefined && (await this.labSetup.needed().catch(() => false));
		this.update({ phase: noLab ? 'no-lab' : 'ready' });
	}

	async run(): Promise<void> {
		const setup = this.labSetup;
		if (!setup || this.state.progress?.running) return;
		this.update({ progress: { running: true, message: 'Starting', fraction: 0, error: null } });
		try {
			await setup.run((message, fraction) => {
				this.update({ progress: { running: true, message, fraction: fraction ?? this.state.progress?.fraction ?? null, error: null } }, false);
			});
			this.update({ progress: null, phase: 'ready' });
			await this.refresh();
		} catch (error) {
			this.update({ progress: { running: false, message: 'lab init failed', fraction: null, error: toUiError(error) } });
		}
	}
}
