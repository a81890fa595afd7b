# Status of the session's VM: power state, heartbeat (matched by the service's Id, its name is
# localised), growth of the differencing disks, which storage each disk runs on, the copy jobs.
$vm = Get-RdSessionVm $P
$changed = $null
foreach ($disk in @($P.disks)) {
	if (Test-RdFile $disk.overlay) { $changed = [int64]$changed + [int64](Get-Item -LiteralPath $disk.overlay -Force).Length }
}
if ($null -eq $vm) { return @{ state = 'Missing'; heartbeat = $null; bytesChanged = $changed; runsOn = @() } }
$heartbeat = $null
$service = @(Get-VMIntegrationService -VM $vm | Where-Object { [string]$_.Id -match '84EAAE65-2F2E-45F5-9BB5-0E857DC8EB47' }) | Select-Object -First 1
if ($null -ne $service) {
	$heartbeat = New-Object -TypeName PSObject -Property @{
		enabled = [bool]$service.Enabled
		status = [string]$service.PrimaryOperationalStatus
		ok = ([string]$service.PrimaryOperationalStatus -eq 'Ok')
	}
}
$runsOn = @()
foreach ($disk in @($P.disks)) {
	$drive = Get-VMHardDiskDrive -VM $vm -ControllerType $disk.controller -ControllerNumber ([int]$disk.controllerNumber) -ControllerLocation ([int]$disk.location)
	$where = 'unknown'
	if ($null -ne $drive -and $drive.Path -eq $disk.overlay) { $where = 'backup' }
	if ($null -ne $drive -and $drive.Path -eq $disk.production) { $where = 'production' }
	$runsOn += $where
}
return @{
	vmId = $vm.Id.ToString()
	state = $vm.State.ToString()
	uptimeSeconds = [int64]$vm.Uptime.TotalSeconds
	heartbeat = $heartbeat
	bytesChanged = $changed
	runsOn = $runsOn
}
