# Step 1 with --delete-replaced, or the purge after finalize: the replaced VM goes with its disks.
# Never a file of a restore point, never a file another VM uses; a VM with checkpoints keeps its
# files (Remove-VM merges checkpoints in the background, deleting them would race that merge).
if ($P.mode -eq 'aside') { $vm = Get-RdAsideVm $P.sessionId }
else {
	$candidates = @(Get-RdVmsNamed $P.name | Where-Object { $null -eq (Get-RdTaggedSession $_) -and $null -eq (Get-RdAsideSession $_) })
	if ($candidates.Count -gt 1) { Stop-Rd 'AMBIGUOUS_VM' ([string]$candidates.Count + ' VMs are named ' + $P.name) }
	$vm = $null
	if ($candidates.Count -eq 1) { $vm = $candidates[0] }
}
if ($null -eq $vm) { return @{ removed = $false; files = @(); kept = @() } }
$files = New-Object -TypeName System.Collections.ArrayList
foreach ($drive in @(Get-VMHardDiskDrive -VM $vm)) {
	$current = [string]$drive.Path
	$depth = 0
	while ($current -and $depth -lt 64) {
		[void]$files.Add($current)
		$vhd = Get-RdVhd $current
		if ($null -eq $vhd) { break }
		$current = [string]$vhd.ParentPath
		$depth++
	}
}
$hasCheckpoints = @(Get-VMSnapshot -VM $vm).Count -gt 0
# Every file of every other VM's chains, parents included: a parent shared with another VM (a
# golden image, linked clones) must outlive this VM.
$others = @()
foreach ($other in @(Get-VM | Where-Object { $_.Id -ne $vm.Id })) {
	foreach ($otherDrive in @(Get-VMHardDiskDrive -VM $other)) {
		$current = [string]$otherDrive.Path
		$depth = 0
		while ($current -and $depth -lt 64) {
			$others += $current
			$vhd = Get-RdVhd $current
			if ($null -eq $vhd) { break }
			$current = [string]$vhd.ParentPath
			$depth++
		}
	}
}
if ($vm.State.ToString() -ne 'Off') { Stop-VM -VM $vm -TurnOff -Force }
Remove-VM -VM $vm -Force
$deleted = @()
$kept = @()
foreach ($file in $files) {
	if ($hasCheckpoints -or @($P.protect) -contains $file -or $others -contains $file) { $kept += $file; continue }
	Remove-RdFile $file
	$deleted += $file
}
return @{ removed = $true; files = $deleted; kept = $kept }
