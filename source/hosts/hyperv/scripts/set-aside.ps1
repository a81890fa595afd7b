# Step 1: the VM being replaced is tagged (with its power state), turned off and renamed.
# The tag is written first, so a rerun finds the VM whatever its name and power state by then.
$tag = $RdTagAside + $P.sessionId
$vm = Get-RdAsideVm $P.sessionId
if ($null -eq $vm) {
	$candidates = @(Get-RdVmsNamed $P.name | Where-Object { $null -eq (Get-RdTaggedSession $_) -and $null -eq (Get-RdAsideSession $_) })
	if ($candidates.Count -eq 0) { return @{ found = $false } }
	if ($candidates.Count -gt 1) { Stop-Rd 'AMBIGUOUS_VM' ([string]$candidates.Count + ' VMs are named ' + $P.name) }
	$vm = $candidates[0]
	Add-RdNoteLine $vm ($tag + ' was=' + $vm.State.ToString())
	$vm = Get-VM -Id $vm.Id
}
$was = 'Off'
foreach ($line in (Get-RdNoteLines $vm)) {
	if ($line.StartsWith($tag + ' was=', [StringComparison]::Ordinal)) { $was = $line.Substring(($tag + ' was=').Length) }
}
$state = $vm.State.ToString()
if ($state -ne 'Off' -and $state -ne 'Saved') { Stop-VM -VM $vm -TurnOff -Force }
if ($vm.Name -cne $P.asideName) { Set-VM -VM $vm -NewVMName $P.asideName }
return @{ found = $true; vmId = $vm.Id.ToString(); was = $was; asideName = $P.asideName }
