# Step 5 (and backups): starts the detached copy workers that are not running or done yet (when
# asked to), and reports each copy. A copy is done when the target has the source's VHDX identity
# and size and no partial file is left: that is read from the disks, not from memory.
$report = @()
foreach ($job in @($P.jobs)) {
	$status = 'missing'
	$done = [int64]0
	$total = [int64]0
	$failure = $null
	$sourceVhd = Get-RdVhd $job.source
	if ($null -ne $sourceVhd) { $total = [int64](Get-Item -LiteralPath $job.source -Force).Length }
	$targetVhd = Get-RdVhd $job.target
	$state = Read-RdState $job.stateFile
	if ($null -ne $sourceVhd -and $null -ne $targetVhd -and -not (Test-RdFile $job.partial) -and $targetVhd.DiskIdentifier -eq $sourceVhd.DiskIdentifier -and [int64]$targetVhd.Size -eq [int64]$sourceVhd.Size) {
		$status = 'done'
		$done = $total
	} elseif ($null -ne $state -and $state.status -eq 'running' -and (Get-RdProcessAlive $state)) {
		$status = 'running'
		$done = [int64]$state.done
	} elseif ($null -ne $state -and $state.status -eq 'failed') {
		$status = 'failed'
		$failure = [string]$state.error
	} elseif ($null -eq $state) {
		$failure = 'no copy worker has recorded this copy (none started, or its state file is gone)'
	} elseif ($state.status -eq 'running') {
		$failure = 'its worker (pid ' + [string]$state.pid + ') is no longer running, at ' + [string]$state.done + ' of ' + [string]$state.total + ' bytes'
	} else {
		$failure = 'its worker recorded ' + [string]$state.status + ' but ' + $job.target + ' is not the backup''s copy (identity or size differ, or ' + $job.partial + ' is left)'
	}
	if ($P.start -and ($status -eq 'missing' -or $status -eq 'failed')) {
		if ($null -eq $sourceVhd) { Stop-Rd 'PATH_MISSING' $job.source }
		$folder = Split-Path -Path $job.stateFile -Parent
		if (-not (Test-Path -LiteralPath $folder -PathType Container)) { $null = New-Item -ItemType Directory -Path $folder -Force }
		Remove-RdFile $job.stateFile
		$jobData = New-Object -TypeName PSObject -Property @{ source = $job.source; target = $job.target; partial = $job.partial; stateFile = $job.stateFile }
		$jobB64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes((ConvertTo-RdJson $jobData)))
		$workerB64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($RdWorker))
		# Only base64 text is spliced into the command line: no value can become code.
		$launch = '& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String(''' + $workerB64 + ''')))) ''' + $jobB64 + ''''
		$encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($launch))
		$commandLine = 'powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ' + $encoded
		$created = Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{ CommandLine = $commandLine }
		if ([int]$created.ReturnValue -ne 0) { Stop-Rd 'COPY_NOT_STARTED' ('Win32_Process.Create returned ' + $created.ReturnValue) }
		# Recorded at once, so the next poll sees the worker even before it writes its first progress.
		$worker = Get-Process -Id ([int]$created.ProcessId) -ErrorAction SilentlyContinue
		if ($null -ne $worker -and -not (Test-RdFile $job.stateFile)) {
			$initial = @{ pid = [int]$created.ProcessId; startedTicks = $worker.StartTime.ToUniversalTime().ToFileTimeUtc(); status = 'running'; done = 0; total = $total; error = $null }
			Write-RdStateFile $job.stateFile (ConvertTo-Json -InputObject $initial -Compress)
		}
		$status = 'running'
		$done = [int64]0
		$failure = $null
	}
	$report += New-Object -TypeName PSObject -Property @{ target = $job.target; status = $status; done = $done; total = $total; error = $failure }
}
return @{ jobs = $report }
