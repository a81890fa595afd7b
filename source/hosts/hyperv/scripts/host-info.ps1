# What the console shows about the host, and the default storage paths a plan starts from.
$vmHost = Get-VMHost
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$free = Get-RdFreeBytes ([string]$vmHost.VirtualHardDiskPath)
$switches = @(Get-VMSwitch | ForEach-Object { $_.Name })
return @{
	computerName = $env:COMPUTERNAME
	os = [string]$os.Caption
	osVersion = [string]$os.Version
	psVersion = $PSVersionTable.PSVersion.ToString()
	virtualHardDiskPath = [string]$vmHost.VirtualHardDiskPath
	virtualMachinePath = [string]$vmHost.VirtualMachinePath
	freeBytes = $free
	switches = $switches
	user = [Environment]::UserDomainName + '\' + [Environment]::UserName
}
