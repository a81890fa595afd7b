# After stop: the VM set aside in step 1 gets its name back, is started if it was running, and
# loses its tag last (so a rerun still knows what it was).
$tag = $RdTagAside + $P.sessionId
$vm = Get-RdAsideVm $P.sessionId
if ($null -eq $vm) { return @{ restored = $false } }
$ours = @(Get-RdVmsNamed $P.name | Where-Object { (Get-RdTaggedSession $_) -ceq $P.sessionId })
if ($ours.Count -gt 0) { Stop-Rd 'SESSION_VM_EXISTS' ('VM ' + $P.name + ' of session ' + $P.sessionId + ' still exists') }
if ($vm.Name -cne $P.name) { Set-VM -VM $vm -NewVMName $P.name }
$was = 'Off'
foreach ($line in (Get-RdNoteLines $vm)) {
	if ($line.StartsWith($tag + ' was=', [StringComparison]::Ordinal)) { $was = $line.Substring(($tag + ' was=').Length) }
}
$vm = Get-VM -Id $vm.Id
if (($was -eq 'Running' -or $was -eq 'Paused') -and $vm.State.ToString() -eq 'Off') { Start-VM -VM $vm }
Remove-RdNoteLine $vm $tag
return @{ restored = $true; was = $was }
