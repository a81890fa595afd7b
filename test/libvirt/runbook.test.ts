// `start --runbook` on the libvirt host shows every command the phases run: proven by running the
// written runbook script by hand (sh) against a real libvirtd — start then finalize, and start
// then stop — and finding the same end states the driver reaches.
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseDisks } from '../../source/hosts/libvirt/domain-xml.ts';
import { waitFor } from '../support/lab-env.ts';
import { defineDomain, fingerprint, guestBackup, libvirtTestFile, planInput } from './support/fixtures.ts';

const libvirt = await libvirtTestFile();
const { unavailable } = libvirt;

describe.skipIf(unavailable !== null)('the libvirt runbook, run by hand', () => {
	it('start → finalize, then start → stop, as the written sh script', async () => {
		const { host } = libvirt.env;
		await defineDomain(host, path.join(libvirt.env.root, 'old'), 'rb01');
		const definitionBefore = await host.virsh.run(['dumpxml', 'rb01', '--inactive']);
		const backup = await guestBackup(path.join(libvirt.env.root, 'dest', 'rb01', 'p1'));
		const before = await fingerprint(backup.file);
		const script = async (session: string) => {
			const plan = await host.plan(planInput(session, 'rb01', libvirt.env.location, [{ backup: backup.file, virtualSize: backup.virtualSize }]));
			expect(await host.preflight(plan)).toEqual([]);
			const file = path.join(libvirt.env.root, `runbook-${session}${host.runbookScriptExtension}`);
			await fs.writeFile(file, host.runbookScript(host.runbook(plan), { plan, generatedAt: new Date().toISOString() }));
			const run = async (phase: string) => {
				const result = await execa('sh', [file, phase], { reject: false, timeout: 180_000 });
				expect(result.exitCode, `${phase}: ${result.stdout}\n${result.stderr}`).toBe(0);
			};
			return { plan, run };
		};

		const first = await script('k1');
		await first.run('start');
		expect(await host.domains.names()).toEqual(expect.arrayContaining(['rb01', 'rb01~k1']));
		expect(await host.status(first.plan)).toEqual(expect.objectContaining({ vm: 'running', runsOn: 'backup' }));
		await waitFor('the guest marker', 90_000, async () => ((await host.status(first.plan)).guestAlive ? true : undefined), 500);
		await first.run('finalize');
		const production = first.plan.disks[0]?.production ?? '';
		for (const scope of [[], ['--inactive']]) {
			expect(parseDisks(await host.virsh.run(['dumpxml', 'rb01', ...scope])).map((disk) => [disk.source, disk.hasBacking, disk.mirror])).toEqual([[production, false, null]]);
		}
		expect(await host.domains.names()).toEqual(['rb01']);
		await expect(fs.access(first.plan.workDir)).rejects.toThrow();

		const restoredDefinition = await host.virsh.run(['dumpxml', 'rb01', '--inactive']);
		expect(restoredDefinition).not.toBe(definitionBefore);
		const second = await script('k2');
		await second.run('start');
		expect(await host.status(second.plan)).toEqual(expect.objectContaining({ vm: 'running', runsOn: 'backup' }));
		await second.run('stop');
		expect(await host.domains.names()).toEqual(['rb01']);
		expect(await host.virsh.run(['dumpxml', 'rb01', '--inactive'])).toBe(restoredDefinition);
		expect((await host.domains.facts('rb01'))?.state).toBe('running');
		for (const file of [second.plan.workDir, ...second.plan.disks.flatMap((disk) => [disk.overlay, disk.production])]) await expect(fs.access(file)).rejects.toThrow();
		await host.virsh.run(['destroy', 'rb01']);
		expect(await fingerprint(backup.file)).toEqual(before);
	});
});
