// The capability guards and their defaults, on plain objects: a host has an ability exactly when
// it has the members, whatever it is (no driver is loaded here).
import { describe, expect, it } from 'vitest';
import {
	canBackup,
	canProvision,
	drillNetworkOf,
	hasEvidence,
	hasPower,
	hasRunbook,
	pathRulesOf,
	proofOfLifeOf,
} from '../../source/hosts/capabilities.ts';
import type { Host } from '../../source/hosts/host.ts';

/** Only the members a test gives: the steps are never called by the guards. */
function hostWith(members: Record<string, unknown> = {}): Host {
	return { kind: 'plain', id: 'plain', ...members } as unknown as Host;
}

const bare = hostWith();
const fn = async () => undefined;

describe('path rules', () => {
	it('are a local POSIX host by default', () => {
		expect(pathRulesOf(bare)).toEqual({ style: 'posix', local: true });
	});
	it('are the host\'s own when it says', () => {
		expect(pathRulesOf(hostWith({ pathRules: { style: 'win32', local: false } }))).toEqual({ style: 'win32', local: false });
	});
});

describe('proof of life', () => {
	it('has a neutral name and a once-a-second poll by default', () => {
		expect(proofOfLifeOf(bare)).toEqual({ name: 'guest signal', pollMs: 1000 });
	});
	it('is the host\'s own when it says', () => {
		expect(proofOfLifeOf(hostWith({ proofOfLife: { name: 'serial marker', pollMs: 150 } }))).toEqual({ name: 'serial marker', pollMs: 150 });
	});
});

describe('drill network', () => {
	it('describes disconnected NICs, or the isolated switch, by default', () => {
		expect(drillNetworkOf(bare, null)).toBe('NICs disconnected');
		expect(drillNetworkOf(bare, 'DrillNet')).toBe('NICs on the isolated switch DrillNet');
	});
	it('is the host\'s own words when it has them, given the switch', () => {
		const seen: Array<string | null> = [];
		const host = hostWith({
			drillNetwork: (isolatedSwitch: string | null) => {
				seen.push(isolatedSwitch);
				return 'none (no network device)';
			},
		});
		expect(drillNetworkOf(host, 'DrillNet')).toBe('none (no network device)');
		expect(seen).toEqual(['DrillNet']);
	});
});

describe('guards', () => {
	it('find no ability on a host without its members', () => {
		expect(canBackup(bare)).toBe(false);
		expect(hasRunbook(bare)).toBe(false);
		expect(hasEvidence(bare)).toBe(false);
		expect(hasPower(bare)).toBe(false);
		expect(canProvision(bare)).toBe(false);
	});

	it('find backup', () => {
		expect(canBackup(hostWith({ backup: fn }))).toBe(true);
	});

	it('find a runbook only with its script too', () => {
		expect(hasRunbook(hostWith({ runbook: () => [] }))).toBe(false);
		expect(hasRunbook(hostWith({ runbook: () => [], runbookScript: () => '', runbookScriptUsage: () => '' }))).toBe(true);
	});

	it('find evidence only with what it is taken from', () => {
		expect(hasEvidence(hostWith({ captureEvidence: fn }))).toBe(false);
		expect(hasEvidence(hostWith({ captureEvidence: fn, evidenceSource: 'the screen' }))).toBe(true);
	});

	it('find power only with both directions', () => {
		expect(hasPower(hostWith({ powerOn: fn }))).toBe(false);
		expect(hasPower(hostWith({ powerOff: fn }))).toBe(false);
		expect(hasPower(hostWith({ powerOn: fn, powerOff: fn }))).toBe(true);
	});

	it('find provisioning only when the host can both tell and do it', () => {
		expect(canProvision(hostWith({ provisionNeeded: fn, sampleDestination: '/lab/backups' }))).toBe(false);
		expect(canProvision(hostWith({ provision: fn, provisionNeeded: fn, sampleDestination: '/lab/backups' }))).toBe(true);
	});

	it('see members a class has on its prototype', () => {
		class Powered {
			readonly kind = 'plain';
			readonly id = 'plain';
			async powerOn(): Promise<boolean> {
				return true;
			}
			async powerOff(): Promise<boolean> {
				return true;
			}
		}
		expect(hasPower(new Powered() as unknown as Host)).toBe(true);
	});
});
