// The host's description and the backup destination's restore points, grouped by VM: read on
// open and on `r` (the catalog is not polled: it can be large).
import type { CatalogProblem } from '../../catalog/catalog.ts';
import type { HostDescription } from '../../hosts/host.ts';
import { groupBackups, toUiError, type UiError, type VmBackups } from '../model.ts';
import type { EngineLink } from './engine-link.ts';
import { Slice, type ChangeFeed } from './slice.ts';

export interface CatalogState {
	host: HostDescription | null;
	hostError: UiError | null;
	destination: string;
	backups: VmBackups[];
	pointCount: number;
	problems: CatalogProblem[];
	/** The destination cannot be read at all. */
	error: UiError | null;
}

export class CatalogSlice extends Slice<CatalogState> {
	constructor(
		feed: ChangeFeed,
		private readonly link: EngineLink,
		destination: string,
	) {
		super(feed, { host: null, hostError: null, destination, backups: [], pointCount: 0, problems: [], error: null });
	}

	setDestination(destination: string): void {
		if (this.state.destination !== destination) this.update({ destination });
	}

	/** The host and the catalog, side by side. Never throws: a failure lands in the state. */
	async load(): Promise<void> {
		await Promise.all([this.loadHost(), this.loadCatalog()]);
	}

	private async loadHost(): Promise<void> {
		try {
			this.update({ host: await this.link.engine.host.describe(), hostError: null });
		} catch (error) {
			this.update({ hostError: toUiError(error) });
		}
	}

	private async loadCatalog(): Promise<void> {
		try {
			const catalog = await this.link.engine.catalog();
			this.update({ destination: catalog.destination, backups: groupBackups(catalog.points), pointCount: catalog.points.length, problems: catalog.problems, error: null });
		} catch (error) {
			this.update({ backups: [], pointCount: 0, error: toUiError(error) });
		}
	}
}
