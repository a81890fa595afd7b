# A drill's application check inside the session's guest through PowerShell Direct
# (Invoke-Command -VMId -Credential): Hyper-V's VM bus, no network, the guest's own account.
# The command runs as a process in the guest, its exit code and both streams kept (the first
# 4 KiB of each go back); a command still running when the time is up is ended. The password
# travels only in this call's parameters (stdin of PowerShell), never in a file or a command line.
$vm = Get-RdSessionVm $P
if ($null -eq $vm) { Stop-Rd 'VM_NOT_FOUND' $P.vmName }
if ($vm.State.ToString() -ne 'Running') { Stop-Rd 'GUEST_EXEC_FAILED' ($P.vmName + [char]9 + 'it is ' + $vm.State.ToString() + ', nothing can run inside it') }
$secret = New-Object -TypeName System.Security.SecureString
foreach ($character in ([string]$P.password).ToCharArray()) { $secret.AppendChar($character) }
$credential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList @([string]$P.user, $secret)
$inGuest = {
	param([string]$Command, [string[]]$Arguments, [int]$TimeoutMs, [int]$KeepChars)
	# One command line, quoted as CommandLineToArgvW splits it (.NET Framework has no argument list).
	$quoted = foreach ($argument in @($Arguments)) {
		if ($argument.Length -gt 0 -and $argument -notmatch '[\s"]') { $argument; continue }
		$text = [regex]::Replace($argument, '(\\*)"', '$1$1\"')
		'"' + [regex]::Replace($text, '(\\+)$', '$1$1') + '"'
	}
	$info = New-Object -TypeName System.Diagnostics.ProcessStartInfo
	$info.FileName = $Command
	$info.Arguments = (@($quoted) -join ' ')
	$info.UseShellExecute = $false
	$info.RedirectStandardOutput = $true
	$info.RedirectStandardError = $true
	$info.CreateNoWindow = $true
	try { $process = [System.Diagnostics.Process]::Start($info) } catch { return @{ started = $false; error = $_.Exception.Message } }
	$out = $process.StandardOutput.ReadToEndAsync()
	$err = $process.StandardError.ReadToEndAsync()
	if (-not $process.WaitForExit($TimeoutMs)) {
		try { $process.Kill() } catch { $null = $_ }
		return @{ started = $true; exited = $false }
	}
	$process.WaitForExit()
	$stdout = [string]$out.Result
	$stderr = [string]$err.Result
	return @{
		started = $true
		exited = $true
		exitCode = $process.ExitCode
		stdout = $stdout.Substring(0, [Math]::Min($stdout.Length, $KeepChars))
		stderr = $stderr.Substring(0, [Math]::Min($stderr.Length, $KeepChars))
		truncated = ($stdout.Length -gt $KeepChars -or $stderr.Length -gt $KeepChars)
	}
}
$began = [DateTime]::UtcNow
try {
	$answer = Invoke-Command -VMId $vm.Id -Credential $credential -ScriptBlock $inGuest -ArgumentList @([string]$P.command, [string[]]@($P.arguments), [int]$P.timeoutMs, [int]$P.keepChars) -ErrorAction Stop
} catch {
	Stop-Rd 'GUEST_EXEC_FAILED' ($P.vmName + [char]9 + 'PowerShell Direct as ' + [string]$P.user + ': ' + $_.Exception.Message)
}
$result = @($answer) | Select-Object -Last 1
if (-not $result.started) { Stop-Rd 'GUEST_EXEC_FAILED' ($P.vmName + [char]9 + [string]$P.command + ' could not start in the guest: ' + [string]$result.error) }
return @{
	exited = [bool]$result.exited
	exitCode = $result.exitCode
	stdout = [string]$result.stdout
	stderr = [string]$result.stderr
	truncated = [bool]$result.truncated
	ms = [int64]([DateTime]::UtcNow - $began).TotalMilliseconds
}
