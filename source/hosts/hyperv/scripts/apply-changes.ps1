# Step 6: every disk's differencing layer is re-parented onto its production copy while the VM
# runs (from then on the VM no longer reads the backup), then in one offline window the layer is
# merged into the copy and the drive switched to it. The window is measured here, on the host.
$vm = Get-RdSessionVm $P
if ($null -eq $vm) { Stop-Rd 'VM_NOT_FOUND' $P.vmName }
$pending = @()
foreach ($disk in @($P.disks)) {
	$drive = Get-VMHardDiskDrive -VM $vm -ControllerType $disk.controller -ControllerNumber ([int]$disk.controllerNumber) -ControllerLocation ([int]$disk.location)
	if ($null -eq $drive) { Stop-Rd 'VM_NOT_FOUND' ($disk.controller + ' ' + $disk.controllerNumber + ':' + $disk.location) }
	if ($drive.Path -eq $disk.production) { continue }
	if ($drive.Path -ne $disk.overlay) { Stop-Rd 'SLOT_TAKEN' ($drive.Path) }
	$pending += $disk
}
if ($pending.Count -eq 0) { return @{ pauseMs = 0; merged = 0; mode = $P.offlineMode } }
$marker = Join-Path -Path $P.workDir -ChildPath 'offline-window.json'
$entryState = $vm.State.ToString()
$online = ($entryState -eq 'Running' -or $entryState -eq 'Paused')
foreach ($disk in $pending) {
	$mergedMarker = Join-Path -Path $P.workDir -ChildPath ('disk' + $disk.index + '.merged')
	if (Test-RdFile $mergedMarker) { continue }
	$overlay = Get-RdVhd $disk.overlay
	if ($null -eq $overlay) { continue }
	$copy = Get-RdVhd $disk.production
	$backup = Get-RdVhd $disk.backup
	if ($null -eq $copy -or $null -eq $backup -or $copy.DiskIdentifier -ne $backup.DiskIdentifier) { Stop-Rd 'NOT_COPIED' $disk.production }
	if ($overlay.ParentPath -ne $disk.production) {
		if ($online) { Set-VHD -Path $disk.overlay -ParentPath $disk.production -LeafPath $disk.overlay }
		else { Set-VHD -Path $disk.overlay -ParentPath $disk.production }
	}
}
# The window: from taking the VM offline to having it started on production storage.
$clock = [Diagnostics.Stopwatch]::StartNew()
$restart = $online -or $entryState -eq 'Saved'
if (Test-RdFile $marker) {
	$previous = Read-RdState $marker
	if ($null -ne $previous -and $previous.restart) { $restart = $true }
} else {
	Write-RdStateFile $marker (ConvertTo-Json -InputObject @{ restart = $restart; entryState = $entryState } -Compress)
}
if ($online) {
	if ($P.offlineMode -eq 'save') { Stop-VM -VM $vm -Save -Force }
	else { Stop-VM -VM $vm -Force }
}
$vm = Get-VM -Id $vm.Id
if ($vm.State.ToString() -ne 'Off' -and $vm.State.ToString() -ne 'Saved') { Stop-Rd 'SHUTDOWN_FAILED' $vm.State.ToString() }
$merged = 0
foreach ($disk in $pending) {
	$mergedMarker = Join-Path -Path $P.workDir -ChildPath ('disk' + $disk.index + '.merged')
	$startedMarker = $mergedMarker + '.started'
	if (-not (Test-RdFile $mergedMarker)) {
		$overlay = Get-RdVhd $disk.overlay
		# Merge-VHD leaves the merged child in place but invalid: a started merge whose child no longer opens is done.
		if ($null -eq $overlay -and (Test-RdFile $startedMarker)) {
			Write-RdStateFile $mergedMarker 'merged'
		} else {
			if ($null -eq $overlay) { Stop-Rd 'LAYER_DAMAGED' $disk.overlay }
			Write-RdStateFile $startedMarker 'started'
			Merge-VHD -Path $disk.overlay -DestinationPath $disk.production -Force
			Write-RdStateFile $mergedMarker 'merged'
			$merged++
		}
	}
	$drive = Get-VMHardDiskDrive -VM $vm -ControllerType $disk.controller -ControllerNumber ([int]$disk.controllerNumber) -ControllerLocation ([int]$disk.location)
	if ($drive.Path -ne $disk.production) { Set-VMHardDiskDrive -VMHardDiskDrive $drive -Path $disk.production }
}
if ($restart) {
	$vm = Get-VM -Id $vm.Id
	if ($vm.State.ToString() -eq 'Off' -or $vm.State.ToString() -eq 'Saved') { Start-VM -VM $vm }
}
$clock.Stop()
Remove-RdFile $marker
return @{ pauseMs = $clock.Elapsed.TotalMilliseconds; merged = $merged; mode = $P.offlineMode; restarted = $restart }
