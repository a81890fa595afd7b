// The runbook: every script the phases of a plan will run, with its parameters, for review before
// running (`rundirect start … --runbook`) or to run by hand (`--runbook-out runbook.ps1`). Built from
// the same parameter functions the driver uses, so it shows what the driver sends.
import type { RestorePlan, RunbookStep } from '../host.ts';
import { encodeParams, localInvocation, remoteInvocation } from './encoding.ts';
import { planParams, type OfflineMode } from './plan-params.ts';
import { SCRIPTS, type PsScript } from './scripts.ts';

export interface RunbookOptions {
	computer: string | null;
	offlineMode: OfflineMode;
}

const HEARTBEAT_OK = '$null -eq $data.heartbeat -or -not $data.heartbeat.enabled -or $data.heartbeat.ok';
const COPIES_DONE = "@($data.jobs | Where-Object { $_.status -ne 'done' }).Count -eq 0";

export function buildRunbook(plan: RestorePlan, options: RunbookOptions): RunbookStep[] {
	const step = (phase: RunbookStep['phase'], id: string, title: string, script: PsScript, params: unknown, repeatUntil?: string): RunbookStep => ({
		phase,
		step: id,
		title,
		language: 'powershell',
		scriptName: script.name,
		script: script.text,
		params,
		invocation: options.computer === null ? localInvocation(script.text, params) : remoteInvocation(script.text, params, options.computer),
		...(repeatUntil ? { repeatUntil } : {}),
	});
	const steps: RunbookStep[] = [];
	if (plan.replaces !== null) {
		steps.push(
			plan.replaceMode === 'delete'
				? step('start', 'replace-vm', `1. Turn off and delete ${plan.replaces} with its disks`, SCRIPTS.removeVm, planParams.deleteReplaced(plan))
				: step('start', 'replace-vm', `1. Turn off ${plan.replaces} and set it aside`, SCRIPTS.setAside, planParams.setAside(plan)),
		);
	}
	steps.push(
		step('start', 'create-disks', '2. Create the production folder and placeholder VHDX files', SCRIPTS.createDisks, planParams.createDisks(plan)),
		step('start', 'snapshot-layer', '3. Mark the backup read-only and create the differencing VHDX on it', SCRIPTS.snapshotLayer, planParams.snapshotLayer(plan)),
		step('start', 'start-vm', `4. Create ${plan.vmName} on the differencing disks and start it`, SCRIPTS.startVm, planParams.startVm(plan)),
		// A drill waits for the heartbeat itself, timing it as the measured recovery time.
		...(plan.drill ? [] : [step('start', 'start-vm:wait', '4. Wait for the guest\'s heartbeat', SCRIPTS.vmStatus, planParams.vmStatus(plan), HEARTBEAT_OK)]),
		step('finalize', 'copy-data', '5. Start copying the backup VHDX files to production storage (the VM keeps running)', SCRIPTS.copy, planParams.copy(plan, true)),
		step('finalize', 'copy-data:wait', '5. Wait for the copies', SCRIPTS.copy, planParams.copy(plan, false), COPIES_DONE),
		step('finalize', 'apply-changes', `6. Re-parent onto the copies, then merge in one offline window (${options.offlineMode})`, SCRIPTS.applyChanges, planParams.applyChanges(plan, options.offlineMode)),
		step('finalize', 'delete-layer', '7. Remove the differencing disks and the backup\'s read-only mark', SCRIPTS.deleteLayer, planParams.deleteLayer(plan)),
	);
	if (plan.replaces !== null && plan.replaceMode === 'set-aside') steps.push(step('finalize', 'purge-replaced', `Purge the replaced VM ${plan.replaces}`, SCRIPTS.removeVm, planParams.purgeAside(plan)));
	steps.push(step('stop', 'discard', `Turn off and remove ${plan.vmName}, delete every file of the session`, SCRIPTS.discard, planParams.discard(plan)));
	if (plan.replaces !== null && plan.replaceMode === 'set-aside') steps.push(step('stop', 'restore-replaced', `Bring back ${plan.replaces}`, SCRIPTS.restoreSetAside, planParams.restoreAside(plan, plan.replaces)));
	return steps;
}

/** Printable ASCII only: a comment line can then never be ended (or a string opened) by a value. */
function asciiComment(text: string): string {
	return text.replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A runnable .ps1: `.\runbook.ps1 -Phase start|finalize|stop`. */
export function renderRunbookScript(steps: RunbookStep[], meta: { plan: RestorePlan; computer: string | null; generatedAt: string }): string {
	const scripts = new Map<string, string>();
	for (const step of steps) if (step.language === 'powershell') scripts.set(step.scriptName, step.script);
	const lines: string[] = [];
	lines.push("param([ValidateSet('start', 'finalize', 'stop')][string]$Phase = 'start')");
	lines.push(`# rundirect runbook — session ${asciiComment(meta.plan.sessionId)}, VM ${asciiComment(meta.plan.vmName)} on ${asciiComment(meta.computer ?? 'this computer')}`);
	lines.push(`# Generated ${asciiComment(meta.generatedAt)}. Each step runs one constant script; its parameters are the base64 JSON`);
	lines.push('# beside it (decoded in the comment above it). Every step is idempotent: rerun a phase to resume it.');
	lines.push("$ErrorActionPreference = 'Stop'");
	lines.push(`$RdTarget = '${meta.computer === null ? '' : encodeParams({ computer: meta.computer })}'`);
	lines.push('');
	lines.push('function Invoke-RdStep {');
	lines.push('\tparam([scriptblock]$Script, [string]$Params)');
	lines.push("\tif ($RdTarget -eq '') { $lines = @(& $Script $Params) }");
	lines.push('\telse {');
	lines.push('\t\t$target = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($RdTarget)) | ConvertFrom-Json');
	lines.push('\t\t$lines = @(Invoke-Command -ComputerName $target.computer -ScriptBlock $Script -ArgumentList $Params)');
	lines.push('\t}');
	lines.push("\t$line = @($lines | Where-Object { ([string]$_).StartsWith('RDENVELOPE ') }) | Select-Object -Last 1");
	lines.push("\tif ($null -eq $line) { throw 'the step printed no result envelope' }");
	lines.push("\t$envelope = ([string]$line).Substring('RDENVELOPE '.Length) | ConvertFrom-Json");
	lines.push("\tif (-not $envelope.ok) { throw ($envelope.error.code + ': ' + $envelope.error.message) }");
	lines.push('\treturn $envelope.data');
	lines.push('}');
	lines.push('');
	lines.push('$RdScripts = @{}');
	for (const [name, text] of scripts) {
		lines.push(`$RdScripts['${name}'] = {`);
		lines.push(text.trimEnd());
		lines.push('}');
		lines.push('');
	}
	for (const phase of ['start', 'finalize', 'stop'] as const) {
		lines.push(`if ($Phase -eq '${phase}') {`);
		for (const step of steps.filter((candidate) => candidate.phase === phase)) {
			lines.push(`\t# ${asciiComment(step.title)}`);
			for (const json of JSON.stringify(step.params, null, 2).split('\n')) lines.push(`\t#   ${asciiComment(json)}`);
			const call = `Invoke-RdStep $RdScripts['${step.scriptName}'] '${encodeParams(step.params)}'`;
			if (step.repeatUntil) {
				lines.push('\tdo {');
				lines.push(`\t\t$data = ${call}`);
				lines.push(`\t\tif (-not (${step.repeatUntil})) { Start-Sleep -Seconds 5 }`);
				lines.push(`\t} until (${step.repeatUntil})`);
			} else {
				lines.push(`\t$data = ${call}`);
				lines.push('\t$data | ConvertTo-Json -Depth 6 -Compress');
			}
			lines.push('');
		}
		lines.push('}');
	}
	return `${lines.join('\n')}\n`;
}
