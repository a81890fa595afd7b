# Everything that forbids starting, found without changing anything. Each problem has a code
# the console turns into a message with what to do.
$problems = New-Object -TypeName System.Collections.ArrayList
function Add-Problem {
	param([string]$Code, [string]$Message, [string]$Subject)
	# Dynamic scoping: the list is the body's, mutated in place.
	[void]$problems.Add((New-Object -TypeName PSObject -Property @{ code = $Code; message = $Message; subject = $Subject }))
}
$required = [int64]0
# Over PowerShell remoting the session has no credentials it can pass on to a file server (the
# "second hop"), and neither has the copy worker it starts: a backup on a share needs delegation.
$remoteSession = $null -ne $PSSenderInfo
foreach ($disk in @($P.disks)) {
	if (-not (Test-RdFile $disk.backup)) {
		if ($remoteSession -and ([string]$disk.backup).StartsWith('\\')) { Add-Problem 'DOUBLE_HOP' 'backup disk on a share, not reachable from the remote session' $disk.backup }
		else { Add-Problem 'PATH_MISSING' 'backup disk not reachable from the host' $disk.backup }
		continue
	}
	$required += [int64](Get-Item -LiteralPath $disk.backup -Force).Length
	try {
		$vhd = Get-VHD -Path $disk.backup
		if ($vhd.VhdFormat.ToString() -ne 'VHDX') { Add-Problem 'NOT_VHDX' ('backup disk is ' + $vhd.VhdFormat.ToString()) $disk.backup }
		if ($vhd.VhdType.ToString() -eq 'Differencing') { Add-Problem 'BACKUP_IS_DIFFERENCING' 'backup disk is itself a differencing disk' $disk.backup }
		if ([int64]$vhd.Size -ne [int64]$disk.virtualSize) { Add-Problem 'SIZE_MISMATCH' ('virtual size ' + $vhd.Size + ' differs from the restore point') $disk.backup }
	} catch {
		if ($_.Exception.Message -match 'log') { Add-Problem 'PENDING_LOG' $_.Exception.Message $disk.backup }
		else { Add-Problem 'BACKUP_UNREADABLE' $_.Exception.Message $disk.backup }
	}
	if (Test-RdFile $disk.production) { Add-Problem 'PRODUCTION_EXISTS' 'production file already exists' $disk.production }
	if (Test-RdFile $disk.overlay) { Add-Problem 'PRODUCTION_EXISTS' 'differencing disk already exists' $disk.overlay }
	if ($P.generation -eq 2 -and $disk.controller -eq 'ide') { Add-Problem 'IDE_ON_GEN2' 'generation 2 VMs have no IDE controller' $disk.backup }
}
$named = @(Get-RdVmsNamed $P.vmName)
foreach ($vm in $named) {
	$taggedBy = Get-RdTaggedSession $vm
	if ($taggedBy -and $taggedBy -cne $P.sessionId) { Add-Problem 'VM_IN_SESSION' $taggedBy $P.vmName }
	elseif ($null -eq $taggedBy -and $null -eq (Get-RdAsideSession $vm) -and $P.replaces -cne $P.vmName) { Add-Problem 'NAME_TAKEN' $vm.Id.ToString() $P.vmName }
}
if ($named.Count -gt 1) { Add-Problem 'AMBIGUOUS_VM' ([string]$named.Count) $P.vmName }
if ($P.keepId) {
	# Kept by a restore under the VM's own name: Hyper-V has one VM per Id, so a VM holding it must be the one replaced.
	if (-not (Test-RdFile $P.configFile)) { Add-Problem 'PATH_MISSING' 'the restore point keeps the VM configuration here' $P.configFile }
	$holder = Get-VM -Id $P.keepId -ErrorAction SilentlyContinue
	if ($null -ne $holder) {
		$ours = (Get-RdTaggedSession $holder) -ceq $P.sessionId -or (Get-RdAsideSession $holder) -ceq $P.sessionId
		$replaced = $holder.Name -ceq $P.replaces -and $null -eq (Get-RdTaggedSession $holder) -and $null -eq (Get-RdAsideSession $holder)
		if (-not $ours -and -not $replaced) { Add-Problem 'ID_TAKEN' ([string]$holder.Name) $P.keepId }
	}
}
if (@(Get-RdVmsNamed $P.asideName).Count -gt 0) { Add-Problem 'NAME_TAKEN' 'the set-aside name is taken' $P.asideName }
$switches = @(Get-VMSwitch | ForEach-Object { $_.Name })
foreach ($nic in @($P.nics)) {
	if ($switches -cnotcontains $nic.switch) { Add-Problem 'SWITCH_NOT_FOUND' ($switches -join ', ') $nic.switch }
}
if ($P.isolatedSwitch) {
	# A recovery drill: its switch must not be bridged to a physical network.
	$isolated = @(Get-VMSwitch | Where-Object { $_.Name -ceq $P.isolatedSwitch }) | Select-Object -First 1
	if ($null -ne $isolated -and $isolated.SwitchType.ToString() -eq 'External') { Add-Problem 'SWITCH_NOT_ISOLATED' 'External' $P.isolatedSwitch }
}
# A production folder already there is kept as it is: it must not let anyone else read what the session puts in it.
if ((Test-Path -LiteralPath $P.productionDir -PathType Container) -and -not (Test-RdOwnFolder $P.productionDir $P)) {
	$wider = @(Get-RdWiderAccess (Get-RdAclEntries $P.productionDir))
	if ($wider.Count -gt 0) { Add-Problem 'PRODUCTION_ACL_WIDE' ($wider -join '; ') $P.productionDir }
}
$parent = Split-Path -Path $P.productionDir -Parent
if (-not (Test-Path -LiteralPath $parent -PathType Container)) { Add-Problem 'PATH_MISSING' 'storage folder does not exist on the host' $parent }
$free = Get-RdFreeBytes $P.productionDir
$needed = $required + [int64]$P.marginBytes
if ($null -ne $free -and $free -lt $needed) { Add-Problem 'NO_SPACE' ([string]$free + ' bytes free, ' + [string]$needed + ' needed') $P.productionDir }
return @{ problems = @($problems.ToArray()); requiredBytes = $needed; freeBytes = $free }
