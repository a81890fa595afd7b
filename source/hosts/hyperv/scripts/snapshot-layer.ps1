# Step 3: the backup is marked read-only, then a differencing VHDX takes every write the VM makes.
# An existing layer with the right parent may hold the guest's writes: it is never recreated.
if (-not (Test-Path -LiteralPath $P.workDir -PathType Container)) { $null = New-Item -ItemType Directory -Path $P.workDir -Force }
$created = @()
foreach ($disk in @($P.disks)) {
	Set-RdReadOnly $disk.backup $true
	if (Test-RdFile $disk.overlay) {
		$vhd = Get-RdVhd $disk.overlay
		if ($null -ne $vhd -and $vhd.ParentPath -eq $disk.backup) { continue }
		if ($null -ne $vhd -and $vhd.Attached) { Stop-Rd 'LAYER_DAMAGED' $disk.overlay }
		Remove-RdFile $disk.overlay
	}
	$null = New-VHD -Path $disk.overlay -ParentPath $disk.backup -Differencing
	$created += $disk.overlay
}
return @{ created = $created }
