# rundirect backup, second half: the checkpoint goes (Hyper-V merges it back into the VM's disks).
$vm = @(Get-RdVmsNamed $P.vmName) | Select-Object -First 1
if ($null -eq $vm) { return @{ removed = $false } }
$snapshot = @(Get-VMSnapshot -VM $vm | Where-Object { $_.Name -ceq $P.checkpointName }) | Select-Object -First 1
if ($null -eq $snapshot) { return @{ removed = $false } }
Remove-VMSnapshot -VMSnapshot $snapshot
return @{ removed = $true }
