// What each step does on the host, and how it is titled. The engine wraps these in the
// journal and the task tree; they only talk to the Host.
import type { Host, StepOptions } from '../hosts/host.ts';
import type { SessionRecord, StepId } from './session.ts';

export interface StepRun {
	host: Host;
	session: SessionRecord;
	options: StepOptions;
}

/** Returns a short note for the journal and the task tree, or nothing. */
export type StepAction = (run: StepRun) => Promise<string | void>;

export function stepTitle(session: SessionRecord, id: StepId): string {
	const { plan } = session;
	const disks = plan.disks.length === 1 ? '1 disk' : `${plan.disks.length} disks`;
	switch (id) {
		case 'replace-vm':
			if (!plan.replaces) return `1. Replace the existing VM: none named ${plan.vmName} on ${plan.host}`;
			return plan.replaceMode === 'delete'
				? `1. Replace ${plan.replaces}: turn it off and delete it now`
				: `1. Replace ${plan.replaces}: turn it off and set it aside until finalized`;
		case 'create-disks':
			return `2. Create empty disk images on production storage (${disks}, ${plan.productionDir})`;
		case 'snapshot-layer':
			return '3. Create the snapshot layer (backup read-only, writes go to the layer)';
		case 'start-vm':
			return `4. Start ${plan.vmName} running directly from the backup`;
		case 'copy-data':
			return '5. Copy the data from the backup into the production images (VM keeps running)';
		case 'apply-changes':
			return '6. Apply the changes made in the VM since it started';
		case 'delete-layer':
			return '7. Delete the snapshot layer (the VM runs from production storage)';
		case 'purge-replaced':
			return session.setAside ? `Purge the replaced VM ${session.setAside.name} (set aside in step 1)` : 'Purge the replaced VM (nothing was set aside)';
		case 'discard':
			return `Turn off and remove ${plan.vmName}, discard every change`;
		case 'restore-replaced':
			return session.setAside ? `Bring back the replaced VM ${session.setAside.name}` : 'Bring back the replaced VM (nothing was set aside)';
	}
}

const SHORT_TITLES: Record<StepId, string> = {
	'replace-vm': 'replace the VM',
	'create-disks': 'create disks',
	'snapshot-layer': 'snapshot layer',
	'start-vm': 'start the VM',
	'copy-data': 'copy data',
	'apply-changes': 'apply changes',
	'delete-layer': 'delete the layer',
	'purge-replaced': 'purge the old VM',
	discard: 'discard changes',
	'restore-replaced': 'bring the old VM back',
};

/** A step in a few words, for a table cell or a list row (stepTitle is the full sentence). */
export function stepShortTitle(id: StepId): string {
	return SHORT_TITLES[id];
}

export const STEP_ACTIONS: Record<StepId, StepAction> = {
	'replace-vm': async ({ host, session }) => {
		const { plan } = session;
		if (!plan.replaces) return 'nothing to replace';
		if (plan.replaceMode === 'delete') {
			await host.deleteVm(plan);
			return `deleted ${plan.replaces}`;
		}
		session.setAside = await host.setAsideVm(plan);
		return session.setAside ? `kept as ${session.setAside.asideName}` : 'nothing to replace';
	},
	'create-disks': ({ host, session, options }) => host.createDisks(session.plan, options),
	'snapshot-layer': ({ host, session, options }) => host.createSnapshotLayer(session.plan, options),
	'start-vm': async ({ host, session, options }) => {
		const note = await host.startVm(session.plan, options);
		session.runningFromBackupSince ??= new Date().toISOString();
		// What the host had to do to get the VM running (e.g. fall back to TCG) belongs in the journal.
		return note ?? undefined;
	},
	'copy-data': ({ host, session, options }) => host.copyData(session.plan, options),
	'apply-changes': async ({ host, session, options }) => {
		session.apply = await host.applyChanges(session.plan, options);
		return `switch paused the VM for ${session.apply.pauseMs.toFixed(1)} ms`;
	},
	'delete-layer': ({ host, session, options }) => host.deleteSnapshotLayer(session.plan, options),
	'purge-replaced': async ({ host, session }) => {
		if (!session.setAside) return 'nothing to purge';
		await host.purgeSetAside(session.plan, session.setAside);
		return `purged ${session.setAside.asideName}`;
	},
	discard: ({ host, session, options }) => host.discard(session.plan, options),
	'restore-replaced': async ({ host, session }) => {
		const replace = session.steps.find((step) => step.id === 'replace-vm');
		if (!session.setAside && session.plan.replaces && session.plan.replaceMode === 'set-aside' && replace && replace.attempts > 0) {
			// Step 1 was interrupted before it journaled its record: finishing it (idempotent) yields the record to undo.
			session.setAside = await host.setAsideVm(session.plan);
		}
		if (!session.setAside) return session.plan.replaces && session.plan.replaceMode === 'delete' ? `${session.plan.replaces} was deleted in step 1 as asked` : 'nothing to bring back';
		await host.restoreSetAside(session.plan, session.setAside);
		return `${session.setAside.name} is back`;
	},
};
