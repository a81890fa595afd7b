# After stop: the VM set aside in step 1 gets its name back, is started if it was running, and
# loses its tag last (so a rerun still knows what it was). A VM that left Hyper-V in step 1 (the
# restored VM held its Id) first gets its configuration copied back where it was and is imported
# there as it was registered: same Id, same disks in place.
$tag = $RdTagAside + $P.sessionId
$record = Join-Path -Path $P.asideDir -ChildPath 'set-aside.json'
$vm = Get-RdAsideVm $P.sessionId
$kept = Read-RdState $record
if ($null -eq $vm -and $null -eq $kept) { return @{ restored = $false } }
$ours = @(Get-RdVmsNamed $P.name | Where-Object { (Get-RdTaggedSession $_) -ceq $P.sessionId })
if ($ours.Count -gt 0) { Stop-Rd 'SESSION_VM_EXISTS' ('VM ' + $P.name + ' of session ' + $P.sessionId + ' still exists') }
if ($null -eq $vm) {
	$holder = Get-VM -Id ([string]$kept.vmId) -ErrorAction SilentlyContinue
	if ($null -ne $holder) { Stop-Rd 'ID_TAKEN' ([string]$kept.vmId) }
	$configDir = Join-Path -Path ([string]$kept.configLocation) -ChildPath 'Virtual Machines'
	Copy-RdFolderFiles (Split-Path -Path ([string]$kept.configFile) -Parent) $configDir
	# Import-VM.md, example 1: "The virtual machine is registered in-place, so its files are not copied."
	$vm = Import-VM -Path (Join-Path -Path $configDir -ChildPath (Split-Path -Path ([string]$kept.configFile) -Leaf)) -Register
	$vm = Get-VM -Id $vm.Id
}
if ($vm.Name -cne $P.name) { Set-VM -VM $vm -NewVMName $P.name }
$was = 'Off'
foreach ($line in (Get-RdNoteLines $vm)) {
	if ($line.StartsWith($tag + ' was=', [StringComparison]::Ordinal)) { $was = $line.Substring(($tag + ' was=').Length) }
}
$vm = Get-VM -Id $vm.Id
if (($was -eq 'Running' -or $was -eq 'Paused') -and $vm.State.ToString() -eq 'Off') { Start-VM -VM $vm }
Remove-RdNoteLine $vm $tag
Remove-RdFile $P.asideDir
return @{ restored = $true; was = $was }
