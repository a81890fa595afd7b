// `start --runbook` on the libvirt host: every command the phases of a plan run — virsh, qemu-img
// and the file operations — as the driver runs them on a fresh session, and the same as one
// POSIX sh script an administrator can read or run by hand (`--runbook-out`).
import path from 'node:path';
import type { RestorePlan, RunbookStep } from '../host.ts';
import { copyDestinationXml, diskTargets, domainXml, type DomainType, METADATA_NS } from './domain-xml.ts';
import { fillCommand, fillFiles } from './fill.ts';
import { QEMU_IMG } from '../../qemu/qemu-img.ts';
import { asideNameOf } from './set-aside.ts';
import { VIRSH } from './virsh.ts';

export interface RunbookContext {
	uri: string;
	domainType: DomainType;
	serialFile: string;
	/** QEMU's account when it is known and not this user's: its folders are given to it (privacy.ts). */
	qemuAccount?: { uid: number; gid: number } | null;
}

const PROGRAMS: Readonly<Record<string, string>> = {
	virsh: "virsh: libvirt's command-line client (package libvirt-clients)",
	'qemu-img': 'qemu-img: QEMU disk image tool (package qemu-utils)',
	sh: 'sh: file operations on this host',
};

export function shellQuote(arg: string): string {
	return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function commandLine(argv: string[]): string {
	return argv.map(shellQuote).join(' ');
}

export function libvirtRunbook(plan: RestorePlan, context: RunbookContext): RunbookStep[] {
	const steps: RunbookStep[] = [];
	const add = (phase: RunbookStep['phase'], step: string, title: string, argv: string[], extra: { params?: { file: string; xml: string }; repeatUntil?: string } = {}) => {
		const program = argv[0] === VIRSH ? 'virsh' : argv[0] === QEMU_IMG ? 'qemu-img' : 'sh';
		const invocation = commandLine(argv);
		// The command line itself is what an administrator reviews; a file it reads is shown beside it.
		const params = { command: invocation, ...extra.params };
		steps.push({ phase, step, title, language: 'shell', scriptName: program, script: PROGRAMS[program] ?? program, params, invocation, ...(extra.repeatUntil ? { repeatUntil: extra.repeatUntil } : {}) });
	};
	const virsh = (...args: string[]) => [VIRSH, '--connect', context.uri, ...args];
	const targets = diskTargets(plan.disks);
	const name = plan.vmName;
	// Folders QEMU passes through are QEMU's when it runs as another account (the script runs as root).
	const mkdir = (step: string, title: string, dir: string) => {
		add('start', step, title, ['mkdir', '-p', '-m', '0700', dir]);
		if (context.qemuAccount) add('start', step, `Give it to QEMU's account (files stay 0600)`, ['chown', `${context.qemuAccount.uid}:${context.qemuAccount.gid}`, dir]);
	};

	if (plan.replaces !== null) {
		const aside = asideNameOf(plan.replaces, plan.sessionId);
		if (plan.replaceMode === 'set-aside') {
			add('start', 'replace-vm', `Shut ${plan.replaces} off (if it runs)`, virsh('destroy', plan.replaces, '--graceful'));
			add('start', 'replace-vm', `Set ${plan.replaces} aside as ${aside}`, virsh('domrename', plan.replaces, aside));
		} else {
			add('start', 'replace-vm', `Shut ${plan.replaces} off (if it runs)`, virsh('destroy', plan.replaces, '--graceful'));
			add('start', 'replace-vm', `Delete ${plan.replaces}'s disk files (those its definition names)`, ['sh', '-c', `${VIRSH} --connect "$1" domblklist "$2" --details | awk '$2 == "disk" { print $4 }' | xargs -r rm -f`, 'sh', context.uri, plan.replaces]);
			add('start', 'replace-vm', `Undefine ${plan.replaces}`, virsh('undefine', plan.replaces, '--nvram', '--managed-save', '--snapshots-metadata', '--checkpoints-metadata'));
		}
	}
	mkdir('create-disks', 'Create the production folder', plan.productionDir);
	for (const disk of plan.disks) add('start', 'create-disks', `Empty production image of disk ${disk.index}`, [QEMU_IMG, 'create', '-q', '-f', 'qcow2', disk.production, String(disk.virtualSize)]);
	mkdir('snapshot-layer', 'Create the work folder', plan.workDir);
	for (const disk of plan.disks) add('start', 'snapshot-layer', `Snapshot layer of disk ${disk.index} over its read-only backup`, [QEMU_IMG, 'create', '-q', '-f', 'qcow2', '-b', disk.backup, '-F', disk.format, disk.overlay]);
	mkdir('start-vm', 'Create the folder of the serial console log', path.dirname(context.serialFile));
	const xmlFile = path.join(plan.workDir, 'domain.xml');
	add('start', 'start-vm', `Define ${name} (its disks: the snapshot layers, backing stores relabel='no')`, virsh('define', xmlFile), { params: { file: xmlFile, xml: domainXml({ plan, type: context.domainType, serialFile: context.serialFile }) } });
	add('start', 'start-vm', `Start ${name}`, virsh('start', name));

	for (const disk of plan.disks) {
		const files = fillFiles(plan.workDir, disk.index);
		add('finalize', 'copy-data', `Fill the production image of disk ${disk.index} from the backup while the VM runs`, fillCommand(disk));
		add('finalize', 'copy-data', `Make it durable (flush to disk)`, ['sync', disk.production]);
		add('finalize', 'copy-data', `Mark disk ${disk.index} copied`, ['touch', files.done]);
	}
	for (const disk of plan.disks) {
		const dev = targets[disk.index]?.dev ?? '';
		const destination = path.join(plan.workDir, `disk${disk.index}-copy.xml`);
		add('finalize', 'apply-changes', `Mirror the changes of ${dev} onto its production image`, virsh('blockcopy', name, dev, '--xml', destination, '--shallow', '--reuse-external', '--transient-job', '--synchronous-writes'), { params: { file: destination, xml: copyDestinationXml(disk.production) } });
		add('finalize', 'apply-changes:wait', `Wait until the mirror of ${dev} is ready`, virsh('dumpxml', name), { repeatUntil: `the <mirror> of ${dev} says ready='yes'` });
	}
	for (const disk of plan.disks) add('finalize', 'apply-changes', `Switch ${targets[disk.index]?.dev} to production (pivot)`, virsh('blockjob', name, targets[disk.index]?.dev ?? '', '--pivot'));
	add('finalize', 'delete-layer', 'Delete the snapshot layers', ['rm', '-rf', plan.workDir]);
	add('finalize', 'delete-layer', `Remove the session mark from ${name}'s definition`, virsh('metadata', name, METADATA_NS, '--remove', '--config'));
	add('finalize', 'delete-layer', `Remove it from the running domain too (if it runs)`, virsh('metadata', name, METADATA_NS, '--remove', '--live'));
	if (plan.replaces !== null && plan.replaceMode === 'set-aside') {
		const aside = asideNameOf(plan.replaces, plan.sessionId);
		add('finalize', 'purge-replaced', `Delete ${aside}'s disk files`, ['sh', '-c', `${VIRSH} --connect "$1" domblklist "$2" --details | awk '$2 == "disk" { print $4 }' | xargs -r rm -f`, 'sh', context.uri, aside]);
		add('finalize', 'purge-replaced', `Undefine ${aside}`, virsh('undefine', aside, '--nvram', '--managed-save', '--snapshots-metadata', '--checkpoints-metadata'));
	}

	add('stop', 'discard', `Power ${name} off`, virsh('destroy', name));
	add('stop', 'discard', `Undefine ${name}`, virsh('undefine', name, '--nvram', '--managed-save', '--snapshots-metadata', '--checkpoints-metadata'));
	add('stop', 'discard', 'Delete the snapshot layers, the production images and the serial log', ['rm', '-rf', plan.workDir, ...plan.disks.map((disk) => disk.production), context.serialFile]);
	if (plan.replaces !== null && plan.replaceMode === 'set-aside') {
		const aside = asideNameOf(plan.replaces, plan.sessionId);
		add('stop', 'restore-replaced', `Bring ${plan.replaces} back under its name`, virsh('domrename', aside, plan.replaces));
		add('stop', 'restore-replaced', `Start ${plan.replaces} again (only if it was running)`, virsh('start', plan.replaces));
	}
	return steps;
}

/** The runbook as one sh script: `sh runbook.sh start`, then `finalize` or `stop`. */
export function libvirtRunbookScript(steps: RunbookStep[], meta: { plan: RestorePlan; generatedAt: string }): string {
	const lines = [
		'#!/bin/sh',
		`# rundirect runbook for ${meta.plan.vmName} (session ${meta.plan.sessionId}, host ${meta.plan.host}), generated ${meta.generatedAt}.`,
		'# Usage: sh THIS-FILE start   (then: finalize, or stop). Review every command before running it.',
		'set -eu',
		'# Guest data is private: every file and folder this script creates is for its owner only.',
		'umask 077',
		'phase=${1:?usage: sh runbook.sh start|finalize|stop}',
		'',
	];
	for (const phase of ['start', 'finalize', 'stop'] as const) {
		lines.push(`if [ "$phase" = ${phase} ]; then`);
		for (const step of steps.filter((candidate) => candidate.phase === phase)) {
			lines.push(`  echo ${shellQuote(`[${step.step}] ${step.title}`)}`);
			const params = step.params as { file?: string; xml?: string };
			if (params.file && params.xml) lines.push(`  cat > ${shellQuote(params.file)} <<'RUNDIRECT_XML'`, params.xml.trimEnd(), 'RUNDIRECT_XML');
			if (step.repeatUntil) lines.push(`  until ${step.invocation} | grep -q "ready='yes'"; do sleep 1; done`);
			// Steps that depend on the VM's state ("if it runs") may fail harmlessly.
			else lines.push(`  ${step.invocation}${/\(if it runs\)|\(only if it was running\)/.test(step.title) ? ' || true' : ''}`);
		}
		lines.push('fi', '');
	}
	return lines.join('\n');
}
