# Step 4: the VM from the restore point's settings, on the differencing disks, tagged with the
# session, checkpoints disabled (a checkpoint's chain would reach the backup), then started.
# Each setting is checked before it is made, so a rerun after any crash completes the VM.
# Under its own name, from a restore point that keeps the VM's configuration, the VM is that
# configuration imported (Compare-VM, then Import-VM of the report): Import-VM registers it with
# the Id it had ("By default, Import-VM gives the virtual machine being imported the same unique
# identifier that it had when it was exported", Import-VM.md -GenerateNewId), its adapters (MACs,
# instance ids), firmware and guest state (UEFI variables, vTPM) as they were. The configuration
# is copied into the production folder first, so Hyper-V registers the copy, never the backup.
$vm = Get-RdSessionVm $P
if ($null -eq $vm) {
	$named = @(Get-RdVmsNamed $P.vmName)
	foreach ($candidate in $named) {
		# A VM this script created but could not tag before a crash: same name, our folder, no disks.
		$ownFolder = ([string]$candidate.Path).TrimEnd('\') -eq ([string]$P.productionDir).TrimEnd('\')
		if ($null -eq (Get-RdTaggedSession $candidate) -and $null -eq (Get-RdAsideSession $candidate) -and $ownFolder -and @(Get-VMHardDiskDrive -VM $candidate).Count -eq 0) { $vm = $candidate }
		elseif ($null -eq (Get-RdAsideSession $candidate)) { Stop-Rd 'NAME_TAKEN' ($candidate.Id.ToString()) }
	}
	if ($null -eq $vm -and $P.identity) {
		$configDir = Join-Path -Path $P.productionDir -ChildPath 'Virtual Machines'
		Copy-RdFolderFiles (Split-Path -Path $P.identity.configFile -Parent) $configDir
		$report = Compare-VM -Path (Join-Path -Path $configDir -ChildPath (Split-Path -Path $P.identity.configFile -Leaf)) -Register
		# The report's VM is changed before the import (Import-VM.md, example 3): its drives on the snapshot layer, its adapters on the plan's switches.
		$planned = $report.VM
		foreach ($drive in @(Get-VMHardDiskDrive -VM $planned)) {
			$disk = @($P.disks | Where-Object { $_.controller -eq $drive.ControllerType.ToString() -and [int]$_.controllerNumber -eq [int]$drive.ControllerNumber -and [int]$_.location -eq [int]$drive.ControllerLocation }) | Select-Object -First 1
			if ($null -eq $disk) { Remove-VMHardDiskDrive -VMHardDiskDrive $drive }
			else { Set-VMHardDiskDrive -VMHardDiskDrive $drive -Path $disk.overlay }
		}
		$adapters = @(Get-VMNetworkAdapter -VM $planned)
		for ($index = 0; $index -lt $adapters.Count; $index++) {
			$nic = @($P.nics)[$index]
			if ($null -eq $nic -or $null -eq $nic.switch) { Disconnect-VMNetworkAdapter -VMNetworkAdapter $adapters[$index] }
			else { Connect-VMNetworkAdapter -VMNetworkAdapter $adapters[$index] -SwitchName $nic.switch }
		}
		$vm = Import-VM -CompatibilityReport $report
	}
	if ($null -eq $vm) {
		$vm = New-VM -Name $P.vmName -Generation ([int16]$P.generation) -NoVHD -Path $P.configPath -MemoryStartupBytes ([int64]$P.memoryBytes)
	}
	Add-RdNoteLine $vm ($RdTagSession + $P.sessionId)
	$vm = Get-VM -Id $vm.Id
}
Add-RdVmAccess $P.productionDir $vm.Id.ToString()
$state = $vm.State.ToString()
if ($state -eq 'Off') {
	# The VM's own checkpoint type and automatic start action, kept before they are overridden: step 7 puts them back.
	$settingsFile = Join-Path -Path $P.workDir -ChildPath 'vm-settings.json'
	if (-not (Test-RdFile $settingsFile)) {
		Write-RdStateFile $settingsFile (ConvertTo-Json -InputObject @{ checkpointType = $vm.CheckpointType.ToString(); automaticStartAction = $vm.AutomaticStartAction.ToString() } -Compress)
	}
	Set-VM -VM $vm -ProcessorCount ([int64]$P.cpus) -StaticMemory -MemoryStartupBytes ([int64]$P.memoryBytes) -CheckpointType Disabled -AutomaticStartAction Nothing
	$scsiNeeded = -1
	foreach ($disk in @($P.disks)) { if ($disk.controller -eq 'SCSI' -and [int]$disk.controllerNumber -gt $scsiNeeded) { $scsiNeeded = [int]$disk.controllerNumber } }
	while (@(Get-VMScsiController -VM $vm).Count -le $scsiNeeded) { Add-VMScsiController -VM $vm }
	foreach ($disk in @($P.disks)) {
		if ($disk.controller -eq 'IDE') {
			# New-VM of generation 1 adds a DVD drive at IDE 1:0, where a restore point may have a disk: the disk wins.
			foreach ($dvd in @(Get-VMDvdDrive -VM $vm -ControllerNumber ([int]$disk.controllerNumber) -ControllerLocation ([int]$disk.location))) { Remove-VMDvdDrive -VMDvdDrive $dvd }
		}
		$drive = Get-VMHardDiskDrive -VM $vm -ControllerType $disk.controller -ControllerNumber ([int]$disk.controllerNumber) -ControllerLocation ([int]$disk.location)
		if ($null -ne $drive) {
			if ($drive.Path -ne $disk.overlay -and $drive.Path -ne $disk.production) { Stop-Rd 'SLOT_TAKEN' ($disk.controller + ' ' + $disk.controllerNumber + ':' + $disk.location + ' holds ' + $drive.Path) }
			continue
		}
		Add-VMHardDiskDrive -VM $vm -ControllerType $disk.controller -ControllerNumber ([int]$disk.controllerNumber) -ControllerLocation ([int]$disk.location) -Path $disk.overlay
	}
	$adapters = @(Get-VMNetworkAdapter -VM $vm)
	$wanted = @($P.nics)
	# An imported VM keeps its own adapters (their instance ids and MACs are its identity): only their VLANs follow the plan.
	if ($P.identity) {
		for ($index = 0; $index -lt [Math]::Min($adapters.Count, $wanted.Count); $index++) {
			$nic = $wanted[$index]
			if ($null -eq $nic.vlan) { continue }
			$vlan = Get-VMNetworkAdapterVlan -VMNetworkAdapter $adapters[$index]
			if ($vlan.OperationMode.ToString() -ne 'Access' -or [int]$vlan.AccessVlanId -ne [int]$nic.vlan) { Set-VMNetworkAdapterVlan -VMNetworkAdapter $adapters[$index] -Access -VlanId ([int]$nic.vlan) }
		}
		$adapters = @()
		$wanted = @()
	}
	foreach ($adapter in $adapters) {
		$match = $wanted | Where-Object { $_.name -ceq $adapter.Name } | Select-Object -First 1
		# [string]: a drill's disconnected adapter has no switch ($null or empty, either way '').
		$keep = $null -ne $match -and [string]$adapter.SwitchName -ceq [string]$match.switch -and ($null -eq $match.mac -or $adapter.MacAddress -eq $match.mac)
		if (-not $keep) { Remove-VMNetworkAdapter -VMNetworkAdapter $adapter }
	}
	foreach ($nic in $wanted) {
		$adapter = @(Get-VMNetworkAdapter -VM $vm | Where-Object { $_.Name -ceq $nic.name }) | Select-Object -First 1
		if ($null -eq $adapter) {
			if ($null -eq $nic.switch) {
				# A recovery drill: the adapter exists (the guest sees its NIC) but is connected to nothing.
				if ($null -ne $nic.mac) { Add-VMNetworkAdapter -VM $vm -Name $nic.name -StaticMacAddress $nic.mac }
				else { Add-VMNetworkAdapter -VM $vm -Name $nic.name -DynamicMacAddress }
			}
			elseif ($null -ne $nic.mac) { Add-VMNetworkAdapter -VM $vm -Name $nic.name -SwitchName $nic.switch -StaticMacAddress $nic.mac }
			else { Add-VMNetworkAdapter -VM $vm -Name $nic.name -SwitchName $nic.switch -DynamicMacAddress }
			$adapter = @(Get-VMNetworkAdapter -VM $vm | Where-Object { $_.Name -ceq $nic.name }) | Select-Object -First 1
		}
		if ($null -ne $nic.vlan) {
			$vlan = Get-VMNetworkAdapterVlan -VMNetworkAdapter $adapter
			if ($vlan.OperationMode.ToString() -ne 'Access' -or [int]$vlan.AccessVlanId -ne [int]$nic.vlan) { Set-VMNetworkAdapterVlan -VMNetworkAdapter $adapter -Access -VlanId ([int]$nic.vlan) }
		}
	}
	if ([int]$P.generation -eq 2) {
		$boot = $P.disks[0]
		$bootDrive = Get-VMHardDiskDrive -VM $vm -ControllerType $boot.controller -ControllerNumber ([int]$boot.controllerNumber) -ControllerLocation ([int]$boot.location)
		if ($P.secureBoot) {
			if ($P.secureBootTemplate) { Set-VMFirmware -VM $vm -EnableSecureBoot On -SecureBootTemplate $P.secureBootTemplate -FirstBootDevice $bootDrive }
			else { Set-VMFirmware -VM $vm -EnableSecureBoot On -FirstBootDevice $bootDrive }
		} else {
			Set-VMFirmware -VM $vm -EnableSecureBoot Off -FirstBootDevice $bootDrive
		}
	}
	Start-VM -VM $vm
} elseif ($state -eq 'Saved') {
	Start-VM -VM $vm
}
$vm = Get-VM -Id $vm.Id
return @{ vmId = $vm.Id.ToString(); state = $vm.State.ToString() }
