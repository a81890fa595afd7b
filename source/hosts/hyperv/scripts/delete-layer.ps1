# Step 7: once every drive runs on production storage, the differencing disks and the work folder
# go, the VM gets ordinary settings back (checkpoints, automatic start) and loses the session tag,
# and each backup loses its read-only mark unless another VM's chain still reaches it.
$vm = Get-RdSessionVm $P
if ($null -eq $vm) { Stop-Rd 'VM_NOT_FOUND' $P.vmName }
foreach ($disk in @($P.disks)) {
	$drive = Get-VMHardDiskDrive -VM $vm -ControllerType $disk.controller -ControllerNumber ([int]$disk.controllerNumber) -ControllerLocation ([int]$disk.location)
	if ($null -eq $drive -or $drive.Path -ne $disk.production) { Stop-Rd 'NOT_APPLIED' $disk.overlay }
}
foreach ($disk in @($P.disks)) { Remove-RdFile $disk.overlay }
Remove-RdFile $P.workDir
Set-VM -VM $vm -CheckpointType Production -AutomaticStartAction StartIfRunning
if (Get-RdTaggedSession $vm) { Remove-RdNoteLine $vm $RdTagSession }
$unprotected = @()
foreach ($disk in @($P.disks)) {
	if ((Test-RdFile $disk.backup) -and -not (Test-RdBackupInUse $disk.backup $vm.Id.ToString())) {
		Set-RdReadOnly $disk.backup $false
		$unprotected += $disk.backup
	}
}
return @{ unprotected = $unprotected }
