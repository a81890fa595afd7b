# Step 1: the VM being replaced is tagged (with its power state), turned off and renamed.
# The tag is written first, so a rerun finds the VM whatever its name and power state by then.
# When the restored VM takes this VM's Id (a restore under its own name from a restore point that
# keeps the configuration), renaming is not enough: Hyper-V has one VM per Id. The VM then leaves
# Hyper-V instead: its configuration is exported (tag included) into the set-aside folder with a
# record of its disks, and Remove-VM unregisters it, keeping every disk where it is. Stop imports it
# back; finalize deletes it.
$tag = $RdTagAside + $P.sessionId
$record = Join-Path -Path $P.asideDir -ChildPath 'set-aside.json'
$vm = Get-RdAsideVm $P.sessionId
if ($null -eq $vm) {
	$kept = Read-RdState $record
	if ($null -ne $kept) { return @{ found = $true; vmId = [string]$kept.vmId; was = [string]$kept.was; asideName = $P.asideName; removed = $true } }
	$candidates = @(Get-RdVmsNamed $P.name | Where-Object { $null -eq (Get-RdTaggedSession $_) -and $null -eq (Get-RdAsideSession $_) })
	if ($candidates.Count -eq 0) { return @{ found = $false } }
	if ($candidates.Count -gt 1) { Stop-Rd 'AMBIGUOUS_VM' ([string]$candidates.Count + ' VMs are named ' + $P.name) }
	$vm = $candidates[0]
	Add-RdNoteLine $vm ($tag + ' was=' + $vm.State.ToString())
	$vm = Get-VM -Id $vm.Id
}
$was = 'Off'
foreach ($line in (Get-RdNoteLines $vm)) {
	if ($line.StartsWith($tag + ' was=', [StringComparison]::Ordinal)) { $was = $line.Substring(($tag + ' was=').Length) }
}
$state = $vm.State.ToString()
if ($state -ne 'Off' -and $state -ne 'Saved') { Stop-VM -VM $vm -TurnOff -Force }
if ($P.keepId -and $vm.Id.ToString() -eq $P.keepId) {
	# What a first attempt left before it could write the record is redone.
	Remove-RdFile $P.asideDir
	$configFile = Export-RdVmConfig $vm (Join-Path -Path $P.asideDir -ChildPath 'config')
	$files = @()
	foreach ($drive in @(Get-VMHardDiskDrive -VM $vm)) { $files += @(Get-RdChainFiles ([string]$drive.Path)) }
	$hasCheckpoints = @(Get-VMSnapshot -VM $vm).Count -gt 0
	Write-RdStateFile $record (ConvertTo-Json -InputObject @{ vmId = $vm.Id.ToString(); name = $vm.Name; was = $was; configLocation = [string]$vm.ConfigurationLocation; configFile = $configFile; files = $files; hasCheckpoints = $hasCheckpoints } -Compress)
	Remove-VM -VM $vm -Force
	return @{ found = $true; vmId = $vm.Id.ToString(); was = $was; asideName = $P.asideName; removed = $true }
}
if ($vm.Name -cne $P.asideName) { Set-VM -VM $vm -NewVMName $P.asideName }
return @{ found = $true; vmId = $vm.Id.ToString(); was = $was; asideName = $P.asideName; removed = $false }
