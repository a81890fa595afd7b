# Reads what a plan depends on: default storage, the VM a restore would replace, MAC addresses in use.
$vmHost = Get-VMHost
$existing = @(Get-RdVmsNamed $P.vmName | Where-Object { $null -eq (Get-RdAsideSession $_) })
$replaces = $null
$replacesSession = $null
if ($existing.Count -gt 0) {
	$replaces = $existing[0].Name
	$replacesSession = Get-RdTaggedSession $existing[0]
}
$macs = @()
foreach ($adapter in @(Get-VMNetworkAdapter -All)) {
	if ($adapter.MacAddress -and $adapter.VMName) {
		$macs += New-Object -TypeName PSObject -Property @{ mac = [string]$adapter.MacAddress; vm = [string]$adapter.VMName }
	}
}
return @{
	virtualHardDiskPath = [string]$vmHost.VirtualHardDiskPath
	replaces = $replaces
	replacesSession = $replacesSession
	macsInUse = $macs
}
