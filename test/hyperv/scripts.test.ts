// Every PowerShell text the Hyper-V host can send parses, and every cmdlet it calls exists with
// the parameters it passes in a documented parameter set.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { localInvocation, remoteInvocation } from '../../source/hosts/hyperv/encoding.ts';
import { buildRunbook, renderRunbookScript } from '../../source/hosts/hyperv/runbook.ts';
import { allScriptTexts, SCRIPTS } from '../../source/hosts/hyperv/scripts.ts';
import { commandUses, parsePowerShell, type CommandUse } from './parse.ts';
import { HOSTILE, samplePlan } from './support.ts';

interface HypervTable {
	source: string;
	commonParameters: string[];
	cmdlets: Record<string, Record<string, string[]>>;
}
const hyperv = JSON.parse(fs.readFileSync(new URL('./fixtures/hyperv-cmdlets.json', import.meta.url), 'utf8')) as HypervTable;
const core = JSON.parse(fs.readFileSync(new URL('./fixtures/core-cmdlets.json', import.meta.url), 'utf8')) as { cmdlets: Record<string, string[]> };
const COMMON = new Set([...hyperv.commonParameters, 'WhatIf', 'Confirm'].map((name) => name.toLowerCase()));

/** Why a use does not fit any documented parameter set, or null when it fits one. */
function misfit(use: CommandUse, defined: Set<string>): string | null {
	const used = use.parameters.map((name) => name.toLowerCase()).filter((name) => !COMMON.has(name));
	const sets = hyperv.cmdlets[use.name];
	if (sets) {
		const fits = Object.values(sets).some((set) => {
			const names = new Set(set.map((name) => name.toLowerCase()));
			return used.every((name) => names.has(name));
		});
		return fits ? null : `${use.name} -${use.parameters.join(' -')} fits no parameter set of ${Object.keys(sets).join(', ')}`;
	}
	const coreParams = core.cmdlets[use.name];
	if (coreParams) {
		const names = new Set(coreParams.map((name) => name.toLowerCase()));
		const unknown = used.filter((name) => !names.has(name));
		return unknown.length === 0 ? null : `${use.name} has no parameter ${unknown.join(', ')}`;
	}
	if (defined.has(use.name.toLowerCase())) return null;
	return `${use.name} is neither a documented cmdlet in the tables nor a function the script defines`;
}

function definedFunctions(text: string): Set<string> {
	return new Set([...text.matchAll(/^\s*function\s+([A-Za-z][\w-]*)/gm)].map((match) => (match[1] ?? '').toLowerCase()));
}

describe('generated PowerShell', () => {
	for (const { name, text } of allScriptTexts()) {
		it(`${name} parses with no ERROR or MISSING nodes`, async () => {
			const { problems } = await parsePowerShell(text);
			expect(problems).toEqual([]);
		});

		it(`${name} calls only documented cmdlets with documented parameters`, async () => {
			const { root } = await parsePowerShell(text);
			const defined = definedFunctions(text);
			const misfits = commandUses(root)
				.map((use) => misfit(use, defined))
				.filter((problem) => problem !== null);
			expect(misfits).toEqual([]);
		});
	}

	it('the cmdlet check really checks (a wrong parameter and an unknown cmdlet are caught)', async () => {
		const { root } = await parsePowerShell("Move-VMStorage -VM $vm -DestinationStoragePath 'x'\nMerge-VHD -Path $a -Destination $b\nNew-VHD -Path $a -ParentPath $b -Fixed\n");
		const problems = commandUses(root).map((use) => misfit(use, new Set()));
		expect(problems.every((problem) => problem !== null)).toBe(true);
	});

	it('scripts use -LiteralPath for files, never -Path on file cmdlets, and never Move-VMStorage', async () => {
		for (const { name, text } of allScriptTexts()) {
			const { root } = await parsePowerShell(text);
			for (const use of commandUses(root)) {
				if (['Test-Path', 'Remove-Item', 'Get-Item', 'Get-Content', 'Move-Item', 'Get-ChildItem'].includes(use.name)) {
					expect(use.parameters, `${name}: ${use.name} at line ${use.line}`).not.toContain('Path');
				}
				expect(use.name, name).not.toBe('Move-VMStorage');
				// A checkpoint is taken only of the VM being backed up, never of a restored VM (its chain would reach the backup).
				if (use.name === 'Checkpoint-VM') expect(name).toBe('backup-begin');
			}
		}
	});

	it('scripts are Windows PowerShell 5.1 text: no ?? / ?. / ternary / -Parallel, no backtick escapes', () => {
		for (const { name, text } of allScriptTexts()) {
			expect(text, name).not.toMatch(/\?\?|\?\.|-Parallel|`/);
			expect(text, name).not.toMatch(/\$\w+\s*\?\s*[^:]+\s*:/);
		}
	});

	it('every script sets ErrorActionPreference Stop and suppresses prompts', () => {
		for (const script of Object.values(SCRIPTS)) {
			expect(script.text).toContain("$ErrorActionPreference = 'Stop'");
			expect(script.text).toContain("$ConfirmPreference = 'None'");
			expect(script.text.startsWith('param([string]$RdParams)')).toBe(true);
		}
	});

	it('the local and remote launcher lines parse', async () => {
		for (const line of [localInvocation(SCRIPTS.startVm.text, { a: HOSTILE }), remoteInvocation(SCRIPTS.startVm.text, { a: HOSTILE }, 'hv01.example.org')]) {
			expect((await parsePowerShell(line)).problems).toEqual([]);
		}
	});

	it('a runbook with hostile values parses, and runs only the documented cmdlets', async () => {
		for (const hostile of HOSTILE) {
			const plan = samplePlan({}, hostile);
			for (const computer of [null, 'hv01']) {
				const steps = buildRunbook(plan, { computer, offlineMode: 'shutdown' });
				const text = renderRunbookScript(steps, { plan, computer, generatedAt: '2026-01-01T00:00:00Z' });
				const { problems, root } = await parsePowerShell(text);
				expect(problems, JSON.stringify(hostile)).toEqual([]);
				// Values appear only in comment lines (the decoded parameters) and as base64.
				const code = text.split('\n').filter((line) => !/^\s*#/.test(line)).join('\n');
				if (hostile.length > 3) expect(code).not.toContain(hostile);
				const defined = definedFunctions(text);
				expect(commandUses(root).map((use) => misfit(use, defined)).filter(Boolean)).toEqual([]);
			}
		}
	});
});
