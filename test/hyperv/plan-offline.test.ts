// `--host hyperv start --runbook` where there is no Hyper-V (Linux): it changes nothing, so it is
// not refused — the runbook is made without reaching the host, and every fact only the host knows
// is listed as assumed. Not one PowerShell call is made (the channel fails the test if asked).
// Off that path, a real start on Linux is still refused before anything happens.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { planCommand } from '../../source/commands/plan.ts';
import type { CommandContext } from '../../source/commands/context.ts';
import { resolvePaths } from '../../source/core/paths.ts';
import { HypervHost } from '../../source/hosts/hyperv/driver.ts';
import { ChannelRunner, type PowerShellChannel } from '../../source/hosts/hyperv/runner.ts';
import { Engine } from '../../source/restore/engine.ts';
import { writeHypervRestorePoint } from './support.ts';

let root = '';
afterEach(async () => {
	if (root) await fs.rm(root, { recursive: true, force: true });
	root = '';
});

/** A PowerShell that must never be started. */
const NO_POWERSHELL: PowerShellChannel = {
	invoke: () => Promise.reject(new Error('PowerShell was called')),
	dispose: () => Promise.resolve(),
};

async function setup(): Promise<{ engine: Engine; context: CommandContext; out: string[]; records: Array<Record<string, unknown>> }> {
	root = await fs.mkdtemp(path.join(os.tmpdir(), 'rd-hvoff-'));
	const destination = path.join(root, 'destination');
	await writeHypervRestorePoint(destination);
	const hyperv = new HypervHost({ computer: null, platform: 'linux', runner: new ChannelRunner({ computer: null, hostId: 'hyperv', channel: NO_POWERSHELL }) });
	const engine = new Engine({ host: hyperv, stateDir: path.join(root, 'state'), destination });
	const out: string[] = [];
	const records: Array<Record<string, unknown>> = [];
	const context: CommandContext = { paths: resolvePaths({ state: path.join(root, 'state') }), engine, json: false, emit: (record) => records.push(record), say: (text) => out.push(text), warn: (text) => out.push(text) };
	return { engine, context, out, records };
}

describe('a Hyper-V runbook from a machine without Hyper-V', () => {
	it('is made, changes nothing, and names every assumption', async () => {
		const { engine, context, out, records } = await setup();
		const planOut = path.join(root, 'runbook.ps1');
		expect(await planCommand(context, { vm: 'web01', location: 'D:\\VMs' }, planOut)).toBe(0);
		const text = out.join('\n');
		expect(text).toMatch(/Plan for web01 on hyperv \(session \S+, not started, made without reaching the host\)/);
		expect(text).toContain('? assumed: nothing was checked on a Hyper-V host');
		expect(text).toContain('? assumed: a VM named web01 exists and is set aside');
		expect(text).not.toContain('default virtual hard disk folder');
		expect(text).toContain('[start] 1. Turn off web01 and set it aside');
		expect(text).toContain('"productionDir": "D:\\\\VMs\\\\web01"');
		const plan = records.find((record) => record.type === 'plan');
		expect(plan).toMatchObject({ checked: false, problems: [], assumptions: expect.arrayContaining([expect.stringContaining('static MAC')]) as unknown });
		expect(await fs.readFile(planOut, 'utf8')).toContain('set-aside');
		// Nothing happened: no session, no lock.
		expect((await engine.sessions()).sessions).toEqual([]);
	});

	it('assumes the default folder where the location is the original one, and says so', async () => {
		const { context, out, records } = await setup();
		expect(await planCommand(context, { vm: 'web01' }, undefined)).toBe(0);
		expect(records.find((record) => record.type === 'plan')?.plan).toMatchObject({ productionDir: 'C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks\\web01' });
		expect(out.join('\n')).toContain("? assumed: the host's default virtual hard disk folder is Hyper-V's own default");
	});

	it('a real start there is refused before anything happens', async () => {
		const { engine } = await setup();
		await expect(engine.proposeStart({ vm: 'web01', location: 'D:\\VMs' })).rejects.toThrow(/needs Windows/);
		expect((await engine.sessions()).sessions).toEqual([]);
	});
});
