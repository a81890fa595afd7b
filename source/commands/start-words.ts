// What `rundirect start` is asked for, in one set of words: `--plan <file>` is a plan file in
// every command (a site recovery here, as in `drill --plan`), `--runbook` the preview of one
// VM's start. The old spelling — `start <vm> --plan` without a file, `--plan-out` — still works,
// with a notice.
import { EXIT, RundirectError } from '../core/errors.ts';

export interface StartWords {
	/** A plan file, or `true` for the old `--plan` flag (the runbook). */
	plan?: string | boolean;
	runbook?: boolean;
	runbookOut?: string;
	/** Old spelling of --runbook-out. */
	planOut?: string;
}

export type StartMode = { kind: 'start'; vm: string } | { kind: 'runbook'; vm: string; out: string | undefined; notices: string[] } | { kind: 'site'; file: string };

export function startMode(vm: string | undefined, words: StartWords): StartMode {
	const notices: string[] = [];
	if (words.plan === true) notices.push('"start <vm> --plan" is now "start <vm> --runbook" (the old spelling still works): --plan takes a plan file, as in "drill --plan"');
	if (words.planOut !== undefined) notices.push('"--plan-out" is now "--runbook-out" (the old spelling still works)');
	const out = words.runbookOut ?? words.planOut;
	const runbook = words.runbook === true || words.plan === true || out !== undefined;
	if (typeof words.plan === 'string') {
		if (vm !== undefined) throw new RundirectError(`start takes a VM or --plan <file> (a site recovery of the plan's VMs), not both`, EXIT.usage, `"rundirect start ${vm}" or "rundirect start --plan ${words.plan}"`);
		if (runbook) throw new RundirectError('--runbook shows one VM\'s start: it does not go with --plan <file>', EXIT.usage);
		return { kind: 'site', file: words.plan };
	}
	if (vm === undefined) throw new RundirectError('name the VM to start, or give a plan file with --plan <file> to start many (a site recovery)', EXIT.usage);
	return runbook ? { kind: 'runbook', vm, out, notices } : { kind: 'start', vm };
}
