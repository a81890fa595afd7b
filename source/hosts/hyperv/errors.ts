// The Hyper-V host's errors: a code from the script envelope (or the console side) becomes one
// specific message saying what is wrong and what to do about it.
import { EXIT, HostError } from '../../core/errors.ts';
import type { EnvelopeError } from './envelope.ts';

/** A code from the envelope or the console side: the common ones are named, any other passes as it came. */
export type HypervErrorCode =
	| 'NOT_WINDOWS'
	| 'POWERSHELL_MISSING'
	| 'HYPERV_MODULE_MISSING'
	| 'NOT_ELEVATED'
	| 'ACCESS_DENIED'
	| 'VM_NOT_FOUND'
	| 'SWITCH_NOT_FOUND'
	| 'PATH_MISSING'
	| 'NO_SPACE'
	| 'PENDING_LOG'
	| 'QCOW2'
	| 'REMOTE_UNREACHABLE'
	| 'TIMEOUT'
	// `string & {}` rather than `string`, which would swallow the names above (for editors too).
	| (string & {});

/** What to tell the user for a code. `subject` is the VM, switch or path concerned. */
export function explain(code: HypervErrorCode, subject: string, host: string, detail = ''): string {
	const more = detail ? ` (${detail})` : '';
	switch (code) {
		case 'NOT_WINDOWS':
			return `The Hyper-V host needs Windows: this console runs on ${process.platform}. Run rundirect on the Hyper-V host (or a Windows machine that reaches it with --host hyperv://<server>), or use --host lab here`;
		case 'POWERSHELL_MISSING':
			return `Windows PowerShell could not be started${more}: check that powershell.exe is on PATH (or set NODE_POWERSHELL to its full path)`;
		case 'HYPERV_MODULE_MISSING':
			return `The Hyper-V PowerShell module is not installed on ${host}${more}: on Windows Server run "Install-WindowsFeature Hyper-V-PowerShell", on Windows client "Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V-Management-PowerShell", then try again`;
		case 'NOT_ELEVATED':
			return `Not allowed to manage Hyper-V on ${host}${more}: run the console from an elevated terminal (Run as administrator), or add your account to the Hyper-V Administrators group (S-1-5-32-578) and sign in again`;
		case 'ACCESS_DENIED':
			return `Access denied on ${host} to ${subject}${more}: check that your account (and, for a backup on a share, the Hyper-V host's computer account) may read and write there`;
		case 'VM_NOT_FOUND':
			return `VM ${subject} was not found on ${host}${more}: check the name with "Get-VM" on the host, or list the sessions with "rundirect sessions"`;
		case 'SWITCH_NOT_FOUND':
			return `Virtual switch ${JSON.stringify(subject)} of the restore point does not exist on ${host}${detail ? ` (it has: ${detail})` : ''}: create it ("New-VMSwitch -Name ${JSON.stringify(subject)} …") or restore on a host that has it`;
		case 'PATH_MISSING':
			return `${subject} cannot be reached from ${host}${more}: mount the backup destination where the host sees it under the same path (a UNC path such as \\\\server\\share; over remoting the host's own access to the share needs delegation, e.g. resource-based constrained delegation)`;
		case 'DOUBLE_HOP':
			return `Backup disk ${subject} is on a share that ${host} cannot reach over PowerShell remoting${more}: the remote session (and the copy worker it starts) holds no credentials to pass on to the file server — the "second hop". Configure resource-based Kerberos constrained delegation from ${host} to the file server (on the file server's computer object: Set-ADComputer <file server> -PrincipalsAllowedToDelegateToAccount (Get-ADComputer <${host}>)), or CredSSP (Enable-WSManCredSSP -Role Client -DelegateComputer <${host}> here, -Role Server on ${host}), or run rundirect on ${host} itself`;
		case 'NO_SPACE':
			return `Not enough free space for ${subject} on ${host}${more}: free some space, or restore to another folder with --location`;
		case 'PENDING_LOG':
			return `Backup disk ${subject} is a VHDX with a pending log${more}: it cannot be opened read-only, and replaying the log would write to the backup. Copy the file, open the copy once (e.g. Mount-VHD then Dismount-VHD) to replay its log, and restore from the copy`;
		case 'QCOW2':
			return `Backup disk ${subject} is a qcow2 image${more}: Hyper-V runs only VHDX. Restore this point on the lab host (--host lab), or convert it on a copy (qemu-img convert -O vhdx) into a new restore point`;
		case 'NOT_VHDX':
			return `Backup disk ${subject} is not a VHDX${more}: Hyper-V Run Direct needs VHDX restore points`;
		case 'BACKUP_IS_DIFFERENCING':
			return `Backup disk ${subject} is itself a differencing disk${more}: a restore point must hold standalone VHDX files`;
		case 'BACKUP_UNREADABLE':
			return `Backup disk ${subject} cannot be opened on ${host}${more}: check the file and the host's access to the destination`;
		case 'ID_TAKEN':
			return `VM ${detail || '?'} on ${host} holds the Id ${subject} of the backed-up VM, which the restore under its own name keeps (Hyper-V has one VM per Id): restore with --name to get a new VM beside it, or replace that VM by restoring under its name`;
		case 'EXPORT_FAILED':
			return `Hyper-V could not export the configuration of ${subject} on ${host}${more}: check the VM in Hyper-V Manager and the Hyper-V-VMMS event log, then try again`;
		case 'SIZE_MISMATCH':
			return `Backup disk ${subject} does not match its restore point${more}: the restore point is inconsistent`;
		case 'PRODUCTION_ACL_WIDE':
			return `Production folder ${subject} on ${host} lets others read what a restore puts in it${more}: allow only SYSTEM, Administrators, Hyper-V Administrators and the VMs there (e.g. icacls "<folder>" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F *S-1-5-32-578:(OI)(CI)F), or restore to another location with --location`;
		case 'PRODUCTION_EXISTS':
			return `${subject} already exists on ${host}${more}: remove it, or restore to another location or under another name`;
		case 'IDE_ON_GEN2':
			return `A disk of ${subject} is on an IDE controller but the VM is generation 2${more}: the restore point is inconsistent`;
		case 'NAME_TAKEN':
			return `A VM named ${subject} already exists on ${host}${detail ? ` (Id ${detail})` : ''} and this restore was not planned to replace it: plan the restore again, or choose another name with --name`;
		case 'VM_IN_SESSION':
			return `VM ${subject} belongs to another Run Direct session${detail ? ` (${detail})` : ''} on ${host}: finalize or stop that session first`;
		case 'AMBIGUOUS_VM':
			return `More than one VM on ${host} matches ${subject}${more}: rename the duplicates so the name is unique, then try again`;
		case 'SLOT_TAKEN':
			return `A controller slot of VM ${subject} on ${host} holds another disk${more}: remove that disk, or stop the session`;
		case 'LAYER_DAMAGED':
			return `The differencing disk ${subject} is damaged or has the wrong parent${more}: stop the session (its changes cannot be trusted)`;
		case 'NOT_COPIED':
			return `${subject} is not a complete copy of its backup disk yet${more}: run finalize again so step 5 completes the copy`;
		case 'NOT_APPLIED':
			return `VM ${subject} still runs on its differencing disk${more}: step 6 must complete first — run finalize again`;
		case 'SHUTDOWN_FAILED':
			return `VM ${subject} did not go offline for the merge${more}: shut it down from inside the guest, then run finalize again`;
		case 'SHUTDOWN_UNAVAILABLE':
			return `VM ${subject} cannot be shut down through its guest for the merge on ${host}: its Shutdown integration service is ${detail || 'not answering'}. rundirect never turns a VM off (that loses what the guest has not written): shut the guest down from inside (or enable the service: Enable-VMIntegrationService -Name Shutdown), then run finalize again — the VM is started on production storage after the merge`;
		case 'SESSION_VM_EXISTS':
			return `Cannot bring the replaced VM back on ${host}: ${subject}${more}; run stop again so the session's VM is removed first`;
		case 'COPY_NOT_STARTED':
			return `The copy of ${subject} could not be started on ${host}${more}: check the event log; run finalize again to retry`;
		case 'HAS_CHECKPOINTS':
			return `VM ${subject} has checkpoints${more}: rundirect backup copies standalone VHDX files only; delete or apply the checkpoints, or back it up with your backup product`;
		case 'CHECKPOINTS_DISABLED':
			return `Checkpoints are disabled on VM ${subject}${more}: a consistent backup needs one; enable Production checkpoints (Set-VM -CheckpointType Production)`;
		case 'SWITCH_NOT_ISOLATED':
			return `Virtual switch ${JSON.stringify(subject)} named for the drill is ${detail || 'External'} on ${host}: a drill's VMs must not reach the production network; name a Private or Internal switch, or none (the NICs stay disconnected)`;
		case 'GUEST_EXEC_FAILED':
			return `${subject}${more}: PowerShell Direct needs the VM running locally on ${host} with a Windows 10 / Server 2016 or later guest booted, and an account of the guest in RUNDIRECT_HYPERV_GUEST_USER and RUNDIRECT_HYPERV_GUEST_PASSWORD`;
		case 'THUMBNAIL_FAILED':
			return `Hyper-V could not take a thumbnail of VM ${subject} on ${host}${more}`;
		case 'REMOTE_UNREACHABLE':
			return `Cannot run PowerShell on ${host}${more}: check that the server is reachable, that WinRM is enabled there ("Enable-PSRemoting"), and that your account may connect`;
		case 'TIMEOUT':
			return `PowerShell on ${host} did not answer in time${more}: the operation may still be running there — check the host, then run the same command again (every step resumes from what it finds)`;
		default:
			return `${subject ? `${subject}: ` : ''}${detail || code} (on ${host})`;
	}
}

export class HypervError extends HostError {
	override name = 'HypervError';
	constructor(
		override readonly code: HypervErrorCode,
		message: string,
		readonly envelope?: EnvelopeError,
	) {
		super(code, message, code === 'USAGE' ? EXIT.usage : code === 'NOT_WINDOWS' || code === 'HYPERV_MODULE_MISSING' || code === 'NOT_ELEVATED' ? EXIT.refused : EXIT.failed);
	}

	static fromEnvelope(error: EnvelopeError, host: string, script: string): HypervError {
		// A script may send "subject<TAB>detail".
		const [subject = '', ...detail] = error.message.split('\t');
		const known = explain(error.code, subject, host, detail.join(' '));
		const message = error.code === 'ERROR' || error.code === 'COMMAND_NOT_FOUND' ? `${script} failed on ${host}: ${error.message}${error.at ? `\n${error.at.trim()}` : ''}` : `${script}: ${known}`;
		return new HypervError(error.code, message, error);
	}
}
