# Step 6, all in one offline window: the guest is shut down (never turned off), each disk's
# differencing layer is re-parented onto its production copy (a metadata write; Set-VHD.md: offline
# needs no -LeafPath), merged into it, and the drive switched to it, which is when Hyper-V grants
# the VM's account access to the copy; then the VM starts again. Nothing is done to a running
# chain. The window is measured here, on the host.
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
if ($pending.Count -eq 0) { return @{ pauseMs = 0; merged = 0; mode = 'shutdown' } }
foreach ($disk in $pending) {
	if (Test-RdFile (Join-Path -Path $P.workDir -ChildPath ('disk' + $disk.index + '.merged'))) { continue }
	if ($null -eq (Get-RdVhd $disk.overlay)) { continue }
	$copy = Get-RdVhd $disk.production
	$backup = Get-RdVhd $disk.backup
	if ($null -eq $copy -or $null -eq $backup -or $copy.DiskIdentifier -ne $backup.DiskIdentifier) { Stop-Rd 'NOT_COPIED' $disk.production }
}
$marker = Join-Path -Path $P.workDir -ChildPath 'offline-window.json'
$entryState = $vm.State.ToString()
$online = @('Running', 'Paused', 'Saved') -contains $entryState
# The window: from taking the VM offline to having it started on production storage.
$clock = [Diagnostics.Stopwatch]::StartNew()
$restart = $online
if (Test-RdFile $marker) {
	# A rerun (after a crash, or after the guest was shut down by hand) restarts what was running.
	$previous = Read-RdState $marker
	if ($null -ne $previous -and $previous.restart) { $restart = $true }
} else {
	Write-RdStateFile $marker (ConvertTo-Json -InputObject @{ restart = $restart; entryState = $entryState } -Compress)
}
if ($online) {
	# A paused or saved VM runs no guest to shut down: it runs again first (and after the window it runs).
	if ($entryState -eq 'Paused') { Resume-VM -VM $vm }
	if ($entryState -eq 'Saved') { Start-VM -VM $vm }
	# The Shutdown integration service (matched by Id, names are localised) must answer: without it
	# the only way offline is turning the VM off, which loses what the guest has not written.
	$service = @(Get-VMIntegrationService -VM $vm | Where-Object { [string]$_.Id -match '9F8233AC-BE49-4C79-8EE3-E7E1985B2077' }) | Select-Object -First 1
	if ($null -eq $service -or -not $service.Enabled -or [string]$service.PrimaryOperationalStatus -ne 'Ok') {
		$status = 'not offered'
		if ($null -ne $service -and -not $service.Enabled) { $status = 'disabled' } elseif ($null -ne $service) { $status = [string]$service.PrimaryStatusDescription }
		Stop-Rd 'SHUTDOWN_UNAVAILABLE' ($P.vmName + [char]9 + $status)
	}
	# Stop-VM.md, -Force: "If the virtual machine has applications with unsaved data, the virtual
	# machine has five minutes to save data and shut down." A shutdown through the guest, not -TurnOff.
	Stop-VM -VM $vm -Force
}
$vm = Get-VM -Id $vm.Id
if ($vm.State.ToString() -ne 'Off') { Stop-Rd 'SHUTDOWN_FAILED' ($P.vmName + [char]9 + $vm.State.ToString()) }
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
			# Set-VHD.md -LeafPath: "Required when performing the operation in online mode." Offline it is not.
			if ($overlay.ParentPath -ne $disk.production) { Set-VHD -Path $disk.overlay -ParentPath $disk.production }
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
	if ($vm.State.ToString() -eq 'Off') { Start-VM -VM $vm }
}
$clock.Stop()
Remove-RdFile $marker
return @{ pauseMs = $clock.Elapsed.TotalMilliseconds; merged = $merged; mode = 'shutdown'; restarted = $restart; entryState = $entryState }
