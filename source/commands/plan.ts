// `rundirect start <vm> --runbook [--runbook-out file.ps1]`: what a start would do, checked by
// pre-flight, shown step by step with the exact script and its decoded parameters — and, on a
// host that offers it, written out as a runbook an administrator can read or run by hand.
import fs from 'node:fs/promises';
import { hasRunbook, plansOffline } from '../hosts/capabilities.ts';
import type { RunbookStep } from '../hosts/host.ts';
import { EXIT, RundirectError } from '../core/errors.ts';
import type { StartRequest } from '../restore/start-request.ts';
import type { CommandContext } from './context.ts';

export function runbookText(steps: RunbookStep[]): string {
	const lines: string[] = [];
	for (const step of steps) {
		lines.push(`[${step.phase}] ${step.title}`);
		lines.push(`  script: ${step.scriptName}${step.repeatUntil ? `   (repeated until ${step.repeatUntil})` : ''}`);
		lines.push(...JSON.stringify(step.params, null, 2).split('\n').map((line) => `  ${line}`));
	}
	const scripts = new Map(steps.map((step) => [step.scriptName, step.script]));
	lines.push('', `The ${scripts.size} constant scripts (the same text whatever the parameters; parameters arrive as base64 JSON in $RdParams):`);
	for (const [name, text] of scripts) lines.push('', `----- ${name} -----`, text.trimEnd());
	return lines.join('\n');
}

export async function planCommand(context: CommandContext, request: StartRequest, planOut: string | undefined): Promise<number> {
	const host = context.engine.host;
	if (!hasRunbook(host)) throw new RundirectError(`host ${host.id} cannot show its commands before running them`, EXIT.usage, 'use --host hyperv or --host hyperv://<server>');
	// Where the host cannot be reached (Hyper-V seen from Linux), the runbook is made all the same: it changes nothing.
	const offline = plansOffline(host) && host.unreachable;
	const proposal = await context.engine.proposeStart(request, { offline });
	const plan = proposal.resume?.plan ?? proposal.plan;
	const steps = host.runbook(plan);
	context.emit({ type: 'plan', plan, problems: proposal.problems, destroys: proposal.destroys, assumptions: proposal.assumptions, checked: !offline, steps: steps.map(({ script: _script, ...step }) => step) });
	context.say(`Plan for ${plan.vmName} on ${host.id} (session ${plan.sessionId}${proposal.resume ? ', continuing' : ', not started'}${offline ? ', made without reaching the host' : ''}):`);
	for (const line of proposal.assumptions) context.say(`? assumed: ${line}`);
	for (const line of proposal.destroys) context.say(`! ${line}`);
	for (const problem of proposal.problems) context.say(`✗ ${problem}`);
	context.say('');
	context.say(runbookText(steps));
	if (planOut) {
		await fs.writeFile(planOut, host.runbookScript(steps, { plan, generatedAt: new Date().toISOString() }), 'utf8');
		context.say('');
		context.say(`Runbook written to ${planOut}: review it, then ${host.runbookScriptUsage(planOut.split(/[\\/]/).pop() ?? planOut)}.`);
	}
	return proposal.problems.length > 0 ? EXIT.refused : EXIT.ok;
}
