# rundirect backup, first half: a checkpoint freezes the VM's disks (the VM keeps running on new
# differencing files), the VM's configuration and guest state are exported beside the backup
# (without disks), and the frozen files plus the VM's settings are reported. A checkpoint of that
# name left by an interrupted backup is reused.
$vms = @(Get-RdVmsNamed $P.vmName)
if ($vms.Count -eq 0) { Stop-Rd 'VM_NOT_FOUND' $P.vmName }
if ($vms.Count -gt 1) { Stop-Rd 'AMBIGUOUS_VM' ([string]$vms.Count + ' VMs are named ' + $P.vmName) }
$vm = $vms[0]
if ($null -ne (Get-RdTaggedSession $vm)) { Stop-Rd 'VM_IN_SESSION' (Get-RdTaggedSession $vm) }
$snapshot = @(Get-VMSnapshot -VM $vm | Where-Object { $_.Name -ceq $P.checkpointName }) | Select-Object -First 1
if ($null -eq $snapshot) {
	$others = @(Get-VMSnapshot -VM $vm)
	if ($others.Count -gt 0) { Stop-Rd 'HAS_CHECKPOINTS' ([string]$others.Count) }
	if ($vm.CheckpointType.ToString() -eq 'Disabled') { Stop-Rd 'CHECKPOINTS_DISABLED' $P.vmName }
	$snapshot = Checkpoint-VM -VM $vm -SnapshotName $P.checkpointName -Passthru
}
$disks = @()
foreach ($drive in @(Get-VMHardDiskDrive -VMSnapshot $snapshot)) {
	$vhd = Get-VHD -Path $drive.Path
	if ($vhd.VhdType.ToString() -eq 'Differencing') { Stop-Rd 'HAS_CHECKPOINTS' $drive.Path }
	$disks += New-Object -TypeName PSObject -Property @{
		path = [string]$drive.Path
		controller = $drive.ControllerType.ToString()
		controllerNumber = [int]$drive.ControllerNumber
		location = [int]$drive.ControllerLocation
		format = $vhd.VhdFormat.ToString()
		size = [int64]$vhd.Size
	}
}
# What makes the VM itself (its Id, adapters, UEFI variables, vTPM): a restore to its own name imports it.
# A rerun after an interrupted backup exports again, over what the first attempt left.
Remove-RdFile $P.configDir
$configFile = Export-RdVmConfig $vm $P.configDir
$secureBoot = $false
$template = $null
if ([int]$vm.Generation -eq 2) {
	$firmware = Get-VMFirmware -VM $vm
	$secureBoot = ($firmware.SecureBoot.ToString() -eq 'On')
	$template = [string]$firmware.SecureBootTemplate
}
$nics = @()
foreach ($adapter in @(Get-VMNetworkAdapter -VM $vm)) {
	$vlan = Get-VMNetworkAdapterVlan -VMNetworkAdapter $adapter
	$vlanId = $null
	if ($vlan.OperationMode.ToString() -eq 'Access') { $vlanId = [int]$vlan.AccessVlanId }
	$mac = $null
	if (-not $adapter.DynamicMacAddressEnabled) { $mac = [string]$adapter.MacAddress }
	$nics += New-Object -TypeName PSObject -Property @{ switch = [string]$adapter.SwitchName; mac = $mac; vlan = $vlanId }
}
return @{
	name = $vm.Name
	id = $vm.Id.ToString()
	generation = [int]$vm.Generation
	cpus = [int]$vm.ProcessorCount
	memoryBytes = [int64]$vm.MemoryStartup
	secureBoot = $secureBoot
	secureBootTemplate = $template
	nics = $nics
	disks = $disks
	takenAt = $snapshot.CreationTime.ToUniversalTime().ToString('o')
	configFile = Split-Path -Path $configFile -Leaf
}
