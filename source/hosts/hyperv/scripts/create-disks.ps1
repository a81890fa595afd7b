# Step 2: the production folder and one placeholder VHDX per disk (proves the storage is writable
# before anything runs; step 5 replaces it with the copy). A copy already there is kept.
if (-not (Test-Path -LiteralPath $P.productionDir -PathType Container)) { $null = New-Item -ItemType Directory -Path $P.productionDir -Force }
# Private before anything is created in it: every file of the session inherits its ACL.
if (Test-RdOwnFolder $P.productionDir $P) { Protect-RdFolder $P.productionDir }
$created = @()
foreach ($disk in @($P.disks)) {
	if (Test-RdFile $disk.production) { continue }
	$null = New-VHD -Path $disk.production -SizeBytes ([uint64]$disk.virtualSize) -Dynamic
	$created += $disk.production
}
return @{ created = $created }
