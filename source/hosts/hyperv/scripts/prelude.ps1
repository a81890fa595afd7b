param([string]$RdParams)
# rundirect: every script starts with this prelude. Values arrive only as base64 UTF-8 JSON in
# $RdParams (never spliced into code); the one line of output is the envelope printed last.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
$ConfirmPreference = 'None'

$RdTagSession = '[rundirect] session='
$RdTagAside = '[rundirect] set-aside-by='

function ConvertTo-RdJson {
	param($Value)
	$json = ConvertTo-Json -InputObject $Value -Depth 8 -Compress
	# ASCII only, so no console code page can garble a name on its way back.
	return [regex]::Replace($json, '[^\x00-\x7F]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })
}

function Write-RdEnvelope {
	param([bool]$Ok, $Data, $Failure)
	$envelope = New-Object -TypeName PSObject -Property @{ ok = $Ok; data = $Data; error = $Failure }
	return 'RDENVELOPE ' + (ConvertTo-RdJson $envelope)
}

function Stop-Rd {
	param([string]$Code, [string]$Message)
	$exception = New-Object -TypeName System.Exception -ArgumentList $Message
	$exception.Data['rdCode'] = $Code
	throw $exception
}

function Assert-RdHyperV {
	if ($global:RdHyperVChecked) { return }
	if (-not (Get-Module -ListAvailable -Name 'Hyper-V')) {
		Stop-Rd 'HYPERV_MODULE_MISSING' ('The Hyper-V PowerShell module is not installed on ' + $env:COMPUTERNAME)
	}
	Import-Module -Name 'Hyper-V'
	$principal = New-Object -TypeName Security.Principal.WindowsPrincipal -ArgumentList ([Security.Principal.WindowsIdentity]::GetCurrent())
	$admin = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
	$hyperVAdmin = $principal.IsInRole((New-Object -TypeName Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-32-578'))
	if (-not ($admin -or $hyperVAdmin)) {
		Stop-Rd 'NOT_ELEVATED' ([Security.Principal.WindowsIdentity]::GetCurrent().Name + ' is neither an elevated Administrator nor a member of Hyper-V Administrators (S-1-5-32-578) on ' + $env:COMPUTERNAME)
	}
	$global:RdHyperVChecked = $true
}

function Get-RdNoteLines {
	param($Vm)
	if ($null -eq $Vm.Notes -or $Vm.Notes -eq '') { return @() }
	return @($Vm.Notes -split "\r?\n")
}

function Test-RdNoteLine {
	param($Vm, [string]$Line)
	foreach ($candidate in (Get-RdNoteLines $Vm)) {
		if ($candidate.StartsWith($Line, [StringComparison]::Ordinal)) { return $true }
	}
	return $false
}

function Get-RdTaggedSession {
	param($Vm)
	foreach ($candidate in (Get-RdNoteLines $Vm)) {
		if ($candidate.StartsWith($RdTagSession, [StringComparison]::Ordinal)) { return $candidate.Substring($RdTagSession.Length) }
	}
	return $null
}

function Get-RdAsideSession {
	param($Vm)
	foreach ($candidate in (Get-RdNoteLines $Vm)) {
		if ($candidate.StartsWith($RdTagAside, [StringComparison]::Ordinal)) { return ($candidate.Substring($RdTagAside.Length) -split ' ')[0] }
	}
	return $null
}

function Get-RdVmsNamed {
	param([string]$Name)
	# Get-VM -Name takes wildcards: compare names exactly instead.
	return @(Get-VM | Where-Object { $_.Name -ceq $Name })
}

function Get-RdSessionVm {
	param($P)
	$tagged = @(Get-VM | Where-Object { (Get-RdTaggedSession $_) -ceq $P.sessionId })
	if ($tagged.Count -gt 1) { Stop-Rd 'AMBIGUOUS_VM' ('More than one VM carries the tag of session ' + $P.sessionId) }
	if ($tagged.Count -eq 1) { return $tagged[0] }
	# After finalize the tag is gone: the session's VM is the one whose disks are all this session's files.
	$ours = @($P.disks | ForEach-Object { $_.production; $_.overlay })
	foreach ($vm in (Get-RdVmsNamed $P.vmName)) {
		$paths = @(Get-VMHardDiskDrive -VM $vm | ForEach-Object { $_.Path })
		if ($paths.Count -gt 0) {
			$foreign = @($paths | Where-Object { $ours -notcontains $_ })
			if ($foreign.Count -eq 0) { return $vm }
		}
	}
	return $null
}

function Get-RdAsideVm {
	param([string]$SessionId)
	$aside = @(Get-VM | Where-Object { (Get-RdAsideSession $_) -ceq $SessionId })
	if ($aside.Count -gt 1) { Stop-Rd 'AMBIGUOUS_VM' ('More than one VM is set aside by session ' + $SessionId) }
	if ($aside.Count -eq 1) { return $aside[0] }
	return $null
}

function Remove-RdNoteLine {
	param($Vm, [string]$Prefix)
	# Only the tag lines go, each with its line break: the owner's text stays exactly as it was
	# (its own CR LF or LF, its blank lines), however often it was tagged and untagged.
	$tail = [regex]::Escape($Prefix) + '[^\r\n]*'
	$notes = [string]$Vm.Notes
	$kept = [regex]::Replace($notes, '\r?\n' + $tail, '')
	$kept = [regex]::Replace($kept, '^' + $tail + '(\r?\n)?', '')
	if ($kept -cne $notes) { Set-VM -VM $Vm -Notes $kept }
}

function Add-RdNoteLine {
	param($Vm, [string]$Line)
	$notes = [string]$Vm.Notes
	if ($notes -eq '') { Set-VM -VM $Vm -Notes $Line }
	else { Set-VM -VM $Vm -Notes ($notes + [Environment]::NewLine + $Line) }
}

function Test-RdFile {
	param([string]$Path)
	return (Test-Path -LiteralPath $Path -PathType Leaf)
}

function Remove-RdFile {
	param([string]$Path)
	if (Test-Path -LiteralPath $Path) { Remove-Item -LiteralPath $Path -Force -Recurse }
}

function Get-RdVhd {
	param([string]$Path)
	if (-not (Test-RdFile $Path)) { return $null }
	try { return (Get-VHD -Path $Path) } catch { return $null }
}

function Get-RdFreeBytes {
	param([string]$Path)
	# The volume holding $Path, mount points and cluster shared volumes included: the longest
	# volume name that is a prefix of the path wins.
	$best = $null
	foreach ($volume in @(Get-CimInstance -ClassName Win32_Volume)) {
		$name = [string]$volume.Name
		if ($name -ne '' -and $Path.StartsWith($name, [StringComparison]::OrdinalIgnoreCase)) {
			if ($null -eq $best -or $name.Length -gt ([string]$best.Name).Length) { $best = $volume }
		}
	}
	if ($null -eq $best) { return $null }
	return [int64]$best.FreeSpace
}

function Test-RdBackupInUse {
	param([string]$Path, [string]$ExceptVmId)
	# True while any VM's disk chain (other than $ExceptVmId's) reaches $Path.
	foreach ($vm in @(Get-VM)) {
		if ($vm.Id.ToString() -eq $ExceptVmId) { continue }
		foreach ($drive in @(Get-VMHardDiskDrive -VM $vm)) {
			$current = $drive.Path
			$depth = 0
			while ($current -and $depth -lt 64) {
				if ($current -eq $Path) { return $true }
				$vhd = Get-RdVhd $current
				if ($null -eq $vhd) { break }
				$current = $vhd.ParentPath
				$depth++
			}
		}
	}
	return $false
}

function Set-RdReadOnly {
	param([string]$Path, [bool]$ReadOnly)
	$item = Get-Item -LiteralPath $Path -Force
	if ($item.IsReadOnly -ne $ReadOnly) { $item.IsReadOnly = $ReadOnly }
}

function Get-RdProcessAlive {
	param($State)
	# A copy worker is alive when its pid runs and started when the worker recorded it (pids are reused).
	if ($null -eq $State -or $null -eq $State.pid) { return $false }
	$process = Get-Process -Id ([int]$State.pid) -ErrorAction SilentlyContinue
	if ($null -eq $process) { return $false }
	# Within ten seconds, not to the tick: .NET off Windows derives StartTime from the boot time, which
	# each process computes a little differently — by more than a second on a loaded machine, which
	# made a running worker look lost — and a pid is not reused within seconds.
	try { return ([Math]::Abs($process.StartTime.ToUniversalTime().ToFileTimeUtc() - [int64]$State.startedTicks) -lt 100000000) } catch { return $false }
}

function Get-RdNativePath {
	param([string]$Path)
	# .NET resolves paths against the process, not against PowerShell's drives and location.
	return $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}

function Get-RdChainFiles {
	param([string]$Path)
	# A disk and every parent under it, leaf first (bounded: a loop in a broken chain ends).
	$files = @()
	$current = $Path
	for ($depth = 0; $current -and $depth -lt 64; $depth++) {
		$files += $current
		$vhd = Get-RdVhd $current
		if ($null -eq $vhd) { break }
		$current = [string]$vhd.ParentPath
	}
	return $files
}

function New-RdFolder {
	param([string]$Path)
	if (-not (Test-Path -LiteralPath $Path -PathType Container)) { $null = [IO.Directory]::CreateDirectory((Get-RdNativePath $Path)) }
}

function Copy-RdFolderFiles {
	param([string]$From, [string]$To)
	# Reads the source only; the copies lose the read-only mark a backup's files carry.
	New-RdFolder $To
	foreach ($file in @(Get-ChildItem -LiteralPath $From -File -Force)) {
		$target = Join-Path -Path $To -ChildPath $file.Name
		[IO.File]::Copy($file.FullName, (Get-RdNativePath $target), $true)
		$copy = Get-Item -LiteralPath $target -Force
		if ($copy.IsReadOnly) { $copy.IsReadOnly = $false }
	}
}

# ---- VM configurations -------------------------------------------------------------------------
# A VM's configuration (.vmcx) and guest state (.vmgs: UEFI variables, vTPM state) exported without
# its disks through Msvm_VirtualSystemManagementService.ExportSystemDefinition: no Hyper-V cmdlet
# exports a configuration alone (Export-VM and Export-VMSnapshot copy the disks too). Its settings
# are an embedded Msvm_VirtualSystemExportSettingData as CIM-XML text, every value a constant: no
# checkpoints (ExportNoSnapshots), no runtime state, no storage, no subfolder, and for a running VM
# its crash-consistent state (no saved-state files).
$RdExportSettings = '<INSTANCE CLASSNAME="Msvm_VirtualSystemExportSettingData">' +
	'<PROPERTY NAME="CopySnapshotConfiguration" TYPE="uint8"><VALUE>1</VALUE></PROPERTY>' +
	'<PROPERTY NAME="CopyVmRuntimeInformation" TYPE="boolean"><VALUE>FALSE</VALUE></PROPERTY>' +
	'<PROPERTY NAME="CopyVmStorage" TYPE="boolean"><VALUE>FALSE</VALUE></PROPERTY>' +
	'<PROPERTY NAME="CreateVmExportSubdirectory" TYPE="boolean"><VALUE>FALSE</VALUE></PROPERTY>' +
	'<PROPERTY NAME="CaptureLiveState" TYPE="uint8"><VALUE>0</VALUE></PROPERTY>' +
	'</INSTANCE>'

function Wait-RdCimJob {
	param($Result, [string]$Code, [string]$What)
	# 0: done; 4096: a job was started (Msvm_ConcreteJob, JobState 7 = Completed, above = failed).
	$returned = [int]$Result.ReturnValue
	if ($returned -eq 0) { return }
	if ($returned -ne 4096) { Stop-Rd $Code ($What + ' returned ' + $returned) }
	$job = $Result.Job
	while ([int]$job.JobState -lt 7) {
		Start-Sleep -Milliseconds 250
		$job = Get-CimInstance -InputObject $job
	}
	if ([int]$job.JobState -ne 7) { Stop-Rd $Code ($What + ' failed: ' + [string]$job.ErrorDescription + ' (job state ' + [string]$job.JobState + ')') }
}

function Export-RdVmConfig {
	param($Vm, [string]$Folder)
	$namespace = 'root\virtualization\v2'
	$vmId = $Vm.Id.ToString()
	$service = @(Get-CimInstance -Namespace $namespace -ClassName 'Msvm_VirtualSystemManagementService') | Select-Object -First 1
	# Matched by Id in PowerShell: no value is spliced into a WQL filter.
	$system = @(Get-CimInstance -Namespace $namespace -ClassName 'Msvm_ComputerSystem' | Where-Object { [string]$_.Name -eq $vmId }) | Select-Object -First 1
	if ($null -eq $service -or $null -eq $system) { Stop-Rd 'EXPORT_FAILED' ('VM ' + $vmId + ' or the management service was not found') }
	New-RdFolder $Folder
	$result = Invoke-CimMethod -InputObject $service -MethodName 'ExportSystemDefinition' -Arguments @{ ComputerSystem = $system; ExportDirectory = (Get-RdNativePath $Folder); ExportSettingData = $RdExportSettings }
	Wait-RdCimJob $result 'EXPORT_FAILED' 'ExportSystemDefinition'
	$file = Join-Path -Path (Join-Path -Path $Folder -ChildPath 'Virtual Machines') -ChildPath ($vmId.ToUpperInvariant() + '.vmcx')
	if (-not (Test-RdFile $file)) { Stop-Rd 'EXPORT_FAILED' ('the export left no configuration file ' + $file) }
	return $file
}

function Write-RdStateFile {
	param([string]$Path, [string]$Text)
	# Written beside, then renamed over the old file: a reader never sees it half-written
	# ([NullString]: a $null argument would reach .NET as an empty string, no backup name). The
	# temporary name is this process's: a copy worker writing the same state must not share it.
	$native = Get-RdNativePath $Path
	$temp = $native + '.' + $PID + '.tmp'
	[IO.File]::WriteAllText($temp, $Text)
	# Move refuses an existing file: one written meanwhile (by a copy worker) is replaced instead.
	if ([IO.File]::Exists($native)) { [IO.File]::Replace($temp, $native, [NullString]::Value) }
	else { try { [IO.File]::Move($temp, $native) } catch { [IO.File]::Replace($temp, $native, [NullString]::Value) } }
}

function Read-RdState {
	param([string]$Path)
	if (-not (Test-RdFile $Path)) { return $null }
	try { return (Get-Content -LiteralPath $Path -Raw -Encoding UTF8 | ConvertFrom-Json) } catch { return $null }
}

# ---- private storage ---------------------------------------------------------------------------
# Guest data is private to the host's administrators and the VM itself: a folder rundirect
# creates for a session gets a protected ACL (nothing inherited from above) granting full control
# only to SYSTEM, Administrators, Hyper-V Administrators and, once the VM exists, the VM's own
# account (NT VIRTUAL MACHINE\<VMId>); every file created in it (placeholders, .partial copies,
# differencing disks, worker state files, the VM's own files) inherits exactly that. A folder
# that was there before (the replaced VM's) keeps its ACL: pre-flight refuses it when it grants
# more. The rules are built as SDDL text, so what is applied can be read and tested anywhere;
# only applying and reading an ACL needs Windows.
$RdPrivateSids = @('S-1-5-18', 'S-1-5-32-544', 'S-1-5-32-578')

function Get-RdPrivateSddl {
	# A folder's DACL. P: protected from the parent's entries. OICI: inherited by subfolders and files. FA: full control.
	$sddl = 'D:PAI'
	foreach ($sid in $RdPrivateSids) { $sddl += '(A;OICI;FA;;;' + $sid + ')' }
	return $sddl
}

function Test-RdPrivateSid {
	param([string]$Sid)
	# The private set, a VM's own account (NT VIRTUAL MACHINE, S-1-5-83-…), and CREATOR OWNER (an
	# inherit-only placeholder: it grants only whoever may create a file there anyway).
	if ($RdPrivateSids -contains $Sid) { return $true }
	return ($Sid.StartsWith('S-1-5-83-', [StringComparison]::Ordinal) -or $Sid -eq 'S-1-3-0')
}

function Get-RdWiderAccess {
	param($Entries)
	# What grants more than the private set, as "<name> (<sid>): <rights>" lines; deny entries only narrow.
	$wider = @()
	foreach ($entry in @($Entries)) {
		if ([string]$entry.type -ne 'Allow') { continue }
		if (Test-RdPrivateSid ([string]$entry.sid)) { continue }
		$wider += ([string]$entry.name + ' (' + [string]$entry.sid + '): ' + [string]$entry.rights)
	}
	return $wider
}

function Test-RdHasAcls {
	# PowerShell 7 off Windows (the Hyper-V model's hosts) has no ACLs; Windows PowerShell 5.1 always does (the automatic variable that says so came in 6.0).
	if ($PSVersionTable.PSEdition -ne 'Core') { return $true }
	return ([Environment]::OSVersion.Platform -eq [PlatformID]::Win32NT)
}

function Get-RdAclEntries {
	param([string]$Path)
	if (-not (Test-RdHasAcls)) { return @() }
	$acl = Get-Acl -LiteralPath $Path
	$entries = @()
	foreach ($rule in @($acl.GetAccessRules($true, $true, [Security.Principal.SecurityIdentifier]))) {
		$sid = $rule.IdentityReference.Value
		$name = $sid
		try { $name = $rule.IdentityReference.Translate([Security.Principal.NTAccount]).Value } catch { $name = $sid }
		$entries += New-Object -TypeName PSObject -Property @{ sid = $sid; name = $name; rights = [string]$rule.FileSystemRights; type = [string]$rule.AccessControlType }
	}
	return $entries
}

function Get-RdVmSid {
	param([string]$VmId)
	$account = New-Object -TypeName Security.Principal.NTAccount -ArgumentList 'NT VIRTUAL MACHINE', $VmId
	return $account.Translate([Security.Principal.SecurityIdentifier]).Value
}

function Get-RdOwnNames {
	param($P)
	# What a session puts in its production folder: its disks, their .partial copies, its work folder.
	$own = @()
	foreach ($disk in @($P.disks)) {
		$leaf = Split-Path -Path $disk.production -Leaf
		$own += @($leaf, ($leaf + '.partial'), (Split-Path -Path (Split-Path -Path $disk.overlay -Parent) -Leaf))
	}
	return $own
}

function Test-RdOwnFolder {
	param([string]$Path, $P)
	# Empty, or holding only this session's entries: the folder is the session's (a crash may have come between creating and protecting it).
	$own = @(Get-RdOwnNames $P)
	$foreign = @(Get-ChildItem -LiteralPath $Path -Force | Where-Object { $own -notcontains $_.Name })
	return ($foreign.Count -eq 0)
}

function Protect-RdFolder {
	param([string]$Path)
	# The private DACL, once: a DACL already protected keeps what was added since (the VM's account).
	if (-not (Test-RdHasAcls)) { return }
	$acl = Get-Acl -LiteralPath $Path
	if ($acl.AreAccessRulesProtected) { return }
	$acl.SetSecurityDescriptorSddlForm((Get-RdPrivateSddl), [Security.AccessControl.AccessControlSections]::Access)
	Set-Acl -LiteralPath $Path -AclObject $acl
}

function Add-RdVmAccess {
	param([string]$Path, [string]$VmId)
	# The VM's own account joins the folder's inherited entries. Hyper-V grants the VM its disks by
	# itself when it attaches them, so a VM account that cannot be resolved is no reason to fail.
	if (-not (Test-RdHasAcls)) { return }
	try { $sid = New-Object -TypeName Security.Principal.SecurityIdentifier -ArgumentList (Get-RdVmSid $VmId) } catch { return }
	$inherit = [Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
	$rule = New-Object -TypeName Security.AccessControl.FileSystemAccessRule -ArgumentList $sid, ([Security.AccessControl.FileSystemRights]::FullControl), $inherit, ([Security.AccessControl.PropagationFlags]::None), ([Security.AccessControl.AccessControlType]::Allow)
	$acl = Get-Acl -LiteralPath $Path
	$acl.AddAccessRule($rule)
	Set-Acl -LiteralPath $Path -AclObject $acl
}
