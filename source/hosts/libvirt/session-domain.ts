// The session's own domain, as every step after step 4 finds it: marked with the session (or,
// once step 7 removed the mark, running only on the session's files), each disk located by its
// target, started again on its persistent definition when QEMU died.
import { HostError } from '../../core/errors.ts';
import type { DiskPlacement, RestorePlan } from '../host.ts';
import { type DomainDisk, diskTargets } from './domain-xml.ts';
import type { DomainFacts, Domains } from './domains.ts';
import type { LibvirtLayout } from './layout.ts';
import { isolateTaps } from './tcp-check.ts';
import type { Virsh } from './virsh.ts';

/** Ours: marked with this session, or (after step 7 removed the mark) running only on its files. */
export function ownsDomain(plan: RestorePlan, facts: DomainFacts): boolean {
	if (facts.restoreSession !== null) return facts.restoreSession === plan.sessionId;
	const ours = new Set(plan.disks.flatMap((disk) => [disk.overlay, disk.production]));
	const disks = facts.disks.filter((disk) => disk.device === 'disk');
	return disks.length > 0 && disks.every((disk) => disk.source !== null && ours.has(disk.source));
}

export function diskOf(facts: DomainFacts | null, plan: RestorePlan, disk: DiskPlacement): DomainDisk | undefined {
	const target = diskTargets(plan.disks)[disk.index]?.dev;
	return facts?.disks.find((candidate) => candidate.target === target);
}

/** The disk runs on its production image (and no copy job is still attached to it). */
export function onProduction(facts: DomainFacts | null, plan: RestorePlan, disk: DiskPlacement): boolean {
	const live = diskOf(facts, plan, disk);
	return live?.source === disk.production && live.mirror === null;
}

export class SessionDomain {
	constructor(
		readonly domains: Domains,
		readonly layout: LibvirtLayout,
	) {}

	get virsh(): Virsh {
		return this.domains.virsh;
	}

	async own(plan: RestorePlan): Promise<DomainFacts | null> {
		const facts = await this.domains.facts(plan.vmName);
		return facts && ownsDomain(plan, facts) ? facts : null;
	}

	/** The session's domain runs (started again on its persistent definition if QEMU died). */
	async ensureRunning(plan: RestorePlan): Promise<DomainFacts> {
		let facts = await this.own(plan);
		if (!facts) throw new HostError('NO_DOMAIN', `Domain ${plan.vmName} of session ${plan.sessionId} does not exist: step 4 has not run`);
		if (facts.state === 'off') {
			await this.virsh.run(['start', plan.vmName]);
			facts = await this.own(plan);
			if (!facts) throw new HostError('NO_DOMAIN', `Domain ${plan.vmName} vanished right after it started`);
		}
		// Also when it already ran: a controller killed between the start and the move leaves the taps out.
		if (facts.state === 'running') await isolateTaps(plan);
		if (facts.state !== 'running') {
			throw new HostError(
				'DOMAIN_NOT_RUNNING',
				`Domain ${plan.vmName} is ${facts.stateText}${/crash/.test(facts.stateText) ? ': the hypervisor could not run this guest (set RUNDIRECT_ACCEL=tcg if KVM cannot run guests here)' : ''}`,
			);
		}
		return facts;
	}
}
