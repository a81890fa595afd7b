# Step 1 with --delete-replaced, or the purge after finalize: the replaced VM goes with its disks.
# Never a file of a restore point, never a file another VM uses; a VM with checkpoints keeps its
# files (Remove-VM merges checkpoints in the background, deleting them would race that merge).
# A set-aside VM that already left Hyper-V in step 1 (the restored VM took its Id) has only its
# files left, as its record there lists them, and its exported configuration.
$vm = $null
$kept = $null
if ($P.mode -eq 'aside') {
	$vm = Get-RdAsideVm $P.sessionId
	if ($null -eq $vm) { $kept = Read-RdState (Join-Path -Path $P.asideDir -ChildPath 'set-aside.json') }
} else {
	$candidates = @(Get-RdVmsNamed $P.name | Where-Object { $null -eq (Get-RdTaggedSession $_) -and $null -eq (Get-RdAsideSession $_) })
	if ($candidates.Count -gt 1) { Stop-Rd 'AMBIGUOUS_VM' ([string]$candidates.Count + ' VMs are named ' + $P.name) }
	if ($candidates.Count -eq 1) { $vm = $candidates[0] }
}
if ($null -eq $vm -and $null -eq $kept) { return @{ removed = $false; files = @(); kept = @() } }
$files = @()
$hasCheckpoints = $false
$vmId = ''
if ($null -ne $vm) {
	$vmId = $vm.Id.ToString()
	foreach ($drive in @(Get-VMHardDiskDrive -VM $vm)) { $files += @(Get-RdChainFiles ([string]$drive.Path)) }
	$hasCheckpoints = @(Get-VMSnapshot -VM $vm).Count -gt 0
} else {
	$files = @($kept.files | ForEach-Object { [string]$_ })
	$hasCheckpoints = [bool]$kept.hasCheckpoints
}
# Every file of every other VM's chains, parents included: a parent shared with another VM (a
# golden image, linked clones) must outlive this VM. (The restored VM holds the Id of a VM that
# left: its files are others' files too.)
$others = @()
foreach ($other in @(Get-VM | Where-Object { $_.Id.ToString() -ne $vmId })) {
	foreach ($otherDrive in @(Get-VMHardDiskDrive -VM $other)) { $others += @(Get-RdChainFiles ([string]$otherDrive.Path)) }
}
if ($null -ne $vm) {
	if ($vm.State.ToString() -ne 'Off') { Stop-VM -VM $vm -TurnOff -Force }
	Remove-VM -VM $vm -Force
}
$deleted = @()
$left = @()
foreach ($file in $files) {
	if ($hasCheckpoints -or @($P.protect) -contains $file -or $others -contains $file) { $left += $file; continue }
	Remove-RdFile $file
	$deleted += $file
}
if ($P.mode -eq 'aside') { Remove-RdFile $P.asideDir }
return @{ removed = $true; files = $deleted; kept = $left }
