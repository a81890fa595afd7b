// Generates the Hyper-V model's cmdlet declarations (Hyper-V/declarations.generated.ps1) from the
// reference's psa-profile-subset.json: every Hyper-V and CIM cmdlet the driver's scripts call, with
// exactly the parameter sets Windows PowerShell 5.1 reports (names, types, mandatory, positional),
// so PowerShell's own binder accepts or rejects each call as 5.1 with Hyper-V would.
//
//   npx tsx test/hyperv/model/generate.ts [path/to/psa-profile-subset.json]
//
// Default input: ../shared/reference/psa-profile-subset.json beside the repository. The output is
// committed; test/hyperv/model.test.ts checks it is up to date whenever that file exists.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { allScriptTexts } from '../../../source/hosts/hyperv/scripts.ts';
import { commandUses, parsePowerShell } from '../parse.ts';

interface ProfileParam {
	name: string;
	type: string;
	mandatory: boolean;
	positional: boolean;
}
interface ProfileCommand {
	module: string;
	commandType: string;
	sets: Array<{ params: ProfileParam[]; commonParameters: boolean }>;
}
export interface Profile {
	source: { repo: string; path: string; commit: string; powershell: string; hypervModule: string };
	commands: Record<string, ProfileCommand>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const OUTPUT = path.join(here, 'Hyper-V', 'declarations.generated.ps1');
export const DEFAULT_PROFILE = path.join(here, '..', '..', '..', '..', 'shared', 'reference', 'psa-profile-subset.json');

/**
 * Core cmdlets the model stands in for, with only the parameter sets it models: PowerShell Direct
 * is Hyper-V's, though its cmdlet is Invoke-Command. The scripts' other Invoke-Command (remote.ps1,
 * -ComputerName) never runs under the model.
 */
const CORE_STAND_INS: Record<string, (names: string[]) => boolean> = {
	'Invoke-Command': (names) => (names.includes('VMId') || names.includes('VMName')) && names.includes('ScriptBlock'),
};

/** Cmdlets the scripts do not call yet but the model offers (tests seed or inspect with them). */
const EXTRA = ['Get-VMDvdDrive', 'Remove-VMDvdDrive', 'Get-VMSwitch', 'Get-VMIdeController'];

/**
 * Enum parameter types with the values the cmdlet pages list as "Accepted values" (MicrosoftDocs/
 * windows-powershell-docs, docset/winserver2022-ps/hyper-v/<page>.md). The profile records the
 * type name only.
 */
const ENUMS: Record<string, { values: string[]; page: string }> = {
	CheckpointType: { values: ['Disabled', 'Production', 'ProductionOnly', 'Standard'], page: 'Set-VM.md -CheckpointType' },
	StartAction: { values: ['Nothing', 'StartIfRunning', 'Start'], page: 'Set-VM.md -AutomaticStartAction' },
	StopAction: { values: ['TurnOff', 'Save', 'ShutDown'], page: 'Set-VM.md -AutomaticStopAction' },
	OnOffState: { values: ['On', 'Off'], page: 'Set-VMFirmware.md -EnableSecureBoot' },
	ControllerType: { values: ['IDE', 'SCSI'], page: 'Add-VMHardDiskDrive.md -ControllerType' },
	BootDevice: { values: ['Floppy', 'CD', 'IDE', 'LegacyNetworkAdapter', 'NetworkAdapter', 'VHD'], page: 'New-VM.md -BootDevice' },
	VMSwitchType: { values: ['Private', 'Internal', 'External'], page: 'Get-VMSwitch.md -SwitchType' },
	SnapshotType: { values: ['Standard', 'Recovery', 'Planned', 'Missing', 'Replica', 'AppConsistentReplica', 'SyncedReplica'], page: 'Get-VMSnapshot.md -SnapshotType' },
	ConsoleModeType: { values: ['Default', 'COM1', 'COM2', 'None'], page: 'Set-VMFirmware.md -ConsoleMode' },
	IPProtocolPreference: { values: ['IPv4', 'IPv6'], page: 'Set-VMFirmware.md -PreferredNetworkBootProtocol' },
	CriticalErrorAction: { values: ['None', 'Pause'], page: 'Set-VM.md -AutomaticCriticalErrorAction' },
};

/** Object types the model defines as classes in Hyper-V/objects.ps1 (with their documented properties). */
const CLASSES = new Set(['VirtualMachine', 'VirtualMachineBase', 'VMSnapshot', 'VMComponentObject', 'HardDiskDrive', 'DvdDrive', 'VMNetworkAdapter', 'VMNetworkAdapterBase', 'VMDriveController', 'VMScsiController', 'VMFirmware', 'VMSwitch', 'VMIntegrationComponent', 'VMCompatibilityReport']);

const PRIMITIVES: Record<string, string> = {
	string: 'string',
	int: 'int',
	int16: 'int16',
	uint16: 'uint16',
	uint32: 'uint32',
	uint64: 'uint64',
	long: 'long',
	byte: 'byte',
	bool: 'bool',
	switch: 'switch',
	guid: 'guid',
	datetime: 'datetime',
	timespan: 'timespan',
	hashtable: 'hashtable',
	scriptblock: 'scriptblock',
	psobject: 'psobject',
	Object: 'object',
	uri: 'uri',
	version: 'version',
	pscredential: 'pscredential',
	IDictionary: 'System.Collections.IDictionary',
	CimSession: 'Microsoft.Management.Infrastructure.CimSession',
	// MMI's CimInstance needs the native libmi, which exists only on Windows: the model's stand-ins.
	ciminstance: 'HvCimInstance',
	cimclass: 'HvCimClass',
};

/** The PowerShell type literal for a profile type, and whether the model binds it loosely. */
export function psType(type: string): { literal: string; loose: boolean } {
	const array = type.endsWith('[]');
	const base = array ? type.slice(0, -2) : type;
	const suffix = array ? '[]' : '';
	if (PRIMITIVES[base]) return { literal: `${PRIMITIVES[base]}${suffix}`, loose: false };
	if (ENUMS[base] || CLASSES.has(base)) return { literal: `${base}${suffix}`, loose: false };
	return { literal: `object${suffix}`, loose: true };
}

function quote(text: string): string {
	return `'${text.replace(/'/g, "''")}'`;
}

export function declare(name: string, command: ProfileCommand): string {
	// Parameter name → its declaration per set (a parameter shared by sets gets one attribute per set).
	const params = new Map<string, { type: string; attributes: string[] }>();
	command.sets.forEach((set, index) => {
		let position = 0;
		for (const param of set.params) {
			const entry = params.get(param.name) ?? { type: param.type, attributes: [] };
			if (entry.type !== param.type) throw new Error(`${name} -${param.name}: two types (${entry.type}, ${param.type})`);
			const parts = [`ParameterSetName = 'Set${index + 1}'`];
			if (param.mandatory) parts.push('Mandatory = $true');
			if (param.positional) parts.push(`Position = ${position++}`);
			entry.attributes.push(`[Parameter(${parts.join(', ')})]`);
			params.set(param.name, entry);
		}
	});
	const lines: string[] = [];
	lines.push(`function ${name} {`);
	// The profile numbers the sets without naming the default one: the first set is taken as the default (Get-Command lists it first).
	lines.push(`\t[CmdletBinding(DefaultParameterSetName = 'Set1')]`);
	lines.push('\tparam(');
	const declared = [...params].map(([param, entry]) => {
		const { literal, loose } = psType(entry.type);
		const comment = loose ? `\t\t# ${entry.type}: not modelled, binds any value\n` : '';
		return `${comment}\t\t${entry.attributes.join(' ')}\n\t\t[${literal}]$${param}`;
	});
	lines.push(declared.join(',\n'));
	lines.push('\t)');
	lines.push(`\tInvoke-HvModel -Command ${quote(name)} -Cmdlet $PSCmdlet -Bound $PSBoundParameters`);
	lines.push('}');
	return lines.join('\n');
}

/** The cmdlets to declare: every Hyper-V or CIM cmdlet the scripts call, and EXTRA. */
export async function usedCommands(profile: Profile): Promise<string[]> {
	const names = new Set(EXTRA);
	for (const { text } of allScriptTexts()) {
		const { root } = await parsePowerShell(text);
		for (const use of commandUses(root)) names.add(use.name);
	}
	return [...names].filter((name) => /^(Hyper-V|CimCmdlets) /.test(profile.commands[name]?.module ?? '') || CORE_STAND_INS[name]).sort();
}

export async function generate(profile: Profile): Promise<string> {
	const names = await usedCommands(profile);
	const out: string[] = [];
	out.push('# GENERATED by test/hyperv/model/generate.ts — do not edit; run it again instead.');
	out.push(`# From ${profile.source.repo} ${profile.source.path} @ ${profile.source.commit}: ${profile.source.powershell}, ${profile.source.hypervModule}.`);
	out.push('# Each cmdlet has the parameter sets 5.1 reports (Set1…SetN, numbered as recorded); its body hands the');
	out.push('# bound parameters to the model (behaviour.ps1). Enum values come from the cmdlet pages\' "Accepted values".');
	out.push('');
	for (const [name, { values, page }] of Object.entries(ENUMS)) out.push(`# ${page}\nenum ${name} { ${values.join('; ')} }`);
	out.push('');
	for (const name of names) {
		const command = profile.commands[name] as ProfileCommand;
		const modelled = CORE_STAND_INS[name];
		out.push(declare(name, modelled ? { ...command, sets: command.sets.filter((set) => modelled(set.params.map((param) => param.name))) } : command));
		out.push('');
	}
	return `${out.join('\n').trimEnd()}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const input = process.argv[2] ?? DEFAULT_PROFILE;
	const profile = JSON.parse(fs.readFileSync(input, 'utf8')) as Profile;
	fs.mkdirSync(path.dirname(OUTPUT), { recursive: true });
	fs.writeFileSync(OUTPUT, await generate(profile));
	console.log(`wrote ${path.relative(process.cwd(), OUTPUT)}`);
}
