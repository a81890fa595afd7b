// `v`: the host's own VMs — finalized VMs still running, set-aside VMs, drill VMs, the rest —
// read from the host while the pane shows them, with power on and off where the host has its
// own controls. A read or a power change that fails lands in the pane and the status line.
import type { HostVm } from '../../hosts/host.ts';
import { toUiError, type UiError } from '../model.ts';
import type { EngineLink } from './engine-link.ts';
import { errorNotice, type NoticesSlice } from './notices.ts';
import { Slice, type ChangeFeed } from './slice.ts';

export interface HostVmsState {
	/** Null until the first read since the pane opened. */
	vms: HostVm[] | null;
	shown: boolean;
	error: UiError | null;
	/** The VM whose power is being changed. */
	changing: string | null;
}

export interface HostVmsActions {
	show(): void;
	hide(): void;
	setPower(vmName: string, on: boolean): void;
}

export class HostVmsSlice extends Slice<HostVmsState> implements HostVmsActions {
	private timer: NodeJS.Timeout | null = null;
	private generation = 0;

	constructor(
		feed: ChangeFeed,
		private readonly link: EngineLink,
		private readonly notices: NoticesSlice,
		private readonly intervalMs = 2000,
	) {
		super(feed, { vms: null, shown: false, error: null, changing: null });
	}

	show(): void {
		this.watch(false);
	}

	/** `keep`: the rows stay while they are read again (after a power change). */
	private watch(keep: boolean): void {
		const kept = keep ? this.state.vms : null;
		this.hide();
		const generation = this.generation;
		this.update({ shown: true, vms: kept, error: null });
		const read = async (): Promise<void> => {
			try {
				const vms = await (await this.link.ready).hostVms();
				if (generation === this.generation) this.update({ vms: [...vms].sort((a, b) => a.name.localeCompare(b.name)), error: null });
			} catch (error) {
				if (generation === this.generation) this.update({ error: toUiError(error) });
			}
			if (generation === this.generation) this.timer = setTimeout(() => void read(), this.intervalMs);
		};
		void read();
	}

	hide(): void {
		this.generation++;
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
		if (this.state.shown) this.update({ shown: false, vms: null, error: null });
	}

	setPower(vmName: string, on: boolean): void {
		if (this.state.changing) {
			this.notices.notify({ level: 'error', text: `${this.state.changing} is being changed`, hint: 'wait for it' });
			return;
		}
		this.update({ changing: vmName });
		void this.link.ready
			.then((engine) => engine.setPower(vmName, on))
			.then(
				(changed) => this.notices.info(changed ? `${vmName} is ${on ? 'running' : 'off'}` : `${vmName} was already ${on ? 'running' : 'off'}`),
				(error: unknown) => this.notices.notify(errorNotice(error)),
			)
			.finally(() => {
				this.update({ changing: null });
				// Read again at once: the row shows the new state, not the one before.
				if (this.state.shown) this.watch(true);
			});
	}
}
