# Stop: the session's VM is turned off and removed, the copy workers are ended, and every file the
# session created goes (differencing disks, production copies and placeholders, partial copies,
# the work folder). Files are session-named, so nothing else can match.
$vm = Get-RdSessionVm $P
$vmId = ''
if ($null -ne $vm) {
	$vmId = $vm.Id.ToString()
	if ($vm.State.ToString() -ne 'Off') { Stop-VM -VM $vm -TurnOff -Force }
	Remove-VM -VM $vm -Force
}
foreach ($job in @($P.jobs)) {
	$state = Read-RdState $job.stateFile
	if ($null -ne $state -and (Get-RdProcessAlive $state)) {
		# Stop-Process does not wait: the worker must be gone before its .partial file can be deleted.
		$worker = Get-Process -Id ([int]$state.pid) -ErrorAction SilentlyContinue
		Stop-Process -Id ([int]$state.pid) -Force
		if ($null -ne $worker -and -not $worker.WaitForExit(60000)) { Stop-Rd 'COPY_STILL_RUNNING' ('copy worker ' + $state.pid + ' did not end') }
	}
}
foreach ($disk in @($P.disks)) {
	Remove-RdFile $disk.overlay
	Remove-RdFile $disk.production
	Remove-RdFile ($disk.production + '.partial')
}
Remove-RdFile $P.workDir
# Only folders left empty: anything else in them is not the session's.
foreach ($folder in @((Join-Path -Path $P.productionDir -ChildPath 'Virtual Machines'), $P.productionDir)) {
	if ((Test-Path -LiteralPath $folder -PathType Container) -and @(Get-ChildItem -LiteralPath $folder -Force).Count -eq 0) { Remove-Item -LiteralPath $folder -Force }
}
$unprotected = @()
foreach ($disk in @($P.disks)) {
	if ((Test-RdFile $disk.backup) -and -not (Test-RdBackupInUse $disk.backup $vmId)) {
		Set-RdReadOnly $disk.backup $false
		$unprotected += $disk.backup
	}
}
return @{ removedVm = ($null -ne $vm); unprotected = $unprotected }
