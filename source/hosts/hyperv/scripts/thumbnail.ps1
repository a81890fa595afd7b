# Evidence for a recovery drill: the VM's screen as Hyper-V's thumbnail (raw RGB 565, 2 bytes a
# pixel), through Msvm_VirtualSystemManagementService.GetVirtualSystemThumbnailImage. The bytes
# go back as base64; the console turns them into a PNG. Nothing on the host changes.
$vm = Get-RdSessionVm $P
if ($null -eq $vm) { Stop-Rd 'VM_NOT_FOUND' $P.vmName }
$namespace = 'root\virtualization\v2'
$service = @(Get-CimInstance -Namespace $namespace -ClassName 'Msvm_VirtualSystemManagementService') | Select-Object -First 1
# The VM's current (realized) settings, matched by Id in PowerShell: no value is spliced into a WQL filter.
$vmId = $vm.Id.ToString()
$setting = @(Get-CimInstance -Namespace $namespace -ClassName 'Msvm_VirtualSystemSettingData' | Where-Object { [string]$_.ConfigurationID -eq $vmId -and [string]$_.VirtualSystemType -eq 'Microsoft:Hyper-V:System:Realized' }) | Select-Object -First 1
if ($null -eq $service -or $null -eq $setting) { Stop-Rd 'THUMBNAIL_FAILED' 'the VM settings or the management service were not found' }
$arguments = @{ TargetSystem = $setting; WidthPixels = [uint16]$P.width; HeightPixels = [uint16]$P.height }
$result = Invoke-CimMethod -InputObject $service -MethodName 'GetVirtualSystemThumbnailImage' -Arguments $arguments
if ([int]$result.ReturnValue -ne 0) { Stop-Rd 'THUMBNAIL_FAILED' ('GetVirtualSystemThumbnailImage returned ' + [string]$result.ReturnValue) }
$bytes = [byte[]]$result.ImageData
return @{
	vmId = $vmId
	state = $vm.State.ToString()
	width = [int]$P.width
	height = [int]$P.height
	rgb565 = [System.Convert]::ToBase64String($bytes)
}
