// Windows PowerShell 5.1 is what a Windows Server runs, and it is not PowerShell 7: a script that
// uses a 6+/7 feature parses and runs in the tests' pwsh and fails on the host. Every text the
// Hyper-V host sends (and a rendered runbook) is read with the PowerShell grammar and checked for
// the features 5.1 lacks. (Cmdlet parameters added after 5.1 are caught by scripts.test.ts, which
// checks every call against the 5.1 parameter tables.)
import { describe, expect, it } from 'vitest';
import type { Node } from 'web-tree-sitter';
import { buildRunbook, renderRunbookScript } from '../../source/hosts/hyperv/runbook.ts';
import { allScriptTexts } from '../../source/hosts/hyperv/scripts.ts';
import { parsePowerShell } from './parse.ts';
import { samplePlan } from './support.ts';

/** Commands that exist from PowerShell 6 or 7 only (about_PowerShell_Editions; each command's "Applies to" in the docs). */
const COMMANDS_6 = new Map([
	['get-error', 'Get-Error (7.0)'],
	['test-json', 'Test-Json (6.1)'],
	['clean', 'a clean block (7.3)'],
]);
/** Parameters added in 6 or 7 to commands that exist in 5.1 (PowerShell's "What's New" pages). */
const PARAMETERS_6 = new Map([
	['foreach-object parallel', 'ForEach-Object -Parallel (7.0)'],
	['foreach-object throttlelimit', 'ForEach-Object -ThrottleLimit (7.0)'],
	['convertfrom-json ashashtable', 'ConvertFrom-Json -AsHashtable (6.0)'],
	['convertfrom-json depth', 'ConvertFrom-Json -Depth (6.2)'],
	['convertto-json asarray', 'ConvertTo-Json -AsArray (6.2)'],
	['convertto-json enumsasstrings', 'ConvertTo-Json -EnumsAsStrings (6.2)'],
	['convertto-json escapehandling', 'ConvertTo-Json -EscapeHandling (6.2)'],
	['get-content asbytestream', 'Get-Content -AsByteStream (6.0)'],
	['set-content asbytestream', 'Set-Content -AsByteStream (6.0)'],
	['join-path additionalchildpath', 'Join-Path -AdditionalChildPath (6.0)'],
	['split-path leafbase', 'Split-Path -LeafBase (6.0)'],
	['split-path extension', 'Split-Path -Extension (6.0)'],
]);
/** Common parameters and automatic variables new in 6 or 7. */
const ANY_COMMAND_6 = new Map([['progressaction', '-ProgressAction (7.4)']]);
const VARIABLES_6 = new Map([
	['$psstyle', '$PSStyle (7.2)'],
	['$iswindows', '$IsWindows (6.0)'],
	['$islinux', '$IsLinux (6.0)'],
	['$ismacos', '$IsMacOS (6.0)'],
	['$iscoreclr', '$IsCoreCLR (6.0)'],
]);
/** .NET (Core) members that .NET Framework 4.x, under 5.1, does not have. */
const MEMBERS_CORE = new Map([
	['argumentlist', 'ProcessStartInfo.ArgumentList (.NET Core 2.1)'],
	['getrelativepath', 'Path.GetRelativePath (.NET Core 2.0)'],
	['processpath', 'Environment.ProcessPath (.NET 6)'],
]);

interface Finding {
	feature: string;
	line: number;
	text: string;
}

/** The PowerShell 6+/7 features `text` uses. */
export async function newerFeatures(text: string): Promise<Finding[]> {
	const { root } = await parsePowerShell(text);
	const findings: Finding[] = [];
	const add = (node: Node, feature: string) => findings.push({ feature, line: node.startPosition.row + 1, text: node.text.slice(0, 60) });
	const visit = (node: Node) => {
		// 5.1 has no ternary, no ?? or ??=, no ?. or ?[: the grammar (5.1's) rejects the "?".
		if (node.isError && /^\?|[^\s]\?[.[]|\?\?/.test(node.text.trim())) add(node, 'ternary, ??, ??= or ?. / ?[ (7.0)');
		// The grammar knows begin/process/end only: a clean block after them is an error holding the name.
		if (node.isError && node.children.some((child) => child?.type === 'simple_name' && child.text.trim().toLowerCase() === 'clean')) add(node, 'a clean block (7.3)');
		if (node.type === 'pipeline_chain_tail') add(node, '&& or || between pipelines (7.0)');
		if (node.type === 'command') {
			const name = node.children.find((child) => child?.type === 'command_name')?.text.toLowerCase() ?? '';
			const command = COMMANDS_6.get(name);
			if (command) add(node, command);
			const elements = node.children.find((child) => child?.type === 'command_elements');
			for (const element of elements?.children ?? []) {
				if (element?.type !== 'command_parameter') continue;
				const parameter = element.text.replace(/^-/, '').replace(/:.*$/, '').toLowerCase();
				const feature = PARAMETERS_6.get(`${name} ${parameter}`) ?? ANY_COMMAND_6.get(parameter);
				if (feature) add(element, feature);
			}
		}
		if (node.type === 'variable') {
			const feature = VARIABLES_6.get(node.text.toLowerCase());
			if (feature) add(node, feature);
		}
		if (node.type === 'member_name') {
			const feature = MEMBERS_CORE.get(node.text.toLowerCase());
			if (feature) add(node, feature);
		}
		// "`e" (ESC) and "`u{…}" are 6.0 escapes; 5.1 reads "`e" as "e" and "`u{41}" as "u{41}".
		if (node.type === 'expandable_string_literal' && /`e|`u\{/.test(node.text)) add(node, '`e or `u{} in a string (6.0)');
		for (const child of node.children) if (child) visit(child);
	};
	visit(root);
	return findings;
}

describe('no PowerShell 6+/7 feature in what the Hyper-V host sends (Windows PowerShell 5.1)', () => {
	const plan = samplePlan();
	const texts = [...allScriptTexts(), { name: 'runbook', text: renderRunbookScript(buildRunbook(plan, { computer: null, offlineMode: 'shutdown' }), { plan, computer: null, generatedAt: '2026-01-01T00:00:00Z' }) }];
	for (const { name, text } of texts) {
		it(name, async () => {
			expect(await newerFeatures(text)).toEqual([]);
		});
	}

	it('finds each banned feature (the check is not vacuous)', async () => {
		const samples: Array<[string, RegExp]> = [
			['$a = $b ? 1 : 2', /ternary/],
			['$a = $b ?? 3', /\?\?/],
			['$a ??= 4', /\?\?=/],
			['$n = $x?.Name', /\?\./],
			['Get-Item a && Get-Item b', /&&/],
			['Get-Item a || Get-Item b', /&&/],
			['1..3 | ForEach-Object -Parallel { $_ }', /-Parallel/],
			["'{}' | ConvertFrom-Json -AsHashtable", /-AsHashtable/],
			['Get-Item . -ProgressAction SilentlyContinue', /-ProgressAction/],
			['Get-Error', /Get-Error/],
			['$PSStyle.Reset', /PSStyle/],
			['if ($IsWindows) { 1 }', /IsWindows/],
			['function f { process { 1 } clean { 2 } }', /clean/],
			['$s = "`e[0m"', /`e/],
			['$p.ArgumentList.Add(1)', /ArgumentList/],
			['Join-Path a b c -AdditionalChildPath d', /AdditionalChildPath/],
		];
		for (const [sample, feature] of samples) {
			const found = await newerFeatures(sample);
			expect(found.map((finding) => finding.feature).join('; '), sample).toMatch(feature);
		}
		// 5.1 has these: not findings.
		for (const fine of ['using namespace System.IO', '$x = [IO.Path]::Combine($a, $b)', "$v = if ($a) { 1 } else { 2 }", "Get-Item -LiteralPath 'a?b'", '$h = @{ a = 1 }; $h.a']) {
			expect(await newerFeatures(fine), fine).toEqual([]);
		}
	});
});
