param([string]$RdJob)
# rundirect copy worker: runs detached from the console (started through Win32_Process.Create, so
# neither closing the console nor ending a remoting session stops it). Copies the backup VHDX byte
# for byte into <target>.partial, flushes it, then puts it in place of the placeholder. Progress
# goes to a small JSON state file the console polls.
$ErrorActionPreference = 'Stop'
$job = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($RdJob)) | ConvertFrom-Json
$me = Get-Process -Id $PID
$state = @{
	pid = $PID
	startedTicks = $me.StartTime.ToUniversalTime().ToFileTimeUtc()
	status = 'running'
	done = [int64]0
	total = [int64]0
	error = $null
	updated = (Get-Date).ToUniversalTime().ToString('o')
}
function Get-NativePath {
	param([string]$Path)
	# .NET resolves paths against the process, not against PowerShell's drives and location.
	return $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}
$stateFile = Get-NativePath $job.stateFile
function Save-State {
	# Written beside, then renamed over the old state: a poll never reads it half-written. The
	# temporary name is this process's own: the launcher may be writing the first state at once.
	$state.updated = (Get-Date).ToUniversalTime().ToString('o')
	$temp = $stateFile + '.' + $PID + '.tmp'
	[IO.File]::WriteAllText($temp, (ConvertTo-Json -InputObject $state -Compress))
	if ([IO.File]::Exists($stateFile)) { [IO.File]::Replace($temp, $stateFile, [NullString]::Value) }
	else { try { [IO.File]::Move($temp, $stateFile) } catch { [IO.File]::Replace($temp, $stateFile, [NullString]::Value) } }
}
$source = $null
$target = $null
try {
	Save-State
	# The backup stays shared for reading: Hyper-V holds it open as the differencing disk's parent.
	$source = [IO.File]::Open((Get-NativePath $job.source), [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::ReadWrite)
	$target = [IO.File]::Open((Get-NativePath $job.partial), [IO.FileMode]::Create, [IO.FileAccess]::Write, [IO.FileShare]::Read)
	$state.total = $source.Length
	$buffer = New-Object -TypeName byte[] -ArgumentList (8 * 1024 * 1024)
	$clock = [Diagnostics.Stopwatch]::StartNew()
	while ($true) {
		$read = $source.Read($buffer, 0, $buffer.Length)
		if ($read -le 0) { break }
		$target.Write($buffer, 0, $read)
		$state.done += $read
		if ($clock.ElapsedMilliseconds -ge 1000) { Save-State; $clock.Restart() }
	}
	# Durable before it is renamed into place: a crash must never leave a short copy under the final name.
	$target.Flush($true)
	$target.Dispose()
	$target = $null
	$source.Dispose()
	$source = $null
	if (Test-Path -LiteralPath $job.target) { Remove-Item -LiteralPath $job.target -Force }
	Move-Item -LiteralPath $job.partial -Destination $job.target
	$item = Get-Item -LiteralPath $job.target -Force
	if ($item.IsReadOnly) { $item.IsReadOnly = $false }
	$state.status = 'done'
	Save-State
} catch {
	$state.status = 'failed'
	$state.error = $_.Exception.Message
	Save-State
} finally {
	if ($null -ne $target) { $target.Dispose() }
	if ($null -ne $source) { $source.Dispose() }
}
