# Step 7: once every drive runs on production storage, the differencing disks and the work folder
# go, the VM gets its own settings back (checkpoint type, automatic start action) and loses the session tag,
# and each backup loses its read-only mark unless another VM's chain still reaches it.
$vm = Get-RdSessionVm $P
if ($null -eq $vm) { Stop-Rd 'VM_NOT_FOUND' $P.vmName }
foreach ($disk in @($P.disks)) {
	$drive = Get-VMHardDiskDrive -VM $vm -ControllerType $disk.controller -ControllerNumber ([int]$disk.controllerNumber) -ControllerLocation ([int]$disk.location)
	if ($null -eq $drive -or $drive.Path -ne $disk.production) { Stop-Rd 'NOT_APPLIED' $disk.overlay }
}
# What the VM had before step 4 overrode it (recorded then); ordinary values when the record is gone.
$settings = Read-RdState (Join-Path -Path $P.workDir -ChildPath 'vm-settings.json')
$checkpointType = 'Production'
$startAction = 'StartIfRunning'
if ($null -ne $settings -and $settings.checkpointType) { $checkpointType = [string]$settings.checkpointType }
if ($null -ne $settings -and $settings.automaticStartAction) { $startAction = [string]$settings.automaticStartAction }
Set-VM -VM $vm -CheckpointType $checkpointType -AutomaticStartAction $startAction
# Removed after the settings are back, so a rerun still finds them.
foreach ($disk in @($P.disks)) { Remove-RdFile $disk.overlay }
Remove-RdFile $P.workDir
if (Get-RdTaggedSession $vm) { Remove-RdNoteLine $vm $RdTagSession }
$unprotected = @()
foreach ($disk in @($P.disks)) {
	if ((Test-RdFile $disk.backup) -and -not (Test-RdBackupInUse $disk.backup $vm.Id.ToString())) {
		Set-RdReadOnly $disk.backup $false
		$unprotected += $disk.backup
	}
}
return @{ unprotected = $unprotected }
