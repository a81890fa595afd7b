# Every VM with the tags rundirect left on it. Projected properties only: raw Hyper-V objects
# serialise as enum numbers and nested objects in Windows PowerShell 5.1.
$result = @()
foreach ($vm in @(Get-VM)) {
	$result += New-Object -TypeName PSObject -Property @{
		name = $vm.Name
		id = $vm.Id.ToString()
		state = $vm.State.ToString()
		session = Get-RdTaggedSession $vm
		asideBy = Get-RdAsideSession $vm
		disks = @(Get-VMHardDiskDrive -VM $vm | ForEach-Object { [string]$_.Path })
	}
}
return @{ vms = $result }
